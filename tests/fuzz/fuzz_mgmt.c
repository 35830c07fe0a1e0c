/* fuzz_mgmt.c - libFuzzer harness for the management API's JSON request
 * bodies (build and run with scripts/fuzz.sh): POST /api/v1/eval
 * (admin/eval_api.c: the request on each endpoint, headers, the seeded
 * session memory, the rewrite preview), POST /v1/router/outcomes
 * (admin/outcomes_api.c) and POST /v1/router/feedback (admin/replay_api.c),
 * through their real handlers. The first byte of the input picks the
 * handler, the rest is the body. The YAML bodies of config validate/apply
 * go through the loader, which fuzz_config covers.
 *
 * The handlers run on a router built from a fixed config (two models, a
 * keyword decision, outcome learning on) without a server: the management
 * layer's reply functions are stubbed here and check what a handler sends.
 * Besides "no crash, no sanitizer report": every answer is one reply, its
 * body is JSON that cJSON parses, and a 4xx body is an error object. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "admin/mgmt.h"
#include "replay/store.h"
#include "route/pipeline.h"
#include "select/select.h"
#include "signals/signal.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_mgmt: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char CONFIG[] = "version: v0.3\n"
                             "listeners:\n"
                             "  - {name: main, address: 127.0.0.1, port: 18080}\n"
                             "providers:\n"
                             "  defaults: {default_model: small}\n"
                             "  models:\n"
                             "    - name: small\n"
                             "      backend_refs: [{name: s1, endpoint: \"127.0.0.1:1\"}]\n"
                             "    - name: big\n"
                             "      backend_refs: [{name: b1, endpoint: \"127.0.0.1:1\"}]\n"
                             "routing:\n"
                             "  modelCards: [{name: small}, {name: big}]\n"
                             "  signals:\n"
                             "    keywords:\n"
                             "      - {name: hard, keywords: [prove, derive]}\n"
                             "  decisions:\n"
                             "    - {name: reasoning, priority: 10, rules: {type: keyword, name: "
                             "hard}, modelRefs: [{model: big}]}\n"
                             "    - {name: chat, modelRefs: [{model: small}]}\n"
                             "global:\n"
                             "  router:\n"
                             "    session: {outcome_quality_bound: 0.2}\n";

/* --- the management layer, stubbed ------------------------------------- */

#define MAX_H 8
static struct {
    mgmt_handler_fn fn;
    void *ud;
    const char *path;
} routes[MAX_H];
static size_t n_routes;
static int replies;

void mgmt_route_add(mgmt_t *m, hsrv_method_t method, const char *path, mgmt_role_t role,
                    mgmt_handler_fn fn, void *ud)
{
    (void)m;
    (void)role;
    if (method != HSRV_POST || n_routes == MAX_H) return;
    routes[n_routes].fn = fn;
    routes[n_routes].ud = ud;
    routes[n_routes++].path = path;
}

static void reply(int status, const char *body, size_t len)
{
    replies++;
    CHECK(status >= 200 && status < 600);
    cJSON *j = cJSON_ParseWithLength(body, len);
    CHECK(j != NULL);
    if (status >= 400) CHECK(cJSON_IsObject(cJSON_GetObjectItem(j, "error")));
    cJSON_Delete(j);
}

void hsrv_respond(hsrv_req_t *req, int status, const hsrv_header_t *h, size_t nh, const char *body,
                  size_t len)
{
    (void)req;
    (void)h;
    (void)nh;
    reply(status, body, len);
}

void mgmt_json(hsrv_req_t *req, int status, const char *body, size_t len)
{
    (void)req;
    reply(status, body, len);
}

void mgmt_error(hsrv_req_t *req, int status, const char *code, const char *msg)
{
    (void)req;
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"error\":{\"code\":");
    buf_json_str(&b, code, strlen(code));
    buf_puts(&b, ",\"message\":");
    buf_json_str(&b, msg, strlen(msg));
    buf_puts(&b, "}}");
    reply(status, b.data, b.len);
    buf_free(&b);
}

bool mgmt_caller_sees_bodies(const hsrv_req_t *req, const cfg_t *cfg)
{
    (void)req;
    (void)cfg;
    return true;
}

/* --- the application: one config generation, no server ----------------- */

static app_config_ref_t ref;
static sig_engine_t *sig;
static sel_state_t *sel;

app_config_ref_t *app_config_acquire(tether_app_t *app)
{
    (void)app;
    return &ref;
}
void app_config_release(app_config_ref_t *r)
{
    (void)r;
}
void app_route_env(const app_config_ref_t *r, route_env_t *env)
{
    (void)r;
    memset(env, 0, sizeof *env);
    env->sig = sig;
    env->sel = sel;
}

/* A replay store holding one record the feedback handler can rate. */
static int one_scan(replay_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                    buf_t *err)
{
    (void)s;
    (void)err;
    replay_row_t r = {.id = "rr_1",
                      .created_at_ms = 1700000000000ull,
                      .session_id = "s1",
                      .decision = "reasoning",
                      .model = "big",
                      .json = "{\"id\":\"rr_1\",\"created_at_ms\":1700000000000,"
                              "\"decision\":\"reasoning\",\"model\":\"big\"}"};
    if (f->id && strcmp(f->id, r.id) != 0) return 0;
    if (replay_filter_match(f, &r)) cb(ctx, &r);
    return 0;
}
static const replay_store_ops_t one_ops = {.name = "fuzz", .scan = one_scan};
static replay_store_t one_store = {.ops = &one_ops};

static tether_app_t app;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *cfg = cfg_load_string("fuzz", CONFIG, sizeof CONFIG - 1, NULL, &d);
    if (!cfg) {
        cfg_diags_print(stderr, &d);
        abort();
    }
    cfg_diags_free(&d);
    cfg_diags_init(&d);
    sig = sig_engine_new(cfg, &d);
    cfg_diags_free(&d);
    CHECK(sig != NULL);
    sel = sel_state_new();
    ref.cfg = cfg;
    app.replay_store = &one_store;
    app.sel = sel;
    mgmt_register_eval(NULL, &app);
    mgmt_register_outcomes(NULL, &app);
    mgmt_register_feedback(NULL, &app);
    CHECK(n_routes == 3);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > (1u << 20)) return 0;
    size_t which = data[0] % n_routes;
    char *body = malloc(size);
    memcpy(body, data + 1, size - 1);
    body[size - 1] = 0;
    hsrv_req_t req;
    memset(&req, 0, sizeof req);
    req.method = HSRV_POST;
    req.method_str = "POST";
    req.path = routes[which].path;
    req.path_len = strlen(req.path);
    req.query = "";
    req.body = body;
    req.body_len = size - 1;
    snprintf(req.request_id, sizeof req.request_id, "req_fuzz");
    arena_init(&req.arena, 4096);
    replies = 0;
    routes[which].fn(&req, NULL, ref.cfg, routes[which].ud);
    CHECK(replies == 1);
    arena_deinit(&req.arena);
    free(body);
    return 0;
}
