/* store_sqlite_space.c - keeps the SQLite replay file within its caps. The
 * row cap (max_records) and the byte cap (max_bytes) hold after every write
 * transaction: store_sqlite.c calls replay_sq_space_enforce before COMMIT,
 * which deletes the oldest rows through the (created_at, id) index. Freed
 * pages go back to the filesystem through incremental auto-vacuum, a bounded
 * number per call so the writer thread never stalls on a large reclaim; the
 * WAL is checkpointed and truncated on a timer. A file made before
 * auto-vacuum was on is converted once at open (trim, then VACUUM). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/log.h"
#include "replay/store_sqlite.h"

#define OPEN_TRIM_CHUNK    5000          /* rows per transaction when trimming at open */
#define MIN_HEADROOM_BYTES (1024 * 1024) /* free pages kept for reuse without a byte cap */
#define WAL_PAGES_MAX      1000          /* wal_autocheckpoint (SQLite's default) */
#define WAL_PAGES_MIN      16

int replay_sq_pages(sq_store_t *s, int64_t *total, int64_t *free_pages)
{
    int rc = sqlite3_step(s->pages);
    if (rc == SQLITE_ROW) {
        *total = sqlite3_column_int64(s->pages, 0);
        *free_pages = sqlite3_column_int64(s->pages, 1);
        rc = SQLITE_OK;
    }
    sqlite3_reset(s->pages);
    return rc;
}

/* Free pages kept for the next batches instead of returned: giving back
 * pages that the next batch allocates again would cost page moves for
 * nothing. With a byte cap the data is kept max_bytes/16 under the cap, so
 * the file passes the cap only when the free pages pass that headroom. */
static int64_t headroom_pages(const sq_store_t *s, int64_t total)
{
    int64_t h = s->max_bytes ? (int64_t)(s->max_bytes / 16) : total / 16 * s->page_size;
    if (!s->max_bytes && h < MIN_HEADROOM_BYTES) h = MIN_HEADROOM_BYTES;
    return h / s->page_size;
}

static int trim_oldest(sq_store_t *s, int64_t k)
{
    if (k <= 0 || s->rows <= 0) return SQLITE_OK;
    sqlite3_bind_int64(s->trim, 1, k);
    int rc = sqlite3_step(s->trim);
    sqlite3_reset(s->trim);
    if (rc != SQLITE_DONE) return rc;
    int64_t n = sqlite3_changes(s->db);
    s->rows = s->rows > n ? s->rows - n : 0;
    s->trimmed += (uint64_t)n;
    return SQLITE_OK;
}

/* Delete the oldest rows until the used pages fit under the cap less the
 * headroom. A row's share of the pages is only an estimate (index pages
 * empty unevenly), so the count is re-estimated each round and doubled when
 * a round freed nothing. */
static int trim_to_bytes(sq_store_t *s, int64_t *total, int64_t *nfree)
{
    int64_t target = (int64_t)(s->max_bytes - s->max_bytes / 16) / s->page_size;
    int64_t k = 0, prev_used = -1;
    for (int round = 0; round < 24; round++) {
        int64_t used = *total - *nfree;
        if (used <= target || s->rows <= 0) break;
        int64_t est = ((used - target) * s->rows + used - 1) / used;
        k = prev_used >= 0 && used >= prev_used && 2 * k > est ? 2 * k : est;
        if (k < 1) k = 1;
        prev_used = used;
        int rc = trim_oldest(s, k);
        if (rc == SQLITE_OK) rc = replay_sq_pages(s, total, nfree);
        if (rc != SQLITE_OK) return rc;
    }
    return SQLITE_OK;
}

int replay_sq_space_enforce(sq_store_t *s, int64_t vacuum_pages)
{
    int rc = SQLITE_OK;
    int64_t cap = s->base.cfg.max_records;
    if (cap > 0 && s->rows > cap && (rc = trim_oldest(s, s->rows - cap)) != SQLITE_OK) return rc;
    int64_t total = 0, nfree = 0;
    if ((rc = replay_sq_pages(s, &total, &nfree)) != SQLITE_OK) return rc;
    if (s->max_bytes && (rc = trim_to_bytes(s, &total, &nfree)) != SQLITE_OK) return rc;
    int64_t excess = nfree - headroom_pages(s, total);
    if (excess <= 0 || vacuum_pages == 0) return SQLITE_OK;
    if (vacuum_pages > 0 && excess > vacuum_pages) excess = vacuum_pages;
    char sql[64];
    snprintf(sql, sizeof sql, "PRAGMA incremental_vacuum(%lld)", (long long)excess);
    return sqlite3_exec(s->db, sql, NULL, NULL, NULL);
}

void replay_sq_checkpoint(sq_store_t *s)
{
    /* no busy wait: a reader mid-snapshot only postpones the truncation */
    sqlite3_busy_timeout(s->db, 0);
    sqlite3_wal_checkpoint_v2(s->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
    sqlite3_busy_timeout(s->db, REPLAY_SQ_BUSY_MS);
}

int64_t replay_sq_int(sq_store_t *s, const char *sql, int *rc)
{
    sqlite3_stmt *st = NULL;
    int64_t v = 0;
    *rc = sqlite3_prepare_v2(s->db, sql, -1, &st, NULL);
    if (*rc == SQLITE_OK) {
        *rc = sqlite3_step(st);
        if (*rc == SQLITE_ROW) {
            v = sqlite3_column_int64(st, 0);
            *rc = SQLITE_OK;
        }
    }
    sqlite3_finalize(st);
    return v;
}

static int64_t file_bytes(const char *path, const char *suffix)
{
    char p[4096];
    struct stat sb;
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (int64_t)sb.st_size : 0;
}

int replay_sq_space_txn(sq_store_t *s, int64_t vacuum_pages)
{
    int64_t rows0 = s->rows;
    uint64_t trimmed0 = s->trimmed;
    int rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
    if (rc == SQLITE_OK) rc = replay_sq_space_enforce(s, vacuum_pages);
    if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
    if (rc != SQLITE_OK) {
        sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
        s->rows = rows0;
        s->trimmed = trimmed0;
    }
    return rc;
}

static void log_converted(sq_store_t *s, int64_t rows, int64_t before, int64_t after)
{
    buf_t p = BUF_INIT;
    buf_json_str(&p, s->base.cfg.path, strlen(s->base.cfg.path));
    tlog(TLOG_INFO, "replay_store_converted",
         "\"path\":%s,\"rows\":%lld,\"bytes_before\":%lld,\"bytes_after\":%lld", p.data,
         (long long)rows, (long long)before, (long long)after);
    buf_free(&p);
}

int replay_sq_space_open(sq_store_t *s, buf_t *err)
{
    const char *path = s->base.cfg.path;
    int rc;
    s->page_size = replay_sq_int(s, "PRAGMA page_size", &rc);
    if (rc != SQLITE_OK || s->page_size <= 0) return replay_sq_fail(s, err, "page size");
    s->max_bytes = s->base.cfg.max_bytes;
    if (s->max_bytes && s->max_bytes < REPLAY_SQ_MIN_BYTES) s->max_bytes = REPLAY_SQ_MIN_BYTES;
    /* A small byte cap gets a proportionally small WAL between checkpoints;
     * the WAL file is cut back to one checkpoint's worth when it restarts. */
    int64_t wal = WAL_PAGES_MAX;
    if (s->max_bytes && (int64_t)(s->max_bytes / 8) / s->page_size < wal)
        wal = (int64_t)(s->max_bytes / 8) / s->page_size;
    if (wal < WAL_PAGES_MIN) wal = WAL_PAGES_MIN;
    char sql[128];
    snprintf(sql, sizeof sql, "PRAGMA wal_autocheckpoint=%lld; PRAGMA journal_size_limit=%lld",
             (long long)wal, (long long)(wal * s->page_size));
    if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "wal");
    s->rows = replay_sq_int(s, "SELECT count(*) FROM replay", &rc);
    if (rc != SQLITE_OK) return replay_sq_fail(s, err, "count");
    int64_t mode = replay_sq_int(s, "PRAGMA auto_vacuum", &rc);
    if (rc != SQLITE_OK) return replay_sq_fail(s, err, "auto_vacuum");
    int64_t before = file_bytes(path, "") + file_bytes(path, "-wal"), rows_before = s->rows;
    /* Row cap first, in chunks, so a file far over it never makes one huge
     * transaction (and WAL); then the byte cap. */
    int64_t cap = s->base.cfg.max_records;
    while (cap > 0 && s->rows > cap) {
        int64_t k = s->rows - cap > OPEN_TRIM_CHUNK ? OPEN_TRIM_CHUNK : s->rows - cap;
        rc = sqlite3_exec(s->db, "BEGIN", NULL, NULL, NULL);
        if (rc == SQLITE_OK) rc = trim_oldest(s, k);
        if (rc == SQLITE_OK) rc = sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL);
        if (rc != SQLITE_OK) {
            sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
            return replay_sq_fail(s, err, "trim");
        }
    }
    if (replay_sq_space_txn(s, mode == 2 ? -1 : 0) != SQLITE_OK)
        return replay_sq_fail(s, err, "trim");
    if (mode != 2) {
        /* Made before incremental auto-vacuum: VACUUM once to turn it on
         * (the copy holds only what the caps kept). */
        if (sqlite3_exec(s->db, "PRAGMA auto_vacuum=INCREMENTAL; VACUUM", NULL, NULL, NULL) !=
            SQLITE_OK)
            return replay_sq_fail(s, err, "convert (VACUUM)");
    }
    replay_sq_checkpoint(s);
    if (mode != 2)
        log_converted(s, rows_before, before, file_bytes(path, "") + file_bytes(path, "-wal"));
    return REPLAY_OK;
}
