/* plugins.h - per-decision plugins (SPEC §8): fast_response, request_params,
 * system_prompt, reasoning (from modelRefs and reasoning families),
 * header_mutation, and the EMIT retention echo headers.
 *
 * Plugins never re-serialise the client's body: every body change is a
 * splice edit over the original bytes (json/splice.h), computed from the
 * scanner's spans. The proxy applies out.edits together with its own edits
 * (the `model` rewrite), which never overlap ours.
 *
 * Order on a request (SPEC §4.2, §8):
 *
 *     plg_out_t out; plg_out_init(&out);
 *     if (plg_run_pre(&ctx, &out))   // fast_response, request_params
 *         -> out.fast: answer out.status with out.reply (no upstream call)
 *         -> else: reject with out.status (400) and out.error
 *     ... cache lookup, selection (ctx.ref / ctx.model = the chosen candidate) ...
 *     plg_run_post(&ctx, &out);      // system_prompt, reasoning, header_mutation, retention
 *     body = jsplice over ctx.body with out.edits (+ the model edit);
 *     upstream headers: apply out.hdr_ops in order; response headers: add out.resp_headers
 *     plg_out_deinit(&out);
 *
 * One request on one thread: not thread-safe per plg_out_t; everything but
 * out.edits lives in ctx->arena. */
#ifndef TETHER_PLUGINS_PLUGINS_H
#define TETHER_PLUGINS_PLUGINS_H
#include "config/routing.h"
#include "core/arena.h"
#include "json/scan.h"
#include "json/splice.h"
#include "request/request.h"
#include <stdbool.h>
#include <stdint.h>

typedef struct plg_ctx {
    const cfg_t *cfg;
    const cfg_decision_t *decision;
    const cfg_model_ref_t *ref; /* the chosen candidate's modelRef (reasoning); may be NULL */
    const cfg_model_t *model;   /* the chosen model (its reasoning_family); may be NULL */
    rq_proto_t proto;           /* the client's protocol: reply shape and body layout */
    const char *body;
    size_t body_len;
    const jreq_t *jr; /* jscan_request over body */
    bool stream;
    const char *reply_model; /* fast_response: model name in the reply (NULL: "tether") */
    const char *reply_id;    /* fast_response: id (NULL: random) */
    int64_t created;         /* fast_response: unix seconds (0: now) */
    arena_t *arena;
} plg_ctx_t;

typedef enum { PLG_HDR_ADD = 0, PLG_HDR_SET, PLG_HDR_DEL } plg_hdr_kind_t;
typedef struct plg_hdr_op {
    plg_hdr_kind_t op; /* ADD appends, SET replaces every value, DEL removes */
    const char *name;  /* lowercased */
    const char *value; /* NULL for DEL */
} plg_hdr_op_t;

#define PLG_MAX_DELETES 32
#define PLG_MAX_HDR     64
#define PLG_MAX_WARN    16

typedef struct plg_out {
    jsplice_t edits;                   /* body edits over ctx->body (heap; plg_out_deinit frees) */
    plg_hdr_op_t hdr_ops[PLG_MAX_HDR]; /* upstream request header changes, in order */
    size_t n_hdr_ops;
    plg_hdr_op_t resp_headers[PLG_MAX_HDR]; /* headers to add to the client's response */
    size_t n_resp_headers;
    bool fast;         /* fast_response: reply now */
    int status;        /* fast: its status; reject: 400; else 0 */
    const char *reply; /* fast: the bytes to send */
    size_t reply_len;
    const char *content_type;           /* fast: application/json | text/event-stream */
    const char *error;                  /* reject: the message for the 400 */
    const char *warnings[PLG_MAX_WARN]; /* skipped items (forbidden headers, ...) */
    size_t n_warnings;
    const char *applied[8]; /* plugin types that changed something, in order */
    size_t n_applied;
    /* body bookkeeping (body.c) */
    const char
        *deleted[PLG_MAX_DELETES]; /* top-level members to remove (emitted by plg_body_finish) */
    size_t n_deleted;
    unsigned n_top_inserts;
    int64_t max_tokens; /* effective max_tokens after request_params (-1 unknown) */
    bool finished;
} plg_out_t;

void plg_out_init(plg_out_t *o);
void plg_out_deinit(plg_out_t *o);

/* The PLG_PRE members (fast_response, then request_params). Returns 0 to go
 * on, 1 when the request ends here (out->fast, or a reject with status 400). */
int plg_run_pre(const plg_ctx_t *c, plg_out_t *o);
/* The PLG_POST members (system_prompt, reasoning, header_mutation,
 * retention); then the body edits are final (plg_body_finish). Returns 0. */
int plg_run_post(const plg_ctx_t *c, plg_out_t *o);

/* The decision's plugin of this type, or NULL. */
const cfg_plugin_t *plg_find(const cfg_decision_t *d, const char *type);

/* ---- the member interface (one file each) ---- */

/* A plugin is one file (plugins/<name>.c) defining its descriptor (a
 * cfg_plugin_kind_t, config/family.h: type name, flags, optional
 * configuration keys and docs) that points at its plg_ops_t, and one line in
 * plugins/registry.h, whose order is the order plugins run in.
 *
 * Before selection (plg_run_pre) the PLG_PRE members run; the request ends
 * after one that set out->fast or a 400. After selection (plg_run_post) the
 * PLG_POST members run. A member runs when the decision lists its type, or on
 * every decision when it is CFG_PLG_IMPLICIT (conf is then NULL). run
 * returns nonzero when it changed something (out->applied names it). */
typedef enum { PLG_PRE = 0, PLG_POST } plg_phase_t;
typedef struct plg_ops {
    plg_phase_t phase;
    int (*run)(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o);
} plg_ops_t;

/* The members (each also callable alone; conf is the plugin's configuration). */
int plg_fast_response(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o);
int plg_request_params(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o);
int plg_system_prompt(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o);
int plg_reasoning(const plg_ctx_t *c, plg_out_t *o);
int plg_header_mutation(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o);
int plg_retention(const plg_ctx_t *c, plg_out_t *o);

/* Upstream headers a plugin may never touch: Host, Content-Length,
 * hop-by-hop headers and credentials. name is compared case-insensitively. */
bool plg_header_is_protected(const char *name);

/* ---- body helpers (body.c): top-level members of the request object ---- */

/* The value of top-level key, unless a plugin removed it. */
bool plg_body_get(const plg_ctx_t *c, const plg_out_t *o, const char *key, jspan_t *val);
/* Set top-level key to the JSON text json: replace its value, or insert the
 * member before the closing brace. */
void plg_body_set(const plg_ctx_t *c, plg_out_t *o, const char *key, const char *json);
/* Remove top-level key (all occurrences) when the body is finished. */
void plg_body_del(plg_out_t *o, const char *key);
/* Emit the removals as edits (once). */
void plg_body_finish(const plg_ctx_t *c, plg_out_t *o);
/* Add an edit whose replacement lives in c->arena. */
void plg_edit(const plg_ctx_t *c, plg_out_t *o, uint32_t off, uint32_t len, const char *s,
              size_t n);
/* s as a JSON string literal in the arena (quotes included). */
char *plg_json_str(arena_t *a, const char *s, size_t *len);
void plg_warn(plg_out_t *o, const char *msg);
#endif
