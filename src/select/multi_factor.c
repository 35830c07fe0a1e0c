/* multi_factor.c - the `multi_factor` algorithm (SPEC §7): drop candidates
 * over max_ttft_ms / max_tpot_ms / max_cost_per_1m / max_inflight (when none
 * remain: on_no_candidates cheapest | first | fail), then
 * B = (w_q·Q + w_l·L + w_c·C + w_load·Load) / Σw over min-max normalised
 * factors (lower is better for latency, cost and load; missing data 0.5).
 * Q is the card's quality_score, L the TTFT p95 over 10 minutes, C
 * prompt_per_1m + completion_per_1m, Load the in-flight count. */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "select/select.h"
#include <string.h>

#define MF_WINDOW_MS (10ull * 60 * 1000)

typedef struct fac {
    double v[4]; /* Q, L, C, Load */
    bool has[4];
    double tpot;
    bool has_tpot;
} fac_t;

static void gather(const sel_input_t *in, const char *model, fac_t *f)
{
    memset(f, 0, sizeof *f);
    const cfg_model_card_t *card = in->cfg ? cfg_find_card(in->cfg, model) : NULL;
    if (card) f->v[0] = card->quality_score, f->has[0] = true;
    if (in->state) {
        f->has[1] = sel_latency_percentile(in->state, model, SEL_TTFT, 95, MF_WINDOW_MS, in->now_ms,
                                           1, &f->v[1]);
        f->has_tpot = sel_latency_percentile(in->state, model, SEL_TPOT, 95, MF_WINDOW_MS,
                                             in->now_ms, 1, &f->tpot);
        f->v[3] = (double)sel_inflight(in->state, model);
        f->has[3] = true;
    }
    const cfg_model_t *m = in->cfg ? cfg_find_model(in->cfg, model, strlen(model)) : NULL;
    if (m && (m->pricing.has_prompt || m->pricing.has_completion))
        f->v[2] = m->pricing.prompt_per_1m + m->pricing.completion_per_1m, f->has[2] = true;
}

static int sel_multi_factor(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    const cfg_node_t *b = in->decision->algorithm_block;
    fac_t *f = arena_calloc(a, r->n * sizeof *f);
    double lim;
    size_t kept = 0;
    for (size_t i = 0; i < r->n; i++) {
        gather(in, r->models[i], &f[i]);
        bool drop = false;
        if (dec_cfg_has_num(b, "max_ttft_ms", &lim) && f[i].has[1] && f[i].v[1] > lim) drop = true;
        if (dec_cfg_has_num(b, "max_tpot_ms", &lim) && f[i].has_tpot && f[i].tpot > lim)
            drop = true;
        if (dec_cfg_has_num(b, "max_cost_per_1m", &lim) && f[i].has[2] && f[i].v[2] > lim)
            drop = true;
        /* a candidate already carrying max_inflight requests takes no more */
        if (dec_cfg_has_num(b, "max_inflight", &lim) && f[i].has[3] && f[i].v[3] >= lim)
            drop = true;
        r->excluded[i] = drop;
        kept += !drop;
    }
    if (!kept) {
        const char *mode = dec_cfg_str(b, "on_no_candidates", "cheapest");
        if (!strcmp(mode, "fail")) {
            *why = "no candidate passes the multi_factor limits (on_no_candidates: fail)";
            return -2;
        }
        size_t keep = 0;
        if (strcmp(mode, "first"))
            for (size_t i = 1; i < r->n; i++)
                if (f[i].has[2] && (!f[keep].has[2] || f[i].v[2] < f[keep].v[2])) keep = i;
        r->excluded[keep] = false;
        r->note = strcmp(mode, "first") ? "no candidate passed the limits: kept the cheapest"
                                        : "no candidate passed the limits: kept the first";
    }
    double w[4] = {dec_cfg_num(b, "quality_weight", 0.25), dec_cfg_num(b, "latency_weight", 0.25),
                   dec_cfg_num(b, "cost_weight", 0.25), dec_cfg_num(b, "load_weight", 0.25)};
    double wsum = w[0] + w[1] + w[2] + w[3];
    if (wsum <= 0) {
        *why = "every multi_factor weight is zero";
        return -1;
    }
    for (int k = 0; k < 4; k++) {
        double mn = 0, mx = 0;
        bool any = false;
        for (size_t i = 0; i < r->n; i++) {
            if (r->excluded[i] || !f[i].has[k]) continue;
            if (!any || f[i].v[k] < mn) mn = f[i].v[k];
            if (!any || f[i].v[k] > mx) mx = f[i].v[k];
            any = true;
        }
        for (size_t i = 0; i < r->n; i++) {
            if (r->excluded[i]) continue;
            double x = 0.5;
            if (f[i].has[k]) {
                x = mx > mn ? (f[i].v[k] - mn) / (mx - mn) : 1.0;
                if (k > 0 && mx > mn) x = 1.0 - x; /* lower latency, cost, load is better */
            }
            r->scores[i] += w[k] * x;
        }
    }
    for (size_t i = 0; i < r->n; i++)
        r->scores[i] = r->excluded[i] ? 0 : r->scores[i] / wsum;
    return 0;
}

CFG_SELECTOR(
    sel_multi_factor_algo, "multi_factor", "Weighted factors.",
    .fields = (const cfg_field_t[]){CFG_FCUSTOM("quality_weight", NULL, "0.25"),
                                    CFG_FCUSTOM("latency_weight", NULL, "0.25"),
                                    CFG_FCUSTOM("cost_weight", NULL, "0.25"),
                                    CFG_FCUSTOM("load_weight", NULL, "0.25"),
                                    CFG_FCUSTOM("max_ttft_ms", NULL, "drop slower candidates"),
                                    CFG_FCUSTOM("max_tpot_ms", NULL, "drop slower candidates"),
                                    CFG_FCUSTOM("max_cost_per_1m", NULL, "drop pricier candidates"),
                                    CFG_FCUSTOM("max_inflight", NULL, "drop busier candidates"),
                                    CFG_FCUSTOM("on_no_candidates", NULL,
                                                "cheapest | first | fail (cheapest)"),
                                    {0}},
    .ops = &(const sel_algo_ops_t){.run = sel_multi_factor});
