/* eval_rewrite.h - what the eval API adds to a routing trace: the request
 * as the decision's plugins would send it upstream (eval_rewrite.c). */
#ifndef TETHER_ADMIN_EVAL_REWRITE_H
#define TETHER_ADMIN_EVAL_REWRITE_H
#include "core/arena.h"
#include "core/buf.h"
#include "route/pipeline.h"

/* Append `"rewritten": {...}` (no leading comma) for plan over the chat body
 * (the IR): the plugins' pre and post stages run as the proxy runs them. */
void eval_rewrite_json(buf_t *out, const cfg_t *cfg, const route_plan_t *plan, const char *body,
                       size_t len, arena_t *a);
#endif
