/* test_store_sqlite_frag.c - the SQLite store keeps a repeated decision
 * trace or candidates list once (replay_frag) and every scan gives back the
 * whole record: the cut rendering with its fragments put back equals the
 * whole rendering on many generated records; records written through the
 * store read back byte for byte as replay_record_render makes them, whether
 * their fragments repeat, are evicted from the writer's memory, were removed
 * by a sweep or by another writer; the sweep removes fragments no row uses;
 * and a file of the previous version (no fragment table or columns) opens
 * read-only as it is and, for a writer, gains them and answers the same for
 * its old rows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "sqlite_file.h"
#include <sqlite3.h>

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

static replay_store_t *open_sq(int64_t ttl, bool ro)
{
    return sqlite_store_open(path, ttl, ro);
}

static int64_t db_int(const char *sql)
{
    return sqlite_file_int(path, sql);
}

static void db_exec(const char *sql)
{
    sqlite3 *db;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
}

/* A decision trace of variant v (long enough to be kept once; some with
 * escapes and UTF-8), or a short one, or none. */
static void trace_text(buf_t *b, unsigned v)
{
    buf_reset(b);
    if (v % 11 == 10) return; /* none */
    if (v % 7 == 6) {
        buf_printf(b, "{\"outcome\":\"matched\",\"decision\":\"d%u\"}", v); /* short */
        return;
    }
    buf_printf(b,
               "{\"outcome\":\"matched\",\"decision\":\"d%u\",\"note\":\"caf\xc3\xa9 \\\"q\\\"\","
               "\"trace\":[",
               v);
    for (unsigned i = 0; i < 6 + v % 5; i++)
        buf_printf(b,
                   "%s{\"kind\":\"leaf\",\"signal\":\"keyword:k%u_%u\",\"label\":null,"
                   "\"matched\":%s,\"confidence\":0.%u,\"error\":null,\"children\":[]}",
                   i ? "," : "", v, i, (i + v) % 2 ? "true" : "false", i);
    buf_puts(b, "]}");
}

static void cands_text(buf_t *b, unsigned v)
{
    buf_reset(b);
    if (v % 5 == 4) return;
    buf_puts(b, "[");
    for (unsigned i = 0; i < 2 + v % 3; i++)
        buf_printf(b,
                   "%s{\"model\":\"m%u\",\"admissible\":true,\"base\":0.%04u,\"quality_gap\":0,"
                   "\"prefix_benefit\":0.12,\"final\":0.9%u,\"net_switch_advantage\":0}",
                   i ? "," : "", i, v * 37 % 10000, v);
    buf_puts(b, "]");
}

/* Record i: its trace from tv variants and candidates from cv variants,
 * picked so that some repeat at once, some after more than the writer
 * remembers, some never. */
static replay_record_t *frag_record(unsigned i, unsigned tv, unsigned cv)
{
    char sid[32];
    snprintf(sid, sizeof sid, "sess-%u", i % 9);
    replay_record_t *r = fx_record(100000 + i, sid, (int64_t)i / 9 + 1, i % 2 ? "coding" : "chat",
                                   "m-a", "stay_best_adjusted");
    buf_t b = BUF_INIT;
    /* most records use one of a few popular texts; every fourth one any of
     * tv, in an order that cycles through more than the writer remembers */
    trace_text(&b, i % 4 ? i % 3 : (i * 7919u) % tv);
    replay_record_set(&r->decision_trace_json, b.len ? b.data : NULL);
    cands_text(&b, (i * 104729u) % cv);
    replay_record_set(&r->candidates_json, b.len ? b.data : NULL);
    buf_free(&b);
    return r;
}

/* The whole rendering of each record, by id, to compare scans with. */
typedef struct {
    char id[REPLAY_ID_LEN + 1];
    char *json;
} want_t;

typedef struct {
    want_t *w;
    size_t n, seen;
} check_t;

static bool check_row(void *ctx, const replay_row_t *row)
{
    check_t *c = ctx;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->w[i].id, row->id)) {
            assert_string_equal(row->json, c->w[i].json);
            c->seen++;
            return true;
        }
    fail_msg("unexpected row %s (%zu expected, from %s)", row->id, c->n, c->w[0].id);
    return false;
}

/* Write records [from, to) in batches of 50, remembering their renderings. */
static void write_range(replay_store_t *s, want_t *w, unsigned from, unsigned to, unsigned tv,
                        unsigned cv)
{
    for (unsigned i = from; i < to; i += 50) {
        replay_record_t *recs[50];
        size_t k = 0;
        for (unsigned j = i; j < to && j < i + 50; j++, k++) {
            recs[k] = frag_record(j, tv, cv);
            buf_t b = BUF_INIT;
            replay_record_render(recs[k], false, &b);
            snprintf(w[j].id, sizeof w[j].id, "%s", recs[k]->id);
            w[j].json = buf_steal(&b);
        }
        assert_int_equal(fx_write(s, recs, k), REPLAY_OK);
    }
}

static void check_all(replay_store_t *s, want_t *w, size_t from, size_t to)
{
    check_t c = {.w = w + from, .n = to - from};
    assert_int_equal(replay_store_scan(s, &(replay_filter_t){0}, check_row, &c, NULL), REPLAY_OK);
    assert_int_equal(c.seen, to - from);
}

static void free_want(want_t *w, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(w[i].json);
}

static void test_cut_rendering_spliced_is_the_whole_rendering(void **st)
{
    for (unsigned i = 0; i < 2000; i++) {
        replay_record_t *r = frag_record(i, 23, 13);
        if (i % 3 == 0) r->has_session = false;
        buf_t whole = BUF_INIT, cut = BUF_INIT, back = BUF_INIT;
        replay_record_render(r, false, &whole);
        replay_render_cut_t c = {.trace = i % 4 != 1, .candidates = i % 4 != 2};
        buf_puts(&cut, "prefix");
        size_t at0 = cut.len;
        replay_record_render_cut(r, &c, &cut);
        assert_true(c.trace == (i % 4 != 1 && r->decision_trace_json != NULL));
        assert_true(c.candidates == (i % 4 != 2 && r->candidates_json != NULL));
        if (c.trace && c.candidates) assert_true(c.trace_at < c.candidates_at);
        replay_sq_frag_splice(&back, cut.data + at0,
                              (int64_t)((uint64_t)c.trace_at | (uint64_t)c.candidates_at << 32),
                              c.trace ? r->decision_trace_json : NULL,
                              c.candidates ? r->candidates_json : NULL);
        assert_string_equal(back.data, whole.data);
        if (c.trace || c.candidates) assert_true(cut.len - at0 < whole.len);
        buf_free(&whole);
        buf_free(&cut);
        buf_free(&back);
        replay_record_free(r);
    }
}

static void test_repeated_fragments_kept_once_and_read_back_whole(void **st)
{
    replay_store_t *s = open_sq(0, false);
    assert_non_null(s);
    static want_t w[1200];
    /* 40 traces (more than the writer remembers) and 9 candidate lists */
    write_range(s, w, 0, 1200, 40, 9);
    check_all(s, w, 0, 1200);
    /* the repeats went to replay_frag, once each */
    assert_true(db_int("SELECT count(*) FROM replay WHERE frag1 IS NOT NULL") > 500);
    assert_true(db_int("SELECT count(*) FROM replay WHERE frag2 IS NOT NULL") > 500);
    assert_int_equal(db_int("SELECT count(*) - count(DISTINCT frag_text) FROM replay_frag"), 0);
    assert_true(db_int("SELECT count(*) FROM replay_frag") <= 40 + 9);
    /* every query path answers the same: one id, a session, a filter */
    buf_t out = BUF_INIT, err = BUF_INIT;
    assert_int_equal(replay_query_get(s, w[777].id, false, &out, &err), REPLAY_OK);
    assert_non_null(strstr(out.data, w[777].json + 1)); /* the record, inside the answer */
    check_t c = {.w = w, .n = 1200};
    assert_int_equal(
        replay_store_scan(s, &(replay_filter_t){.session_id = "sess-4"}, check_row, &c, NULL),
        REPLAY_OK);
    assert_int_equal(c.seen, 1200 / 9 + (1200 % 9 > 4));
    buf_free(&out);
    buf_free(&err);
    replay_store_close(s);
    /* a read-only reader (the CLI) puts them back too */
    s = open_sq(0, true);
    assert_non_null(s);
    check_all(s, w, 0, 1200);
    replay_store_close(s);
    free_want(w, 1200);
}

static void test_sweep_and_other_writers_removing_fragments(void **st)
{
    replay_store_t *s = open_sq(1, false);
    assert_non_null(s);
    static want_t w[600];
    write_range(s, w, 0, 300, 5, 3);
    int64_t frags = db_int("SELECT count(*) FROM replay_frag");
    assert_true(frags > 0);
    /* the sweep at a time when every row is past its ttl: rows and
     * fragments go */
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, 100000 + 300 + 5000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 300);
    assert_int_equal(db_int("SELECT count(*) FROM replay_frag"), 0);
    /* the writer still remembers their ids: new rows bring them back */
    write_range(s, w, 300, 400, 5, 3);
    check_all(s, w, 300, 400);
    assert_true(db_int("SELECT count(*) FROM replay_frag") > 0);
    /* another writer's sweep (or anyone) removes them between batches */
    db_exec("DELETE FROM replay_frag");
    write_range(s, w, 400, 500, 5, 3);
    check_all(s, w, 300, 500);
    /* the sweep keeps what rows still use */
    assert_int_equal(replay_store_sweep(s, 100000 + 450 + 1000, &removed, NULL), REPLAY_OK);
    write_range(s, w, 500, 600, 5, 3);
    check_all(s, w, 450, 600);
    assert_int_equal(db_int("SELECT count(*) FROM replay r WHERE frag1 IS NOT NULL AND NOT EXISTS"
                            " (SELECT 1 FROM replay_frag WHERE fid = r.frag1)"),
                     0);
    replay_store_close(s);
    free_want(w, 600);
}

/* The schema of the version before fragments (2026-12-07, 32 KiB pages,
 * two indexes), with one row written as that version wrote it. */
static const char PREVIOUS[] =
    "PRAGMA page_size=32768; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
    "CREATE TABLE replay (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
    " session_id TEXT, decision TEXT, model TEXT, reason TEXT, phase TEXT,"
    " turn INTEGER NOT NULL DEFAULT 0, switched INTEGER NOT NULL DEFAULT 0,"
    " record TEXT NOT NULL, bodies TEXT);"
    "CREATE INDEX replay_session ON replay(session_id, created_at);"
    "CREATE INDEX replay_created ON replay(created_at, id);";

static void test_previous_version_file_gains_fragments_and_answers_the_same(void **st)
{
    static want_t w[200];
    /* old rows: written by this version's renderer into the old table, as
     * the previous version did (whole record text, no fragment columns) */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, PREVIOUS, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_stmt *ins;
    assert_int_equal(sqlite3_prepare_v2(db,
                                        "INSERT INTO replay(id, created_at, session_id, decision,"
                                        " model, reason, turn, record) VALUES(?,?,?,?,?,?,?,?)",
                                        -1, &ins, NULL),
                     SQLITE_OK);
    for (unsigned i = 0; i < 100; i++) {
        replay_record_t *r = frag_record(i, 3, 2);
        buf_t b = BUF_INIT;
        replay_record_render(r, false, &b);
        snprintf(w[i].id, sizeof w[i].id, "%s", r->id);
        w[i].json = buf_steal(&b);
        sqlite3_bind_text(ins, 1, r->id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 2, (sqlite3_int64)r->created_at_ms);
        sqlite3_bind_text(ins, 3, r->session.id, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 4, r->decision, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 5, r->model, -1, SQLITE_TRANSIENT);
        sqlite3_bind_text(ins, 6, r->session.reason, -1, SQLITE_TRANSIENT);
        sqlite3_bind_int64(ins, 7, r->session.turn);
        sqlite3_bind_text(ins, 8, w[i].json, -1, SQLITE_TRANSIENT);
        assert_int_equal(sqlite3_step(ins), SQLITE_DONE);
        sqlite3_reset(ins);
        replay_record_free(r);
    }
    sqlite3_finalize(ins);
    sqlite3_close(db);
    /* read-only: opens as it is, answers, changes nothing */
    replay_store_t *s = open_sq(0, true);
    assert_non_null(s);
    check_all(s, w, 0, 100);
    replay_store_close(s);
    assert_int_equal(db_int("SELECT count(*) FROM pragma_table_info('replay')"
                            " WHERE name IN ('frag1', 'frag2', 'frag_at')"),
                     0);
    /* a reader opened before the writer migrates the file */
    replay_store_t *ro = open_sq(0, true);
    assert_non_null(ro);
    /* the writer adds the table and columns (log replay_store_migrated) */
    s = open_sq(0, false);
    assert_non_null(s);
    assert_int_equal(db_int("SELECT count(*) FROM pragma_table_info('replay')"
                            " WHERE name IN ('frag1', 'frag2', 'frag_at')"),
                     3);
    check_all(s, w, 0, 100);
    write_range(s, w, 100, 200, 3, 2);
    assert_true(db_int("SELECT count(*) FROM replay WHERE frag1 IS NOT NULL") > 0);
    check_all(s, w, 0, 200);
    check_all(ro, w, 0, 200);
    replay_store_close(ro);
    replay_store_close(s);
    /* and again, already migrated */
    s = open_sq(0, false);
    check_all(s, w, 0, 200);
    replay_store_close(s);
    free_want(w, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cut_rendering_spliced_is_the_whole_rendering),
        cmocka_unit_test_setup_teardown(test_repeated_fragments_kept_once_and_read_back_whole,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_and_other_writers_removing_fragments, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            test_previous_version_file_gains_fragments_and_answers_the_same, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
