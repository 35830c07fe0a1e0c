/* test_store_jsonl.c - the append-only replay store: the shared store
 * behaviour, one JSON record per line with bodies inline, appends across
 * reopenings, torn lines skipped, no sweep, and read-only opening. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FX_CONFORMANCE
#include "replay_fixture.h"

static char dir[256], path[300];

static int setup(void **st)
{
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/replay.jsonl", dir);
    return 0;
}

static int teardown(void **st)
{
    fx_rmdir(dir);
    return 0;
}

static replay_store_t *open_jl(bool ro)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "jsonl";
    c.path = path;
    c.read_only = ro;
    return replay_store_open(&c, NULL);
}

static size_t count_lines(void)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = 0;
    int ch;
    while ((ch = fgetc(f)) != EOF)
        n += ch == '\n';
    fclose(f);
    return n;
}

static void test_jsonl_store_behaviour(void **st)
{
    replay_store_t *s = open_jl(false);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "jsonl");
    fx_store_conformance(s);
    replay_store_close(s);
    assert_int_equal(count_lines(), 12);
}

static void test_lines_are_records_with_bodies_inline(void **st)
{
    replay_store_t *s = open_jl(false);
    replay_record_t *r = fx_record(1000, "s", 1, "d", "m", "cold_start");
    replay_record_set_body(r, 1, "pong", 4, 0);
    assert_int_equal(fx_write(s, &r, 1), REPLAY_OK);
    replay_store_close(s);
    FILE *f = fopen(path, "r");
    char line[8192];
    assert_non_null(fgets(line, sizeof line, f));
    fclose(f);
    cJSON *j = cJSON_Parse(line);
    assert_non_null(j);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "bodies"), "response")),
        "pong");
    cJSON_Delete(j);
    /* reading back separates the bodies from the record */
    s = open_jl(true);
    assert_non_null(s);
    fx_rows_t rows = {0};
    replay_filter_t all = {0};
    assert_int_equal(replay_store_scan(s, &all, fx_collect, &rows, NULL), REPLAY_OK);
    assert_int_equal(rows.n, 1);
    assert_int_equal(rows.bodies, 1);
    replay_store_close(s);
}

static void test_appends_across_reopen_and_skips_torn_lines(void **st)
{
    replay_store_t *s = open_jl(false);
    replay_record_t *a = fx_record(1000, "s", 1, "d", "m", "cold_start");
    assert_int_equal(fx_write(s, &a, 1), REPLAY_OK);
    replay_store_close(s);
    FILE *f = fopen(path, "a");
    fputs("{\"id\":\"rr_torn\n", f); /* a crash mid-line */
    fputs("not json at all\n", f);
    fclose(f);
    s = open_jl(false);
    replay_record_t *b = fx_record(2000, "s", 2, "d", "m", "stay_best_adjusted");
    assert_int_equal(fx_write(s, &b, 1), REPLAY_OK);
    replay_filter_t all = {0};
    assert_int_equal(fx_count(s, &all), 2);
    size_t removed = 7;
    assert_int_equal(replay_store_sweep(s, UINT64_MAX / 2, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 0); /* append-only: never rewritten */
    assert_int_equal(fx_count(s, &all), 2);
    replay_store_close(s);
}

static void test_read_only_open_of_a_missing_file_fails(void **st)
{
    assert_null(open_jl(true));
    /* a writable store with nothing written yet scans as empty */
    replay_store_t *s = open_jl(false);
    assert_non_null(s);
    replay_filter_t all = {0};
    assert_int_equal(fx_count(s, &all), 0);
    replay_store_close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_jsonl_store_behaviour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_lines_are_records_with_bodies_inline, setup, teardown),
        cmocka_unit_test_setup_teardown(test_appends_across_reopen_and_skips_torn_lines, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_only_open_of_a_missing_file_fails, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
