/* test_mock.c - `tether mock` end to end: starts the real binary on an
 * ephemeral loopback port and exercises non-streaming and streaming chat,
 * tool calls, the strict continuity checks counted in /mock/stats, the
 * prefix cache across turns, embeddings, models, reset, and the injected
 * faults (fail rate, reset rate, script), then a clean SIGTERM stop. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "http_client.h"
#include "proc.h"

#define HOST "127.0.0.1"
#define CHAT "/v1/chat/completions"

static tproc_t g_proc;
static int g_port;

static int start_mock(tproc_t *p, const char *const extra[])
{
    const char *argv[32] = {tproc_tether_bin(), "mock", "--listen", HOST ":0"};
    int n = 4;
    for (int i = 0; extra && extra[i] && n < 30; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    if (tproc_spawn(p, argv, TPROC_QUIET) < 0) return -1;
    return tproc_wait_listening(p, 20000);
}

static int setup(void **state)
{
    const char *extra[] = {"--models", "a,b", "--strict", "--seed", "3", NULL};
    g_port = start_mock(&g_proc, extra);
    if (g_port <= 0) {
        fprintf(stderr, "cannot start %s mock\n", tproc_tether_bin());
        tproc_stop(&g_proc, 2000);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    int st = tproc_stop(&g_proc, 10000);
    /* a clean stop on SIGTERM exits 0 (ASan would exit non-zero on a leak) */
    if (!(st >= 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)) {
        fprintf(stderr, "mock did not exit cleanly (status %d)\n", st);
        return -1;
    }
    return 0;
}

static cJSON *post_json(int port, const char *path, const char *headers, const char *body,
                        int *status)
{
    thttp_resp_t r;
    int rc = thttp_request(HOST, port, "POST", path, headers, body, strlen(body), &r);
    assert_int_equal(rc, 0);
    *status = r.status;
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    thttp_resp_free(&r);
    assert_non_null(j);
    return j;
}

static cJSON *get_json(int port, const char *path)
{
    thttp_resp_t r;
    assert_int_equal(thttp_request(HOST, port, "GET", path, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_ParseWithLength(r.body, r.body_len);
    thttp_resp_free(&r);
    assert_non_null(j);
    return j;
}

static long long jnum(const cJSON *o, const char *path)
{
    /* dotted path: "usage.prompt_tokens_details.cached_tokens" */
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save))
        cur = cJSON_GetObjectItemCaseSensitive(cur, t);
    assert_true(cJSON_IsNumber(cur));
    return (long long)cur->valuedouble;
}

static const char *jstr(const cJSON *o, const char *path)
{
    char buf[128];
    snprintf(buf, sizeof buf, "%s", path);
    const cJSON *cur = o;
    for (char *save = NULL, *t = strtok_r(buf, ".", &save); t; t = strtok_r(NULL, ".", &save))
        cur = cJSON_IsArray(cur) ? cJSON_GetArrayItem(cur, atoi(t))
                                 : cJSON_GetObjectItemCaseSensitive(cur, t);
    return cJSON_IsString(cur) ? cur->valuestring : NULL;
}

static void reset_mock(int port)
{
    int st;
    cJSON *j = post_json(port, "/mock/reset", NULL, "", &st);
    assert_int_equal(st, 200);
    cJSON_Delete(j);
}

/* ------------------------------------------------------------ tests */

static void test_health_and_models(void **state)
{
    cJSON *j = get_json(g_port, "/health");
    assert_string_equal(jstr(j, "status"), "ok");
    cJSON_Delete(j);
    j = get_json(g_port, "/v1/models");
    cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    assert_string_equal(jstr(j, "data.0.id"), "a");
    assert_string_equal(jstr(j, "data.1.id"), "b");
    cJSON_Delete(j);
}

static void test_non_streaming_reply_is_deterministic(void **state)
{
    const char *body =
        "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]}";
    int st;
    cJSON *j1 = post_json(g_port, CHAT, "x-session-id: det\r\n", body, &st);
    assert_int_equal(st, 200);
    cJSON *j2 = post_json(g_port, CHAT, "x-session-id: det2\r\n", body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j1, "object"), "chat.completion");
    assert_string_equal(jstr(j1, "model"), "a");
    assert_memory_equal(jstr(j1, "id"), "chatcmpl-", 9);
    assert_string_equal(jstr(j1, "id"), jstr(j2, "id"));
    const char *c1 = jstr(j1, "choices.0.message.content");
    assert_non_null(c1);
    assert_true(strlen(c1) > 10);
    assert_string_equal(c1, jstr(j2, "choices.0.message.content"));
    assert_string_equal(jstr(j1, "choices.0.finish_reason"), "stop");
    /* "user\nhi there\n" = 14 bytes -> 4 tokens */
    assert_int_equal(jnum(j1, "usage.prompt_tokens"), 4);
    assert_true(jnum(j1, "usage.completion_tokens") > 0);
    assert_int_equal(jnum(j1, "usage.prompt_tokens_details.cached_tokens"), 0);
    cJSON_Delete(j1);
    cJSON_Delete(j2);
}

static void test_unknown_model_is_404(void **state)
{
    int st;
    cJSON *j =
        post_json(g_port, CHAT, NULL,
                  "{\"model\":\"nope\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &st);
    assert_int_equal(st, 404);
    assert_string_equal(jstr(j, "error.code"), "model_not_found");
    cJSON_Delete(j);
    j = post_json(g_port, CHAT, NULL, "{\"model\":\"a\",\"messages\":", &st);
    assert_int_equal(st, 400);
    assert_string_equal(jstr(j, "error.code"), "invalid_json");
    cJSON_Delete(j);
}

/* Read a streamed reply; returns the SSE payloads via *ev. */
static size_t stream_events(int port, const char *body, char ***ev, size_t *pieces, int *reset)
{
    thttp_conn_t c;
    thttp_resp_t r;
    assert_int_equal(thttp_open(&c, HOST, port, 10000), 0);
    assert_int_equal(thttp_send_request(&c, "POST", CHAT, NULL, body, strlen(body)), 0);
    assert_int_equal(thttp_read_head(&c, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(thttp_resp_header(&r, "content-type"), "text/event-stream"));
    buf_t piece = BUF_INIT;
    uint64_t t;
    int rc;
    *pieces = 0;
    while ((rc = thttp_read_piece(&c, &r, &piece, &t)) > 0)
        (*pieces)++;
    *reset = rc < 0 && r.reset;
    size_t n = thttp_sse_data(r.body, r.body_len, ev);
    buf_free(&piece);
    thttp_resp_free(&r);
    thttp_close(&c);
    return n;
}

static void test_streaming_chunks_usage_and_done(void **state)
{
    const char *body =
        "{\"model\":\"b\",\"stream\":true,\"stream_options\":{\"include_usage\":true},"
        "\"messages\":[{\"role\":\"user\",\"content\":\"stream please\"}]}";
    char **ev;
    size_t pieces;
    int reset;
    size_t n = stream_events(g_port, body, &ev, &pieces, &reset);
    assert_false(reset);
    assert_true(n >= 5);
    assert_int_equal(pieces, n); /* one write (one HTTP chunk) per event */
    assert_string_equal(ev[n - 1], "[DONE]");
    buf_t content = BUF_INIT;
    for (size_t i = 0; i + 1 < n; i++) {
        cJSON *j = cJSON_Parse(ev[i]);
        assert_non_null(j);
        assert_string_equal(jstr(j, "model"), "b");
        const char *d = jstr(j, "choices.0.delta.content");
        if (d) buf_puts(&content, d);
        if (i == 0) assert_string_equal(jstr(j, "choices.0.delta.role"), "assistant");
        if (i == n - 3) assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
        if (i == n - 2) assert_true(jnum(j, "usage.prompt_tokens") > 0);
        cJSON_Delete(j);
    }
    /* same request non-streamed gives the same text */
    int st;
    cJSON *j = post_json(g_port, CHAT, NULL,
                         "{\"model\":\"b\",\"messages\":[{\"role\":\"user\",\"content\":"
                         "\"stream please\"}]}",
                         &st);
    assert_string_equal(content.data, jstr(j, "choices.0.message.content"));
    cJSON_Delete(j);
    buf_free(&content);
    thttp_sse_free(ev, n);
}

#define TOOLS                                                                                      \
    "\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"lookup\",\"parameters\":{"         \
    "\"type\":\"object\",\"properties\":{\"q\":{\"type\":\"string\"}}}}}]"

static long long stat_of(const char *path)
{
    cJSON *s = get_json(g_port, "/mock/stats");
    long long v = jnum(s, path);
    cJSON_Delete(s);
    return v;
}

static void test_tool_calls_and_strict_tool_ids(void **state)
{
    reset_mock(g_port);
    int st;
    cJSON *j = post_json(g_port, CHAT, NULL,
                         "{\"model\":\"a\"," TOOLS ",\"messages\":[{\"role\":\"user\",\"content\":"
                         "\"please use the tool\"}]}",
                         &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "tool_calls");
    const char *id = jstr(j, "choices.0.message.tool_calls.0.id");
    assert_non_null(id);
    assert_memory_equal(id, "call_", 5);
    assert_string_equal(jstr(j, "choices.0.message.tool_calls.0.function.name"), "lookup");
    char body[2048];
    const char *fmt = "{\"model\":\"a\"," TOOLS ",\"messages\":[{\"role\":\"user\",\"content\":"
                      "\"please use the tool\"},{\"role\":\"assistant\",\"content\":null,"
                      "\"tool_calls\":[{\"id\":\"%s\",\"type\":\"function\",\"function\":{"
                      "\"name\":\"lookup\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
                      "\"tool_call_id\":\"%s\",\"content\":\"result\"}]}";
    snprintf(body, sizeof body, fmt, id, id);
    cJSON_Delete(j);
    j = post_json(g_port, CHAT, NULL, body, &st);
    assert_int_equal(st, 200); /* issued id: accepted */
    assert_string_equal(jstr(j, "choices.0.finish_reason"), "stop");
    cJSON_Delete(j);
    snprintf(body, sizeof body, fmt, "call_forged", "call_forged");
    j = post_json(g_port, CHAT, NULL, body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(jstr(j, "error.code"), "unknown_tool_call_id");
    cJSON_Delete(j);
    assert_int_equal(stat_of("violations"), 1);
    assert_int_equal(stat_of("violations_by_code.unknown_tool_call_id"), 1);
    assert_int_equal(stat_of("rejected"), 1);
}

static void test_streamed_tool_call(void **state)
{
    const char *body = "{\"model\":\"a\",\"stream\":true," TOOLS ",\"messages\":[{\"role\":"
                       "\"user\",\"content\":\"run the search\"}]}";
    char **ev;
    size_t pieces;
    int reset;
    size_t n = stream_events(g_port, body, &ev, &pieces, &reset);
    int saw_id = 0, saw_finish = 0;
    for (size_t i = 0; i + 1 < n; i++) {
        cJSON *j = cJSON_Parse(ev[i]);
        const char *id = jstr(j, "choices.0.delta.tool_calls.0.id");
        if (id && !strncmp(id, "call_", 5)) saw_id++;
        const char *fr = jstr(j, "choices.0.finish_reason");
        if (fr && !strcmp(fr, "tool_calls")) saw_finish++;
        cJSON_Delete(j);
    }
    assert_int_equal(saw_id, 1);
    assert_int_equal(saw_finish, 1);
    assert_string_equal(ev[n - 1], "[DONE]");
    thttp_sse_free(ev, n);
}

static void test_strict_response_id_and_reasoning(void **state)
{
    reset_mock(g_port);
    int st;
    cJSON *j = post_json(g_port, CHAT, NULL,
                         "{\"model\":\"b\",\"reasoning_effort\":\"low\",\"messages\":[{\"role\":"
                         "\"user\",\"content\":\"think hard\"}]}",
                         &st);
    assert_int_equal(st, 200);
    char id[64], enc[64], sig[64];
    snprintf(id, sizeof id, "%s", jstr(j, "id"));
    snprintf(sig, sizeof sig, "%s", jstr(j, "choices.0.message.reasoning_details.0.signature"));
    snprintf(enc, sizeof enc, "%s", jstr(j, "choices.0.message.reasoning_details.1.data"));
    assert_memory_equal(enc, "enc_", 4);
    assert_memory_equal(sig, "sig_", 4);
    cJSON_Delete(j);

    const char *fmt = "{\"model\":\"b\",\"previous_response_id\":\"%s\",\"messages\":[{\"role\":"
                      "\"user\",\"content\":\"think hard\"},{\"role\":\"assistant\",\"content\":"
                      "\"ok\",\"reasoning_details\":[{\"type\":\"reasoning.text\",\"text\":\"t\","
                      "\"signature\":\"%s\"},{\"type\":\"reasoning.encrypted\",\"data\":\"%s\"}]},"
                      "{\"role\":\"user\",\"content\":\"more\"}]}";
    char body[2048];
    snprintf(body, sizeof body, fmt, id, sig, enc);
    j = post_json(g_port, CHAT, NULL, body, &st);
    assert_int_equal(st, 200);
    cJSON_Delete(j);

    snprintf(body, sizeof body, fmt, "chatcmpl-0000000000000000", sig, enc);
    j = post_json(g_port, CHAT, NULL, body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(jstr(j, "error.code"), "unknown_previous_response_id");
    cJSON_Delete(j);
    snprintf(body, sizeof body, fmt, id, "sig_other", enc);
    j = post_json(g_port, CHAT, NULL, body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(jstr(j, "error.code"), "unknown_thinking_signature");
    cJSON_Delete(j);
    snprintf(body, sizeof body, fmt, id, sig, "enc_from_elsewhere");
    j = post_json(g_port, CHAT, NULL, body, &st);
    assert_int_equal(st, 400);
    assert_string_equal(jstr(j, "error.code"), "unknown_reasoning_item");
    cJSON_Delete(j);

    cJSON *s = get_json(g_port, "/mock/stats");
    assert_int_equal(jnum(s, "violations"), 3);
    assert_int_equal(jnum(s, "violations_by_code.unknown_previous_response_id"), 1);
    assert_int_equal(jnum(s, "violations_by_code.unknown_thinking_signature"), 1);
    assert_int_equal(jnum(s, "violations_by_code.unknown_reasoning_item"), 1);
    assert_int_equal(jnum(s, "by_model.b"), 5);
    cJSON_Delete(s);
}

static void test_cached_tokens_grow_across_turns(void **state)
{
    reset_mock(g_port);
    buf_t msgs = BUF_INIT;
    buf_puts(&msgs, "{\"role\":\"system\",\"content\":\"You are a careful assistant.\"},"
                    "{\"role\":\"user\",\"content\":\"first question about caching\"}");
    long long prev_cached = -1, prev_prompt = 0;
    for (int turn = 0; turn < 4; turn++) {
        buf_t body = BUF_INIT;
        buf_printf(&body, "{\"model\":\"a\",\"messages\":[%s]}", msgs.data);
        int st;
        cJSON *j = post_json(g_port, CHAT, "x-session-id: grow\r\n", body.data, &st);
        assert_int_equal(st, 200);
        long long cached = jnum(j, "usage.prompt_tokens_details.cached_tokens");
        long long prompt = jnum(j, "usage.prompt_tokens");
        if (turn == 0) {
            assert_int_equal(cached, 0);
        } else {
            assert_true(cached > prev_cached);
            /* the whole previous prompt is a prefix of this one */
            assert_true(cached >= prev_prompt - 1);
            assert_true(cached < prompt);
        }
        prev_cached = cached;
        prev_prompt = prompt;
        buf_puts(&msgs, ",{\"role\":\"assistant\",\"content\":");
        const char *c = jstr(j, "choices.0.message.content");
        buf_json_str(&msgs, c, strlen(c));
        buf_printf(&msgs, "},{\"role\":\"user\",\"content\":\"follow-up number %d\"}", turn);
        cJSON_Delete(j);
        buf_free(&body);
    }
    /* another model: its own cache, cold */
    buf_t body = BUF_INIT;
    buf_printf(&body, "{\"model\":\"b\",\"messages\":[%s]}", msgs.data);
    int st;
    cJSON *j = post_json(g_port, CHAT, "x-session-id: grow\r\n", body.data, &st);
    assert_int_equal(jnum(j, "usage.prompt_tokens_details.cached_tokens"), 0);
    cJSON_Delete(j);
    assert_true(stat_of("cached_tokens_total") > 0);
    buf_free(&body);
    buf_free(&msgs);
}

static void test_embeddings(void **state)
{
    int st;
    cJSON *j = post_json(g_port, "/v1/embeddings", NULL,
                         "{\"model\":\"a\",\"input\":[\"hello world\",\"other text\"]}", &st);
    assert_int_equal(st, 200);
    cJSON *data = cJSON_GetObjectItem(j, "data");
    assert_int_equal(cJSON_GetArraySize(data), 2);
    cJSON *e0 = cJSON_GetObjectItem(cJSON_GetArrayItem(data, 0), "embedding");
    assert_int_equal(cJSON_GetArraySize(e0), 64);
    assert_true(jnum(j, "usage.prompt_tokens") > 0);
    cJSON_Delete(j);
    j = post_json(g_port, "/v1/embeddings", NULL,
                  "{\"model\":\"a\",\"input\":\"x\",\"dimensions\":8}", &st);
    assert_int_equal(cJSON_GetArraySize(cJSON_GetObjectItem(
                         cJSON_GetArrayItem(cJSON_GetObjectItem(j, "data"), 0), "embedding")),
                     8);
    cJSON_Delete(j);
}

/* vLLM's /pooling: the embeddings' vectors in its shape. */
static void test_pooling_serves_the_embedding_vectors(void **state)
{
    int st;
    const char *body = "{\"model\":\"a\",\"input\":[\"hello world\"]}";
    cJSON *e = post_json(g_port, "/v1/embeddings", NULL, body, &st);
    assert_int_equal(st, 200);
    cJSON *p = post_json(g_port, "/pooling", NULL, body, &st);
    assert_int_equal(st, 200);
    const cJSON *item = cJSON_GetArrayItem(cJSON_GetObjectItem(p, "data"), 0);
    assert_string_equal(cJSON_GetObjectItem(item, "object")->valuestring, "pooling");
    const cJSON *pv = cJSON_GetObjectItem(item, "data");
    const cJSON *ev =
        cJSON_GetObjectItem(cJSON_GetArrayItem(cJSON_GetObjectItem(e, "data"), 0), "embedding");
    assert_int_equal(cJSON_GetArraySize(pv), 64);
    assert_true(cJSON_Compare(pv, ev, true));
    cJSON_Delete(e);
    cJSON_Delete(p);
}

static void test_reset_clears_stats(void **state)
{
    int st;
    cJSON *j =
        post_json(g_port, CHAT, NULL,
                  "{\"model\":\"a\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &st);
    cJSON_Delete(j);
    assert_true(stat_of("requests") > 0);
    reset_mock(g_port);
    assert_int_equal(stat_of("requests"), 0);
    thttp_resp_t r;
    assert_int_equal(thttp_request(HOST, g_port, "GET", "/nope", NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 404);
    thttp_resp_free(&r);
    assert_int_equal(thttp_request(HOST, g_port, "GET", CHAT, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 405);
    thttp_resp_free(&r);
}

/* ------------------------------------------------------------ faults (own processes) */

static void test_fail_rate_one_gives_503(void **state)
{
    tproc_t p;
    const char *extra[] = {"--fail-rate", "1.0", NULL};
    int port = start_mock(&p, extra);
    assert_true(port > 0);
    int st;
    cJSON *j =
        post_json(port, CHAT, NULL,
                  "{\"model\":\"any\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}", &st);
    assert_int_equal(st, 503);
    assert_non_null(jstr(j, "error.message"));
    cJSON_Delete(j);
    cJSON *s = get_json(port, "/mock/stats");
    assert_int_equal(jnum(s, "failures_injected"), 1);
    cJSON_Delete(s);
    int status = tproc_stop(&p, 10000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_reset_rate_one_cuts_streams_and_bodies(void **state)
{
    tproc_t p;
    const char *extra[] = {"--reset-rate", "1", "--chunk-delay-ms", "5", NULL};
    int port = start_mock(&p, extra);
    assert_true(port > 0);
    char **ev;
    size_t pieces;
    int reset;
    size_t n = stream_events(port,
                             "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\","
                             "\"content\":\"x\"}]}",
                             &ev, &pieces, &reset);
    assert_true(reset);
    assert_true(n <= 1); /* at most the first chunk arrived */
    for (size_t i = 0; i < n; i++)
        assert_string_not_equal(ev[i], "[DONE]");
    thttp_sse_free(ev, n);

    thttp_resp_t r;
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    assert_int_equal(thttp_request(HOST, port, "POST", CHAT, NULL, body, strlen(body), &r), -1);
    assert_true(r.reset);
    assert_false(r.complete);
    thttp_resp_free(&r);
    cJSON *s = get_json(port, "/mock/stats");
    assert_int_equal(jnum(s, "resets_injected"), 2);
    cJSON_Delete(s);
    tproc_stop(&p, 10000);
}

static void test_script_steps(void **state)
{
    char path[] = "/tmp/tether_mock_script_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    const char *script = "{\"status\":500}\n"
                         "{\"status\":200,\"body\":{\"scripted\":true}}\n"
                         "{}\n";
    assert_int_equal(write(fd, script, strlen(script)), (ssize_t)strlen(script));
    close(fd);
    tproc_t p;
    const char *extra[] = {"--script", path, NULL};
    int port = start_mock(&p, extra);
    assert_true(port > 0);
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    int st;
    cJSON *j = post_json(port, CHAT, NULL, body, &st);
    assert_int_equal(st, 500);
    cJSON_Delete(j);
    j = post_json(port, CHAT, NULL, body, &st);
    assert_int_equal(st, 200);
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(j, "scripted")));
    cJSON_Delete(j);
    j = post_json(port, CHAT, NULL, body, &st);
    assert_int_equal(st, 200);
    assert_string_equal(jstr(j, "object"), "chat.completion");
    cJSON_Delete(j);
    tproc_stop(&p, 10000);
    unlink(path);
}

static void test_reply_bytes_benchmark_mode(void **state)
{
    tproc_t p;
    const char *extra[] = {"--reply-bytes", "48", "--models", "m", NULL};
    int port = start_mock(&p, extra);
    assert_true(port > 0);
    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}";
    int st;
    cJSON *j = post_json(port, CHAT, "x-session-id: s\r\n", body, &st);
    assert_int_equal(st, 200);
    assert_int_equal(strlen(jstr(j, "choices.0.message.content")), 48);
    assert_int_equal(jnum(j, "usage.prompt_tokens_details.cached_tokens"), 0);
    cJSON_Delete(j);
    j = post_json(port, CHAT, "x-session-id: s\r\n", body, &st);
    assert_true(jnum(j, "usage.prompt_tokens_details.cached_tokens") > 0);
    cJSON_Delete(j);
    j = post_json(port, CHAT, NULL, "{\"model\":\"other\",\"messages\":[]}", &st);
    assert_int_equal(st, 404);
    cJSON_Delete(j);
    j = post_json(port, CHAT, NULL, "{\"model\":\"m\",\"messages\":[", &st);
    assert_int_equal(st, 400);
    cJSON_Delete(j);
    char **ev;
    size_t pieces;
    int reset;
    size_t n =
        stream_events(port,
                      "{\"model\":\"m\",\"stream\":true,\"stream_options\":{\"include_usage\":"
                      "true},\"messages\":[{\"role\":\"user\",\"content\":\"x\"}]}",
                      &ev, &pieces, &reset);
    assert_false(reset);
    assert_string_equal(ev[n - 1], "[DONE]");
    assert_non_null(strstr(ev[n - 2], "\"usage\""));
    thttp_sse_free(ev, n);
    tproc_stop(&p, 10000);
}

static void test_bad_flags_exit_1(void **state)
{
    tproc_t p;
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", HOST ":0",
                          "--fail-rate",      "2",    NULL};
    assert_int_equal(tproc_spawn(&p, argv, TPROC_QUIET), 0);
    int st = tproc_wait(&p, 10000);
    assert_true(st >= 0 && WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 1);
    tproc_stop(&p, 1000);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_health_and_models),
        cmocka_unit_test(test_non_streaming_reply_is_deterministic),
        cmocka_unit_test(test_unknown_model_is_404),
        cmocka_unit_test(test_streaming_chunks_usage_and_done),
        cmocka_unit_test(test_tool_calls_and_strict_tool_ids),
        cmocka_unit_test(test_streamed_tool_call),
        cmocka_unit_test(test_strict_response_id_and_reasoning),
        cmocka_unit_test(test_cached_tokens_grow_across_turns),
        cmocka_unit_test(test_embeddings),
        cmocka_unit_test(test_pooling_serves_the_embedding_vectors),
        cmocka_unit_test(test_reset_clears_stats),
        cmocka_unit_test(test_fail_rate_one_gives_503),
        cmocka_unit_test(test_reset_rate_one_cuts_streams_and_bodies),
        cmocka_unit_test(test_script_steps),
        cmocka_unit_test(test_reply_bytes_benchmark_mode),
        cmocka_unit_test(test_bad_flags_exit_1),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
