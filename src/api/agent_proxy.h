/* agent_proxy.h - private to the agent endpoints: the per-request proxy
 * state shared by agent.c (lifecycle, errors, headers, routing, upstream
 * bodies), agent_relay.c (attempts, retries, fallback/handoff, relay),
 * messages.c and responses.c (the entries). Worker-thread only. */
#ifndef TETHER_API_AGENT_PROXY_H
#define TETHER_API_AGENT_PROXY_H
#include "api/agent.h"
#include "api/errors.h"
#include "api/response_id.h"
#include "api/response_store.h"
#include "api/translate.h"
#include "core/buf.h"
#include "http/sse.h"
#include "json/scan.h"
#include "json/splice.h"
#include "metrics/metrics.h"

#include <event2/event.h>
#include <stdbool.h>

#define AG_MAX_ACC    (16u << 20)
#define AG_HIGH_WATER (256 * 1024)

typedef enum { AG_UP_CHAT = 0, AG_UP_ANTHROPIC, AG_UP_RESPONSES } ag_up_t;

typedef struct ag_proxy {
    hsrv_req_t *req;
    app_worker_t *w;
    app_config_ref_t *ref;
    rq_proto_t client;
    const cfg_model_t *model;
    size_t model_index;
    ag_up_t up;
    bool count_tokens; /* forward to /messages/count_tokens, no routing */
    buf_t ir;          /* chat IR (Anthropic / Responses clients) */
    jreq_t jr_ir;
    buf_t upbody;
    struct iovec iov[1];
    hup_call_t *call;
    uint64_t tried;
    int attempts, max_attempts, backend;
    bool client_stream, client_usage, started, done, committed, raw, err_buffer;
    bool client_gone;            /* the client left while routing was in flight */
    bool handoff_redone;         /* re-decided once after the locked model's backends failed */
    const char *tried_models[8]; /* models given up on for this turn (fallback) */
    int n_tried_models;
    int upstream_status;
    bool upstream_sse;
    sse_parser_t sse;
    buf_t acc;
    tr_stream_t ts[2];
    int n_ts;
    /* a non-stream client whose upstream streams: the chat chunks are
     * assembled into one reply, answered whole at the end */
    bool assemble;
    tr_asm_t asm_reply;
    /* a whole reply relayed as is (raw, not SSE) is held until complete */
    bool hold;
    const char *hold_ctype; /* its content-type (request arena) */
    bool too_large;         /* a held or translated reply outgrew AG_MAX_ACC: 502 */
    tr_warn_t warn;
    jusage_t usage;
    struct event *deadline;
    hup_error_t last_err;
    uint64_t attempt_started_us;
    rq_t *rq;
    route_env_t env;
    route_in_t rin;
    route_plan_t plan;
    bool routed;
    char conf[16];
    buf_t reply;
    /* Responses */
    char resp_id[32];
    char *instructions; /* effective (own or inherited), malloc'd */
    char *prev_id;      /* malloc'd; without its binding suffix (store key, upstream) */
    bool store;
    bool chain_native;
    tr_resp_meta_t meta;
    cJSON *output;                           /* output items (emulate) */
    buf_t final_response;                    /* the Response object (for the store) */
    char native_id[SESS_BINDING_ID_MAX + 1]; /* the provider's id (store key) */
    rid_resp_t rid;                          /* the reply's ids, bound (response_id.h) */
} ag_proxy_t;

/* agent.c */
const char *ag_ep_name(rq_proto_t c);
void ag_anthropic_error_json(buf_t *b, const char *type, const char *msg);
/* An error before routing, in the client's shape. */
void ag_early_error(hsrv_req_t *req, rq_proto_t client, int status, const char *type,
                    const char *code, const char *param, const char *msg);
void ag_end(ag_proxy_t *p);
int ag_tether_headers(ag_proxy_t *p, hsrv_header_t *h, int n, const char *path);
void ag_log_done(ag_proxy_t *p, int status);
/* Error after routing, in the client's shape, with the routing headers;
 * finishes the request. */
void ag_error(ag_proxy_t *p, int status, const char *type, const char *code, const char *msg);
void ag_build_head(ag_proxy_t *p, const cfg_backend_ref_t *b, buf_t *h);
void ag_splice_model(ag_proxy_t *p, const char *body, size_t len, const jreq_t *jr);
bool ag_build_upstream(ag_proxy_t *p, char *err, size_t errlen);
ag_up_t ag_up_kind(const ag_proxy_t *p, const cfg_model_t *m);
ag_proxy_t *ag_new(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, rq_proto_t c);
void ag_route(ag_proxy_t *p);
/* Validate the client's body; false after answering an error (ref released). */
bool ag_scan_client(hsrv_req_t *req, app_config_ref_t *ref, rq_proto_t c, jreq_t *jr);
bool ag_ir_facts(ag_proxy_t *p);
/* agent_relay.c */
void ag_emit_client(void *ud, const char *event, const char *data, size_t len);
void ag_emit_next(void *ud, const char *event, const char *data, size_t len);
void ag_attempt(ag_proxy_t *p);
void ag_client_abort(hsrv_req_t *req);
void ag_client_drain(hsrv_req_t *req);
void ag_deadline_cb(evutil_socket_t fd, short what, void *arg);
/* responses.c */
void ag_items_of_input(const cJSON *input, cJSON *out);
void ag_store_turn(ag_proxy_t *p, const char *id, bool native, const char *response_json);
void ag_respond_json(hsrv_req_t *req, int status, const char *body, size_t len);
/* tether_translation_warnings_total (NULL until the response store exists) */
met_family_t *ag_warn_metric(void);
#endif
