/* test_store_sqlite_sess.c - the SQLite store finds a session's rows through
 * a number per session (store_sqlite_sess.c): every session's timeline
 * answers exactly the rows a full scan holds for its id, in the same order,
 * with more sessions than the writer remembers, ids too long to remember,
 * records without a session and batches that roll back; after a sweep or
 * another writer removed numbers; and a file as main's HEAD wrote it (text
 * session index, no numbers) opens read-only as it is and, for a writer,
 * gets its numbers and answers the same, byte for byte, before and after. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include "sqlite_file.h"
#include <sqlite3.h>

#include "replay/store_sqlite.h"
#include "replay_fixture.h"

static char dir[256], path[300], src[300];

static int setup(void **st)
{
    fx_tmpdir(dir, sizeof dir);
    snprintf(path, sizeof path, "%s/replay.db", dir);
    snprintf(src, sizeof src, "%s/new.db", dir);
    return 0;
}

static int teardown(void **st)
{
    fx_rmdir(dir);
    return 0;
}

static replay_store_t *open_at(const char *p, int64_t ttl, bool ro)
{
    return sqlite_store_open(p, ttl, ro);
}

static int64_t db_int(const char *sql)
{
    return sqlite_file_int(path, sql);
}

/* Session of record i: 300 at a time taking turns, 4 turns each, then the
 * next 300 (2,700 sessions in 10,000 records: more than the writer
 * remembers); every 97th session with an id too long to remember; every
 * 13th record without a session. */
static void session_of(unsigned i, char *out, size_t n)
{
    unsigned sess = (i / 1200) * 300 + i % 300;
    if (sess % 97 == 5)
        snprintf(out, n, "a-long-session-id-that-the-writer-does-not-cache-%08u-%u", sess * 7919u,
                 sess);
    else
        snprintf(out, n, "%08x-%u", sess * 2654435761u, sess);
}

static replay_record_t *sess_record(unsigned i)
{
    char sid[96];
    session_of(i, sid, sizeof sid);
    replay_record_t *r =
        fx_record(200000 + i, i % 13 == 7 ? NULL : sid, (int64_t)(i % 1200) / 300 + 1,
                  i % 2 ? "coding" : "chat", "m-a", "stay_best_adjusted");
    return r;
}

static void write_range(replay_store_t *s, unsigned from, unsigned to)
{
    for (unsigned i = from; i < to; i += 97) {
        replay_record_t *recs[97];
        size_t k = 0;
        for (unsigned j = i; j < to && j < i + 97; j++)
            recs[k++] = sess_record(j);
        assert_int_equal(fx_write(s, recs, k), REPLAY_OK);
    }
}

/* Every row of a scan: its session, id and text (newest first). */
typedef struct {
    char **sess, **id, **json;
    size_t n, cap;
} rows_t;

static bool take(void *ctx, const replay_row_t *r)
{
    rows_t *c = ctx;
    if (c->n == c->cap) {
        c->cap = c->cap ? 2 * c->cap : 256;
        c->sess = realloc(c->sess, c->cap * sizeof *c->sess);
        c->id = realloc(c->id, c->cap * sizeof *c->id);
        c->json = realloc(c->json, c->cap * sizeof *c->json);
        assert_non_null(c->sess);
        assert_non_null(c->id);
        assert_non_null(c->json);
    }
    c->sess[c->n] = r->session_id ? strdup(r->session_id) : NULL;
    c->id[c->n] = strdup(r->id);
    c->json[c->n] = strdup(r->json);
    c->n++;
    return true;
}

static void rows_free(rows_t *c)
{
    for (size_t i = 0; i < c->n; i++) {
        free(c->sess[i]);
        free(c->id[i]);
        free(c->json[i]);
    }
    free(c->sess);
    free(c->id);
    free(c->json);
    *c = (rows_t){0};
}

/* The answers a file gives: the full scan, then the timeline of each
 * session of records [0, upto) (checked against the full scan: the same
 * rows in the same order), all appended to out. */
static void answers(replay_store_t *s, unsigned upto, buf_t *out)
{
    rows_t all = {0};
    assert_int_equal(replay_store_scan(s, &(replay_filter_t){0}, take, &all, NULL), REPLAY_OK);
    for (size_t i = 0; i < all.n; i++)
        buf_printf(out, "%s %s\n", all.id[i], all.json[i]);
    for (unsigned i = 0; i < upto; i++) {
        if (i % 1200 >= 300) continue; /* each session once: at its first turn */
        char sid[96];
        session_of(i, sid, sizeof sid);
        rows_t one = {0};
        assert_int_equal(
            replay_store_scan(s, &(replay_filter_t){.session_id = sid}, take, &one, NULL),
            REPLAY_OK);
        size_t k = 0;
        for (size_t j = 0; j < all.n; j++) {
            if (!all.sess[j] || strcmp(all.sess[j], sid)) continue;
            assert_true(k < one.n);
            assert_string_equal(one.id[k], all.id[j]);
            assert_string_equal(one.json[k], all.json[j]);
            k++;
        }
        assert_int_equal(k, one.n);
        buf_printf(out, "%s: %zu\n", sid, one.n);
        rows_free(&one);
    }
    rows_free(&all);
}

static void test_every_timeline_is_its_sessions_rows(void **st)
{
    replay_store_t *s = open_at(path, 0, false);
    assert_non_null(s);
    write_range(s, 0, 10000);
    buf_t a = BUF_INIT;
    answers(s, 10000, &a);
    assert_non_null(strstr(a.data, "a-long-session-id"));
    /* sessions numbered in the order they came, rows carry them */
    assert_int_equal(db_int("SELECT count(*) FROM replay_sess"),
                     db_int("SELECT count(DISTINCT session_id) FROM replay"));
    assert_true(db_int("SELECT count(*) FROM replay_sess") > REPLAY_SQ_SESS_SLOTS);
    assert_int_equal(db_int("SELECT count(*) FROM replay WHERE session_id IS NOT NULL AND sid IS "
                            "NOT (SELECT sid FROM replay_sess m WHERE m.session_id ="
                            " replay.session_id)"),
                     0);
    assert_int_equal(db_int("SELECT count(*) FROM replay WHERE session_id IS NULL AND sid IS NOT "
                            "NULL"),
                     0);
    replay_store_close(s);
    /* a read-only reader answers the same */
    buf_t b = BUF_INIT;
    s = open_at(path, 0, true);
    assert_non_null(s);
    answers(s, 10000, &b);
    assert_string_equal(a.data, b.data);
    replay_store_close(s);
    buf_free(&a);
    buf_free(&b);
}

static void test_sweep_and_another_writer_renumber(void **st)
{
    replay_store_t *a = open_at(path, 1, false), *b = open_at(path, 1, false);
    assert_non_null(a);
    assert_non_null(b);
    write_range(a, 0, 600); /* a remembers these sessions' numbers */
    /* b's sweep when every row is past its ttl: rows and numbers go */
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(b, 200000 + 600 + 5000, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 600);
    assert_int_equal(db_int("SELECT count(*) FROM replay_sess"), 0);
    /* b numbers some of the same sessions anew, then a writes them again */
    write_range(b, 1200, 1250);
    write_range(a, 600, 700);
    write_range(b, 700, 800);
    write_range(a, 1250, 1300);
    buf_t x = BUF_INIT, y = BUF_INIT;
    answers(a, 1300, &x);
    answers(b, 1300, &y);
    assert_string_equal(x.data, y.data);
    /* a's own sweep keeps the numbers rows use, drops the others */
    assert_int_equal(replay_store_sweep(a, 200000 + 700 + 1000, &removed, NULL), REPLAY_OK);
    assert_int_equal(db_int("SELECT count(*) FROM replay_sess m WHERE NOT EXISTS (SELECT 1 FROM"
                            " replay r WHERE r.session_id = m.session_id)"),
                     0);
    write_range(a, 800, 1200);
    write_range(b, 1300, 1400);
    buf_reset(&x);
    buf_reset(&y);
    answers(a, 1400, &x);
    answers(b, 1400, &y);
    assert_string_equal(x.data, y.data);
    replay_store_close(a);
    replay_store_close(b);
    buf_free(&x);
    buf_free(&y);
}

static void test_a_batch_that_rolls_back_leaves_no_number_behind(void **st)
{
    replay_store_t *s = open_at(path, 0, false);
    assert_non_null(s);
    write_range(s, 0, 100);
    /* a batch whose second record cannot be stored: its first record's new
     * session was numbered in the transaction that rolls back */
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db,
                                  "CREATE TRIGGER no_turn_3 BEFORE INSERT ON replay WHEN"
                                  " NEW.turn = 3 BEGIN SELECT RAISE(ABORT, 'no'); END",
                                  NULL, NULL, NULL),
                     SQLITE_OK);
    sqlite3_close(db);
    int64_t numbered = db_int("SELECT count(*) FROM replay_sess");
    replay_record_t *recs[2] = {sess_record(1500), sess_record(1802)};
    assert_int_equal(recs[0]->session.turn, 2);
    assert_int_equal(recs[1]->session.turn, 3);
    buf_t err = BUF_INIT;
    assert_int_equal(replay_store_write(s, recs, 2, &err), REPLAY_EIO);
    buf_free(&err);
    replay_record_free(recs[0]);
    replay_record_free(recs[1]);
    assert_int_equal(db_int("SELECT count(*) FROM replay_sess"), numbered);
    /* the same session again (turn 2, with no other connection's change in
     * between): numbered anew, and found */
    write_range(s, 1500, 1600);
    buf_t a = BUF_INIT;
    answers(s, 1600, &a);
    replay_store_close(s);
    buf_free(&a);
}

/* The schema as main's HEAD (1dafb56) made it: fragments, the text session
 * index, no session numbers. */
static const char HEAD_SCHEMA[] =
    "PRAGMA page_size=32768; PRAGMA auto_vacuum=INCREMENTAL; PRAGMA journal_mode=WAL;"
    "CREATE TABLE replay (id TEXT PRIMARY KEY, created_at INTEGER NOT NULL,"
    " session_id TEXT, decision TEXT, model TEXT, reason TEXT, phase TEXT,"
    " turn INTEGER NOT NULL DEFAULT 0, switched INTEGER NOT NULL DEFAULT 0,"
    " record TEXT NOT NULL, bodies TEXT, frag1 INTEGER, frag2 INTEGER, frag_at INTEGER);"
    "CREATE TABLE replay_frag (fid INTEGER PRIMARY KEY AUTOINCREMENT,"
    " last_used INTEGER NOT NULL, frag_text TEXT NOT NULL);"
    "CREATE INDEX replay_session ON replay(session_id, created_at);"
    "CREATE INDEX replay_created ON replay(created_at, id);";

static void test_a_file_of_main_head_gets_numbers_and_answers_the_same(void **st)
{
    /* the rows as HEAD stored them: the same renderer and fragment cut, the
     * same columns but the number */
    replay_store_t *s = open_at(src, 0, false);
    assert_non_null(s);
    write_range(s, 0, 3000);
    buf_t want = BUF_INIT;
    answers(s, 3000, &want);
    replay_store_close(s);
    sqlite3 *db;
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    assert_int_equal(sqlite3_exec(db, HEAD_SCHEMA, NULL, NULL, NULL), SQLITE_OK);
    char sql[600];
    snprintf(sql, sizeof sql,
             "ATTACH '%s' AS n; INSERT INTO replay SELECT id, created_at, session_id, decision,"
             " model, reason, phase, turn, switched, record, bodies, frag1, frag2, frag_at FROM"
             " n.replay ORDER BY rowid; INSERT INTO replay_frag SELECT * FROM n.replay_frag;"
             " DETACH n",
             src);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    /* read-only: opens as it is and answers the same through the text index */
    s = open_at(path, 0, true);
    assert_non_null(s);
    buf_t got = BUF_INIT;
    answers(s, 3000, &got);
    assert_string_equal(got.data, want.data);
    replay_store_close(s);
    assert_int_equal(db_int("SELECT count(*) FROM pragma_table_info('replay') WHERE name = 'sid'"),
                     0);
    /* a reader opened before the writer numbers the file */
    replay_store_t *ro = open_at(path, 0, true);
    assert_non_null(ro);
    /* the writer numbers it (log replay_store_migrated): same answers */
    s = open_at(path, 0, false);
    assert_non_null(s);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE name = 'replay_session'"), 0);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE name = 'replay_sid'"), 1);
    assert_int_equal(db_int("SELECT count(*) FROM replay WHERE session_id IS NOT NULL AND sid IS "
                            "NOT (SELECT sid FROM replay_sess m WHERE m.session_id ="
                            " replay.session_id)"),
                     0);
    buf_reset(&got);
    answers(s, 3000, &got);
    assert_string_equal(got.data, want.data);
    buf_reset(&got);
    answers(ro, 3000, &got);
    assert_string_equal(got.data, want.data);
    /* the sessions go on: old and new rows in one timeline */
    write_range(s, 3000, 4800);
    buf_t more = BUF_INIT, more_ro = BUF_INIT;
    answers(s, 4800, &more);
    answers(ro, 4800, &more_ro);
    assert_string_equal(more.data, more_ro.data);
    replay_store_close(ro);
    replay_store_close(s);
    /* and again, already numbered */
    s = open_at(path, 0, false);
    buf_reset(&got);
    answers(s, 4800, &got);
    assert_string_equal(got.data, more.data);
    replay_store_close(s);
    /* an earlier version's writer opened it meanwhile (its text index back)
     * and wrote rows without numbers: the next open numbers them */
    replay_store_t *tmp = open_at(src, 0, false);
    assert_non_null(tmp);
    write_range(tmp, 4800, 5000);
    replay_store_close(tmp);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    snprintf(sql, sizeof sql,
             "CREATE INDEX replay_session ON replay(session_id, created_at);"
             "ATTACH '%s' AS n; INSERT INTO replay SELECT id, created_at, session_id, decision,"
             " model, reason, phase, turn, switched, record, bodies, NULL, NULL, NULL, NULL FROM"
             " n.replay WHERE created_at >= 200000 + 4800 ORDER BY rowid; DETACH n",
             src);
    assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    s = open_at(path, 0, false);
    assert_non_null(s);
    assert_int_equal(db_int("SELECT count(*) FROM replay WHERE session_id IS NOT NULL AND sid IS "
                            "NOT (SELECT sid FROM replay_sess m WHERE m.session_id ="
                            " replay.session_id)"),
                     0);
    assert_int_equal(db_int("SELECT count(*) FROM sqlite_master WHERE name = 'replay_session'"), 0);
    buf_reset(&got);
    answers(s, 5000, &got); /* checks each timeline against the full scan */
    assert_true(got.len > more.len);
    replay_store_close(s);
    buf_free(&want);
    buf_free(&got);
    buf_free(&more);
    buf_free(&more_ro);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_every_timeline_is_its_sessions_rows, setup, teardown),
        cmocka_unit_test_setup_teardown(test_sweep_and_another_writer_renumber, setup, teardown),
        cmocka_unit_test_setup_teardown(test_a_batch_that_rolls_back_leaves_no_number_behind, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_a_file_of_main_head_gets_numbers_and_answers_the_same,
                                        setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
