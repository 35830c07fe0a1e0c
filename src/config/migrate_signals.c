/* migrate_signals.c - `tether config migrate`, the routing half of the flat
 * layout: top-level signals, X_rules lists, categories, decisions (and their
 * plugins) and prompt_guard become routing.signals and routing.decisions.
 * Built with migrate_tree.c; called from migrate_layout.c. */
#include "config/family.h"
#include "config/migrate_internal.h"
#include <string.h>

extern const cfg_schema_t cfg_schema_decision;

/* The family an old list key becomes: a family's own key, <name>_rules, or
 * one of its migrate_keys (family.h). Its routing.signals key, or NULL. */
static const char *family_for(const char *old_key)
{
    size_t ol = strlen(old_key);
    for (size_t f = 0; f < cfg_signal_family_count(); f++) {
        const cfg_sig_family_t *d = cfg_signal_family((cfg_signal_family_t)f);
        size_t nl = strlen(d->name);
        if (!strcmp(d->key, old_key) ||
            (ol == nl + 6 && !strncmp(old_key, d->name, nl) && !strcmp(old_key + nl, "_rules")))
            return d->key;
        for (const char *const *m = d->migrate_keys; m && *m; m++)
            if (!strcmp(*m, old_key)) return d->key;
    }
    return NULL;
}

static const cfg_schema_t *family_schema(const char *fam)
{
    int f = cfg_signal_family_by_key(fam);
    return f < 0 ? NULL : cfg_signal_schema((cfg_signal_family_t)f);
}

/* Append the rules of one old list to routing.signals.<fam>. used: keys the
 * caller consumes itself (not reported). */
static void migrate_rules(mg_t *g, const char *fam, const cfg_node_t *list, const char *path,
                          const char *const *used, const char *threshold)
{
    if (list->kind != CFG_NODE_SEQ) {
        mg_note(g, list, path, "expected a list; ignored");
        return;
    }
    const cfg_schema_t *s = family_schema(fam);
    cfg_node_t *dst = mg_child(g, g->signals, fam, CFG_NODE_SEQ);
    for (size_t i = 0; i < list->n; i++) {
        const cfg_node_t *it = list->items[i];
        const char *ip = mg_map_item(g, path, it, i);
        if (!ip) continue;
        cfg_node_t *r = mg_map(g);
        mg_mark(g, r, ip, it);
        mg_copy_known(g, r, it, ip, s, used);
        if (threshold && !cfg_node_get(r, "threshold")) mg_set_str(g, r, "threshold", threshold);
        cfg_node_append(g->a, dst, r);
    }
}

/* Old decision plugins: rename semantic-cache, drop what tether lacks. */
static cfg_node_t *migrate_plugins(mg_t *g, const cfg_node_t *ps, const char *path)
{
    cfg_node_t *out = mg_seq(g);
    mg_mark(g, out, path, ps);
    if (ps->kind != CFG_NODE_SEQ) {
        mg_note(g, ps, path, "expected a list; ignored");
        return out;
    }
    for (size_t i = 0; i < ps->n; i++) {
        const cfg_node_t *p = ps->items[i];
        const char *ip = arena_sprintf(g->a, "%s[%zu]", path, i);
        const char *t = cfg_node_text(cfg_node_get(p, "type"));
        if (!t) {
            mg_note(g, p, ip, "a plugin without a type; dropped");
            continue;
        }
        const cfg_node_t *conf = cfg_node_get(p, "configuration");
        if (!strcmp(t, "semantic-cache") || !strcmp(t, "semantic_cache")) {
            cfg_node_t *c = mg_map(g);
            const cfg_node_t *en = cfg_node_get(conf, "enabled");
            if (en && cfg_node_text(en) && !strcmp(cfg_node_text(en), "false")) {
                mg_note(g, p, ip, "disabled semantic-cache plugin dropped");
                continue;
            }
            const cfg_node_t *th = cfg_node_get(conf, "similarity_threshold");
            cfg_node_t *np = mg_semantic_cache(g, c, th, ip, "configuration.similarity_threshold");
            mg_mark(g, np, ip, p);
            cfg_node_append(g->a, out, np);
            continue;
        }
        if (!cfg_plugin_kind_find(t)) {
            mg_note(g, cfg_node_get(p, "type"), mg_pkey(g, ip, "type"),
                    "plugin \"%s\" is not supported by tether; dropped", t);
            continue;
        }
        cfg_node_t *np = mg_take(g, p, ip);
        /* old configs carried enabled: false to switch a plugin off */
        const cfg_node_t *en = cfg_node_get(conf, "enabled");
        if (en && cfg_node_text(en) && !strcmp(cfg_node_text(en), "false")) {
            mg_note(g, p, ip, "disabled plugin \"%s\" dropped", t);
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
        mg_note(g, ds, path, "expected a list; ignored");
        return;
    }
    for (size_t i = 0; i < ds->n; i++) {
        const cfg_node_t *it = ds->items[i];
        const char *ip = mg_map_item(g, path, it, i);
        if (!ip) continue;
        cfg_node_t *d = mg_map(g);
        mg_mark(g, d, ip, it);
        static const char *const used[] = {"plugins", NULL};
        mg_copy_known(g, d, it, ip, &cfg_schema_decision, used);
        const cfg_node_t *ps = cfg_node_get(it, "plugins");
        if (ps) {
            cfg_node_t *np = migrate_plugins(g, ps, mg_pkey(g, ip, "plugins"));
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
        const char *nm = cfg_node_text(cfg_node_get(c, "name"));
        const char *ip = mg_pitem(g, path, c, i);
        if (!nm) continue;
        const cfg_node_t *ms = cfg_node_get(c, "model_scores");
        if (!ms || ms->kind != CFG_NODE_SEQ || !ms->n) {
            mg_note(g, c, ip, "category without model_scores: no decision generated");
            continue;
        }
        cfg_node_t *d = mg_map(g);
        mg_mark(g, d, ip, c);
        mg_set_str(g, d, "name", nm);
        const cfg_node_t *desc = cfg_node_get(c, "description");
        if (desc)
            cfg_node_set(g->a, d, "description", mg_take(g, desc, mg_pkey(g, ip, "description")));
        cfg_node_t *rules = mg_map(g);
        mg_set_str(g, rules, "type", "domain");
        mg_set_str(g, rules, "name", nm);
        cfg_node_set(g->a, d, "rules", rules);
        /* order by score, highest first (stable) */
        size_t n = ms->n;
        size_t *ord = arena_alloc(g->a, n * sizeof(size_t));
        double *sc = arena_alloc(g->a, n * sizeof(double));
        for (size_t j = 0; j < n; j++) {
            ord[j] = j;
            sc[j] = 0;
            if (!cfg_parse_double(cfg_node_text(cfg_node_get(ms->items[j], "score"))
                                      ? cfg_node_text(cfg_node_get(ms->items[j], "score"))
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
        cfg_node_t *refs = mg_seq(g), *scores = mg_map(g);
        for (size_t j = 0; j < n; j++) {
            const cfg_node_t *e = ms->items[ord[j]];
            const char *ep = arena_sprintf(g->a, "%s.model_scores[%zu]", ip, ord[j]);
            const cfg_node_t *model = cfg_node_get(e, "model");
            if (!cfg_node_text(model)) {
                mg_note(g, e, ep, "model_scores entry without a model; ignored");
                continue;
            }
            cfg_node_t *r = mg_map(g);
            mg_mark(g, r, ep, e);
            cfg_node_set(g->a, r, "model", mg_take(g, model, mg_pkey(g, ep, "model")));
            const cfg_node_t *ur = cfg_node_get(e, "use_reasoning");
            if (!ur) ur = cfg_node_get(c, "use_reasoning");
            if (ur)
                cfg_node_set(g->a, r, "use_reasoning",
                             mg_take(g, ur, mg_pkey(g, ep, "use_reasoning")));
            const cfg_node_t *re = cfg_node_get(e, "reasoning_effort");
            if (!re) re = cfg_node_get(c, "reasoning_effort");
            if (re)
                cfg_node_set(g->a, r, "reasoning_effort",
                             mg_take(g, re, mg_pkey(g, ep, "reasoning_effort")));
            const cfg_node_t *lora = cfg_node_get(e, "lora_name");
            if (lora)
                cfg_node_set(g->a, r, "lora_name", mg_take(g, lora, mg_pkey(g, ep, "lora_name")));
            cfg_node_append(g->a, refs, r);
            const cfg_node_t *s = cfg_node_get(e, "score");
            if (s && !cfg_node_get(scores, model->str))
                cfg_node_set(g->a, scores, model->str, mg_take(g, s, mg_pkey(g, ep, "score")));
        }
        cfg_node_set(g->a, d, "modelRefs", refs);
        if (scores->n) {
            cfg_node_t *alg = mg_map(g), *st = mg_map(g);
            mg_set_str(g, alg, "type", "static");
            cfg_node_set(g->a, st, "model_scores", scores);
            cfg_node_set(g->a, alg, "static", st);
            cfg_node_set(g->a, d, "algorithm", alg);
        }
        cfg_node_t *plugins = mg_seq(g);
        const cfg_node_t *sp = cfg_node_get(c, "system_prompt");
        if (cfg_node_text(sp)) {
            cfg_node_t *conf = mg_map(g);
            cfg_node_set(g->a, conf, "system_prompt",
                         mg_take(g, sp, mg_pkey(g, ip, "system_prompt")));
            mg_set_str(g, conf, "mode", "replace");
            cfg_node_append(g->a, plugins, mg_plugin(g, "system_prompt", conf));
        }
        const cfg_node_t *sce = cfg_node_get(c, "semantic_cache_enabled");
        if (cfg_node_text(sce) && !strcmp(cfg_node_text(sce), "true")) {
            cfg_node_t *conf = mg_map(g);
            mg_set_str(g, conf, "mode", "semantic");
            const cfg_node_t *th = cfg_node_get(c, "semantic_cache_similarity_threshold");
            if (th) {
                cfg_node_t *sem = mg_map(g);
                cfg_node_set(g->a, sem, "similarity_threshold",
                             mg_take(g, th, mg_pkey(g, ip, "semantic_cache_similarity_threshold")));
                cfg_node_set(g->a, conf, "semantic", sem);
            }
            cfg_node_append(g->a, plugins, mg_plugin(g, "response_cache", conf));
        } else if (cfg_node_text(sce) && !strcmp(cfg_node_text(sce), "false")) {
            mg_set_str(g, d, "x-no-cache", "1"); /* marker, removed below */
        }
        static const char *const gone[] = {"reasoning_description", "jailbreak_enabled",
                                           "pii_enabled"};
        for (size_t k = 0; k < sizeof gone / sizeof *gone; k++) {
            cfg_node_t *kn = NULL;
            if (cfg_node_get_pair(c, gone[k], &kn))
                mg_note(g, kn, mg_pkey(g, ip, gone[k]), "not supported by tether; dropped");
        }
        if (plugins->n) cfg_node_set(g->a, d, "plugins", plugins);
        cfg_node_append(g->a, g->decisions, d);
    }
}

void mg_migrate_signals(mg_t *g)
{
    const char *category_threshold = NULL;
    const cfg_node_t *cls = cfg_node_get(g->old, "classifier");
    const char *ct = cfg_node_text(cfg_node_get(cfg_node_get(cls, "category_model"), "threshold"));
    if (ct) category_threshold = ct;
    bool has_decisions = cfg_node_get(g->old, "decisions") != NULL;
    const char *sp;
    const cfg_node_t *sig = mg_old_get(g, "signals", &sp);
    if (sig && sig->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < sig->n; i++) {
            const char *k = sig->keys[i]->str;
            const char *fam = family_for(k);
            const char *kp = mg_pkey(g, sp, k);
            if (!fam)
                mg_note(g, sig->keys[i], kp, "unknown signal family; dropped");
            else if (!strcmp(k, "categories"))
                migrate_categories(g, sig->items[i], kp, category_threshold, !has_decisions);
            else
                migrate_rules(g, fam, sig->items[i], kp, NULL, NULL);
        }
    } else if (sig) {
        mg_note(g, sig, sp, "expected a mapping of signal families; ignored");
    }
    for (size_t i = 0; i < g->old->n; i++) {
        const char *k = g->old->keys[i]->str;
        size_t l = strlen(k);
        bool rules = l > 6 && !strcmp(k + l - 6, "_rules");
        if (!rules && strcmp(k, "categories") && strcmp(k, "role_bindings")) continue;
        g->consumed[i] = true;
        const char *fam = family_for(k);
        if (!fam) {
            mg_note(g, g->old->keys[i], k, "no tether signal family for \"%s\"; dropped", k);
            continue;
        }
        if (!strcmp(k, "categories"))
            migrate_categories(g, g->old->items[i], k, category_threshold, !has_decisions);
        else
            migrate_rules(g, fam, g->old->items[i], k, NULL, NULL);
    }
    const char *dp;
    const cfg_node_t *ds = mg_old_get(g, "decisions", &dp);
    if (ds) migrate_decisions(g, ds, dp);
}

/* prompt_guard: a jailbreak rule and a blocking decision. */
void mg_migrate_prompt_guard(mg_t *g)
{
    const char *path;
    const cfg_node_t *pg = mg_old_get(g, "prompt_guard", &path);
    if (!pg) return;
    const char *en = cfg_node_text(cfg_node_get(pg, "enabled"));
    if (!en || strcmp(en, "true")) {
        mg_note(g, pg, path, "prompt_guard is not enabled; dropped");
        return;
    }
    cfg_node_t *rule = mg_map(g);
    mg_mark(g, rule, path, pg);
    mg_set_str(g, rule, "name", "prompt_guard");
    const cfg_node_t *th = cfg_node_get(pg, "threshold");
    if (th) cfg_node_set(g->a, rule, "threshold", mg_take(g, th, mg_pkey(g, path, "threshold")));
    cfg_node_append(g->a, mg_child(g, g->signals, "jailbreak", CFG_NODE_SEQ), rule);
    for (size_t i = 0; i < pg->n; i++) {
        const char *k = pg->keys[i]->str;
        if (strcmp(k, "enabled") && strcmp(k, "threshold"))
            mg_note(g, pg->keys[i], mg_pkey(g, path, k),
                    "tether detects jailbreaks itself (SPEC 5); dropped");
    }
    const char *target = g->default_model;
    if (!target && g->models->n) target = cfg_node_text(cfg_node_get(g->models->items[0], "name"));
    if (!target) {
        mg_note(g, pg, path,
                "no model to attach the blocking decision to; only the signal was added");
        return;
    }
    cfg_node_t *d = mg_map(g);
    mg_mark(g, d, path, pg);
    mg_set_str(g, d, "name", "block_jailbreak");
    mg_set_str(g, d, "description", "migrated from prompt_guard: refuse detected jailbreaks");
    mg_set_str(g, d, "priority", "1000");
    cfg_node_t *rules = mg_map(g);
    mg_set_str(g, rules, "type", "jailbreak");
    mg_set_str(g, rules, "name", "prompt_guard");
    cfg_node_set(g->a, d, "rules", rules);
    cfg_node_t *refs = mg_seq(g), *r = mg_map(g);
    mg_set_str(g, r, "model", target);
    cfg_node_append(g->a, refs, r);
    cfg_node_set(g->a, d, "modelRefs", refs);
    cfg_node_t *conf = mg_map(g), *ps = mg_seq(g);
    mg_set_str(g, conf, "message", "Blocked by policy.");
    cfg_node_append(g->a, ps, mg_plugin(g, "fast_response", conf));
    cfg_node_set(g->a, d, "plugins", ps);
    /* first, so it reads as the guard it was */
    cfg_node_t *nd = mg_seq(g);
    cfg_node_append(g->a, nd, d);
    for (size_t i = 0; i < g->decisions->n; i++)
        cfg_node_append(g->a, nd, g->decisions->items[i]);
    g->decisions->items = nd->items;
    g->decisions->n = nd->n;
    g->decisions->cap = nd->cap;
}
