/* sel_last.c - a test-only selection algorithm, written exactly as a member
 * in src/select/ would be: `algorithm: {type: last, last: {step}}` scores the
 * candidates in reverse modelRefs order, the last one 1.0 and each earlier
 * one `step` (0.1) less. */
#include "config/family.h"
#include "decision/cfgnode.h"
#include "select/select.h"

static int sel_last(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    double step = dec_cfg_num(in->decision->algorithm_block, "step", 0.1);
    for (size_t i = 0; i < r->n; i++)
        r->scores[i] = 1.0 - step * (double)(r->n - 1 - i);
    return 0;
}

const cfg_selector_t sel_last_algo = {
    .name = "last",
    .doc = "Test-only: the last candidate first.",
    .fields = (const cfg_field_t[]){CFG_FCUSTOM("step", NULL, "0.1"), {0}},
    .ops = &(const sel_algo_ops_t){.run = sel_last},
};
