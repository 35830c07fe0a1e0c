/* decisions.c - routing.decisions[]: rule trees (SPEC 6.1), modelRefs,
 * algorithm blocks (SPEC 7) with per-decision session overrides, plugins
 * (SPEC 8) and EMIT retention; plus projections (SPEC 6.3). References are
 * resolved later, in routing.c, once every signal is known. */
#include "config/family.h"
#include "config/global.h"
#include "config/load.h"
#include <stddef.h>
#include <string.h>

CFG_SCHEMA(
    cfg_schema_rule, "routing.decisions[].rules",
    "A rule tree node: a leaf or an operator with conditions. Omitted rules match everything.",
    CFG_FCUSTOM("operator", NULL, "inner node: AND | OR | NOT"),
    CFG_FCUSTOM("conditions", NULL, "inner node: child nodes (NOT takes exactly one)"),
    CFG_FCUSTOM("type", NULL, "leaf: signal family (keyword, pii, ...) or projection"),
    CFG_FCUSTOM("name", NULL, "leaf: signal rule name"),
    CFG_FCUSTOM("label", NULL, "leaf: required label (families with labels only)"),
    CFG_FCUSTOM("predicate", NULL, "leaf: {gt|gte|lt|lte|eq} on the rule's value"),
    CFG_FCUSTOM("on_error", NULL, "leaf: no_match | match | fail (no_match)"));

#define MR cfg_model_ref_t
CFG_SCHEMA(cfg_schema_model_ref, "routing.decisions[].modelRefs[]",
           "Candidate models of a decision.",
           CFG_FSTR_REQ(MR, "model", model, "a providers.models[] name"),
           CFG_FNUM(MR, "weight", weight, "1", "weight for the weighted algorithm (>= 0)"),
           CFG_FHAS(MR, "use_reasoning", CFG_F_BOOL, use_reasoning, has_use_reasoning,
                    "turn reasoning on/off (unset: the client's fields pass through)"),
           CFG_FENUM(MR, "reasoning_effort", reasoning_effort, NULL,
                     "none|minimal|low|medium|high|xhigh", "effort when reasoning is on"),
           CFG_FSTR(MR, "lora_name", lora_name, NULL, "LoRA adapter to request"));
#undef MR

#define NKEY(k, dc)                                                                                \
    {                                                                                              \
        .key = k, .type = CFG_F_CUSTOM, .doc = dc                                                  \
    }

static const char *const unsupported_plugins[] = {
    "rag",       "memory",         "tool_selection", "tools", "hallucination",
    "image_gen", "semantic-cache", "jailbreak",      "pii"};

#define RT cfg_retention_t
CFG_SCHEMA(cfg_schema_retention, "routing.decisions[].emits[].retention",
           "EMIT retention (SPEC 8).",
           CFG_FHAS(RT, "drop", CFG_F_BOOL, drop, has_drop,
                    "skip cache writes and replay body capture"),
           {.key = "ttl_turns",
            .type = CFG_F_U64,
            .off = offsetof(RT, ttl_turns),
            .off2 = offsetof(RT, has_ttl_turns),
            .flags = CFG_FF_HAS,
            .min = 0,
            .max = 1000000,
            .doc = "cache entries valid for the next N turns (>= 0)"},
           CFG_FHAS(RT, "keep_current_model", CFG_F_BOOL, keep_current_model,
                    has_keep_current_model, "keep an available current model"),
           CFG_FHAS(RT, "prefer_prefix_retention", CFG_F_BOOL, prefer_prefix_retention,
                    has_prefer_prefix_retention, "double prefix_cache_weight for this turn"));
#undef RT

CFG_SCHEMA(cfg_schema_emit, "routing.decisions[].emits[]", "EMIT blocks.",
           NKEY("kind", "retention (the only kind)"), NKEY("retention", "see emits[].retention"));

#define D cfg_decision_t
CFG_SCHEMA(cfg_schema_decision, "routing.decisions[]",
           "Decisions: a rule tree, candidate models and how to pick one.",
           CFG_FSTR_REQ(D, "name", name, "decision name"),
           CFG_FSTR(D, "description", description, NULL, "free text"),
           CFG_FI64(D, "priority", priority, "0", 0, 1000000000,
                    "higher wins under strategy priority (>= 0)"),
           CFG_FI64(D, "tier", tier, NULL, 1, 1000000,
                    "tier (>= 1); lower tiers win under strategy tiers"),
           CFG_FCUSTOM("rules", &cfg_schema_rule, "rule tree (omitted: catch-all)"),
           CFG_FCUSTOM("modelRefs", &cfg_schema_model_ref, "candidate models (required)"),
           CFG_FCUSTOM("algorithm", &cfg_schema_algorithm, "selection algorithm"),
           CFG_FCUSTOM("plugins", &cfg_schema_plugin, "plugins"),
           CFG_FCUSTOM("emits", &cfg_schema_emit, "EMIT blocks"));
#undef D

#define PKEYS(...)                                                                                 \
    (const cfg_field_t[])                                                                          \
    {                                                                                              \
        __VA_ARGS__,                                                                               \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }
const cfg_schema_t cfg_schema_partition = {
    "routing.projections.partitions[]",
    PKEYS(NKEY("name", "partition name"), NKEY("semantics", "exclusive | softmax_exclusive"),
          NKEY("temperature", "1.0"), NKEY("members", "domain or embedding signal names"),
          NKEY("default", "member that matches when none does")),
    "Exclusive groups of signals."};
const cfg_schema_t cfg_schema_score = {
    "routing.projections.scores[]",
    PKEYS(NKEY("name", "score name"), NKEY("method", "weighted_sum"),
          NKEY("inputs", "[{type, name | kb+metric, weight, value_source, match, miss}]")),
    "Weighted sums of signals."};
const cfg_schema_t cfg_schema_mapping = {
    "routing.projections.mappings[]",
    PKEYS(NKEY("name", "mapping name"), NKEY("source", "a score name"),
          NKEY("method", "threshold_bands"),
          NKEY("calibration", "{method: sigmoid_distance, slope (10)}"),
          NKEY("outputs", "[{name, lt|lte|gt|gte}]; leaves use type: projection")),
    "Bands over a score; outputs are projection leaves."};
const cfg_schema_t cfg_schema_projections = {
    "routing.projections",
    PKEYS(NKEY("partitions", "see projections.partitions[]"),
          NKEY("scores", "see projections.scores[]"),
          NKEY("mappings", "see projections.mappings[]")),
    "Projections (SPEC 6.3)."};

/* ---- rule trees ---- */

char *cfg_rule_leaf_name(arena_t *a, const cfg_rule_t *r)
{
    const char *t = r->type ? r->type : "?", *nm = r->name ? r->name : "?";
    size_t lt = strlen(t), ln = strlen(nm);
    char *s = arena_alloc(a, lt + ln + 2);
    memcpy(s, t, lt);
    s[lt] = ':';
    memcpy(s + lt + 1, nm, ln + 1);
    return s;
}

static void load_rule(ld_t *l, const cfg_node_t *n, cfg_rule_t *r, int depth, bool is_root)
{
    r->line = n ? n->line : 0;
    r->col = n ? n->col : 0;
    if (depth > 64) {
        ld_err(l, n, "rule tree nested too deeply");
        return;
    }
    if (!ld_expect_map(l, n)) return;
    ld_check_keys(l, n, &cfg_schema_rule);
    const cfg_node_t *op = cfg_node_get(n, "operator");
    const cfg_node_t *conds = cfg_node_get(n, "conditions");
    const cfg_node_t *type = cfg_node_get(n, "type");
    if (op) {
        if (type) ld_err(l, type, "a node has either operator or type, not both");
        size_t s = ld_push_key(l, "operator");
        char *v = NULL;
        if (ld_str(l, op, &v) && v) {
            if (!strcmp(v, "AND"))
                r->kind = CFG_RULE_AND;
            else if (!strcmp(v, "OR"))
                r->kind = CFG_RULE_OR;
            else if (!strcmp(v, "NOT"))
                r->kind = CFG_RULE_NOT;
            else
                ld_err(l, op, "unknown operator \"%s\" (AND, OR or NOT)", v);
        }
        ld_pop(l, s);
        size_t nc = conds && conds->kind == CFG_NODE_SEQ ? conds->n : 0;
        s = ld_push_key(l, "conditions");
        if (conds && !cfg_node_is_null(conds) && !ld_expect_seq(l, conds)) nc = 0;
        ld_pop(l, s);
        if (r->kind == CFG_RULE_NOT && nc != 1)
            ld_err(l, op, "NOT needs exactly one condition, got %zu", nc);
        else if (nc == 0 && !(is_root && r->kind == CFG_RULE_AND) && v)
            ld_err(l, op, "%s without conditions", v);
        r->children = arena_calloc(l->a, (nc + 1) * sizeof(cfg_rule_t));
        for (size_t i = 0; i < nc; i++) {
            size_t s2 = ld_push_key(l, "conditions");
            ld_push_index(l, i);
            load_rule(l, conds->items[i], &r->children[r->n_children++], depth + 1, false);
            ld_pop(l, s2);
        }
        return;
    }
    if (conds) ld_err(l, conds, "conditions without an operator");
    if (!type) {
        ld_err(l, n, "a rule node needs a type (leaf) or an operator");
        return;
    }
    r->kind = CFG_RULE_LEAF;
    const char *keys[] = {"type", "name", "label"};
    char **outs[] = {&r->type, &r->name, &r->label};
    for (int k = 0; k < 3; k++) {
        const cfg_node_t *v = cfg_node_get(n, keys[k]);
        if (!v) continue;
        size_t s = ld_push_key(l, keys[k]);
        ld_str(l, v, outs[k]);
        ld_pop(l, s);
    }
    if (!r->name) ld_err(l, n, "a leaf needs a name");
    r->leaf_name = cfg_rule_leaf_name(l->a, r);
    r->is_projection = r->type && !strcmp(r->type, "projection");
    const cfg_node_t *pred = cfg_node_get(n, "predicate");
    if (pred) {
        size_t s = ld_push_key(l, "predicate");
        if (ld_expect_map(l, pred)) {
            for (size_t i = 0; i < pred->n; i++) {
                const char *k = pred->keys[i]->str;
                double d;
                if (strcmp(k, "gt") && strcmp(k, "gte") && strcmp(k, "lt") && strcmp(k, "lte") &&
                    strcmp(k, "eq"))
                    ld_err(l, pred->keys[i], "unknown comparison \"%s\" (gt, gte, lt, lte, eq)", k);
                else {
                    size_t s2 = ld_push_key(l, k);
                    ld_double(l, pred->items[i], &d);
                    ld_pop(l, s2);
                }
            }
            r->predicate = cfg_node_copy(l->a, pred);
        }
        ld_pop(l, s);
    }
    int oe = ld_choice(l, n, "on_error", "no_match|match|fail"); /* order of cfg_on_error_t */
    if (oe >= 0) r->on_error = (cfg_on_error_t)oe;
}

/* A rule tree outside a decision (a complexity rule's composer). */
void cfg_load_rule_tree(ld_t *l, const cfg_node_t *n, cfg_rule_t *r)
{
    load_rule(l, n, r, 1, false);
}

/* ---- algorithm ---- */

/* Session keys that only global.router.session may set (one per process). */
static void reject_global_only(ld_t *l, const cfg_node_t *sess)
{
    const cfg_node_t *v =
        sess && sess->kind == CFG_NODE_MAP ? cfg_node_get(sess, "learned_state_file") : NULL;
    if (v)
        ld_err_key(l, v, "learned_state_file",
                   "learned_state_file is global only: set it in global.router.session");
}

static void load_algorithm(ld_t *l, const cfg_node_t *n, cfg_decision_t *d,
                           const cfg_session_t *global)
{
    d->algorithm = arena_strdup(l->a, "static");
    d->session = arena_alloc(l->a, sizeof(cfg_session_t));
    *d->session = *global;
    size_t s0;
    if (!ld_open_map(l, n, "algorithm", &cfg_schema_algorithm, &s0)) return;
    const cfg_node_t *tn = cfg_node_get(n, "type");
    const cfg_node_t *sess = cfg_node_get(n, "session");
    if (tn) {
        size_t s = ld_push_key(l, "type");
        char *t = NULL;
        if (ld_str(l, tn, &t) && t) {
            if (!strcmp(t, "session_aware")) {
                ld_warn(l, tn,
                        "algorithm type session_aware is deprecated: its base_method becomes "
                        "the type and its other keys become session overrides");
                const cfg_node_t *blk = cfg_node_get(n, "session_aware");
                const cfg_node_t *bm = cfg_node_get(blk, "base_method");
                const char *base = bm && bm->kind == CFG_NODE_SCALAR ? bm->str : "static";
                if (!strcmp(base, "hybrid")) base = "static";
                t = arena_strdup(l->a, base);
                if (blk && blk->kind == CFG_NODE_MAP) {
                    cfg_node_t *ov = cfg_node_copy(l->a, blk);
                    cfg_node_del(ov, "base_method");
                    ld_pop(l, s); /* report at algorithm.session_aware */
                    size_t s2 = ld_push_key(l, "session_aware");
                    ld_section_overlay(l, ov, &cfg_schema_session, d->session);
                    reject_global_only(l, ov);
                    ld_pop(l, s2);
                    s = ld_push_key(l, "type");
                }
            }
            size_t n_alg;
            const char *const *alg_types = cfg_selector_names(&n_alg);
            if (!cfg_selector_find(t)) {
                if (strstr(t, "looper") || !strcmp(t, "confidence") || !strcmp(t, "ratings") ||
                    !strcmp(t, "remom") || !strcmp(t, "automix") || !strcmp(t, "knn") ||
                    !strcmp(t, "mlp") || !strcmp(t, "svm") || !strcmp(t, "kmeans") ||
                    !strcmp(t, "rl_driven") || !strcmp(t, "gmtrouter") || !strcmp(t, "hybrid"))
                    ld_err(l, tn, "algorithm type \"%s\" is not supported by tether", t);
                else {
                    const char *sug = cfg_suggest(t, alg_types, n_alg);
                    ld_err(l, tn, "unknown algorithm type \"%s\"%s%s%s (one of %s)", t,
                           sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "",
                           cfg_selector_choices());
                }
            } else {
                d->algorithm = t;
            }
        }
        ld_pop(l, s);
    }
    for (size_t k = 0; k < cfg_selector_count(); k++) {
        const char *name = cfg_selector_at(k)->name;
        cfg_node_t *kn = NULL;
        const cfg_node_t *blk = cfg_node_get_pair(n, name, &kn);
        if (!blk) continue;
        size_t s = ld_push_key(l, name);
        if (strcmp(name, d->algorithm))
            ld_err(l, kn, "algorithm block \"%s\" does not match type \"%s\"", name, d->algorithm);
        else if (!cfg_node_is_null(blk) && ld_expect_map(l, blk)) {
            ld_check_keys(l, blk, cfg_selector_schema(k));
            for (size_t i = 0; i < blk->n; i++) {
                const cfg_node_t *v = blk->items[i];
                double x;
                if (v->kind == CFG_NODE_SCALAR && cfg_parse_double(v->str, &x) && x < 0) {
                    size_t s2 = ld_push_key(l, blk->keys[i]->str);
                    ld_err(l, v, "%s must not be negative", v->str);
                    ld_pop(l, s2);
                }
            }
            d->algorithm_block = cfg_node_copy(l->a, blk);
        }
        ld_pop(l, s);
    }
    if (sess && !cfg_node_is_null(sess)) {
        size_t s = ld_push_key(l, "session");
        ld_section_overlay(l, sess, &cfg_schema_session, d->session);
        reject_global_only(l, sess);
        d->session_overrides = cfg_node_copy(l->a, sess);
        ld_pop(l, s);
    }
    ld_pop(l, s0);
}

/* A plugin that declares its configuration keys gets them checked. */
static void check_plugin_conf(ld_t *l, const cfg_node_t *conf, const char *type)
{
    if (!conf) return;
    size_t s = ld_push_key(l, "configuration");
    if (!cfg_node_is_null(conf) && ld_expect_map(l, conf))
        ld_check_keys(l, conf, cfg_plugin_schema(type));
    ld_pop(l, s);
}

static void load_plugin(ld_t *l, const cfg_node_t *it, cfg_decision_t *d)
{
    ld_check_keys(l, it, &cfg_schema_plugin);
    const cfg_node_t *tn = cfg_node_get(it, "type");
    char *t = NULL;
    const cfg_plugin_kind_t *kind = NULL;
    size_t s = ld_push_key(l, "type");
    if (!tn)
        ld_err(l, it, "a plugin needs a type");
    else if (ld_str(l, tn, &t) && t) {
        kind = cfg_plugin_kind_find(t);
        size_t u = 0;
        while (u < sizeof unsupported_plugins / sizeof *unsupported_plugins &&
               strcmp(unsupported_plugins[u], t))
            u++;
        if (kind) {
            cfg_plugin_t *p = &d->plugins[d->n_plugins++];
            p->type = t;
            const cfg_node_t *cf = cfg_node_get(it, "configuration");
            if (cf) p->configuration = cfg_node_copy(l->a, cf);
            for (size_t j = 0; j + 1 < d->n_plugins; j++)
                if (!strcmp(d->plugins[j].type, t))
                    ld_err(l, tn, "plugin \"%s\" is listed twice", t);
        } else if (u < sizeof unsupported_plugins / sizeof *unsupported_plugins) {
            ld_err(l, tn, "plugin type \"%s\" is not supported by tether", t);
        } else {
            size_t nt;
            const char *const *types = cfg_plugin_types(&nt);
            const char *sug = cfg_suggest(t, types, nt);
            ld_err(l, tn, "unknown plugin type \"%s\"%s%s%s", t, sug ? " (did you mean \"" : "",
                   sug ? sug : "", sug ? "\"?)" : "");
        }
    }
    ld_pop(l, s);
    if (kind && kind->fields) check_plugin_conf(l, cfg_node_get(it, "configuration"), t);
}

static void load_plugins(ld_t *l, const cfg_node_t *n, cfg_decision_t *d)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "plugins");
    if (ld_expect_seq(l, n)) {
        d->plugins = arena_calloc(l->a, (n->n + 1) * sizeof(cfg_plugin_t));
        for (size_t i = 0; i < n->n; i++) {
            size_t s = ld_push_index(l, i);
            if (ld_expect_map(l, n->items[i])) load_plugin(l, n->items[i], d);
            ld_pop(l, s);
        }
    }
    ld_pop(l, s0);
}

static void load_emits(ld_t *l, const cfg_node_t *n, cfg_decision_t *d)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "emits");
    if (ld_expect_seq(l, n))
        for (size_t i = 0; i < n->n; i++) {
            const cfg_node_t *it = n->items[i];
            size_t s = ld_push_index(l, i);
            if (ld_expect_map(l, it)) {
                ld_check_keys(l, it, &cfg_schema_emit);
                const cfg_node_t *k = cfg_node_get(it, "kind");
                if (!k || k->kind != CFG_NODE_SCALAR || strcmp(k->str, "retention"))
                    ld_err(l, k ? k : it, "emit kind must be retention");
                else if (d->has_retention)
                    ld_err(l, k, "retention may appear only once per decision");
                else {
                    const cfg_node_t *r = cfg_node_get(it, "retention");
                    size_t s2 = ld_push_key(l, "retention");
                    ld_section(l, r, &cfg_schema_retention, &d->retention);
                    d->has_retention = true;
                    cfg_retention_t *rt = &d->retention;
                    if (!rt->has_drop && !rt->has_ttl_turns && !rt->has_keep_current_model &&
                        !rt->has_prefer_prefix_retention)
                        ld_warn(l, r ? r : it, "empty retention block");
                    if (rt->drop && rt->ttl_turns > 0)
                        ld_err(l, cfg_node_get(r, "ttl_turns"),
                               "drop with ttl_turns > 0 is contradictory");
                    ld_pop(l, s2);
                }
            }
            ld_pop(l, s);
        }
    ld_pop(l, s0);
}

void cfg_load_decision(ld_t *l, const cfg_node_t *n, cfg_decision_t *d, const cfg_session_t *global)
{
    d->line = n ? n->line : 0;
    d->col = n ? n->col : 0;
    if (!ld_section(l, n, &cfg_schema_decision, d) || !n || n->kind != CFG_NODE_MAP) return;
    const cfg_node_t *rules = cfg_node_get(n, "rules");
    size_t s = ld_push_key(l, "rules");
    if (!rules || cfg_node_is_null(rules)) {
        d->rules.kind = CFG_RULE_AND;
        d->is_catch_all = true;
    } else if (rules->kind == CFG_NODE_MAP && !cfg_node_get(rules, "operator")) {
        /* a bare leaf means AND[leaf] */
        d->rules.kind = CFG_RULE_AND;
        d->rules.line = rules->line;
        d->rules.col = rules->col;
        d->rules.children = arena_calloc(l->a, sizeof(cfg_rule_t));
        d->rules.n_children = 1;
        load_rule(l, rules, &d->rules.children[0], 1, false);
    } else {
        load_rule(l, rules, &d->rules, 0, true);
        d->is_catch_all = d->rules.kind == CFG_RULE_AND && d->rules.n_children == 0;
    }
    ld_pop(l, s);
    const cfg_node_t *mr = cfg_node_get(n, "modelRefs");
    s = ld_push_key(l, "modelRefs");
    if (!mr || cfg_node_is_null(mr) || (mr->kind == CFG_NODE_SEQ && mr->n == 0))
        ld_err(l, mr ? mr : n, "a decision needs at least one modelRef");
    else if (ld_expect_seq(l, mr)) {
        d->model_refs = arena_calloc(l->a, (mr->n + 1) * sizeof(cfg_model_ref_t));
        for (size_t i = 0; i < mr->n; i++) {
            size_t s2 = ld_push_index(l, i);
            ld_section(l, mr->items[i], &cfg_schema_model_ref, &d->model_refs[d->n_model_refs++]);
            ld_pop(l, s2);
        }
    }
    ld_pop(l, s);
    load_algorithm(l, cfg_node_get(n, "algorithm"), d, global);
    load_plugins(l, cfg_node_get(n, "plugins"), d);
    load_emits(l, cfg_node_get(n, "emits"), d);
}

static void check_list(ld_t *l, const cfg_node_t *n, const char *key, const cfg_schema_t *s)
{
    const cfg_node_t *v = cfg_node_get(n, key);
    if (!v || cfg_node_is_null(v)) return;
    size_t s0 = ld_push_key(l, key);
    if (ld_expect_seq(l, v))
        for (size_t i = 0; i < v->n; i++) {
            size_t s1 = ld_push_item(l, v->items[i], i);
            if (ld_expect_map(l, v->items[i])) {
                ld_check_keys(l, v->items[i], s);
                if (!cfg_node_get(v->items[i], "name"))
                    ld_err(l, v->items[i], "missing required field \"name\"");
            }
            ld_pop(l, s1);
        }
    ld_pop(l, s0);
}

void cfg_load_projections(ld_t *l, const cfg_node_t *n, cfg_projections_t *p)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "projections");
    if (ld_expect_map(l, n)) {
        ld_check_keys(l, n, &cfg_schema_projections);
        check_list(l, n, "partitions", &cfg_schema_partition);
        check_list(l, n, "scores", &cfg_schema_score);
        check_list(l, n, "mappings", &cfg_schema_mapping);
        const cfg_node_t *v;
        if ((v = cfg_node_get(n, "partitions"))) p->partitions = cfg_node_copy(l->a, v);
        if ((v = cfg_node_get(n, "scores"))) p->scores = cfg_node_copy(l->a, v);
        if ((v = cfg_node_get(n, "mappings"))) p->mappings = cfg_node_copy(l->a, v);
    }
    ld_pop(l, s0);
}
