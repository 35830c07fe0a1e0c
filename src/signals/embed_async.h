/* embed_async.h - the remote embedder's calls on a worker's event loop.
 *
 * Before the signals run, the route pipeline asks fetch_embed (route/fetch.h) for the
 * vectors a request's similarity families will read (the query window, and
 * the earlier user turns reask and jailbreak include_history compare). Texts
 * found in the embedder's shared LRU are answered at once; the others join
 * the worker's gather queue, which goes upstream as one POST /embeddings
 * when it holds batch_max texts or when the gather window ends
 * (batch_window_ms; 0: when the loop turns, so requests parsed in the same
 * turn share a call). One deadline (signal_timeout) bounds the fetch; a
 * circuit breaker per worker guards the embedder. Families then read
 * vectors with sig_emb_lookup; a missing one reports why
 * (embedding_timeout, embedding_circuit_open, embedding_unavailable, ...)
 * and the leaf's on_error policy applies.
 *
 * Thread-safety: a sig_emb_client_t belongs to one worker's loop. */
#ifndef TETHER_SIGNALS_EMBED_ASYNC_H
#define TETHER_SIGNALS_EMBED_ASYNC_H
#include "config/config.h"
#include "config/global.h"
#include "core/arena.h"
#include "request/request.h"
#include <stdbool.h>
#include <stdint.h>

struct sig_engine;
struct event_base;
typedef struct sig_emb_client sig_emb_client_t;

/* Vectors fetched for one request (arena memory). */
typedef struct sig_emb_results {
    size_t n;
    uint64_t *keys; /* H(window text) */
    size_t *lens;
    const float **vecs; /* NULL: not fetched, see why */
    const char *why;    /* failure reason of the missing vectors */
    const char *outcome;
    uint32_t latency_us; /* fetch start -> done (every vector in, or the deadline) */
    /* timings (signal_fetch in the replay record): fetch start, time in the
     * gather queue until the (last) batch holding its texts started, the
     * longest batch call it waited on (start -> reply on the loop), texts
     * in that batch, texts asked and texts the LRU answered */
    uint64_t t0_us;
    uint32_t queue_us, call_us, batch_texts, asked, cached;
} sig_emb_results_t;

/* The fetched vector of an already windowed text, or NULL with *why. */
const float *sig_emb_lookup(const sig_emb_results_t *r, const char *w, size_t wn, const char **why);
#endif
