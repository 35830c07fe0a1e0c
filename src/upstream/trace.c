/* trace.c - turn a routed request into its replay record (SPEC §9.9): the
 * routing part from the pipeline's plan when routing is done, the outcome
 * part when the response ends. The record is pushed to the replay queue,
 * which never blocks (a full queue drops and counts). */
#include "upstream/trace.h"
#include "route/fetch.h"
#include "route/plan_memo.h"
#include "route/plan_render.h"
#include "core/buf.h"
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One routing part of the plan as JSON (the same rendering as eval) into
 * the record's field. Rendered in a scratch buffer the worker thread keeps
 * between requests (released when a part was unusually large), so the
 * field's copy is the only allocation. */
#define SCRATCH_KEEP (64 * 1024)
static __thread buf_t scratch;
static __thread bool scratch_registered;
static pthread_key_t scratch_key; /* its destructor frees a thread's scratch at exit */
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_free(void *p)
{
    buf_free(p);
}

static void scratch_key_init(void)
{
    pthread_key_create(&scratch_key, scratch_free);
}

/* The scratch buffer, empty. */
static buf_t *scratch_get(void)
{
    if (!scratch_registered) {
        pthread_once(&scratch_once, scratch_key_init);
        pthread_setspecific(scratch_key, &scratch);
        scratch_registered = true;
    }
    buf_reset(&scratch);
    return &scratch;
}

/* Copy what the scratch buffer holds into a record field. */
static void scratch_set(replay_record_t *r, char **field)
{
    replay_record_put(r, field, scratch.data ? scratch.data : "", scratch.len);
    if (scratch.cap > SCRATCH_KEEP) buf_free(&scratch);
}

static void set_plan_part(replay_record_t *r, char **field, const route_plan_t *p,
                          route_part_t which)
{
    if (which == ROUTE_PART_TRACE && !p->ran_decision) {
        replay_record_clear(r, field);
        return;
    }
    /* the same bytes for most requests: through the worker's memo */
    size_t n;
    const char *s = route_part_json(p, which, scratch_get(), &n);
    replay_record_put(r, field, s ? s : "", n);
    if (scratch.cap > SCRATCH_KEEP) buf_free(&scratch);
}

replay_record_t *up_trace_rec_begin(const route_plan_t *p, const char *request_id,
                                    const char *endpoint, const char *client_protocol,
                                    const char *upstream_protocol)
{
    replay_record_t *r = replay_record_new(clock_wall_ms());
    replay_record_puts(r, &r->request_id, request_id);
    replay_record_puts(r, &r->endpoint, endpoint);
    replay_record_puts(r, &r->client_protocol, client_protocol);
    replay_record_puts(r, &r->upstream_protocol, upstream_protocol);
    if (p->id.found) replay_record_puts(r, &r->tenant, p->id.tenant);
    replay_record_puts(r, &r->recipe, p->passthrough ? "" : p->recipe_name);
    replay_record_puts(r, &r->decision, p->decision_name);
    r->decision_confidence = p->confidence;
    replay_record_puts(r, &r->strategy, p->ran_decision ? dec_strategy_name(p->dec.strategy) : "");
    set_plan_part(r, &r->decision_trace_json, p, ROUTE_PART_TRACE);
    set_plan_part(r, &r->signals_json, p, ROUTE_PART_SIGNALS);
    set_plan_part(r, &r->candidates_json, p, ROUTE_PART_CANDIDATES);
    if (fetch_timings_json(scratch_get(), &p->cls, &p->emb, p->mark_us[1]))
        scratch_set(r, &r->signal_fetch_json);
    replay_record_puts(r, &r->algorithm, p->algorithm ? p->algorithm : "static");
    replay_record_puts(r, &r->model, p->model ? p->model->name : "");
    if (p->ran_policy) {
        const sess_policy_out_t *o = &p->pol;
        r->has_session = true;
        const char *k = strchr(p->id.key, SESS_KEY_SEP);
        k = k ? strchr(k + 1, SESS_KEY_SEP) : NULL;
        replay_record_puts(r, &r->session.id, p->id.found ? (k ? k + 1 : p->id.key) : "");
        replay_record_puts(r, &r->session.identity_source, p->id.found ? p->id.source : "none");
        r->session.identity_confidence = p->id.low_confidence ? 0.5 : 1.0;
        r->session.turn = p->has_state ? (int64_t)p->state.turn_count + 1 : 1;
        replay_record_puts(r, &r->session.phase, sess_phase_name(o->phase));
        replay_record_puts(r, &r->session.previous_model,
                           o->previous_model ? o->previous_model : "");
        replay_record_puts(r, &r->session.mode, sess_mode_name(o->mode));
        replay_record_puts(r, &r->session.selected_model,
                           o->mode == SESS_MODE_OBSERVE ? (o->verdict_model ? o->verdict_model : "")
                           : o->model                   ? o->model
                                                        : "");
        r->session.switched = o->switched;
        replay_record_puts(r, &r->session.reason, sess_reason_name(o->reason));
        replay_record_puts(r, &r->session.hard_lock, sess_hard_lock_name(o->hard_lock));
        buf_t *b = scratch_get();
        buf_putc(b, '[');
        int n = 0;
        for (unsigned bit = 1; bit <= RQ_BIND_SERVER_TOOL_STATE; bit <<= 1)
            if (o->bindings & bit) {
                if (n++) buf_putc(b, ',');
                buf_putc(b, '"');
                buf_puts(b, rq_binding_name(bit));
                buf_putc(b, '"');
            }
        buf_putc(b, ']');
        scratch_set(r, &r->session.bindings_json);
        r->session.idle_for_s = o->idle_for_s;
        r->session.idle_reset = o->idle_reset;
        r->session.drift_reset = o->drift_reset;
        r->session.decision_inherited = o->decision_inherited;
        r->session.current_not_in_candidates = o->current_not_in_candidates;
        r->session.continuation_mass = o->continuation_mass;
        r->session.cache_warmth = o->cache_warmth;
        r->session.switch_count = p->has_state ? p->state.switch_count + (o->switched ? 1 : 0) : 0;
        r->session.fallback = o->fallback;
        if (o->has_handoff) {
            buf_t h = BUF_INIT;
            buf_puts(&h, "{\"from\":");
            buf_json_str(&h, o->handoff.from ? o->handoff.from : "",
                         o->handoff.from ? strlen(o->handoff.from) : 0);
            buf_puts(&h, ",\"to\":");
            buf_json_str(&h, o->handoff.to ? o->handoff.to : "",
                         o->handoff.to ? strlen(o->handoff.to) : 0);
            buf_puts(&h, ",\"conversions\":[");
            for (size_t i = 0; i < o->handoff.n_conversions; i++)
                buf_printf(&h, "%s\"%s\"", i ? "," : "",
                           sess_conversion_name(o->handoff.conversions[i]));
            buf_puts(&h, "]}");
            replay_record_puts(r, &r->session.handoff_json, h.data);
            buf_free(&h);
        }
    }
    r->latency.routing_us = (int64_t)p->routing_us;
    return r;
}

void up_trace_rec_finish(replay_record_t *r, const up_trace_rec_outcome_t *o, replay_queue_t *q)
{
    if (!r) return;
    replay_record_puts(r, &r->backend, o->backend ? o->backend : "");
    replay_record_puts(r, &r->response_path, o->response_path ? o->response_path : "upstream");
    r->status = o->status;
    r->usage.prompt = o->prompt_tokens;
    r->usage.cached = o->cached_tokens;
    r->usage.completion = o->completion_tokens;
    replay_record_puts(r, &r->cost.currency, o->currency ? o->currency : "USD");
    r->cost.actual = o->cost;
    r->cost.baseline = o->baseline_cost;
    r->latency.ttft_ms = o->ttft_ms;
    r->latency.total_ms = o->total_ms;
    buf_t *b = scratch_get();
    buf_puts(b, "[{\"backend\":");
    buf_json_str(b, o->backend ? o->backend : "", o->backend ? strlen(o->backend) : 0);
    buf_puts(b, ",\"attempts\":");
    buf_int(b, o->attempts);
    buf_append(b, "}]", 2);
    scratch_set(r, &r->attempts_json);
    if (o->plugins_json) replay_record_puts(r, &r->plugins_json, o->plugins_json);
    if (q)
        replay_queue_push(q, r);
    else
        replay_record_free(r);
}
