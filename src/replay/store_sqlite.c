/* store_sqlite.c - the default replay store (SPEC §9.9): one SQLite file in
 * WAL mode with incremental auto-vacuum, one row per record (the rendered
 * JSON plus the columns queries filter on), indexes on (sid, created_at)
 * for the timeline (sid: a number per session, store_sqlite_sess.c) and
 * (created_at, id) for the newest-first
 * list, its cursor and the caps (filters on decision, model and reason walk
 * the time index; a file with the older per-filter indexes loses them at
 * open). Writes arrive in batches, one
 * transaction each, which also enforces max_records and max_bytes
 * (store_sqlite_space.c); the writer thread's 60 s sweep removes rows past
 * ttl_seconds, returns free pages and truncates the WAL. Offline readers
 * (the CLI) open the file read-only. */
#include <pthread.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "core/log.h"
#include "replay/registry.h"
#include "replay/store_sqlite.h"

#define CHECKPOINT_EVERY_MS 10000              /* TRUNCATE checkpoint while writing */
#define WRITE_VACUUM_BYTES  (4 * 1024 * 1024)  /* pages returned per write batch, at most */
#define SWEEP_VACUUM_BYTES  (64 * 1024 * 1024) /* ... and per sweep */
#define TTL_CHUNK           5000               /* rows per TTL delete transaction */

static const char SCHEMA[] =
    "CREATE TABLE IF NOT EXISTS replay ("
    " id TEXT PRIMARY KEY,"
    " created_at INTEGER NOT NULL,"
    " session_id TEXT, decision TEXT, model TEXT, reason TEXT, phase TEXT,"
    " turn INTEGER NOT NULL DEFAULT 0, switched INTEGER NOT NULL DEFAULT 0,"
    " record TEXT NOT NULL, bodies TEXT, frag1 INTEGER, frag2 INTEGER, frag_at "
    "INTEGER, sid INTEGER);" REPLAY_SQ_FRAG_SCHEMA ";"
    "CREATE INDEX IF NOT EXISTS replay_created ON replay(created_at, id);";

/* Indexes of files made before 2026-12-07: every write paid for them (a
 * third of SQLite's work per row), and they served only the decision,
 * model and reason filters of the list, which now walk the time index. */
static const char OLD_INDEXES[] =
    "SELECT count(*) FROM sqlite_master WHERE type = 'index' AND tbl_name = 'replay'"
    " AND name IN ('replay_decision', 'replay_model', 'replay_reason')";
static const char DROP_OLD_INDEXES[] = "DROP INDEX IF EXISTS replay_decision;"
                                       " DROP INDEX IF EXISTS replay_model;"
                                       " DROP INDEX IF EXISTS replay_reason;";

int replay_sq_fail(sq_store_t *s, buf_t *err, const char *what)
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
    int rc = REPLAY_OK, frc = SQLITE_OK;
    buf_t js = BUF_INIT, bod = BUF_INIT;
    pthread_mutex_lock(&s->mu);
    s->batch++;
    int64_t rows0 = s->rows;
    uint64_t trimmed0 = s->trimmed;
    /* the write lock from the start: what the session numbers' check reads
     * (store_sqlite_sess.c) holds for the whole batch */
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "begin");
        goto out;
    }
    if (replay_sq_sess_batch_begin(s) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "begin (session numbers)");
        goto rollback;
    }
    for (size_t i = 0; i < n; i++) {
        const replay_record_t *r = recs[i];
        buf_reset(&js);
        buf_reset(&bod);
        /* a trace or candidates list the store keeps once: the row refers to it */
        int64_t f1 = 0, f2 = 0;
        if (r->decision_trace_json)
            f1 = replay_sq_frag_ref(s, r->decision_trace_json, strlen(r->decision_trace_json),
                                    (int64_t)r->created_at_ms, &frc);
        if (frc == SQLITE_OK && r->candidates_json)
            f2 = replay_sq_frag_ref(s, r->candidates_json, strlen(r->candidates_json),
                                    (int64_t)r->created_at_ms, &frc);
        if (frc != SQLITE_OK) {
            rc = replay_sq_fail(s, err, "insert (fragment)");
            goto rollback;
        }
        int64_t sid = 0;
        if (r->has_session && r->session.id && s->has_sid) {
            sid = replay_sq_sess_id(s, r->session.id, &frc);
            if (frc != SQLITE_OK) {
                rc = replay_sq_fail(s, err, "insert (session number)");
                goto rollback;
            }
        }
        replay_render_cut_t cut = {.trace = f1 != 0, .candidates = f2 != 0};
        replay_record_render_cut(r, &cut, &js);
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
        if (f1) sqlite3_bind_int64(st, 12, f1);
        if (f2) sqlite3_bind_int64(st, 13, f2);
        if (f1 || f2)
            sqlite3_bind_int64(
                st, 14, (int64_t)((uint64_t)cut.trace_at | (uint64_t)cut.candidates_at << 32));
        if (sid) sqlite3_bind_int64(st, 15, sid);
        /* an upsert leaves the last rowid alone: 0 after the step means the
         * id was already there, so the row count did not grow */
        sqlite3_set_last_insert_rowid(s->db, 0);
        if (sqlite3_step(st) != SQLITE_DONE) {
            rc = replay_sq_fail(s, err, "insert");
            sqlite3_reset(st);
            goto rollback;
        }
        if (sqlite3_last_insert_rowid(s->db)) s->rows++;
    }
    sqlite3_reset(s->ins);
    if (replay_sq_frag_batch_end(s) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "insert (fragment)");
        goto rollback;
    }
    if (replay_sq_space_enforce(s, WRITE_VACUUM_BYTES / s->page_size) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "trim");
        goto rollback;
    }
    if (sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "commit");
        goto rollback;
    }
    uint64_t now = clock_mono_ms();
    if (now >= s->next_ckpt_ms) {
        replay_sq_checkpoint(s);
        s->next_ckpt_ms = now + CHECKPOINT_EVERY_MS;
    }
    goto out;
rollback:
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    replay_sq_frag_rollback(s);
    replay_sq_sess_forget(s);
    s->rows = rows0;
    s->trimmed = trimmed0;
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
    buf_t q = BUF_INIT, whole = BUF_INIT;
    pthread_mutex_lock(&s->mu);
    if (!s->has_frags) replay_sq_frag_recheck(s); /* a writer may have added them since */
    if (!s->has_sid) replay_sq_sess_recheck(s);
    bool frags = s->has_frags;
    buf_puts(&q,
             "SELECT id, created_at, session_id, decision, model, reason, phase, turn, switched,"
             " record, bodies");
    /* a row's repeated fragments back in place (store_sqlite_frag.c) */
    if (frags)
        buf_puts(&q, ", frag1, frag2, frag_at,"
                     " (SELECT frag_text FROM replay_frag WHERE fid = frag1),"
                     " (SELECT frag_text FROM replay_frag WHERE fid = frag2)");
    buf_puts(&q, " FROM replay WHERE 1");
    /* Parameters are numbered so each appears once whatever the filter. */
    if (f->id) buf_puts(&q, " AND id = ?1");
    /* a session's rows through its number (store_sqlite_sess.c) */
    if (f->session_id)
        buf_puts(&q, s->has_sid ? " AND sid = (SELECT sid FROM replay_sess WHERE session_id = ?2)"
                                  " AND session_id = ?2"
                                : " AND session_id = ?2");
    if (f->decision) buf_puts(&q, " AND decision = ?3");
    if (f->model) buf_puts(&q, " AND model = ?4");
    if (f->reason) buf_puts(&q, " AND reason = ?5");
    if (f->since_ms) buf_puts(&q, " AND created_at >= ?6");
    if (f->has_cursor) buf_puts(&q, " AND (created_at < ?7 OR (created_at = ?7 AND id < ?8))");
    buf_puts(&q, " ORDER BY created_at DESC, id DESC");
    if (f->limit) buf_printf(&q, " LIMIT %zu", f->limit);
    int rc = REPLAY_OK;
    sqlite3_stmt *st = NULL;
    if (sqlite3_prepare_v2(s->db, q.data, (int)q.len, &st, NULL) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "query");
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
        bool cut1 = frags && sqlite3_column_type(st, 11) != SQLITE_NULL,
             cut2 = frags && sqlite3_column_type(st, 12) != SQLITE_NULL;
        if (row.json && (cut1 || cut2)) {
            /* a fragment that is gone (never expected) reads as its default */
            const char *t1 = cut1 ? col_text(st, 14) : NULL, *t2 = cut2 ? col_text(st, 15) : NULL;
            if (cut1 && !t1) t1 = "null";
            if (cut2 && !t2) t2 = "[]";
            row.json =
                replay_sq_frag_splice(&whole, row.json, sqlite3_column_int64(st, 13), t1, t2);
        }
        if (!cb(ctx, &row)) break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) rc = replay_sq_fail(s, err, "read");
out:
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    buf_free(&q);
    buf_free(&whole);
    return rc;
}

/* TTL first, in chunks with the lock released between them so queries
 * interleave; then the row count is recounted (another writer on the same
 * file would make ours drift), the caps enforced, free pages returned (a
 * bounded amount) and the WAL truncated. Rows the caps removed on write
 * since the last sweep are reported here too. */
static int sq_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    sq_store_t *s = (sq_store_t *)bs;
    *removed = 0;
    if (!s->ins) return REPLAY_OK; /* read-only */
    int rc = REPLAY_OK;
    sqlite3_stmt *st = NULL;
    pthread_mutex_lock(&s->mu);
    if (bs->cfg.ttl_seconds > 0 && now_ms > (uint64_t)bs->cfg.ttl_seconds * 1000) {
        if (sqlite3_prepare_v2(s->db,
                               "DELETE FROM replay WHERE rowid IN (SELECT rowid FROM replay"
                               " WHERE created_at < ?1 ORDER BY created_at, id LIMIT ?2)",
                               -1, &st, NULL) != SQLITE_OK) {
            rc = replay_sq_fail(s, err, "sweep");
            goto out;
        }
        sqlite3_bind_int64(st, 1, (sqlite3_int64)(now_ms - (uint64_t)bs->cfg.ttl_seconds * 1000));
        sqlite3_bind_int64(st, 2, TTL_CHUNK);
        for (;;) {
            int step = sqlite3_step(st);
            sqlite3_reset(st);
            if (step != SQLITE_DONE) {
                rc = replay_sq_fail(s, err, "sweep");
                goto out;
            }
            int64_t k = sqlite3_changes(s->db);
            *removed += (size_t)k;
            s->rows = s->rows > k ? s->rows - k : 0;
            if (k < TTL_CHUNK) break;
            pthread_mutex_unlock(&s->mu);
            pthread_mutex_lock(&s->mu);
        }
    }
    sqlite3_finalize(st);
    st = NULL;
    if (sqlite3_prepare_v2(s->db, "SELECT count(*) FROM replay", -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        rc = replay_sq_fail(s, err, "sweep");
        goto out;
    }
    s->rows = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st); /* an unfinished read would hold the checkpoint back */
    st = NULL;
    if (replay_sq_frag_sweep(s) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "sweep (fragments)");
        goto out;
    }
    if (replay_sq_sess_sweep(s) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "sweep (session numbers)");
        goto out;
    }
    if (replay_sq_space_txn(s, SWEEP_VACUUM_BYTES / s->page_size) != SQLITE_OK) {
        rc = replay_sq_fail(s, err, "sweep");
        goto out;
    }
    replay_sq_checkpoint(s);
    s->next_ckpt_ms = clock_mono_ms() + CHECKPOINT_EVERY_MS;
out:
    *removed += (size_t)s->trimmed;
    s->trimmed = 0;
    sqlite3_finalize(st);
    pthread_mutex_unlock(&s->mu);
    return rc;
}

static void sq_close(replay_store_t *bs)
{
    sq_store_t *s = (sq_store_t *)bs;
    sqlite3_finalize(s->ins);
    sqlite3_finalize(s->trim);
    sqlite3_finalize(s->pages);
    replay_sq_frag_close(s);
    replay_sq_sess_close(s);
    sqlite3_close(s->db);
    pthread_mutex_destroy(&s->mu);
    replay_store_base_deinit(bs);
    free(s);
}

static const replay_store_ops_t SQ_OPS = {.name = "sqlite",
                                          .open = replay_store_sqlite_open,
                                          .write = sq_write,
                                          .scan = sq_scan,
                                          .sweep = sq_sweep,
                                          .close = sq_close};

/* A file from the previous version: drop its per-filter indexes (their
 * pages are reused by new rows or returned by the vacuum at open) and say so
 * once. */
static int drop_old_indexes(sq_store_t *s, buf_t *err)
{
    sqlite3_stmt *st = NULL;
    int n = 0;
    if (sqlite3_prepare_v2(s->db, OLD_INDEXES, -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (!n) return REPLAY_OK;
    if (sqlite3_exec(s->db, DROP_OLD_INDEXES, NULL, NULL, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "migrate (drop the decision, model and reason indexes)");
    buf_t p = BUF_INIT;
    buf_json_str(&p, s->base.cfg.path, strlen(s->base.cfg.path));
    tlog(TLOG_INFO, "replay_store_migrated",
         "\"path\":%s,\"dropped_indexes\":%d,\"why\":\"decision, model and reason filters walk "
         "the time index; every write paid for these\"",
         p.data, n);
    buf_free(&p);
    return REPLAY_OK;
}

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
        replay_sq_fail(s, err, "open");
        goto bad;
    }
    sqlite3_busy_timeout(s->db, REPLAY_SQ_BUSY_MS);
    if (c->read_only) {
        /* Check that it is a replay database at all. */
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM replay LIMIT 0", -1, &st, NULL) != SQLITE_OK) {
            replay_sq_fail(s, err, "open (not a replay database?)");
            goto bad;
        }
        sqlite3_finalize(st);
        replay_sq_frag_open(s, NULL);
        replay_sq_sess_open(s, NULL);
        return &s->base;
    }
    /* page size and auto_vacuum first: they only take effect on a file with
     * no tables yet (replay_sq_space_open converts an older file to
     * auto-vacuum; an older file keeps its page size). 32 KiB pages: a
     * routed record (about 4 KiB) fits a page with others instead of taking
     * an overflow page, and a batch writes a few large pages to the WAL
     * instead of many small ones: writer CPU per routed record 42-43 ->
     * 25-33 us against 4 KiB pages (docs/PERFORMANCE.md "replay writer").
     * An 8 MiB page cache (SQLite's default: 2 MiB) keeps the indexes' pages
     * of a full file (100,000 records) in memory: bytes read per routed
     * record 28.6 -> 5.9 KB. */
    if (sqlite3_exec(s->db,
                     "PRAGMA page_size=" REPLAY_SQ_PAGE_SIZE_STR "; PRAGMA auto_vacuum=INCREMENTAL;"
                     " PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"
                     " PRAGMA cache_size=-" REPLAY_SQ_CACHE_KIB_STR ";",
                     NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, SCHEMA, NULL, NULL, NULL) != SQLITE_OK) {
        replay_sq_fail(s, err, "schema");
        goto bad;
    }
    if (drop_old_indexes(s, err) != REPLAY_OK || replay_sq_frag_open(s, err) != REPLAY_OK ||
        replay_sq_sess_open(s, err) != REPLAY_OK)
        goto bad;
    /* An upsert rather than INSERT OR REPLACE: the write path tells a new
     * row from a rewritten one by the last insert rowid (see sq_write). */
    if (sqlite3_prepare_v2(s->db,
                           "INSERT INTO replay(id, created_at, session_id, decision,"
                           " model, reason, phase, turn, switched, record, bodies,"
                           " frag1, frag2, frag_at, sid)"
                           " VALUES(?1,?2,?3,?4,?5,?6,?7,COALESCE(?8,0),COALESCE(?9,0),?10,?11,"
                           "?12,?13,?14,?15)"
                           " ON CONFLICT(id) DO UPDATE SET created_at=excluded.created_at,"
                           " session_id=excluded.session_id, decision=excluded.decision,"
                           " model=excluded.model, reason=excluded.reason, phase=excluded.phase,"
                           " turn=excluded.turn, switched=excluded.switched,"
                           " record=excluded.record, bodies=excluded.bodies,"
                           " frag1=excluded.frag1, frag2=excluded.frag2,"
                           " frag_at=excluded.frag_at, sid=excluded.sid",
                           -1, &s->ins, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "DELETE FROM replay WHERE rowid IN (SELECT rowid FROM replay"
                           " ORDER BY created_at, id LIMIT ?1)",
                           -1, &s->trim, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db, "SELECT * FROM pragma_page_count(), pragma_freelist_count()", -1,
                           &s->pages, NULL) != SQLITE_OK) {
        replay_sq_fail(s, err, "prepare");
        goto bad;
    }
    if (replay_sq_space_open(s, err) != REPLAY_OK) goto bad;
    s->next_ckpt_ms = clock_mono_ms() + CHECKPOINT_EVERY_MS;
    return &s->base;
bad:
    sq_close(&s->base);
    return NULL;
}

/* The registry entry (registry.h). */
const cfg_store_backend_t replay_sqlite_store = {.name = "sqlite", .ops.replay = &SQ_OPS};
