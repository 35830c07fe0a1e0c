/* test.h - the DSL TEST runner (SPEC §10.4): every TEST case goes through
 * route_eval (signals, decisions, selection, session policy; no upstream)
 * with the session context its WITH block describes, and is compared with
 * the expected route and EXPECT {model, reason, phase}. Thread-safe on
 * distinct configs. */
#ifndef TETHER_DSL_TEST_H
#define TETHER_DSL_TEST_H
#include "config/config.h"
#include "core/arena.h"
#include "dsl/ast.h"

typedef struct dsl_test_summary {
    size_t cases, passed, failed;
} dsl_test_summary_t;

/* Runs every case of every TEST in p against cfg (the compiled program).
 * Appends a line per case (PASS/FAIL with the diff of §10.4) and a total to
 * report. Returns 0 when the run happened (failures are in sum), -1 when the
 * engine could not be built (report says why). */
int dsl_test_run(const dsl_program_t *p, const cfg_t *cfg, buf_t *report, dsl_test_summary_t *sum);

/* The chat-completions body a case is evaluated with (exposed for tests):
 * history, the query, and end_with_tool_result / provider_state turns. */
int dsl_test_build_body(arena_t *a, const dsl_case_t *c, buf_t *body, char *err, size_t errlen);
#endif
