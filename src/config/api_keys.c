/* api_keys.c - a listener's client (virtual) keys: the `api_keys[]` table,
 * the keys read from `keys_file` and from the variable `keys_env` (each one
 * YAML or JSON list of the same items),
 * and the lookup table the request path uses. A key's secret comes from
 * key_env (hashed at load; the plaintext is not kept) or is given as its
 * SHA-256 (key_sha256), so memory, `config show` and the management API
 * only ever hold digests. The table is open addressing over the digest's
 * first 8 bytes: one probe sequence per request, whatever the key count
 * (api/client_auth.c hashes the presented credential once). Called by
 * listeners.c; the table is immutable with the rest of the cfg_t. */
#include "config/load.h"
#include "config/routing.h"
#include "core/hash.h"
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

const cfg_schema_t cfg_schema_api_key = {
    "listeners[].api_keys[]",
    (const cfg_field_t[]){
        CFG_FSTR_REQ(cfg_api_key_t, "name", name,
                     "key name (shown in logs, replay and GET /v1/keys)"),
        CFG_FSTR(cfg_api_key_t, "key_env", key_env, NULL,
                 "environment variable holding the key (hashed at load); unset: never matches"),
        {.key = "key_sha256",
         .type = CFG_F_STR,
         .off = offsetof(cfg_api_key_t, key_sha256),
         .flags = CFG_FF_SECRET,
         .doc = "the key's SHA-256, 64 hex digits (instead of key_env)"},
        CFG_FSTR(cfg_api_key_t, "tenant", tenant, NULL,
                 "tenant of requests with this key (default: name)"),
        CFG_FSTR(cfg_api_key_t, "user", user, NULL, "authz user identity"),
        CFG_FLISTN(cfg_api_key_t, "groups", groups, n_groups, NULL, "authz groups"),
        CFG_FSTR(cfg_api_key_t, "owner", owner, NULL, "who holds the key (GET /v1/keys, replay)"),
        CFG_FSTR(cfg_api_key_t, "team", team, NULL,
                 "team of the key (authz kind Team, limits, replay)"),
        CFG_FLISTN(cfg_api_key_t, "models", models, n_models, NULL,
                   "model names a request may ask for (none: any); others get 403"),
        CFG_FLISTN(cfg_api_key_t, "decisions", decisions, n_decisions, NULL,
                   "decisions routing may pick for the key (none: any); others get 403"),
        CFG_FCUSTOM("metadata", NULL, "free string map seen by authz (kind Metadata) and replay"),
        {0}},
    "Client keys: a request must carry one (Bearer or x-api-key) when the listener has keys.",
};

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool parse_hex32(const char *s, unsigned char out[32])
{
    if (!s || strlen(s) != 64) return false;
    for (size_t i = 0; i < 32; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

static void load_metadata(ld_t *l, const cfg_node_t *n, cfg_api_key_t *k)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s = ld_push_key(l, "metadata");
    if (ld_expect_map(l, n)) {
        k->metadata = arena_calloc(l->a, (n->n + 1) * sizeof *k->metadata);
        for (size_t i = 0; i < n->n; i++) {
            const cfg_node_t *v = n->items[i];
            if (v->kind != CFG_NODE_SCALAR) {
                ld_err_key(l, v, n->keys[i]->str, "metadata values must be strings");
                continue;
            }
            k->metadata[k->n_metadata++] =
                (cfg_kv_t){arena_strdup(l->a, n->keys[i]->str), arena_strdup(l->a, v->str)};
        }
    }
    ld_pop(l, s);
}

/* One key item (inline or from the keys file) into k. */
static void load_one(ld_t *l, const cfg_node_t *item, cfg_api_key_t *k, const char *source)
{
    ld_section(l, item, &cfg_schema_api_key, k);
    k->source = source;
    k->node = item;
    if (item->kind != CFG_NODE_MAP) return;
    load_metadata(l, cfg_node_get(item, "metadata"), k);
    if (!k->tenant && k->name) k->tenant = arena_strdup(l->a, k->name);
    if (!!k->key_env == !!k->key_sha256) {
        ld_err(l, item, "key \"%s\" needs exactly one of key_env and key_sha256",
               k->name ? k->name : "");
        return;
    }
    if (k->key_sha256) {
        if (!parse_hex32(k->key_sha256, k->digest))
            ld_err_key(l, cfg_node_get(item, "key_sha256"), "key_sha256",
                       "key_sha256 must be 64 hex digits (the SHA-256 of the key, e.g. "
                       "`printf %%s \"$KEY\" | sha256sum`)");
        else
            k->has_digest = true;
        return;
    }
    const char *v = ld_env_secret(l, k->key_env);
    if (v) {
        hash_sha256(v, strlen(v), k->digest);
        k->has_digest = true;
    } else if (!l->seal_env) {
        ld_warn(l, item, "environment variable %s is not set: key \"%s\" is disabled", k->key_env,
                k->name ? k->name : "");
    }
}

/* keys_file against the config's directory (absolute paths as written). */
static char *resolve(ld_t *l, const char *p)
{
    const char *slash = l->file ? strrchr(l->file, '/') : NULL;
    if (p[0] == '/' || !slash) return arena_strdup(l->a, p);
    return arena_sprintf(l->a, "%.*s/%s", (int)(slash - l->file), l->file, p);
}

#define KEYS_FILE_MAX (16u << 20)

static const cfg_node_t *read_keys_file(ld_t *l, const cfg_node_t *at, const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        ld_err_key(l, at, "keys_file", "cannot read keys_file %s: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || st.st_size > KEYS_FILE_MAX) {
        ld_err_key(l, at, "keys_file", "keys_file %s must be a regular file of at most 16 MiB",
                   path);
        fclose(f);
        return NULL;
    }
    buf_t b = BUF_INIT;
    bool ok = buf_read_stream(&b, f);
    fclose(f);
    if (!ok) {
        ld_err_key(l, at, "keys_file", "read error on keys_file %s", path);
        buf_free(&b);
        return NULL;
    }
    /* libfyaml reads JSON too (a JSON list is a YAML flow sequence) */
    const cfg_node_t *root = cfg_yaml_parse(l->a, path, b.data ? b.data : "", b.len, l->d);
    buf_free(&b);
    if (root && root->kind == CFG_NODE_MAP && root->n == 0) return NULL; /* empty file */
    if (root && root->kind != CFG_NODE_SEQ) {
        ld_err_key(l, at, "keys_file", "keys_file %s must hold one list of keys", path);
        return NULL;
    }
    return root;
}

static void build_table(ld_t *l, cfg_listener_t *li)
{
    size_t n = 0;
    for (size_t i = 0; i < li->n_api_keys; i++)
        n += li->api_keys[i].has_digest;
    if (!n) return;
    size_t cap = 4;
    while (cap < 2 * n)
        cap <<= 1;
    li->key_slots = arena_calloc(l->a, cap * sizeof *li->key_slots);
    li->key_slot_mask = cap - 1;
    for (size_t i = 0; i < li->n_api_keys; i++) {
        const cfg_api_key_t *k = &li->api_keys[i];
        if (!k->has_digest) continue;
        size_t s = cfg_api_key_slot(k->digest, li->key_slot_mask);
        while (li->key_slots[s])
            s = (s + 1) & li->key_slot_mask;
        li->key_slots[s] = (uint32_t)(i + 1);
    }
}

static void check_duplicates(ld_t *l, const cfg_node_t *at, cfg_listener_t *li)
{
    for (size_t i = 0; i < li->n_api_keys; i++)
        for (size_t j = 0; j < i; j++) {
            const cfg_api_key_t *a = &li->api_keys[j], *b = &li->api_keys[i];
            if (a->name && b->name && !strcmp(a->name, b->name))
                ld_err(l, at, "duplicate key name \"%s\" on listener \"%s\"", b->name,
                       li->name ? li->name : "");
            else if (a->has_digest && b->has_digest && hash_sha256_equal(a->digest, b->digest))
                ld_err(l, at, "keys \"%s\" and \"%s\" have the same secret", a->name, b->name);
        }
}

size_t cfg_api_key_slot(const unsigned char digest[32], size_t mask)
{
    uint64_t h;
    memcpy(&h, digest, sizeof h);
    return (size_t)h & mask;
}

/* The keys of list (from the keys file or keys_env) after the inline ones;
 * diagnostics name file and the path under key. */
static void load_list(ld_t *l, const cfg_node_t *list, cfg_listener_t *li, const char *file,
                      const char *key, const char *source)
{
    const char *was = l->file;
    l->file = file;
    size_t s0 = ld_push_key(l, key);
    for (size_t i = 0; i < list->n; i++) {
        size_t s = ld_push_item(l, list->items[i], i);
        load_one(l, list->items[i], &li->api_keys[li->n_api_keys++], source);
        ld_pop(l, s);
    }
    ld_pop(l, s0);
    l->file = was;
}

/* The list held by environment variable keys_env (YAML or JSON), or NULL. */
static const cfg_node_t *read_keys_env(ld_t *l, const cfg_node_t *at, const char *var,
                                       const char *label)
{
    const char *v = ld_env_secret(l, var); /* the value never reaches a diagnostic */
    if (!v) {
        if (!l->seal_env)
            ld_warn(l, at, "environment variable %s is not set: no keys from keys_env", var);
        return NULL;
    }
    const cfg_node_t *root = cfg_yaml_parse(l->a, label, v, strlen(v), l->d);
    if (root && root->kind == CFG_NODE_MAP && root->n == 0) return NULL;
    if (root && root->kind != CFG_NODE_SEQ) {
        ld_err_key(l, at, "keys_env", "keys_env %s must hold one list of keys", var);
        return NULL;
    }
    return root;
}

void cfg_load_api_keys(ld_t *l, const cfg_node_t *item, cfg_listener_t *li)
{
    const cfg_node_t *n = cfg_node_get(item, "api_keys");
    const cfg_node_t *fnode = li->keys_file ? cfg_node_get(item, "keys_file") : NULL;
    const cfg_node_t *fl = NULL, *el = NULL;
    if (li->keys_file) {
        li->keys_path = resolve(l, li->keys_file);
        /* a sealed load (POST /config/validate) reads no file of the host */
        if (!l->seal_env) fl = read_keys_file(l, fnode, li->keys_path);
    }
    const char *env_source = NULL;
    if (li->keys_env) {
        env_source = arena_sprintf(l->a, "env:%s", li->keys_env);
        el = read_keys_env(l, cfg_node_get(item, "keys_env"), li->keys_env, env_source);
    }
    size_t cap = (n && n->kind == CFG_NODE_SEQ ? n->n : 0) + (fl ? fl->n : 0) + (el ? el->n : 0);
    li->api_keys = arena_calloc(l->a, (cap + 1) * sizeof(cfg_api_key_t));
    if (n && !cfg_node_is_null(n)) {
        size_t s0 = ld_push_key(l, "api_keys");
        if (ld_expect_seq(l, n))
            for (size_t i = 0; i < n->n; i++) {
                size_t s = ld_push_item(l, n->items[i], i);
                load_one(l, n->items[i], &li->api_keys[li->n_api_keys++], "config");
                ld_pop(l, s);
            }
        ld_pop(l, s0);
    }
    if (fl) load_list(l, fl, li, li->keys_path, "keys_file", li->keys_path);
    if (el) load_list(l, el, li, env_source, "keys_env", env_source);
    check_duplicates(l, fnode ? fnode : item, li);
    build_table(l, li);
}

const cfg_api_key_t *cfg_api_key_find(const cfg_listener_t *li, const unsigned char digest[32])
{
    if (!li->key_slot_mask) return NULL;
    size_t s = cfg_api_key_slot(digest, li->key_slot_mask);
    const cfg_api_key_t *hit = NULL;
    /* the table is at most half full, so an empty slot ends every probe */
    for (uint32_t ix; (ix = li->key_slots[s]) != 0; s = (s + 1) & li->key_slot_mask) {
        const cfg_api_key_t *k = &li->api_keys[ix - 1];
        if (hash_sha256_equal(k->digest, digest) && !hit) hit = k;
    }
    return hit;
}

static bool is_decision(const cfg_t *c, const char *name)
{
    for (size_t r = 0; c->routing && r < c->routing->n_recipes; r++)
        for (size_t i = 0; i < c->routing->recipes[r].n_decisions; i++) {
            const char *d = c->routing->recipes[r].decisions[i].name;
            if (d && !strcmp(d, name)) return true;
        }
    return false;
}

void cfg_validate_api_keys(ld_t *l, const cfg_t *c)
{
    const char *file = l->file;
    for (size_t i = 0; i < c->n_listeners; i++) {
        const cfg_listener_t *li = &c->listeners[i];
        for (size_t j = 0; j < li->n_api_keys; j++) {
            const cfg_api_key_t *k = &li->api_keys[j];
            bool inline_key = !strcmp(k->source, "config");
            l->file = inline_key ? file : k->source;
            size_t s = ld_push_key(l, inline_key                       ? "listeners"
                                      : !strncmp(k->source, "env:", 4) ? "keys_env"
                                                                       : "keys_file");
            if (inline_key) {
                ld_push_index(l, i);
                ld_push_key(l, "api_keys");
            }
            ld_push_item(l, k->node, j);
            for (size_t m = 0; m < k->n_models; m++) {
                const char *nm = k->models[m];
                size_t nl = strlen(nm);
                if (!cfg_find_model(c, nm, nl) && !cfg_is_auto_name(c, nm, nl) &&
                    !cfg_recipe_for_model(c, nm, nl))
                    ld_warn(l, k->node,
                            "key \"%s\": models names \"%s\", which is no model, auto name or "
                            "entrypoint (requests for it are refused anyway)",
                            k->name ? k->name : "", nm);
            }
            for (size_t d = 0; d < k->n_decisions; d++)
                if (!is_decision(c, k->decisions[d]))
                    ld_warn(l, k->node,
                            "key \"%s\": decisions names \"%s\", which is no decision (no "
                            "request can be routed to it)",
                            k->name ? k->name : "", k->decisions[d]);
            ld_pop(l, s);
        }
    }
    l->file = file;
}
