/* migrate_providers.c - `tether config migrate`, the provider half of the
 * flat layout: model_config, vllm_endpoints and provider_profiles become
 * providers.models (with backend_refs) and routing.modelCards.
 * Built with migrate_tree.c; called from migrate_layout.c. */
#include "config/migrate_internal.h"
#include <ctype.h>
#include <string.h>

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
            const char *nm = cfg_node_text(cfg_node_get(p->items[i], "name"));
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
    const char *t = cfg_node_text(cfg_node_get(p, "type"));
    if (!t) t = cfg_node_text(cfg_node_get(p, "provider"));
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
    if (t) mg_set_str(g, br, "provider", t);
    static const char *const pass[] = {"auth_header", "auth_prefix", "chat_path", "api_key_env"};
    for (size_t i = 0; i < sizeof pass / sizeof *pass; i++) {
        const cfg_node_t *v = cfg_node_get(p, pass[i]);
        if (v) cfg_node_set(g->a, br, pass[i], mg_take(g, v, mg_pkey(g, ppath, pass[i])));
    }
    cfg_node_t *kn = NULL;
    const cfg_node_t *key = cfg_node_get_pair(p, "api_key", &kn);
    if (key && !cfg_node_get(p, "api_key_env")) {
        const char *ks = cfg_node_text(key);
        char *var;
        if (ks && ks[0] == '$' && ks[1] == '{' && strchr(ks, '}') && !strchr(ks, ':'))
            var = arena_strndup(g->a, ks + 2, strcspn(ks + 2, "}"));
        else {
            var = env_name(g, pname, "_API_KEY");
            mg_note(g, kn, mg_pkey(g, ppath, "api_key"),
                    "literal API key not copied: set %s in the environment (api_key_env: %s)", var,
                    var);
        }
        mg_set_str(g, br, "api_key_env", var);
    }
    const cfg_node_t *h = cfg_node_get(p, "extra_headers");
    if (!h) h = cfg_node_get(p, "headers");
    if (h && h->kind == CFG_NODE_MAP) {
        cfg_node_t *eh = mg_map(g);
        for (size_t i = 0; i < h->n; i++) {
            if (cfg_key_is_secret(h->keys[i]->str, true)) {
                mg_note(g, h->keys[i], mg_pkey(g, ppath, h->keys[i]->str),
                        "secret header not copied: add it to extra_headers yourself");
                continue;
            }
            cfg_node_set(g->a, eh, h->keys[i]->str,
                         mg_take(g, h->items[i], mg_pkey(g, ppath, h->keys[i]->str)));
        }
        if (eh->n) cfg_node_set(g->a, br, "extra_headers", eh);
    }
}

void mg_read_endpoints(mg_t *g)
{
    const char *path;
    const cfg_node_t *v = mg_old_get(g, "vllm_endpoints", &path);
    if (!v) return;
    if (v->kind != CFG_NODE_SEQ) {
        mg_note(g, v, path, "expected a list; ignored");
        return;
    }
    g->eps = arena_calloc(g->a, (v->n + 1) * sizeof(endpoint_t));
    for (size_t i = 0; i < v->n; i++) {
        const cfg_node_t *it = v->items[i];
        const char *ip = mg_map_item(g, path, it, i);
        if (!ip) continue;
        endpoint_t *e = &g->eps[g->n_eps++];
        e->node = it;
        e->index = i;
        const char *nm = cfg_node_text(cfg_node_get(it, "name"));
        e->name = arena_strdup(g->a, nm ? nm : arena_sprintf(g->a, "endpoint-%zu", i + 1));
        const char *addr = cfg_node_text(cfg_node_get(it, "address"));
        const char *port = cfg_node_text(cfg_node_get(it, "port"));
        const char *proto = cfg_node_text(cfg_node_get(it, "protocol"));
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
        const char *pf = cfg_node_text(cfg_node_get(it, "provider_profile"));
        e->profile = pf ? arena_strdup(g->a, pf) : NULL;
        static const char *const known[] = {
            "name", "address", "port", "protocol", "weight", "models", "provider_profile", NULL};
        for (size_t k = 0; k < it->n; k++) {
            bool ok = false;
            for (const char *const *q = known; *q; q++)
                ok |= !strcmp(*q, it->keys[k]->str);
            if (!ok)
                mg_note(g, it->keys[k], mg_pkey(g, ip, it->keys[k]->str),
                        "not supported by tether; dropped");
        }
    }
}

static cfg_node_t *backend_from_endpoint(mg_t *g, const endpoint_t *e, bool *anthropic)
{
    const char *ep = arena_sprintf(g->a, "vllm_endpoints[%s]", e->name);
    cfg_node_t *br = mg_map(g);
    mg_mark(g, br, ep, e->node);
    mg_set_str(g, br, "name", e->name);
    const char *ppath = NULL;
    const cfg_node_t *prof = e->profile ? profile_get(g, e->profile, &ppath) : NULL;
    if (e->endpoint) {
        cfg_node_t *en = mg_take(g, mg_str(g, e->endpoint), mg_pkey(g, ep, "address"));
        const cfg_node_t *addr = cfg_node_get(e->node, "address"),
                         *port = cfg_node_get(e->node, "port");
        en->comment = addr && addr->comment ? addr->comment : port ? port->comment : NULL;
        cfg_node_set(g->a, br, "endpoint", en);
    } else if (e->base_url)
        mg_set_str(g, br, "base_url", e->base_url);
    else if (prof && cfg_node_text(cfg_node_get(prof, "base_url")))
        cfg_node_set(g->a, br, "base_url",
                     mg_take(g, cfg_node_get(prof, "base_url"), mg_pkey(g, ppath, "base_url")));
    if (e->weight)
        cfg_node_set(g->a, br, "weight", mg_take(g, e->weight, mg_pkey(g, ep, "weight")));
    if (e->profile && !prof)
        mg_note(g, cfg_node_get(e->node, "provider_profile"), mg_pkey(g, ep, "provider_profile"),
                "provider profile \"%s\" is not defined; ignored", e->profile);
    if (prof) {
        apply_profile(g, br, prof, e->profile, ppath);
        const char *t = profile_type(prof);
        if (t && !strcmp(t, "anthropic")) *anthropic = true;
    }
    return br;
}

static void migrate_model(mg_t *g, const char *name, const cfg_node_t *keynode,
                          const cfg_node_t *mc, const char *mpath)
{
    cfg_node_t *m = mg_map(g), *card = mg_map(g);
    mg_mark(g, m, mpath, keynode ? keynode : mc);
    mg_mark(g, card, mpath, keynode ? keynode : mc);
    cfg_node_t *nm = mg_str(g, name);
    cfg_node_set(g->a, m, "name", nm);
    mg_mark(g, nm, mpath, keynode ? keynode : mc);
    mg_set_str(g, card, "name", name);
    if (keynode) m->keys[0]->comment_top = keynode->comment_top;
    const cfg_node_t *mid = cfg_node_get(mc, "model_id");
    if (mid && !cfg_node_get(mc, "provider_model_id"))
        cfg_node_set(g->a, m, "provider_model_id", mg_take(g, mid, mg_pkey(g, mpath, "model_id")));
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
    mg_copy_known(g, m, mc, mpath, &cfg_schema_model, used);
    /* card fields */
    static const char *const card_keys[] = {
        "description", "capabilities", "quality_score", "context_window_size",
        "param_size",  "modality",     "tags"};
    for (size_t i = 0; i < sizeof card_keys / sizeof *card_keys; i++) {
        const cfg_node_t *v = cfg_node_get(mc, card_keys[i]);
        if (v)
            cfg_node_set(g->a, card, card_keys[i], mg_take(g, v, mg_pkey(g, mpath, card_keys[i])));
    }
    const cfg_node_t *loras = cfg_node_get(mc, "loras");
    if (loras && loras->kind == CFG_NODE_SEQ) {
        cfg_node_t *ls = mg_seq(g);
        mg_mark(g, ls, mg_pkey(g, mpath, "loras"), loras);
        for (size_t i = 0; i < loras->n; i++) {
            const char *ln = loras->items[i]->kind == CFG_NODE_SCALAR
                                 ? loras->items[i]->str
                                 : cfg_node_text(cfg_node_get(loras->items[i], "name"));
            if (ln) cfg_node_append(g->a, ls, mg_str(g, ln));
        }
        cfg_node_set(g->a, card, "loras", ls);
    }
    /* backends */
    bool anthropic = false;
    cfg_node_t *brs = mg_seq(g);
    const cfg_node_t *given = cfg_node_get(mc, "backend_refs");
    if (given) {
        cfg_node_set(g->a, m, "backend_refs", mg_take(g, given, mg_pkey(g, mpath, "backend_refs")));
    } else {
        const cfg_node_t *pref = cfg_node_get(mc, "preferred_endpoints");
        const char *ppath = mg_pkey(g, mpath, "preferred_endpoints");
        if (pref && pref->kind == CFG_NODE_SCALAR) {
            cfg_node_t *one = mg_seq(g);
            cfg_node_append(g->a, one, (cfg_node_t *)pref);
            pref = one;
        }
        if (pref && pref->kind == CFG_NODE_SEQ) {
            for (size_t i = 0; i < pref->n; i++) {
                const char *en = cfg_node_text(pref->items[i]);
                const endpoint_t *e = NULL;
                for (size_t j = 0; en && j < g->n_eps; j++)
                    if (!strcmp(g->eps[j].name, en)) e = &g->eps[j];
                if (!e) {
                    mg_note(g, pref->items[i], arena_sprintf(g->a, "%s[%zu]", ppath, i),
                            "endpoint \"%s\" is not in vllm_endpoints; ignored", en ? en : "?");
                    continue;
                }
                cfg_node_t *br = backend_from_endpoint(g, e, &anthropic);
                mg_mark(g, br, arena_sprintf(g->a, "%s[%zu]", ppath, i), pref->items[i]);
                cfg_node_append(g->a, brs, br);
            }
        } else {
            const char *pf = cfg_node_text(cfg_node_get(mc, "provider_profile"));
            const char *prpath = NULL;
            const cfg_node_t *prof = pf ? profile_get(g, pf, &prpath) : NULL;
            if (prof) {
                cfg_node_t *br = mg_map(g);
                mg_mark(g, br, prpath, prof);
                mg_set_str(g, br, "name", pf);
                const cfg_node_t *bu = cfg_node_get(prof, "base_url");
                if (bu)
                    cfg_node_set(g->a, br, "base_url",
                                 mg_take(g, bu, mg_pkey(g, prpath, "base_url")));
                apply_profile(g, br, prof, pf, prpath);
                const char *t = profile_type(prof);
                anthropic = t && !strcmp(t, "anthropic");
                cfg_node_append(g->a, brs, br);
            } else {
                if (pf)
                    mg_note(g, cfg_node_get(mc, "provider_profile"),
                            mg_pkey(g, mpath, "provider_profile"),
                            "provider profile \"%s\" is not defined; ignored", pf);
                bool any_listed = false;
                for (size_t j = 0; j < g->n_eps; j++)
                    if (mg_seq_has(g->eps[j].models, name)) {
                        cfg_node_append(g->a, brs,
                                        backend_from_endpoint(g, &g->eps[j], &anthropic));
                        any_listed = true;
                    }
                if (!any_listed && g->n_eps) {
                    for (size_t j = 0; j < g->n_eps; j++)
                        cfg_node_append(g->a, brs,
                                        backend_from_endpoint(g, &g->eps[j], &anthropic));
                    mg_note(
                        g, keynode ? keynode : mc, mpath,
                        "no preferred_endpoints: every vllm_endpoints entry became a backend_ref");
                }
            }
        }
        cfg_node_set(g->a, m, "backend_refs", brs);
    }
    if (anthropic && !cfg_node_get(m, "api_format")) mg_set_str(g, m, "api_format", "anthropic");
    cfg_node_append(g->a, g->models, m);
    cfg_node_append(g->a, g->cards, card);
}

void mg_migrate_models(mg_t *g)
{
    const char *path;
    const cfg_node_t *mc = mg_old_get(g, "model_config", &path);
    if (!mc) return;
    if (mc->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < mc->n; i++) {
            const char *nm = mc->keys[i]->str;
            const char *mp = arena_sprintf(g->a, "model_config[\"%s\"]", nm);
            if (mc->items[i]->kind != CFG_NODE_MAP && !cfg_node_is_null(mc->items[i])) {
                mg_note(g, mc->items[i], mp, "expected a mapping; ignored");
                continue;
            }
            migrate_model(g, nm, mc->keys[i], mc->items[i], mp);
        }
    } else if (mc->kind == CFG_NODE_SEQ) {
        for (size_t i = 0; i < mc->n; i++) {
            const char *nm = cfg_node_text(cfg_node_get(mc->items[i], "name"));
            const char *mp = mg_pitem(g, path, mc->items[i], i);
            if (!nm) {
                mg_note(g, mc->items[i], mp, "a model without a name; ignored");
                continue;
            }
            migrate_model(g, nm, NULL, mc->items[i], mp);
        }
    } else {
        mg_note(g, mc, path, "expected a mapping of model names; ignored");
    }
}
