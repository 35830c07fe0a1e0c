/* store_sqlite.h - private to the SQLite replay store: the store object that
 * store_sqlite.c (schema, writes, scans) and store_sqlite_space.c (the
 * max_records / max_bytes caps, space reclaim, WAL checkpoints) share.
 * Every function here expects s->mu held by the caller. */
#ifndef TETHER_REPLAY_STORE_SQLITE_H
#define TETHER_REPLAY_STORE_SQLITE_H
#include <pthread.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>

#include "replay/store.h"

/* max_bytes below this counts as this: the schema alone takes ~40 KiB with
 * 4 KiB pages, ~200 KiB with 32 KiB pages. */
#define REPLAY_SQ_MIN_BYTES (1024 * 1024)
#define REPLAY_SQ_BUSY_MS   2000 /* busy timeout: a reader holding a lock briefly */
/* Page size of a new file (an existing file keeps its own). */
#define REPLAY_SQ_PAGE_SIZE     32768
#define REPLAY_SQ_PAGE_SIZE_STR "32768"
/* Page cache of the store's connection, KiB. */
#define REPLAY_SQ_CACHE_KIB_STR "8192"

typedef struct sq_store {
    replay_store_t base;
    sqlite3 *db;
    sqlite3_stmt *ins;   /* upsert one record */
    sqlite3_stmt *trim;  /* delete the ?1 oldest rows (created_at, id order) */
    sqlite3_stmt *pages; /* page_count, freelist_count */
    pthread_mutex_t mu;
    int64_t rows;          /* rows in the table: counted at open, kept by writes */
    int64_t page_size;     /* bytes */
    uint64_t max_bytes;    /* effective cap (0 = none) */
    uint64_t trimmed;      /* rows the caps removed on write; the next sweep reports them */
    uint64_t next_ckpt_ms; /* monotonic time of the next TRUNCATE checkpoint */
} sq_store_t;

/* Open-time work on a writable store (after the schema exists): count the
 * rows, size the WAL, convert a file without incremental auto-vacuum (once,
 * trimming to the caps first so the VACUUM copies only what is kept), trim
 * to the caps, return free pages and truncate the WAL. */
int replay_sq_space_open(sq_store_t *s, buf_t *err);
/* Fill err with "replay sqlite WHAT (path): sqlite's message"; REPLAY_EIO. */
int replay_sq_fail(sq_store_t *s, buf_t *err, const char *what);
/* Inside a write transaction: delete the oldest rows until the row count
 * is within max_records and the used pages within max_bytes (less the
 * headroom), then return free pages beyond the headroom to the filesystem,
 * at most vacuum_pages of them (< 0: all). SQLITE_OK or the failing code. */
int replay_sq_space_enforce(sq_store_t *s, int64_t vacuum_pages);
/* The same in a transaction of its own (the counters restored when it
 * fails). SQLITE_OK or the failing code. */
int replay_sq_space_txn(sq_store_t *s, int64_t vacuum_pages);
/* Copy the WAL into the database and truncate it, without waiting for
 * readers (a busy reader leaves it for the next time). */
void replay_sq_checkpoint(sq_store_t *s);
/* The database's logical size: page_count and freelist_count in pages. */
int replay_sq_pages(sq_store_t *s, int64_t *total, int64_t *free_pages);
#endif
