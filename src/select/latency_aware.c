/* latency_aware.c - the `latency_aware` algorithm (SPEC §7): TTFT and TPOT
 * percentiles (ttft_percentile, tpot_percentile: 90) over `window` (10m)
 * with at least min_samples (3); r = mean(TPOT_p / min TPOT_p,
 * TTFT_p / min TTFT_p) over the metrics a candidate has, B = 1/r, 0.5
 * without data. No data for any candidate: static. */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "select/select.h"

static int sel_latency_aware(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    const cfg_node_t *b = in->decision->algorithm_block;
    if (!in->state) {
        *why = "no latency data";
        return -1;
    }
    double pct[2] = {dec_cfg_num(b, "ttft_percentile", 90), dec_cfg_num(b, "tpot_percentile", 90)};
    uint64_t window = dec_cfg_duration_ms(b, "window", 10ull * 60 * 1000);
    double ms = dec_cfg_num(b, "min_samples", 3);
    size_t min_samples = ms > 0 ? (size_t)ms : 0;
    double *v = arena_calloc(a, 2 * r->n * sizeof(double));
    bool *has = arena_calloc(a, 2 * r->n * sizeof(bool));
    double mn[2] = {0, 0};
    bool any[2] = {false, false};
    for (size_t i = 0; i < r->n; i++)
        for (int m = 0; m < 2; m++) {
            size_t k = 2 * i + (size_t)m;
            has[k] = sel_latency_percentile(in->state, r->models[i], (sel_metric_t)m, pct[m],
                                            window, in->now_ms, min_samples, &v[k]) &&
                     v[k] > 0;
            if (has[k] && (!any[m] || v[k] < mn[m])) mn[m] = v[k];
            any[m] |= has[k];
        }
    if (!any[0] && !any[1]) {
        *why = "no latency data";
        return -1;
    }
    for (size_t i = 0; i < r->n; i++) {
        double sum = 0;
        int n = 0;
        for (int m = 0; m < 2; m++)
            if (has[2 * i + (size_t)m]) sum += v[2 * i + (size_t)m] / mn[m], n++;
        r->scores[i] = n ? 1.0 / (sum / n) : 0.5;
    }
    return 0;
}

CFG_SELECTOR(sel_latency_aware_algo, "latency_aware", "Latency percentiles.",
             .fields = (const cfg_field_t[]){CFG_FCUSTOM("ttft_percentile", NULL, "90"),
                                             CFG_FCUSTOM("tpot_percentile", NULL, "90"),
                                             CFG_FCUSTOM("window", NULL, "10m"),
                                             CFG_FCUSTOM("min_samples", NULL, "3"),
                                             {0}},
             .ops = &(const sel_algo_ops_t){.run = sel_latency_aware});
