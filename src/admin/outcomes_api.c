/* outcomes_api.c - POST /v1/router/outcomes (issue 19): how a turn (by
 * replay_id, or model + decision) or a session (by session_id: the model
 * and decision it last ran on) turned out (success/failure, user feedback, a task result in
 * [0,1]) updates the quality learned for its model, per decision and per
 * model (session/outcomes.h). The session policy adds that bounded
 * adjustment to the model's card quality; the replay record's trace shows
 * it. With global.router.session.learned_state_file set, every accepted
 * outcome also rewrites that snapshot (session/learned_file.h). Operator
 * role; runs on the management thread (the file write blocks only it). */
#include "admin/mgmt.h"
#include "config/global.h"
#include "core/buf.h"
#include "core/log.h"
#include "replay/query.h"
#include "session/identity.h"
#include "session/learned_file.h"
#include "session/learned_redis.h"
#include "session/store.h"
#include "session/outcomes.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The outcome value in [0,1] from the body: task_result (a number), else
 * outcome (success|failure), else feedback (positive|negative and the
 * usual synonyms). -1 when none is usable. *what names the field used. */
static double outcome_value(const cJSON *j, const char **what)
{
    const cJSON *tr = cJSON_GetObjectItem(j, "task_result");
    if (cJSON_IsNumber(tr)) {
        *what = "task_result";
        return tr->valuedouble >= 0 && tr->valuedouble <= 1 ? tr->valuedouble : -1;
    }
    if (cJSON_IsBool(tr)) {
        *what = "task_result";
        return cJSON_IsTrue(tr) ? 1 : 0;
    }
    static const char *const good[] = {"success",   "succeeded", "positive", "good",
                                       "thumbs_up", "up",        "win"};
    static const char *const bad[] = {"failure",     "failed", "negative", "bad",
                                      "thumbs_down", "down",   "loss"};
    const char *keys[] = {"outcome", "feedback"};
    for (size_t k = 0; k < 2; k++) {
        const cJSON *v = cJSON_GetObjectItem(j, keys[k]);
        if (!cJSON_IsString(v)) continue;
        *what = keys[k];
        for (size_t i = 0; i < sizeof good / sizeof good[0]; i++)
            if (!strcmp(v->valuestring, good[i])) return 1;
        for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
            if (!strcmp(v->valuestring, bad[i])) return 0;
        return -1;
    }
    *what = NULL;
    return -1;
}

/* decision and model of a replay record (strdup'd into out; 0 on success) */
static int from_replay(tether_app_t *app, const char *id, char **decision, char **model)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    int rc = replay_query_get(app->replay_store, id, false, &out, &err);
    cJSON *rec = rc == 0 && out.data ? cJSON_Parse(out.data) : NULL;
    buf_free(&out);
    buf_free(&err);
    if (!rec) return -1;
    const cJSON *dn = cJSON_GetObjectItem(rec, "decision"), *mn = cJSON_GetObjectItem(rec, "model");
    const cJSON *routing = cJSON_GetObjectItem(rec, "routing");
    if (!cJSON_IsString(dn) && routing) dn = cJSON_GetObjectItem(routing, "decision");
    int ok = cJSON_IsString(mn) ? 0 : -1;
    if (ok == 0) {
        *model = strdup(mn->valuestring);
        *decision = cJSON_IsString(dn) ? strdup(dn->valuestring) : NULL;
    }
    cJSON_Delete(rec);
    return ok;
}

/* decision and model a session last ran on, from the session memory under
 * the key shapes identity produces for an anonymous tenant (as the replay
 * API's memory view does; with a Redis store, its local mirror). */
static int from_session(tether_app_t *app, const char *id, char **decision, char **model)
{
    static const char *const sources[] = {
        "x-session-id",     "x-conversation-id",   "x-claude-code-session-id",
        "prompt_cache_key", "metadata.session_id", "metadata.user_id",
        "conversation",     "fingerprint",         NULL};
    sess_state_t st;
    for (int i = 0; sources[i] && app->store && strlen(id) <= 256; i++) {
        char key[SESS_KEY_MAX];
        snprintf(key, sizeof key, "anon%c%s%c%s", SESS_KEY_SEP, sources[i], SESS_KEY_SEP, id);
        char mk[SESS_KEY_MAX + 16];
        snprintf(mk, sizeof mk, "\x1emirror\x1e%s", key);
        if (sess_store_get_wait(app->store, key, &st) != SESS_OK &&
            sess_store_get_wait(app->store, mk, &st) != SESS_OK)
            continue;
        if (!st.last_model[0]) return -1;
        *model = strndup(st.last_model, sizeof st.last_model);
        *decision = st.last_decision[0] ? strndup(st.last_decision, sizeof st.last_decision) : NULL;
        return 0;
    }
    return -1;
}

/* The anchor's session actions, as this outcome moves our policy:
 * bypass - learning is off (outcome_quality_bound 0): nothing changes;
 * rescue - the model's learned quality is below its card: the derived
 *          quality gaps now favour leaving it for a stronger model;
 * hold   - above its card: sessions on it are held more firmly;
 * allow  - no net evidence: the policy decides as without learning. */
static const char *action_of(double bound, double adj)
{
    if (bound <= 0) return "bypass";
    if (adj < -1e-12) return "rescue";
    if (adj > 1e-12) return "hold";
    return "allow";
}

static void h_outcomes(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    (void)m;
    tether_app_t *app = ud;
    cJSON *j = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return mgmt_error(req, 400, "invalid_body", "expected a JSON object");
    }
    const char *field = NULL;
    double v = outcome_value(j, &field);
    if (v < 0 || isnan(v)) {
        cJSON_Delete(j);
        return mgmt_error(req, 400, "invalid_outcome",
                          "expected task_result in [0,1] or true/false, outcome success|failure, "
                          "or feedback positive|negative");
    }
    const cJSON *mj = cJSON_GetObjectItem(j, "model"), *dj = cJSON_GetObjectItem(j, "decision");
    const cJSON *rj = cJSON_GetObjectItem(j, "replay_id");
    const cJSON *sj = cJSON_GetObjectItem(j, "session_id");
    char *model = NULL, *decision = NULL;
    if (cJSON_IsString(mj) && *mj->valuestring) {
        model = strdup(mj->valuestring);
        decision = cJSON_IsString(dj) && *dj->valuestring ? strdup(dj->valuestring) : NULL;
    } else if (cJSON_IsString(rj)) {
        if (!app->replay_store) {
            cJSON_Delete(j);
            return mgmt_error(req, 404, "replay_disabled",
                              "router_replay is disabled: name the model instead of replay_id");
        }
        if (from_replay(app, rj->valuestring, &decision, &model) != 0) {
            cJSON_Delete(j);
            return mgmt_error(req, 404, "not_found", "no such replay record with a model");
        }
    } else if (cJSON_IsString(sj) && *sj->valuestring) {
        if (from_session(app, sj->valuestring, &decision, &model) != 0) {
            cJSON_Delete(j);
            return mgmt_error(req, 404, "not_found", "no session memory with a model for that id");
        }
    } else {
        cJSON_Delete(j);
        return mgmt_error(req, 400, "invalid_body",
                          "expected model (and decision), replay_id or session_id");
    }
    cJSON_Delete(j);
    if (!cfg_find_model(cfg, model, strlen(model))) {
        free(model);
        free(decision);
        return mgmt_error(req, 422, "unknown_model", "the model is not configured");
    }
    const cfg_session_t *k = cfg->global_ext ? &cfg->global_ext->session : NULL;
    double bound = k ? k->outcome_quality_bound : 0, prior = k ? k->outcome_prior_weight : 10;
    sess_outcomes_t *o = sess_outcomes_shared();
    if (bound > 0 && sess_outcomes_record(o, decision, model, v) != 0) {
        free(model);
        free(decision);
        return mgmt_error(req, 422, "not_learnable",
                          "names too long, or the learned table is full");
    }
    sess_outcome_estimate_t est;
    double adj = sess_outcomes_adjust(o, decision, model, bound, prior, &est);
    const char *action = action_of(bound, adj);
    bool persisted = false;
    /* shared sessions: the outcome goes to Redis too, where every replica reads it */
    if (bound > 0 && app->learned_redis)
        persisted = sess_learned_redis_push(app->learned_redis, decision, model, v);
    if (bound > 0 && app->learned_file) {
        char err[300] = "";
        persisted |= sess_learned_save(app->learned_file, sess_priors_shared(), o, app->sel, err,
                                       sizeof err) == 0;
        if (!persisted) tlog(TLOG_ERROR, "learned_state_unwritable", "\"path_set\":true");
    }
    char num[64];
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"accepted\":true,\"model\":");
    buf_json_str(&b, model, strlen(model));
    buf_puts(&b, ",\"decision\":");
    if (decision)
        buf_json_str(&b, decision, strlen(decision));
    else
        buf_puts(&b, "null");
    buf_puts(&b, ",\"field\":");
    buf_json_str(&b, field, strlen(field));
    snprintf(num, sizeof num, ",\"value\":%.6g", v);
    buf_puts(&b, num);
    buf_puts(&b, ",\"action\":");
    buf_json_str(&b, action, strlen(action));
    snprintf(num, sizeof num, ",\"learned_quality\":%.6g", adj);
    buf_puts(&b, num);
    snprintf(num, sizeof num, ",\"good\":%.6g,\"bad\":%.6g", est.good, est.bad);
    buf_puts(&b, num);
    buf_puts(&b, est.per_decision ? ",\"scope\":\"decision\"" : ",\"scope\":\"model\"");
    snprintf(num, sizeof num, ",\"bound\":%.6g,\"persisted\":%s}", bound,
             persisted ? "true" : "false");
    buf_puts(&b, num);
    char adjs[32], samples[32];
    snprintf(adjs, sizeof adjs, "%.6g", adj);
    snprintf(samples, sizeof samples, "%.6g", est.good + est.bad);
    hsrv_header_t h[5] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
        {"x-tether-learning-action", 24, action, strlen(action)},
        {"x-tether-learning-adjustment", 28, adjs, strlen(adjs)},
        {"x-tether-learning-samples", 25, samples, strlen(samples)},
    };
    hsrv_respond(req, 202, h, 5, b.data, b.len);
    buf_free(&b);
    free(model);
    free(decision);
}

void mgmt_register_outcomes(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_POST, "/v1/router/outcomes", MGMT_OPERATOR, h_outcomes, app);
}
