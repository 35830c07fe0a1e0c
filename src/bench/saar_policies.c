/* saar_policies.c - the policy registry of `bench saar` and the two baseline
 * policies (prompt-level: the base choice every turn; sticky: hold the first
 * turn's model). The reference session policy and its published ablations
 * are in src/bench/saar_reference.c; tether and its ablations run the
 * session policy of issue 5 (src/bench/saar_tether.c). */
#include "bench/saar_reference.h"
#include "bench/saar_run.h"
#include "bench/saar_tether.h"
#include <string.h>

/* ==== REGISTRATION POINT for the session policy (issue 5) ================
 * Implement, e.g. in src/bench/saar_tether.c:
 *   int saar_tether_policy_new(saar_policy_t *out, unsigned ablations,
 *                              char *err, size_t errlen);
 * that runs each turn through tether's real request path (scanner, session
 * identity, decision, session policy, trace) honouring the SAAR_TETHER_NO_*
 * bits in `ablations`, declare it in saar_run.h, and replace NULL below with
 * saar_tether_policy_new. Every tether row then runs; until then they are
 * reported as "not registered". */
#define SAAR_TETHER_FACTORY saar_tether_policy_new
/* ========================================================================== */

#define TETHER_SKIP_ABOUT "the tether session policy (SPEC 9, default knobs)"

static const saar_policy_entry_t registry[] = {
    {"prompt-level", "the base choice on every turn", saar_policy_prompt_level_new, 0},
    {"sticky", "hold the first turn's model for the whole session", saar_policy_sticky_new, 0},
    {"reference-session", "the published reference session policy (BENCH_SAAR.md)",
     saar_reference_policy_new, SAAR_REF_FULL},
    {"reference-no-idle-boundary", "the reference without its idle boundary",
     saar_reference_policy_new, SAAR_REF_NO_IDLE_BOUNDARY},
    {"reference-no-drift-reset", "the reference without its decision-drift reset",
     saar_reference_policy_new, SAAR_REF_NO_DRIFT_RESET},
    {"reference-drift-vs-previous",
     "the reference with SPEC 9.5's drift rule (decision differs from the previous turn's)",
     saar_reference_policy_new, SAAR_REF_DRIFT_VS_PREVIOUS},
    {"locks-only", "the reference's locks, otherwise the base choice", saar_reference_policy_new,
     SAAR_REF_LOCKS_ONLY},
    {"tether", TETHER_SKIP_ABOUT, SAAR_TETHER_FACTORY, SAAR_TETHER_FULL},
    {"tether-defaults",
     "tether with the default session config and only the benchmark's model cards",
     SAAR_TETHER_FACTORY, SAAR_TETHER_DEFAULTS},
    {"tether-no-tool-lock", "tether without the tool-loop lock", SAAR_TETHER_FACTORY,
     SAAR_TETHER_NO_TOOL_LOCK},
    {"tether-no-state-lock", "tether without the provider-state lock", SAAR_TETHER_FACTORY,
     SAAR_TETHER_NO_STATE_LOCK},
    {"tether-no-drift-reset", "tether without the decision-drift reset", SAAR_TETHER_FACTORY,
     SAAR_TETHER_NO_DRIFT_RESET},
    {"tether-no-idle-reset", "tether without the idle reset", SAAR_TETHER_FACTORY,
     SAAR_TETHER_NO_IDLE_RESET},
    {"tether-no-price-multiplier", "tether without the cache-cost multiplier K",
     SAAR_TETHER_FACTORY, SAAR_TETHER_NO_PRICE_MULTIPLIER},
};

const saar_policy_entry_t *saar_policy_registry(size_t *n)
{
    *n = sizeof registry / sizeof registry[0];
    return registry;
}

const saar_policy_entry_t *saar_policy_lookup(const char *name)
{
    for (size_t i = 0; name && i < sizeof registry / sizeof registry[0]; i++)
        if (!strcmp(registry[i].name, name)) return &registry[i];
    return NULL;
}

static int top_score(const saar_turn_ctx_t *ctx)
{
    int best = 0;
    for (int m = 1; m < ctx->n_models; m++)
        if (ctx->base_scores[m] > ctx->base_scores[best]) best = m;
    return best;
}

static int prompt_level_choose(void *state, const saar_turn_ctx_t *ctx)
{
    (void)state;
    return top_score(ctx);
}

static int sticky_choose(void *state, const saar_turn_ctx_t *ctx)
{
    (void)state;
    return ctx->prev_model >= 0 ? ctx->prev_model : top_score(ctx);
}

int saar_policy_prompt_level_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen)
{
    (void)variant, (void)err, (void)errlen;
    *out = (saar_policy_t){.name = "prompt-level", .choose = prompt_level_choose};
    return 0;
}

int saar_policy_sticky_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen)
{
    (void)variant, (void)err, (void)errlen;
    *out = (saar_policy_t){.name = "sticky", .choose = sticky_choose};
    return 0;
}
