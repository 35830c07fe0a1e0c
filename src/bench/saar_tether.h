/* saar_tether.h - the tether session policy (src/session/policy.h) as a
 * `bench saar` policy, with its ablations.
 *
 * Each turn goes through tether's real request path in process: the JSON
 * scanner, rq_from_chat (request facts: tool loop, bindings, H, C), the
 * session key from x-session-id, a decision from the benchmark config
 * (`coding` / `writing` keyword decisions), and sess_policy_decide. The
 * policy keeps its own simulated router memory per session (SPEC §9.2),
 * committed after every turn as a serving router would, with usage
 * simulated by the fair cache rule (a turn on the same model as the previous
 * one, not idle, reports min(P, previous P) cached tokens). It never reads
 * the phase label. Single-threaded, like every bench policy. */
#ifndef TETHER_BENCH_SAAR_TETHER_H
#define TETHER_BENCH_SAAR_TETHER_H
#include "bench/saar_run.h"
#include <stddef.h>

/* The benchmark config (YAML): the three BENCH_SAAR models priced as in the
 * spec, cards with their quality, two decisions, idle timeout 300 s. */
extern const char saar_tether_config_yaml[];

/* The `tether` row and its ablations (SAAR_TETHER_NO_* bits). */
int saar_tether_policy_new(saar_policy_t *out, unsigned ablations, char *err, size_t errlen);

/* Same, with extra global.router.session keys (a YAML flow mapping body such
 * as "stay_bias: 0.2, switch_margin: 0"; NULL for none) applied on top of the
 * benchmark config: for tuning experiments and tests. */
int saar_tether_policy_new_with(saar_policy_t *out, unsigned ablations, const char *session_yaml,
                                char *err, size_t errlen);

struct cfg_recipe;
/* The decision the benchmark's stand-in decision engine matches for a query:
 * the first decision of rc (config order) with a keyword signal found in q
 * (case-insensitive substring); -1 when none. Shared with the reference row
 * (saar_reference.c), so both see the same decisions. */
int saar_tether_match_decision(const struct cfg_recipe *rc, const char *q, size_t qn);
#endif
