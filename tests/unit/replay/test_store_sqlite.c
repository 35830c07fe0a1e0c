/* test_store_sqlite.c - the default replay store in a temp dir: the shared
 * store behaviour (write, filters, cursor paging), WAL mode and the five
 * indexes, the TTL and max_records sweeps, read-only reopening, and errors
 * for files that are not replay databases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sqlite3.h>

#define FX_CONFORMANCE
#include "replay_fixture.h"

static char dir[256], path[300];

static int setup(void **st)
{
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/replay.db", dir);
    return 0;
}

static int teardown(void **st)
{
    fx_rmdir(dir);
    return 0;
}

static replay_store_t *open_sq(int64_t max_records, int64_t ttl, bool ro)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = path;
    c.max_records = max_records;
    c.ttl_seconds = ttl;
    c.read_only = ro;
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) fprintf(stderr, "%s\n", err.data);
    buf_free(&err);
    return s;
}

static void test_sqlite_store_behaviour(void **st)
{
    replay_store_t *s = open_sq(0, 0, false);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "sqlite");
    fx_store_conformance(s);
    replay_store_close(s);
}

static void test_wal_mode_and_indexes(void **st)
{
    replay_store_t *s = open_sq(0, 0, false);
    assert_non_null(s);
    replay_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_string_equal((const char *)sqlite3_column_text(q, 0), "wal");
    sqlite3_finalize(q);
    /* indexes whose first column is each filter column */
    static const char *cols[] = {"session_id", "created_at", "decision", "model", "reason"};
    for (size_t i = 0; i < 5; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master m, pragma_index_info(m.name) i"
                 " WHERE m.type='index' AND m.tbl_name='replay' AND i.seqno=0 AND i.name='%s'",
                 cols[i]);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        assert_true(sqlite3_column_int(q, 0) >= 1);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
}

static void test_ttl_sweep_removes_old_rows(void **st)
{
    replay_store_t *s = open_sq(0, 60, false); /* 60 s */
    replay_record_t *recs[4] = {fx_record(1000, "s", 1, "d", "m", "cold_start"),
                                fx_record(50000, "s", 2, "d", "m", "stay_best_adjusted"),
                                fx_record(100000, "s", 3, "d", "m", "stay_best_adjusted"),
                                fx_record(130000, "s", 4, "d", "m", "stay_best_adjusted")};
    assert_int_equal(fx_write(s, recs, 4), REPLAY_OK);
    size_t removed = 99;
    /* now = 150 s: anything before 90 s goes */
    assert_int_equal(replay_store_sweep(s, 150000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 2);
    replay_filter_t all = {0};
    fx_rows_t rows = {0};
    replay_store_scan(s, &all, fx_collect, &rows, NULL);
    assert_int_equal(rows.n, 2);
    assert_true(rows.ms[0] == 130000 && rows.ms[1] == 100000);
    assert_int_equal(replay_store_sweep(s, 150000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 0);
    replay_store_close(s);
}

static void test_max_records_sweep_keeps_the_newest(void **st)
{
    replay_store_t *s = open_sq(3, 0, false);
    replay_record_t *recs[7];
    for (int i = 0; i < 7; i++)
        recs[i] = fx_record((uint64_t)(7 - i) * 1000, "s", 7 - i, "d", "m", "cold_start");
    assert_int_equal(fx_write(s, recs, 7), REPLAY_OK);
    replay_filter_t all = {0};
    assert_int_equal(fx_count(s, &all), 7); /* the cap applies at sweep time */
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, 8000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 4);
    fx_rows_t rows = {0};
    replay_store_scan(s, &all, fx_collect, &rows, NULL);
    assert_int_equal(rows.n, 3);
    assert_true(rows.ms[0] == 7000 && rows.ms[1] == 6000 && rows.ms[2] == 5000);
    replay_store_close(s);
}

static void test_read_only_sees_rows_and_refuses_writes(void **st)
{
    replay_store_t *w = open_sq(0, 0, false);
    replay_record_t *r = fx_record(1000, "s", 1, "d", "m", "cold_start");
    char id[REPLAY_ID_LEN + 1];
    memcpy(id, r->id, sizeof id);
    assert_int_equal(fx_write(w, &r, 1), REPLAY_OK);
    /* a reader while the writer is still open (WAL) */
    replay_store_t *ro = open_sq(0, 0, true);
    assert_non_null(ro);
    assert_int_equal(fx_count(ro, &(replay_filter_t){.id = id}), 1);
    replay_record_t *r2 = fx_record(2000, "s", 2, "d", "m", "cold_start");
    buf_t err = BUF_INIT;
    assert_int_not_equal(replay_store_write(ro, &r2, 1, &err), REPLAY_OK);
    assert_non_null(strstr(err.data, "read-only"));
    replay_record_free(r2);
    buf_free(&err);
    replay_store_close(ro);
    replay_store_close(w);
}

static void test_open_errors_name_the_file(void **st)
{
    buf_t err = BUF_INIT;
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = "/nonexistent-dir/x/replay.db";
    assert_null(replay_store_open(&c, &err));
    assert_non_null(strstr(err.data, "/nonexistent-dir/x/replay.db"));
    /* read-only on a file that is not a replay database */
    char other[320];
    snprintf(other, sizeof other, "%s/other.db", dir);
    sqlite3 *db;
    sqlite3_open(other, &db);
    sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL);
    sqlite3_close(db);
    c.path = other;
    c.read_only = true;
    assert_null(replay_store_open(&c, &err));
    assert_non_null(strstr(err.data, "replay database"));
    c.store = "mongodb";
    assert_null(replay_store_open(&c, &err));
    assert_non_null(strstr(err.data, "mongodb"));
    buf_free(&err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_sqlite_store_behaviour, setup, teardown),
        cmocka_unit_test_setup_teardown(test_wal_mode_and_indexes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_ttl_sweep_removes_old_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_records_sweep_keeps_the_newest, setup, teardown),
        cmocka_unit_test_setup_teardown(test_read_only_sees_rows_and_refuses_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_errors_name_the_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
