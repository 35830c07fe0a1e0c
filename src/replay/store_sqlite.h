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

/* Repeated fragments (store_sqlite_frag.c): a decision trace or candidates
 * list of at least REPLAY_SQ_FRAG_MIN bytes seen twice among the last
 * REPLAY_SQ_FRAGS distinct ones is kept once, in the replay_frag table, and
 * rows refer to it. */
#define REPLAY_SQ_FRAGS    16
#define REPLAY_SQ_FRAG_MIN 256
#define REPLAY_SQ_FRAG_SCHEMA                                                                      \
    "CREATE TABLE IF NOT EXISTS replay_frag (fid INTEGER PRIMARY KEY AUTOINCREMENT,"               \
    " last_used INTEGER NOT NULL, frag_text TEXT NOT NULL)"

/* Session numbers (store_sqlite_sess.c): the writer remembers the numbers of
 * up to REPLAY_SQ_SESS_SLOTS session ids (direct-mapped by hash; ids of up
 * to SQ_SESS_TEXT bytes). */
#define REPLAY_SQ_SESS_SLOTS 2048
#define SQ_SESS_TEXT         47
struct sq_sess_slot;

typedef struct {
    uint64_t used; /* LRU tick */
    size_t len;    /* 0: empty slot */
    char *text;
    int64_t fid;     /* its replay_frag row (0: seen once, stored inline) */
    uint64_t batch;  /* the write batch that last referred to it */
    int64_t last_ms; /* the newest created_at referring to it in that batch */
    bool fid_is_new; /* fid inserted by the current batch (gone on rollback) */
} sq_frag_t;

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
    bool has_frags;        /* the file has replay_frag and the rows' frag columns */
    sqlite3_stmt *frag_new, *frag_keep;
    sq_frag_t frags[REPLAY_SQ_FRAGS];
    uint64_t frag_tick, batch;
    bool has_sid; /* the file has replay_sess and the rows' sid column */
    sqlite3_stmt *sess_get, *sess_put, *data_version;
    struct sq_sess_slot *sess; /* the writer's cache (NULL: read-only) */
    int64_t next_sid;          /* 0: read it again (max(sid) + 1) */
    int64_t seen_version;      /* PRAGMA data_version at the last batch */
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

/* The first column of sql's first row (0 when there is no row); *rc is
 * SQLITE_OK or the error. */
int64_t replay_sq_int(sq_store_t *s, const char *sql, int *rc);

/* The replay table has the column. */
bool replay_sq_has_column(sq_store_t *s, const char *col);

/* Open: a writable store gives a file without session numbers its numbers
 * (the sid column, replay_sess, the (sid, created_at) index in place of
 * (session_id, created_at); one transaction, log replay_store_migrated),
 * and prepares its statements; a read-only one notes whether the file has
 * them. REPLAY_OK or REPLAY_EIO. */
int replay_sq_sess_open(sq_store_t *s, buf_t *err);
/* Read-only: look again (a writer may have added them). */
void replay_sq_sess_recheck(sq_store_t *s);
/* First in a write batch's transaction (under the write lock): drop what the
 * writer remembers if another connection changed the file. SQLITE_OK or the
 * failing code. */
int replay_sq_sess_batch_begin(sq_store_t *s);
/* Inside the batch's transaction: the number of session id (made and stored
 * in replay_sess the first time). *rc: SQLITE_OK or the failing code. */
int64_t replay_sq_sess_id(sq_store_t *s, const char *id, int *rc);
/* After a ROLLBACK (or anything that may have removed numbers): forget. */
void replay_sq_sess_forget(sq_store_t *s);
/* Sweep: remove the numbers no row of their session uses. SQLITE_OK or the
 * failing code. */
int replay_sq_sess_sweep(sq_store_t *s);
void replay_sq_sess_close(sq_store_t *s);

/* Open: a writable store adds replay_frag and the rows' frag1, frag2 and
 * frag_at columns to a file that lacks them (log replay_store_migrated) and
 * prepares its statements; a read-only one notes whether the file has them.
 * REPLAY_OK or REPLAY_EIO. */
int replay_sq_frag_open(sq_store_t *s, buf_t *err);
/* Read-only: look again for the columns (a writer may have added them). */
void replay_sq_frag_recheck(sq_store_t *s);
/* Inside the batch's transaction: the replay_frag id a row may refer to for
 * text[0..n) written at created_ms, or 0 to store it inline (short, or not
 * seen before). *rc: SQLITE_OK or the failing code. */
int64_t replay_sq_frag_ref(sq_store_t *s, const char *text, size_t n, int64_t created_ms, int *rc);
/* Before COMMIT: make sure every fragment the batch referred to has its row
 * (another writer's sweep may have removed it) with last_used covering the
 * batch. SQLITE_OK or the failing code. */
int replay_sq_frag_batch_end(sq_store_t *s);
/* After a ROLLBACK: forget the ids the batch inserted. */
void replay_sq_frag_rollback(sq_store_t *s);
/* Sweep: remove fragments no row refers to any more (last_used older than
 * the oldest row). SQLITE_OK or the failing code. */
int replay_sq_frag_sweep(sq_store_t *s);
void replay_sq_frag_close(sq_store_t *s);
/* The whole record of a row: cut with f1 inserted at the low 32 bits of at
 * and f2 at the high 32 bits (offsets into cut; a NULL fragment is not
 * inserted). Returns out->data. */
const char *replay_sq_frag_splice(buf_t *out, const char *cut, int64_t at, const char *f1,
                                  const char *f2);
#endif
