/* eval.c - run the routing pipeline on one request without an upstream
 * call or a memory write: the engine behind `tether eval`, the management
 * API's POST /api/v1/eval and `dsl test`. It runs exactly route_decide, the
 * function `serve` runs. */
#include "json/num.h"
#include "route/eval.h"
#include "core/clock.h"
#include "json/scan.h"
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <string.h>

static void copy_name(char *dst, size_t cap, const char *s)
{
    snprintf(dst, cap, "%s", s ? s : "");
}

int route_eval_session_parse(const char *json, size_t len, uint64_t now_ms, sess_state_t *out,
                             char *err, size_t errlen)
{
    cJSON *j = cJSON_ParseWithLength(json, len);
    if (!j || !cJSON_IsObject(j)) {
        snprintf(err, errlen,
                 "session must be a JSON object {model, decision, turns, idle_seconds, switches}");
        cJSON_Delete(j);
        return -1;
    }
    memset(out, 0, sizeof *out);
    const cJSON *m = cJSON_GetObjectItem(j, "model"), *d = cJSON_GetObjectItem(j, "decision"),
                *t = cJSON_GetObjectItem(j, "turns"),
                *idle = cJSON_GetObjectItem(j, "idle_seconds"),
                *sw = cJSON_GetObjectItem(j, "switches");
    if (cJSON_IsString(m)) copy_name(out->last_model, sizeof out->last_model, m->valuestring);
    if (cJSON_IsString(d)) copy_name(out->last_decision, sizeof out->last_decision, d->valuestring);
    out->turn_count = cJSON_IsNumber(t) ? json_num_u32(t->valuedouble, 1) : 1;
    out->switch_count = cJSON_IsNumber(sw) ? json_num_u32(sw->valuedouble, 0) : 0;
    double idle_s = cJSON_IsNumber(idle) ? idle->valuedouble : 10;
    /* NaN fails both comparisons; a negative idle time would put the last
     * turn in the future, and a cast of it to uint64_t is undefined */
    if (!(idle_s >= 0) || idle_s > 1e12) {
        snprintf(err, errlen, "session.idle_seconds must be a number of seconds >= 0");
        cJSON_Delete(j);
        return -1;
    }
    uint64_t idle_ms = (uint64_t)(idle_s * 1000);
    out->last_seen_ms = idle_ms < now_ms ? now_ms - idle_ms : 0;
    out->last_started_at_ms = out->last_seen_ms;
    out->created_at_ms = out->last_seen_ms;
    out->version = 1;
    if (out->last_model[0]) {
        copy_name(out->models[0].model, sizeof out->models[0].model, out->last_model);
        out->models[0].turns = out->turn_count;
    }
    cJSON_Delete(j);
    return 0;
}

typedef struct eval_wait {
    int done;
} eval_wait_t;

static void on_done(void *ud, route_plan_t *plan)
{
    ((eval_wait_t *)ud)->done = 1;
}

int route_eval(const route_eval_in_t *in, arena_t *a, route_plan_t *plan, char *err, size_t errlen)
{
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    jscan_err_t je = {0};
    int rc = jscan_request(in->body, in->body_len, a, jr, &je);
    if (rc == -1) {
        snprintf(err, errlen, "malformed JSON at byte %zu: %s", je.offset, je.message);
        return -1;
    }
    if (rc != 0 || !jr->has_messages) {
        snprintf(err, errlen, "the request must be a JSON object with messages");
        return -1;
    }
    rq_t *rq = rq_from_chat(a, in->body, in->body_len, jr, in->headers, in->n_headers);
    if (!rq->model) rq->model = "auto";
    route_in_t ri = {.cfg = in->cfg,
                     .rq = rq,
                     .request_id = "eval",
                     .now_ms = in->now_ms ? in->now_ms : clock_wall_ms(),
                     .seed_state = in->seed,
                     .seed_session_key = in->seed_key};
    if (!in->seed && !in->seed_key) {
        /* without a seeded session, identity still resolves (headers, body
         * fields) but nothing is read from or written to a store */
        ri.seed_session_key = NULL;
    }
    route_env_t env = *in->env;
    env.store = NULL; /* eval never touches session memory */
    eval_wait_t w = {0};
    if (!in->base) env.cls = NULL;
    route_decide(&env, &ri, a, plan, on_done, &w);
    while (!w.done && in->base && event_base_loop(in->base, EVLOOP_ONCE) == 0)
        ;
    if (!w.done) {
        snprintf(err, errlen, "routing did not complete");
        return -1;
    }
    return 0;
}

const char *route_eval_build_prompt(arena_t *a, const char *prompt, const char *model)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"model\":");
    buf_json_str(&b, model ? model : "auto", strlen(model ? model : "auto"));
    buf_puts(&b, ",\"messages\":[{\"role\":\"user\",\"content\":");
    buf_json_str(&b, prompt, strlen(prompt));
    buf_puts(&b, "}]}");
    char *s = arena_strndup(a, b.data, b.len);
    buf_free(&b);
    return s;
}
