/* jailbreak.c - the jailbreak family (SPEC §5.4 jailbreak). p comes from
 * the pattern library of jailbreak_patterns.h (the curated library, plus a
 * rule's own jailbreak_patterns / benign_patterns compiled into a library
 * of its own); c (contrastive) comes from a hook the embedder work installs
 * on the engine (family.h sig_jb_hooks_t); x is the positive probability of
 * the rule's external classifier (classify.h), fetched before the signals
 * ran. When that classifier timed out or failed, method classifier falls
 * back to the patterns and hybrid counts x as 0 (result.fallback says why). Texts: the query, plus
 * the history (include_history) and tool results (include_tool_results); a
 * text equal to one already scanned for the rule is not scanned again, and
 * one this thread scanned in an earlier request is remembered (text_memo.h:
 * an agent re-sends its query and tool results every turn). */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/family.h"
#include "signals/jailbreak_patterns.h"
#include "signals/text_memo.h"

#include <stdlib.h>
#include <string.h>

enum { JBM_HYBRID = 0, JBM_PATTERNS, JBM_CONTRASTIVE, JBM_CLASSIFIER };

typedef struct jbf_rule {
    jb_lib_t *lib; /* own library, or NULL: the shared curated one */
    int method;
    double threshold;
} jbf_rule_t;

typedef struct jbf_state {
    jb_lib_t *curated;
    sig_rule_table_t rules; /* of jbf_rule_t */
} jbf_state_t;

static int jbf_rule(const sig_build_t *b, size_t r, void *rec, cfg_diags_t *d)
{
    const cfg_signal_t *sg = b->rules[r];
    jbf_rule_t *jr = rec;
    jr->threshold = sg->has_threshold ? sg->threshold : 0.7;
    const char *m = sg->method ? sg->method : "hybrid";
    jr->method = !strcmp(m, "patterns")      ? JBM_PATTERNS
                 : !strcmp(m, "contrastive") ? JBM_CONTRASTIVE
                 : !strcmp(m, "classifier")  ? JBM_CLASSIFIER
                                             : JBM_HYBRID;
    if (!sg->jailbreak_patterns.n && !sg->benign_patterns.n) return 0;
    char err[256];
    jr->lib = jb_lib_new((const char *const *)sg->jailbreak_patterns.v, sg->jailbreak_patterns.n,
                         (const char *const *)sg->benign_patterns.v, sg->benign_patterns.n, err,
                         sizeof err);
    if (jr->lib) return 0;
    sig_rule_error(d, b->cfg, sg, "%s", err);
    return -1;
}

static void jbf_rule_free(void *rec)
{
    jb_lib_free(((jbf_rule_t *)rec)->lib);
}

static int jbf_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    jbf_state_t *s = calloc(1, sizeof *s);
    *state = s;
    if (!b->n_rules) return 0;
    char err[256];
    s->curated = jb_lib_new(NULL, 0, NULL, 0, err, sizeof err);
    if (!s->curated) {
        sig_rule_error(d, b->cfg, b->rules[0], "jailbreak library: %s", err);
        return -1;
    }
    return sig_rule_table_init(&s->rules, b, sizeof(jbf_rule_t), jbf_rule, jbf_rule_free, d);
}

static void jbf_free(void *p)
{
    jbf_state_t *s = p;
    if (!s) return;
    sig_rule_table_deinit(&s->rules);
    jb_lib_free(s->curated);
    free(s);
}

/* The family's scratch: the pattern scratch and the memo of p per text
 * (text_memo.h), so the query and tool results an agent re-sends every turn
 * are scanned once per thread rather than once per request. */
typedef struct {
    jb_scratch_t *jb;
    sig_memo_t *memo;
} jbf_scratch_t;

static void jbf_scratch_free(void *p)
{
    jbf_scratch_t *x = p;
    if (!x) return;
    jb_scratch_free(x->jb);
    sig_memo_free(x->memo);
    free(x);
}

static void *jbf_scratch_new(const void *p)
{
    const jbf_state_t *s = p;
    if (!s->curated) return NULL;
    jbf_scratch_t *x = calloc(1, sizeof *x);
    if (!x) return NULL;
    x->jb = jb_scratch_new(s->curated);
    x->memo = sig_memo_new();
    for (size_t r = 0; x->jb && r < s->rules.n; r++) {
        const jbf_rule_t *jr = sig_rule_at(&s->rules, r);
        if (jr->lib) jb_scratch_grow(x->jb, jr->lib);
    }
    if (x->jb) return x;
    jbf_scratch_free(x);
    return NULL;
}

static double lib_p(const jb_lib_t *lib, jb_scratch_t *x, sig_text_t t, bool *failed)
{
    jb_result_t r;
    if (!t.n) return 0;
    if (jb_lib_score(lib, x, t.s, t.n, &r) != 0) *failed = true;
    return r.p;
}

/* Memo tags: the library, and whether the key is the decoded text or the
 * message's raw JSON content (the text is a function of it: rq_msg_text). */
#define TAG_TEXT(lib) ((uint64_t)(uintptr_t)(lib))
#define TAG_RAW(lib)  ((uint64_t)(uintptr_t)(lib) | 1u)

static bool memo_p(jbf_scratch_t *x, const sig_memo_key_t *k, double *p)
{
    const void *v;
    size_t vl;
    if (!sig_memo_get(x->memo, k, &v, &vl) || vl != sizeof *p) return false;
    memcpy(p, v, sizeof *p);
    return true;
}

/* p of the query: remembered, or scanned (and remembered unless it failed). */
static double query_p(const jb_lib_t *lib, jbf_scratch_t *x, sig_text_t t, bool *failed)
{
    double p;
    sig_memo_key_t k = sig_memo_key(TAG_TEXT(lib), t.s, t.n);
    if (memo_p(x, &k, &p)) return p;
    bool f = false;
    p = lib_p(lib, x->jb, t, &f);
    if (f)
        *failed = true;
    else
        sig_memo_put(x->memo, &k, &p, sizeof p);
    return p;
}

/* Texts one rule scanned this request, so an equal text (an agent's tool
 * loop re-reading the same file) is scored once: p depends on the text
 * alone, and a failed scan's failure is repeated with its p. raw: the same
 * for the messages' raw JSON contents (equal contents, equal texts), looked
 * at before the memo, whose key costs a hash of the content. */
#define JBF_SEEN 32
typedef struct {
    sig_text_t t[JBF_SEEN], raw[JBF_SEEN];
    double p[JBF_SEEN], raw_p[JBF_SEEN];
    bool failed[JBF_SEEN], raw_failed[JBF_SEEN];
    unsigned n, n_raw;
} jbf_seen_t;

static double lib_p_once(const jb_lib_t *lib, jb_scratch_t *x, sig_text_t t, bool *failed,
                         jbf_seen_t *seen)
{
    for (unsigned k = 0; k < seen->n; k++)
        if (seen->t[k].n == t.n && (seen->t[k].s == t.s || !memcmp(seen->t[k].s, t.s, t.n))) {
            if (seen->failed[k]) *failed = true;
            return seen->p[k];
        }
    bool f = false;
    double p = lib_p(lib, x, t, &f);
    if (f) *failed = true;
    if (seen->n < JBF_SEEN) {
        seen->t[seen->n] = t;
        seen->p[seen->n] = p;
        seen->failed[seen->n++] = f;
    }
    return p;
}

/* p of message k: remembered by its raw content (then not even decoded),
 * or scanned once per request (and remembered unless the scan failed). */
static double msg_p(const jb_lib_t *lib, jbf_scratch_t *x, sig_ctx_t *cx, size_t k, bool *failed,
                    jbf_seen_t *seen)
{
    const rq_msg_t *m = &cx->rq->msgs[k];
    sig_text_t raw = {cx->rq->body + m->content.off, m->content.len};
    for (unsigned j = 0; j < seen->n_raw; j++)
        if (seen->raw[j].n == raw.n && !memcmp(seen->raw[j].s, raw.s, raw.n)) {
            if (seen->raw_failed[j]) *failed = true;
            return seen->raw_p[j];
        }
    double p;
    bool f = false;
    sig_memo_key_t key = sig_memo_key(TAG_RAW(lib), raw.s, raw.n);
    if (!memo_p(x, &key, &p)) {
        p = lib_p_once(lib, x->jb, sig_ctx_msg(cx, k), &f, seen);
        if (f)
            *failed = true;
        else
            sig_memo_put(x->memo, &key, &p, sizeof p);
    }
    if (seen->n_raw < JBF_SEEN) {
        seen->raw[seen->n_raw] = raw;
        seen->raw_p[seen->n_raw] = p;
        seen->raw_failed[seen->n_raw++] = f;
    }
    return p;
}

/* Score of a hybrid hook (0 when unset or failing); a method that is the
 * hook alone (sole) reports its failure in *err instead. */
static double hook_score(sig_jb_hook_fn hook, sig_ctx_t *cx, const cfg_signal_t *sg, bool sole,
                         const char *unavailable, const char **err)
{
    const char *e2 = NULL;
    double v = hook ? hook(cx->e, cx, sg, &e2) : -1;
    if (v >= 0) return v;
    if (sole) *err = e2 ? e2 : unavailable;
    return 0;
}

static void jbf_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const jbf_state_t *s = p;
    jbf_scratch_t none = {0}, *x = cx->scratch[CFG_SIG_JAILBREAK];
    if (!n) return;
    if (!x) x = &none; /* no scratch: each scan makes its own, nothing is remembered */
    const sig_jb_hooks_t *hk = sig_engine_jb_hooks_const(cx->e);
    double curated_q = -1; /* the shared library on the query, computed once */
    for (size_t i = 0; i < n; i++) {
        const cfg_signal_t *sg = refs[i].rule;
        const jbf_rule_t *jr = sig_rule_at(&s->rules, refs[i].id);
        sig_result_t *res = refs[i].res;
        const jb_lib_t *lib = jr->lib ? jr->lib : s->curated;
        bool failed = false;
        double pp = 0;
        /* an external classifier (classify.h): its positive probability is x;
         * when it failed, the family falls back to the patterns */
        const sig_cls_out_t *cls = sig_cls_rule(cx, sg, res);
        int method =
            jr->method == JBM_CLASSIFIER && sg->classifier && !cls ? JBM_PATTERNS : jr->method;
        if (method != JBM_CONTRASTIVE && method != JBM_CLASSIFIER) {
            if (!jr->lib) {
                if (curated_q < 0) curated_q = query_p(lib, x, sig_ctx_query(cx), &failed);
                pp = curated_q;
            } else {
                pp = query_p(lib, x, sig_ctx_query(cx), &failed);
            }
            jbf_seen_t seen;
            seen.n = seen.n_raw = 0;
            if (sg->include_history) {
                const size_t *idx;
                size_t nh = sig_ctx_history(cx, &idx);
                for (size_t k = 0; k < nh; k++) {
                    double v = msg_p(lib, x, cx, idx[k], &failed, &seen);
                    if (v > pp) pp = v;
                }
            }
            if (sg->include_tool_results)
                for (size_t k = 0; k < cx->rq->n_msgs; k++) {
                    jrole_t ro = cx->rq->msgs[k].role;
                    if (ro != JROLE_TOOL && ro != JROLE_FUNCTION) continue;
                    double v = msg_p(lib, x, cx, k, &failed, &seen);
                    if (v > pp) pp = v;
                }
        }
        double c = 0, xs = 0;
        const char *err = res->error;
        if (method == JBM_HYBRID || method == JBM_CONTRASTIVE)
            c = hook_score(hk->contrastive, cx, sg, method == JBM_CONTRASTIVE,
                           "embedding_unavailable", &err);
        if (cls)
            xs = cls->positive;
        else if ((method == JBM_HYBRID && sg->classifier && !res->fallback) ||
                 method == JBM_CLASSIFIER)
            xs = hook_score(hk->classifier, cx, sg, method == JBM_CLASSIFIER,
                            "classifier_unavailable", &err);
        if (cls) {
            res->label = cls->label;
            res->latency_us = cls->latency_us;
        }
        double score = method == JBM_PATTERNS      ? pp
                       : method == JBM_CONTRASTIVE ? c
                       : method == JBM_CLASSIFIER  ? xs
                                                   : 1.0 - (1.0 - pp) * (1.0 - c) * (1.0 - xs);
        if (failed && !err) err = "scan_failed";
        res->error = err;
        res->score = score;
        res->value = pp;
        res->has_value = true;
        res->matched = !err && score >= jr->threshold && score > 0;
    }
}

CFG_SIG_FAMILY(sig_jailbreak_family, "jailbreak", "jailbreak", "jailbreak rules",
               "Prompt injection and jailbreak.", .threshold = "0.7",
               .flags = CFG_SIGFAM_CLASSIFIER,
               .fields =
                   (const cfg_field_t[]){
                       CFG_FENUM(cfg_signal_t, "method", method, "hybrid",
                                 "patterns|contrastive|classifier|hybrid", "scoring method"),
                       CFG_FLIST(cfg_signal_t, "jailbreak_patterns", jailbreak_patterns, NULL,
                                 "extra regexes (weight 0.9)"),
                       CFG_FLIST(cfg_signal_t, "benign_patterns", benign_patterns, NULL,
                                 "extra benign exemplars"),
                       CFG_SIGF_HISTORY,
                       CFG_FBOOL(cfg_signal_t, "include_tool_results", include_tool_results,
                                 "false", "scan tool results too"),
                       CFG_SIGF_CLASSIFIER,
                       {0}},
               .ops = &(const sig_family_ops_t){.compile = jbf_compile,
                                                .free = jbf_free,
                                                .scratch_new = jbf_scratch_new,
                                                .scratch_free = jbf_scratch_free,
                                                .eval = jbf_eval});
