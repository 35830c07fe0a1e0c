/* fetch_cls.h - internals of the classifier fetch shared by
 * fetch_classify.c (a request's calls, its deadline, the outcomes) and
 * fetch_classify_batch.c (concurrent requests' inputs gathered into one
 * upstream call per classifier). Not an interface: route/fetch.h is.
 *
 * Thread-safety: everything belongs to one worker's event loop. */
#ifndef TETHER_ROUTE_FETCH_CLS_H
#define TETHER_ROUTE_FETCH_CLS_H
#include "route/fetch.h"
#include "kv/breaker.h"
#include <sys/uio.h>

#define CLS_MAX_BREAKERS 64
#define CLS_MAX_QUEUES   64

typedef struct cls_fetch cls_fetch_t;
typedef struct cls_batch cls_batch_t;
typedef struct cls_queue cls_queue_t;

/* One classifier of one request (in the request's arena). */
typedef struct cls_call {
    cls_fetch_t *f;
    size_t idx; /* classifier index */
    const cfg_classifier_t *k;
    hup_call_t *call; /* its own call; NULL once it ended */
    kv_breaker_t *brk;
    bool probe;
    buf_t head, body, resp; /* queued: body is that of a call of its own */
    char host[256];
    int status;
    uint64_t sent_at;            /* clock_mono_us when the call started, 0: not started */
    uint64_t ended_at;           /* when its reply (or failure) arrived, before parsing */
    uint64_t to_ms;              /* the call's connect, first-byte and idle timeout */
    uint32_t n_inputs;           /* entries of its input list */
    uint32_t list_off, list_len; /* queued: the input list "[...]" in body */
    cls_queue_t *queue;          /* waiting in this gather queue (not sent yet) */
    cls_batch_t *batch;          /* in this shared call */
    uint32_t slot;               /* its place in the queue or the call */
} cls_call_t;

struct cls_fetch {
    sig_cls_client_t *c;
    arena_t *a;
    sig_cls_results_t *out;
    cls_call_t *calls;
    size_t n, pending;
    struct event *timer;
    bool finishing;
    uint64_t t0;
    void (*done)(void *ud);
    void *ud;
};

typedef struct cls_breaker {
    char name[64];
    kv_breaker_t b;
} cls_breaker_t;

/* The requests waiting to share a call to one classifier (of one config
 * generation: keyed by the classifier's config). */
struct cls_queue {
    sig_cls_client_t *c;
    const cfg_classifier_t *k; /* NULL: unused */
    cls_call_t **q;
    size_t qn, qcap;
    uint64_t q_inputs;
    size_t n_inflight; /* its calls in flight on this worker */
    struct event *flush_ev;
    bool flush_armed;
};

struct sig_cls_client {
    struct event_base *base;
    hup_pools_t *pools;
    sig_emb_client_t *emb; /* the embedder's calls on this loop (route/fetch_embed.c) */
    cls_breaker_t brk[CLS_MAX_BREAKERS];
    size_t n_brk;
    cls_queue_t qs[CLS_MAX_QUEUES];
    size_t n_qs;
    cls_batch_t *inflight; /* shared calls in flight */
};

/* fetch_classify.c */
/* Record k's outcome (metric, breaker, timings). */
void fetch_cls_record(cls_call_t *k, const char *outcome, bool ok);
/* k's call ended: the fetch finishes later in this turn after its last. */
void fetch_cls_ended(cls_call_t *k);
/* Parse a reply to a call of k's own into its outcome: 0 or -1. */
int fetch_cls_parse_own(cls_call_t *k, const char *body, size_t len);
/* The call's head: request line, host, JSON content, the bearer key. */
void fetch_cls_put_head(buf_t *b, const cfg_classifier_t *k, const char *path, const char *host,
                        int port, size_t body_len);
/* "{model, [task,]" "input":" - the body up to the input list. */
void fetch_cls_put_body_start(buf_t *b, const cfg_classifier_t *k);

/* fetch_classify_batch.c */
/* Does k's protocol take a list of inputs that batching may share? */
bool fetch_cls_batchable(const cfg_classifier_t *k);
/* Queue k (the body of a call of its own in k->body, its input list at
 * list_off); false when no queue is free (the
 * caller then makes a call of its own). */
bool fetch_cls_enqueue(sig_cls_client_t *c, cls_call_t *k);
/* Send every queue whose classifier has fewer than batch_inflight calls in
 * flight. */
void fetch_cls_kick(sig_cls_client_t *c);
/* The request's deadline: k leaves its queue or its shared call (the call
 * is cancelled when nobody waits on it any more). */
void fetch_cls_withdraw(cls_call_t *k);
/* Worker exit: cancel the shared calls, drop the queues. */
void fetch_cls_batches_free(sig_cls_client_t *c);
#endif
