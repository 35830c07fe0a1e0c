/* eval_rewrite.c - the rewritten request of POST /api/v1/eval: the chosen
 * decision's plugins (plugins/plugins.h) run on the evaluated chat body as
 * the chat proxy runs them (pre: fast_response, request_params; post:
 * system_prompt, reasoning, header_mutation, retention), and the result is
 * reported: the body after their splice edits, the upstream header
 * operations, the response headers, which plugins changed something, and a
 * fast_response's reply or a request_params rejection instead of a body.
 * The body also carries the proxy's own rewrite of every top-level "model"
 * to the provider's model id (upstream_model), as api/chat_adapter.c does;
 * the stream_options it adds for streams and tool id unwrapping are not
 * shown. Nothing is sent anywhere. */
#include "admin/eval_rewrite.h"
#include "json/scan.h"
#include "json/splice.h"
#include "plugins/plugins.h"
#include <cjson/cJSON.h>
#include <string.h>

static void str_or_null(buf_t *out, const char *s)
{
    if (s)
        buf_json_str(out, s, strlen(s));
    else
        buf_puts(out, "null");
}

static void hdr_ops_json(buf_t *out, const plg_hdr_op_t *ops, size_t n)
{
    static const char *kinds[] = {"add", "set", "delete"};
    buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        buf_printf(out, "%s{\"op\":\"%s\",\"name\":", i ? "," : "", kinds[ops[i].op]);
        str_or_null(out, ops[i].name);
        buf_puts(out, ",\"value\":");
        str_or_null(out, ops[i].value);
        buf_putc(out, '}');
    }
    buf_putc(out, ']');
}

/* JSON text as a member value: itself when it parses, else as a string. */
static void json_or_string(buf_t *out, const char *s, size_t n)
{
    cJSON *j = cJSON_ParseWithLength(s, n);
    if (j)
        buf_append(out, s, n);
    else
        buf_json_str(out, s, n);
    cJSON_Delete(j);
}

void eval_rewrite_json(buf_t *out, const cfg_t *cfg, const route_plan_t *plan, const char *body,
                       size_t len, arena_t *a)
{
    buf_puts(out, "\"rewritten\":");
    jreq_t jr;
    jscan_err_t je = {0};
    if (!plan->model || jscan_request(body, len, a, &jr, &je) != 0) {
        buf_puts(out, "null");
        return;
    }
    const cfg_model_t *m = plan->model;
    plg_ctx_t pc = {.cfg = cfg,
                    .decision = plan->decision,
                    .model = m,
                    .proto = RQ_PROTO_CHAT,
                    .body = body,
                    .body_len = len,
                    .jr = &jr,
                    .stream = jr.stream == 1,
                    .reply_model = m->name,
                    .arena = a};
    for (size_t i = 0; plan->decision && i < plan->decision->n_model_refs; i++)
        if (!strcmp(plan->decision->model_refs[i].model, m->name))
            pc.ref = &plan->decision->model_refs[i];
    plg_out_t o;
    plg_out_init(&o);
    const char *um = m->provider_model_id ? m->provider_model_id : m->name;
    buf_puts(out, "{\"upstream_model\":");
    str_or_null(out, um);
    if (plan->decision && plg_run_pre(&pc, &o)) {
        buf_printf(out, ",\"ends_here\":true,\"status\":%d,\"fast_response\":%s,\"reply\":",
                   o.status ? o.status : (o.fast ? 200 : 400), o.fast ? "true" : "false");
        if (o.fast && o.reply)
            json_or_string(out, o.reply, o.reply_len);
        else
            str_or_null(out, o.error ? o.error : "rejected by request_params");
    } else {
        if (plan->decision) plg_run_post(&pc, &o);
        buf_t mv = BUF_INIT, nb = BUF_INIT;
        buf_json_str(&mv, um, strlen(um));
        for (uint32_t i = 0; i < jr.n_model && i < JREQ_MAX_MODEL_KEYS; i++)
            jsplice_add(&o.edits, jr.model_all[i].off, jr.model_all[i].len, mv.data,
                        (uint32_t)mv.len);
        jsplice_sort(&o.edits);
        jsplice_to_buf(&o.edits, body, len, &nb);
        buf_free(&mv);
        buf_puts(out, ",\"ends_here\":false,\"body\":");
        json_or_string(out, nb.data ? nb.data : "", nb.len);
        buf_free(&nb);
        buf_puts(out, ",\"upstream_headers\":");
        hdr_ops_json(out, o.hdr_ops, o.n_hdr_ops);
        buf_puts(out, ",\"response_headers\":");
        hdr_ops_json(out, o.resp_headers, o.n_resp_headers);
    }
    buf_puts(out, ",\"applied\":[");
    for (size_t i = 0; i < o.n_applied; i++) {
        if (i) buf_putc(out, ',');
        str_or_null(out, o.applied[i]);
    }
    buf_puts(out, "],\"warnings\":[");
    for (size_t i = 0; i < o.n_warnings; i++) {
        if (i) buf_putc(out, ',');
        str_or_null(out, o.warnings[i]);
    }
    buf_puts(out, "]}");
    plg_out_deinit(&o);
}
