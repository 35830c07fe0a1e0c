/* workq.h - a bounded queue with one consumer thread of its own: the shape
 * shared by the replay writer (replay/queue.c), the shared replay stores'
 * outage buffer (replay/spool.c) and the trace exporter
 * (telemetry/tracer.c). Producers copy fixed-size items in under one short
 * mutex and never wait for the consumer: an item that finds the queue full
 * (or closed) is handed to the drop callback at once, which frees and
 * counts it. The consumer takes batches from the head, optionally lingers
 * for a batch to gather, retries a batch its handler could not finish after
 * the delay the handler asks for, runs a periodic tick, and on close keeps
 * handling until the queue is empty or a deadline passes, then drops the
 * rest.
 *
 * Lifecycle:
 *   core_workq_opts_t o = {.name = "replay-writer", .item_size = sizeof(rec_t *),
 *                          .capacity = 10000, .batch = 256, .handle = h, .drop = d, .ud = me};
 *   core_workq_t *q = core_workq_new(&o);        // starts the thread
 *   ... any thread: core_workq_push(q, &rec);    // copies item_size bytes
 *   ... core_workq_free(q, 5000);                // drain for up to 5 s, drop the rest
 *
 * Thread-safety: push, depth, flush and pause are thread-safe; new and free
 * are called once by the owner. handle and tick run on the queue's thread
 * only, without the queue's lock held. */
#ifndef TETHER_CORE_WORKQ_H
#define TETHER_CORE_WORKQ_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Why items are dropped (the drop callback's why). */
typedef enum {
    CORE_WORKQ_FULL,     /* pushed while the queue was full */
    CORE_WORKQ_CLOSED,   /* pushed after core_workq_free started */
    CORE_WORKQ_DEADLINE, /* still queued when the close deadline passed */
} core_workq_why_t;

typedef struct core_workq_opts {
    const char *name; /* the thread's name (at most 15 bytes are kept) */
    size_t item_size; /* bytes per item (a pointer, or a small struct) */
    size_t capacity;  /* items the queue holds; 0: 1024 */
    /* With weight set: the queue also holds at most max_weight of it (0:
     * capacity), and a batch stops before passing batch_weight (a batch has
     * one item at least). linger_enough counts weight then, items else. */
    size_t (*weight)(const void *item);
    size_t max_weight, batch_weight;
    size_t batch;         /* items per handle call, at most; 0: 256 */
    uint64_t linger_ms;   /* wait up to this for a batch to gather ... */
    size_t linger_enough; /* ... unless this much waits already (0: no lingering) */
    uint64_t tick_ms;     /* call tick this often (0: never) */
    /* The n items at the head, copied to a scratch array. Return 0 when
     * they are done with (the queue forgets them), or a delay in ms after
     * which the same items are handed over again (they stay at the head). */
    uint64_t (*handle)(void *ud, void *items, size_t n);
    void (*tick)(void *ud);                                              /* may be NULL */
    void (*drop)(void *ud, void *items, size_t n, core_workq_why_t why); /* frees and counts */
    void *ud;
} core_workq_opts_t;

typedef struct core_workq core_workq_t;

/* Start the consumer thread. Aborts on OOM or when the thread cannot start. */
core_workq_t *core_workq_new(const core_workq_opts_t *o);
/* Copy n items in (item_size bytes each). Items that do not fit are passed
 * to drop (on this thread, after the lock is released). Returns how many
 * were dropped. Never waits for the consumer. */
size_t core_workq_push(core_workq_t *q, const void *items, size_t n);
/* Items waiting now (those being handled included). */
size_t core_workq_depth(core_workq_t *q);
/* Wait until everything pushed so far was handled (the queue is empty and
 * the handler idle), up to wait_ms; true when it was. */
bool core_workq_flush(core_workq_t *q, uint64_t wait_ms);
/* Stop / resume handling (items stay queued; tick still runs). Tests. */
void core_workq_pause(core_workq_t *q, bool paused);
/* Stop accepting, handle what is queued for up to deadline_ms, drop the
 * rest (CORE_WORKQ_DEADLINE), join the thread and free. NULL is a no-op. */
void core_workq_free(core_workq_t *q, uint64_t deadline_ms);
#endif
