/* saar_frontier.h - the under-served / fair-cost frontier of `bench saar
 * --frontier` (issue 19): tether-defaults run under a fixed list of
 * session-key settings (the ones tried while tuning the card-derived
 * quality gaps), each an extra policy "frontier-NN", and the points written
 * as frontier.csv and frontier.svg (x: under-served %, y: fair cost cut %),
 * beside the other rows of the run, the published reference policy and the
 * issue's goal corner. */
#ifndef TETHER_BENCH_SAAR_FRONTIER_H
#define TETHER_BENCH_SAAR_FRONTIER_H
#include "bench/saar_run.h"
#include "core/buf.h"
#include <stddef.h>

/* The settings (YAML flow-mapping bodies of global.router.session keys) and
 * their policy entries ("frontier-00", ...; factory: tether-defaults with
 * the setting applied). */
size_t saar_frontier_count(void);
const char *saar_frontier_setting(size_t i);
const saar_policy_entry_t *saar_frontier_entries(size_t *n);

/* One row per policy that ran (settings column for frontier-NN rows), then
 * the published reference. */
void saar_frontier_csv(const saar_results_t *r, buf_t *out);
void saar_frontier_svg(const saar_results_t *r, buf_t *out);
#endif
