/* select.c - the selection step (SPEC §7): the algorithm named by the
 * decision (from the registry, registry.h), the single-candidate rule, the
 * fallback to static with its reason, and the result as JSON for traces.
 * Each algorithm lives in its own file. */
#include "select/select.h"
#include "config/family.h"
#include "core/clock.h"
#include "core/log.h"
#include <string.h>

sel_algo_fn sel_algo_find(const char *name)
{
    const cfg_selector_t *m = cfg_selector_find(name);
    return m ? m->ops->run : NULL;
}

static void pick_best(sel_result_t *r)
{
    long best = -1;
    for (size_t i = 0; i < r->n; i++) {
        if (r->scores[i] < 0) r->scores[i] = 0;
        if (r->scores[i] > 1) r->scores[i] = 1;
        if (r->scores[i] != r->scores[i]) r->scores[i] = 0; /* NaN */
        if (r->excluded[i]) continue;
        if (best < 0 || r->scores[i] > r->scores[best]) best = (long)i;
    }
    r->best = best < 0 ? 0 : (size_t)best;
}

int sel_run(const sel_input_t *in0, arena_t *a, sel_result_t *r)
{
    memset(r, 0, sizeof *r);
    sel_input_t in = *in0;
    if (!in.now_ms) in.now_ms = clock_mono_ms();
    const cfg_decision_t *d = in.decision;
    r->algorithm = d && d->algorithm ? d->algorithm : "static";
    r->used = r->algorithm;
    size_t n = d ? d->n_model_refs : 0;
    if (!n) {
        r->error = "the decision has no candidates";
        return -1;
    }
    r->n = n;
    r->models = arena_calloc(a, n * sizeof(char *));
    r->scores = arena_calloc(a, n * sizeof(double));
    r->excluded = arena_calloc(a, n * sizeof(bool));
    for (size_t i = 0; i < n; i++)
        r->models[i] = d->model_refs[i].model;
    if (n == 1) { /* a single candidate gets B = 1 */
        r->scores[0] = 1.0;
        return 0;
    }
    sel_algo_fn fn = sel_algo_find(r->algorithm);
    const char *why = NULL;
    int rc = fn ? fn(&in, a, r, &why) : -1;
    if (!fn) why = "unknown algorithm";
    if (rc == -2) {
        r->error = why ? why : "selection failed";
        return -1;
    }
    if (rc != 0) {
        memset(r->scores, 0, n * sizeof(double));
        memset(r->excluded, 0, n * sizeof(bool));
        r->note = NULL;
        sel_static(&in, a, r, NULL);
        r->used = "static";
        r->fallback_reason = why ? why : "algorithm failed";
        tlog(TLOG_DEBUG, "selection_fallback", "\"algorithm\":\"%s\",\"decision\":\"%s\"",
             r->algorithm, d->name ? d->name : "");
    }
    pick_best(r);
    return 0;
}

void sel_result_json(buf_t *b, const sel_result_t *r)
{
    buf_puts(b, "{\"algorithm\":");
    buf_json_cstr(b, r->algorithm);
    buf_puts(b, ",\"used\":");
    buf_json_cstr(b, r->used);
    buf_json_opt(b, "fallback_reason", r->fallback_reason);
    buf_json_opt(b, "note", r->note);
    buf_json_opt(b, "error", r->error);
    buf_puts(b, ",\"best\":");
    buf_json_cstr(b, r->n ? r->models[r->best] : NULL);
    buf_puts(b, ",\"scores\":{");
    for (size_t i = 0; i < r->n; i++) {
        if (i) buf_putc(b, ',');
        buf_json_cstr(b, r->models[i]);
        buf_printf(b, ":%.6g", r->scores[i]);
    }
    buf_puts(b, "}}");
}
