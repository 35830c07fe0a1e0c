/* replay_api.c - the replay endpoints of the management listener (SPEC §11):
 * GET /v1/router_replay?session_id=&decision=&model=&reason=&since=&until=&limit=&cursor=
 * (newest first), GET /v1/router_replay/{id} (bodies for admin and
 * replay.detail tokens only),
 * GET /v1/router_replay/sessions/{id}: the session's memory plus its
 * timeline, GET /v1/router_replay/aggregate (same filters, baseline_model=)
 * and GET /v1/router_replay/trajectory?session_id= (message content for
 * admin and replay.detail only). With a shared store (redis, postgres) every replica answers
 * for the whole fleet. Viewer role. */
#include "admin/mgmt.h"
#include "core/clock.h"
#include "core/log.h"
#include "replay/query.h"
#include "replay/store.h"
#include "select/select.h"
#include "session/learned_file.h"
#include "session/learned_redis.h"
#include <cjson/cJSON.h>
#include "session/identity.h"
#include "session/store.h"
#include <stdio.h>
#include <string.h>

static void h_list(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    if (!app->replay_store)
        return mgmt_error(req, 404, "replay_disabled", "router_replay is disabled");
    replay_query_t q;
    buf_t err = BUF_INIT, out = BUF_INIT;
    if (replay_query_from_params(req->query, strlen(req->query), clock_wall_ms(), &req->arena, &q,
                                 &err) != 0) {
        mgmt_error(req, 400, "invalid_query", err.data ? err.data : "bad query");
    } else if (replay_query_list(app->replay_store, &q, &out, &err) != 0) {
        mgmt_error(req, 400, "invalid_query", err.data ? err.data : "query failed");
    } else {
        mgmt_json(req, 200, out.data, out.len);
    }
    buf_free(&err);
    buf_free(&out);
}

/* The session's memory, found under the key shapes identity produces for an
 * anonymous tenant (the common single-tenant case). */
static void memory_json(tether_app_t *app, const char *id, buf_t *out)
{
    static const char *sources[] = {
        "x-session-id",     "x-conversation-id",   "x-claude-code-session-id",
        "prompt_cache_key", "metadata.session_id", "metadata.user_id",
        "conversation",     "fingerprint",         NULL};
    sess_state_t st;
    for (int i = 0; sources[i] && app->store; i++) {
        char key[SESS_KEY_MAX];
        snprintf(key, sizeof key, "anon%c%s%c%s", SESS_KEY_SEP, sources[i], SESS_KEY_SEP, id);
        char mk[SESS_KEY_MAX + 16];
        snprintf(mk, sizeof mk, "\x1emirror\x1e%s", key); /* the Redis store's local mirror */
        if (sess_store_get_wait(app->store, key, &st) != SESS_OK &&
            sess_store_get_wait(app->store, mk, &st) != SESS_OK)
            continue;
        /* names come from the session store: escaped, like every string here */
        buf_puts(out, "{\"identity_source\":");
        buf_json_str(out, sources[i], strlen(sources[i]));
        buf_puts(out, ",\"last_model\":");
        buf_json_str(out, st.last_model, strnlen(st.last_model, sizeof st.last_model));
        buf_puts(out, ",\"last_decision\":");
        buf_json_str(out, st.last_decision, strnlen(st.last_decision, sizeof st.last_decision));
        buf_printf(out,
                   ",\"turn_count\":%u,\"switch_count\":%u,\"last_seen_ms\":%llu,\"lock\":\"%s\","
                   "\"prompt_tokens\":%llu,\"cached_tokens\":%llu,\"completion_tokens\":%llu,"
                   "\"cost\":%.6f}",
                   st.turn_count, st.switch_count, (unsigned long long)st.last_seen_ms,
                   st.lock_kind == SESS_LOCK_TOOL_LOOP        ? "tool_loop"
                   : st.lock_kind == SESS_LOCK_PROVIDER_STATE ? "provider_state"
                                                              : "none",
                   (unsigned long long)st.prompt_tokens, (unsigned long long)st.cached_tokens,
                   (unsigned long long)st.completion_tokens, st.cost);
        return;
    }
}

static void h_item(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    if (!app->replay_store)
        return mgmt_error(req, 404, "replay_disabled", "router_replay is disabled");
    const char *rest = req->path + strlen("/v1/router_replay/");
    buf_t err = BUF_INIT, out = BUF_INIT;
    int rc;
    if (!strcmp(rest, "aggregate") || !strcmp(rest, "trajectory")) {
        replay_query_t q;
        rc = replay_query_from_params(req->query, strlen(req->query), clock_wall_ms(), &req->arena,
                                      &q, &err);
        const cfg_model_t *bm = NULL;
        if (rc == 0 && rest[0] == 'a' && q.baseline_model) {
            bm = cfg_find_model(cfg, q.baseline_model, strlen(q.baseline_model));
            if (!bm) {
                buf_reset(&err);
                buf_printf(&err, "baseline_model '%s' is not a model of the config",
                           q.baseline_model);
                rc = REPLAY_EINVAL;
            }
        }
        if (rc == 0 && rest[0] == 'a') {
            replay_baseline_t b = {.model = q.baseline_model,
                                   .prompt_per_1m = bm ? bm->pricing.prompt_per_1m : 0,
                                   .completion_per_1m = bm ? bm->pricing.completion_per_1m : 0};
            rc = replay_query_aggregate(app->replay_store, &q, bm ? &b : NULL, &out, &err);
        } else if (rc == 0) {
            rc = replay_query_trajectory(app->replay_store, q.session_id,
                                         mgmt_caller_sees_bodies(req, cfg), &out, &err);
        }
    } else if (!strncmp(rest, "sessions/", 9) && rest[9]) {
        buf_t mem = BUF_INIT;
        memory_json(app, rest + 9, &mem);
        rc = replay_query_timeline(app->replay_store, rest + 9, mem.len ? mem.data : NULL, &out,
                                   &err);
        buf_free(&mem);
    } else {
        rc = replay_query_get(app->replay_store, rest, mgmt_caller_sees_bodies(req, cfg), &out,
                              &err);
    }
    if (rc == 0)
        mgmt_json(req, 200, out.data, out.len);
    else if (rc == REPLAY_ENOTFOUND)
        mgmt_error(req, 404, "not_found", "no such replay record");
    else
        mgmt_error(req, 400, "invalid_request", err.data ? err.data : "query failed");
    buf_free(&err);
    buf_free(&out);
}

void mgmt_register_replay(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_GET, "/v1/router_replay", MGMT_VIEWER, h_list, app);
    mgmt_route_add(m, HSRV_GET, "/v1/router_replay/", MGMT_VIEWER, h_item, app);
}

/* POST /v1/router/feedback {replay_id, outcome: good|bad|win|loss|tie,
 * compared_with?}: an elo verdict on the model the recorded turn used, in
 * its decision. 202 when applied. Operator role. */
static void h_feedback(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    cJSON *j = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *id = j ? cJSON_GetObjectItem(j, "replay_id") : NULL;
    const cJSON *oc = j ? cJSON_GetObjectItem(j, "outcome") : NULL;
    const cJSON *cw = j ? cJSON_GetObjectItem(j, "compared_with") : NULL;
    sel_feedback_t v;
    if (!cJSON_IsString(id) || !cJSON_IsString(oc) || !sel_feedback_parse(oc->valuestring, &v)) {
        cJSON_Delete(j);
        return mgmt_error(
            req, 400, "invalid_body",
            "expected {\"replay_id\": \"rr_...\", \"outcome\": good|bad|win|loss|tie}");
    }
    if (!app->replay_store) {
        cJSON_Delete(j);
        return mgmt_error(req, 404, "replay_disabled", "router_replay is disabled");
    }
    buf_t out = BUF_INIT, err = BUF_INIT;
    int rc = replay_query_get(app->replay_store, id->valuestring, false, &out, &err);
    cJSON *rec = rc == 0 ? cJSON_Parse(out.data) : NULL;
    buf_free(&out);
    buf_free(&err);
    if (!rec) {
        cJSON_Delete(j);
        return mgmt_error(req, 404, "not_found", "no such replay record");
    }
    const cJSON *dn = cJSON_GetObjectItem(rec, "decision"), *mn = cJSON_GetObjectItem(rec, "model");
    const cJSON *routing = cJSON_GetObjectItem(rec, "routing");
    if (!cJSON_IsString(dn) && routing) dn = cJSON_GetObjectItem(routing, "decision");
    const cfg_decision_t *d = NULL;
    for (size_t r = 0; cfg->routing && r < cfg->routing->n_recipes && !d && cJSON_IsString(dn); r++)
        for (size_t i = 0; i < cfg->routing->recipes[r].n_decisions; i++)
            if (!strcmp(cfg->routing->recipes[r].decisions[i].name, dn->valuestring))
                d = &cfg->routing->recipes[r].decisions[i];
    const char *why = NULL;
    sel_elo_delta_t moves[2];
    size_t n_moves = 0;
    if (!d || !cJSON_IsString(mn)) {
        mgmt_error(req, 422, "not_rateable", "the recorded turn has no decision/model to rate");
    } else if (sel_elo_feedback_deltas(app->sel, cfg, d, mn->valuestring, v,
                                       cJSON_IsString(cw) ? cw->valuestring : NULL, &why, moves,
                                       &n_moves) != 0) {
        mgmt_error(req, 422, "not_rateable", why ? why : "feedback not applicable");
    } else {
        /* the learned state: shared sessions add the moves to every replica's
         * ratings in Redis; a learned_state_file is rewritten */
        for (size_t i = 0; i < n_moves; i++)
            sess_learned_redis_push_elo(app->learned_redis, d->name, moves[i].model, moves[i].delta,
                                        moves[i].initial);
        if (app->learned_file) {
            char lerr[300] = "";
            if (sess_learned_save(app->learned_file, sess_priors_shared(), sess_outcomes_shared(),
                                  app->sel, lerr, sizeof lerr) != 0)
                tlog(TLOG_ERROR, "learned_state_unwritable", "\"path_set\":true");
        }
        buf_t b = BUF_INIT;
        buf_puts(&b, "{\"accepted\":true,\"decision\":");
        buf_json_str(&b, d->name, strlen(d->name));
        buf_puts(&b, ",\"model\":");
        buf_json_str(&b, mn->valuestring, strlen(mn->valuestring));
        buf_putc(&b, '}');
        mgmt_json(req, 202, b.data, b.len);
        buf_free(&b);
    }
    cJSON_Delete(rec);
    cJSON_Delete(j);
}

void mgmt_register_feedback(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_POST, "/v1/router/feedback", MGMT_OPERATOR, h_feedback, app);
}
