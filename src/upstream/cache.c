/* cache.c - the response cache around the upstream call (SPEC §8,
 * plugins/response_cache.h), the same for every endpoint: after the pre
 * plugins, a decision with a response_cache plugin looks the request up
 * (the key covers the client's protocol and body) and a hit is answered at
 * once (path "cache", x-tether-cache-hit); otherwise the complete 2xx reply
 * is offered to the cache at the end of the relay (relay.c). With backend
 * redis, a near-cache miss asks Redis on the worker's own loop and the
 * request continues in the reply's callback (the caller's miss
 * continuation, or the hit), so no worker waits on Redis. */
#include "core/log.h"
#include "metrics/catalog.h"
#include "upstream/proxy.h"
#include <string.h>

/* Answer a hit; false when it cannot be rendered (a miss). */
static bool answer_hit(up_proxy_t *p, rc_hit_t *hit)
{
    buf_t out = BUF_INIT;
    const char *ct = "application/json";
    bool answered = false;
    if (rc_render_hit(hit, p->client_stream, p->client_usage, &out, &ct) == 0) {
        hsrv_header_t x[1] = {
            {"x-tether-cache-hit", 18, rc_hit_name(hit->kind), strlen(rc_hit_name(hit->kind))}};
        char st[8] = "200";
        met_inc(tmet.requests_total, 1, p->endpoint, st,
                p->client == RQ_PROTO_ANTHROPIC ? "anthropic" : "openai");
        up_trace_done(p, 200, "cache");
        up_respond(p, 200, ct, x, 1, "cache", out.data, out.len);
        answered = true;
    }
    buf_free(&out);
    rc_hit_free(hit);
    return answered;
}

/* The client left while Redis was asked: the reply ends the request. */
static void lookup_abort(hsrv_req_t *req)
{
    up_proxy_t *p = req->user;
    p->client_gone = true;
}

/* Redis answered a pending lookup (on the worker's loop). */
static void lookup_done(void *ud, int kind)
{
    up_proxy_t *p = ud;
    hsrv_req_t *req = p->req;
    req->keep_on_abort = false;
    req->on_abort = up_client_abort;
    if (p->client_gone) {
        rc_hit_free(&p->rc_hit);
        tlog(TLOG_INFO, "client_disconnect", "\"request_id\":\"%s\",\"status\":499",
             req->request_id);
        up_end(p);
        hsrv_abort(req);
        return;
    }
    if (kind > 0 && answer_hit(p, &p->rc_hit)) return;
    rc_hit_free(&p->rc_hit);
    p->rc_miss(p);
}

bool up_cache_lookup(up_proxy_t *p, const char *body, size_t len, const jreq_t *jr,
                     up_cache_miss_fn miss)
{
    const route_plan_t *plan = &p->plan;
    hsrv_req_t *req = p->req;
    if (!plan->decision || !p->host.rcache || !plg_find(plan->decision, "response_cache"))
        return false;
    size_t ccl = 0;
    const char *cc = p->rq ? rq_header(p->rq, "x-tether-cache-control", &ccl) : NULL;
    rc_key_in_t ci = {.decision = plan->decision,
                      .recipe = plan->recipe_name,
                      .proto = p->client,
                      .body = body,
                      .body_len = len,
                      .jr = jr,
                      .tenant = plan->id.found ? plan->id.tenant : NULL,
                      .session_key = plan->id.found ? plan->id.key : NULL,
                      .cache_control = cc ? arena_strndup(&req->arena, cc, ccl) : NULL,
                      .drop = plan->decision->has_retention && plan->decision->retention.drop,
                      .stream = p->client_stream,
                      .evb = hsrv_req_base(req)};
    if (rc_key_init(&p->rck, p->host.rcache, &ci) != 0) {
        rc_key_deinit(&p->rck);
        return false;
    }
    p->rc_on = true;
    p->rc_miss = miss;
    int kind = rc_lookup_async(p->host.rcache, &p->rck, &p->rc_hit, ci.evb, lookup_done, p);
    if (kind == RC_PENDING) {
        /* Redis answers on this loop; the worker serves others meanwhile */
        req->keep_on_abort = true;
        req->on_abort = lookup_abort;
        return true;
    }
    if (kind <= 0) return false;
    return answer_hit(p, &p->rc_hit);
}

void up_cache_store(up_proxy_t *p, const char *body, size_t len, const char *ctype, bool streamed)
{
    if (!p->rc_on || !body) return;
    rc_response_t rr = {.status = p->upstream_status,
                        .body = body,
                        .len = len,
                        .content_type = ctype,
                        .streamed = streamed,
                        .complete = true};
    rc_store(p->host.rcache, &p->rck, &rr);
}

void up_cache_keep(up_proxy_t *p, const char *data, size_t len)
{
    if (p->rc_on && p->rc_sse.len + len <= UP_MAX_CACHE) buf_append(&p->rc_sse, data, len);
}
