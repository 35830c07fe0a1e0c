/* queue.h - the bounded replay queue and its one writer thread (SPEC §9.9,
 * ARCHITECTURE §3). Request threads push finished records; the writer
 * validates, redacts and stores them in batches, and sweeps the store every
 * 60 s. A push never waits for the writer: when the queue is full the record
 * is dropped and counted.
 *
 * Lifecycle (the server):
 *   replay_config_t rc; replay_config_from_cfg(cfg, &rc);
 *   replay_store_t *st = replay_store_open(&rc, &err);      // NULL: say err, run without
 *   replay_queue_t *q = replay_queue_new(st, &rc);           // starts the writer thread
 *   ... per request: replay_queue_push(q, rec);              // any worker thread
 *   ... GET /v1/router_replay: replay_query_list(st, ...)    // query.h, any thread
 *   ... shutdown: replay_queue_free(q, 5000, &last);         // flush with a deadline
 *   replay_store_close(st);
 *
 * Thread-safety: push, stats and flush are thread-safe; new and free are
 * called once by the owner. The queue borrows the store. */
#ifndef TETHER_REPLAY_QUEUE_H
#define TETHER_REPLAY_QUEUE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "replay/record.h"
#include "replay/store.h"

typedef struct replay_queue replay_queue_t;

typedef struct replay_stats {
    uint64_t written; /* records stored */
    uint64_t dropped; /* queue full, queue closed, or left at the shutdown deadline */
    uint64_t errors;  /* invalid records and store failures (records lost) */
    uint64_t swept;   /* rows removed by the TTL sweep and the caps (sqlite: trims on write
                       * are reported by the next sweep) */
    size_t depth;     /* records waiting now */
} replay_stats_t;

/* Start the writer over store (borrowed; must outlive the queue). Uses
 * c->queue_size (<= 0: 10000) and c->redact. Aborts on OOM. */
replay_queue_t *replay_queue_new(replay_store_t *store, const replay_config_t *c);
/* Same, with the sweep period in ms (tests; 0 = never sweep). */
replay_queue_t *replay_queue_new_ex(replay_store_t *store, const replay_config_t *c,
                                    uint64_t sweep_every_ms);
/* Hand a finished record to the writer; takes ownership of r in every case.
 * Returns REPLAY_OK, REPLAY_EDROPPED (full or closed; counted in dropped) or
 * REPLAY_EINVAL (a reason outside the §9.9 enum; counted in errors). Never
 * blocks on I/O; holds a mutex only for a pointer swap. */
int replay_queue_push(replay_queue_t *q, replay_record_t *r);
void replay_queue_stats(replay_queue_t *q, replay_stats_t *out);
/* Wait until everything pushed so far is stored, for up to wait_ms.
 * Returns true when the queue drained. For tests and `config reload`. */
bool replay_queue_flush(replay_queue_t *q, uint64_t wait_ms);
/* Stop accepting, write what is queued for up to deadline_ms, count the rest
 * as dropped, join the writer and free. final (may be NULL) receives the last
 * counters, e.g. for a shutdown log line. NULL q is a no-op. */
void replay_queue_free(replay_queue_t *q, uint64_t deadline_ms, replay_stats_t *final);
/* Test hook: pause / resume the writer (records stay queued meanwhile). */
void replay_queue_pause(replay_queue_t *q, bool paused);
#endif
