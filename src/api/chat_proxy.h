/* chat_proxy.h - private to the chat completions endpoint: the per-request
 * proxy state shared by chat.c (entry, routing, body rewrite, errors and
 * headers) and chat_relay.c (upstream attempts, retries, fallback and forced
 * handoff after failures, and the response relay). Worker-thread only. */
#ifndef TETHER_API_CHAT_PROXY_H
#define TETHER_API_CHAT_PROXY_H
#include "api/app.h"
#include "api/errors.h"
#include "api/relay_common.h"
#include "api/response_id.h"
#include "api/trace.h"
#include "core/buf.h"
#include "http/sse.h"
#include "json/scan.h"
#include "json/splice.h"
#include "plugins/plugins.h"
#include "plugins/response_cache.h"
#include "route/pipeline.h"
#include <event2/event.h>

#define CHAT_MAX_ACC    (8u << 20)  /* streamed replies kept for the response cache */
#define CHAT_MAX_BODY   (16u << 20) /* a whole (non-stream) reply held until complete */
#define CHAT_HIGH_WATER (256 * 1024)

typedef struct chat_proxy {
    hsrv_req_t *req;
    app_worker_t *w;
    app_config_ref_t *ref;
    const cfg_model_t *model;
    size_t model_index;
    const char *route_kind; /* "auto" | "passthrough" */
    jreq_t jr;
    jsplice_t splice;
    struct iovec iov[2 * JREQ_MAX_MODEL_KEYS + 128];
    int n_iov;
    size_t body_len;
    hup_call_t *call;
    uint64_t tried; /* bitmask of backend_refs tried */
    int attempts;   /* made so far */
    int max_attempts;
    int backend;       /* current backend index */
    int client_stream; /* client asked for a stream */
    int hide_usage;    /* we injected include_usage: drop the usage-only chunk */
    int started;       /* client headers sent */
    int buffering;     /* a whole (non-SSE) reply is held in acc until it is complete */
    int too_large;     /* ... and it outgrew CHAT_MAX_BODY: 502 at the end */
    int done;
    int upstream_status;
    sse_parser_t sse;
    buf_t acc;
    jusage_t usage;
    struct event *deadline;
    hup_error_t last_err;
    uint64_t attempt_started_us;
    /* routing */
    rq_t *rq;
    route_env_t env;
    route_in_t rin;
    route_plan_t plan;
    char conf[16];
    int committed;
    buf_t reply; /* assistant text seen in the response, for the prefix chain */
    plg_out_t plg;
    int has_plg;
    int client_gone;             /* disconnected while routing was pending */
    int handoff_redone;          /* re-decided once after the locked model's backends failed */
    const char *tried_models[8]; /* models this turn already gave up on */
    int n_tried_models;
    /* client headers wait for the session commit (read-your-writes across replicas) */
    int awaiting_commit, done_pending;
    int pend_status;
    char *pend_ctype;
    int64_t pend_clen;
    int pend_sse;
    buf_t pend_body;
    const char *cbody;    /* the client body the upstream body is spliced from */
    size_t cbody_len;     /* (the converted one after a forced handoff) */
    replay_record_t *rec; /* this turn's replay record, until pushed */
    char replay_id[40];   /* its id (x-tether-replay-id); outlives the push */
    uint64_t ttft_us;
    int inflight; /* counted in the selector's in-flight table */
    /* response cache */
    int rc_on; /* a key was prepared (rc_key_deinit at the end) */
    rc_key_t rck;
    buf_t rc_sse; /* relayed SSE bytes of a streamed reply, for storing */
    /* 2xx: the response id gets the session binding (response_id.h); a
     * non-streamed body is held until complete, stream events re-framed */
    rid_wrapper_t *rid;
} chat_proxy_t;

/* chat.c */
void chat_end(chat_proxy_t *p);
void chat_trace_done(chat_proxy_t *p, int status, const char *path);
void chat_log_done(chat_proxy_t *p, int status);
int chat_tether_headers(chat_proxy_t *p, hsrv_header_t *h, int n, const char *path);
void chat_error(chat_proxy_t *p, int status, const char *type, const char *code, const char *msg);
int chat_build_body(chat_proxy_t *p);
/* chat_relay.c */
void chat_attempt(chat_proxy_t *p);
void chat_client_abort(hsrv_req_t *req);
void chat_client_drain(hsrv_req_t *req);
void chat_deadline_cb(evutil_socket_t fd, short what, void *arg);
#endif
