/* store_sqlite.c - the default replay store (SPEC §9.9): one SQLite file in
 * WAL mode, one row per record (the rendered JSON plus the columns queries
 * filter on), indexes on session_id, created_at, decision, model and reason,
 * and a sweep for ttl_seconds and max_records that the writer thread runs
 * every 60 s. Writes arrive in batches, one transaction each. Offline readers
 * (the CLI) open the file read-only. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "replay/store.h"

typedef struct {
    replay_store_t base;
    sqlite3 *db;
    sqlite3_stmt *ins;
    pthread_mutex_t mu;
} sq_store_t;

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS replay ("
    " id TEXT PRIMARY KEY,"
    " created_at INTEGER NOT NULL,"
    " session_id TEXT, decision TEXT, model TEXT, reason TEXT, phase TEXT,"
    " turn INTEGER NOT NULL DEFAULT 0, switched INTEGER NOT NULL DEFAULT 0,"
    " record TEXT NOT NULL, bodies TEXT);"
    "CREATE INDEX IF NOT EXISTS replay_session ON replay(session_id, created_at);"
    "CREATE INDEX IF NOT EXISTS replay_created ON replay(created_at, id);"
    "CREATE INDEX IF NOT EXISTS replay_decision ON replay(decision, created_at);"
    "CREATE INDEX IF NOT EXISTS replay_model ON replay(model, created_at);"
    "CREATE INDEX IF NOT EXISTS replay_reason ON replay(reason, created_at);";

static int fail(sq_store_t *s, buf_t *err, const char *what)
{
    if (err) {
        buf_reset(err);
        buf_printf(err, "replay sqlite %s (%s): %s", what, s->base.cfg.path,
                   s->db ? sqlite3_errmsg(s->db) : "out of memory");
    }
    return REPLAY_EIO;
}

static int sq_write(replay_store_t *bs, replay_record_t *const *recs, size_t n, buf_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    if (!s->ins) {
        if (err) {
            buf_reset(err);
            buf_printf(err, "replay sqlite store %s is open read-only", bs->cfg.path);
        }
        return REPLAY_EINVAL;
    }
    int rc = REPLAY_OK;
    buf_t js = BUF_INIT, bod = BUF_INIT;
    pthread_mutex_lock(&s->mu);
    if (sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(s, err, "begin");
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        const replay_record_t *r = recs[i];
        buf_reset(&js);
        buf_reset(&bod);
        replay_record_render(r, false, &js);
        bool has_bodies = r->request_body || r->response_body;
        if (has_bodies) replay_record_render_bodies(r, &bod);
        sqlite3_stmt *st = s->ins;
        sqlite3_reset(st);
        sqlite3_clear_bindings(st);
        sqlite3_bind_text(st, 1, r->id, -1, SQLITE_STATIC);
        sqlite3_bind_int64(st, 2, (sqlite3_int64)r->created_at_ms);
        if (r->has_session) {
            sqlite3_bind_text(st, 3, r->session.id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 6, r->session.reason, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 7, r->session.phase, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 8, r->session.turn);
            sqlite3_bind_int(st, 9, r->session.switched);
        }
        sqlite3_bind_text(st, 4, r->decision, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 5, r->model, -1, SQLITE_STATIC);
        sqlite3_bind_text(st, 10, js.data, (int)js.len, SQLITE_STATIC);
        if (has_bodies) sqlite3_bind_text(st, 11, bod.data, (int)bod.len, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = fail(s, err, "insert");
            sqlite3_reset(st);
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            goto out;
        }
    }
    sqlite3_reset(s->ins);
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = fail(s, err, "commit");
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    }
out:
    pthread_mutex_unlock(&s->mu);
    buf_free(&js);
    buf_free(&bod);
    return rc;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
    return (const char *)sqlite3_column_text(st, i);
}

static int sq_scan(replay_store_t *bs, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                   buf_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    buf_t q = BUF_INIT;
    buf_puts(&q,
             "SELECT id, created_at, session_id, decision, model, reason, phase, turn, switched,"
             " record, bodies FROM replay WHERE 1");
    /* Parameters are numbered so each appears once whatever the filter. */
    if (f->id) buf_puts(&q, " AND id = ?1");
    if (f->session_id) buf_puts(&q, " AND session_id = ?2");
    if (f->decision) buf_puts(&q, " AND decision = ?3");
    if (f->model) buf_puts(&q, " AND model = ?4");
    if (f->reason) buf_puts(&q, " AND reason = ?5");
    if (f->since_ms) buf_puts(&q, " AND created_at >= ?6");
    if (f->has_cursor) buf_puts(&q, " AND (created_at < ?7 OR (created_at = ?7 AND id < ?8))");
    buf_puts(&q, " ORDER BY created_at DESC, id DESC");
    if (f->limit) buf_printf(&q, " LIMIT %zu", f->limit);
    int rc = REPLAY_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, q.data, (int)q.len, &st, NULL) != SQLITE_OK) {
        rc = fail(s, err, "query");
        goto out;
    }
    if (f->id) sqlite3_bind_text(st, 1, f->id, -1, SQLITE_STATIC);
    if (f->session_id) sqlite3_bind_text(st, 2, f->session_id, -1, SQLITE_STATIC);
    if (f->decision) sqlite3_bind_text(st, 3, f->decision, -1, SQLITE_STATIC);
    if (f->model) sqlite3_bind_text(st, 4, f->model, -1, SQLITE_STATIC);
    if (f->reason) sqlite3_bind_text(st, 5, f->reason, -1, SQLITE_STATIC);
    if (f->since_ms) sqlite3_bind_int64(st, 6, (sqlite3_int64)f->since_ms);
    if (f->has_cursor) {
        sqlite3_bind_int64(st, 7, (sqlite3_int64)f->before_ms);
        sqlite3_bind_text(st, 8, f->before_id ? f->before_id : "", -1, SQLITE_STATIC);
    }
    int step;
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        replay_row_t row = {
            .id = col_text(st, 0),
            .created_at_ms = (uint64_t)sqlite3_column_int64(st, 1),
            .session_id = col_text(st, 2),
            .decision = col_text(st, 3),
            .model = col_text(st, 4),
            .reason = col_text(st, 5),
            .phase = col_text(st, 6),
            .turn = sqlite3_column_int64(st, 7),
            .switched = sqlite3_column_int(st, 8) != 0,
            .json = col_text(st, 9),
            .bodies_json = col_text(st, 10),
        };
        if (!cb(ctx, &row)) break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) rc = fail(s, err, "read");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    buf_free(&q);
    return rc;
}

static int sq_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    *removed = 0;
    if (!s->ins) return REPLAY_OK; /* read-only */
    int rc = REPLAY_OK;
    pthread_mutex_lock(&s->mu);
    sqlite3_stmt *st = NULL;
    if (bs->cfg.ttl_seconds > 0 && now_ms > (uint64_t)bs->cfg.ttl_seconds * 1000) {
        if (sqlite3_prepare_v2(s->db, "DELETE FROM replay WHERE created_at < ?1", -1, &st, NULL) !=
            SQLITE_OK) {
            rc = fail(s, err, "sweep");
            goto out;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(now_ms - (uint64_t)bs->cfg.ttl_seconds * 1000));
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = fail(s, err, "sweep");
            goto out;
        }
        *removed += (size_t)sqlite3_changes(s->db);
        sqlite3_finalize(st);
        st = NULL;
    }
    if (bs->cfg.max_records > 0) {
        /* Keep the newest max_records in the scan order. */
        if (sqlite3_prepare_v2(s->db,
                               "DELETE FROM replay WHERE rowid IN (SELECT rowid FROM replay"
                               " ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?1)",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = fail(s, err, "sweep");
            goto out;
        }
        sqlite3_bind_int64(st, 1, bs->cfg.max_records);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = fail(s, err, "sweep");
            goto out;
        }
        *removed += (size_t)sqlite3_changes(s->db);
    }
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void sq_close(replay_store_t *bs)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_finalize(s->ins);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    replay_store_base_deinit(bs);
    free(s);
}

static const replay_store_ops_t SQ_OPS = {"sqlite", sq_write, sq_scan, sq_sweep, sq_close};

replay_store_t *replay_store_sqlite_open(const replay_config_t *c, buf_t *err)
{
    sq_store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    replay_store_base_init(&s->base, &SQ_OPS, c);
    pthread_mutex_init(&s->mu, NULL);
    const char *path = c->path && *c->path ? c->path : "tether-replay.db";
    int flags = c->read_only ? SQLITE_OPEN_READONLY : SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE;
    flags |= SQLITE_OPEN_NOMUTEX; /* our own mutex serialises */
    if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
        fail(s, err, "open");
        goto bad;
    }
    sqlite3_busy_timeout(s->db, 2000);
    if (c->read_only) {
        /* Check that it is a replay database at all. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM replay LIMIT 0", -1, &st, NULL) != SQLITE_OK) {
            fail(s, err, "open (not a replay database?)");
            goto bad;
        }
        sqlite3_finalize(st);
        return &s->base;
    }
    if (sqlite3_exec(s->db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;", NULL, NULL,
                     NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        fail(s, err, "schema");
        goto bad;
    }
    if (sqlite3_prepare_v2(s->db,
                           "INSERT OR REPLACE INTO replay(id, created_at, session_id, decision,"
                           " model, reason, phase, turn, switched, record, bodies)"
                           " VALUES(?1,?2,?3,?4,?5,?6,?7,COALESCE(?8,0),COALESCE(?9,0),?10,?11)",
                           -1, &s->ins, NULL) != SQLITE_OK) {
        fail(s, err, "prepare");
        goto bad;
    }
    return &s->base;
bad:
    sq_close(&s->base);
    return NULL;
}
