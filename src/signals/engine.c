/* engine.c - the signal engine (signal.h): compiles every family of the
 * registry (signals/registry.h) over all recipes at once, works out which families each recipe
 * references, pools per-thread scratch, evaluates a recipe into one result
 * per rule, and keeps the context family's per-model calibration table.
 * Families live in their own files (family.h); text windows in context.c. */
#include "signals/family.h"

#include "config/global.h"
#include "core/clock.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

typedef struct sig_scratch {
    void *fam[CFG_SIG_MAX];
    struct sig_scratch *next;
} sig_scratch_t;

typedef struct sig_calib {
    char *model;
    double ema;
    uint64_t n;
} sig_calib_t;

typedef struct sig_fam_rt {
    const sig_family_ops_t *ops;
    void *state;
    const cfg_signal_t **rules; /* all recipes */
    size_t n_rules;
} sig_fam_rt_t;

typedef struct sig_recipe_rt {
    const cfg_recipe_t *recipe;
    uint32_t uses;     /* bit per family id */
    uint32_t *rule_id; /* per recipe signal: id within its family */
} sig_recipe_rt_t;

struct sig_engine {
    const cfg_t *cfg;
    sig_fam_rt_t fam[CFG_SIG_MAX]; /* per family id */
    size_t n_fam;                  /* the registry's */
    sig_recipe_rt_t *recipes;
    size_t n_recipes;
    pthread_mutex_t lock; /* scratch pool and calibration */
    sig_scratch_t *pool;
    sig_calib_t *calib;
    size_t n_calib, cap_calib;
    void *embedder;
    void (*embedder_free)(void *);
    sig_jb_hooks_t jb_hooks;
};

const cfg_t *sig_engine_cfg(const sig_engine_t *e)
{
    return e ? e->cfg : NULL;
}

void sig_rule_error(cfg_diags_t *d, const cfg_t *cfg, const cfg_signal_t *r, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    char path[256];
    snprintf(path, sizeof path, "routing.signals.%s[%s]", cfg_signal_family_key(r->family),
             r->name ? r->name : "?");
    if (d)
        cfg_diags_add(d, CFG_DIAG_ERROR, cfg && cfg->path ? cfg->path : "config", r->line, r->col,
                      path, "%s", msg);
}

int sig_rule_table_init(sig_rule_table_t *t, const sig_build_t *b, size_t size,
                        sig_rule_compile_fn compile_rule, void (*free_rule)(void *rec),
                        cfg_diags_t *diags)
{
    *t = (sig_rule_table_t){calloc(b->n_rules + 1, size), b->n_rules, size, free_rule};
    if (!t->v) abort();
    int rc = 0;
    for (size_t i = 0; i < b->n_rules; i++)
        if (compile_rule(b, i, sig_rule_at(t, i), diags)) rc = -1;
    return rc;
}

void sig_rule_table_deinit(sig_rule_table_t *t)
{
    for (size_t i = 0; t->free_rule && i < t->n; i++)
        t->free_rule(sig_rule_at(t, i));
    free(t->v);
    t->v = NULL;
    t->n = 0;
}

int sig_rule_table_compile(const sig_build_t *b, void **state, cfg_diags_t *diags, size_t size,
                           sig_rule_compile_fn compile_rule, void (*free_rule)(void *rec))
{
    sig_rule_table_t *t = malloc(sizeof *t);
    if (!t) abort();
    *state = t;
    return sig_rule_table_init(t, b, size, compile_rule, free_rule, diags);
}

void sig_rule_table_free(void *state)
{
    if (!state) return;
    sig_rule_table_deinit(state);
    free(state);
}

/* ---- which families a recipe references ---- */

static void uses_node(const cfg_node_t *n, uint32_t *mask, int depth)
{
    if (!n || depth > 64) return;
    if (n->kind == CFG_NODE_MAP) {
        for (size_t i = 0; i < n->n; i++) {
            const cfg_node_t *k = n->keys[i], *v = n->items[i];
            if (k && k->str && !strcmp(k->str, "type") && v && v->kind == CFG_NODE_SCALAR &&
                v->str) {
                int f = cfg_signal_family_by_name(v->str);
                if (f >= 0) *mask |= 1u << f;
            }
            uses_node(v, mask, depth + 1);
        }
    } else if (n->kind == CFG_NODE_SEQ) {
        for (size_t i = 0; i < n->n; i++)
            uses_node(n->items[i], mask, depth + 1);
    }
}

static void uses_rule(const cfg_rule_t *r, uint32_t *mask)
{
    if (r->kind == CFG_RULE_LEAF) {
        if (r->signal)
            *mask |= 1u << r->signal->family;
        else if (r->type) {
            int f = cfg_signal_family_by_name(r->type);
            if (f >= 0) *mask |= 1u << f;
        }
        return;
    }
    for (size_t i = 0; i < r->n_children; i++)
        uses_rule(&r->children[i], mask);
}

static uint32_t recipe_uses(const cfg_recipe_t *rc)
{
    uint32_t m = 0;
    for (size_t i = 0; i < rc->n_decisions; i++)
        uses_rule(&rc->decisions[i].rules, &m);
    uses_node(rc->projections.scores, &m, 0);
    /* partition members name domain or embedding signals */
    const cfg_node_t *parts = rc->projections.partitions;
    for (size_t p = 0; parts && parts->kind == CFG_NODE_SEQ && p < parts->n; p++) {
        const cfg_node_t *mem = cfg_node_get(parts->items[p], "members");
        for (size_t j = 0; mem && mem->kind == CFG_NODE_SEQ && j < mem->n; j++) {
            const cfg_node_t *x = mem->items[j];
            const char *nm = x->kind == CFG_NODE_SCALAR ? x->str : NULL;
            if (x->kind == CFG_NODE_MAP) {
                const cfg_node_t *nn = cfg_node_get(x, "name");
                nm = nn && nn->kind == CFG_NODE_SCALAR ? nn->str : NULL;
            }
            for (size_t s = 0; nm && s < rc->n_signals; s++)
                if (rc->signals[s].name && !strcmp(rc->signals[s].name, nm) &&
                    (rc->signals[s].family == CFG_SIG_DOMAIN ||
                     rc->signals[s].family == CFG_SIG_EMBEDDING))
                    m |= 1u << rc->signals[s].family;
        }
    }
    /* complexity composers reference other rules; used complexity pulls them in */
    if (m & (1u << CFG_SIG_COMPLEXITY))
        for (size_t s = 0; s < rc->n_signals; s++)
            if (rc->signals[s].family == CFG_SIG_COMPLEXITY)
                uses_node(rc->signals[s].composer, &m, 0);
    return m;
}

/* ---- lifecycle ---- */

static void collect_recipes(const cfg_t *cfg, const cfg_recipe_t ***out, size_t *n)
{
    *out = NULL;
    *n = 0;
    if (!cfg || !cfg->routing) return;
    *n = cfg->routing->n_recipes;
    *out = calloc(*n + 1, sizeof **out);
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = &cfg->routing->recipes[i];
}

sig_engine_t *sig_engine_new(const cfg_t *cfg, cfg_diags_t *diags)
{
    sig_engine_t *e = calloc(1, sizeof *e);
    if (!e) return NULL;
    e->cfg = cfg;
    pthread_mutex_init(&e->lock, NULL);
    const cfg_recipe_t **rcs;
    size_t nrc;
    collect_recipes(cfg, &rcs, &nrc);
    e->n_recipes = nrc;
    e->recipes = calloc(nrc + 1, sizeof *e->recipes);
    size_t total = 0;
    for (size_t i = 0; i < nrc; i++)
        total += rcs[i]->n_signals;
    e->n_fam = cfg_signal_family_count();
    for (size_t f = 0; f < e->n_fam; f++)
        e->fam[f].rules = calloc(total + 1, sizeof(cfg_signal_t *));
    for (size_t i = 0; i < nrc; i++) {
        sig_recipe_rt_t *rr = &e->recipes[i];
        rr->recipe = rcs[i];
        rr->uses = recipe_uses(rcs[i]);
        rr->rule_id = calloc(rcs[i]->n_signals + 1, sizeof(uint32_t));
        for (size_t s = 0; s < rcs[i]->n_signals; s++) {
            const cfg_signal_t *sg = &rcs[i]->signals[s];
            sig_fam_rt_t *fr = &e->fam[sg->family];
            rr->rule_id[s] = (uint32_t)fr->n_rules;
            fr->rules[fr->n_rules++] = sg;
        }
    }
    free(rcs);
    int rc = 0;
    for (size_t f = 0; f < e->n_fam; f++) {
        sig_fam_rt_t *fr = &e->fam[f];
        fr->ops = cfg_signal_family((cfg_signal_family_t)f)->ops;
        if (!fr->ops || !fr->ops->compile) continue;
        sig_build_t b = {.e = e,
                         .cfg = cfg,
                         .family = (cfg_signal_family_t)f,
                         .rules = fr->rules,
                         .n_rules = fr->n_rules};
        if (fr->ops->compile(&b, &fr->state, diags) != 0) rc = -1;
    }
    if (rc != 0) {
        sig_engine_free(e);
        return NULL;
    }
    return e;
}

static void scratch_free(sig_engine_t *e, sig_scratch_t *s)
{
    for (size_t f = 0; f < e->n_fam; f++)
        if (s->fam[f] && e->fam[f].ops && e->fam[f].ops->scratch_free)
            e->fam[f].ops->scratch_free(s->fam[f]);
    free(s);
}

void sig_engine_free(sig_engine_t *e)
{
    if (!e) return;
    while (e->pool) {
        sig_scratch_t *n = e->pool->next;
        scratch_free(e, e->pool);
        e->pool = n;
    }
    for (size_t f = 0; f < e->n_fam; f++) {
        if (e->fam[f].ops && e->fam[f].ops->free && e->fam[f].state)
            e->fam[f].ops->free(e->fam[f].state);
        free(e->fam[f].rules);
    }
    for (size_t i = 0; i < e->n_recipes; i++)
        free(e->recipes[i].rule_id);
    free(e->recipes);
    for (size_t i = 0; i < e->n_calib; i++)
        free(e->calib[i].model);
    free(e->calib);
    if (e->embedder && e->embedder_free) e->embedder_free(e->embedder);
    pthread_mutex_destroy(&e->lock);
    free(e);
}

void *sig_engine_embedder(const sig_engine_t *e)
{
    return e->embedder;
}
void sig_engine_set_embedder(sig_engine_t *e, void *embedder, void (*free_fn)(void *))
{
    if (e->embedder && e->embedder_free && e->embedder != embedder) e->embedder_free(e->embedder);
    e->embedder = embedder;
    e->embedder_free = free_fn;
}
sig_jb_hooks_t *sig_engine_jb_hooks(sig_engine_t *e)
{
    return &e->jb_hooks;
}
const sig_jb_hooks_t *sig_engine_jb_hooks_const(const sig_engine_t *e)
{
    return &e->jb_hooks;
}

/* ---- scratch pool ---- */

static sig_scratch_t *scratch_get(const sig_engine_t *ce)
{
    sig_engine_t *e = (sig_engine_t *)ce; /* the pool is the engine's only mutable part */
    pthread_mutex_lock(&e->lock);
    sig_scratch_t *s = e->pool;
    if (s) e->pool = s->next;
    pthread_mutex_unlock(&e->lock);
    if (s) return s;
    s = calloc(1, sizeof *s);
    if (!s) abort();
    for (size_t f = 0; f < e->n_fam; f++)
        if (e->fam[f].ops && e->fam[f].ops->scratch_new && e->fam[f].n_rules > 0)
            s->fam[f] = e->fam[f].ops->scratch_new(e->fam[f].state);
    return s;
}

static void scratch_put(const sig_engine_t *ce, sig_scratch_t *s)
{
    sig_engine_t *e = (sig_engine_t *)ce;
    pthread_mutex_lock(&e->lock);
    s->next = e->pool;
    e->pool = s;
    pthread_mutex_unlock(&e->lock);
}

/* ---- evaluation ---- */

static const sig_recipe_rt_t *recipe_rt(const sig_engine_t *e, const cfg_recipe_t *rc)
{
    for (size_t i = 0; i < e->n_recipes; i++)
        if (e->recipes[i].recipe == rc) return &e->recipes[i];
    return NULL;
}

bool sig_recipe_uses(const sig_engine_t *e, const cfg_recipe_t *recipe, cfg_signal_family_t f)
{
    const sig_recipe_rt_t *rr = recipe_rt(e, recipe);
    return rr && (size_t)f < e->n_fam && (rr->uses >> f) & 1u;
}

int sig_eval(const sig_engine_t *e, const cfg_recipe_t *recipe, rq_t *rq, const sig_env_t *env,
             arena_t *a, sig_results_t *out)
{
    memset(out, 0, sizeof *out);
    const sig_recipe_rt_t *rr = recipe_rt(e, recipe);
    if (!rr) return 0;
    out->n = recipe->n_signals;
    out->items = arena_calloc(a, (out->n + 1) * sizeof(sig_result_t));
    for (size_t i = 0; i < out->n; i++)
        out->items[i].rule = &recipe->signals[i];
    if (!rr->uses) return 0;
    static const sig_env_t no_env;
    sig_ctx_t cx = {
        .e = e, .recipe = recipe, .rq = rq, .env = env ? env : &no_env, .a = a, .out = out};
    sig_scratch_t *scr = scratch_get(e);
    memcpy(cx.scratch, scr->fam, e->n_fam * sizeof *cx.scratch);
    sig_ref_t *refs = arena_alloc(a, (out->n + 1) * sizeof *refs);
    for (uint32_t left = rr->uses; left; left &= left - 1) {
        int f = __builtin_ctz(left); /* the used families, in id order */
        size_t n = 0;
        for (size_t i = 0; i < out->n; i++)
            if (recipe->signals[i].family == (cfg_signal_family_t)f)
                refs[n++] = (sig_ref_t){&recipe->signals[i], rr->rule_id[i], &out->items[i]};
        const sig_family_ops_t *ops = e->fam[f].ops;
        if (!ops || !ops->eval) {
            for (size_t i = 0; i < n; i++)
                refs[i].res->error = SIG_ERR_UNAVAILABLE;
            continue;
        }
        uint64_t t0 = clock_mono_us();
        ops->eval(e->fam[f].state, &cx, refs, n);
        uint32_t dt = (uint32_t)(clock_mono_us() - t0);
        out->family_ran[f] = true;
        out->family_latency_us[f] = dt;
        for (size_t i = 0; i < n; i++) {
            sig_result_t *r = refs[i].res;
            if (!r->latency_us) r->latency_us = dt;
            if (r->error) r->matched = false; /* SPEC §5.1 */
        }
    }
    scratch_put(e, scr);
    return 0;
}

const sig_result_t *sig_results_find(const sig_results_t *r, cfg_signal_family_t f,
                                     const char *name)
{
    if (!r || !name) return NULL;
    const cfg_sig_family_t *fam = cfg_signal_family(f);
    bool roles = fam && (fam->flags & CFG_SIGFAM_ROLE_LEAVES);
    const sig_result_t *first = NULL;
    for (size_t i = 0; i < r->n; i++) {
        const cfg_signal_t *sg = r->items[i].rule;
        if (!sg || sg->family != f) continue;
        const char *nm = cfg_signal_leaf_name(sg);
        if (!nm || strcmp(nm, name)) continue;
        if (!roles || r->items[i].matched) return &r->items[i];
        if (!first) first = &r->items[i];
    }
    return first;
}

/* ---- context calibration ---- */

#define CALIB_ALPHA   0.1
#define CALIB_MIN_N   10
#define CALIB_MIN_FAC 0.5
#define CALIB_MAX_FAC 2.0

static sig_calib_t *calib_find(const sig_engine_t *e, const char *model)
{
    for (size_t i = 0; i < e->n_calib; i++)
        if (!strcmp(e->calib[i].model, model)) return &e->calib[i];
    return NULL;
}

static sig_calib_t *calib_add(sig_engine_t *e, const char *model)
{
    if (e->n_calib == e->cap_calib) {
        size_t cap = e->cap_calib ? e->cap_calib * 2 : 8;
        sig_calib_t *v = realloc(e->calib, cap * sizeof *v);
        if (!v) return NULL;
        e->calib = v;
        e->cap_calib = cap;
    }
    char *m = strdup(model);
    if (!m) return NULL;
    sig_calib_t *c = &e->calib[e->n_calib++];
    *c = (sig_calib_t){.model = m, .ema = 1.0, .n = 0};
    return c;
}

void sig_context_observe(sig_engine_t *e, const char *model, double estimate, double prompt_tokens)
{
    if (!e || !model || !(estimate > 0) || !(prompt_tokens > 0)) return;
    double ratio = prompt_tokens / estimate;
    pthread_mutex_lock(&e->lock);
    sig_calib_t *c = calib_find(e, model);
    if (!c) c = calib_add(e, model);
    if (c) {
        c->ema = c->n == 0 ? ratio : c->ema + CALIB_ALPHA * (ratio - c->ema);
        c->n++;
    }
    pthread_mutex_unlock(&e->lock);
}

double sig_context_factor(const sig_engine_t *ce, const char *model, uint64_t *samples)
{
    sig_engine_t *e = (sig_engine_t *)ce;
    double f = 1.0;
    uint64_t n = 0;
    if (e && model) {
        pthread_mutex_lock(&e->lock);
        sig_calib_t *c = calib_find(e, model);
        if (c) {
            n = c->n;
            if (c->n >= CALIB_MIN_N)
                f = c->ema < CALIB_MIN_FAC   ? CALIB_MIN_FAC
                    : c->ema > CALIB_MAX_FAC ? CALIB_MAX_FAC
                                             : c->ema;
        }
        pthread_mutex_unlock(&e->lock);
    }
    if (samples) *samples = n;
    return f;
}

void sig_context_carry(sig_engine_t *to, const sig_engine_t *cfrom)
{
    sig_engine_t *from = (sig_engine_t *)cfrom;
    if (!to || !from || to == from) return;
    pthread_mutex_lock(&from->lock);
    size_t n = from->n_calib;
    sig_calib_t *copy = calloc(n + 1, sizeof *copy);
    for (size_t i = 0; copy && i < n; i++) {
        copy[i] = from->calib[i];
        copy[i].model = strdup(from->calib[i].model);
    }
    pthread_mutex_unlock(&from->lock);
    if (!copy) return;
    pthread_mutex_lock(&to->lock);
    for (size_t i = 0; i < n; i++) {
        if (!copy[i].model) continue;
        sig_calib_t *c = calib_find(to, copy[i].model);
        if (!c) c = calib_add(to, copy[i].model);
        if (c) {
            c->ema = copy[i].ema;
            c->n = copy[i].n;
        }
        free(copy[i].model);
    }
    pthread_mutex_unlock(&to->lock);
    free(copy);
}
