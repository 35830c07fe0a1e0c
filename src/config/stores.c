/* stores.c - the config's view of the store backend registries (family.h):
 * lookups by name, and the store tables derived from them (the backend key's
 * choices, one block key per backend with options, each block's table),
 * built once before main like family.c's tables. Read-only afterwards:
 * thread-safe. */
#include "config/family.h"
#include "config/load.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BACKEND_MAX 16
#define FIELDS_MAX  32

cfg_field_t cfg_store_fields[CFG_STORE_KINDS][FIELDS_MAX];

static const struct {
    const cfg_schema_t *table;                  /* its path names the blocks */
    const char *key;                            /* the key that names the backend */
    const cfg_field_t *base;                    /* the table's own fields */
    const cfg_store_backend_t *const *registry; /* its backends */
} kinds[CFG_STORE_KINDS] = {
    [CFG_STORE_REPLAY] = {&cfg_schema_replay, "store", cfg_replay_base_fields,
                          cfg_replay_store_registry},
    [CFG_STORE_SESSION] = {&cfg_schema_store_session, "backend", cfg_store_session_base_fields,
                           cfg_sess_store_registry},
    [CFG_STORE_RESPONSES] = {&cfg_schema_store_responses, "backend",
                             cfg_store_responses_base_fields, cfg_rstore_registry},
    [CFG_STORE_RESPONSE_CACHE] = {&cfg_schema_store_cache, "backend", cfg_store_cache_base_fields,
                                  cfg_rc_store_registry},
};

static struct {
    size_t n;
    const char *names[BACKEND_MAX + 1];
    char choices[256], list[256];
    char paths[BACKEND_MAX][96], see[BACKEND_MAX][112];
    cfg_schema_t schemas[BACKEND_MAX];
} st[CFG_STORE_KINDS];

static void bad_registry(const char *what, const char *name)
{
    fprintf(stderr, "tether: store registry: %s%s%s\n", what, name ? ": " : "", name ? name : "");
    abort();
}

static void build_kind(cfg_store_kind_t k)
{
    size_t nf = 0;
    cfg_field_t *out = cfg_store_fields[k];
    for (const cfg_field_t *f = kinds[k].base; f->key; f++) {
        if (nf + 1 >= FIELDS_MAX) bad_registry("too many fields", kinds[k].table->path);
        out[nf++] = *f;
    }
    cfg_field_t *key = NULL;
    for (size_t i = 0; i < nf; i++)
        if (!strcmp(out[i].key, kinds[k].key)) key = &out[i];
    if (!key || key->type != CFG_F_ENUM) bad_registry("no backend key", kinds[k].table->path);
    for (const cfg_store_backend_t *const *r = kinds[k].registry; *r; r++) {
        size_t i = st[k].n++;
        const cfg_store_backend_t *b = *r;
        if (i >= BACKEND_MAX) bad_registry("too many backends", b->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(st[k].names[j], b->name))
                bad_registry("two backends share a name", b->name);
        st[k].names[i] = b->name;
        if (!b->fields) continue;
        if (!b->opts_size) bad_registry("options without opts_size", b->name);
        for (size_t j = 0; j < nf; j++)
            if (!strcmp(out[j].key, b->name)) bad_registry("a backend named like a key", b->name);
        snprintf(st[k].paths[i], sizeof st[k].paths[i], "%s.%s", kinds[k].table->path, b->name);
        snprintf(st[k].see[i], sizeof st[k].see[i], "see %s.%s", kinds[k].table->path, b->name);
        st[k].schemas[i] = (cfg_schema_t){st[k].paths[i], b->fields, b->doc};
        if (nf + 1 >= FIELDS_MAX) bad_registry("too many fields", kinds[k].table->path);
        out[nf++] = (cfg_field_t){
            .key = b->name, .type = CFG_F_CUSTOM, .sub = &st[k].schemas[i], .doc = st[k].see[i]};
    }
    if (!st[k].n) bad_registry("no backend", kinds[k].table->path);
    /* "a|b|c" */
    for (size_t i = 0, at = 0; i < st[k].n && at < sizeof st[k].choices; i++)
        at += (size_t)snprintf(st[k].choices + at, sizeof st[k].choices - at, "%s%s", i ? "|" : "",
                               st[k].names[i]);
    key->choices = st[k].choices;
    key->flags |= CFG_FF_SUGGEST;
    /* "a, b or c" */
    for (size_t i = 0, at = 0; i < st[k].n && at < sizeof st[k].list; i++)
        at += (size_t)snprintf(st[k].list + at, sizeof st[k].list - at, "%s%s",
                               !i                 ? ""
                               : i + 1 == st[k].n ? " or "
                                                  : ", ",
                               st[k].names[i]);
}

/* Before main: the tables are complete before anything reads them. */
__attribute__((constructor)) static void stores_init(void)
{
    for (int k = 0; k < CFG_STORE_KINDS; k++)
        build_kind((cfg_store_kind_t)k);
}

static size_t index_of(cfg_store_kind_t k, const char *name)
{
    for (size_t i = 0; name && (unsigned)k < CFG_STORE_KINDS && i < st[k].n; i++)
        if (!strcmp(st[k].names[i], name)) return i;
    return (size_t)-1;
}

const cfg_store_backend_t *cfg_store_backend_find(cfg_store_kind_t k, const char *name)
{
    size_t i = index_of(k, name);
    return i == (size_t)-1 ? NULL : kinds[k].registry[i];
}

const char *const *cfg_store_backend_names(cfg_store_kind_t k, size_t *n)
{
    *n = st[k].n;
    return st[k].names;
}

const char *cfg_store_backend_list(cfg_store_kind_t k)
{
    return st[k].list;
}

const cfg_schema_t *cfg_store_backend_schema(cfg_store_kind_t k, const char *name)
{
    size_t i = index_of(k, name);
    return i == (size_t)-1 || !kinds[k].registry[i]->fields ? NULL : &st[k].schemas[i];
}

const void *cfg_store_load_opts(ld_t *l, cfg_store_kind_t k, const cfg_node_t *map,
                                const char *name)
{
    const cfg_store_backend_t *b = cfg_store_backend_find(k, name);
    if (!b || !b->fields) return NULL;
    void *opts = arena_calloc(l->a, b->opts_size);
    size_t s = ld_push_key(l, b->name);
    const cfg_node_t *blk = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, b->name) : NULL;
    ld_section(l, blk, cfg_store_backend_schema(k, name), opts);
    const char *bad = b->check ? b->check(opts) : NULL;
    if (bad) ld_err(l, blk ? blk : map, "%s", bad);
    ld_pop(l, s);
    return opts;
}
