/* test_saar_workload.c - the workload generator reproduces the reference
 * (CPython) generator bit for bit, and scenario files load, validate and
 * name the offending field. */
#include "bench/saar_workload.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *data_path(const char *name)
{
    static char path[1024];
    const char *root = getenv("TETHER_SRC");
    snprintf(path, sizeof path, "%s/tests/data/bench/%s", root ? root : ".", name);
    return path;
}

static void test_first_turns_match_reference(void **st)
{
    (void)st;
    saar_turn_t turns[40 * 18];
    saar_generate(saar_scenario_find("balanced"), 20260530u, 40, 18, turns);
    /* values printed by the reference generator (CPython random.Random) */
    static const double demand[6] = {0.452145724197359,  0.629778838904007,   0.773264758632459,
                                     0.7737509093510334, 0.46778561709604877, 0.42079868824418987};
    static const int history[6] = {931, 1448, 2062, 2778, 3584, 4436};
    static const saar_phase_t phase[6] = {SAAR_PHASE_USER,      SAAR_PHASE_USER,
                                          SAAR_PHASE_TOOL_LOOP, SAAR_PHASE_TOOL_LOOP,
                                          SAAR_PHASE_USER,      SAAR_PHASE_USER};
    for (int t = 0; t < 6; t++) {
        assert_true(turns[t].demand == demand[t]);
        assert_int_equal(turns[t].history, history[t]);
        assert_int_equal(turns[t].phase, phase[t]);
        assert_int_equal(turns[t].prompt_tokens, 800 + history[t]);
        assert_false(turns[t].is_idle); /* session 0 drew choice = T + 1 */
    }
    assert_int_equal(turns[0].completion_tokens, 301);
    assert_int_equal(turns[0].base_model, SAAR_QWEN3_8B);
    assert_int_equal(turns[1].base_model, SAAR_QWEN3_32B);
}

static void test_last_turn_of_matrix_matches_reference(void **st)
{
    (void)st;
    saar_turn_t turns[40 * 18];
    saar_generate(saar_scenario_find("drift-heavy"), 20260534u, 40, 18, turns);
    const saar_turn_t *x = &turns[39 * 18 + 15];
    assert_int_equal(x->phase, SAAR_PHASE_TOOL_LOOP);
    assert_true(x->demand == 0.9298869932531821);
    assert_int_equal(x->history, 41985);
    x = &turns[39 * 18 + 17];
    assert_true(x->demand == 0.8163010747838417);
    assert_int_equal(x->history, 55168);
    assert_int_equal(x->completion_tokens, 366);
    assert_int_equal(x->base_model, SAAR_FRONTIER);
    /* drift slots take precedence: t % 6 in {1,2} */
    assert_int_equal(turns[39 * 18 + 7].phase, SAAR_PHASE_TOPIC_DRIFT);
}

static void test_single_idle_turns_match_reference(void **st)
{
    (void)st;
    saar_turn_t turns[40 * 18];
    saar_generate(saar_scenario_find("balanced"), 20260531u, 40, 18, turns);
    /* first idle turns (session, turn) of the reference */
    static const int want[5][2] = {{0, 9}, {1, 0}, {2, 0}, {3, 0}, {4, 0}};
    int k = 0;
    for (int i = 0; i < 40 * 18 && k < 5; i++)
        if (turns[i].is_idle) {
            assert_int_equal(turns[i].session, want[k][0]);
            assert_int_equal(turns[i].t, want[k][1]);
            k++;
        }
    assert_int_equal(k, 5);
    /* single mode: at most one idle turn per session */
    for (int s = 0; s < 40; s++) {
        int n = 0;
        for (int t = 0; t < 18; t++)
            n += turns[s * 18 + t].is_idle;
        assert_true(n <= 1);
    }
}

static void test_frequent_idle_every_quarter(void **st)
{
    (void)st;
    saar_turn_t turns[2 * 18];
    saar_generate(saar_scenario_find("idle-heavy"), 1u, 2, 18, turns);
    for (int t = 0; t < 18; t++)
        assert_int_equal(turns[18 + t].is_idle, t == 5 || t == 10 || t == 15);
}

static void test_base_choice_thresholds(void **st)
{
    (void)st;
    assert_int_equal(saar_base_choice(0.5499), SAAR_QWEN3_8B);
    assert_int_equal(saar_base_choice(0.55), SAAR_QWEN3_32B);
    assert_int_equal(saar_base_choice(0.7799), SAAR_QWEN3_32B);
    assert_int_equal(saar_base_choice(0.78), SAAR_FRONTIER);
    assert_int_equal(saar_model_index("qwen3-32b"), SAAR_QWEN3_32B);
    assert_int_equal(saar_model_index("gpt-x"), -1);
}

static void test_builtin_file_equals_builtin_table(void **st)
{
    (void)st;
    saar_scenario_t *sc = NULL;
    size_t n = 0;
    char err[400];
    int rc = saar_scenarios_load(data_path("scenarios_builtin.json"), &sc, &n, err, sizeof err);
    if (rc) fail_msg("%s", err);
    assert_int_equal(n, SAAR_N_BUILTIN);
    saar_turn_t *a = malloc(sizeof *a * 40 * 18), *b = malloc(sizeof *b * 40 * 18);
    for (size_t i = 0; i < n; i++) {
        assert_string_equal(sc[i].name, saar_builtin_scenarios[i].name);
        saar_generate(&sc[i], 20260532u, 40, 18, a);
        saar_generate(&saar_builtin_scenarios[i], 20260532u, 40, 18, b);
        assert_memory_equal(a, b, sizeof *a * 40 * 18);
    }
    free(a);
    free(b);
    free(sc);
}

static void test_custom_scenario_matches_reference(void **st)
{
    (void)st;
    saar_scenario_t *sc = NULL;
    size_t n = 0;
    char err[400];
    if (saar_scenarios_load(data_path("scenario_mixed.json"), &sc, &n, err, sizeof err))
        fail_msg("%s", err);
    assert_int_equal(n, 1);
    assert_string_equal(sc->name, "mixed-agent");
    assert_int_equal(sc->state.cycle, 9);
    assert_int_equal(sc->drift.slot[0], 6);
    saar_turn_t turns[3 * 25];
    saar_generate(sc, 8u, 3, 25, turns);
    const saar_turn_t *x = &turns[2 * 25 + 24];
    assert_int_equal(x->phase, SAAR_PHASE_TOOL_LOOP);
    assert_true(x->demand == 0.8903616517380981);
    assert_int_equal(x->history, 64000); /* the cap */
    assert_true(x->is_idle);
    assert_int_equal(x->completion_tokens, 380);
    saar_generate(sc, 7u, 3, 25, turns);
    assert_true(turns[30].demand == 0.6204968247004975);
    assert_int_equal(turns[30].history, 7832);
    free(sc);
}

static void expect_load_error(const char *file, const char *needle)
{
    saar_scenario_t *sc = (saar_scenario_t *)1;
    size_t n = 99;
    char err[400] = "";
    assert_int_equal(saar_scenarios_load(data_path(file), &sc, &n, err, sizeof err), -1);
    assert_null(sc);
    assert_int_equal(n, 0);
    if (!strstr(err, needle)) fail_msg("error '%s' lacks '%s'", err, needle);
}

static void test_bad_files_name_the_problem(void **st)
{
    (void)st;
    expect_load_error("scenario_bad_slot.json", "tool_slots value 4");
    expect_load_error("scenario_bad_missing.json", "missing field 'noise'");
    expect_load_error("scenario_bad_idle.json", "idle_mode 'sometimes'");
    expect_load_error("scenario_bad_json.json", "not valid JSON");
    expect_load_error("does_not_exist.json", "does_not_exist.json");
}

static void test_parse_rejects_duplicates_and_wrong_types(void **st)
{
    (void)st;
    saar_scenario_t *sc;
    size_t n;
    char err[400];
    const char *dup =
        "[{\"name\":\"a\",\"base_demand\":0.5,\"progress_weight\":0,\"phase_bonus\":0,"
        "\"wave_amplitude\":0,\"noise\":0,\"tool_cycle\":3,\"tool_slots\":[1],"
        "\"history_min\":1,\"history_max\":2},"
        "{\"name\":\"a\",\"base_demand\":0.5,\"progress_weight\":0,\"phase_bonus\":0,"
        "\"wave_amplitude\":0,\"noise\":0,\"tool_cycle\":3,\"tool_slots\":[1],"
        "\"history_min\":1,\"history_max\":2}]";
    assert_int_equal(saar_scenarios_parse(dup, strlen(dup), &sc, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "appears twice"));
    const char *typ = "{\"name\":\"b\",\"base_demand\":\"high\"}";
    assert_int_equal(saar_scenarios_parse(typ, strlen(typ), &sc, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "'base_demand' must be a number"));
    const char *empty = "[]";
    assert_int_equal(saar_scenarios_parse(empty, 2, &sc, &n, err, sizeof err), -1);
    assert_non_null(strstr(err, "no scenario"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_first_turns_match_reference),
        cmocka_unit_test(test_last_turn_of_matrix_matches_reference),
        cmocka_unit_test(test_single_idle_turns_match_reference),
        cmocka_unit_test(test_frequent_idle_every_quarter),
        cmocka_unit_test(test_base_choice_thresholds),
        cmocka_unit_test(test_builtin_file_equals_builtin_table),
        cmocka_unit_test(test_custom_scenario_matches_reference),
        cmocka_unit_test(test_bad_files_name_the_problem),
        cmocka_unit_test(test_parse_rejects_duplicates_and_wrong_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
