/* test_plugins.c - plugins (SPEC §8) as exact output bytes: every body
 * change is a splice over the original (checked byte for byte and with
 * jscan_validate): system_prompt insert/replace for chat, Anthropic and
 * Responses; request_params caps, strip and reject; reasoning through each
 * family type with the thinking budget rules; header_mutation with protected
 * headers; fast_response JSON and SSE in each client shape; retention echo;
 * the pre/post pipeline. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "config/yaml.h"
#include "plugins/plugins.h"

typedef struct fx {
    arena_t a;
    jreq_t jr;
    plg_ctx_t c;
    plg_out_t o;
    buf_t out;
} fx_t;

static void setup(fx_t *f, rq_proto_t proto, const char *body)
{
    memset(f, 0, sizeof *f);
    arena_init(&f->a, 4096);
    assert_int_equal(jscan_request(body, strlen(body), &f->a, &f->jr, NULL), 0);
    f->c = (plg_ctx_t){.proto = proto,
                       .body = body,
                       .body_len = strlen(body),
                       .jr = &f->jr,
                       .arena = &f->a,
                       .stream = f->jr.stream == 1};
    plg_out_init(&f->o);
}

static const char *apply(fx_t *f)
{
    plg_body_finish(&f->c, &f->o);
    jsplice_sort(&f->o.edits);
    buf_reset(&f->out);
    jsplice_to_buf(&f->o.edits, f->c.body, f->c.body_len, &f->out);
    assert_int_equal(jscan_validate(f->out.data, f->out.len, NULL), 0);
    return f->out.data;
}

static void teardown(fx_t *f)
{
    plg_out_deinit(&f->o);
    buf_free(&f->out);
    arena_deinit(&f->a);
}

static const cfg_node_t *conf(fx_t *f, const char *yaml)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    const cfg_node_t *n = cfg_yaml_parse(&f->a, "t", yaml, strlen(yaml), &d);
    assert_int_equal(d.n_errors, 0);
    cfg_diags_free(&d);
    return n;
}

#define CHAT_SYS                                                                                   \
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":\"be "                     \
    "brief\"},{\"role\":\"user\",\"content\":\"hi\"}]}"

static void test_system_prompt_chat(void **st)
{
    fx_t f;
    setup(&f, RQ_PROTO_CHAT, CHAT_SYS);
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: 'Say \"ok\"', mode: insert}"), &f.o);
    assert_string_equal(
        apply(&f), "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":"
                   "\"Say \\\"ok\\\"\\n\\nbe brief\"},{\"role\":\"user\",\"content\":\"hi\"}]}");
    teardown(&f);

    setup(&f, RQ_PROTO_CHAT, CHAT_SYS);
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: New, mode: replace}"), &f.o);
    assert_string_equal(apply(&f),
                        "{\"model\":\"auto\",\"messages\":[{\"role\":\"system\",\"content\":"
                        "\"New\"},{\"role\":\"user\",\"content\":\"hi\"}]}");
    teardown(&f);

    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: S}"), &f.o);
    assert_string_equal(apply(&f), "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"},"
                                   "{\"role\":\"user\",\"content\":\"hi\"}]}");
    teardown(&f);

    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[]}");
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: S}"), &f.o);
    assert_string_equal(apply(&f), "{\"messages\":[{\"role\":\"system\",\"content\":\"S\"}]}");
    teardown(&f);

    /* array content: a text part goes first */
    setup(&f, RQ_PROTO_CHAT,
          "{\"messages\":[{\"role\":\"developer\",\"content\":[{\"type\":\"text\",\"text\":\"x\"}]}"
          "]}");
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: S}"), &f.o);
    assert_string_equal(apply(&f),
                        "{\"messages\":[{\"role\":\"developer\",\"content\":[{\"type\":\"text\","
                        "\"text\":\"S\"},{\"type\":\"text\",\"text\":\"x\"}]}]}");
    teardown(&f);
}

static void test_system_prompt_anthropic_and_responses(void **st)
{
    fx_t f;
    setup(&f, RQ_PROTO_ANTHROPIC, "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}");
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: S}"), &f.o);
    assert_string_equal(apply(&f),
                        "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[],\"system\":\"S\"}");
    teardown(&f);

    setup(&f, RQ_PROTO_ANTHROPIC, "{\"system\":\"old\",\"messages\":[]}");
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: S}"), &f.o);
    assert_string_equal(apply(&f), "{\"system\":\"S\\n\\nold\",\"messages\":[]}");
    teardown(&f);

    setup(&f, RQ_PROTO_RESPONSES, "{\"input\":\"hi\",\"instructions\":\"old\"}");
    plg_system_prompt(&f.c, conf(&f, "{system_prompt: S, mode: replace}"), &f.o);
    assert_string_equal(apply(&f), "{\"input\":\"hi\",\"instructions\":\"S\"}");
    teardown(&f);
}

static void test_request_params(void **st)
{
    fx_t f;
    const char *body = "{\"seed\":7, \"model\":\"m\",\"max_tokens\":9000,\"n\":4,\"messages\":[],"
                       "\"logit_bias\":{\"1\":2},\"user\":\"u\"}";
    setup(&f, RQ_PROTO_CHAT, body);
    int rc =
        plg_request_params(&f.c,
                           conf(&f, "{max_tokens_limit: 4096, max_n: 2,"
                                    " blocked_params: [seed, logit_bias, user, model, top_k]}"),
                           &f.o);
    assert_int_equal(rc, 1);
    assert_int_equal(f.o.max_tokens, 4096);
    assert_int_equal(f.o.n_warnings, 1); /* model cannot be blocked */
    assert_string_equal(apply(&f), "{\"model\":\"m\",\"max_tokens\":4096,\"n\":2,\"messages\":[]}");
    teardown(&f);

    /* under the limits: nothing changes */
    setup(&f, RQ_PROTO_CHAT, "{\"max_completion_tokens\":100,\"messages\":[]}");
    assert_int_equal(plg_request_params(&f.c, conf(&f, "{max_tokens_limit: 4096}"), &f.o), 0);
    assert_string_equal(apply(&f), "{\"max_completion_tokens\":100,\"messages\":[]}");
    teardown(&f);

    setup(&f, RQ_PROTO_CHAT, body);
    plg_request_params(&f.c, conf(&f, "{blocked_params: [top_k, logit_bias], on_blocked: reject}"),
                       &f.o);
    assert_int_equal(f.o.status, 400);
    assert_string_equal(f.o.error, "parameter \"logit_bias\" is not allowed on this route");
    teardown(&f);

    /* removing every member */
    setup(&f, RQ_PROTO_CHAT, "{ \"a\":1 , \"b\":[2] }");
    plg_body_del(&f.o, "a");
    plg_body_del(&f.o, "b");
    assert_string_equal(apply(&f), "{  }");
    teardown(&f);
}

static const cfg_reasoning_family_t fams[] = {
    {"qwen", "chat_template_kwargs", "enable_thinking"},
    {"claude", "anthropic_thinking", NULL},
    {"oa", "reasoning_effort", NULL},
    {"obj", "reasoning_object", NULL},
};

static void reasoning(fx_t *f, cfg_t *cfg, cfg_model_t *m, cfg_model_ref_t *r, const char *family)
{
    memset(cfg, 0, sizeof *cfg);
    cfg->providers.reasoning_families = (cfg_reasoning_family_t *)fams;
    cfg->providers.n_reasoning_families = 4;
    cfg->providers.default_reasoning_effort = "medium";
    memset(m, 0, sizeof *m);
    m->name = "x";
    m->reasoning_family = (char *)family;
    f->c.cfg = cfg;
    f->c.model = m;
    f->c.ref = r;
    plg_reasoning(&f->c, &f->o);
}

static void test_reasoning(void **st)
{
    fx_t f;
    cfg_t cfg;
    cfg_model_t m;
    cfg_model_ref_t on = {.model = "x", .use_reasoning = true, .has_use_reasoning = true};
    cfg_model_ref_t off = {.model = "x", .use_reasoning = false, .has_use_reasoning = true};
    cfg_model_ref_t high = {
        .model = "x", .use_reasoning = true, .has_use_reasoning = true, .reasoning_effort = "high"};
    cfg_model_ref_t unset = {.model = "x"};

    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[]}");
    reasoning(&f, &cfg, &m, &on, "qwen");
    assert_string_equal(apply(&f),
                        "{\"messages\":[],\"chat_template_kwargs\":{\"enable_thinking\":true}}");
    teardown(&f);
    setup(&f, RQ_PROTO_CHAT, "{\"chat_template_kwargs\":{\"a\":1},\"messages\":[]}");
    reasoning(&f, &cfg, &m, &off, "qwen");
    assert_string_equal(
        apply(&f),
        "{\"chat_template_kwargs\":{\"enable_thinking\":false,\"a\":1},\"messages\":[]}");
    teardown(&f);
    setup(&f, RQ_PROTO_CHAT,
          "{\"chat_template_kwargs\":{\"enable_thinking\":true},\"messages\":[]}");
    reasoning(&f, &cfg, &m, &off, "qwen");
    assert_string_equal(apply(&f),
                        "{\"chat_template_kwargs\":{\"enable_thinking\":false},\"messages\":[]}");
    teardown(&f);

    setup(&f, RQ_PROTO_CHAT, "{\"reasoning_effort\":\"low\",\"messages\":[]}");
    reasoning(&f, &cfg, &m, &high, "oa");
    assert_string_equal(apply(&f), "{\"reasoning_effort\":\"high\",\"messages\":[]}");
    teardown(&f);
    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[],\"reasoning_effort\":\"low\"}");
    reasoning(&f, &cfg, &m, &off, "oa");
    assert_string_equal(apply(&f), "{\"messages\":[]}");
    teardown(&f);
    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[],\"reasoning_effort\":\"low\"}");
    reasoning(&f, &cfg, &m, &unset, "oa"); /* unset: the client's field passes */
    assert_string_equal(apply(&f), "{\"messages\":[],\"reasoning_effort\":\"low\"}");
    teardown(&f);
    setup(&f, RQ_PROTO_RESPONSES, "{\"input\":\"x\"}");
    reasoning(&f, &cfg, &m, &on, "obj");
    assert_string_equal(apply(&f), "{\"input\":\"x\",\"reasoning\":{\"effort\":\"medium\"}}");
    teardown(&f);

    /* anthropic: high = 24576, capped at max_tokens/2; below 1024 stays off */
    setup(&f, RQ_PROTO_ANTHROPIC, "{\"max_tokens\":100000,\"messages\":[]}");
    reasoning(&f, &cfg, &m, &high, "claude");
    assert_string_equal(apply(&f), "{\"max_tokens\":100000,\"messages\":[],\"thinking\":"
                                   "{\"type\":\"enabled\",\"budget_tokens\":24576}}");
    teardown(&f);
    setup(&f, RQ_PROTO_ANTHROPIC, "{\"max_tokens\":10000,\"messages\":[]}");
    reasoning(&f, &cfg, &m, &high, "claude");
    assert_string_equal(apply(&f), "{\"max_tokens\":10000,\"messages\":[],\"thinking\":"
                                   "{\"type\":\"enabled\",\"budget_tokens\":5000}}");
    teardown(&f);
    setup(&f, RQ_PROTO_ANTHROPIC,
          "{\"max_tokens\":2000,\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":1500},"
          "\"messages\":[]}");
    reasoning(&f, &cfg, &m, &on, "claude");
    assert_string_equal(apply(&f), "{\"max_tokens\":2000,\"messages\":[]}");
    teardown(&f);
}

static void test_header_mutation(void **st)
{
    fx_t f;
    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[]}");
    plg_header_mutation(
        &f.c,
        conf(&f, "{add: [{name: X-Team, value: a}, {name: Host, value: evil}],"
                 " update: [{name: x-tier, value: gold}, {name: Authorization, value: t}],"
                 " delete: [X-Debug, {name: Transfer-Encoding}, {name: Content-Length}]}"),
        &f.o);
    assert_int_equal(f.o.n_hdr_ops, 3);
    assert_int_equal(f.o.hdr_ops[0].op, PLG_HDR_ADD);
    assert_string_equal(f.o.hdr_ops[0].name, "x-team");
    assert_string_equal(f.o.hdr_ops[0].value, "a");
    assert_int_equal(f.o.hdr_ops[1].op, PLG_HDR_SET);
    assert_string_equal(f.o.hdr_ops[1].name, "x-tier");
    assert_int_equal(f.o.hdr_ops[2].op, PLG_HDR_DEL);
    assert_string_equal(f.o.hdr_ops[2].name, "x-debug");
    assert_int_equal(f.o.n_warnings, 4);
    assert_true(plg_header_is_protected("PROXY-Authorization"));
    assert_false(plg_header_is_protected("x-request-id"));
    teardown(&f);
}

static void fast(fx_t *f, rq_proto_t p, const char *body, const char *yaml)
{
    setup(f, p, body);
    f->c.reply_id = "id1";
    f->c.reply_model = "auto";
    f->c.created = 1700000000;
    plg_fast_response(&f->c, conf(f, yaml), &f->o);
    assert_true(f->o.fast);
}

static void test_fast_response(void **st)
{
    fx_t f;
    fast(&f, RQ_PROTO_CHAT, "{\"messages\":[]}", "{message: \"Blocked \\\"x\\\"\"}");
    assert_int_equal(f.o.status, 200);
    assert_string_equal(f.o.content_type, "application/json");
    assert_string_equal(
        f.o.reply,
        "{\"id\":\"id1\",\"object\":\"chat.completion\",\"created\":1700000000,\"model\":\"auto\","
        "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"Blocked "
        "\\\"x\\\"\"},"
        "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":0,\"completion_tokens\":0,"
        "\"total_tokens\":0}}");
    assert_int_equal(jscan_validate(f.o.reply, f.o.reply_len, NULL), 0);
    teardown(&f);

    fast(&f, RQ_PROTO_CHAT, "{\"stream\":true,\"messages\":[]}", "{message: No}");
    assert_string_equal(f.o.content_type, "text/event-stream");
    assert_string_equal(
        f.o.reply,
        "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"auto\",\"choices\":[{\"index\":0,\"delta\":{\"role\":\"assistant\","
        "\"content\":\"No\"},\"finish_reason\":null}]}\n\n"
        "data: {\"id\":\"id1\",\"object\":\"chat.completion.chunk\",\"created\":1700000000,"
        "\"model\":\"auto\",\"choices\":[{\"index\":0,\"delta\":{},\"finish_reason\":\"stop\"}]}"
        "\n\n"
        "data: [DONE]\n\n");
    teardown(&f);

    fast(&f, RQ_PROTO_ANTHROPIC, "{\"messages\":[]}", "{message: No}");
    assert_int_equal(jscan_validate(f.o.reply, f.o.reply_len, NULL), 0);
    assert_non_null(strstr(f.o.reply, "\"type\":\"message\""));
    assert_non_null(strstr(f.o.reply, "\"content\":[{\"type\":\"text\",\"text\":\"No\"}]"));
    teardown(&f);

    /* every SSE data line of the Anthropic and Responses streams is JSON */
    for (int p = 0; p < 2; p++) {
        fast(&f, p ? RQ_PROTO_RESPONSES : RQ_PROTO_ANTHROPIC, "{\"stream\":true}", "{message: No}");
        int events = 0;
        for (const char *s = f.o.reply; (s = strstr(s, "data: ")); events++) {
            s += 6;
            const char *e = strchr(s, '\n');
            assert_int_equal(jscan_validate(s, (size_t)(e - s), NULL), 0);
        }
        assert_int_equal(events, p ? 3 : 6);
        assert_non_null(
            strstr(f.o.reply, p ? "event: response.completed\n" : "event: message_stop\n"));
        teardown(&f);
    }

    fast(&f, RQ_PROTO_CHAT, "{\"stream\":true}", "{message: Denied, status: 403}");
    assert_int_equal(f.o.status, 403);
    assert_string_equal(f.o.content_type, "application/json");
    assert_string_equal(
        f.o.reply, "{\"error\":{\"message\":\"Denied\",\"type\":\"fast_response\",\"code\":403}}");
    teardown(&f);
}

static void test_pipeline_and_retention(void **st)
{
    fx_t f;
    setup(&f, RQ_PROTO_ANTHROPIC,
          "{\"model\":\"auto\",\"max_tokens\":64000,\"reasoning_effort\":\"x\","
          "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    cfg_plugin_t pl[3] = {
        {"request_params",
         conf(&f, "{max_tokens_limit: 8000, blocked_params: [reasoning_effort]}")},
        {"system_prompt", conf(&f, "{system_prompt: Be careful.}")},
        {"header_mutation", conf(&f, "{add: [{name: x-route, value: hard}]}")},
    };
    cfg_decision_t d = {.name = "hard",
                        .plugins = pl,
                        .n_plugins = 3,
                        .has_retention = true,
                        .retention = {.ttl_turns = 3,
                                      .has_ttl_turns = true,
                                      .drop = false,
                                      .keep_current_model = true,
                                      .has_keep_current_model = true}};
    cfg_t cfg;
    cfg_model_t m;
    cfg_model_ref_t high = {
        .model = "x", .use_reasoning = true, .has_use_reasoning = true, .reasoning_effort = "high"};
    f.c.decision = &d;
    assert_int_equal(plg_run_pre(&f.c, &f.o), 0);
    memset(&cfg, 0, sizeof cfg);
    cfg.providers.reasoning_families = (cfg_reasoning_family_t *)fams;
    cfg.providers.n_reasoning_families = 4;
    memset(&m, 0, sizeof m);
    m.reasoning_family = "claude";
    f.c.cfg = &cfg;
    f.c.model = &m;
    f.c.ref = &high;
    plg_run_post(&f.c, &f.o);
    /* the budget follows the capped max_tokens (8000/2) */
    assert_string_equal(
        apply(&f),
        "{\"model\":\"auto\",\"max_tokens\":8000,"
        "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"system\":\"Be careful.\","
        "\"thinking\":{\"type\":\"enabled\",\"budget_tokens\":4000}}");
    assert_int_equal(f.o.n_applied, 5);
    assert_string_equal(f.o.applied[0], "request_params");
    assert_string_equal(f.o.applied[4], "retention");
    assert_int_equal(f.o.n_resp_headers, 2);
    assert_string_equal(f.o.resp_headers[0].name, "x-tether-retention-ttl_turns");
    assert_string_equal(f.o.resp_headers[0].value, "3");
    assert_string_equal(f.o.resp_headers[1].name, "x-tether-retention-keep_current_model");
    assert_string_equal(f.o.resp_headers[1].value, "true");
    teardown(&f);

    /* fast_response stops the pipeline before request_params */
    setup(&f, RQ_PROTO_CHAT, "{\"messages\":[]}");
    cfg_plugin_t fr[2] = {{"request_params", conf(&f, "{blocked_params: [messages]}")},
                          {"fast_response", conf(&f, "{message: hi}")}};
    cfg_decision_t d2 = {.name = "x", .plugins = fr, .n_plugins = 2};
    f.c.decision = &d2;
    assert_int_equal(plg_run_pre(&f.c, &f.o), 1);
    assert_true(f.o.fast);
    assert_int_equal(f.o.n_applied, 1);
    teardown(&f);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_system_prompt_chat),
        cmocka_unit_test(test_system_prompt_anthropic_and_responses),
        cmocka_unit_test(test_request_params),
        cmocka_unit_test(test_reasoning),
        cmocka_unit_test(test_header_mutation),
        cmocka_unit_test(test_fast_response),
        cmocka_unit_test(test_pipeline_and_retention),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
