/* access_log.c - the access log (access_log.h): the per-request fields the
 * handlers note, and the one "access" line written when the request ends
 * (through log.c, so logging.format json|text applies and every value is
 * escaped). The client key appears by its configured name only. */
#include "api/access_log.h"
#include "api/client_auth.h"
#include "core/clock.h"
#include "core/log.h"
#include <stdio.h>
#include <string.h>

api_access_t *api_access_of(hsrv_req_t *req)
{
    if (!req->access) {
        api_access_t *a = arena_calloc(&req->arena, sizeof *a);
        a->prompt_tokens = a->completion_tokens = a->cached_tokens = -1;
        req->access = a;
    }
    return req->access;
}

void api_access_note(hsrv_req_t *req, const char *endpoint, const char *model, const char *decision)
{
    api_access_t *a = api_access_of(req);
    if (endpoint) a->endpoint = endpoint;
    if (model) a->model = model;
    if (decision) a->decision = decision;
}

/* The line is written after the request released its config generation,
 * which a reload may free: names are copied into the request arena. */
static const char *keep(hsrv_req_t *req, const char *s)
{
    return s ? arena_strdup(&req->arena, s) : NULL;
}

void api_access_note_proxy(up_proxy_t *up)
{
    hsrv_req_t *req = up->req;
    api_access_t *a = api_access_of(req);
    a->endpoint = up->endpoint; /* a string literal */
    if (up->model) a->model = keep(req, up->model->name);
    if (up->model && up->backend >= 0)
        a->backend = keep(req, up->model->backend_refs[up->backend].name);
    if (up->plan.decision_name) a->decision = keep(req, up->plan.decision_name);
    a->stream = up->client_stream;
    a->attempts = up->attempts;
    if (up->usage.found) {
        a->prompt_tokens = up->usage.prompt_tokens;
        a->completion_tokens = up->usage.completion_tokens;
        a->cached_tokens = up->usage.cached_tokens;
        if (up->model) {
            a->cost = up_usage_cost(up->model, &up->usage);
            a->currency =
                up->model->pricing.currency ? keep(req, up->model->pricing.currency) : "USD";
        }
    }
}

void api_access_log(hsrv_req_t *req, int status)
{
    const api_access_t *a = req->access;
    static const api_access_t none = {
        .prompt_tokens = -1, .completion_tokens = -1, .cached_tokens = -1};
    if (!a) a = &none;
    if (TLOG_INFO < tlog_get_level()) return; /* tlog would drop the line: no %.8g for it */
    const client_principal_t *pr = req->principal;
    char cost[48] = "null";
    if (a->currency) snprintf(cost, sizeof cost, "%.8g", a->cost);
    tlog(TLOG_INFO, "access",
         "\"request_id\":\"%s\",\"method\":\"%s\",\"path\":\"%s\",\"endpoint\":\"%s\","
         "\"key\":\"%s\",\"decision\":\"%s\",\"model\":\"%s\",\"backend\":\"%s\",\"status\":%d,"
         "\"latency_ms\":%.3f,\"stream\":%s,\"attempts\":%d,\"prompt_tokens\":%lld,"
         "\"completion_tokens\":%lld,\"cached_tokens\":%lld,\"cost\":%s,\"currency\":\"%s\"",
         req->request_id, req->method_str ? req->method_str : "", req->path ? req->path : "",
         a->endpoint ? a->endpoint : "", pr && pr->key_name ? pr->key_name : "",
         a->decision ? a->decision : "", a->model ? a->model : "", a->backend ? a->backend : "",
         status, (double)(clock_mono_us() - req->started_us) / 1000.0, a->stream ? "true" : "false",
         a->attempts, a->prompt_tokens, a->completion_tokens, a->cached_tokens, cost,
         a->currency ? a->currency : "");
}
