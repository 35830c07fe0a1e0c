/* eval.h - routing without an upstream: one request through the same
 * pipeline `serve` runs, with an optional seeded session memory and no
 * store I/O. Used by `tether eval`, POST /api/v1/eval and `dsl test`.
 * Thread-safe; results live in the caller's arena. */
#ifndef TETHER_ROUTE_EVAL_H
#define TETHER_ROUTE_EVAL_H
#include "route/pipeline.h"

typedef struct route_eval_in {
    const cfg_t *cfg;
    const route_env_t *env; /* signals engine, selection state, embedder (store ignored) */
    const char *body;       /* a chat-completions request */
    size_t body_len;
    const rq_header_t *headers; /* request headers (lowercased names) */
    size_t n_headers;
    const sess_state_t *seed; /* session memory to start from, or NULL */
    const char *seed_key;     /* session key for the seeded memory, or NULL */
    uint64_t now_ms;          /* 0 = now */
    /* With env->cls (external classifiers and the remote embedder called
     * on a loop): the loop route_eval runs until routing completed. NULL:
     * env->cls must be NULL too (classifier rules fall back). */
    struct event_base *base;
} route_eval_in_t;

/* 0 with the plan filled (plan->status may still be an error such as
 * model_not_found), or -1 with err when the request itself is malformed. */
int route_eval(const route_eval_in_t *in, arena_t *a, route_plan_t *plan, char *err, size_t errlen);
/* {"model":…, "decision":…, "turns":…, "idle_seconds":…, "switches":…} → memory. */
int route_eval_session_parse(const char *json, size_t len, uint64_t now_ms, sess_state_t *out,
                             char *err, size_t errlen);
/* A one-message chat request for `eval --prompt`. */
const char *route_eval_build_prompt(arena_t *a, const char *prompt, const char *model);
#endif
