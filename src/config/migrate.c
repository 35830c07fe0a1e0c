/* migrate.c - `tether config migrate`: rewrite the older flat layout (top-level
 * signals/decisions/X_rules/categories, model_config + vllm_endpoints +
 * provider_profiles, top-level default_model/reasoning_families, loose
 * global keys, semantic_cache, prompt_guard) as v0.3, keep comments, report
 * what was dropped, and validate the result with the real loader, pointing
 * every diagnostic back at the old key it came from (SPEC 3.5). */
#include "config/migrate.h"
#include "config/load.h"
#include "config/routing.h"
#include "config/yaml.h"
#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

extern const cfg_schema_t cfg_schema_decision;
const cfg_schema_t *cfg_signal_schema(cfg_signal_family_t f); /* signals.c */

typedef struct origin {
    const cfg_node_t *node; /* node of the new tree */
    const char *path;       /* old path */
    int line, col;          /* in the old file */
} origin_t;

typedef struct endpoint {
    const cfg_node_t *node;
    char *name, *endpoint, *base_url, *profile;
    const cfg_node_t *weight, *models;
    size_t index;
} endpoint_t;

typedef struct mg {
    arena_t *a;
    const char *old_name;
    cfg_diags_t *notes;
    const cfg_node_t *old;
    origin_t *orig;
    size_t n_orig, cap_orig;
    endpoint_t *eps;
    size_t n_eps;
    const cfg_node_t *profiles; /* provider_profiles */
    cfg_node_t *root, *providers, *defaults, *models, *routing, *cards, *signals, *decisions,
        *global;
    const char *default_model;
    bool *consumed; /* per top-level key of old */
} mg_t;

/* ---- small builders ---- */

static cfg_node_t *mk_map(mg_t *g)
{
    return cfg_node_new(g->a, CFG_NODE_MAP, 0, 0);
}
static cfg_node_t *mk_seq(mg_t *g)
{
    return cfg_node_new(g->a, CFG_NODE_SEQ, 0, 0);
}
static cfg_node_t *mk_str(mg_t *g, const char *s)
{
    return cfg_node_scalar(g->a, s, false);
}

static void mark(mg_t *g, const cfg_node_t *n, const char *path, const cfg_node_t *old)
{
    if (!n || !path) return;
    if (g->n_orig == g->cap_orig) {
        g->cap_orig = g->cap_orig ? g->cap_orig * 2 : 64;
        g->orig = realloc(g->orig, g->cap_orig * sizeof(*g->orig));
        if (!g->orig) abort();
    }
    g->orig[g->n_orig++] = (origin_t){n, path, old ? old->line : 0, old ? old->col : 0};
}

/* Remember every node of a copied subtree with its old path, so a
 * diagnostic deep inside points at the exact old key. */
static void mark_tree(mg_t *g, const cfg_node_t *n, const cfg_node_t *old, const char *path,
                      int depth)
{
    mark(g, n, path, old);
    if (depth > 64 || n->n != old->n || n->kind != old->kind) return;
    for (size_t i = 0; i < n->n; i++) {
        const char *cp;
        if (n->kind == CFG_NODE_MAP) {
            cp = arena_sprintf(g->a, "%s.%s", path, old->keys[i]->str);
            mark(g, n->keys[i], cp, old->keys[i]);
        } else {
            cp = arena_sprintf(g->a, "%s[%zu]", path, i);
        }
        mark_tree(g, n->items[i], old->items[i], cp, depth + 1);
    }
}

/* Deep copy of an old node, remembered as coming from path. */
static cfg_node_t *take(mg_t *g, const cfg_node_t *old, const char *path)
{
    cfg_node_t *n = cfg_node_copy(g->a, old);
    mark_tree(g, n, old, path, 0);
    return n;
}

static cfg_node_t *child(mg_t *g, cfg_node_t *map, const char *key, cfg_node_kind_t kind)
{
    cfg_node_t *n = cfg_node_get(map, key);
    if (n && n->kind == kind) return n;
    n = cfg_node_new(g->a, kind, 0, 0);
    cfg_node_set(g->a, map, key, n);
    return n;
}

static void note(mg_t *g, const cfg_node_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void note(mg_t *g, const cfg_node_t *at, const char *path, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cfg_diags_add(g->notes, CFG_DIAG_WARNING, g->old_name, at ? at->line : 0, at ? at->col : 0,
                  path, "%s", b.data ? b.data : "");
    buf_free(&b);
}

static const char *sval(const cfg_node_t *n)
{
    return n && n->kind == CFG_NODE_SCALAR && !cfg_node_is_null(n) ? n->str : NULL;
}

static const char *pkey(mg_t *g, const char *parent, const char *key)
{
    return parent && *parent ? arena_sprintf(g->a, "%s.%s", parent, key) : arena_strdup(g->a, key);
}

/* parent[name] when the item has a plain name, else parent[i]. */
static const char *pitem(mg_t *g, const char *parent, const cfg_node_t *item, size_t i)
{
    const char *nm = sval(cfg_node_get(item, "name"));
    if (nm && strlen(nm) < 100) return arena_sprintf(g->a, "%s[%s]", parent, nm);
    return arena_sprintf(g->a, "%s[%zu]", parent, i);
}

static void consume(mg_t *g, const char *key)
{
    for (size_t i = 0; i < g->old->n; i++)
        if (!strcmp(g->old->keys[i]->str, key)) g->consumed[i] = true;
}

static const cfg_node_t *old_get(mg_t *g, const char *key, const char **path)
{
    cfg_node_t *k = NULL;
    const cfg_node_t *v = cfg_node_get_pair(g->old, key, &k);
    if (v) consume(g, key);
    if (path) *path = key;
    return v;
}

/* Copy the keys of old map src that schema s accepts into dst; report the
 * others as dropped (except those listed in used, which the caller maps). */
static void copy_known(mg_t *g, cfg_node_t *dst, const cfg_node_t *src, const char *path,
                       const cfg_schema_t *s, const char *const *used)
{
    if (!src || src->kind != CFG_NODE_MAP) return;
    for (size_t i = 0; i < src->n; i++) {
        const char *k = src->keys[i]->str;
        bool is_used = false;
        for (const char *const *u = used; u && *u; u++)
            is_used |= !strcmp(*u, k);
        if (is_used) continue;
        if (s && cfg_schema_field(s, k)) {
            cfg_node_t *v = take(g, src->items[i], pkey(g, path, k));
            cfg_node_set(g->a, dst, k, v);
            /* keep the comment above the old key */
            for (size_t j = 0; j < dst->n; j++)
                if (dst->items[j] == v) dst->keys[j]->comment_top = src->keys[i]->comment_top;
        } else {
            note(g, src->keys[i], pkey(g, path, k), "not supported by tether; dropped");
        }
    }
}

static void set_str(mg_t *g, cfg_node_t *map, const char *key, const char *val)
{
    cfg_node_set(g->a, map, key, mk_str(g, val));
}

/* ---- providers ---- */

static char *env_name(mg_t *g, const char *base, const char *suffix)
{
    char *s = arena_sprintf(g->a, "%s%s", base, suffix);
    for (char *p = s; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    return s;
}

static const cfg_node_t *profile_get(mg_t *g, const char *name, const char **path)
{
    const cfg_node_t *p = g->profiles;
    if (!p || !name) return NULL;
    if (p->kind == CFG_NODE_MAP) {
        *path = arena_sprintf(g->a, "provider_profiles.%s", name);
        return cfg_node_get(p, name);
    }
    if (p->kind == CFG_NODE_SEQ)
        for (size_t i = 0; i < p->n; i++) {
            const char *nm = sval(cfg_node_get(p->items[i], "name"));
            if (nm && !strcmp(nm, name)) {
                *path = arena_sprintf(g->a, "provider_profiles[%s]", name);
                return p->items[i];
            }
        }
    return NULL;
}

/* The profile's provider type: openai|anthropic|vllm|generic, or NULL. */
static const char *profile_type(const cfg_node_t *p)
{
    const char *t = sval(cfg_node_get(p, "type"));
    if (!t) t = sval(cfg_node_get(p, "provider"));
    if (!t) return NULL;
    if (!strcmp(t, "anthropic") || !strcmp(t, "claude")) return "anthropic";
    if (!strcmp(t, "vllm")) return "vllm";
    if (!strcmp(t, "openai") || !strcmp(t, "azure") || !strcmp(t, "azure-openai") ||
        !strcmp(t, "openai-compatible"))
        return "openai";
    return "generic";
}

/* Credentials, headers and paths of a profile onto backend ref br. */
static void apply_profile(mg_t *g, cfg_node_t *br, const cfg_node_t *p, const char *pname,
                          const char *ppath)
{
    const char *t = profile_type(p);
    if (t) set_str(g, br, "provider", t);
    static const char *const pass[] = {"auth_header", "auth_prefix", "chat_path", "api_key_env"};
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) {
        const cfg_node_t *v = cfg_node_get(p, pass[i]);
        if (v) cfg_node_set(g->a, br, pass[i], take(g, v, pkey(g, ppath, pass[i])));
    }
    cfg_node_t *kn = NULL;
    const cfg_node_t *key = cfg_node_get_pair(p, "api_key", &kn);
    if (key && !cfg_node_get(p, "api_key_env")) {
        const char *ks = sval(key);
        char *var;
        if (ks && ks[0] == '$' && ks[1] == '{' && strchr(ks, '}') && !strchr(ks, ':'))
            var = arena_strndup(g->a, ks + 2, strcspn(ks + 2, "}"));
        else {
            var = env_name(g, pname, "_API_KEY");
            note(g, kn, pkey(g, ppath, "api_key"),
                 "literal API key not copied: set %s in the environment (api_key_env: %s)", var,
                 var);
        }
        set_str(g, br, "api_key_env", var);
    }
    const cfg_node_t *h = cfg_node_get(p, "extra_headers");
    if (!h) h = cfg_node_get(p, "headers");
    if (h && h->kind == CFG_NODE_MAP) {
        cfg_node_t *eh = mk_map(g);
        for (size_t i = 0; i < h->n; i++) {
            if (cfg_key_is_secret(h->keys[i]->str, true)) {
                note(g, h->keys[i], pkey(g, ppath, h->keys[i]->str),
                     "secret header not copied: add it to extra_headers yourself");
                continue;
            }
            cfg_node_set(g->a, eh, h->keys[i]->str,
                         take(g, h->items[i], pkey(g, ppath, h->keys[i]->str)));
        }
        if (eh->n) cfg_node_set(g->a, br, "extra_headers", eh);
    }
}

static void read_endpoints(mg_t *g)
{
    const char *path;
    const cfg_node_t *v = old_get(g, "vllm_endpoints", &path);
    if (!v) return;
    if (v->kind != CFG_NODE_SEQ) {
        note(g, v, path, "expected a list; ignored");
        return;
    }
    g->eps = arena_calloc(g->a, (v->n + 1) * sizeof(endpoint_t));
    for (size_t i = 0; i < v->n; i++) {
        const cfg_node_t *it = v->items[i];
        const char *ip = pitem(g, path, it, i);
        if (it->kind != CFG_NODE_MAP) {
            note(g, it, ip, "expected a mapping; ignored");
            continue;
        }
        endpoint_t *e = &g->eps[g->n_eps++];
        e->node = it;
        e->index = i;
        const char *nm = sval(cfg_node_get(it, "name"));
        e->name = arena_strdup(g->a, nm ? nm : arena_sprintf(g->a, "endpoint-%zu", i + 1));
        const char *addr = sval(cfg_node_get(it, "address"));
        const char *port = sval(cfg_node_get(it, "port"));
        const char *proto = sval(cfg_node_get(it, "protocol"));
        if (addr && strstr(addr, "://")) {
            e->base_url = arena_strdup(g->a, addr);
        } else if (addr) {
            bool v6 = strchr(addr, ':') != NULL;
            e->endpoint = arena_sprintf(
                g->a, "%s%s%s%s%s%s", proto && !strcmp(proto, "https") ? "https://" : "",
                v6 ? "[" : "", addr, v6 ? "]" : "", port ? ":" : "", port ? port : "");
        }
        e->weight = cfg_node_get(it, "weight");
        e->models = cfg_node_get(it, "models");
        const char *pf = sval(cfg_node_get(it, "provider_profile"));
        e->profile = pf ? arena_strdup(g->a, pf) : NULL;
        static const char *const known[] = {
            "name", "address", "port", "protocol", "weight", "models", "provider_profile", NULL};
        for (size_t k = 0; k < it->n; k++) {
            bool ok = false;
            for (const char *const *q = known; *q; q++)
                ok |= !strcmp(*q, it->keys[k]->str);
            if (!ok)
                note(g, it->keys[k], pkey(g, ip, it->keys[k]->str),
                     "not supported by tether; dropped");
        }
    }
}

static cfg_node_t *backend_from_endpoint(mg_t *g, const endpoint_t *e, bool *anthropic)
{
    const char *ep = arena_sprintf(g->a, "vllm_endpoints[%s]", e->name);
    cfg_node_t *br = mk_map(g);
    mark(g, br, ep, e->node);
    set_str(g, br, "name", e->name);
    const char *ppath = NULL;
    const cfg_node_t *prof = e->profile ? profile_get(g, e->profile, &ppath) : NULL;
    if (e->endpoint) {
        cfg_node_t *en = take(g, mk_str(g, e->endpoint), pkey(g, ep, "address"));
        const cfg_node_t *addr = cfg_node_get(e->node, "address"),
                         *port = cfg_node_get(e->node, "port");
        en->comment = addr && addr->comment ? addr->comment : port ? port->comment : NULL;
        cfg_node_set(g->a, br, "endpoint", en);
    } else if (e->base_url)
        set_str(g, br, "base_url", e->base_url);
    else if (prof && sval(cfg_node_get(prof, "base_url")))
        cfg_node_set(g->a, br, "base_url",
                     take(g, cfg_node_get(prof, "base_url"), pkey(g, ppath, "base_url")));
    if (e->weight) cfg_node_set(g->a, br, "weight", take(g, e->weight, pkey(g, ep, "weight")));
    if (e->profile && !prof)
        note(g, cfg_node_get(e->node, "provider_profile"), pkey(g, ep, "provider_profile"),
             "provider profile \"%s\" is not defined; ignored", e->profile);
    if (prof) {
        apply_profile(g, br, prof, e->profile, ppath);
        const char *t = profile_type(prof);
        if (t && !strcmp(t, "anthropic")) *anthropic = true;
    }
    return br;
}

static bool seq_has(const cfg_node_t *seq, const char *s)
{
    if (!seq || seq->kind != CFG_NODE_SEQ) return false;
    for (size_t i = 0; i < seq->n; i++)
        if (seq->items[i]->kind == CFG_NODE_SCALAR && !strcmp(seq->items[i]->str, s)) return true;
    return false;
}

static void migrate_model(mg_t *g, const char *name, const cfg_node_t *keynode,
                          const cfg_node_t *mc, const char *mpath)
{
    cfg_node_t *m = mk_map(g), *card = mk_map(g);
    mark(g, m, mpath, keynode ? keynode : mc);
    mark(g, card, mpath, keynode ? keynode : mc);
    cfg_node_t *nm = mk_str(g, name);
    cfg_node_set(g->a, m, "name", nm);
    mark(g, nm, mpath, keynode ? keynode : mc);
    set_str(g, card, "name", name);
    if (keynode) m->keys[0]->comment_top = keynode->comment_top;
    const cfg_node_t *mid = cfg_node_get(mc, "model_id");
    if (mid && !cfg_node_get(mc, "provider_model_id"))
        cfg_node_set(g->a, m, "provider_model_id", take(g, mid, pkey(g, mpath, "model_id")));
    static const char *const used[] = {"preferred_endpoints",
                                       "provider_profile",
                                       "model_id",
                                       "description",
                                       "capabilities",
                                       "quality_score",
                                       "context_window_size",
                                       "param_size",
                                       "modality",
                                       "tags",
                                       "loras",
                                       "backend_refs",
                                       NULL};
    copy_known(g, m, mc, mpath, &cfg_schema_model, used);
    /* card fields */
    static const char *const card_keys[] = {
        "description", "capabilities", "quality_score", "context_window_size",
        "param_size",  "modality",     "tags"};
    for (size_t i = 0; i < sizeof card_keys / sizeof *card_keys; i++) {
        const cfg_node_t *v = cfg_node_get(mc, card_keys[i]);
        if (v) cfg_node_set(g->a, card, card_keys[i], take(g, v, pkey(g, mpath, card_keys[i])));
    }
    const cfg_node_t *loras = cfg_node_get(mc, "loras");
    if (loras && loras->kind == CFG_NODE_SEQ) {
        cfg_node_t *ls = mk_seq(g);
        mark(g, ls, pkey(g, mpath, "loras"), loras);
        for (size_t i = 0; i < loras->n; i++) {
            const char *ln = loras->items[i]->kind == CFG_NODE_SCALAR
                                 ? loras->items[i]->str
                                 : sval(cfg_node_get(loras->items[i], "name"));
            if (ln) cfg_node_append(g->a, ls, mk_str(g, ln));
        }
        cfg_node_set(g->a, card, "loras", ls);
    }
    /* backends */
    bool anthropic = false;
    cfg_node_t *brs = mk_seq(g);
    const cfg_node_t *given = cfg_node_get(mc, "backend_refs");
    if (given) {
        cfg_node_set(g->a, m, "backend_refs", take(g, given, pkey(g, mpath, "backend_refs")));
    } else {
        const cfg_node_t *pref = cfg_node_get(mc, "preferred_endpoints");
        const char *ppath = pkey(g, mpath, "preferred_endpoints");
        if (pref && pref->kind == CFG_NODE_SCALAR) {
            cfg_node_t *one = mk_seq(g);
            cfg_node_append(g->a, one, (cfg_node_t *)pref);
            pref = one;
        }
        if (pref && pref->kind == CFG_NODE_SEQ) {
            for (size_t i = 0; i < pref->n; i++) {
                const char *en = sval(pref->items[i]);
                const endpoint_t *e = NULL;
                for (size_t j = 0; en && j < g->n_eps; j++)
                    if (!strcmp(g->eps[j].name, en)) e = &g->eps[j];
                if (!e) {
                    note(g, pref->items[i], arena_sprintf(g->a, "%s[%zu]", ppath, i),
                         "endpoint \"%s\" is not in vllm_endpoints; ignored", en ? en : "?");
                    continue;
                }
                cfg_node_t *br = backend_from_endpoint(g, e, &anthropic);
                mark(g, br, arena_sprintf(g->a, "%s[%zu]", ppath, i), pref->items[i]);
                cfg_node_append(g->a, brs, br);
            }
        } else {
            const char *pf = sval(cfg_node_get(mc, "provider_profile"));
            const char *prpath = NULL;
            const cfg_node_t *prof = pf ? profile_get(g, pf, &prpath) : NULL;
            if (prof) {
                cfg_node_t *br = mk_map(g);
                mark(g, br, prpath, prof);
                set_str(g, br, "name", pf);
                const cfg_node_t *bu = cfg_node_get(prof, "base_url");
                if (bu)
                    cfg_node_set(g->a, br, "base_url", take(g, bu, pkey(g, prpath, "base_url")));
                apply_profile(g, br, prof, pf, prpath);
                const char *t = profile_type(prof);
                anthropic = t && !strcmp(t, "anthropic");
                cfg_node_append(g->a, brs, br);
            } else {
                if (pf)
                    note(g, cfg_node_get(mc, "provider_profile"),
                         pkey(g, mpath, "provider_profile"),
                         "provider profile \"%s\" is not defined; ignored", pf);
                bool any_listed = false;
                for (size_t j = 0; j < g->n_eps; j++)
                    if (seq_has(g->eps[j].models, name)) {
                        cfg_node_append(g->a, brs,
                                        backend_from_endpoint(g, &g->eps[j], &anthropic));
                        any_listed = true;
                    }
                if (!any_listed && g->n_eps) {
                    for (size_t j = 0; j < g->n_eps; j++)
                        cfg_node_append(g->a, brs,
                                        backend_from_endpoint(g, &g->eps[j], &anthropic));
                    note(g, keynode ? keynode : mc, mpath,
                         "no preferred_endpoints: every vllm_endpoints entry became a backend_ref");
                }
            }
        }
        cfg_node_set(g->a, m, "backend_refs", brs);
    }
    if (anthropic && !cfg_node_get(m, "api_format")) set_str(g, m, "api_format", "anthropic");
    cfg_node_append(g->a, g->models, m);
    cfg_node_append(g->a, g->cards, card);
}

static void migrate_models(mg_t *g)
{
    const char *path;
    const cfg_node_t *mc = old_get(g, "model_config", &path);
    if (!mc) return;
    if (mc->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < mc->n; i++) {
            const char *nm = mc->keys[i]->str;
            const char *mp = arena_sprintf(g->a, "model_config[\"%s\"]", nm);
            if (mc->items[i]->kind != CFG_NODE_MAP && !cfg_node_is_null(mc->items[i])) {
                note(g, mc->items[i], mp, "expected a mapping; ignored");
                continue;
            }
            migrate_model(g, nm, mc->keys[i], mc->items[i], mp);
        }
    } else if (mc->kind == CFG_NODE_SEQ) {
        for (size_t i = 0; i < mc->n; i++) {
            const char *nm = sval(cfg_node_get(mc->items[i], "name"));
            const char *mp = pitem(g, path, mc->items[i], i);
            if (!nm) {
                note(g, mc->items[i], mp, "a model without a name; ignored");
                continue;
            }
            migrate_model(g, nm, NULL, mc->items[i], mp);
        }
    } else {
        note(g, mc, path, "expected a mapping of model names; ignored");
    }
}

/* ---- signals and decisions ---- */

static const struct {
    const char *old, *fam;
} fam_renames[] = {
    {"keyword_rules", "keywords"},
    {"keywords", "keywords"},
    {"embedding_rules", "embeddings"},
    {"embeddings", "embeddings"},
    {"categories", "domains"},
    {"domain_rules", "domains"},
    {"domains", "domains"},
    {"context_rules", "context"},
    {"context", "context"},
    {"language_rules", "language"},
    {"language", "language"},
    {"complexity_rules", "complexity"},
    {"complexity", "complexity"},
    {"preference_rules", "preferences"},
    {"preferences", "preferences"},
    {"fact_check_rules", "fact_check"},
    {"fact_check", "fact_check"},
    {"user_feedback_rules", "user_feedbacks"},
    {"user_feedbacks", "user_feedbacks"},
    {"jailbreak_rules", "jailbreak"},
    {"jailbreak", "jailbreak"},
    {"pii_rules", "pii"},
    {"pii", "pii"},
    {"modality_rules", "modality"},
    {"modality", "modality"},
    {"role_bindings", "role_bindings"},
    {"authz_rules", "role_bindings"},
    {"reask_rules", "reasks"},
    {"reasks", "reasks"},
    {"event_rules", "events"},
    {"events", "events"},
    {"conversation_rules", "conversation"},
    {"conversation", "conversation"},
    {"structure_rules", "structure"},
    {"structure", "structure"},
    {"kb_rules", "kb"},
    {"kb", "kb"},
};

static const char *family_for(const char *old_key)
{
    for (size_t i = 0; i < sizeof fam_renames / sizeof *fam_renames; i++)
        if (!strcmp(fam_renames[i].old, old_key)) return fam_renames[i].fam;
    return NULL;
}

static const cfg_schema_t *family_schema(const char *fam)
{
    for (int f = 0; f < CFG_SIG_N; f++)
        if (!strcmp(cfg_signal_family_key((cfg_signal_family_t)f), fam))
            return cfg_signal_schema((cfg_signal_family_t)f);
    return NULL;
}

/* Append the rules of one old list to routing.signals.<fam>. used: keys the
 * caller consumes itself (not reported). */
static void migrate_rules(mg_t *g, const char *fam, const cfg_node_t *list, const char *path,
                          const char *const *used, const char *threshold)
{
    if (list->kind != CFG_NODE_SEQ) {
        note(g, list, path, "expected a list; ignored");
        return;
    }
    const cfg_schema_t *s = family_schema(fam);
    cfg_node_t *dst = child(g, g->signals, fam, CFG_NODE_SEQ);
    for (size_t i = 0; i < list->n; i++) {
        const cfg_node_t *it = list->items[i];
        const char *ip = pitem(g, path, it, i);
        if (it->kind != CFG_NODE_MAP) {
            note(g, it, ip, "expected a mapping; ignored");
            continue;
        }
        cfg_node_t *r = mk_map(g);
        mark(g, r, ip, it);
        copy_known(g, r, it, ip, s, used);
        if (threshold && !cfg_node_get(r, "threshold")) set_str(g, r, "threshold", threshold);
        cfg_node_append(g->a, dst, r);
    }
}

static cfg_node_t *plugin(mg_t *g, const char *type, cfg_node_t *conf)
{
    cfg_node_t *p = mk_map(g);
    set_str(g, p, "type", type);
    if (conf) cfg_node_set(g->a, p, "configuration", conf);
    return p;
}

static cfg_node_t *find_plugin(cfg_node_t *plugins, const char *type)
{
    for (size_t i = 0; plugins && i < plugins->n; i++)
        if (sval(cfg_node_get(plugins->items[i], "type")) &&
            !strcmp(sval(cfg_node_get(plugins->items[i], "type")), type))
            return plugins->items[i];
    return NULL;
}

/* Old decision plugins: rename semantic-cache, drop what tether lacks. */
static cfg_node_t *migrate_plugins(mg_t *g, const cfg_node_t *ps, const char *path)
{
    cfg_node_t *out = mk_seq(g);
    mark(g, out, path, ps);
    if (ps->kind != CFG_NODE_SEQ) {
        note(g, ps, path, "expected a list; ignored");
        return out;
    }
    static const char *const ok[] = {"system_prompt",  "header_mutation", "fast_response",
                                     "request_params", "response_cache",  "router_replay"};
    for (size_t i = 0; i < ps->n; i++) {
        const cfg_node_t *p = ps->items[i];
        const char *ip = arena_sprintf(g->a, "%s[%zu]", path, i);
        const char *t = sval(cfg_node_get(p, "type"));
        if (!t) {
            note(g, p, ip, "a plugin without a type; dropped");
            continue;
        }
        const cfg_node_t *conf = cfg_node_get(p, "configuration");
        if (!strcmp(t, "semantic-cache") || !strcmp(t, "semantic_cache")) {
            cfg_node_t *c = mk_map(g);
            const cfg_node_t *en = cfg_node_get(conf, "enabled");
            if (en && sval(en) && !strcmp(sval(en), "false")) {
                note(g, p, ip, "disabled semantic-cache plugin dropped");
                continue;
            }
            set_str(g, c, "mode", "semantic");
            const cfg_node_t *th = cfg_node_get(conf, "similarity_threshold");
            if (th) {
                cfg_node_t *sem = mk_map(g);
                cfg_node_set(g->a, sem, "similarity_threshold",
                             take(g, th, pkey(g, ip, "configuration.similarity_threshold")));
                cfg_node_set(g->a, c, "semantic", sem);
            }
            cfg_node_t *np = plugin(g, "response_cache", c);
            mark(g, np, ip, p);
            cfg_node_append(g->a, out, np);
            continue;
        }
        bool known = false;
        for (size_t k = 0; k < sizeof ok / sizeof *ok; k++)
            known |= !strcmp(ok[k], t);
        if (!known) {
            note(g, cfg_node_get(p, "type"), pkey(g, ip, "type"),
                 "plugin \"%s\" is not supported by tether; dropped", t);
            continue;
        }
        cfg_node_t *np = take(g, p, ip);
        /* old configs carried enabled: false to switch a plugin off */
        const cfg_node_t *en = cfg_node_get(conf, "enabled");
        if (en && sval(en) && !strcmp(sval(en), "false")) {
            note(g, p, ip, "disabled plugin \"%s\" dropped", t);
            continue;
        }
        if (en && strcmp(t, "router_replay"))
            cfg_node_del(cfg_node_get(np, "configuration"), "enabled");
        cfg_node_append(g->a, out, np);
    }
    return out;
}

static void migrate_decisions(mg_t *g, const cfg_node_t *ds, const char *path)
{
    if (ds->kind != CFG_NODE_SEQ) {
        note(g, ds, path, "expected a list; ignored");
        return;
    }
    for (size_t i = 0; i < ds->n; i++) {
        const cfg_node_t *it = ds->items[i];
        const char *ip = pitem(g, path, it, i);
        if (it->kind != CFG_NODE_MAP) {
            note(g, it, ip, "expected a mapping; ignored");
            continue;
        }
        cfg_node_t *d = mk_map(g);
        mark(g, d, ip, it);
        static const char *const used[] = {"plugins", NULL};
        copy_known(g, d, it, ip, &cfg_schema_decision, used);
        const cfg_node_t *ps = cfg_node_get(it, "plugins");
        if (ps) {
            cfg_node_t *np = migrate_plugins(g, ps, pkey(g, ip, "plugins"));
            if (np->n) cfg_node_set(g->a, d, "plugins", np);
        }
        cfg_node_append(g->a, g->decisions, d);
    }
}

/* categories: domain signals, plus one decision each when the old file had
 * no decisions (model_scores -> modelRefs ordered by score + static scores). */
static void migrate_categories(mg_t *g, const cfg_node_t *cats, const char *path,
                               const char *threshold, bool make_decisions)
{
    static const char *const used[] = {"model_scores",
                                       "system_prompt",
                                       "reasoning_description",
                                       "reasoning_effort",
                                       "use_reasoning",
                                       "semantic_cache_enabled",
                                       "semantic_cache_similarity_threshold",
                                       "jailbreak_enabled",
                                       "pii_enabled",
                                       NULL};
    migrate_rules(g, "domains", cats, path, used, threshold);
    if (!make_decisions || cats->kind != CFG_NODE_SEQ) return;
    for (size_t i = 0; i < cats->n; i++) {
        const cfg_node_t *c = cats->items[i];
        const char *nm = sval(cfg_node_get(c, "name"));
        const char *ip = pitem(g, path, c, i);
        if (!nm) continue;
        const cfg_node_t *ms = cfg_node_get(c, "model_scores");
        if (!ms || ms->kind != CFG_NODE_SEQ || !ms->n) {
            note(g, c, ip, "category without model_scores: no decision generated");
            continue;
        }
        cfg_node_t *d = mk_map(g);
        mark(g, d, ip, c);
        set_str(g, d, "name", nm);
        const cfg_node_t *desc = cfg_node_get(c, "description");
        if (desc) cfg_node_set(g->a, d, "description", take(g, desc, pkey(g, ip, "description")));
        cfg_node_t *rules = mk_map(g);
        set_str(g, rules, "type", "domain");
        set_str(g, rules, "name", nm);
        cfg_node_set(g->a, d, "rules", rules);
        /* order by score, highest first (stable) */
        size_t n = ms->n;
        size_t *ord = arena_alloc(g->a, n * sizeof(size_t));
        double *sc = arena_alloc(g->a, n * sizeof(double));
        for (size_t j = 0; j < n; j++) {
            ord[j] = j;
            sc[j] = 0;
            if (!cfg_parse_double(sval(cfg_node_get(ms->items[j], "score"))
                                      ? sval(cfg_node_get(ms->items[j], "score"))
                                      : "",
                                  &sc[j]))
                sc[j] = 0;
        }
        for (size_t a = 1; a < n; a++)
            for (size_t b = a; b > 0 && sc[ord[b - 1]] < sc[ord[b]]; b--) {
                size_t t = ord[b];
                ord[b] = ord[b - 1];
                ord[b - 1] = t;
            }
        cfg_node_t *refs = mk_seq(g), *scores = mk_map(g);
        for (size_t j = 0; j < n; j++) {
            const cfg_node_t *e = ms->items[ord[j]];
            const char *ep = arena_sprintf(g->a, "%s.model_scores[%zu]", ip, ord[j]);
            const cfg_node_t *model = cfg_node_get(e, "model");
            if (!sval(model)) {
                note(g, e, ep, "model_scores entry without a model; ignored");
                continue;
            }
            cfg_node_t *r = mk_map(g);
            mark(g, r, ep, e);
            cfg_node_set(g->a, r, "model", take(g, model, pkey(g, ep, "model")));
            const cfg_node_t *ur = cfg_node_get(e, "use_reasoning");
            if (!ur) ur = cfg_node_get(c, "use_reasoning");
            if (ur)
                cfg_node_set(g->a, r, "use_reasoning", take(g, ur, pkey(g, ep, "use_reasoning")));
            const cfg_node_t *re = cfg_node_get(e, "reasoning_effort");
            if (!re) re = cfg_node_get(c, "reasoning_effort");
            if (re)
                cfg_node_set(g->a, r, "reasoning_effort",
                             take(g, re, pkey(g, ep, "reasoning_effort")));
            const cfg_node_t *lora = cfg_node_get(e, "lora_name");
            if (lora) cfg_node_set(g->a, r, "lora_name", take(g, lora, pkey(g, ep, "lora_name")));
            cfg_node_append(g->a, refs, r);
            const cfg_node_t *s = cfg_node_get(e, "score");
            if (s && !cfg_node_get(scores, model->str))
                cfg_node_set(g->a, scores, model->str, take(g, s, pkey(g, ep, "score")));
        }
        cfg_node_set(g->a, d, "modelRefs", refs);
        if (scores->n) {
            cfg_node_t *alg = mk_map(g), *st = mk_map(g);
            set_str(g, alg, "type", "static");
            cfg_node_set(g->a, st, "model_scores", scores);
            cfg_node_set(g->a, alg, "static", st);
            cfg_node_set(g->a, d, "algorithm", alg);
        }
        cfg_node_t *plugins = mk_seq(g);
        const cfg_node_t *sp = cfg_node_get(c, "system_prompt");
        if (sval(sp)) {
            cfg_node_t *conf = mk_map(g);
            cfg_node_set(g->a, conf, "system_prompt", take(g, sp, pkey(g, ip, "system_prompt")));
            set_str(g, conf, "mode", "replace");
            cfg_node_append(g->a, plugins, plugin(g, "system_prompt", conf));
        }
        const cfg_node_t *sce = cfg_node_get(c, "semantic_cache_enabled");
        if (sval(sce) && !strcmp(sval(sce), "true")) {
            cfg_node_t *conf = mk_map(g);
            set_str(g, conf, "mode", "semantic");
            const cfg_node_t *th = cfg_node_get(c, "semantic_cache_similarity_threshold");
            if (th) {
                cfg_node_t *sem = mk_map(g);
                cfg_node_set(g->a, sem, "similarity_threshold",
                             take(g, th, pkey(g, ip, "semantic_cache_similarity_threshold")));
                cfg_node_set(g->a, conf, "semantic", sem);
            }
            cfg_node_append(g->a, plugins, plugin(g, "response_cache", conf));
        } else if (sval(sce) && !strcmp(sval(sce), "false")) {
            set_str(g, d, "x-no-cache", "1"); /* marker, removed below */
        }
        static const char *const gone[] = {"reasoning_description", "jailbreak_enabled",
                                           "pii_enabled"};
        for (size_t k = 0; k < sizeof gone / sizeof *gone; k++) {
            cfg_node_t *kn = NULL;
            if (cfg_node_get_pair(c, gone[k], &kn))
                note(g, kn, pkey(g, ip, gone[k]), "not supported by tether; dropped");
        }
        if (plugins->n) cfg_node_set(g->a, d, "plugins", plugins);
        cfg_node_append(g->a, g->decisions, d);
    }
}

static void migrate_signals(mg_t *g)
{
    const char *category_threshold = NULL;
    const cfg_node_t *cls = cfg_node_get(g->old, "classifier");
    const char *ct = sval(cfg_node_get(cfg_node_get(cls, "category_model"), "threshold"));
    if (ct) category_threshold = ct;
    bool has_decisions = cfg_node_get(g->old, "decisions") != NULL;
    const char *sp;
    const cfg_node_t *sig = old_get(g, "signals", &sp);
    if (sig && sig->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < sig->n; i++) {
            const char *k = sig->keys[i]->str;
            const char *fam = family_for(k);
            const char *kp = pkey(g, sp, k);
            if (!fam)
                note(g, sig->keys[i], kp, "unknown signal family; dropped");
            else if (!strcmp(k, "categories"))
                migrate_categories(g, sig->items[i], kp, category_threshold, !has_decisions);
            else
                migrate_rules(g, fam, sig->items[i], kp, NULL, NULL);
        }
    } else if (sig) {
        note(g, sig, sp, "expected a mapping of signal families; ignored");
    }
    for (size_t i = 0; i < g->old->n; i++) {
        const char *k = g->old->keys[i]->str;
        size_t l = strlen(k);
        bool rules = l > 6 && !strcmp(k + l - 6, "_rules");
        if (!rules && strcmp(k, "categories") && strcmp(k, "role_bindings")) continue;
        g->consumed[i] = true;
        const char *fam = family_for(k);
        if (!fam) {
            note(g, g->old->keys[i], k, "no tether signal family for \"%s\"; dropped", k);
            continue;
        }
        if (!strcmp(k, "categories"))
            migrate_categories(g, g->old->items[i], k, category_threshold, !has_decisions);
        else
            migrate_rules(g, fam, g->old->items[i], k, NULL, NULL);
    }
    const char *dp;
    const cfg_node_t *ds = old_get(g, "decisions", &dp);
    if (ds) migrate_decisions(g, ds, dp);
}

/* prompt_guard: a jailbreak rule and a blocking decision. */
static void migrate_prompt_guard(mg_t *g)
{
    const char *path;
    const cfg_node_t *pg = old_get(g, "prompt_guard", &path);
    if (!pg) return;
    const char *en = sval(cfg_node_get(pg, "enabled"));
    if (!en || strcmp(en, "true")) {
        note(g, pg, path, "prompt_guard is not enabled; dropped");
        return;
    }
    cfg_node_t *rule = mk_map(g);
    mark(g, rule, path, pg);
    set_str(g, rule, "name", "prompt_guard");
    const cfg_node_t *th = cfg_node_get(pg, "threshold");
    if (th) cfg_node_set(g->a, rule, "threshold", take(g, th, pkey(g, path, "threshold")));
    cfg_node_append(g->a, child(g, g->signals, "jailbreak", CFG_NODE_SEQ), rule);
    for (size_t i = 0; i < pg->n; i++) {
        const char *k = pg->keys[i]->str;
        if (strcmp(k, "enabled") && strcmp(k, "threshold"))
            note(g, pg->keys[i], pkey(g, path, k),
                 "tether detects jailbreaks itself (SPEC 5); dropped");
    }
    const char *target = g->default_model;
    if (!target && g->models->n) target = sval(cfg_node_get(g->models->items[0], "name"));
    if (!target) {
        note(g, pg, path, "no model to attach the blocking decision to; only the signal was added");
        return;
    }
    cfg_node_t *d = mk_map(g);
    mark(g, d, path, pg);
    set_str(g, d, "name", "block_jailbreak");
    set_str(g, d, "description", "migrated from prompt_guard: refuse detected jailbreaks");
    set_str(g, d, "priority", "1000");
    cfg_node_t *rules = mk_map(g);
    set_str(g, rules, "type", "jailbreak");
    set_str(g, rules, "name", "prompt_guard");
    cfg_node_set(g->a, d, "rules", rules);
    cfg_node_t *refs = mk_seq(g), *r = mk_map(g);
    set_str(g, r, "model", target);
    cfg_node_append(g->a, refs, r);
    cfg_node_set(g->a, d, "modelRefs", refs);
    cfg_node_t *conf = mk_map(g), *ps = mk_seq(g);
    set_str(g, conf, "message", "Blocked by policy.");
    cfg_node_append(g->a, ps, plugin(g, "fast_response", conf));
    cfg_node_set(g->a, d, "plugins", ps);
    /* first, so it reads as the guard it was */
    cfg_node_t *nd = mk_seq(g);
    cfg_node_append(g->a, nd, d);
    for (size_t i = 0; i < g->decisions->n; i++)
        cfg_node_append(g->a, nd, g->decisions->items[i]);
    g->decisions->items = nd->items;
    g->decisions->n = nd->n;
    g->decisions->cap = nd->cap;
}

/* ---- global ---- */

static void migrate_cache(mg_t *g)
{
    const char *path = "semantic_cache";
    const cfg_node_t *sc = old_get(g, "semantic_cache", NULL);
    if (!sc) {
        sc = old_get(g, "semantic-cache", NULL);
        path = "semantic-cache";
    }
    if (!sc) return;
    if (sc->kind != CFG_NODE_MAP) {
        note(g, sc, path, "expected a mapping; ignored");
        return;
    }
    cfg_node_t *stores = child(g, g->global, "stores", CFG_NODE_MAP);
    cfg_node_t *rc = child(g, stores, "response_cache", CFG_NODE_MAP);
    mark(g, rc, path, sc);
    const char *bt = sval(cfg_node_get(sc, "backend_type"));
    if (bt && (!strcmp(bt, "memory") || !strcmp(bt, "redis")))
        set_str(g, rc, "backend", bt);
    else if (bt)
        note(g, cfg_node_get(sc, "backend_type"), pkey(g, path, "backend_type"),
             "backend \"%s\" is not supported (memory or redis); using memory", bt);
    static const char *const pass[] = {"max_entries", "ttl_seconds", "max_entry_bytes", "redis"};
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) {
        const cfg_node_t *v = cfg_node_get(sc, pass[i]);
        if (v) cfg_node_set(g->a, rc, pass[i], take(g, v, pkey(g, path, pass[i])));
    }
    const char *en = sval(cfg_node_get(sc, "enabled"));
    const cfg_node_t *th = cfg_node_get(sc, "similarity_threshold");
    bool on = en && !strcmp(en, "true");
    for (size_t i = 0; i < sc->n; i++) {
        const char *k = sc->keys[i]->str;
        bool mapped = !strcmp(k, "enabled") || !strcmp(k, "similarity_threshold") ||
                      !strcmp(k, "backend_type");
        for (size_t j = 0; j < sizeof pass / sizeof *pass; j++)
            mapped |= !strcmp(k, pass[j]);
        if (!mapped) note(g, sc->keys[i], pkey(g, path, k), "not supported by tether; dropped");
    }
    if (!on) return;
    /* the old cache applied to every route: give each decision a response_cache plugin */
    size_t added = 0;
    for (size_t i = 0; i < g->decisions->n; i++) {
        cfg_node_t *d = g->decisions->items[i];
        if (cfg_node_del(d, "x-no-cache")) continue;
        cfg_node_t *ps = child(g, d, "plugins", CFG_NODE_SEQ);
        if (find_plugin(ps, "response_cache") || find_plugin(ps, "fast_response")) continue;
        cfg_node_t *conf = mk_map(g);
        set_str(g, conf, "mode", "semantic");
        if (th) {
            cfg_node_t *sem = mk_map(g);
            cfg_node_set(g->a, sem, "similarity_threshold",
                         take(g, th, pkey(g, path, "similarity_threshold")));
            cfg_node_set(g->a, conf, "semantic", sem);
        }
        cfg_node_t *p = plugin(g, "response_cache", conf);
        mark(g, p, path, sc);
        cfg_node_append(g->a, ps, p);
        added++;
    }
    if (added)
        note(g, sc, path,
             "semantic cache enabled: added a response_cache plugin (mode semantic) to %zu "
             "decision%s",
             added, added == 1 ? "" : "s");
}

/* Set key in dst; when both the existing and the new value are mappings,
 * merge them key by key instead (an old `stores:` next to semantic_cache). */
static void set_merge(mg_t *g, cfg_node_t *dst, const char *key, cfg_node_t *v)
{
    cfg_node_t *cur = cfg_node_get(dst, key);
    if (cur && cur->kind == CFG_NODE_MAP && v->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < v->n; i++)
            set_merge(g, cur, v->keys[i]->str, v->items[i]);
        return;
    }
    cfg_node_set(g->a, dst, key, v);
}

/* Where a loose top-level key lands under global, decided by the schema tables. */
static void migrate_loose(mg_t *g, size_t i)
{
    const char *k = g->old->keys[i]->str;
    const cfg_node_t *v = g->old->items[i];
    cfg_node_t *dst = NULL;
    const char *nk = k;
    if (!strcmp(k, "auto_model_name") || !strcmp(k, "auto_model_names")) {
        cfg_node_t *router = child(g, g->global, "router", CFG_NODE_MAP);
        cfg_node_t *names = mk_seq(g);
        mark(g, names, k, v);
        const char *defs[] = {"auto", "MoM", "tether/auto"};
        for (size_t j = 0; j < 3; j++)
            cfg_node_append(g->a, names, mk_str(g, defs[j]));
        if (v->kind == CFG_NODE_SCALAR && !seq_has(names, v->str))
            cfg_node_append(g->a, names, take(g, v, k));
        for (size_t j = 0; v->kind == CFG_NODE_SEQ && j < v->n; j++)
            if (sval(v->items[j]) && !seq_has(names, v->items[j]->str))
                cfg_node_append(g->a, names, take(g, v->items[j], k));
        cfg_node_set(g->a, router, "auto_model_names", names);
        return;
    }
    if (!strcmp(k, "response_api")) {
        cfg_node_t *rs =
            child(g, child(g, g->global, "stores", CFG_NODE_MAP), "responses", CFG_NODE_MAP);
        mark(g, rs, k, v);
        static const char *const used[] = {"enabled", "store_backend", NULL};
        copy_known(g, rs, v, k, &cfg_schema_store_responses, used);
        const char *sb = sval(cfg_node_get(v, "store_backend"));
        if (sb && (!strcmp(sb, "memory") || !strcmp(sb, "redis"))) set_str(g, rs, "backend", sb);
        return;
    }
    if (!strcmp(k, "log_level")) {
        dst = child(g, child(g, g->global, "services", CFG_NODE_MAP), "logging", CFG_NODE_MAP);
        nk = "level";
    } else if (cfg_schema_field(&cfg_schema_global, k))
        dst = g->global;
    else if (cfg_schema_field(&cfg_schema_router, k))
        dst = child(g, g->global, "router", CFG_NODE_MAP);
    else if (cfg_schema_field(&cfg_schema_services, k))
        dst = child(g, g->global, "services", CFG_NODE_MAP);
    else if (cfg_schema_field(&cfg_schema_stores, k))
        dst = child(g, g->global, "stores", CFG_NODE_MAP);
    if (!dst) {
        note(g, g->old->keys[i], k, "not supported by tether; dropped");
        return;
    }
    cfg_node_t *n = take(g, v, k);
    set_merge(g, dst, nk, n);
    for (size_t j = 0; j < dst->n; j++)
        if (dst->items[j] == n) dst->keys[j]->comment_top = g->old->keys[i]->comment_top;
}

/* ---- driver ---- */

static bool is_flat_key(const char *k)
{
    size_t l = strlen(k);
    return !strcmp(k, "signals") || !strcmp(k, "decisions") || !strcmp(k, "model_config") ||
           !strcmp(k, "vllm_endpoints") || (l > 6 && !strcmp(k + l - 6, "_rules")) ||
           !strcmp(k, "categories") || !strcmp(k, "default_model") ||
           !strcmp(k, "reasoning_families") || !strcmp(k, "provider_profiles");
}

static void convert(mg_t *g)
{
    const cfg_node_t *old = g->old;
    g->root = mk_map(g);
    set_str(g, g->root, "version", "v0.3");
    /* v0.3 sections already present (a half-migrated file) are kept as written */
    static const char *const v03[] = {"listeners",   "providers", "routing",
                                      "entrypoints", "recipes",   "global"};
    for (size_t i = 0; i < sizeof v03 / sizeof *v03; i++) {
        const cfg_node_t *v = old_get(g, v03[i], NULL);
        if (v && v->kind == CFG_NODE_MAP && strcmp(v03[i], "entrypoints") &&
            strcmp(v03[i], "recipes"))
            cfg_node_set(g->a, g->root, v03[i], take(g, v, v03[i]));
        else if (v)
            cfg_node_set(g->a, g->root, v03[i], take(g, v, v03[i]));
    }
    g->providers = child(g, g->root, "providers", CFG_NODE_MAP);
    g->defaults = child(g, g->providers, "defaults", CFG_NODE_MAP);
    g->models = child(g, g->providers, "models", CFG_NODE_SEQ);
    g->routing = child(g, g->root, "routing", CFG_NODE_MAP);
    g->cards = child(g, g->routing, "modelCards", CFG_NODE_SEQ);
    g->signals = child(g, g->routing, "signals", CFG_NODE_MAP);
    g->decisions = child(g, g->routing, "decisions", CFG_NODE_SEQ);
    g->global = child(g, g->root, "global", CFG_NODE_MAP);
    const cfg_node_t *vn = old_get(g, "version", NULL);
    if (vn) note(g, vn, "version", "version \"%s\" replaced by v0.3", sval(vn) ? sval(vn) : "?");

    static const char *const defs[] = {"default_model", "default_reasoning_effort",
                                       "reasoning_families"};
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        cfg_node_t *kn = NULL;
        const cfg_node_t *v = cfg_node_get_pair(old, defs[i], &kn);
        if (!v) continue;
        consume(g, defs[i]);
        cfg_node_t *n = take(g, v, defs[i]);
        cfg_node_set(g->a, g->defaults, defs[i], n);
        for (size_t j = 0; j < g->defaults->n; j++)
            if (g->defaults->items[j] == n) g->defaults->keys[j]->comment_top = kn->comment_top;
    }
    g->default_model = sval(cfg_node_get(g->defaults, "default_model"));

    g->profiles = old_get(g, "provider_profiles", NULL);
    read_endpoints(g);
    migrate_models(g);
    if (g->profiles)
        for (size_t i = 0; g->profiles->kind == CFG_NODE_MAP && i < g->profiles->n; i++) {
            const cfg_node_t *p = g->profiles->items[i];
            for (size_t k = 0; p->kind == CFG_NODE_MAP && k < p->n; k++) {
                const char *kk = p->keys[k]->str;
                static const char *const known[] = {"type",          "provider",    "base_url",
                                                    "api_key",       "api_key_env", "headers",
                                                    "extra_headers", "auth_header", "auth_prefix",
                                                    "chat_path",     NULL};
                bool ok = false;
                for (const char *const *q = known; *q; q++)
                    ok |= !strcmp(*q, kk);
                if (!ok)
                    note(g, p->keys[k],
                         arena_sprintf(g->a, "provider_profiles.%s.%s", g->profiles->keys[i]->str,
                                       kk),
                         "not supported by tether; dropped");
            }
        }
    migrate_signals(g);
    migrate_prompt_guard(g);
    migrate_cache(g);
    /* classifier/bert_model: tether's own detectors replace them */
    static const char *const models_gone[] = {"classifier", "bert_model", "embedding_models"};
    for (size_t i = 0; i < sizeof models_gone / sizeof *models_gone; i++) {
        cfg_node_t *kn = NULL;
        if (!cfg_node_get_pair(old, models_gone[i], &kn)) continue;
        consume(g, models_gone[i]);
        note(
            g, kn, models_gone[i],
            "model files are not used: tether's built-in classifiers and embeddings replace them%s",
            !strcmp(models_gone[i], "classifier")
                ? " (category_model.threshold became the domains threshold)"
                : "");
    }
    for (size_t i = 0; i < old->n; i++)
        if (!g->consumed[i]) migrate_loose(g, i);
    for (size_t i = 0; i < g->decisions->n; i++)
        cfg_node_del(g->decisions->items[i], "x-no-cache");
    /* a strategy the categories imply: the best-scoring domain wins */
    if (!cfg_node_get(g->routing, "strategy") && cfg_node_get(old, "categories") &&
        !cfg_node_get(old, "decisions"))
        set_str(g, g->routing, "strategy", "confidence");
    /* drop empty sections */
    static const char *const pr[] = {"defaults", "models"};
    for (size_t i = 0; i < 2; i++)
        if (!cfg_node_get(g->providers, pr[i])->n) cfg_node_del(g->providers, pr[i]);
    static const char *const rt[] = {"modelCards", "signals", "decisions"};
    for (size_t i = 0; i < 3; i++)
        if (!cfg_node_get(g->routing, rt[i])->n) cfg_node_del(g->routing, rt[i]);
    static const char *const top[] = {"providers", "routing", "global"};
    for (size_t i = 0; i < 3; i++)
        if (!cfg_node_get(g->root, top[i])->n) cfg_node_del(g->root, top[i]);
    /* keep the old file's leading comment on the first key */
    if (old->n && old->keys[0]->comment_top)
        g->root->keys[0]->comment_top = old->keys[0]->comment_top;
    if (old->n && old->keys[0]->comment_top) old->keys[0]->comment_top = NULL;
}

/* Walk the built tree and its re-parsed emission side by side: every output
 * position gets the nearest old origin. */
typedef struct pos {
    int line, col;
    const origin_t *o;
} pos_t;

typedef struct poslist {
    pos_t *v;
    size_t n, cap;
} poslist_t;

static const origin_t *origin_of(const mg_t *g, const cfg_node_t *n)
{
    for (size_t i = g->n_orig; i-- > 0;)
        if (g->orig[i].node == n) return &g->orig[i];
    return NULL;
}

static void walk(const mg_t *g, const cfg_node_t *built, const cfg_node_t *parsed,
                 const origin_t *inh, poslist_t *pl, int depth)
{
    if (!built || !parsed || depth > 200) return;
    const origin_t *o = origin_of(g, built);
    if (!o) o = inh;
    if (pl->n == pl->cap) {
        pl->cap = pl->cap ? pl->cap * 2 : 256;
        pl->v = realloc(pl->v, pl->cap * sizeof(*pl->v));
        if (!pl->v) abort();
    }
    pl->v[pl->n++] = (pos_t){parsed->line, parsed->col, o};
    if (built->kind != parsed->kind || built->n != parsed->n) return;
    for (size_t i = 0; i < built->n; i++) {
        if (built->kind == CFG_NODE_MAP) walk(g, built->keys[i], parsed->keys[i], o, pl, depth + 1);
        walk(g, built->items[i], parsed->items[i], o, pl, depth + 1);
    }
}

static void add_hints(mg_t *g, cfg_migrate_t *m, const char *out_name, const char *text, size_t len)
{
    arena_t a;
    arena_init(&a, 16384);
    cfg_diags_t tmp;
    cfg_diags_init(&tmp);
    cfg_node_t *parsed = cfg_yaml_parse(&a, out_name, text, len, &tmp);
    poslist_t pl = {0};
    if (parsed) walk(g, g->root, parsed, NULL, &pl, 0);
    for (size_t i = 0; i < m->diags.n; i++) {
        cfg_diag_t *d = &m->diags.items[i];
        const origin_t *best = NULL;
        int bl = -1, bc = -1;
        for (size_t j = 0; j < pl.n; j++) {
            const pos_t *p = &pl.v[j];
            if (p->line > d->line || (p->line == d->line && p->col > d->col)) continue;
            if (p->line > bl || (p->line == bl && p->col >= bc)) {
                bl = p->line;
                bc = p->col;
                best = p->o;
            }
        }
        if (!best) continue;
        buf_t b = BUF_INIT;
        buf_printf(&b, "%s (migrated from `%s`", d->message, best->path);
        if (best->line) buf_printf(&b, " at %s:%d:%d", g->old_name, best->line, best->col);
        buf_putc(&b, ')');
        free(d->message);
        d->message = buf_steal(&b);
    }
    free(pl.v);
    cfg_diags_free(&tmp);
    arena_deinit(&a);
}

void cfg_migrate_init(cfg_migrate_t *m)
{
    memset(m, 0, sizeof(*m));
    cfg_diags_init(&m->notes);
    cfg_diags_init(&m->diags);
}

void cfg_migrate_deinit(cfg_migrate_t *m)
{
    buf_free(&m->out);
    cfg_diags_free(&m->notes);
    cfg_diags_free(&m->diags);
}

bool cfg_migrate_run(cfg_migrate_t *m, const char *old_name, const char *text, size_t len,
                     const char *out_name)
{
    arena_t a;
    arena_init(&a, 65536);
    mg_t g = {.a = &a, .old_name = old_name, .notes = &m->notes};
    cfg_node_t *old = cfg_yaml_parse_comments(&a, old_name, text, len, &m->notes);
    if (!old) goto done;
    if (old->kind != CFG_NODE_MAP) {
        cfg_diags_add(&m->notes, CFG_DIAG_ERROR, old_name, old->line, old->col, "",
                      "the configuration must be a mapping");
        goto done;
    }
    const char *ver = sval(cfg_node_get(old, "version"));
    bool flat = false;
    for (size_t i = 0; i < old->n; i++)
        flat |= is_flat_key(old->keys[i]->str);
    if (ver && !strcmp(ver, "v0.3") && !flat) {
        cfg_diags_add(
            &m->notes, CFG_DIAG_ERROR, old_name, 1, 1, "",
            "already in the v0.3 layout: nothing to migrate (check it with tether validate)");
        goto done;
    }
    g.old = old;
    g.consumed = arena_calloc(&a, (old->n + 1) * sizeof(bool));
    convert(&g);
    cfg_yaml_emit(&m->out, g.root, NULL);
    m->converted = true;
    cfg_t *c =
        cfg_load_string(out_name, m->out.data ? m->out.data : "", m->out.len, NULL, &m->diags);
    m->valid = c != NULL;
    cfg_free(c);
    add_hints(&g, m, out_name, m->out.data ? m->out.data : "", m->out.len);
done:
    cfg_diags_sort(&m->notes);
    free(g.orig);
    arena_deinit(&a);
    return m->converted && m->valid;
}
