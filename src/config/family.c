/* family.c - the config's view of the three member registries (family.h):
 * lookups by id, name and key, and the tables derived from the members
 * (routing.signals and each family's rule table, routing.decisions[].
 * algorithm and each algorithm block, the plugin type list), built once
 * before main so that the loader, the DSL and the reference can treat them
 * as ordinary static tables. Read-only afterwards: thread-safe. */
#include "config/family.h"
#include "config/load.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ALG_MAX 16
#define PLG_MAX 16

static struct {
    size_t n;
    const char *names[CFG_SIG_MAX + 1];      /* flat, so lookups cost what a static table did */
    const char *leaf_types[CFG_SIG_MAX + 2]; /* names, then "projection" */
    char paths[CFG_SIG_MAX][64];
    cfg_schema_t schemas[CFG_SIG_MAX];
    cfg_field_t list[CFG_SIG_MAX + 1]; /* routing.signals */
} sig;

static struct {
    size_t n;
    char paths[ALG_MAX][80], see[ALG_MAX][64];
    const char *names[ALG_MAX + 1];
    cfg_schema_t schemas[ALG_MAX];
    char choices[256], type_doc[512];
    cfg_field_t fields[ALG_MAX + 4]; /* routing.decisions[].algorithm */
} alg;

static struct {
    size_t n_types;
    const char *types[PLG_MAX + 1];
    char type_doc[512];
    char paths[PLG_MAX][96];
    cfg_schema_t schemas[PLG_MAX];
    cfg_field_t fields[3]; /* routing.decisions[].plugins[] */
} plg;

const cfg_schema_t cfg_schema_signals = {"routing.signals", sig.list,
                                         "Signal rules by family (SPEC 5.4)."};
const cfg_schema_t cfg_schema_algorithm = {"routing.decisions[].algorithm", alg.fields,
                                           "Selection algorithm (SPEC 7)."};
const cfg_schema_t cfg_schema_plugin = {"routing.decisions[].plugins[]", plg.fields,
                                        "Per-decision plugins."};

/* A registry that cannot work is a programmer error: say so and stop. */
static void bad_registry(const char *what, const char *name)
{
    fprintf(stderr, "tether: member registry: %s%s%s\n", what, name ? ": " : "", name ? name : "");
    abort();
}

/* "a<sep>b<sep>c" of names into out. */
static void join(char *out, size_t cap, const char *const *names, size_t n, const char *sep)
{
    size_t at = 0;
    out[0] = 0;
    for (size_t i = 0; i < n && at < cap; i++)
        at += (size_t)snprintf(out + at, cap - at, "%s%s", i ? sep : "", names[i]);
}

#define R cfg_signal_t
static const cfg_field_t rule_name =
                             CFG_FSTR_REQ(R, "name", name, "rule name (leaves refer to it)"),
                         rule_desc = CFG_FSTR(R, "description", description, NULL, "free text"),
                         rule_threshold = {.key = "threshold",
                                           .type = CFG_F_DOUBLE,
                                           .off = offsetof(R, threshold),
                                           .off2 = offsetof(R, has_threshold),
                                           .flags = CFG_FF_UNIT | CFG_FF_HAS,
                                           .doc = "match threshold in [0, 1]"};
#undef R

/* A family's rule table: the fields every rule has, then the family's. */
static const cfg_field_t *rule_fields(const cfg_sig_family_t *f)
{
    size_t n = 0, k = 0;
    while (f->fields && f->fields[n].key)
        n++;
    cfg_field_t *v = calloc(n + 4, sizeof *v); /* once per family, for the process */
    if (!v) abort();
    v[k++] = rule_name;
    v[k++] = rule_desc;
    if (f->threshold) {
        v[k] = rule_threshold;
        v[k++].def = *f->threshold ? f->threshold : NULL;
    }
    if (n) memcpy(v + k, f->fields, n * sizeof *v);
    return v;
}

static void build_signals(void)
{
    for (const cfg_sig_family_t *const *r = cfg_sig_registry; *r; r++) {
        size_t i = sig.n++;
        const cfg_sig_family_t *f = *r;
        if (i >= CFG_SIG_MAX) bad_registry("more than CFG_SIG_MAX signal families", f->name);
        for (size_t j = 0; j < i; j++)
            if (!strcmp(sig.names[j], f->name) || !strcmp(cfg_sig_registry[j]->key, f->key))
                bad_registry("two signal families share a name or key", f->name);
        for (const cfg_field_t *x = f->fields; x && x->key; x++)
            if ((x->flags & CFG_FF_OPT) && !f->opts_size)
                bad_registry("CFG_FF_OPT fields without opts_size", f->name);
        sig.names[i] = f->name;
        snprintf(sig.paths[i], sizeof sig.paths[i], "routing.signals.%s[]", f->key);
        sig.schemas[i] = (cfg_schema_t){sig.paths[i], rule_fields(f), f->doc};
        sig.list[i] = (cfg_field_t)CFG_FCUSTOM(f->key, &sig.schemas[i], f->list_doc);
    }
    memcpy(sig.leaf_types, sig.names, sig.n * sizeof *sig.names);
    sig.leaf_types[sig.n] = "projection";
}

static void build_algorithms(void)
{
    size_t k = 0;
    alg.fields[k++] = (cfg_field_t){.key = "type", .type = CFG_F_CUSTOM, .doc = alg.type_doc};
    for (const cfg_selector_t *const *r = cfg_sel_registry; *r; r++) {
        size_t i = alg.n++;
        if (i >= ALG_MAX) bad_registry("too many selection algorithms", (*r)->name);
        alg.names[i] = (*r)->name;
        snprintf(alg.paths[i], sizeof alg.paths[i], "routing.decisions[].algorithm.%s", (*r)->name);
        alg.schemas[i] = (cfg_schema_t){alg.paths[i], (*r)->fields, (*r)->doc};
        snprintf(alg.see[i], sizeof alg.see[i], "see algorithm.%s", (*r)->name);
        alg.fields[k++] = (cfg_field_t){.key = (*r)->name, .type = CFG_F_CUSTOM, .doc = alg.see[i]};
    }
    join(alg.choices, sizeof alg.choices, alg.names, alg.n, "|");
    char list[256];
    join(list, sizeof list, alg.names, alg.n, " | ");
    snprintf(alg.type_doc, sizeof alg.type_doc,
             "%s (static); session_aware is accepted with a warning", list);
    alg.fields[k++] = (cfg_field_t){
        .key = "session_aware", .type = CFG_F_CUSTOM, .doc = "legacy: {base_method, session keys}"};
    alg.fields[k++] = (cfg_field_t){.key = "session",
                                    .type = CFG_F_CUSTOM,
                                    .sub = &cfg_schema_session,
                                    .doc = "overrides of global.router.session for this decision"};
}

static void build_plugins(void)
{
    size_t i = 0;
    for (const cfg_plugin_kind_t *const *r = cfg_plg_registry; *r; r++, i++) {
        if (i >= PLG_MAX) bad_registry("too many plugins", (*r)->name);
        if ((*r)->flags & CFG_PLG_IMPLICIT) continue;
        plg.types[plg.n_types++] = (*r)->name;
        if (!(*r)->fields) continue;
        snprintf(plg.paths[i], sizeof plg.paths[i],
                 "routing.decisions[].plugins[].configuration (%s)", (*r)->name);
        plg.schemas[i] = (cfg_schema_t){plg.paths[i], (*r)->fields, (*r)->doc};
    }
    join(plg.type_doc, sizeof plg.type_doc, plg.types, plg.n_types, " | ");
    plg.fields[0] = (cfg_field_t){.key = "type", .type = CFG_F_CUSTOM, .doc = plg.type_doc};
    plg.fields[1] = (cfg_field_t){
        .key = "configuration", .type = CFG_F_CUSTOM, .doc = "the plugin's settings (SPEC 8)"};
}

/* Before main: every table above is complete before anything reads it. */
__attribute__((constructor)) static void family_init(void)
{
    build_signals();
    build_algorithms();
    build_plugins();
}

/* ---- signal families ---- */

size_t cfg_signal_family_count(void)
{
    return sig.n;
}

const cfg_sig_family_t *cfg_signal_family(cfg_signal_family_t f)
{
    return (size_t)f < sig.n ? cfg_sig_registry[f] : NULL;
}

const char *cfg_signal_family_name(cfg_signal_family_t f)
{
    return (size_t)f < sig.n ? sig.names[f] : "?";
}

const char *cfg_signal_family_key(cfg_signal_family_t f)
{
    return (size_t)f < sig.n ? cfg_sig_registry[f]->key : "?";
}

int cfg_signal_family_by_name(const char *s)
{
    for (size_t i = 0; i < sig.n; i++)
        if (!strcmp(sig.names[i], s)) return (int)i;
    return -1;
}

int cfg_signal_family_by_key(const char *key)
{
    for (size_t i = 0; i < sig.n; i++)
        if (!strcmp(cfg_sig_registry[i]->key, key)) return (int)i;
    return -1;
}

const char *const *cfg_signal_family_names(size_t *n)
{
    *n = sig.n;
    return sig.names;
}

const char *const *cfg_signal_leaf_types(size_t *n)
{
    *n = sig.n + 1;
    return sig.leaf_types;
}

const cfg_schema_t *cfg_signal_schema(cfg_signal_family_t f)
{
    return (size_t)f < sig.n ? &sig.schemas[f] : NULL;
}

bool cfg_signal_family_has_labels(cfg_signal_family_t f)
{
    return (size_t)f < sig.n && (cfg_sig_registry[f]->flags & CFG_SIGFAM_LABELS);
}

bool cfg_signal_leaf_is_builtin(cfg_signal_family_t f, const char *name)
{
    const cfg_sig_family_t *d = cfg_signal_family(f);
    if (!d) return false;
    if (d->flags & CFG_SIGFAM_ANY_LEAF) return true;
    for (const char *const *b = d->builtin_leaves; b && *b; b++)
        if (!strcmp(*b, name)) return true;
    return false;
}

const char *cfg_signal_leaf_name(const cfg_signal_t *r)
{
    const cfg_sig_family_t *d = cfg_signal_family(r->family);
    return d && (d->flags & CFG_SIGFAM_ROLE_LEAVES) && r->role ? r->role : r->name;
}

/* ---- selection algorithms ---- */

size_t cfg_selector_count(void)
{
    return alg.n;
}

const cfg_selector_t *cfg_selector_at(size_t i)
{
    return i < alg.n ? cfg_sel_registry[i] : NULL;
}

const char *const *cfg_selector_names(size_t *n)
{
    *n = alg.n;
    return alg.names;
}

const cfg_selector_t *cfg_selector_find(const char *name)
{
    for (size_t i = 0; name && i < alg.n; i++)
        if (!strcmp(alg.names[i], name)) return cfg_sel_registry[i];
    return NULL;
}

const cfg_schema_t *cfg_selector_schema(size_t i)
{
    return i < alg.n ? &alg.schemas[i] : NULL;
}

const char *cfg_selector_choices(void)
{
    return alg.choices;
}

/* ---- plugins ---- */

const cfg_plugin_kind_t *cfg_plugin_kind_find(const char *type)
{
    for (const cfg_plugin_kind_t *const *r = cfg_plg_registry; type && *r; r++)
        if (!((*r)->flags & CFG_PLG_IMPLICIT) && !strcmp((*r)->name, type)) return *r;
    return NULL;
}

const char *const *cfg_plugin_types(size_t *n)
{
    *n = plg.n_types;
    return plg.types;
}

const cfg_schema_t *cfg_plugin_schema(const char *type)
{
    size_t i = 0;
    for (const cfg_plugin_kind_t *const *r = cfg_plg_registry; type && *r; r++, i++)
        if (!((*r)->flags & CFG_PLG_IMPLICIT) && !strcmp((*r)->name, type))
            return (*r)->fields ? &plg.schemas[i] : NULL;
    return NULL;
}
