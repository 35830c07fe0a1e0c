/* migrate_layout.c - `tether config migrate`, the top level: which v0.3
 * section every key of the flat layout lands in. Keeps v0.3 sections already
 * present, moves default_model/reasoning_families to providers.defaults,
 * semantic_cache and loose keys to global, calls the provider and signal
 * mappers (migrate_providers.c, migrate_signals.c) and drops the empty
 * sections. Driven by migrate.c. */
#include "config/family.h"
#include "config/migrate_internal.h"
#include <string.h>

/* An old key's value names a backend of store k's registry, and its own
 * options block (the backend's name as key) exists. */
static bool is_backend(cfg_store_kind_t k, const char *name)
{
    return name && cfg_store_backend_find(k, name) != NULL;
}

static bool is_backend_block(cfg_store_kind_t k, const char *key)
{
    return cfg_store_backend_schema(k, key) != NULL;
}

static void migrate_cache(mg_t *g)
{
    const char *path = "semantic_cache";
    const cfg_node_t *sc = mg_old_get(g, "semantic_cache", NULL);
    if (!sc) {
        sc = mg_old_get(g, "semantic-cache", NULL);
        path = "semantic-cache";
    }
    if (!sc) return;
    if (sc->kind != CFG_NODE_MAP) {
        mg_note(g, sc, path, "expected a mapping; ignored");
        return;
    }
    cfg_node_t *stores = mg_child(g, g->global, "stores", CFG_NODE_MAP);
    cfg_node_t *rc = mg_child(g, stores, "response_cache", CFG_NODE_MAP);
    mg_mark(g, rc, path, sc);
    const char *bt = cfg_node_text(cfg_node_get(sc, "backend_type"));
    if (is_backend(CFG_STORE_RESPONSE_CACHE, bt))
        mg_set_str(g, rc, "backend", bt);
    else if (bt)
        mg_note(g, cfg_node_get(sc, "backend_type"), mg_pkey(g, path, "backend_type"),
                "backend \"%s\" is not supported (%s); using memory", bt,
                cfg_store_backend_list(CFG_STORE_RESPONSE_CACHE));
    static const char *const pass[] = {"max_entries", "ttl_seconds", "max_entry_bytes", "redis"};
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) {
        const cfg_node_t *v = cfg_node_get(sc, pass[i]);
        if (v) cfg_node_set(g->a, rc, pass[i], mg_take(g, v, mg_pkey(g, path, pass[i])));
    }
    /* a backend's own options block keeps its key */
    for (size_t i = 0; i < sc->n; i++) {
        const char *k = sc->keys[i]->str;
        if (is_backend_block(CFG_STORE_RESPONSE_CACHE, k))
            cfg_node_set(g->a, rc, k, mg_take(g, sc->items[i], mg_pkey(g, path, k)));
    }
    const char *en = cfg_node_text(cfg_node_get(sc, "enabled"));
    const cfg_node_t *th = cfg_node_get(sc, "similarity_threshold");
    bool on = en && !strcmp(en, "true");
    for (size_t i = 0; i < sc->n; i++) {
        const char *k = sc->keys[i]->str;
        bool mapped = !strcmp(k, "enabled") || !strcmp(k, "similarity_threshold") ||
                      !strcmp(k, "backend_type") || is_backend_block(CFG_STORE_RESPONSE_CACHE, k);
        for (size_t j = 0; j < sizeof pass / sizeof *pass; j++)
            mapped |= !strcmp(k, pass[j]);
        if (!mapped)
            mg_note(g, sc->keys[i], mg_pkey(g, path, k), "not supported by tether; dropped");
    }
    if (!on) return;
    /* the old cache applied to every route: give each decision a response_cache plugin */
    size_t added = 0;
    for (size_t i = 0; i < g->decisions->n; i++) {
        cfg_node_t *d = g->decisions->items[i];
        if (cfg_node_del(d, "x-no-cache")) continue;
        cfg_node_t *ps = mg_child(g, d, "plugins", CFG_NODE_SEQ);
        if (mg_find_plugin(ps, "response_cache") || mg_find_plugin(ps, "fast_response")) continue;
        cfg_node_t *conf = mg_map(g);
        cfg_node_t *p = mg_semantic_cache(g, conf, th, path, "similarity_threshold");
        mg_mark(g, p, path, sc);
        cfg_node_append(g->a, ps, p);
        added++;
    }
    if (added)
        mg_note(g, sc, path,
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
        cfg_node_t *router = mg_child(g, g->global, "router", CFG_NODE_MAP);
        cfg_node_t *names = mg_seq(g);
        mg_mark(g, names, k, v);
        const char *defs[] = {"auto", "MoM", "tether/auto"};
        for (size_t j = 0; j < 3; j++)
            cfg_node_append(g->a, names, mg_str(g, defs[j]));
        if (v->kind == CFG_NODE_SCALAR && !mg_seq_has(names, v->str))
            cfg_node_append(g->a, names, mg_take(g, v, k));
        for (size_t j = 0; v->kind == CFG_NODE_SEQ && j < v->n; j++)
            if (cfg_node_text(v->items[j]) && !mg_seq_has(names, v->items[j]->str))
                cfg_node_append(g->a, names, mg_take(g, v->items[j], k));
        cfg_node_set(g->a, router, "auto_model_names", names);
        return;
    }
    if (!strcmp(k, "response_api")) {
        cfg_node_t *rs =
            mg_child(g, mg_child(g, g->global, "stores", CFG_NODE_MAP), "responses", CFG_NODE_MAP);
        mg_mark(g, rs, k, v);
        static const char *const used[] = {"enabled", "store_backend", NULL};
        mg_copy_known(g, rs, v, k, &cfg_schema_store_responses, used);
        const char *sb = cfg_node_text(cfg_node_get(v, "store_backend"));
        if (is_backend(CFG_STORE_RESPONSES, sb)) mg_set_str(g, rs, "backend", sb);
        return;
    }
    if (!strcmp(k, "log_level")) {
        dst =
            mg_child(g, mg_child(g, g->global, "services", CFG_NODE_MAP), "logging", CFG_NODE_MAP);
        nk = "level";
    } else if (cfg_schema_field(&cfg_schema_global, k))
        dst = g->global;
    else if (cfg_schema_field(&cfg_schema_router, k))
        dst = mg_child(g, g->global, "router", CFG_NODE_MAP);
    else if (cfg_schema_field(&cfg_schema_services, k))
        dst = mg_child(g, g->global, "services", CFG_NODE_MAP);
    else if (cfg_schema_field(&cfg_schema_stores, k))
        dst = mg_child(g, g->global, "stores", CFG_NODE_MAP);
    if (!dst) {
        mg_note(g, g->old->keys[i], k, "not supported by tether; dropped");
        return;
    }
    cfg_node_t *n = mg_take(g, v, k);
    set_merge(g, dst, nk, n);
    for (size_t j = 0; j < dst->n; j++)
        if (dst->items[j] == n) dst->keys[j]->comment_top = g->old->keys[i]->comment_top;
}

void mg_convert(mg_t *g)
{
    const cfg_node_t *old = g->old;
    g->root = mg_map(g);
    mg_set_str(g, g->root, "version", "v0.3");
    /* v0.3 sections already present (a half-migrated file) are kept as written */
    static const char *const v03[] = {"listeners",   "providers", "routing",
                                      "entrypoints", "recipes",   "global"};
    for (size_t i = 0; i < sizeof v03 / sizeof *v03; i++) {
        const cfg_node_t *v = mg_old_get(g, v03[i], NULL);
        if (v && v->kind == CFG_NODE_MAP && strcmp(v03[i], "entrypoints") &&
            strcmp(v03[i], "recipes"))
            cfg_node_set(g->a, g->root, v03[i], mg_take(g, v, v03[i]));
        else if (v)
            cfg_node_set(g->a, g->root, v03[i], mg_take(g, v, v03[i]));
    }
    g->providers = mg_child(g, g->root, "providers", CFG_NODE_MAP);
    g->defaults = mg_child(g, g->providers, "defaults", CFG_NODE_MAP);
    g->models = mg_child(g, g->providers, "models", CFG_NODE_SEQ);
    g->routing = mg_child(g, g->root, "routing", CFG_NODE_MAP);
    g->cards = mg_child(g, g->routing, "modelCards", CFG_NODE_SEQ);
    g->signals = mg_child(g, g->routing, "signals", CFG_NODE_MAP);
    g->decisions = mg_child(g, g->routing, "decisions", CFG_NODE_SEQ);
    g->global = mg_child(g, g->root, "global", CFG_NODE_MAP);
    const cfg_node_t *vn = mg_old_get(g, "version", NULL);
    if (vn)
        mg_note(g, vn, "version", "version \"%s\" replaced by v0.3",
                cfg_node_text(vn) ? cfg_node_text(vn) : "?");

    static const char *const defs[] = {"default_model", "default_reasoning_effort",
                                       "reasoning_families"};
    for (size_t i = 0; i < sizeof defs / sizeof *defs; i++) {
        cfg_node_t *kn = NULL;
        const cfg_node_t *v = cfg_node_get_pair(old, defs[i], &kn);
        if (!v) continue;
        mg_consume(g, defs[i]);
        cfg_node_t *n = mg_take(g, v, defs[i]);
        cfg_node_set(g->a, g->defaults, defs[i], n);
        for (size_t j = 0; j < g->defaults->n; j++)
            if (g->defaults->items[j] == n) g->defaults->keys[j]->comment_top = kn->comment_top;
    }
    g->default_model = cfg_node_text(cfg_node_get(g->defaults, "default_model"));

    g->profiles = mg_old_get(g, "provider_profiles", NULL);
    mg_read_endpoints(g);
    mg_migrate_models(g);
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
                    mg_note(g, p->keys[k],
                            arena_sprintf(g->a, "provider_profiles.%s.%s",
                                          g->profiles->keys[i]->str, kk),
                            "not supported by tether; dropped");
            }
        }
    mg_migrate_signals(g);
    mg_migrate_prompt_guard(g);
    migrate_cache(g);
    /* classifier/bert_model: tether's own detectors replace them */
    static const char *const models_gone[] = {"classifier", "bert_model", "embedding_models"};
    for (size_t i = 0; i < sizeof models_gone / sizeof *models_gone; i++) {
        cfg_node_t *kn = NULL;
        if (!cfg_node_get_pair(old, models_gone[i], &kn)) continue;
        mg_consume(g, models_gone[i]);
        mg_note(
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
        mg_set_str(g, g->routing, "strategy", "confidence");
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
