/* kb.c - the `kb` family (SPEC §5.4): knowledge bases from
 * global.model_catalog.kbs[] ({name, source{path}, threshold (0.40),
 * label_thresholds{label: t}, groups{group: [label...]}}), whose
 * source.path (relative to the config file) holds JSON lines
 * {"label", "text", "group"?}. Each label becomes a prototype bank; a
 * group's score is the best of its labels' scores. Bindings (the rules)
 * target a label or a group and match `best` (the target is the best label
 * / group and clears its threshold) or `threshold` (the target clears its
 * threshold). A rule's threshold overrides label_thresholds, which
 * override the kb's. Results: score = the target's score; value =
 * best_score (label targets) or group_margin, the lead of the best group
 * over the runner-up (group targets). */
#include "config/family.h"
#include "signals/similarity.h"

#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct kb_label {
    char *name, *group; /* group from the JSON lines (may be NULL) */
    double thr;
    sig_bank_t bank;
} kb_label_t;

typedef struct kb_group {
    char *name;
    size_t *labels; /* indexes into kb labels */
    size_t n;
} kb_group_t;

typedef struct kb_kb {
    char *name;
    kb_label_t *labels;
    size_t n_labels;
    kb_group_t *groups;
    size_t n_groups;
} kb_kb_t;

typedef struct kb_bind {
    size_t kb;
    bool is_group, match_best;
    long target; /* label or group index, -1 unknown */
} kb_bind_t;

typedef struct kb_state {
    sig_sim_t *sim;
    kb_kb_t *kbs;
    size_t n_kbs;
    kb_bind_t *bind;
    size_t n_bind;
} kb_state_t;

static void kb_free(void *p)
{
    kb_state_t *s = p;
    for (size_t k = 0; k < s->n_kbs; k++) {
        kb_kb_t *kb = &s->kbs[k];
        for (size_t i = 0; i < kb->n_labels; i++) {
            free(kb->labels[i].name);
            free(kb->labels[i].group);
            sig_bank_deinit(&kb->labels[i].bank);
        }
        for (size_t i = 0; i < kb->n_groups; i++) {
            free(kb->groups[i].name);
            free(kb->groups[i].labels);
        }
        free(kb->labels);
        free(kb->groups);
        free(kb->name);
    }
    free(s->kbs);
    free(s->bind);
    free(s);
}

static long label_index(const kb_kb_t *kb, const char *name)
{
    for (size_t i = 0; i < kb->n_labels; i++)
        if (!strcmp(kb->labels[i].name, name)) return (long)i;
    return -1;
}

static long group_index(const kb_kb_t *kb, const char *name)
{
    for (size_t i = 0; i < kb->n_groups; i++)
        if (!strcmp(kb->groups[i].name, name)) return (long)i;
    return -1;
}

static void group_add(kb_kb_t *kb, const char *g, size_t label)
{
    long gi = group_index(kb, g);
    if (gi < 0) {
        kb->groups = realloc(kb->groups, sizeof *kb->groups * (kb->n_groups + 1));
        if (!kb->groups) abort();
        gi = (long)kb->n_groups++;
        kb->groups[gi] = (kb_group_t){.name = strdup(g)};
    }
    kb_group_t *gr = &kb->groups[gi];
    for (size_t i = 0; i < gr->n; i++)
        if (gr->labels[i] == label) return;
    gr->labels = realloc(gr->labels, sizeof(size_t) * (gr->n + 1));
    if (!gr->labels) abort();
    gr->labels[gr->n++] = label;
}

static double node_num(const cfg_node_t *n, double def)
{
    if (!n || n->kind != CFG_NODE_SCALAR || !n->str) return def;
    char *end;
    double v = strtod(n->str, &end);
    return *end ? def : v;
}

/* Texts of one label while reading the file. */
typedef struct texts {
    char **v;
    size_t n, cap;
} texts_t;

/* Load one kbs[] entry. Returns 0 or -1 with a message in err. */
static int kb_load(kb_kb_t *kb, const cfg_node_t *ent, const cfg_t *cfg, sig_sim_t *sim, char *err,
                   size_t errlen)
{
    const cfg_node_t *nm = cfg_node_get(ent, "name"), *src = cfg_node_get(ent, "source");
    const cfg_node_t *pth = src ? cfg_node_get(src, "path") : NULL;
    kb->name = strdup(nm && nm->str ? nm->str : "");
    if (!pth || !pth->str) {
        snprintf(err, errlen, "kb %.60s: source.path is required", kb->name);
        return -1;
    }
    char path[4096];
    const char *slash = cfg && cfg->path ? strrchr(cfg->path, '/') : NULL;
    if (pth->str[0] != '/' && slash)
        snprintf(path, sizeof path, "%.*s/%s", (int)(slash - cfg->path), cfg->path, pth->str);
    else
        snprintf(path, sizeof path, "%s", pth->str);
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(err, errlen, "kb %.60s: cannot read %.300s", kb->name, path);
        return -1;
    }
    double thr = node_num(cfg_node_get(ent, "threshold"), 0.40);
    texts_t *tx = NULL;
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    int lineno = 0, rc = 0;
    while ((len = getline(&line, &cap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            len--;
        if (!len) continue;
        cJSON *o = cJSON_ParseWithLength(line, (size_t)len);
        const cJSON *jl = cJSON_GetObjectItemCaseSensitive(o, "label");
        const cJSON *jt = cJSON_GetObjectItemCaseSensitive(o, "text");
        const cJSON *jg = cJSON_GetObjectItemCaseSensitive(o, "group");
        if (!cJSON_IsString(jl) || !cJSON_IsString(jt)) {
            snprintf(err, errlen, "kb %.60s: %.300s:%d: expected {\"label\", \"text\", \"group\"?}",
                     kb->name, path, lineno);
            cJSON_Delete(o);
            rc = -1;
            break;
        }
        long li = label_index(kb, jl->valuestring);
        if (li < 0) {
            kb->labels = realloc(kb->labels, sizeof *kb->labels * (kb->n_labels + 1));
            if (!kb->labels) abort();
            texts_t *ntx = realloc(tx, sizeof *tx * (kb->n_labels + 1));
            if (!ntx) abort();
            tx = ntx;
            li = (long)kb->n_labels++;
            memset(&kb->labels[li], 0, sizeof kb->labels[li]);
            kb->labels[li].name = strdup(jl->valuestring);
            kb->labels[li].thr = thr;
            tx[li] = (texts_t){0};
        }
        if (cJSON_IsString(jg) && !kb->labels[li].group)
            kb->labels[li].group = strdup(jg->valuestring);
        texts_t *t = &tx[li];
        if (t->n == t->cap) {
            t->cap = t->cap ? 2 * t->cap : 8;
            t->v = realloc(t->v, sizeof(char *) * t->cap);
            if (!t->v) abort();
        }
        t->v[t->n++] = strdup(jt->valuestring);
        cJSON_Delete(o);
    }
    free(line);
    fclose(f);
    if (!rc && !kb->n_labels) {
        snprintf(err, errlen, "kb %.60s: %.300s has no entries", kb->name, path);
        rc = -1;
    }
    const cfg_node_t *lt = cfg_node_get(ent, "label_thresholds");
    for (size_t i = 0; lt && lt->kind == CFG_NODE_MAP && i < lt->n; i++) {
        long li = label_index(kb, lt->keys[i]->str);
        if (li >= 0) kb->labels[li].thr = node_num(lt->items[i], thr);
    }
    for (size_t i = 0; i < kb->n_labels; i++) {
        if (!rc)
            sig_bank_init(&kb->labels[i].bank, sim->emb, (const char *const *)tx[i].v, tx[i].n);
        if (kb->labels[i].group) group_add(kb, kb->labels[i].group, i);
        for (size_t k = 0; k < tx[i].n; k++)
            free(tx[i].v[k]);
        free(tx[i].v);
    }
    free(tx);
    const cfg_node_t *gs = cfg_node_get(ent, "groups");
    for (size_t i = 0; gs && gs->kind == CFG_NODE_MAP && i < gs->n; i++) {
        const cfg_node_t *members = gs->items[i];
        for (size_t k = 0; members && members->kind == CFG_NODE_SEQ && k < members->n; k++) {
            long li = label_index(kb, members->items[k]->str ? members->items[k]->str : "");
            if (li < 0) {
                snprintf(err, errlen, "kb %.60s: group %s names unknown label %s", kb->name,
                         gs->keys[i]->str, members->items[k]->str);
                rc = -1;
                continue;
            }
            group_add(kb, gs->keys[i]->str, (size_t)li);
        }
    }
    return rc;
}

static int kb_compile(const sig_build_t *b, void **state, cfg_diags_t *diags)
{
    if (!b->n_rules) return 0;
    kb_state_t *s = sig_sim_state_new(b, diags, sizeof *s);
    if (!s) return -1;
    sig_sim_t *sim = s->sim;
    const cfg_node_t *kbs =
        b->cfg && b->cfg->global_ext ? b->cfg->global_ext->model_catalog.kbs : NULL;
    size_t nk = kbs && kbs->kind == CFG_NODE_SEQ ? kbs->n : 0;
    s->kbs = calloc(nk + 1, sizeof *s->kbs);
    s->bind = calloc(b->n_rules, sizeof *s->bind);
    if (!s->kbs || !s->bind) abort();
    s->n_bind = b->n_rules;
    *state = s;
    int rc = 0;
    bool *used = calloc(nk + 1, sizeof(bool));
    if (!used) abort();
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        size_t k = 0;
        for (; k < nk; k++) {
            const cfg_node_t *nm = cfg_node_get(kbs->items[k], "name");
            if (nm && nm->str && g->kb && !strcmp(nm->str, g->kb)) break;
        }
        if (k == nk) {
            sig_rule_error(diags, b->cfg, g, "kb %s is not in global.model_catalog.kbs",
                           g->kb ? g->kb : "");
            rc = -1;
            continue;
        }
        s->bind[i].kb = k;
        used[k] = true;
    }
    s->n_kbs = nk;
    for (size_t k = 0; k < nk; k++) {
        if (!used[k]) continue; /* unbound kbs are not loaded */
        char err[512];
        if (kb_load(&s->kbs[k], kbs->items[k], b->cfg, sim, err, sizeof err)) {
            cfg_diags_add(diags, CFG_DIAG_ERROR, b->cfg ? b->cfg->path : NULL, kbs->items[k]->line,
                          kbs->items[k]->col, "global.model_catalog.kbs", "%s", err);
            rc = -1;
        }
    }
    free(used);
    if (rc) return rc;
    for (size_t i = 0; i < b->n_rules; i++) {
        const cfg_signal_t *g = b->rules[i];
        kb_bind_t *bd = &s->bind[i];
        kb_kb_t *kb = &s->kbs[bd->kb];
        const cfg_node_t *kind = g->target ? cfg_node_get(g->target, "kind") : NULL;
        const cfg_node_t *val = g->target ? cfg_node_get(g->target, "value") : NULL;
        bd->is_group = kind && kind->str && !strcmp(kind->str, "group");
        bd->match_best = !g->match || strcmp(g->match, "threshold") != 0;
        const char *v = val && val->str ? val->str : g->name;
        bd->target = bd->is_group ? group_index(kb, v) : label_index(kb, v);
        if (bd->target < 0) {
            sig_rule_error(diags, b->cfg, g, "kb %s has no %s %s", kb->name,
                           bd->is_group ? "group" : "label", v);
            rc = -1;
        }
    }
    return rc;
}

static void kb_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const kb_state_t *s = state;
    if (!s || !n) return;
    const char *err = NULL;
    const float *q = sig_sim_query(s->sim, cx, &err);
    /* label scores per kb, computed on first use */
    double **ls = arena_calloc(cx->a, sizeof(double *) * (s->n_kbs + 1));
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        const kb_bind_t *bd = &s->bind[refs[i].id];
        kb_kb_t *kb = &s->kbs[bd->kb];
        if (!q) {
            res->error = err;
            continue;
        }
        if (!ls[bd->kb]) {
            double *v = arena_alloc(cx->a, sizeof(double) * (kb->n_labels + 1));
            for (size_t l = 0; l < kb->n_labels && q; l++) {
                if (!sig_sim_bank_ok(&kb->labels[l].bank, &err))
                    q = NULL;
                else
                    v[l] = sig_bank_score(&kb->labels[l].bank, q, SIG_AGG_MAX, 0);
            }
            if (!q) {
                res->error = err;
                continue;
            }
            ls[bd->kb] = v;
        }
        const double *v = ls[bd->kb];
        size_t best = 0;
        for (size_t l = 1; l < kb->n_labels; l++)
            if (v[l] > v[best]) best = l;
        double thr, score;
        bool is_best;
        if (!bd->is_group) {
            score = v[bd->target];
            thr = kb->labels[bd->target].thr;
            is_best = (size_t)bd->target == best;
            res->value = v[best]; /* best_score */
        } else {
            double g1 = -1, g2 = 0, mine = 0;
            long gbest = -1;
            thr = 1;
            for (size_t gi = 0; gi < kb->n_groups; gi++) {
                const kb_group_t *gr = &kb->groups[gi];
                double gs = 0;
                for (size_t k = 0; k < gr->n; k++)
                    if (v[gr->labels[k]] > gs) gs = v[gr->labels[k]];
                if ((long)gi == bd->target) {
                    mine = gs;
                    for (size_t k = 0; k < gr->n; k++)
                        if (kb->labels[gr->labels[k]].thr < thr)
                            thr = kb->labels[gr->labels[k]].thr;
                }
                if (gs > g1) {
                    g2 = g1 < 0 ? 0 : g1;
                    g1 = gs;
                    gbest = (long)gi;
                } else if (gs > g2) {
                    g2 = gs;
                }
            }
            score = mine;
            is_best = gbest == bd->target;
            res->value = g1 - g2; /* group_margin */
        }
        if (refs[i].rule->has_threshold) thr = refs[i].rule->threshold;
        res->score = score;
        res->has_value = true;
        res->matched = score >= thr && (!bd->match_best || is_best);
        if (res->matched)
            res->label = bd->is_group ? kb->groups[bd->target].name : kb->labels[bd->target].name;
    }
}

CFG_SIG_FAMILY(
    sig_kb_family, "kb", "kb", "knowledge-base bindings", "Knowledge-base bindings.",
    .threshold = CFG_SIG_THRESHOLD_UNSET,
    .fields = (const cfg_field_t[]){CFG_FSTR_REQ(cfg_signal_t, "kb", kb,
                                                 "a model_catalog.kbs[] name"),
                                    CFG_FNODE(cfg_signal_t, "target", target,
                                              "{kind: label|group, value}"),
                                    CFG_FENUM(cfg_signal_t, "match", match, "best",
                                              "best|threshold", "how the target must match"),
                                    {0}},
    .flags = CFG_SIGFAM_LABELS,
    .ops = &(const sig_family_ops_t){.compile = kb_compile, .free = kb_free, .eval = kb_eval});
