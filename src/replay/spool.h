/* spool.h - the outage buffer of the shared replay stores (store_redis.c,
 * store_postgres.c): a bounded FIFO of flattened records and one thread of
 * its own that hands them to the store's sink in batches.
 *
 * The store's write (called by the replay writer thread, queue.c) only
 * flattens records and pushes them here, so a slow or dead server never
 * holds the replay writer, let alone a request. When the sink fails, the
 * batch stays at the head and is retried with a backoff (100 ms doubling
 * to 2 s) until the server answers again; meanwhile new records queue up
 * to the spool's capacity and the ones that find it full are dropped,
 * counted in tether_replay_store_dropped_total{store} and logged at most
 * once per log interval (replay_store_drops), next to one line when the
 * store goes down (replay_store_down) and one when it comes back
 * (replay_store_recovered).
 *
 * Metrics (label store): tether_replay_store_pending (gauge),
 * tether_replay_store_written_total, tether_replay_store_dropped_total,
 * tether_replay_store_errors_total (failed write attempts).
 *
 * Thread-safety: push, stats and wait are thread-safe; new and free are
 * called once by the owning store. The sink runs on the spool's thread
 * only. */
#ifndef TETHER_REPLAY_SPOOL_H
#define TETHER_REPLAY_SPOOL_H
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "replay/record.h"
#include "replay/store.h"

/* A record as the shared stores keep it: the columns the queries filter
 * on, the figures the aggregates sum, and the rendered JSON. Owns its
 * strings. */
typedef struct replay_flat {
    char id[REPLAY_ID_LEN + 1];
    uint64_t created_at_ms;
    char *session_id, *decision, *model, *reason, *phase, *hard_lock; /* NULL when absent */
    int64_t turn;
    bool switched;
    int status;
    int64_t prompt_tokens, cached_tokens, completion_tokens;
    double cost, baseline_cost;
    char *json;   /* the record without bodies */
    char *bodies; /* the "bodies" object, or NULL */
} replay_flat_t;

/* Fill f from r (copies). */
void replay_flat_from_record(replay_flat_t *f, const replay_record_t *r);
void replay_flat_deinit(replay_flat_t *f);

/* Write n rows to the server. Return REPLAY_OK when all are stored (the
 * spool then frees them), anything else to have the same batch retried
 * (a diagnostic in err). */
typedef int (*replay_spool_sink_fn)(void *ud, const replay_flat_t *rows, size_t n, buf_t *err);

typedef struct replay_spool replay_spool_t;

typedef struct replay_spool_opts {
    const char *store;     /* metric label and log field: "redis", "postgres" */
    size_t capacity;       /* records held while the server is away; 0: 10000 */
    size_t batch;          /* rows per sink call; 0: 256 */
    uint64_t log_every_ms; /* drops are logged at most this often; 0: 10000 */
    uint64_t retry_max_ms; /* backoff cap; 0: 2000 */
    replay_spool_sink_fn sink;
    void *ud;
} replay_spool_opts_t;

typedef struct replay_spool_stats {
    uint64_t written, dropped, errors;
    size_t pending;
    bool is_down; /* the last sink call failed */
} replay_spool_stats_t;

/* Starts the thread. Aborts on OOM. */
replay_spool_t *replay_spool_new(const replay_spool_opts_t *o);
/* Take n rows (moved: the caller's structs are zeroed). Rows that find the
 * spool full are freed and counted; returns how many were dropped. Never
 * waits for the sink. */
size_t replay_spool_push(replay_spool_t *sp, replay_flat_t *rows, size_t n);
void replay_spool_stats(replay_spool_t *sp, replay_spool_stats_t *out);
/* Wait until every row pushed so far reached the sink successfully, up to
 * deadline_ms; true when it did. */
bool replay_spool_wait(replay_spool_t *sp, uint64_t deadline_ms);
/* Try to write what is pending for up to deadline_ms, drop (and count) the
 * rest, stop the thread and free. NULL is a no-op. */
void replay_spool_free(replay_spool_t *sp, uint64_t deadline_ms);

/* The base the shared stores embed first (replay_store_t first, so a
 * replay_store_t * is one of these): their write, flush, stats and close
 * are the ones below, and the readers' connection is guarded by rmu. */
typedef struct replay_spooled {
    replay_store_t base;
    replay_spool_t *spool; /* NULL when opened read-only */
    pthread_mutex_t rmu;   /* the readers' connection */
    /* Frees the store's own fields (its connections included), called by
     * close once the spool's thread has stopped. */
    void (*release)(struct replay_spooled *s);
} replay_spooled_t;

/* Base init plus, unless c->read_only, a spool named ops->name of
 * buffer_records (<= 0: 10000) records feeding sink(s). Call it last in
 * open: the spool's thread may call the sink at once. */
void replay_spooled_init(replay_spooled_t *s, const replay_store_ops_t *ops,
                         const replay_config_t *c, int64_t buffer_records,
                         replay_spool_sink_fn sink, void (*release)(replay_spooled_t *s));
/* replay_store_ops_t write, flush, stats and close of such a store; close
 * writes what is pending for up to 2 s, stops the spool's thread (which
 * owns the writer connection until then), then calls release. */
int replay_spooled_write(replay_store_t *bs, replay_record_t *const *recs, size_t n, buf_t *err);
bool replay_spooled_flush(replay_store_t *bs, uint64_t deadline_ms);
void replay_spooled_stats(replay_store_t *bs, replay_spool_stats_t *out);
void replay_spooled_close(replay_store_t *bs);

/* The ops of a spooled store. */
#define REPLAY_SPOOLED_OPS(NAME, OPEN, SCAN, SWEEP)                                                \
    {                                                                                              \
        .name = (NAME), .open = (OPEN), .write = replay_spooled_write, .scan = (SCAN),             \
        .sweep = (SWEEP), .flush = replay_spooled_flush, .stats = replay_spooled_stats,            \
        .close = replay_spooled_close                                                              \
    }
#endif
