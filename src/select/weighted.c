/* weighted.c - the `weighted` algorithm (SPEC §7): u = H(session key ‖
 * decision) mapped to [0, 1) picks a candidate by cumulative modelRefs
 * weight, so a session keeps its pick while the weights stand. The pick
 * gets 1.0, every other candidate 0.5·w/max w. */
#include "config/family.h"
#include "select/select.h"
#include <openssl/sha.h>
#include <stdlib.h>
#include <string.h>

/* u in [0, 1) from SHA-256(key "\x1f" decision). */
double sel_weighted_unit(const char *key, const char *decision)
{
    size_t kl = strlen(key), dl = decision ? strlen(decision) : 0;
    unsigned char stackbuf[512],
        *p = kl + dl + 1 <= sizeof stackbuf ? stackbuf : malloc(kl + dl + 1);
    if (!p) abort();
    memcpy(p, key, kl);
    p[kl] = 0x1f;
    if (dl) memcpy(p + kl + 1, decision, dl);
    unsigned char md[SHA256_DIGEST_LENGTH];
    SHA256(p, kl + dl + 1, md);
    if (p != stackbuf) free(p);
    uint64_t x = 0;
    for (int i = 0; i < 8; i++)
        x = (x << 8) | md[i];
    return (double)(x >> 11) / 9007199254740992.0; /* 53 bits / 2^53 */
}

static int sel_weighted(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    const cfg_decision_t *d = in->decision;
    if (!in->session_key || !*in->session_key) {
        *why = "no session key or request id";
        return -1;
    }
    double total = 0, maxw = 0;
    for (size_t i = 0; i < r->n; i++) {
        double w = d->model_refs[i].weight > 0 ? d->model_refs[i].weight : 0;
        total += w;
        if (w > maxw) maxw = w;
    }
    if (total <= 0) {
        *why = "every modelRefs weight is zero";
        return -1;
    }
    double u = sel_weighted_unit(in->session_key, d->name) * total, cum = 0;
    size_t pick = r->n;
    for (size_t i = 0; i < r->n; i++) {
        double w = d->model_refs[i].weight > 0 ? d->model_refs[i].weight : 0;
        cum += w;
        if (w > 0 && u < cum && pick == r->n) pick = i;
    }
    if (pick == r->n) /* rounding at the very top: the last weighted one */
        for (size_t i = r->n; i-- > 0;)
            if (d->model_refs[i].weight > 0) {
                pick = i;
                break;
            }
    for (size_t i = 0; i < r->n; i++) {
        double w = d->model_refs[i].weight > 0 ? d->model_refs[i].weight : 0;
        r->scores[i] = i == pick ? 1.0 : 0.5 * w / maxw;
    }
    return 0;
}

CFG_SELECTOR(sel_weighted_algo, "weighted",
             "Deterministic per-session weighted pick by modelRefs weight (no keys).",
             .fields = (const cfg_field_t[]){{0}},
             .ops = &(const sel_algo_ops_t){.run = sel_weighted});
