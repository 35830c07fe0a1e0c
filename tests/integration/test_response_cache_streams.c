/* test_response_cache_streams.c - the response cache stores and replays
 * streamed replies on every endpoint (the one upstream proxy, with
 * src/plugins/response_cache_stream.c): an identical `stream: true`
 * Messages or Responses request is answered from the cache without
 * reaching the backend, as a valid stream of that protocol's SSE events
 * (message_start ... message_stop; response.created ... response.completed)
 * carrying the same text, whether the first reply was translated (an
 * OpenAI-format model) or relayed as is (an Anthropic-format model for a
 * Messages client). A streamed reply also serves a JSON client of the same
 * protocol, and a JSON reply a streaming one. A hit's ids carry the signed
 * model binding as the live reply's did (chat completion ids, JSON and
 * streamed; Responses ids): the cache keeps the bytes the client got. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http/sse.h"
#include "http_client.h"
#include "cache_stack.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

/* A response header's value (a missing one fails, naming it). */
static void assert_header(const thttp_resp_t *r, const char *name, const char *want)
{
    const char *v = thttp_resp_header(r, name);
    if (!v) fail_msg("no %s header (want %s)", name, want);
    assert_string_equal(v, want);
}

/* ---- a stream's events, checked as the protocol's shape ---- */

typedef struct walk {
    bool messages; /* else Responses */
    int n;         /* events */
    char first[64], last[64];
    buf_t text;    /* the text deltas, in order */
    buf_t final;   /* Responses: response.completed's output text */
    bool bad_json; /* a data payload that is not JSON, or a type unlike its event */
} walk_t;

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static void on_event(void *ud, const char *event, size_t event_len, const char *data, size_t len)
{
    walk_t *w = ud;
    cJSON *e = cJSON_ParseWithLength(data, len);
    const char *t = jstr(e, "type");
    if (!t || !event_len || strcmp(t, event)) w->bad_json = true;
    if (!t) {
        cJSON_Delete(e);
        return;
    }
    if (!w->n++) snprintf(w->first, sizeof w->first, "%s", t);
    snprintf(w->last, sizeof w->last, "%s", t);
    if (w->messages && !strcmp(t, "content_block_delta")) {
        const char *s = jstr(cJSON_GetObjectItemCaseSensitive(e, "delta"), "text");
        if (s) buf_puts(&w->text, s);
    }
    if (!w->messages && !strcmp(t, "response.output_text.delta") && jstr(e, "delta"))
        buf_puts(&w->text, jstr(e, "delta"));
    if (!w->messages && !strcmp(t, "response.completed")) {
        const cJSON *it;
        cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(
                                   cJSON_GetObjectItemCaseSensitive(e, "response"), "output"))
        {
            const cJSON *part;
            cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(it, "content"))
            {
                if (jstr(part, "text")) buf_puts(&w->final, jstr(part, "text"));
            }
        }
    }
    cJSON_Delete(e);
}

static void walk(walk_t *w, bool messages, const thttp_resp_t *r)
{
    memset(w, 0, sizeof *w);
    w->messages = messages;
    const char *ct = thttp_resp_header(r, "content-type");
    assert_non_null(ct);
    assert_non_null(strstr(ct, "text/event-stream"));
    sse_parser_t p;
    sse_parser_init(&p, on_event, w);
    sse_parser_feed(&p, r->body, r->body_len);
    sse_parser_deinit(&p);
    assert_false(w->bad_json);
    assert_non_null(w->text.data);
    if (messages) {
        assert_string_equal(w->first, "message_start");
        assert_string_equal(w->last, "message_stop");
    } else {
        assert_string_equal(w->first, "response.created");
        assert_string_equal(w->last, "response.completed");
        assert_string_equal(w->final.data, w->text.data);
    }
}

static void walk_free(walk_t *w)
{
    buf_free(&w->text);
    buf_free(&w->final);
}

/* The text of a JSON reply: a Message's text blocks, a Response's
 * output_text parts. */
static char *json_text(const char *body)
{
    cJSON *j = cJSON_Parse(body);
    assert_non_null(j);
    buf_t b = BUF_INIT;
    const cJSON *it, *part;
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "content"))
    {
        if (jstr(it, "text")) buf_puts(&b, jstr(it, "text"));
    }
    cJSON_ArrayForEach(it, cJSON_GetObjectItemCaseSensitive(j, "output"))
    {
        cJSON_ArrayForEach(part, cJSON_GetObjectItemCaseSensitive(it, "content"))
        {
            if (jstr(part, "text")) buf_puts(&b, jstr(part, "text"));
        }
    }
    cJSON_Delete(j);
    return b.data ? b.data : strdup("");
}

/* Two identical streamed requests: the second is a hit, a valid stream
 * with the same text, and the backend saw one request. */
static void assert_stream_hit(const char *path, const char *body, bool messages,
                              const char *want_model)
{
    int before = tstack_mock_requests(tcache.mport);
    thttp_resp_t r1, r2;
    tcache_stack_post(&tcache, path, body, &r1);
    assert_null(thttp_resp_header(&r1, "x-tether-cache-hit"));
    assert_string_equal(thttp_resp_header(&r1, "x-tether-model"), want_model);
    tcache_stack_post(&tcache, path, body, &r2);
    assert_header(&r2, "x-tether-cache-hit", "exact");
    assert_header(&r2, "x-tether-response-path", "cache");
    assert_string_equal(thttp_resp_header(&r2, "x-tether-model"), want_model);
    walk_t w1, w2;
    walk(&w1, messages, &r1);
    walk(&w2, messages, &r2);
    assert_string_equal(w1.text.data, w2.text.data);
    assert_int_equal(tstack_mock_requests(tcache.mport) - before, 1);
    walk_free(&w1);
    walk_free(&w2);
    thttp_resp_free(&r1);
    thttp_resp_free(&r2);
}

static void test_messages_stream_translated_from_chat_is_replayed(void **state)
{
    (void)state;
    assert_stream_hit("/v1/messages",
                      "{\"model\":\"auto\",\"max_tokens\":64,\"stream\":true,\"messages\":[{"
                      "\"role\":\"user\",\"content\":\"what are the opening hours?\"}]}",
                      true, "gpt");
}

static void test_messages_stream_relayed_from_anthropic_is_replayed(void **state)
{
    (void)state;
    assert_stream_hit("/v1/messages",
                      "{\"model\":\"auto\",\"max_tokens\":64,\"stream\":true,\"messages\":[{"
                      "\"role\":\"user\",\"content\":\"where are the tide tables?\"}]}",
                      true, "claude");
}

static void test_responses_stream_is_replayed(void **state)
{
    (void)state;
    assert_stream_hit("/v1/responses",
                      "{\"model\":\"auto\",\"stream\":true,\"input\":\"opening hours on monday?\"}",
                      false, "gpt");
}

/* stream and JSON clients of one protocol share the entry */
static void test_stream_and_json_clients_share_entries(void **state)
{
    (void)state;
    static const struct {
        const char *path, *stream_body, *json_body;
        bool messages, stream_first;
    } cases[] = {
        {"/v1/messages",
         "{\"model\":\"auto\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"tide tables for june?\"}]}",
         "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
         "\"content\":\"tide tables for june?\"}]}",
         true, true},
        {"/v1/messages",
         "{\"model\":\"auto\",\"max_tokens\":64,\"stream\":true,\"messages\":[{\"role\":\"user\","
         "\"content\":\"opening hours in july?\"}]}",
         "{\"model\":\"auto\",\"max_tokens\":64,\"messages\":[{\"role\":\"user\","
         "\"content\":\"opening hours in july?\"}]}",
         true, false},
        {"/v1/responses", "{\"model\":\"auto\",\"stream\":true,\"input\":\"opening hours today?\"}",
         "{\"model\":\"auto\",\"input\":\"opening hours today?\"}", false, true},
        {"/v1/responses",
         "{\"model\":\"auto\",\"stream\":true,\"input\":\"opening hours, again?\"}",
         "{\"model\":\"auto\",\"input\":\"opening hours, again?\"}", false, false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        int before = tstack_mock_requests(tcache.mport);
        thttp_resp_t rs, rj;
        if (cases[i].stream_first) {
            tcache_stack_post(&tcache, cases[i].path, cases[i].stream_body, &rs);
            tcache_stack_post(&tcache, cases[i].path, cases[i].json_body, &rj);
            assert_header(&rj, "x-tether-cache-hit", "exact");
        } else {
            tcache_stack_post(&tcache, cases[i].path, cases[i].json_body, &rj);
            tcache_stack_post(&tcache, cases[i].path, cases[i].stream_body, &rs);
            assert_header(&rs, "x-tether-cache-hit", "exact");
        }
        walk_t w;
        walk(&w, cases[i].messages, &rs);
        char *jt = json_text(rj.body);
        assert_string_equal(w.text.data, jt);
        free(jt);
        walk_free(&w);
        assert_int_equal(tstack_mock_requests(tcache.mport) - before, 1);
        thttp_resp_free(&rs);
        thttp_resp_free(&rj);
    }
}

/* The id of a JSON reply, or of a stream's first event. */
static char *reply_id(const thttp_resp_t *r, bool stream)
{
    cJSON *j = NULL;
    if (stream) {
        char **ev;
        size_t n = thttp_sse_data(r->body, r->body_len, &ev);
        assert_true(n > 0);
        j = cJSON_Parse(ev[0]);
        thttp_sse_free(ev, n);
    } else {
        j = cJSON_Parse(r->body);
    }
    const cJSON *resp = cJSON_GetObjectItemCaseSensitive(j, "response");
    const char *id = jstr(resp ? resp : j, "id");
    assert_non_null(id);
    char *out = strdup(id);
    cJSON_Delete(j);
    return out;
}

static void test_cached_ids_carry_the_binding(void **state)
{
    (void)state;
    static const struct {
        const char *path, *body;
        bool stream;
    } cases[] = {
        {"/v1/chat/completions",
         "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"opening hours "
         "at noon?\"}]}",
         false},
        {"/v1/chat/completions",
         "{\"model\":\"auto\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":"
         "\"opening hours at night?\"}]}",
         true},
        {"/v1/responses", "{\"model\":\"auto\",\"input\":\"opening hours at dawn?\"}", false},
        {"/v1/responses",
         "{\"model\":\"auto\",\"stream\":true,\"input\":\"opening hours at dusk?\"}", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        thttp_resp_t r1, r2;
        tcache_stack_post(&tcache, cases[i].path, cases[i].body, &r1);
        tcache_stack_post(&tcache, cases[i].path, cases[i].body, &r2);
        assert_header(&r2, "x-tether-cache-hit", "exact");
        char *live = reply_id(&r1, cases[i].stream), *hit = reply_id(&r2, cases[i].stream);
        if (!strstr(live, ".tb1.")) fail_msg("%s: live id %s has no binding", cases[i].path, live);
        assert_string_equal(hit, live);
        free(live);
        free(hit);
        thttp_resp_free(&r1);
        thttp_resp_free(&r2);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_messages_stream_translated_from_chat_is_replayed),
        cmocka_unit_test(test_messages_stream_relayed_from_anthropic_is_replayed),
        cmocka_unit_test(test_responses_stream_is_replayed),
        cmocka_unit_test(test_stream_and_json_clients_share_entries),
        cmocka_unit_test(test_cached_ids_carry_the_binding),
    };
    return cmocka_run_group_tests(tests, tcache_setup, tcache_teardown);
}
