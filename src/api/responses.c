/* responses.c - the Responses API (SPEC §4.4, §4.5): POST /v1/responses
 * (the stored chain expanded into the chat IR, then routed by agent.c and
 * served by the upstream proxy with the agent adapter), GET/DELETE /v1/responses/{id},
 * GET /v1/responses/{id}/input_items, and the process-wide response store
 * the turns are written to. Store reads run on the worker's loop
 * (rstore_*_async): a handler continues in the store's callback, keeping
 * the request if the client leaves meanwhile. */
#include "api/agent_proxy.h"
#include "api/response_store_registry.h"
#include "core/clock.h"
#include "core/log.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rstore_t *g_store;
static pthread_once_t g_once = PTHREAD_ONCE_INIT;
static const cfg_t *g_store_cfg;
static met_family_t *g_warn_met; /* registered with the store (see store_init) */

/* The backend global.stores.responses.backend names, from its registry
 * (response_store_registry.h); memory when it cannot open. */
static void store_init(void)
{
    int64_t ttl = 0, max = 0;
    const cfg_store_backend_t *b = NULL;
    if (g_store_cfg && g_store_cfg->global_ext) {
        ttl = g_store_cfg->global_ext->stores.responses.ttl_seconds;
        max = g_store_cfg->global_ext->stores.responses.max_responses;
        b = cfg_store_backend_find(CFG_STORE_RESPONSES,
                                   g_store_cfg->global_ext->stores.responses.backend);
    }
    uint64_t ttl_ms = ttl > 0 ? (uint64_t)ttl * 1000 : 0;
    size_t cap = max > 0 ? (size_t)max : 100000;
    if (b && b->ops.responses && b->ops.responses->open) {
        char err[256] = "";
        g_store = b->ops.responses->open(g_store_cfg, ttl_ms, cap, err, sizeof err);
        if (!g_store) {
            for (char *q = err; *q; q++)
                if (*q == '"' || *q == '\\' || (unsigned char)*q < 0x20) *q = '?';
            char ev[64]; /* response_store_redis_config, as before the registry */
            snprintf(ev, sizeof ev, "response_store_%s_config", b->name);
            tlog(TLOG_ERROR, ev, "\"error\":\"%s\",\"fallback\":\"memory\"", err);
        }
    }
    if (!g_store) g_store = rstore_new(ttl_ms, cap);
    static const char *const labels[] = {"code", NULL};
    g_warn_met = met_counter("tether_translation_warnings_total",
                             "Items that could not be translated between protocols", labels);
}

rstore_t *api_response_store(const cfg_t *cfg)
{
    if (!g_store_cfg) g_store_cfg = cfg;
    pthread_once(&g_once, store_init);
    return g_store;
}

met_family_t *ag_warn_metric(void)
{
    return g_warn_met;
}

/* ---------------------------------------------------------- the store */

void ag_items_of_input(const cJSON *input, cJSON *out)
{
    if (cJSON_IsString(input)) {
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "type", "message");
        cJSON_AddStringToObject(m, "role", "user");
        cJSON *c = cJSON_AddArrayToObject(m, "content");
        cJSON *t = cJSON_CreateObject();
        cJSON_AddStringToObject(t, "type", "input_text");
        cJSON_AddStringToObject(t, "text", input->valuestring);
        cJSON_AddItemToArray(c, t);
        cJSON_AddItemToArray(out, m);
        return;
    }
    const cJSON *x;
    cJSON_ArrayForEach(x, input) cJSON_AddItemToArray(out, cJSON_Duplicate(x, 1));
}

void ag_store_turn(ag_proxy_t *p, const char *id, bool native, const char *response_json)
{
    if (!p->store || !id || !*id) return;
    rstore_t *s = api_response_store(p->up.cfg);
    rstore_entry_t e = {0};
    if (strlen(id) >= sizeof e.id) {
        tlog(TLOG_WARN, "response_not_stored",
             "\"request_id\":\"%s\",\"reason\":\"id longer than %zu bytes\"", p->up.req->request_id,
             sizeof e.id - 1);
        return;
    }
    snprintf(e.id, sizeof e.id, "%s", id);
    e.session_key = p->up.plan.id.found ? p->up.plan.id.key : NULL;
    e.model = p->up.model->name;
    e.native = native;
    /* the input items as sent (a string becomes one user message item) */
    const char *body = p->up.req->body;
    jspan_t doc = {0, (uint32_t)p->up.req->body_len}, in;
    buf_t ib = BUF_INIT;
    if (!jscan_obj_get(body, doc, "input", &in)) in.len = 0;
    if (jscan_type(body, in) == '[') {
        buf_append(&ib, body + in.off, in.len);
    } else if (jscan_type(body, in) == '"') {
        buf_puts(&ib, "[{\"type\":\"message\",\"role\":\"user\",\"content\":[{\"type\":"
                      "\"input_text\",\"text\":");
        buf_append(&ib, body + in.off, in.len);
        buf_puts(&ib, "}]}]");
    } else {
        buf_puts(&ib, "[]");
    }
    e.input = buf_steal(&ib);
    e.output = p->output ? cJSON_PrintUnformatted(p->output) : strdup("[]");
    e.instructions = p->instructions;
    e.previous_response_id = p->prev_id;
    e.response = (char *)response_json;
    e.created_at = p->meta.created_at;
    rstore_put_async(s, p->w ? p->w->base : hsrv_req_base(p->up.req), &e, clock_wall_ms());
    free(e.input);
    free(e.output);
}

/* ------------------------------------------------------------ Responses */

/* A POST waiting for its stored chain. */
typedef struct resp_post {
    ag_proxy_t *p;
    const char *pr;  /* previous_response_id as the client sent it */
    const char *ins; /* the request's own instructions */
    rid_prev_t prev;
} resp_post_t;

static void resp_post_abort(hsrv_req_t *req)
{
    ag_proxy_t *p = req->user;
    p->up.client_gone = true;
}

/* The chain is known (or there is none): translate and route. */
static void resp_post_go(resp_post_t *rp, cJSON *history)
{
    ag_proxy_t *p = rp->p;
    hsrv_req_t *req = p->up.req;
    if (rp->ins) {
        free(p->instructions);
        p->instructions = strdup(rp->ins);
    }
    char err[256];
    int rc = tr_req_responses_to_chat(req->body, req->body_len, history, p->instructions, NULL,
                                      &p->ir, &p->warn, err, sizeof err);
    cJSON_Delete(history);
    if (rc != 0) {
        app_config_ref_t *ref = p->up.ref;
        p->up.ref = NULL;
        ag_drop(p);
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "input", "%s",
                                err);
    }
    rstore_new_id(p->resp_id);
    p->meta.id = p->resp_id;
    p->meta.created_at = (int64_t)(clock_wall_ms() / 1000);
    p->meta.previous_response_id = rp->pr; /* as the client sent it */
    p->meta.instructions = p->instructions;
    if (!ag_ir_facts(p)) return;
    rid_apply_prev(p->up.rq, &rp->prev);
    if (p->chain_native) p->up.rq->bindings |= RQ_BIND_PREVIOUS_RESPONSE_ID;
    /* SPEC §9.4: an emulated chain is in tether's store (portable when
     * treat_stored_chains_as_portable); a native one is provider state */
    if (p->prev_id) p->up.rq->previous_response_stored = !p->chain_native;
    ag_route(p);
}

static void resp_post_chain(void *ud, rstore_chain_t *ch)
{
    resp_post_t *rp = ud;
    ag_proxy_t *p = rp->p;
    hsrv_req_t *req = p->up.req;
    req->keep_on_abort = false;
    req->on_abort = NULL;
    if (p->up.client_gone) { /* left while the chain was read */
        rstore_chain_free(ch);
        ag_drop(p);
        hsrv_abort(req);
        return;
    }
    if (!ch) {
        char idc[SESS_BINDING_ID_MAX + 1];
        snprintf(idc, sizeof idc, "%s", rp->pr);
        app_config_ref_t *ref = p->up.ref;
        p->up.ref = NULL;
        ag_drop(p);
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "previous_response_not_found",
                                "previous_response_id", "Previous response with id '%s' not found.",
                                idc);
    }
    cJSON *history = cJSON_CreateArray();
    rstore_chain_expand(ch, history, NULL, &p->instructions, &p->chain_native, NULL, &p->warn);
    p->chain = ch; /* an emulated chain sent to a native backend is built from it */
    resp_post_go(rp, history);
}

void api_responses(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    jreq_t jr;
    if (!ag_scan_client(req, ref, RQ_PROTO_RESPONSES, &jr)) return;
    if (!jr.input.len && !jr.previous_response_id.len) {
        app_config_release(ref);
        return api_error_openai(req, 400, "invalid_request_error", "invalid_body", "input",
                                "missing required field 'input' (or 'previous_response_id')");
    }
    ag_proxy_t *p = ag_new(req, w, ref, RQ_PROTO_RESPONSES);
    p->up.client_stream = jr.stream == 1;
    p->jr_client = jr;
    if (jscan_type(req->body, jr.store) == 'f') p->store = false;
    resp_post_t *rp = arena_calloc(&req->arena, sizeof *rp);
    rp->p = p;
    /* spans of the scanned body: no tree of the request is ever built */
    rp->pr = jscan_type(req->body, jr.previous_response_id) == '"'
                 ? jscan_unescape(&req->arena, req->body, jr.previous_response_id, NULL)
                 : NULL;
    rp->ins = jscan_type(req->body, jr.instructions) == '"'
                  ? jscan_unescape(&req->arena, req->body, jr.instructions, NULL)
                  : NULL;
    /* a wrapped id: the store and the upstream know it without its suffix;
     * a valid native binding needs no store lookup (the provider holds the
     * chain; the bound model is routed to) */
    rid_parse_prev(ref->cfg, rp->pr, &req->arena, req->request_id, &rp->prev);
    if (rp->pr && rid_prev_is_native(&rp->prev)) {
        p->prev_id = strdup(rp->prev.upstream);
        p->chain_native = true;
    } else if (rp->pr) {
        p->prev_id = strdup(rp->prev.upstream);
        /* the chain may come later (Redis): keep the request if the client
         * goes away meanwhile, and end it in the callback */
        req->user = p;
        req->keep_on_abort = true;
        req->on_abort = resp_post_abort;
        rstore_chain_fetch(api_response_store(ref->cfg), w ? w->base : hsrv_req_base(req),
                           p->prev_id, clock_wall_ms(), resp_post_chain, rp);
        return;
    }
    resp_post_go(rp, cJSON_CreateArray());
}

void ag_respond_json(hsrv_req_t *req, int status, const char *body, size_t len)
{
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    hsrv_respond(req, status, h, 2, body, len);
}

/* A GET or DELETE of one stored response, waiting for the store. */
typedef struct resp_item {
    hsrv_req_t *req;
    char id[SESS_BINDING_ID_MAX + 1]; /* as the client has it */
    bool items, gone;
} resp_item_t;

static void resp_item_abort(hsrv_req_t *req)
{
    ((resp_item_t *)req->user)->gone = true;
}

/* The store answered: false when the client left (the request is ended). */
static bool resp_item_back(resp_item_t *it)
{
    hsrv_req_t *req = it->req;
    req->keep_on_abort = false;
    req->on_abort = NULL;
    if (!it->gone) return true;
    hsrv_abort(req);
    return false;
}

static void resp_item_deleted(void *ud, bool deleted)
{
    resp_item_t *it = ud;
    if (!resp_item_back(it)) return;
    hsrv_req_t *req = it->req;
    const char *id = it->id;
    if (!deleted)
        return api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                                "Response with id '%s' not found.", id);
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"id\":");
    buf_json_str(&b, id, strlen(id));
    buf_puts(&b, ",\"object\":\"response\",\"deleted\":true}");
    ag_respond_json(req, 200, b.data, b.len);
    buf_free(&b);
}

static void resp_item_got(void *ud, rstore_entry_t *e)
{
    resp_item_t *it = ud;
    if (!resp_item_back(it)) {
        rstore_entry_free(e);
        return;
    }
    hsrv_req_t *req = it->req;
    if (!e)
        return api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                                "Response with id '%s' not found.", it->id);
    if (!it->items) {
        const char *r = e->response ? e->response : "{}";
        ag_respond_json(req, 200, r, strlen(r));
    } else {
        cJSON *in = e->input ? cJSON_Parse(e->input) : cJSON_CreateArray();
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "object", "list");
        int k = 0;
        cJSON *x;
        cJSON_ArrayForEach(x, in)
        {
            if (!cJSON_GetObjectItemCaseSensitive(x, "id")) {
                char iid[RSTORE_ID_MAX + 32];
                snprintf(iid, sizeof iid, "in_%s_%d", e->id + 5, k);
                cJSON_AddStringToObject(x, "id", iid);
            }
            k++;
        }
        int n = cJSON_GetArraySize(in);
        const char *first = n ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                    cJSON_GetArrayItem(in, 0), "id"))
                              : NULL;
        const char *last = n ? cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetArrayItem(in, n - 1), "id"))
                             : NULL;
        cJSON_AddItemToObject(o, "data", in);
        if (first)
            cJSON_AddStringToObject(o, "first_id", first);
        else
            cJSON_AddNullToObject(o, "first_id");
        if (last)
            cJSON_AddStringToObject(o, "last_id", last);
        else
            cJSON_AddNullToObject(o, "last_id");
        cJSON_AddFalseToObject(o, "has_more");
        char *t = cJSON_PrintUnformatted(o);
        ag_respond_json(req, 200, t, strlen(t));
        free(t);
        cJSON_Delete(o);
    }
    rstore_entry_free(e);
}

void api_responses_item(hsrv_req_t *req, app_worker_t *w, app_config_ref_t *ref)
{
    const char *rest = req->path + strlen("/v1/responses/");
    resp_item_t *it = arena_calloc(&req->arena, sizeof *it);
    it->req = req;
    const char *slash = strchr(rest, '/');
    size_t idlen = slash ? (size_t)(slash - rest) : strlen(rest);
    it->items = slash && !strcmp(slash, "/input_items");
    if (idlen == 0 || idlen >= sizeof it->id || (slash && !it->items)) {
        app_config_release(ref);
        return api_error_openai(req, 404, "invalid_request_error", "not_found", NULL,
                                "unknown path %s", req->path);
    }
    memcpy(it->id, rest, idlen);
    it->id[idlen] = 0;
    /* the id as the client has it (wrapped) or bare: the store key is bare */
    char key[SESS_BINDING_ID_MAX + 1];
    snprintf(key, sizeof key, "%.*s", (int)rid_store_key(it->id, idlen), it->id);
    rstore_t *s = api_response_store(ref->cfg);
    app_config_release(ref);
    bool del = req->method == HSRV_DELETE && !it->items;
    if (!del && req->method != HSRV_GET && req->method != HSRV_HEAD)
        return api_error_openai(req, 405, "invalid_request_error", "method_not_allowed", NULL,
                                "method %s is not allowed on %s", req->method_str, req->path);
    /* Redis may answer later: keep the request if the client leaves */
    req->user = it;
    req->keep_on_abort = true;
    req->on_abort = resp_item_abort;
    struct event_base *evb = w ? w->base : hsrv_req_base(req);
    if (del)
        rstore_delete_async(s, evb, key, resp_item_deleted, it);
    else
        rstore_get_async(s, evb, key, clock_wall_ms(), resp_item_got, it);
}
