/* test_saar_request.c - every generated request of the full matrix carries
 * its phase on the wire (and only on the wire): the checker finds a tool
 * loop exactly on tool_loop turns, provider state issued by the session's
 * current model exactly on provider_state turns; drift turns read as a
 * different topic; idle turns come after the idle timeout; demand shows only
 * as base scores; no label leaks into the body. */
#include "bench/saar_checker.h"
#include "bench/saar_request.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int has_any(const char *text, const char *const *words)
{
    for (; *words; words++)
        if (strstr(text, *words)) return 1;
    return 0;
}

static const char *const writing_words[] = {"poem",  "story", "essay", "prose",
                                            "novel", "haiku", NULL};
static const char *const coding_words[] = {"test",    "function", "build", "code",
                                           "compile", "thread",   "bug",   NULL};

static void test_every_turn_of_the_matrix(void **st)
{
    (void)st;
    saar_request_t req;
    saar_request_init(&req);
    saar_turn_t *turns = malloc(sizeof *turns * 40 * 18);
    long n_tool = 0, n_state = 0, n_drift = 0, n_idle = 0;
    for (int s = 0; s < SAAR_N_BUILTIN; s++) {
        for (uint32_t seed = 20260530u; seed < 20260535u; seed++) {
            saar_generate(&saar_builtin_scenarios[s], seed, 40, 18, turns);
            uint64_t clock = 0;
            for (int i = 0; i < 40 * 18; i++) {
                const saar_turn_t *x = &turns[i];
                int owner = (i * 7 + s) % SAAR_N_MODELS, other = (owner + 1) % SAAR_N_MODELS;
                uint64_t prev_clock = clock;
                clock = saar_turn_clock_ms(x, clock);
                saar_request_build(&req, x, x->t ? x - 1 : NULL, owner, clock);
                const char *body = req.body.data;

                saar_check_t c, facts;
                assert_int_equal(saar_check_scan(body, req.body.len, &facts), 0);
                c = facts;
                saar_check_judge(&c, saar_models[owner].name, saar_models[other].name);
                saar_verdict_t want = x->phase == SAAR_PHASE_TOOL_LOOP ? SAAR_UNSAFE_TOOL_LOOP
                                      : x->phase == SAAR_PHASE_PROVIDER_STATE
                                          ? SAAR_UNSAFE_PROVIDER_STATE
                                          : SAAR_SAFE;
                assert_int_equal(c.verdict, want);
                assert_int_equal(c.has_provider_state, x->phase == SAAR_PHASE_PROVIDER_STATE);
                if (c.has_provider_state)
                    assert_string_equal(c.state_owner, saar_models[owner].name);
                /* staying on the current model is always safe */
                c = facts;
                saar_check_judge(&c, saar_models[owner].name, saar_models[owner].name);
                assert_int_equal(c.verdict, SAAR_SAFE);

                /* topic */
                const char *text = saar_turn_text(x);
                assert_non_null(strstr(body, text));
                if (x->phase == SAAR_PHASE_TOPIC_DRIFT) {
                    assert_true(has_any(text, writing_words));
                    assert_false(has_any(text, coding_words));
                    n_drift++;
                } else {
                    assert_true(has_any(text, coding_words));
                    assert_false(has_any(text, writing_words));
                }
                /* headers, clock, scores */
                char sid[32];
                snprintf(sid, sizeof sid, "sess-%03d", x->session);
                assert_string_equal(req.headers[0].name, "x-session-id");
                assert_string_equal(req.headers[0].value, sid);
                if (x->t > 0) {
                    uint64_t gap = clock - prev_clock;
                    assert_int_equal(gap > SAAR_IDLE_TIMEOUT_S * 1000ull, x->is_idle);
                }
                for (int m = 0; m < SAAR_N_MODELS; m++)
                    if (m != x->base_model)
                        assert_true(req.base_scores[x->base_model] > req.base_scores[m]);
                /* nothing but the wire shape tells the phase */
                assert_null(strstr(body, "tool_loop"));
                assert_null(strstr(body, "provider_state"));
                assert_null(strstr(body, "topic_drift"));
                assert_null(strstr(body, "demand"));
                n_tool += x->phase == SAAR_PHASE_TOOL_LOOP;
                n_state += x->phase == SAAR_PHASE_PROVIDER_STATE;
                n_idle += x->is_idle;
            }
        }
    }
    assert_true(n_tool > 0 && n_state > 0 && n_drift > 0 && n_idle > 0);
    free(turns);
    saar_request_deinit(&req);
}

static void test_base_scores_break_threshold_ties_towards_base(void **st)
{
    (void)st;
    const double ds[] = {0.0, 0.3, 0.55, 0.5499999, 0.78, 0.7799999, 1.0};
    for (size_t i = 0; i < sizeof ds / sizeof ds[0]; i++) {
        double sc[SAAR_N_MODELS];
        saar_base_scores(ds[i], sc);
        int base = saar_base_choice(ds[i]);
        for (int m = 0; m < SAAR_N_MODELS; m++)
            if (m != base) assert_true(sc[base] > sc[m]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_turn_of_the_matrix),
        cmocka_unit_test(test_base_scores_break_threshold_ties_towards_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
