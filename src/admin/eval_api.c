/* eval_api.c - POST /api/v1/eval on the management listener: {request,
 * endpoint?, headers?, session?} in, the full routing trace out (the same
 * JSON as `tether eval --format json --trace`). endpoint "chat" (default),
 * "messages" or "responses": a Messages or Responses body is first turned
 * into the chat IR the router routes on (api/translate.h; a Responses
 * previous_response_id chain is not expanded). "rewritten" adds the request
 * as the decision's plugins would send it (eval_rewrite.c). No upstream
 * call, no memory write. Operator role. */
#include "admin/eval_rewrite.h"
#include "admin/mgmt.h"
#include "api/translate.h"
#include "core/clock.h"
#include "route/eval.h"
#include "route/plan_render.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

static void h_eval(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    cJSON *j = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *rq = j ? cJSON_GetObjectItem(j, "request") : NULL;
    if (!rq || !cJSON_IsObject(rq)) {
        cJSON_Delete(j);
        return mgmt_error(
            req, 400, "invalid_body",
            "expected {\"request\": {chat completions body}, \"headers\"?, \"session\"?}");
    }
    char *body = cJSON_PrintUnformatted(rq);
    const cJSON *ep = cJSON_GetObjectItem(j, "endpoint");
    const char *epn = cJSON_IsString(ep) ? ep->valuestring : "chat";
    if (strcmp(epn, "chat") != 0) {
        buf_t ir = BUF_INIT;
        tr_warn_t wn = {0};
        char terr[256];
        int trc = -1;
        if (!strcmp(epn, "messages"))
            trc = tr_req_anthropic_to_chat(body, strlen(body), NULL, &ir, &wn, terr, sizeof terr);
        else if (!strcmp(epn, "responses"))
            trc = tr_req_responses_to_chat(body, strlen(body), NULL, NULL, NULL, &ir, &wn, terr,
                                           sizeof terr);
        else
            snprintf(terr, sizeof terr, "endpoint must be chat, messages or responses, not '%.64s'",
                     epn);
        cJSON_free(body);
        if (trc != 0) {
            buf_free(&ir);
            cJSON_Delete(j);
            return mgmt_error(req, 400, "invalid_request", terr);
        }
        body = cJSON_malloc(ir.len + 1);
        memcpy(body, ir.data ? ir.data : "", ir.len);
        body[ir.len] = 0;
        buf_free(&ir);
    }
    const cJSON *hj = cJSON_GetObjectItem(j, "headers");
    size_t nh = cJSON_IsObject(hj) ? (size_t)cJSON_GetArraySize(hj) : 0;
    hsrv_header_t *hv = arena_calloc(&req->arena, sizeof(hsrv_header_t) * (nh ? nh : 1));
    size_t k = 0;
    for (const cJSON *h = hj ? hj->child : NULL; h && k < nh; h = h->next) {
        if (!cJSON_IsString(h) || !h->string) continue;
        char *name = arena_strdup(&req->arena, h->string);
        for (char *q = name; *q; q++)
            if (*q >= 'A' && *q <= 'Z') *q += 32;
        hv[k++] = (hsrv_header_t){name, strlen(name), arena_strdup(&req->arena, h->valuestring),
                                  strlen(h->valuestring)};
    }
    app_config_ref_t *ref = app_config_acquire(app);
    route_env_t env;
    app_route_env(ref, &env);
    route_eval_in_t in = {.cfg = ref->cfg,
                          .env = &env,
                          .body = body,
                          .body_len = strlen(body),
                          .headers = hv,
                          .n_headers = k};
    sess_state_t seed;
    char err[256];
    const cJSON *sj = cJSON_GetObjectItem(j, "session");
    if (cJSON_IsObject(sj)) {
        char *s = cJSON_PrintUnformatted(sj);
        int rc = route_eval_session_parse(s, strlen(s), clock_wall_ms(), &seed, err, sizeof err);
        cJSON_free(s);
        if (rc != 0) {
            app_config_release(ref);
            cJSON_free(body);
            cJSON_Delete(j);
            return mgmt_error(req, 400, "invalid_session", err);
        }
        in.seed = &seed;
        in.seed_key = "eval-session";
    }
    route_plan_t plan;
    if (route_eval(&in, &req->arena, &plan, err, sizeof err) != 0) {
        app_config_release(ref);
        cJSON_free(body);
        cJSON_Delete(j);
        return mgmt_error(req, 400, "invalid_request", err);
    }
    buf_t out = BUF_INIT;
    route_plan_json(&out, &plan, true);
    /* the plan's object, plus the request as its plugins would send it */
    if (out.len && out.data[out.len - 1] == '}') {
        out.len--;
        buf_putc(&out, ',');
        eval_rewrite_json(&out, ref->cfg, &plan, body, strlen(body), &req->arena);
        buf_putc(&out, '}');
    }
    mgmt_json(req, 200, out.data, out.len);
    buf_free(&out);
    app_config_release(ref);
    cJSON_free(body);
    cJSON_Delete(j);
}

void mgmt_register_eval(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_POST, "/api/v1/eval", MGMT_OPERATOR, h_eval, app);
}
