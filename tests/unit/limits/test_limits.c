/* test_limits.c - which counters a request meets and the verdict
 * (limits/limits.h) on a loaded config, with the local counters
 * (limits/table.h): rules match by scope and name ("*" counts each subject
 * on its own), a request at its limit is denied and not counted, tokens and
 * spend come from recorded usage, a spent downgrade budget asks for its
 * model, windows start again, shared counts raise the local ones, the table
 * fails open when full, and concurrent workers lose no count. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/config.h"
#include "limits/limits.h"
#include "limits/window.h"
#include <pthread.h>
#include <string.h>

static const char *YAML =
    "version: v0.3\n"
    "providers:\n  models:\n"
    "    - {name: big, pricing: {prompt_per_1m: 1000000, completion_per_1m: 1000000}, "
    "backend_refs: [{endpoint: \"127.0.0.1:1\"}]}\n"
    "    - {name: small, backend_refs: [{endpoint: \"127.0.0.1:1\"}]}\n"
    "routing:\n  modelCards: [{name: big}, {name: small}]\n"
    "  decisions: [{name: all, modelRefs: [{model: big}]}]\n"
    "global:\n  services:\n"
    "    rate_limits:\n"
    "      - {name: rpm, scope: key, window: 1m, requests: 2}\n"
    "      - {name: tpm, scope: team, match: research, window: 1m, tokens: 100}\n"
    "      - {name: dec, scope: decision, match: all, window: 1s, requests: 1000}\n"
    "    budgets:\n"
    "      - {name: daily, scope: key, match: alice, period: day, max_spend: 0.5, "
    "policy: downgrade, downgrade_model: small}\n"
    "      - {name: hard, scope: key, match: bob, period: month, max_spend: 0.5}\n";

static cfg_t *cfg;
static arena_t ar;

static int setup(void **st)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg = cfg_load_string("t.yaml", YAML, strlen(YAML), NULL, &d);
    if (!cfg) cfg_diags_print(stderr, &d);
    cfg_diags_free(&d);
    arena_init(&ar, 4096);
    return cfg ? 0 : -1;
}

static int teardown(void **st)
{
    cfg_free(cfg);
    arena_deinit(&ar);
    return 0;
}

static const lim_who_t ALICE = {"alice", "research", "big", "all"};
#define T0 1796598593000ull

static void test_rules_match_by_scope_and_name(void **st)
{
    lim_verdict_t v;
    lim_plan(cfg, &ALICE, &ar, T0, &v);
    /* rpm (requests), tpm (tokens: team research), dec (requests), daily */
    assert_int_equal(v.n, 4);
    assert_string_equal(v.checks[0].rule, "rpm");
    assert_int_equal(v.checks[0].kind, LIM_REQUESTS);
    assert_string_equal(v.checks[1].rule, "tpm");
    assert_int_equal(v.checks[1].kind, LIM_TOKENS);
    assert_string_equal(v.checks[2].subject, "all");
    assert_int_equal(v.checks[3].kind, LIM_SPEND);
    assert_true(v.checks[3].limit == 500000000);
    /* another team, no key: only the decision's rule */
    lim_who_t anon = {NULL, "sales", "big", "all"};
    lim_plan(cfg, &anon, &ar, T0, &v);
    assert_int_equal(v.n, 1);
    assert_string_equal(v.checks[0].rule, "dec");
}

static void test_a_request_at_the_limit_is_denied_and_not_counted(void **st)
{
    lim_t *l = lim_new(NULL, NULL, 0);
    lim_verdict_t v;
    for (int i = 0; i < 2; i++) {
        lim_plan(cfg, &ALICE, &ar, T0, &v);
        lim_admit_local(l, &v);
        assert_int_equal(v.denied, -1);
        assert_int_equal(v.checks[0].used, i);
    }
    lim_plan(cfg, &ALICE, &ar, T0 + 1000, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, 0); /* rpm */
    const lim_check_t *c = lim_tightest(&v, LIM_REQUESTS);
    assert_string_equal(c->rule, "rpm");
    /* the denied request counted nowhere: the decision rule saw 2 */
    assert_int_equal(lim_table_get(l->tab, &v.checks[2].key, v.checks[2].ws), 0);
    /* the next window starts again */
    lim_plan(cfg, &ALICE, &ar, lim_window_start(T0, 60000) + 60000, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, -1);
    assert_int_equal(v.checks[0].used, 0);
    lim_free(l);
}

static void test_tokens_and_spend_come_from_usage(void **st)
{
    lim_t *l = lim_new(NULL, NULL, 0);
    lim_verdict_t v;
    lim_plan(cfg, &ALICE, &ar, T0, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, -1);
    assert_null(v.downgrade);
    lim_record(l, NULL, &v, 120, 0.6); /* past both the tokens and the budget */
    lim_plan(cfg, &ALICE, &ar, T0 + 10, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, 1); /* tpm: 120 >= 100 */
    assert_int_equal(v.checks[1].used, 120);
    assert_non_null(v.downgrade); /* and the downgrade budget is spent */
    assert_string_equal(v.downgrade->downgrade_model, "small");
    /* a reject budget denies */
    lim_who_t bob = {"bob", NULL, "big", NULL};
    lim_plan(cfg, &bob, &ar, T0, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, -1);
    lim_record(l, NULL, &v, 1, 0.5);
    lim_plan(cfg, &bob, &ar, T0, &v);
    lim_admit_local(l, &v);
    assert_true(v.denied >= 0);
    assert_int_equal(v.checks[v.denied].kind, LIM_SPEND);
    lim_free(l);
}

static void test_shared_counts_raise_the_local_ones(void **st)
{
    lim_t *l = lim_new(NULL, NULL, 0);
    lim_verdict_t v;
    lim_plan(cfg, &ALICE, &ar, T0, &v);
    int64_t vals[4] = {1, 50, 7, 0}; /* what Redis counted before this request */
    lim_admit_shared(l, &v, vals);
    assert_int_equal(v.denied, -1);
    assert_true(v.shared);
    /* admitted: Redis counted it, the local counter now holds 2 */
    assert_int_equal(lim_table_get(l->tab, &v.checks[0].key, v.checks[0].ws), 2);
    /* an outage now decides locally from there */
    lim_plan(cfg, &ALICE, &ar, T0, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, 0);
    lim_free(l);
}

/* A counter's key from a one-letter name. */
static const lim_key_t *K(const char *name)
{
    static __thread lim_key_t k;
    k = (lim_key_t){name, strlen(name), lim_table_hash(name, strlen(name))};
    return &k;
}

static void test_a_full_table_fails_open(void **st)
{
    lim_table_t *t = lim_table_new(2);
    assert_int_equal(lim_table_add(t, K("a"), 0, 5), 5);
    assert_int_equal(lim_table_add(t, K("b"), 0, 1), 1);
    assert_int_equal(lim_table_add(t, K("c"), 0, 1), 0); /* not made */
    assert_int_equal(lim_table_get(t, K("c"), 0), 0);
    assert_int_equal(lim_table_dropped(t), 1);
    /* an old window reads 0; a late add for it changes nothing */
    assert_int_equal(lim_table_get(t, K("a"), 1), 0);
    assert_int_equal(lim_table_add(t, K("a"), 1, 2), 2);
    assert_int_equal(lim_table_add(t, K("a"), 0, 9), 0);
    assert_int_equal(lim_table_get(t, K("a"), 1), 2);
    /* huge adds saturate */
    assert_true(lim_table_add(t, K("b"), 0, INT64_MAX) == INT64_MAX);
    lim_table_free(t);
}

static lim_table_t *shared_t;
static void *adder(void *arg)
{
    for (int i = 0; i < 20000; i++)
        lim_table_add(shared_t, K((i & 1) ? "x" : "y"), 7, 1);
    return NULL;
}

static void test_workers_lose_no_count(void **st)
{
    shared_t = lim_table_new(0);
    pthread_t th[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&th[i], NULL, adder, NULL);
    for (int i = 0; i < 4; i++)
        pthread_join(th[i], NULL);
    assert_int_equal(lim_table_get(shared_t, K("x"), 7), 40000);
    assert_int_equal(lim_table_get(shared_t, K("y"), 7), 40000);
    lim_table_free(shared_t);
}

static void test_counters_survive_a_reload(void **st)
{
    /* a new generation with the same rule name and a higher limit: the
     * count goes on (counters are keyed by rule name, not by config) */
    lim_t *l = lim_new(NULL, NULL, 0);
    lim_verdict_t v;
    for (int i = 0; i < 2; i++) {
        lim_plan(cfg, &ALICE, &ar, T0, &v);
        lim_admit_local(l, &v);
    }
    char y2[2048];
    snprintf(y2, sizeof y2, "%.*s", (int)(strstr(YAML, "    budgets:") - YAML), YAML);
    char *at = strstr(y2, "requests: 2}");
    memcpy(at, "requests: 5}", 12);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *next = cfg_load_string("t2.yaml", y2, strlen(y2), NULL, &d);
    cfg_diags_free(&d);
    assert_non_null(next);
    lim_plan(next, &ALICE, &ar, T0, &v);
    lim_admit_local(l, &v);
    assert_int_equal(v.denied, -1);
    assert_int_equal(v.checks[0].used, 2);
    assert_int_equal(v.checks[0].limit, 5);
    cfg_free(next);
    lim_free(l);
}

static void test_management_json_lists_rules_and_subjects(void **st)
{
    lim_t *l = lim_new(NULL, NULL, 0);
    lim_verdict_t v;
    lim_plan(cfg, &ALICE, &ar, T0, &v);
    lim_admit_local(l, &v);
    lim_record(l, NULL, &v, 30, 0.25);
    buf_t b = BUF_INIT;
    lim_json(l, cfg, false, T0, &b);
    assert_non_null(strstr(b.data, "\"name\":\"rpm\""));
    assert_non_null(
        strstr(b.data, "\"requests\":[{\"subject\":\"alice\",\"used\":1,\"remaining\":1}]"));
    assert_non_null(
        strstr(b.data, "\"tokens\":[{\"subject\":\"research\",\"used\":30,\"remaining\":70}]"));
    buf_reset(&b);
    lim_json(l, cfg, true, T0, &b);
    assert_non_null(strstr(b.data, "\"name\":\"daily\""));
    assert_non_null(strstr(b.data, "{\"subject\":\"alice\",\"spend\":0.25,\"remaining\":0.25}"));
    buf_free(&b);
    lim_free(l);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_match_by_scope_and_name),
        cmocka_unit_test(test_a_request_at_the_limit_is_denied_and_not_counted),
        cmocka_unit_test(test_tokens_and_spend_come_from_usage),
        cmocka_unit_test(test_shared_counts_raise_the_local_ones),
        cmocka_unit_test(test_a_full_table_fails_open),
        cmocka_unit_test(test_workers_lose_no_count),
        cmocka_unit_test(test_counters_survive_a_reload),
        cmocka_unit_test(test_management_json_lists_rules_and_subjects),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
