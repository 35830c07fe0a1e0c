/* fetch.h - the remote inputs of the signal families, fetched on the
 * worker's event loop before the signals run (the pipeline's classify
 * stage): external classifiers (fetch_classify.c, results in
 * signals/classify.h) and the remote embedder's vectors (fetch_embed.c,
 * results in signals/embed_async.h). The families only read the results;
 * the network calls live here, above http/ and signals/.
 *
 * Thread-safety: a client belongs to one worker's event loop. */
#ifndef TETHER_ROUTE_FETCH_H
#define TETHER_ROUTE_FETCH_H
#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "http/upstream.h"
#include "request/request.h"
#include "signals/classify.h"
#include "signals/embed_async.h"
#include <stdbool.h>
#include <stdint.h>

struct sig_engine;
struct event_base;

/* One client per worker: its event base, its connection pools (borrowed),
 * and a circuit breaker per classifier name. */
sig_cls_client_t *fetch_cls_client_new(struct event_base *base, hup_pools_t *pools);
void fetch_cls_client_free(sig_cls_client_t *c);

/* The embedder client sharing this client's loop and pools (embed_async.h). */
sig_emb_client_t *fetch_cls_client_emb(sig_cls_client_t *c);
/* Count one call in tether_signal_backend_total{backend,outcome}. */
void fetch_backend_count(const char *backend, const char *outcome);
/* scheme://host[:port][/path]: 0, or -1 when the URL is not usable. */
int fetch_url_parse(const char *url, bool *tls, char *host, size_t hl, int *port,
                    const char **path);

/* Does the recipe name any classifier (in a family it uses)? */
bool fetch_cls_needed(const struct sig_engine *e, const cfg_recipe_t *recipe);

/* Start every call the recipe needs; done runs exactly once, later on the
 * client's loop (never inline), when all calls ended or the deadline
 * (deadline_ms from now) passed. out, rq and the arena must outlive it.
 * Returns false (and does not call done) when nothing was started. */
bool fetch_classify(sig_cls_client_t *c, const struct sig_engine *e, const cfg_recipe_t *recipe,
                    rq_t *rq, uint64_t deadline_ms, arena_t *a, sig_cls_results_t *out,
                    void (*done)(void *ud), void *ud);

/* The remote embedder's calls in flight per worker below which a request's
 * texts go upstream at once (batch_window_ms 0); at the bound they wait
 * for a call to end and go together (docs/signals.md). */
#define FETCH_EMB_INFLIGHT_MAX 32

sig_emb_client_t *fetch_emb_client_new(struct event_base *base, hup_pools_t *pools);
void fetch_emb_client_free(sig_emb_client_t *c);

/* Does the recipe need remote vectors (a remote embedder and a similarity
 * family in use)? */
bool fetch_emb_needed(const struct sig_engine *e, const cfg_recipe_t *recipe);

/* The vector of text for a selector (router_dc) or the semantic cache, never
 * blocking: with a remote embedder, the request's fetched vectors (pre, may
 * be NULL) or the shared LRU, of the text's query window; -1 when neither
 * holds it. A local (builtin) embedder computes it. out has emb_dims(emb)
 * floats. */
struct emb;
int fetch_emb_vector(struct emb *emb, const sig_emb_results_t *pre, const char *text, size_t len,
                     float *out);

/* Start fetching; done runs once, later on the loop (never inline), when
 * every vector arrived or the deadline passed. Returns false (done not
 * called) when the recipe needs none. out, rq and the arena must outlive it. */
bool fetch_embed(sig_emb_client_t *c, const struct sig_engine *e, const cfg_recipe_t *recipe,
                 rq_t *rq, uint64_t deadline_ms, arena_t *a, sig_emb_results_t *out,
                 void (*done)(void *ud), void *ud);

/* The fetch's timings as a JSON object (fetch_timings.c): {classifiers:
 * [{name, outcome, sent_us, call_us, latency_us, batch_requests (only when
 * the call was shared)}], embeddings: {outcome,
 * texts, cached, batch_texts, queue_us, call_us, latency_us} | null,
 * slowest_call_us, wall_us}, times from the fetch's start; wall_us ends at
 * signals_at_us (when the signals began). Appends nothing and returns false
 * when the request fetched nothing. */
/* Append pre, then v in decimal (the fetch's hot path: no printf). */
void fetch_put_u(buf_t *b, const char *pre, uint64_t v);
/* "POST path HTTP/1.1\r\nHost: host:port\r\nContent-Type: application/json\r\n
 * Accept: application/json\r\nContent-Length: n\r\n" (no blank line). */
void fetch_put_head(buf_t *b, const char *path, const char *host, int port, size_t n);
bool fetch_timings_json(buf_t *b, const sig_cls_results_t *cls, const sig_emb_results_t *emb,
                        uint64_t signals_at_us);
#endif
