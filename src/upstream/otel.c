/* otel.c - the OpenTelemetry spans of one proxied request (proxy.h): the
 * client's W3C traceparent joined (or a new trace started, sampled by
 * sample_ratio), a traceparent per upstream attempt written into its head,
 * and at the end one trace built from what the proxy and the plan recorded
 * (a server span; routing with its stages: session lookup, signals,
 * decision and selection, session policy; each upstream attempt; the
 * relay) and handed to the exporter's queue, which never blocks. The
 * session id is exported as a hash, never as sent; no credentials, headers
 * or bodies are exported. */
#include "core/clock.h"
#include "core/sha256.h"
#include "telemetry/tracer.h"
#include "upstream/proxy.h"
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define MAX_ATT 8

typedef struct up_otel_att {
    uint8_t id[8];
    uint64_t start_us, end_us;
    const char *model, *backend;
    int status;
    const char *err;
} up_otel_att_t;

typedef struct up_otel {
    tel_ctx_t parent;
    uint8_t trace_id[16], server_id[8];
    up_otel_att_t att[MAX_ATT];
    int n_att;
    char tp[56];
    int status;
    const char *path;
} up_otel_t;

void up_otel_begin(up_proxy_t *p)
{
    if (!p->host.tracer || p->otel) return;
    tel_ctx_t parent = {0};
    for (size_t i = 0; i < p->req->n_headers; i++) {
        const hsrv_header_t *h = &p->req->headers[i];
        if (h->name_len == 11 && !strncasecmp(h->name, "traceparent", 11)) {
            tel_ctx_parse(h->value, h->value_len, &parent);
            break;
        }
    }
    if (!tel_tracer_sample(p->host.tracer, &parent)) return;
    up_otel_t *o = arena_calloc(&p->req->arena, sizeof *o);
    o->parent = parent;
    if (parent.valid)
        memcpy(o->trace_id, parent.trace_id, 16);
    else
        tel_new_trace_id(o->trace_id);
    tel_new_span_id(o->server_id);
    p->otel = o;
}

/* The attempt in flight ends now with what the proxy saw. */
static void attempt_close(up_otel_t *o, const up_proxy_t *p, uint64_t now)
{
    if (!o->n_att) return;
    up_otel_att_t *a = &o->att[o->n_att - 1];
    if (a->end_us) return;
    a->end_us = now;
    a->status = p->upstream_status;
    if (!a->status) a->err = hup_error_str(p->last_err);
}

const char *up_otel_attempt(up_proxy_t *p)
{
    up_otel_t *o = p->otel;
    if (!o) return NULL;
    uint64_t now = clock_mono_us();
    attempt_close(o, p, now);
    if (o->n_att == MAX_ATT) { /* later attempts share the last span */
        o->att[MAX_ATT - 1].end_us = 0;
    } else {
        up_otel_att_t *a = &o->att[o->n_att++];
        tel_new_span_id(a->id);
        a->start_us = now;
        a->model = p->model->name;
        a->backend = p->model->backend_refs[p->backend].name;
    }
    tel_ctx_format(o->trace_id, o->att[o->n_att - 1].id, true, o->tp);
    return o->tp;
}

void up_otel_status(up_proxy_t *p, int status, const char *path)
{
    if (!p->otel || p->otel->status) return;
    p->otel->status = status;
    p->otel->path = path;
}

static const char *server_name(const char *endpoint)
{
    if (!strcmp(endpoint, "chat")) return "POST /v1/chat/completions";
    if (!strcmp(endpoint, "messages")) return "POST /v1/messages";
    if (!strcmp(endpoint, "responses")) return "POST /v1/responses";
    return NULL;
}

/* The routing span and its stages, children of the server span. */
static void routing_spans(tel_trace_t *t, const up_proxy_t *p, uint64_t (*ns)(uint64_t, void *),
                          void *ctx)
{
    const route_plan_t *pl = &p->plan;
    const uint64_t *m = pl->mark_us;
    if (!m[0] || !m[4]) return;
    tel_span_t *r = tel_span_add(t, "tether.route", TEL_KIND_INTERNAL, t->spans[0].id,
                                 ns(m[0], ctx), ns(m[4], ctx));
    if (!r) return;
    uint8_t rid[8];
    memcpy(rid, r->id, 8);
    tel_attr_str(t, r, "tether.decision", pl->decision_name);
    tel_attr_dbl(r, "tether.decision.confidence", pl->confidence);
    tel_attr_str(t, r, "tether.recipe", pl->passthrough ? "" : pl->recipe_name);
    tel_attr_str(t, r, "tether.algorithm", pl->algorithm ? pl->algorithm : "static");
    tel_attr_bool(r, "tether.passthrough", pl->passthrough);
    static const char *const names[4] = {"tether.session.lookup", "tether.signals",
                                         "tether.decision", "tether.session.policy"};
    for (int i = 0; i < 4; i++) {
        uint64_t a = i ? m[i] : m[0], b = m[i + 1];
        if (!a || !b) continue;
        tel_span_t *s = tel_span_add(t, names[i], TEL_KIND_INTERNAL, rid, ns(a, ctx), ns(b, ctx));
        if (!s) return;
        if (i == 0 && pl->id.found) tel_attr_str(t, s, "tether.session.source", pl->id.source);
        if (i == 1) tel_attr_bool(s, "tether.signals.ran", pl->ran_signals);
        if (i == 2) {
            tel_attr_str(t, s, "tether.decision", pl->decision_name);
            tel_attr_str(t, s, "tether.algorithm", pl->algorithm ? pl->algorithm : "static");
        }
        if (i == 3 && pl->ran_policy) {
            const sess_policy_out_t *o = &pl->pol;
            tel_attr_str(t, s, "tether.session.verdict",
                         o->verdict == SESS_VERDICT_OK ? "ok" : "error");
            tel_attr_str(t, s, "tether.session.reason", sess_reason_name(o->reason));
            tel_attr_str(t, s, "tether.session.lock", sess_hard_lock_name(o->hard_lock));
            tel_attr_bool(s, "tether.session.switched", o->switched);
            tel_attr_str(t, s, "tether.session.model", o->model);
            if (o->previous_model)
                tel_attr_str(t, s, "tether.session.previous_model", o->previous_model);
        }
    }
}

typedef struct clk {
    uint64_t wall_ns, mono_us;
} clk_t;

static uint64_t to_ns(uint64_t mono_us, void *ctx)
{
    const clk_t *c = ctx;
    uint64_t back = mono_us < c->mono_us ? (c->mono_us - mono_us) * 1000 : 0;
    return c->wall_ns > back ? c->wall_ns - back : 0;
}

void up_otel_finish(up_proxy_t *p)
{
    up_otel_t *o = p->otel;
    if (!o) return;
    p->otel = NULL;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    clk_t c = {(uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec, clock_mono_us()};
    attempt_close(o, p, c.mono_us);
    tel_trace_t *t = malloc(sizeof *t);
    if (!t) return;
    t->n_spans = 0;
    t->pool_used = 0;
    memcpy(t->trace_id, o->trace_id, 16);
    const char *name = server_name(p->endpoint);
    int status = o->status ? o->status : 499;
    /* the server span: the client's request */
    tel_span_t *s = tel_span_add(t, "", TEL_KIND_SERVER, o->parent.valid ? o->parent.span_id : NULL,
                                 to_ns(p->req->started_us, &c), c.wall_ns);
    memcpy(s->id, o->server_id, 8);
    s->name = name ? name : tel_pool_str(t, p->req->path);
    s->status = status >= 500 ? TEL_STATUS_ERROR : TEL_STATUS_UNSET;
    tel_attr_str(t, s, "http.request.method", "POST");
    tel_attr_str(t, s, "url.path", p->req->path);
    tel_attr_int(s, "http.response.status_code", status);
    tel_attr_str(t, s, "tether.request_id", p->req->request_id);
    tel_attr_str(t, s, "tether.endpoint", p->endpoint);
    tel_attr_str(t, s, "tether.response_path", o->path ? o->path : "client_closed");
    tel_attr_str(t, s, "tether.decision", p->plan.decision_name);
    if (p->model) tel_attr_str(t, s, "tether.model", p->model->name);
    if (p->model && p->backend >= 0)
        tel_attr_str(t, s, "tether.backend", p->model->backend_refs[p->backend].name);
    tel_attr_int(s, "tether.attempts", p->attempts);
    if (p->plan.id.found) {
        /* the session id as a hash (first 8 bytes of SHA-256 of its key) */
        sha256_t h;
        unsigned char d[SHA256_BYTES];
        char hex[17];
        sha256_init(&h);
        sha256_update(&h, p->plan.id.key, strlen(p->plan.id.key));
        sha256_final(&h, d);
        tel_hex(d, 8, hex);
        tel_attr_str(t, s, "tether.session.id_hash", hex);
    }
    if (p->plan.ran_policy) {
        const sess_policy_out_t *po = &p->plan.pol;
        tel_attr_str(t, s, "tether.session.reason", sess_reason_name(po->reason));
        tel_attr_str(t, s, "tether.session.lock", sess_hard_lock_name(po->hard_lock));
        tel_attr_bool(s, "tether.session.switched", po->switched);
    }
    if (p->usage.found) {
        tel_attr_int(s, "gen_ai.usage.input_tokens", p->usage.prompt_tokens);
        tel_attr_int(s, "gen_ai.usage.output_tokens", p->usage.completion_tokens);
        if (p->model) tel_attr_dbl(s, "tether.cost", up_usage_cost(p->model, &p->usage));
    }
    routing_spans(t, p, to_ns, &c);
    for (int i = 0; i < o->n_att; i++) {
        const up_otel_att_t *a = &o->att[i];
        tel_span_t *as = tel_span_add(t, "tether.upstream.attempt", TEL_KIND_CLIENT, o->server_id,
                                      to_ns(a->start_us, &c), to_ns(a->end_us, &c));
        if (!as) break;
        memcpy(as->id, a->id, 8);
        tel_attr_int(as, "tether.attempt", i + 1);
        tel_attr_str(t, as, "tether.model", a->model);
        tel_attr_str(t, as, "tether.backend", a->backend);
        if (a->status) {
            tel_attr_int(as, "http.response.status_code", a->status);
            as->status = a->status >= 400 ? TEL_STATUS_ERROR : TEL_STATUS_UNSET;
        } else {
            tel_attr_str(t, as, "error.type", a->err);
            as->status = TEL_STATUS_ERROR;
        }
    }
    if (p->ttft_us && o->n_att) {
        tel_span_t *r = tel_span_add(t, "tether.relay", TEL_KIND_INTERNAL, o->server_id,
                                     to_ns(p->ttft_us, &c), c.wall_ns);
        if (r) tel_attr_bool(r, "tether.stream", p->client_stream);
    }
    tel_tracer_submit(p->host.tracer, t);
}
