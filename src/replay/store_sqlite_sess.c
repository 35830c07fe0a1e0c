/* store_sqlite_sess.c - the session key of the SQLite replay store. The
 * timeline (and the list's session filter) reads the rows of one session in
 * time order. An index on the session id text puts a session's entries
 * where its random id sorts, so a write batch (a router's active sessions
 * taking turns) dirtied one of its leaves for almost every record and each
 * commit rewrote those 32 KiB pages: half of what the writer wrote. Instead
 * a session gets a number the first time the writer sees it (replay_sess,
 * keyed by the session id), rows carry it (sid) and the index is (sid,
 * created_at): numbers grow with time, so the sessions active now sit
 * together at the index's right edge and a batch dirties a page or two.
 *
 * A row's sid is the number its session's replay_sess row holds: the writer
 * takes it from there, or from its cache of what it read and wrote there,
 * inside the batch's transaction. The cache is dropped when another
 * connection changed the file (PRAGMA data_version, read under the batch's
 * write lock), after a rollback and after a sweep; a sweep deletes only the
 * numbers no row of their session uses. Two sessions may share a number (a
 * new one is one past the largest a row holds), so queries compare the
 * session id too. A file made before this (no sid) gets the numbers at the
 * writer's open, in one transaction (log replay_store_migrated). */
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include "replay/store_sqlite.h"

struct sq_sess_slot {
    uint64_t h; /* hash of the session id; 0: empty */
    int64_t sid;
    uint8_t len;
    char text[SQ_SESS_TEXT];
};

static const char SESS_TABLE[] = "CREATE TABLE IF NOT EXISTS replay_sess (session_id TEXT PRIMARY "
                                 "KEY, sid INTEGER NOT NULL) WITHOUT ROWID";

/* Numbers for the sessions of rows without one (every row of an older file;
 * the rows an earlier version wrote into a newer file, whose writer also put
 * back its text index), in order of their first row, after the numbers
 * already given; the rows' sid filled in; the text index dropped. */
static const char MIGRATE[] =
    "INSERT OR IGNORE INTO replay_sess(session_id, sid) SELECT session_id,"
    " (SELECT COALESCE(max(sid), 0) FROM replay_sess) +"
    " row_number() OVER (ORDER BY min(created_at), session_id) FROM replay"
    " WHERE session_id IS NOT NULL AND sid IS NULL GROUP BY session_id;"
    "UPDATE replay SET sid = (SELECT m.sid FROM replay_sess m WHERE m.session_id ="
    " replay.session_id) WHERE session_id IS NOT NULL AND sid IS NULL;"
    "DROP INDEX IF EXISTS replay_session;";

/* The text session index: an older file's, or put back by an earlier
 * version's writer. */
static bool has_text_index(sq_store_t *s)
{
    sqlite3_stmt *st = NULL;
    bool yes = sqlite3_prepare_v2(s->db,
                                  "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name ="
                                  " 'replay_session'",
                                  -1, &st, NULL) == SQLITE_OK &&
               sqlite3_step(st) == SQLITE_ROW;
    sqlite3_finalize(st);
    return yes;
}

static bool has_sess_table(sq_store_t *s)
{
    sqlite3_stmt *st = NULL;
    bool yes =
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM replay_sess LIMIT 0", -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return yes;
}

void replay_sq_sess_recheck(sq_store_t *s)
{
    s->has_sid = replay_sq_has_column(s, "sid") && has_sess_table(s);
}

void replay_sq_sess_forget(sq_store_t *s)
{
    if (s->sess) memset(s->sess, 0, REPLAY_SQ_SESS_SLOTS * sizeof *s->sess);
    s->next_sid = 0; /* read again */
}

static int migrate(sq_store_t *s, buf_t *err)
{
    uint64_t t0 = clock_mono_ms();
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "migrate (session numbers)");
    if (replay_sq_has_column(s, "sid") && !has_text_index(s)) /* another writer did it */
        return sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) == SQLITE_OK
                   ? REPLAY_OK
                   : replay_sq_fail(s, err, "migrate (session numbers)");
    if ((!replay_sq_has_column(s, "sid") &&
         sqlite3_exec(s->db, "ALTER TABLE replay ADD COLUMN sid INTEGER", NULL, NULL, NULL) !=
             SQLITE_OK) ||
        sqlite3_exec(s->db, SESS_TABLE, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, MIGRATE, NULL, NULL, NULL) != SQLITE_OK) {
        replay_sq_fail(s, err, "migrate (session numbers)");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return REPLAY_EIO;
    }
    int64_t rows = sqlite3_changes(s->db); /* the UPDATE's */
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        replay_sq_fail(s, err, "migrate (session numbers)");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        return REPLAY_EIO;
    }
    buf_t p = BUF_INIT;
    buf_json_str(&p, s->base.cfg.path, strlen(s->base.cfg.path));
    tlog(TLOG_INFO, "replay_store_migrated",
         "\"path\":%s,\"numbered_rows\":%lld,\"ms\":%llu,\"why\":\"the session index is keyed "
         "by a number per session (replay_sess) instead of the session id: a write batch "
         "rewrites a page or two of it instead of one per session\"",
         p.data, (long long)rows, (unsigned long long)(clock_mono_ms() - t0));
    buf_free(&p);
    return REPLAY_OK;
}

int replay_sq_sess_open(sq_store_t *s, buf_t *err)
{
    if (s->base.cfg.read_only) {
        replay_sq_sess_recheck(s);
        return REPLAY_OK;
    }
    if ((!replay_sq_has_column(s, "sid") || has_text_index(s)) && migrate(s, err) != REPLAY_OK)
        return REPLAY_EIO;
    if (sqlite3_exec(s->db, SESS_TABLE, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "CREATE INDEX IF NOT EXISTS replay_sid ON replay(sid, created_at)",
                     NULL, NULL, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "schema (session numbers)");
    s->has_sid = true;
    if (sqlite3_prepare_v2(s->db, "SELECT sid FROM replay_sess WHERE session_id = ?1", -1,
                           &s->sess_get, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "INSERT INTO replay_sess(session_id, sid) VALUES(?1, ?2)", -1,
                           &s->sess_put, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "PRAGMA data_version", -1, &s->data_version, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "prepare (session numbers)");
    s->sess = calloc(REPLAY_SQ_SESS_SLOTS, sizeof *s->sess);
    if (!s->sess) abort();
    return REPLAY_OK;
}

int replay_sq_sess_batch_begin(sq_store_t *s)
{
    if (!s->data_version) return SQLITE_OK;
    int rc = sqlite3_step(s->data_version);
    int64_t v = rc == SQLITE_ROW ? sqlite3_column_int64(s->data_version, 0) : -1;
    sqlite3_reset(s->data_version);
    if (rc != SQLITE_ROW) return rc;
    if (v != s->seen_version) { /* another connection wrote: what we remember may be gone */
        replay_sq_sess_forget(s);
        s->seen_version = v;
    }
    return SQLITE_OK;
}

int64_t replay_sq_sess_id(sq_store_t *s, const char *id, int *rc)
{
    *rc = SQLITE_OK;
    size_t n = strlen(id);
    uint64_t h = hash_xxh64(id, n, 0) | 1;
    struct sq_sess_slot *e = &s->sess[h % REPLAY_SQ_SESS_SLOTS];
    if (e->h == h && e->len == n && !memcmp(e->text, id, n)) return e->sid;
    sqlite3_bind_text(s->sess_get, 1, id, (int)n, SQLITE_STATIC);
    int step = sqlite3_step(s->sess_get);
    int64_t sid = step == SQLITE_ROW ? sqlite3_column_int64(s->sess_get, 0) : 0;
    sqlite3_reset(s->sess_get);
    if (step != SQLITE_ROW && step != SQLITE_DONE) {
        *rc = step;
        return 0;
    }
    if (step == SQLITE_DONE) { /* a new session: the next number */
        if (!s->next_sid) {
            s->next_sid = replay_sq_int(s, "SELECT max(sid) FROM replay", rc) + 1;
            if (*rc != SQLITE_OK) return 0;
        }
        sid = s->next_sid++;
        sqlite3_bind_text(s->sess_put, 1, id, (int)n, SQLITE_STATIC);
        sqlite3_bind_int64(s->sess_put, 2, sid);
        step = sqlite3_step(s->sess_put);
        sqlite3_reset(s->sess_put);
        if (step != SQLITE_DONE) {
            *rc = step;
            return 0;
        }
    }
    if (n <= SQ_SESS_TEXT) {
        e->h = h;
        e->sid = sid;
        e->len = (uint8_t)n;
        memcpy(e->text, id, n);
    }
    return sid;
}

int replay_sq_sess_sweep(sq_store_t *s)
{
    if (!s->has_sid || !s->ins) return SQLITE_OK;
    int rc =
        sqlite3_exec(s->db,
                     "DELETE FROM replay_sess WHERE NOT EXISTS (SELECT 1 FROM replay r"
                     " WHERE r.sid = replay_sess.sid AND r.session_id = replay_sess.session_id)",
                     NULL, NULL, NULL);
    replay_sq_sess_forget(s);
    return rc;
}

void replay_sq_sess_close(sq_store_t *s)
{
    sqlite3_finalize(s->sess_get);
    sqlite3_finalize(s->sess_put);
    sqlite3_finalize(s->data_version);
    s->sess_get = s->sess_put = s->data_version = NULL;
    free(s->sess);
    s->sess = NULL;
}
