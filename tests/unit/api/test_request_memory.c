/* test_request_memory.c - what one request costs is bounded by a small
 * multiple of its body, whatever the number of messages (issue 20 item 6):
 * scanning, the request facts with every message's text (as the identity
 * chain reads them), and the translation of Anthropic Messages and
 * Responses bodies into the chat IR. Bodies of 100,000 tiny messages are the
 * worst case (per-message structures dominate). Behaviour, not timing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/translate.h"
#include "request/request.h"
#include "request/request_agent.h"
#include <cjson/cJSON.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>

/* k: the arena may use at most K_ARENA times the body; the IR is about the
 * body's size (tiny messages translate 1:1). */
#define K_ARENA 8
#define K_IR    2
#define N_MSGS  100000

/* cJSON bytes live at the peak (translation must not build a tree). The
 * size comes from malloc_usable_size, so memory cJSON hands out may still be
 * released with free() (as callers of cJSON_Print do). */
static size_t cj_live, cj_peak;
static void *cj_malloc(size_t n)
{
    void *p = malloc(n);
    if (!p) return NULL;
    cj_live += malloc_usable_size(p);
    if (cj_live > cj_peak) cj_peak = cj_live;
    return p;
}
static void cj_free(void *p)
{
    size_t n = p ? malloc_usable_size(p) : 0;
    cj_live = n > cj_live ? 0 : cj_live - n;
    free(p);
}

static char *many(const char *head, const char *item, size_t n, size_t *len)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, head);
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&b, ',');
        buf_puts(&b, item);
    }
    buf_puts(&b, "]}");
    *len = b.len;
    return buf_steal(&b);
}

/* Facts of a (chat-shaped) body with every text read; returns arena bytes. */
static size_t facts_cost(arena_t *a, const char *body, size_t len, rq_proto_t proto,
                         const char *client, size_t client_len)
{
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    assert_int_equal(jscan_request(body, len, a, jr, NULL), 0);
    assert_int_equal(jr->n_msgs, N_MSGS);
    rq_t *r = proto == RQ_PROTO_CHAT ? rq_from_chat(a, body, len, jr, NULL, 0)
              : proto == RQ_PROTO_ANTHROPIC
                  ? rq_from_anthropic(a, client, client_len, body, len, jr, NULL, 0)
                  : rq_from_responses(a, client, client_len, body, len, jr, NULL, 0);
    assert_non_null(r);
    for (size_t i = 0; i < r->n_msgs; i++)
        rq_msg_text(r, i, NULL);
    return a->total;
}

static void test_chat_facts_bounded(void **st)
{
    (void)st;
    size_t len;
    char *body = many("{\"model\":\"m\",\"messages\":[", "{\"role\":\"user\",\"content\":\"hi\"}",
                      N_MSGS, &len);
    arena_t a;
    arena_init(&a, 0);
    size_t cost = facts_cost(&a, body, len, RQ_PROTO_CHAT, NULL, 0);
    print_message("arena %.2fx\n", (double)cost / (double)len);
    if (cost > K_ARENA * len) fail_msg("arena %zu bytes for a %zu-byte body", cost, len);
    arena_deinit(&a);
    free(body);
}

static void test_messages_translation_bounded(void **st)
{
    (void)st;
    size_t len;
    char *body = many("{\"model\":\"m\",\"max_tokens\":9,\"messages\":[",
                      "{\"role\":\"user\",\"content\":\"hi\"}", N_MSGS, &len);
    buf_t ir = BUF_INIT;
    tr_warn_t w = {0};
    char err[128];
    cj_live = cj_peak = 0;
    assert_int_equal(tr_req_anthropic_to_chat(body, len, NULL, &ir, &w, err, sizeof err), 0);
    if (cj_peak > 4096) fail_msg("translation built a tree: %zu bytes", cj_peak);
    assert_true(ir.len <= K_IR * len);
    arena_t a;
    arena_init(&a, 0);
    size_t cost = facts_cost(&a, ir.data, ir.len, RQ_PROTO_ANTHROPIC, body, len);
    print_message("arena %.2fx\n", (double)cost / (double)len);
    if (cost > K_ARENA * len) fail_msg("arena %zu bytes for a %zu-byte body", cost, len);
    arena_deinit(&a);
    buf_free(&ir);
    free(body);
}

static void test_responses_translation_bounded(void **st)
{
    (void)st;
    size_t len;
    char *body = many("{\"model\":\"m\",\"input\":[", "{\"role\":\"user\",\"content\":\"hi\"}",
                      N_MSGS, &len);
    buf_t ir = BUF_INIT;
    tr_warn_t w = {0};
    char err[128];
    cj_live = cj_peak = 0;
    assert_int_equal(
        tr_req_responses_to_chat(body, len, NULL, "be brief", NULL, &ir, &w, err, sizeof err), 0);
    if (cj_peak > 4096) fail_msg("translation built a tree: %zu bytes", cj_peak);
    assert_true(ir.len <= K_IR * len);
    arena_t a;
    arena_init(&a, 0);
    jreq_t *jr = arena_calloc(&a, sizeof *jr);
    assert_int_equal(jscan_request(ir.data, ir.len, &a, jr, NULL), 0);
    assert_int_equal(jr->n_msgs, N_MSGS + 1); /* instructions + the items */
    rq_t *r = rq_from_responses(&a, body, len, ir.data, ir.len, jr, NULL, 0);
    for (size_t i = 0; i < r->n_msgs; i++)
        rq_msg_text(r, i, NULL);
    if (a.total > K_ARENA * len) fail_msg("arena %zu bytes for a %zu-byte body", a.total, len);
    arena_deinit(&a);
    buf_free(&ir);
    free(body);
}

int main(void)
{
    cJSON_Hooks h = {cj_malloc, cj_free};
    cJSON_InitHooks(&h);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_chat_facts_bounded),
        cmocka_unit_test(test_messages_translation_bounded),
        cmocka_unit_test(test_responses_translation_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
