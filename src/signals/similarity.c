/* similarity.c - the similarity families' shared layer (similarity.h): the
 * embedder built from global.model_catalog.embeddings, the per-request
 * query vector, bank helpers and the jailbreak contrastive score. The
 * families themselves are embedding.c, domain.c, complexity.c, kb.c,
 * preference.c, reask.c, fact_check.c and user_feedback.c. */
#include "signals/similarity.h"
#include "signals/embed_async.h"
#include "signals/classify.h"

#include "config/global.h"
#include "core/clock.h"
#include "core/hash.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TL_DIMS 8192

static int node_int(const cfg_node_t *m, const char *k, int def)
{
    const cfg_node_t *v = m ? cfg_node_get(m, k) : NULL;
    if (!v || v->kind != CFG_NODE_SCALAR || !v->str) return def;
    char *end;
    long x = strtol(v->str, &end, 10);
    return *end ? def : (int)x;
}

static const char *node_str(const cfg_node_t *m, const char *k)
{
    const cfg_node_t *v = m ? cfg_node_get(m, k) : NULL;
    return v && v->kind == CFG_NODE_SCALAR ? v->str : NULL;
}

static void sim_free(void *p)
{
    sig_sim_t *s = p;
    if (!s) return;
    sig_bank_deinit(&s->jb);
    sig_bank_deinit(&s->benign);
    emb_free(s->emb);
    free(s);
}

/* Does any jailbreak rule of the config use the contrastive score? */
static bool wants_contrastive(const cfg_t *cfg)
{
    if (!cfg || !cfg->routing) return false;
    for (size_t r = 0; r < cfg->routing->n_recipes; r++) {
        const cfg_recipe_t *rc = &cfg->routing->recipes[r];
        for (size_t i = 0; i < rc->n_signals; i++) {
            const cfg_signal_t *g = &rc->signals[i];
            if (g->family != CFG_SIG_JAILBREAK) continue;
            if (!g->method || !strcmp(g->method, "hybrid") || !strcmp(g->method, "contrastive"))
                return true;
        }
    }
    return false;
}

static emb_t *make_embedder(const cfg_t *cfg, char *err, size_t errlen)
{
    const cfg_embeddings_t *ec =
        cfg && cfg->global_ext ? &cfg->global_ext->model_catalog.embeddings : NULL;
    const char *backend = ec && ec->backend ? ec->backend : "builtin";
    if (!strcmp(backend, "openai_compatible")) {
        const cfg_node_t *o = ec->openai_compatible;
        const char *fm = node_str(o, "failure_mode");
        const char *kenv = node_str(o, "api_key_env");
        emb_openai_opts_t opt = {
            .base_url = node_str(o, "base_url"),
            .model = node_str(o, "model"),
            .api_key = kenv ? getenv(kenv) : NULL,
            .dims = node_int(o, "dimensions", 0),
            .timeout_ms = node_int(o, "timeout_ms", 2000),
            .max_retries = node_int(o, "max_retries", 1),
            .cache_entries = (size_t)node_int(o, "cache_entries", 10000),
            .fail_closed = fm && !strcmp(fm, "closed"),
            .batch_max = node_int(o, "batch_max", 64),
            .batch_window_ms = node_int(o, "batch_window_ms", 0),
        };
        return emb_openai_new(&opt, err, errlen);
    }
    int dims = node_int(ec ? ec->builtin : NULL, "dimensions",
                        ec && ec->dimensions ? (int)ec->dimensions : 1024);
    if (dims < 256 || dims > 4096) {
        snprintf(err, errlen, "builtin.dimensions must be within 256..4096 (got %d)", dims);
        return NULL;
    }
    return emb_builtin_new(dims);
}

sig_sim_t *sig_sim_get(const sig_build_t *b, cfg_diags_t *diags)
{
    sig_sim_t *s = sig_engine_embedder(b->e);
    if (s) return s;
    char err[256] = "";
    emb_t *e = make_embedder(b->cfg, err, sizeof err);
    if (!e) {
        if (b->n_rules)
            sig_rule_error(diags, b->cfg, b->rules[0], "embedder: %s", err);
        else
            cfg_diags_add(diags, CFG_DIAG_ERROR, NULL, 0, 0, "global.model_catalog.embeddings",
                          "%s", err);
        return NULL;
    }
    static atomic_uint_fast64_t next_gen = 1;
    s = calloc(1, sizeof *s);
    if (!s) abort();
    s->emb = e;
    s->gen = atomic_fetch_add(&next_gen, 1);
    if (emb_dims(e) == 0) emb_openai_probe(e); /* before any sharing; failure retried by banks */
    if (wants_contrastive(b->cfg)) {
        s->has_contrastive = true;
        sig_bank_init(&s->jb, e, sig_bank_jailbreak, sig_bank_count(sig_bank_jailbreak));
        sig_bank_init(&s->benign, e, sig_bank_benign, sig_bank_count(sig_bank_benign));
        sig_engine_jb_hooks(b->e)->contrastive = sig_jailbreak_contrastive_score;
    }
    sig_engine_set_embedder(b->e, s, sim_free);
    return s;
}

const sig_sim_t *sig_sim_of(const sig_engine_t *e)
{
    return sig_engine_embedder(e);
}

static const float *sim_embed(const sig_sim_t *s, arena_t *a, const sig_emb_results_t *pre,
                              const char *text, size_t n, const char **err)
{
    int d = emb_dims(s->emb);
    if (!d) { /* remote dimensions still unknown (probe failed) */
        *err = emb_status_str(EMB_ERR_REMOTE);
        return NULL;
    }
    char *wbuf =
        n > 8 * SIG_WINDOW_CPS ? arena_alloc(a, 8 * SIG_WINDOW_CPS + 2) : arena_alloc(a, n + 1);
    const char *w;
    size_t wn = sig_query_window(text, n, wbuf, &w);
    if (pre && emb_openai_conf(s->emb)) /* on a worker: never call the remote from here */
        return sig_emb_lookup(pre, w, wn, err);
    float *v = arena_alloc(a, sizeof(float) * (size_t)d);
    emb_status_t st = emb_embed(s->emb, w, wn, v);
    if (st != EMB_OK) {
        *err = emb_status_str(st);
        return NULL;
    }
    return v;
}

const float *sig_sim_embed(const sig_sim_t *s, arena_t *a, const char *text, size_t n,
                           const char **err)
{
    return sim_embed(s, a, NULL, text, n, err);
}

const float *sig_sim_embed_cx(const sig_sim_t *s, sig_ctx_t *cx, const char *text, size_t n,
                              const char **err)
{
    return sim_embed(s, cx->a, cx->env ? cx->env->emb : NULL, text, n, err);
}

/* One vector per thread: every similarity family of a request reads the
 * same query, so it is embedded once. Keyed by embedder and text hash.
 * An agent's query (its latest user text) stays the same over the turns of
 * a tool loop, so the vector usually outlives the request; so does the
 * query's contrastive score (contrastive, < 0 until computed), which only
 * depends on the vector and the sig_sim_t's banks (owner_gen: a config
 * reload's new sig_sim_t never reads an old one's memo, even at the same
 * address). */
static __thread struct {
    const void *owner;
    uint64_t owner_gen;
    uint64_t key;
    size_t len;
    int dims;
    double contrastive;
    float vec[TL_DIMS];
} tl_query;

const float *sig_sim_query(const sig_sim_t *s, sig_ctx_t *cx, const char **err)
{
    sig_text_t q = sig_ctx_query(cx);
    int d = emb_dims(s->emb);
    uint64_t key = hash_xxh64(q.s, q.n, (uint64_t)(uintptr_t)s->emb);
    if (d > 0 && d <= TL_DIMS && tl_query.owner == s && tl_query.owner_gen == s->gen &&
        tl_query.key == key && tl_query.len == q.n && tl_query.dims == d)
        return tl_query.vec;
    const float *v = sig_sim_embed_cx(s, cx, q.s, q.n, err);
    if (!v || d > TL_DIMS) return v;
    memcpy(tl_query.vec, v, sizeof(float) * (size_t)d);
    tl_query.owner = s;
    tl_query.owner_gen = s->gen;
    tl_query.contrastive = -1;
    tl_query.key = key;
    tl_query.len = q.n;
    tl_query.dims = d;
    return tl_query.vec;
}

bool sig_sim_bank_ok(sig_bank_t *b, const char **err)
{
    if (sig_bank_ensure(b, (int64_t)clock_mono_ms())) return true;
    *err = emb_status_str(b->last_status == EMB_OK ? EMB_ERR_REMOTE : b->last_status);
    return false;
}

emb_status_t sig_sim_bank_from(sig_bank_t *b, const sig_sim_t *s, const cfg_strlist_t *list,
                               const char *const *extra, size_t n_extra)
{
    size_t nl = list ? list->n : 0;
    const char **v = malloc(sizeof(char *) * (nl + n_extra + 1));
    if (!v) abort();
    for (size_t i = 0; i < nl; i++)
        v[i] = list->v[i];
    for (size_t i = 0; i < n_extra; i++)
        v[nl + i] = extra[i];
    emb_status_t st = sig_bank_init(b, s->emb, v, nl + n_extra);
    free(v);
    return st;
}

void *sig_sim_state_new(const sig_build_t *b, cfg_diags_t *diags, size_t size)
{
    sig_sim_t *sim = sig_sim_get(b, diags);
    if (!sim) return NULL;
    sig_sim_t **s = calloc(1, size);
    if (!s) abort();
    *s = sim;
    return s;
}

sig_sim_rules_t *sig_sim_rules_new(const sig_build_t *b, cfg_diags_t *diags, size_t n_banks)
{
    sig_sim_rules_t *s = sig_sim_state_new(b, diags, sizeof *s);
    if (!s) return NULL;
    s->bank = calloc(n_banks + 1, sizeof *s->bank);
    if (!s->bank) abort();
    s->n = n_banks;
    return s;
}

int sig_sim_rules_compile(const sig_build_t *b, void **state, cfg_diags_t *diags, double def_thr,
                          bool with_label, sig_sim_bank_fn bank_fn)
{
    if (!b->n_rules) return 0;
    sig_sim_rules_t *s = sig_sim_rules_new(b, diags, b->n_rules);
    if (!s) return -1;
    s->def_thr = def_thr;
    s->with_label = with_label;
    int rc = 0;
    for (size_t i = 0; i < b->n_rules; i++)
        if (bank_fn(b, i, &s->bank[i], s->sim, diags)) rc = -1;
    *state = s;
    return rc;
}

void sig_sim_rules_eval_best(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const sig_sim_rules_t *s = state;
    if (!s || !n) return;
    const char *err = NULL;
    const float *q = sig_sim_query(s->sim, cx, &err);
    int best = -1;
    double b1 = -1, b2 = 0;
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        sig_bank_t *bank = &s->bank[refs[i].id];
        if (!q || !sig_sim_bank_ok(bank, &err)) {
            res->error = err;
            continue;
        }
        res->score = sig_bank_score(bank, q, SIG_AGG_MAX, 0);
        res->value = res->score;
        res->has_value = true;
        if (res->score > b1) {
            b2 = b1 < 0 ? 0 : b1;
            b1 = res->score;
            best = (int)i;
        } else if (res->score > b2) {
            b2 = res->score;
        }
    }
    if (best < 0) return;
    const cfg_signal_t *g = refs[best].rule;
    if (b1 >= sig_rule_thr(g, s->def_thr) && b1 - b2 >= g->margin) {
        refs[best].res->matched = true;
        if (s->with_label) refs[best].res->label = g->name;
    }
}

void sig_sim_rules_free(void *p)
{
    sig_sim_rules_t *s = p;
    for (size_t i = 0; i < s->n; i++)
        sig_bank_deinit(&s->bank[i]);
    free(s->bank);
    free(s);
}

size_t sig_bank_count(const char *const *v)
{
    size_t n = 0;
    while (v[n])
        n++;
    return n;
}

/* ------------------------------------------------------------ contrastive */

static __thread size_t tl_contrastive_scans;

size_t sig_sim_contrastive_scans(void)
{
    return tl_contrastive_scans;
}

double sig_jailbreak_contrastive_text(const sig_sim_t *s, const float *q)
{
    tl_contrastive_scans++;
    double j = sig_bank_best(&s->jb, q, NULL), b = sig_bank_best(&s->benign, q, NULL);
    double c = (j - b) / 0.15;
    return c < 0 ? 0 : c > 1 ? 1 : c;
}

double sig_jailbreak_contrastive_score(const sig_engine_t *e, sig_ctx_t *cx,
                                       const cfg_signal_t *rule, const char **err)
{
    sig_sim_t *s = (sig_sim_t *)sig_sim_of(e);
    if (!s || !s->has_contrastive) {
        *err = "contrastive_unavailable";
        return -1;
    }
    if (!sig_sim_bank_ok(&s->jb, err) || !sig_sim_bank_ok(&s->benign, err)) return -1;
    const float *q = sig_sim_query(s, cx, err);
    if (!q) return -1;
    double c;
    if (q == tl_query.vec) { /* the thread's query vector: its score is memoised with it */
        if (tl_query.contrastive < 0) tl_query.contrastive = sig_jailbreak_contrastive_text(s, q);
        c = tl_query.contrastive;
    } else {
        c = sig_jailbreak_contrastive_text(s, q);
    }
    if (rule && rule->include_history) {
        const size_t *idx;
        size_t nh = sig_ctx_history(cx, &idx);
        for (size_t i = 0; i < nh && c < 1; i++) {
            sig_text_t t = sig_ctx_msg(cx, idx[i]);
            const float *v = sig_sim_embed_cx(s, cx, t.s, t.n, err);
            if (!v) return -1;
            double h = sig_jailbreak_contrastive_text(s, v);
            if (h > c) c = h;
        }
    }
    return c;
}

void sig_sim_eval_cls_first(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n,
                            double def_thr,
                            void (*banks)(const void *state, sig_ctx_t *cx, sig_ref_t *refs,
                                          size_t n))
{
    sig_ref_t *rest = n ? arena_alloc(cx->a, n * sizeof *rest) : NULL;
    size_t nr = 0;
    for (size_t i = 0; i < n; i++)
        if (!sig_cls_verdict(cx, &refs[i], def_thr)) rest[nr++] = refs[i];
    if (nr || !n) banks(state, cx, rest, nr);
}
