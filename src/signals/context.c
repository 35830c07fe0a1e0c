/* context.c - the context family (SPEC §5.4 context): a token estimate of
 * the whole prompt from byte sizes the request facts already hold (no text
 * is unescaped): ceil(bytes/4) per message text, 4 per message, the tool
 * definitions, 765 per image; scaled by the per-model calibration factor
 * of engine.c once that model has 10 observed usages. */
#include "config/family.h"
#include "signals/family.h"

#include <math.h>
#include <stdint.h>

#define CTX_PER_MESSAGE 4
#define CTX_PER_IMAGE   765

/* ceil(n / 4) in integers: every term is a whole number, so summing them
 * as integers and converting once gives the same double as summing the
 * doubles (all sums stay far below 2^53) */
static uint64_t bytes_tokens(size_t n)
{
    return (uint64_t)n / 4 + (n % 4 != 0);
}

double sig_context_estimate(const rq_t *rq)
{
    if (!rq) return 0;
    uint64_t t = 0;
    for (size_t i = 0; i < rq->n_msgs; i++) {
        const rq_msg_t *m = &rq->msgs[i];
        /* images carry their (base64) data in the content bytes: count only text */
        size_t b = m->text_bytes;
        if (m->n_images) rq_msg_text((rq_t *)rq, i, &b);
        t += bytes_tokens(b) + CTX_PER_MESSAGE;
    }
    t += bytes_tokens(rq->tools.len);
    t += CTX_PER_IMAGE * (uint64_t)rq->n_images;
    return (double)t;
}

static void ctx_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    if (!n) return;
    double est = sig_context_estimate(cx->rq);
    const char *model = cx->env->calibration_model;
    if (model) est = round(est * sig_context_factor(cx->e, model, NULL));
    for (size_t i = 0; i < n; i++) {
        const cfg_signal_t *sg = refs[i].rule;
        sig_result_t *res = refs[i].res;
        res->value = est;
        res->has_value = true;
        res->matched = (!sg->has_min_tokens || est >= (double)sg->min_tokens) &&
                       (!sg->has_max_tokens || est <= (double)sg->max_tokens);
        res->score = res->matched ? 1.0 : 0.0;
    }
}

CFG_SIG_FAMILY(
    sig_context_family, "context", "context", "context-size rules", "Estimated prompt size.",
    .fields = (const cfg_field_t[]){CFG_FHAS(cfg_signal_t, "min_tokens", CFG_F_TOKENS, min_tokens,
                                             has_min_tokens, "at least this many tokens (48K, 1M)"),
                                    CFG_FHAS(cfg_signal_t, "max_tokens", CFG_F_TOKENS, max_tokens,
                                             has_max_tokens, "at most this many tokens"),
                                    {0}},
    .ops = &(const sig_family_ops_t){.eval = ctx_eval});
