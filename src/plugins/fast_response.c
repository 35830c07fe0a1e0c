/* fast_response.c - the fast_response plugin (SPEC §8): {message, status
 * (200)} answered without a model call, in the client's shape: a chat
 * completion, an Anthropic message or a Responses object, as SSE events
 * when the client streams. A non-2xx status answers the protocol's error
 * shape (never streamed). The bytes are produced here; the proxy sends them. */
#include "core/buf.h"
#include "core/hash.h"
#include "decision/cfgnode.h"
#include "config/family.h"
#include "plugins/plugins.h"
#include <string.h>
#include <time.h>

static void chat(buf_t *b, const char *id, long long t, const char *m, const char *msg, bool stream)
{
    if (!stream) {
        buf_printf(b,
                   "{\"id\":%s,\"object\":\"chat.completion\",\"created\":%lld,\"model\":%s,"
                   "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":%s},"
                   "\"finish_reason\":\"stop\"}],"
                   "\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,\"total_tokens\":0}}",
                   id, t, m, msg);
        return;
    }
    const char *head =
        "data: {\"id\":%s,\"object\":\"chat.completion.chunk\",\"created\":%lld,\"model\":%s,";
    buf_printf(b, head, id, t, m);
    buf_printf(b,
               "\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\",\"content\":%s},"
               "\"finish_reason\":null}]}\n\n",
               msg);
    buf_printf(b, head, id, t, m);
    buf_puts(
        b,
        "\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}\n\ndata: [DONE]\n\n");
}

static void anthropic(buf_t *b, const char *id, const char *m, const char *msg, bool stream)
{
    if (!stream) {
        buf_printf(b,
                   "{\"id\":%s,\"type\":\"message\",\"role\":\"assistant\",\"model\":%s,"
                   "\"content\":[{\"type\":\"text\",\"text\":%s}],\"stop_reason\":\"end_turn\","
                   "\"stop_sequence\":null,\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}",
                   id, m, msg);
        return;
    }
    buf_printf(b,
               "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":%s,"
               "\"type\":\"message\",\"role\":\"assistant\",\"model\":%s,\"content\":[],"
               "\"stop_reason\":null,\"stop_sequence\":null,"
               "\"usage\":{\"input_tokens\":0,\"output_tokens\":0}}}\n\n",
               id, m);
    buf_puts(b, "event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,"
                "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n");
    buf_printf(b,
               "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,"
               "\"delta\":{\"type\":\"text_delta\",\"text\":%s}}\n\n",
               msg);
    buf_puts(b,
             "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
             "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
             "\"end_turn\",\"stop_sequence\":null},\"usage\":{\"output_tokens\":0}}\n\n"
             "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n");
}

static void response_obj(buf_t *b, const char *id, long long t, const char *m, const char *msg,
                         bool done)
{
    buf_printf(
        b,
        "{\"id\":%s,\"object\":\"response\",\"created_at\":%lld,\"status\":\"%s\",\"model\":%s,"
        "\"output\":[",
        id, t, done ? "completed" : "in_progress", m);
    if (done)
        buf_printf(b,
                   "{\"type\":\"message\",\"id\":\"msg_fast\",\"status\":\"completed\",\"role\":"
                   "\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":%s,"
                   "\"annotations\":[]}]}",
                   msg);
    buf_puts(b, "],\"usage\":{\"input_tokens\":0,\"output_tokens\":0,\"total_tokens\":0}}");
}

static void responses(buf_t *b, const char *id, long long t, const char *m, const char *msg,
                      bool stream)
{
    if (!stream) {
        response_obj(b, id, t, m, msg, true);
        return;
    }
    buf_puts(b, "event: response.created\ndata: {\"type\":\"response.created\",\"response\":");
    response_obj(b, id, t, m, msg, false);
    buf_printf(
        b,
        "}\n\nevent: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\","
        "\"item_id\":\"msg_fast\",\"output_index\":0,\"content_index\":0,\"delta\":%s}\n\n",
        msg);
    buf_puts(b, "event: response.completed\ndata: {\"type\":\"response.completed\",\"response\":");
    response_obj(b, id, t, m, msg, true);
    buf_puts(b, "}\n\n");
}

int plg_fast_response(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    const char *message = dec_cfg_str(conf, "message", "");
    double st = dec_cfg_num(conf, "status", 200);
    int status = st >= 100 && st <= 599 ? (int)st : 200;
    arena_t *a = c->arena;
    char *msg = plg_json_str(a, message, NULL);
    buf_t b = BUF_INIT;
    bool ok = status >= 200 && status < 300;
    bool stream = ok && c->stream;
    if (!ok) {
        if (c->proto == RQ_PROTO_ANTHROPIC)
            buf_printf(&b,
                       "{\"type\":\"error\",\"error\":{\"type\":\"fast_response\",\"message\":%s}}",
                       msg);
        else
            buf_printf(&b, "{\"error\":{\"message\":%s,\"type\":\"fast_response\",\"code\":%d}}",
                       msg, status);
    } else {
        const char *prefix = c->proto == RQ_PROTO_ANTHROPIC   ? "msg_"
                             : c->proto == RQ_PROTO_RESPONSES ? "resp_"
                                                              : "chatcmpl-";
        char rnd[25] = {0};
        if (!c->reply_id) hash_random_hex(rnd, 24);
        char *id = plg_json_str(
            a, c->reply_id ? c->reply_id : arena_sprintf(a, "%s%s", prefix, rnd), NULL);
        char *model = plg_json_str(a, c->reply_model ? c->reply_model : "tether", NULL);
        long long t = c->created ? (long long)c->created : (long long)time(NULL);
        if (c->proto == RQ_PROTO_ANTHROPIC)
            anthropic(&b, id, model, msg, stream);
        else if (c->proto == RQ_PROTO_RESPONSES)
            responses(&b, id, t, model, msg, stream);
        else
            chat(&b, id, t, model, msg, stream);
    }
    o->fast = true;
    o->status = status;
    o->content_type = stream ? "text/event-stream" : "application/json";
    o->reply = arena_strndup(a, b.data ? b.data : "", b.len);
    o->reply_len = b.len;
    buf_free(&b);
    return 1;
}

const cfg_plugin_kind_t plg_fast_response_plugin = {
    .name = "fast_response", .ops = &(const plg_ops_t){.phase = PLG_PRE, .run = plg_fast_response}};
