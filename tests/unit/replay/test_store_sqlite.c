/* test_store_sqlite.c - the default replay store in a temp dir: the shared
 * store behaviour (write, filters, cursor paging), WAL mode, incremental
 * auto-vacuum and the two indexes (a file with the older per-filter
 * indexes loses them at open, and every filter answers the same), the TTL sweep, the max_records
 * and max_bytes caps after every write, WAL truncation, the one-time conversion of a file made
 * without auto-vacuum, read-only reopening, and errors for files that are not replay databases. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "sqlite_file.h"
#include <sqlite3.h>
#include <sys/stat.h>

#define FX_CONFORMANCE
#include "replay_fixture.h"
#include "replay/store_sqlite.h"

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

static replay_store_t *open_sq_bytes(int64_t max_records, uint64_t max_bytes, int64_t ttl, bool ro)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = path;
    c.max_records = max_records;
    c.max_bytes = max_bytes;
    c.ttl_seconds = ttl;
    c.read_only = ro;
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) fprintf(stderr, "%s\n", err.data);
    buf_free(&err);
    return s;
}

static replay_store_t *open_sq(int64_t max_records, int64_t ttl, bool ro)
{
    return open_sq_bytes(max_records, 0, ttl, ro);
}

/* One integer from the file through a connection of our own (a second
 * reader, as the CLI would be), closed again so it never holds up a
 * checkpoint. */
static int64_t db_int(const char *sql)
{
    return sqlite_file_int(path, sql);
}

static int64_t file_size(const char *suffix)
{
    char p[320];
    struct stat sb;
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

/* Turn `turn` of session sess-<sid> at time ms, with a body of body_len
 * bytes when body_len > 0. */
static replay_record_t *turn_record(uint64_t ms, int sid, int64_t turn, size_t body_len)
{
    char name[32];
    snprintf(name, sizeof name, "sess-%d", sid);
    replay_record_t *r = fx_record(ms, name, turn, "coding", "m-a", "stay_best_adjusted");
    if (body_len) {
        char *body = malloc(body_len + 1);
        for (size_t i = 0; i < body_len; i++)
            body[i] = (char)('a' + (i * 7 + ms) % 26);
        body[body_len] = 0;
        replay_record_set_body(r, 0, body, body_len, 0);
        free(body);
    }
    return r;
}

/* Sessions of 20 turns, one record per ms from 1000 on; record i is turn
 * i % 20 + 1 of sess-(i / 20). Writes [from, from + n) in one batch. */
static int write_turns(replay_store_t *s, int from, int n, size_t body_len)
{
    replay_record_t *recs[64];
    assert_true(n <= 64);
    for (int i = 0; i < n; i++)
        recs[i] = turn_record(1000 + (uint64_t)(from + i), (from + i) / 20, (from + i) % 20 + 1,
                              body_len);
    return fx_write(s, recs, (size_t)n);
}

/* "turns":N of a session's timeline. */
static int timeline_turns(replay_store_t *s, const char *sid)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(replay_query_timeline(s, sid, NULL, &out, &err), REPLAY_OK);
    const char *t = strstr(out.data, "\"turns\":");
    assert_non_null(t);
    int n = atoi(t + 8);
    buf_free(&out);
    buf_free(&err);
    return n;
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
    /* incremental auto-vacuum, so freed pages can be returned */
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA auto_vacuum", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), 2);
    sqlite3_finalize(q);
    /* a new file gets the large pages (an old one keeps its own) */
    assert_int_equal(sqlite3_prepare_v2(db, "PRAGMA page_size", -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    assert_int_equal(sqlite3_column_int(q, 0), REPLAY_SQ_PAGE_SIZE);
    sqlite3_finalize(q);
    /* indexes for the timeline (by session number: store_sqlite_sess.c) and
     * the newest-first list only: the decision, model and reason filters
     * walk the time index, and the session id text leads none */
    static const char *cols[] = {"sid", "created_at", "decision", "model", "reason", "session_id"};
    for (size_t i = 0; i < 6; i++) {
        char sql[256];
        snprintf(sql, sizeof sql,
                 "SELECT count(*) FROM sqlite_master m, pragma_index_info(m.name) i"
                 " WHERE m.type='index' AND m.tbl_name='replay' AND i.seqno=0 AND i.name='%s'",
                 cols[i]);
        assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
        assert_int_equal(sqlite3_step(q), SQLITE_ROW);
        if (i < 2)
            assert_true(sqlite3_column_int(q, 0) >= 1);
        else
            assert_int_equal(sqlite3_column_int(q, 0), 0);
        sqlite3_finalize(q);
    }
    sqlite3_close(db);
}

/* A file exactly as the previous version made it (4 KiB pages, five
 * indexes, WAL, incremental auto-vacuum) opens without a rewrite: it keeps
 * its page size, loses the three filter indexes, and takes writes and
 * answers queries. */
static void test_previous_version_file_keeps_its_pages_and_works(void **st)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(
        sqlite3_exec(
            db,
            "PRAGMA page_size=4096; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
            "CREATE TABLE replay (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
            " session_id TEXT, decision TEXT, model TEXT, reason TEXT, phase TEXT,"
            " turn INTEGER NOT NULL DEFAULT 0, switched INTEGER NOT NULL DEFAULT 0,"
            " record TEXT NOT NULL, bodies TEXT);"
            "CREATE INDEX replay_session ON replay(session_id, created_at);"
            "CREATE INDEX replay_created ON replay(created_at, id);"
            "CREATE INDEX replay_decision ON replay(decision, created_at);"
            "CREATE INDEX replay_model ON replay(model, created_at);"
            "CREATE INDEX replay_reason ON replay(reason, created_at);",
            NULL, NULL, NULL),
        SQLITE_OK);
    sqlite3_close(db);
    replay_store_t *s = open_sq(0, 0, false);
    assert_non_null(s);
    assert_int_equal(db_int("PRAGMA page_size"), 4096);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE type = 'index'"), 3);
    for (int from = 0; from < 120; from += 40)
        assert_int_equal(write_turns(s, from, 40, 0), REPLAY_OK);
    assert_int_equal(db_int("SELECT count(*) FROM replay"), 120);
    assert_int_equal(timeline_turns(s, "sess-3"), 20);
    assert_int_equal(fx_count(s, &(replay_filter_t){.decision = "coding", .limit = 50}), 50);
    replay_store_close(s);
}

/* The list of records matching one filter, two pages of 7 (cursor
 * included), as the API answers it. */
static void filtered_pages(replay_store_t *s, const char *decision, const char *model,
                           const char *reason, buf_t *out)
{
    replay_query_t q = {.decision = decision, .model = model, .reason = reason, .limit = 7};
    buf_t err = BUF_INIT;
    assert_int_equal(replay_query_list(s, &q, out, &err), REPLAY_OK);
    const char *c = strstr(out->data, "\"next_cursor\":\"");
    assert_non_null(c);
    char cursor[64];
    snprintf(cursor, sizeof cursor, "%.*s", (int)strcspn(c + 15, "\""), c + 15);
    q.cursor = cursor;
    assert_int_equal(replay_query_list(s, &q, out, &err), REPLAY_OK);
    buf_free(&err);
}

static void test_old_filter_indexes_dropped_at_open_and_answers_unchanged(void **st)
{
    static const char *const dec[] = {"coding", "chat", "math"}, *const mod[] = {"m-a", "m-b"},
                             *const why[] = {"cold_start", "switch_allowed", "stay_best_adjusted"};
    replay_store_t *s = open_sq(0, 0, false);
    replay_record_t *recs[60];
    for (int i = 0; i < 60; i++) {
        char sid[16];
        snprintf(sid, sizeof sid, "sess-%d", i / 10);
        recs[i] = fx_record(1000 + (uint64_t)i / 2, sid, i % 10 + 1, dec[i % 3], mod[i % 2],
                            why[i % 3 ? 1 + i % 2 : 0]);
    }
    assert_int_equal(fx_write(s, recs, 60), REPLAY_OK);
    replay_store_close(s);
    /* the file as the previous version left it: its three filter indexes (six
     * with the two kept and the id's own) */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE INDEX replay_decision ON replay(decision, created_at);"
                                  "CREATE INDEX replay_model ON replay(model, created_at);"
                                  "CREATE INDEX replay_reason ON replay(reason, created_at);",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE type = 'index'"), 6);
    /* answers through the old indexes (a read-only open changes nothing) */
    buf_t before = BUF_INIT, after = BUF_INIT;
    s = open_sq(0, 0, true);
    assert_non_null(s);
    filtered_pages(s, "chat", NULL, NULL, &before);
    filtered_pages(s, NULL, "m-b", NULL, &before);
    filtered_pages(s, NULL, NULL, "cold_start", &before);
    filtered_pages(s, "math", "m-a", "switch_allowed", &before);
    replay_store_close(s);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE type = 'index'"), 6);
    /* the writer's open drops them; the same queries answer the same */
    s = open_sq(0, 0, false);
    assert_non_null(s);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE type = 'index' AND name IN"
                            " ('replay_decision', 'replay_model', 'replay_reason')"),
                     0);
    filtered_pages(s, "chat", NULL, NULL, &after);
    filtered_pages(s, NULL, "m-b", NULL, &after);
    filtered_pages(s, NULL, NULL, "cold_start", &after);
    filtered_pages(s, "math", "m-a", "switch_allowed", &after);
    assert_string_equal(before.data, after.data);
    assert_non_null(strstr(after.data, "\"decision\":\"chat\""));
    replay_store_close(s);
    buf_free(&before);
    buf_free(&after);
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

static void test_max_records_holds_after_the_write(void **st)
{
    replay_store_t *s = open_sq(3, 0, false);
    replay_record_t *recs[7];
    for (int i = 0; i < 7; i++)
        recs[i] = fx_record((uint64_t)(7 - i) * 1000, "s", 7 - i, "d", "m", "cold_start");
    assert_int_equal(fx_write(s, recs, 7), REPLAY_OK);
    /* the cap holds as soon as the batch is stored, newest kept */
    replay_filter_t all = {0};
    fx_rows_t rows = {0};
    replay_store_scan(s, &all, fx_collect, &rows, NULL);
    assert_int_equal(rows.n, 3);
    assert_true(rows.ms[0] == 7000 && rows.ms[1] == 6000 && rows.ms[2] == 5000);
    /* the next sweep reports what the write removed, once */
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, 8000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 4);
    assert_int_equal(replay_store_sweep(s, 8000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 0);
    replay_store_close(s);
}

static void test_row_cap_holds_across_batches_and_queries_work(void **st)
{
    replay_store_t *s = open_sq(50, 0, false);
    /* 240 records (12 sessions of 20 turns) in batches of 16 */
    for (int from = 0; from < 240; from += 16) {
        assert_int_equal(write_turns(s, from, 16, 0), REPLAY_OK);
        int64_t want = from + 16 < 50 ? from + 16 : 50;
        assert_int_equal(db_int("SELECT count(*) FROM replay"), want);
    }
    /* rewriting a stored record is not a new row */
    replay_record_t *again = fx_record(5000, "sess-x", 1, "d", "m", "cold_start");
    replay_record_t *copy = fx_record(5000, "sess-x", 1, "d", "m", "cold_start");
    memcpy(copy->id, again->id, sizeof again->id);
    assert_int_equal(fx_write(s, &again, 1), REPLAY_OK);
    assert_int_equal(fx_write(s, &copy, 1), REPLAY_OK);
    assert_int_equal(db_int("SELECT count(*) FROM replay"), 50);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "sess-x"}), 1);
    /* the newest 49 turns plus sess-x: sess-11 and sess-10 whole, sess-9 turns 12..20 */
    assert_int_equal(timeline_turns(s, "sess-11"), 20);
    assert_int_equal(timeline_turns(s, "sess-10"), 20);
    assert_int_equal(timeline_turns(s, "sess-9"), 9);
    assert_int_equal(timeline_turns(s, "sess-0"), 0);
    buf_t out = BUF_INIT, err = BUF_INIT;
    replay_query_t q = {.limit = 1000};
    assert_int_equal(replay_query_list(s, &q, &out, &err), REPLAY_OK);
    assert_non_null(strstr(out.data, "\"count\":50"));
    buf_free(&out);
    buf_free(&err);
    replay_store_close(s);
}

static void test_byte_cap_bounds_the_files(void **st)
{
    const int64_t cap = 1024 * 1024;
    replay_store_t *s = open_sq_bytes(0, (uint64_t)cap, 0, false);
    int64_t page = db_int("PRAGMA page_size");
    /* ~6 MB of records with 4 KiB bodies, 6x the cap */
    for (int from = 0; from < 1200; from += 24) {
        assert_int_equal(write_turns(s, from, 24, 4096), REPLAY_OK);
        /* the database holds at most the cap after every batch */
        assert_true(db_int("PRAGMA page_count") * page <= cap);
        /* and what is on disk, WAL included, stays near it between sweeps */
        assert_true(file_size("") + file_size("-wal") <= 2 * cap);
    }
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, 0, &removed, NULL), REPLAY_OK);
    assert_true(removed > 900);
    /* after the sweep's checkpoint the WAL is empty and the file under the cap */
    assert_int_equal(file_size("-wal"), 0);
    assert_true(file_size("") <= cap);
    /* the newest records are the ones kept, and still readable */
    int64_t kept = db_int("SELECT count(*) FROM replay");
    assert_true(kept >= 100 && kept < 300);
    assert_int_equal(db_int("SELECT max(created_at) FROM replay"), 1000 + 1199);
    assert_int_equal(timeline_turns(s, "sess-59"), 20);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "sess-0"}), 0);
    replay_store_close(s);
    assert_true(file_size("") <= cap);
}

static void test_sweep_truncates_the_wal(void **st)
{
    replay_store_t *s = open_sq(0, 0, false);
    for (int from = 0; from < 1280; from += 64)
        assert_int_equal(write_turns(s, from, 64, 2048), REPLAY_OK);
    assert_true(file_size("-wal") > 0);
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, 0, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 0);
    assert_int_equal(file_size("-wal"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM replay"), 1280);
    replay_store_close(s);
}

static void test_old_file_is_converted_and_trimmed_at_open(void **st)
{
    /* a file as the store made it before auto-vacuum: same schema, WAL,
     * auto_vacuum NONE */
    replay_store_t *s = open_sq(0, 0, false);
    for (int from = 0; from < 400; from += 40)
        assert_int_equal(write_turns(s, from, 40, 4096), REPLAY_OK);
    replay_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, "PRAGMA auto_vacuum=NONE; VACUUM", NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    assert_int_equal(db_int("PRAGMA auto_vacuum"), 0);
    int64_t before = file_size("");
    /* reopened with a cap of 100: converted, trimmed to the newest 100,
     * and the space returned */
    s = open_sq(100, 0, false);
    assert_non_null(s);
    assert_int_equal(db_int("PRAGMA auto_vacuum"), 2);
    assert_int_equal(db_int("SELECT count(*) FROM replay"), 100);
    assert_int_equal(db_int("SELECT min(created_at) FROM replay"), 1000 + 300);
    assert_int_equal(db_int("PRAGMA freelist_count"), 0);
    assert_true(file_size("") + file_size("-wal") < before / 2);
    /* and it keeps working: more writes stay at the cap, queries answer */
    assert_int_equal(write_turns(s, 400, 40, 4096), REPLAY_OK);
    assert_int_equal(db_int("SELECT count(*) FROM replay"), 100);
    assert_int_equal(timeline_turns(s, "sess-21"), 20);
    assert_int_equal(timeline_turns(s, "sess-15"), 0);
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
        cmocka_unit_test_setup_teardown(
            test_old_filter_indexes_dropped_at_open_and_answers_unchanged, setup, teardown),
        cmocka_unit_test_setup_teardown(test_previous_version_file_keeps_its_pages_and_works, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_ttl_sweep_removes_old_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_max_records_holds_after_the_write, setup, teardown),
        cmocka_unit_test_setup_teardown(test_row_cap_holds_across_batches_and_queries_work, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_byte_cap_bounds_the_files, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_truncates_the_wal, setup, teardown),
        cmocka_unit_test_setup_teardown(test_old_file_is_converted_and_trimmed_at_open, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_read_only_sees_rows_and_refuses_writes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_open_errors_name_the_file, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
