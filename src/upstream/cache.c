/* cache.c - the response cache around the upstream call (SPEC §8,
 * plugins/response_cache.h), the same for every endpoint: after the pre
 * plugins, a decision with a response_cache plugin looks the request up
 * (the key covers the client's protocol and body) and a hit is answered at
 * once (path "cache", x-tether-cache-hit); otherwise the complete 2xx reply
 * is offered to the cache at the end of the relay (relay.c). */
#include "core/log.h"
#include "metrics/catalog.h"
#include "upstream/proxy.h"
#include <string.h>

bool up_cache_lookup(up_proxy_t *p, const char *body, size_t len, const jreq_t *jr)
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
                      .stream = p->client_stream};
    if (rc_key_init(&p->rck, p->host.rcache, &ci) != 0) {
        rc_key_deinit(&p->rck);
        return false;
    }
    p->rc_on = true;
    rc_hit_t hit;
    if (rc_lookup(p->host.rcache, &p->rck, &hit) <= 0) return false;
    buf_t out = BUF_INIT;
    const char *ct = "application/json";
    bool answered = false;
    if (rc_render_hit(&hit, p->client_stream, p->client_usage, &out, &ct) == 0) {
        hsrv_header_t x[1] = {
            {"x-tether-cache-hit", 18, rc_hit_name(hit.kind), strlen(rc_hit_name(hit.kind))}};
        char st[8] = "200";
        met_inc(tmet.requests_total, 1, p->endpoint, st,
                p->client == RQ_PROTO_ANTHROPIC ? "anthropic" : "openai");
        up_trace_done(p, 200, "cache");
        up_respond(p, 200, ct, x, 1, "cache", out.data, out.len);
        answered = true;
    }
    buf_free(&out);
    rc_hit_free(&hit);
    return answered;
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
