/* agent_proxy.h - private to the agent endpoints: the request's state
 * around the upstream proxy (upstream/proxy.h) shared by agent.c (entry
 * helpers, routing), agent_adapter.c and agent_relay.c (the adapter: the
 * upstream body for the chosen backend's protocol, headers, errors, events
 * and translation), messages.c and responses.c (the entries).
 * Worker-thread only. */
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
#include "upstream/proxy.h"

#include <event2/event.h>
#include <stdbool.h>

typedef enum { AG_UP_CHAT = 0, AG_UP_ANTHROPIC, AG_UP_RESPONSES } ag_up_t;

typedef struct ag_proxy {
    up_proxy_t up; /* first: the adapter's ops receive &up */
    app_worker_t *w;
    ag_up_t kind;      /* the upstream's protocol */
    bool count_tokens; /* forward to /messages/count_tokens, no routing */
    buf_t ir;          /* chat IR (Anthropic / Responses clients) */
    jreq_t jr_ir;
    jreq_t jr_client; /* the client's body, for the response cache key */
    buf_t upbody;
    struct iovec iov[1];
    tr_stream_t ts[2];
    int n_ts;
    tr_asm_t asm_reply; /* a stream the client did not ask for, assembled */
    tr_warn_t warn;
    /* Responses */
    char resp_id[32];
    char *instructions; /* effective (own or inherited), malloc'd */
    char *prev_id;      /* malloc'd; without its binding suffix (store key, upstream) */
    bool store;
    bool chain_native;
    rstore_chain_t *chain; /* the stored chain read before routing (emulated), or NULL */
    tr_resp_meta_t meta;
    cJSON *output;                           /* output items (emulate) */
    buf_t final_response;                    /* the Response object (for the store) */
    char native_id[SESS_BINDING_ID_MAX + 1]; /* the provider's id (store key) */
    rid_resp_t rid;                          /* the reply's ids, bound (response_id.h) */
    rid_wrapper_t tid;                       /* the reply's tool call ids, bound (2xx) */
    bool tid_on;
} ag_proxy_t;

/* agent.c */
const char *ag_ep_name(rq_proto_t c);
void ag_anthropic_error_json(buf_t *b, const char *type, const char *msg);
/* An error before routing, in the client's shape. */
void ag_early_error(hsrv_req_t *req, rq_proto_t client, int status, const char *type,
                    const char *code, const char *param, const char *msg);
/* End a proxy that never reached the upstream stage (ref already released). */
void ag_drop(ag_proxy_t *p);
void ag_splice_model(ag_proxy_t *p, const char *body, size_t len, const jreq_t *jr);
ag_up_t ag_up_kind(const ag_proxy_t *p, const cfg_model_t *m);
ag_proxy_t *ag_new(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref, rq_proto_t c);
void ag_route(ag_proxy_t *p);
/* Validate the client's body; false after answering an error (ref released). */
bool ag_scan_client(hsrv_req_t *req, app_config_ref_t *ref, rq_proto_t c, jreq_t *jr);
bool ag_ir_facts(ag_proxy_t *p);
/* agent_adapter.c: the adapter of the Messages, Responses and translated
 * chat clients */
extern const up_adapter_t ag_adapter;
/* agent_relay.c: the adapter's relay side */
void ag_emit_client(void *ud, const char *event, const char *data, size_t len);
void ag_emit_next(void *ud, const char *event, const char *data, size_t len);
void ag_sse_event(up_proxy_t *up, const char *event, size_t event_len, const char *data,
                  size_t len);
void ag_stream_error(up_proxy_t *up, const char *msg, buf_t *out);
void ag_assemble_start(up_proxy_t *up);
void ag_assemble_end(up_proxy_t *up);
void ag_assemble_abort(up_proxy_t *up);
bool ag_translate_whole(up_proxy_t *up, buf_t *out);
void ag_on_ok(up_proxy_t *up);
bool ag_relays_raw(const up_proxy_t *up);
bool ag_whole(up_proxy_t *up, buf_t *out);
void ag_translate_error(up_proxy_t *up);
void ag_stream_done(up_proxy_t *up);
/* responses.c */
void ag_items_of_input(const cJSON *input, cJSON *out);
void ag_store_turn(ag_proxy_t *p, const char *id, bool native, const char *response_json);
void ag_respond_json(hsrv_req_t *req, int status, const char *body, size_t len);
/* tether_translation_warnings_total (NULL until the response store exists) */
met_family_t *ag_warn_metric(void);
#endif
