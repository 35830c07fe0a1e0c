/* proxy.h - the one upstream proxy (ARCHITECTURE.md's `upstream/` stage):
 * a routed request's lifecycle from the plan to the last byte, written once
 * for every endpoint. The proxy makes the attempts over the model's
 * backend_refs (retries before the first byte), falls back to the next
 * candidate or the default model when nothing locks the session, re-decides
 * after a locked model's backends all failed (forced handoff), commits the
 * session at the first 2xx headers (the client's headers wait for the
 * store's acknowledgement), relays the reply (raw SSE, a whole body held
 * until complete, or translated), captures usage, feeds the response cache
 * and writes the replay record, request log and metrics.
 *
 * What differs per client protocol lives in a small adapter (up_adapter_t,
 * one ops table per protocol, in api/: chat, Messages, Responses): building
 * the upstream body for a model, the head's path, the response headers,
 * error bodies in the client's shape, SSE event handling (usage, ids,
 * translation) and the translation of a whole reply.
 *
 * The proxy lives in the request arena; an adapter embeds up_proxy_t as its
 * first member. Worker-thread only. */
#ifndef TETHER_UPSTREAM_PROXY_H
#define TETHER_UPSTREAM_PROXY_H
#include "core/buf.h"
#include "http/server.h"
#include "http/sse.h"
#include "http/upstream.h"
#include "http/wrr.h"
#include "json/reply_scan.h"
#include "json/scan.h"
#include "plugins/plugins.h"
#include "plugins/response_cache.h"
#include "replay/queue.h"
#include "route/pipeline.h"
#include "upstream/forward_headers.h"
#include <event2/event.h>
#include <event2/event_struct.h>
#include <stdbool.h>
#include <sys/uio.h>

#define UP_MAX_BODY   (16u << 20) /* a whole reply held until complete (also translated ones) */
#define UP_MAX_CACHE  (8u << 20)  /* streamed reply bytes kept for the response cache */
#define UP_HIGH_WATER (256 * 1024)

typedef struct up_proxy up_proxy_t;

/* The worker's services the proxy uses; filled by api/ (app.c) for one
 * request. The config reference is released through release(ref). */
typedef struct up_host {
    hup_pools_t *pools;
    void *worker;
    wrr_t *(*picker)(void *worker, size_t model_index); /* the model's backend picker */
    void (*sync)(void *worker, const cfg_t *cfg, uint64_t generation);
    void (*release)(void *ref);
    rc_cache_t *rcache;        /* response cache, NULL when off */
    replay_queue_t *replay;    /* replay queue, NULL when off */
    struct lim *limits;        /* rate limits and budgets (process-wide), NULL when off */
    struct tel_tracer *tracer; /* OpenTelemetry export (process-wide), NULL when off */
} up_host_t;

/* A protocol adapter. Every op is called on the worker thread; NULL ops are
 * skipped where noted. */
typedef struct up_adapter {
    /* (Re)build the upstream body for p->model (and any stream translator):
     * fills p->iov / p->n_iov / p->body_len and p->raw. False after
     * answering an error itself (up_fail). */
    bool (*build)(up_proxy_t *p);
    /* The request target's path and protocol of the head for backend b. */
    void (*head)(up_proxy_t *p, const cfg_backend_ref_t *b, fwd_head_in_t *in);
    /* Append the endpoint's x-tether-* response headers; returns the count. */
    int (*headers)(up_proxy_t *p, hsrv_header_t *h, int n, const char *path);
    /* An error body in the client's shape. */
    void (*error_body)(up_proxy_t *p, int status, const char *type, const char *code,
                       const char *msg, buf_t *out);
    /* An in-band error event after a stream started, appended to out. */
    void (*stream_error)(up_proxy_t *p, const char *msg, buf_t *out);
    /* The request log line and request counters (status final). */
    void (*log_done)(up_proxy_t *p, int status);
    /* Release the adapter's own state (may be NULL). */
    void (*end)(up_proxy_t *p);
    /* A 2xx reply is about to reach the client (may be NULL). */
    void (*on_ok)(up_proxy_t *p);
    /* One upstream SSE event (usage, reply text, ids, translation). */
    void (*sse_event)(up_proxy_t *p, const char *event, size_t event_len, const char *data,
                      size_t len);
    /* Raw SSE: are the upstream bytes relayed as they are? (NULL: yes) */
    bool (*relays_raw)(const up_proxy_t *p);
    /* A whole raw reply arrived (2xx or not): extract what the adapter keeps
     * (ids); may replace the bytes the client gets by writing *out and
     * returning true (NULL: relayed as held). */
    bool (*whole)(up_proxy_t *p, buf_t *out);
    /* Translated upstream (p->raw false) only: */
    /* start assembling a stream the client did not ask for into one reply */
    void (*assemble_start)(up_proxy_t *p);
    /* end of the assembly: the assembled reply into p->acc */
    void (*assemble_end)(up_proxy_t *p);
    /* the attempt failed before the client saw a byte: drop the assembly */
    void (*assemble_abort)(up_proxy_t *p);
    /* the whole 2xx reply in p->acc into the client's protocol (out), usage
     * and reply text captured; false: it could not be translated (502) */
    bool (*translate_whole)(up_proxy_t *p, buf_t *out);
    /* an error reply in p->acc, answered in the client's shape (up_fail) */
    void (*translate_error)(up_proxy_t *p);
    /* a relayed stream or a held raw reply ended (translators flushed,
     * usage, stores); NULL: nothing */
    void (*stream_done)(up_proxy_t *p);
    /* Forced handoff after failures: the facts of the re-decision (may
     * adjust *facts; NULL: the plan's) */
    void (*handoff_facts)(up_proxy_t *p, sess_facts_t *facts);
    /* ... whether model nm may take over, and the request converted for it
     * (out->handoff); false after answering an error. NULL: no conversion. */
    bool (*handoff_convert)(up_proxy_t *p, const sess_policy_out_t *out, const cfg_model_t *nm);
    /* Fallback to another model allowed? (NULL: yes) */
    bool (*may_fallback)(const up_proxy_t *p);
    /* Re-dispatch to another model: reset per-model adapter state before
     * build (NULL: nothing). */
    void (*redispatch)(up_proxy_t *p);
} up_adapter_t;

struct up_proxy {
    const up_adapter_t *ad;
    hsrv_req_t *req;
    up_host_t host;
    const cfg_t *cfg;
    void *ref;            /* the config reference (host.release) */
    const char *endpoint; /* "chat" | "messages" | "responses" (metrics, logs) */
    rq_proto_t client;    /* the client's protocol */
    const cfg_model_t *model;
    size_t model_index;
    /* the upstream request */
    struct iovec *iov;
    int n_iov;
    size_t body_len;
    bool raw;      /* the reply is relayed in the upstream's bytes (same protocol) */
    plg_out_t plg; /* the plugins' edits and header changes */
    bool has_plg;
    /* attempts */
    hup_call_t *call;
    uint64_t tried; /* bitmask of backend_refs tried */
    int attempts, max_attempts;
    int backend; /* current backend index, -1 before the first attempt */
    hup_error_t last_err;
    uint64_t attempt_started_us, ttft_us;
    int upstream_status;
    bool handoff_redone;         /* re-decided once after the locked model's backends failed */
    const char *tried_models[8]; /* models this turn already gave up on */
    int n_tried_models;
    bool inflight;          /* counted in the selector's in-flight table */
    struct sel_health *bh;  /* the current backend's health entry, counted in flight */
    bool skipped_unhealthy; /* a backend was skipped as ejected or failing checks */
    struct event *deadline; /* &deadline_ev while armed */
    /* the total timeout's timer in the proxy state (event_assign): no
     * malloc and free per request for it */
    struct event deadline_ev;
    /* the reply */
    bool client_stream, client_usage;
    bool upstream_sse;
    bool started; /* client headers sent */
    bool done;
    bool hold;       /* a whole raw reply is held in acc until it is complete */
    bool err_buffer; /* a translated error reply, answered in the client's shape */
    bool assemble;   /* a translated stream assembled into one reply */
    bool too_large;  /* a held reply outgrew UP_MAX_BODY: 502 */
    bool client_gone;
    sse_parser_t sse;
    buf_t acc;
    buf_t reply; /* assistant text seen in the reply, for the prefix chain */
    jusage_t usage;
    /* what jreply_scan read from acc at the end (has_acc_scan), so the
     * adapter's whole() binds the id without walking the reply again */
    jreply_t acc_scan;
    bool has_acc_scan;
    /* routing and the session */
    rq_t *rq;
    route_env_t env;
    route_in_t rin;
    route_plan_t plan;
    bool routed;
    char conf[16];
    bool committed, awaiting_commit, done_pending;
    int pend_status;
    const char *pend_ctype;
    int64_t pend_clen;
    buf_t pend_body;
    /* replay record and response cache */
    replay_record_t *rec;
    char replay_id[40];
    bool rc_on; /* a key was prepared */
    rc_key_t rck;
    rc_hit_t rc_hit;                /* a lookup's hit */
    void (*rc_miss)(up_proxy_t *p); /* continues after a lookup that Redis answered with a miss */
    buf_t rc_sse;                   /* the streamed reply as the client got it, for storing */
    /* rate limits and budgets (limits_gate.c) */
    const char *client_key, *client_team; /* the client key's name and team, set by api/ */
    struct up_limits *lim;                /* the request's counters; NULL: no rule applies */
    struct up_otel *otel;                 /* the request's trace (otel.c); NULL: not traced */
};

/* proxy.c: lifecycle */
/* Fill the common part (p is zeroed by the caller). */
void up_proxy_init(up_proxy_t *p, const up_adapter_t *ad, hsrv_req_t *req, const up_host_t *host,
                   const cfg_t *cfg, void *ref, rq_proto_t client, const char *endpoint);
/* Set the serving model (max_attempts from its reliability). */
void up_set_model(up_proxy_t *p, const cfg_model_t *m, size_t index);
/* The plan is applied: build the body, arm the deadline and attempt. */
void up_start(up_proxy_t *p);
/* Release everything (the request itself is not finished). */
void up_end(up_proxy_t *p);
/* Answer an error in the client's shape with the routing headers; ends p. */
void up_fail(up_proxy_t *p, int status, const char *type, const char *code, const char *msg);
/* Answer a whole body (fast_response, cache hit, translated reply) with
 * content-type ct and the endpoint's headers; extra headers first. Ends p. */
void up_respond(up_proxy_t *p, int status, const char *ct, const hsrv_header_t *extra, int n_extra,
                const char *path, const char *body, size_t len);
/* The replay record's outcome (no-op without one). */
void up_trace_done(up_proxy_t *p, int status, const char *path);
/* router_replay.capture_bodies: the client's request body and the whole
 * response body (resp, or NULL when it was streamed) into the replay
 * record, cut at max_body_bytes; the writer redacts them. No-op without a
 * record or when capture is off. */
void up_trace_bodies(up_proxy_t *p, const char *resp, size_t len);
/* Write stream bytes to the client (and keep them for the cache when the
 * adapter's translation produced them). */
void up_client_write(up_proxy_t *p, const char *data, size_t len);
/* Append one response header (pointers kept); returns n+1. */
int up_add_h(hsrv_header_t *h, int n, const char *name, const char *value);
/* The routing headers of the plan (x-tether-decision ... -session-source). */
int up_plan_headers(hsrv_header_t *h, int n, const route_plan_t *pl, const char *conf);
/* "none" when the policy did not run. */
const char *up_phase_label(const route_plan_t *pl);
/* The model name written into the upstream body: the winning decision's
 * modelRef lora_name for this model when set (a LoRA adapter is served
 * under its own name), else the model's provider_model_id. */
const char *up_upstream_model(const up_proxy_t *p);
/* The cost of a reply's usage from the model's pricing. */
double up_usage_cost(const cfg_model_t *m, const jusage_t *u);
/* Add the request's cost to tether_cost_total{model,currency} (once, from
 * the adapter's log_done). */
void up_count_cost(const up_proxy_t *p);
/* Session metrics of an applied plan. */
void up_count_plan(const route_plan_t *plan, const cfg_model_t *m, bool all);
/* The chat-shaped reply text of a whole chat.completion (prefix chain). */
void up_capture_chat_text(up_proxy_t *p, const char *body, size_t len, bool delta);
/* up_capture_chat_text with the reply already read by jreply_scan (same
 * delta): the same text kept, without walking the reply again. */
void up_capture_chat_scanned(up_proxy_t *p, const char *body, size_t len, bool delta,
                             const jreply_t *r);

/* limits_gate.c: rate limits and budgets around the upstream call */
/* Check the request's counters after routing (its model and decision).
 * true: go on now. false: answered (429, in the client's shape, counted
 * and logged) or waiting for Redis (it then calls up_start_admitted). A
 * spent budget with policy downgrade switches p to its cheaper model. */
bool up_limits_admit(up_proxy_t *p);
/* The x-ratelimit-* headers (and retry-after on a refusal); returns n. */
int up_limits_headers(up_proxy_t *p, hsrv_header_t *h, int n);
/* The reply's usage on the counters (once; no-op without usage). */
void up_limits_usage(up_proxy_t *p);
/* The request ends: its usage is counted (if not yet), a Redis wait cancelled. */
void up_limits_end(up_proxy_t *p);
/* proxy.c: up_start after the limits admitted the request. */
void up_start_admitted(up_proxy_t *p);

/* attempt.c */
void up_attempt(up_proxy_t *p);
/* The current backend's request ended: no longer counted in flight. */
void up_backend_release(up_proxy_t *p);
/* Send the turn to model nm (fallback or forced handoff). */
void up_redispatch(up_proxy_t *p, const cfg_model_t *nm);
void up_client_abort(hsrv_req_t *req);
void up_client_drain(hsrv_req_t *req);

/* otel.c: OpenTelemetry spans of the request (a server span, the routing
 * stages, each upstream attempt, the relay), exported by telemetry/tracer.c */
/* The request starts: join the client's traceparent, decide sampling. */
void up_otel_begin(up_proxy_t *p);
/* An attempt starts (the previous one ends): its traceparent for the
 * upstream head, or NULL when the request is not traced. */
const char *up_otel_attempt(up_proxy_t *p);
/* The request's outcome (status, response path). */
void up_otel_status(up_proxy_t *p, int status, const char *path);
/* The request ends: the trace is handed to the exporter's queue. */
void up_otel_finish(up_proxy_t *p);

/* cache.c: the response cache around the upstream call */
/* Prepare the key and look up; true when the cache took the request over:
 * answered from the near cache, or waiting for Redis on the worker's loop
 * (then a hit is answered, and a miss calls miss(p), which goes on as the
 * caller would have after false). false: no hit, go on. body/jr: the
 * client's body the key covers. */
typedef void (*up_cache_miss_fn)(up_proxy_t *p);
bool up_cache_lookup(up_proxy_t *p, const char *body, size_t len, const jreq_t *jr,
                     up_cache_miss_fn miss);
/* Keep stream bytes the client does not get (a usage chunk it did not ask
 * for) with the streamed reply the cache stores. */
void up_cache_keep(up_proxy_t *p, const char *data, size_t len);
/* Store a complete 2xx reply (no-op without a key). */
void up_cache_store(up_proxy_t *p, const char *body, size_t len, const char *ctype, bool streamed);
#endif
