/* pii.c - the pii family (SPEC §5.4 pii) over the recognizers of
 * pii_recognizers.h: the query is scanned once per request (history once
 * more when some rule sets include_history; a text this thread scanned in
 * an earlier request is taken from the scratch's memo, text_memo.h); each
 * rule then keeps the entities at or above its threshold whose type is not
 * allowed. */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/family.h"
#include "signals/pii_recognizers.h"
#include "signals/text_memo.h"

#include <stdlib.h>
#include <string.h>

#define PII_MAX_ENTITIES 256

typedef struct pii_rule {
    uint32_t allowed; /* PII_TYPE_BIT mask */
    double threshold;
} pii_rule_t;

static int pii_rule(const sig_build_t *b, size_t i, void *rec, cfg_diags_t *d)
{
    const cfg_signal_t *sg = b->rules[i];
    pii_rule_t *pr = rec;
    int rc = 0;
    pr->threshold = sg->has_threshold ? sg->threshold : 0.8;
    for (size_t k = 0; k < sg->pii_types_allowed.n; k++) {
        const char *t = sg->pii_types_allowed.v[k];
        int ty = pii_type_from_name(t, strlen(t));
        if (ty < 0) {
            sig_rule_error(d, b->cfg, sg,
                           "unknown PII type \"%s\" in pii_types_allowed (EMAIL_ADDRESS, "
                           "PHONE_NUMBER, CREDIT_CARD, IBAN_CODE, US_SSN, IP_ADDRESS, API_KEY)",
                           t);
            rc = -1;
            continue;
        }
        pr->allowed |= PII_TYPE_BIT(ty);
    }
    return rc;
}

static int pii_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    return sig_rule_table_compile(b, state, d, sizeof(pii_rule_t), pii_rule, NULL);
}

typedef struct pii_found {
    pii_entity_t *v;
    size_t n;
} pii_found_t;

/* The entities of a text: remembered in the scratch's memo (text_memo.h;
 * the query an agent re-sends every turn is scanned once per thread), or
 * scanned and remembered. memo may be NULL. */
static void scan_text(arena_t *a, sig_memo_t *memo, sig_text_t t, pii_found_t *f)
{
    pii_entity_t tmp[PII_MAX_ENTITIES];
    const pii_entity_t *src = tmp;
    const void *v;
    size_t n, vl;
    sig_memo_key_t k = sig_memo_key(0, t.s, t.n);
    if (sig_memo_get(memo, &k, &v, &vl)) {
        src = v;
        n = vl / sizeof *src;
    } else {
        n = pii_scan(t.s, t.n, tmp, PII_MAX_ENTITIES, NULL);
        sig_memo_put(memo, &k, tmp, n * sizeof *tmp);
    }
    if (!n) return;
    pii_entity_t *o = arena_alloc(a, (f->n + n) * sizeof *o);
    if (f->n) memcpy(o, f->v, f->n * sizeof *o);
    memcpy(o + f->n, src, n * sizeof *o);
    f->v = o;
    f->n += n;
}

static void rule_apply(const pii_rule_t *pr, const pii_found_t *f, sig_result_t *res)
{
    for (size_t i = 0; i < f->n; i++) {
        const pii_entity_t *en = &f->v[i];
        if (en->score < pr->threshold || (pr->allowed & PII_TYPE_BIT(en->type))) continue;
        res->matched = true;
        res->value += 1;
        if (en->score > res->score) {
            res->score = en->score;
            res->label = pii_type_name(en->type);
        }
    }
}

static void *pii_scratch_new(const void *state)
{
    return sig_memo_new();
}

static void pii_scratch_free(void *x)
{
    sig_memo_free(x);
}

static void pii_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const sig_rule_table_t *s = p;
    if (!n) return;
    sig_memo_t *memo = cx->scratch[CFG_SIG_PII];
    pii_found_t q = {0}, h = {0};
    scan_text(cx->a, memo, sig_ctx_query(cx), &q);
    bool need_hist = false;
    for (size_t i = 0; i < n; i++)
        need_hist |= refs[i].rule->include_history;
    if (need_hist) {
        const size_t *idx;
        size_t nh = sig_ctx_history(cx, &idx);
        for (size_t i = 0; i < nh; i++)
            scan_text(cx->a, memo, sig_ctx_msg(cx, idx[i]), &h);
    }
    for (size_t i = 0; i < n; i++) {
        sig_result_t *res = refs[i].res;
        const pii_rule_t *pr = sig_rule_at(s, refs[i].id);
        /* an external classifier decides when it answered (classify.h);
         * else the recognizers below (result.fallback says why) */
        const sig_cls_out_t *cls = sig_cls_rule(cx, refs[i].rule, res);
        if (cls) {
            double th = refs[i].rule->has_threshold ? refs[i].rule->threshold : 0.8;
            res->score = cls->positive;
            res->label = cls->label;
            res->latency_us = cls->latency_us;
            res->matched = cls->positive >= th && cls->positive > 0;
            continue;
        }
        if (res->error) continue;
        res->has_value = true;
        rule_apply(pr, &q, res);
        if (refs[i].rule->include_history) rule_apply(pr, &h, res);
    }
}

CFG_SIG_FAMILY(sig_pii_family, "pii", "pii", "PII rules", "PII detection.", .threshold = "0.8",
               .fields = (const cfg_field_t[]){CFG_FLIST(cfg_signal_t, "pii_types_allowed",
                                                         pii_types_allowed, NULL,
                                                         "entity types that do not match"),
                                               CFG_SIGF_HISTORY,
                                               CFG_SIGF_CLASSIFIER,
                                               {0}},
               .flags = CFG_SIGFAM_CLASSIFIER,
               .ops = &(const sig_family_ops_t){.compile = pii_compile,
                                                .free = sig_rule_table_free,
                                                .scratch_new = pii_scratch_new,
                                                .scratch_free = pii_scratch_free,
                                                .eval = pii_eval});
