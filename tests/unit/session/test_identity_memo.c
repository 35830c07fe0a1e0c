/* test_identity_memo.c - the per-thread prefix-chain memo (session/
 * identity.c) against the chain computed without it, on generated agent
 * conversations that grow, are retried, fork, are edited in the middle,
 * change the whitespace between messages, get a system message late, and
 * move between tenants and tool lists: every chain fact and the lookback
 * hashes must be the memo-free ones, while the memo still answers most
 * turns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "session/identity.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static rq_t *facts(arena_t *a, const char *body, size_t len)
{
    jreq_t *jr = arena_calloc(a, sizeof *jr);
    jscan_err_t e;
    char *copy = arena_alloc(a, len + 1);
    memcpy(copy, body, len);
    copy[len] = 0;
    assert_int_equal(jscan_request(copy, len, a, jr, &e), 0);
    rq_t *r = rq_from_chat(a, copy, len, jr, NULL, 0);
    assert_non_null(r);
    return r;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static unsigned rnd(unsigned n)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (unsigned)(rng_state % n);
}

#define MAX_MSGS 40

/* A conversation: its messages' JSON, the separator after each, tools and
 * tenant. */
typedef struct conv {
    char *msg[MAX_MSGS];
    const char *sep[MAX_MSGS];
    size_t n;
    int tools, tenant;
} conv_t;

static const char *const words[] = {"read", "the", "file",    "  fix",     "it\\n", "\\tnow",
                                    "ok",   "été", "\\u00e9", "\\\"q\\\"", "done",  "x"};
static const char *const seps[] = {",", ", ", ",\n  ", " ,"};

/* A random text of a few words (escapes and whitespace included). */
static void text(buf_t *b)
{
    int k = 1 + (int)rnd(6);
    for (int i = 0; i < k; i++) {
        if (i) buf_puts(b, rnd(3) ? " " : "  ");
        buf_puts(b, words[rnd(sizeof words / sizeof *words)]);
    }
}

/* A system message (or a developer one, which counts as system). */
static char *sys_msg(const char *prefix)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, rnd(4) ? "{\"role\":\"system\",\"content\":\""
                        : "{\"role\":\"developer\",\"content\":\"");
    buf_puts(&b, prefix);
    text(&b);
    buf_puts(&b, "\"}");
    return b.data;
}

/* A message of a turn: user, assistant (text, parts or a tool call) or
 * tool result. */
static char *new_msg(int round)
{
    buf_t b = BUF_INIT;
    switch (rnd(6)) {
    case 0:
    case 1:
    case 2:
        buf_puts(&b, "{\"role\":\"user\",\"content\":\"");
        text(&b);
        buf_puts(&b, "\"}");
        break;
    case 3:
        buf_printf(&b,
                   "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%d\","
                   "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":"
                   "\"{}\"}}]}",
                   round);
        break;
    case 4:
        buf_printf(&b, "{\"role\":\"tool\",\"tool_call_id\":\"call_%d\",\"content\":\"", round);
        text(&b);
        buf_puts(&b, "\"}");
        break;
    default:
        buf_puts(&b, "{\"role\":\"assistant\",\"content\":[{\"type\":\"text\",\"text\":\"");
        text(&b);
        buf_puts(&b, "\"}]}");
    }
    return b.data;
}

static void conv_add(conv_t *c, char *msg)
{
    if (c->n == MAX_MSGS) {
        free(msg);
        return;
    }
    c->msg[c->n] = msg;
    c->sep[c->n] = rnd(4) ? "," : seps[rnd(4)];
    c->n++;
}

static void conv_push(conv_t *c, int round)
{
    conv_add(c, new_msg(round));
}

/* A new conversation: a system prompt (mostly) and a first message. */
static void conv_start(conv_t *c, int round)
{
    if (rnd(4)) conv_add(c, sys_msg(""));
    conv_push(c, round);
}

static void conv_copy(conv_t *dst, const conv_t *src)
{
    *dst = *src;
    for (size_t i = 0; i < src->n; i++)
        dst->msg[i] = strdup(src->msg[i]);
}

static void conv_free(conv_t *c)
{
    for (size_t i = 0; i < c->n; i++)
        free(c->msg[i]);
    c->n = 0;
}

static const char *const tool_lists[] = {
    "", ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"read_file\"}}]",
    ",\"tools\":[ {\"type\": \"function\",\"function\":{\"name\":\"read_file\"}}]",
    ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"write_file\"}}]",
    ",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":\"list_dirs\"}}]"};
#define N_TOOL_LISTS (int)(sizeof tool_lists / sizeof *tool_lists)

static void conv_body(const conv_t *c, buf_t *b)
{
    buf_reset(b);
    buf_puts(b, "{\"model\":\"auto\",\"messages\":[");
    for (size_t i = 0; i < c->n; i++) {
        if (i) buf_puts(b, c->sep[i - 1]);
        buf_puts(b, c->msg[i]);
    }
    buf_puts(b, "]");
    buf_puts(b, tool_lists[c->tools]);
    buf_puts(b, "}");
}

static const char *const tenants[] = {"anon", "t-1", "t-2"};

/* The chain of the body with and without the memo: the same facts and
 * lookback hashes. Returns the messages the memo's run normalised. */
static size_t check_body(const conv_t *c, const buf_t *b)
{
    arena_t ar;
    arena_init(&ar, 8192);
    rq_t *r = facts(&ar, b->data, b->len);
    sess_identity_t warm = {0}, cold = {0};
    snprintf(warm.tenant, sizeof warm.tenant, "%s", tenants[c->tenant]);
    snprintf(cold.tenant, sizeof cold.tenant, "%s", tenants[c->tenant]);
    uint64_t rw[SESS_CHAIN_LOOKBACK + 1], rc[SESS_CHAIN_LOOKBACK + 1];
    size_t before = sess_identity_chain_normalised();
    size_t nw = sess_identity_chain_ring(r, &warm, true, rw);
    size_t normalised = sess_identity_chain_normalised() - before;
    rq_t *r2 = facts(&ar, b->data, b->len);
    size_t nc = sess_identity_chain_ring(r2, &cold, false, rc);
    assert_true(warm.has_chain && cold.has_chain);
    assert_true(warm.p0 == cold.p0);
    assert_true(warm.pn == cold.pn);
    assert_true(warm.opener == cold.opener);
    assert_int_equal(warm.n, cold.n);
    assert_int_equal(warm.has_assistant, cold.has_assistant);
    assert_int_equal(nw, nc);
    assert_memory_equal(rw, rc, nw * sizeof *rw);
    arena_deinit(&ar);
    return normalised;
}

static void test_memo_matches_chain_without_it(void **state)
{
    enum { CONVS = 24, STEPS = 6000 };
    conv_t convs[CONVS];
    memset(convs, 0, sizeof convs);
    buf_t b = BUF_INIT;
    size_t continued = 0, resumed = 0, total = 0, normalised = 0, prev_nonsys[CONVS] = {0};
    bool seen[CONVS] = {false};
    for (int i = 0; i < CONVS; i++) {
        convs[i].tools = (int)rnd(N_TOOL_LISTS);
        convs[i].tenant = (int)rnd(3);
        conv_start(&convs[i], 0);
    }
    for (int step = 0; step < STEPS; step++) {
        conv_t *c = &convs[rnd(CONVS)];
        unsigned kase = rnd(16);
        bool restart = false;
        switch (kase) {
        case 0: /* fork: another conversation continues a prefix of this one */
        {
            conv_t *d = &convs[rnd(CONVS)];
            if (d == c) break;
            conv_free(d);
            conv_copy(d, c);
            d->n = rnd((unsigned)c->n) + 1;
            for (size_t i = d->n; i < c->n; i++)
                free(d->msg[i]);
            conv_push(d, step);
            c = d;
            break;
        }
        case 1: /* an earlier message edited */
            if (c->n > 1) {
                size_t i = rnd((unsigned)c->n);
                free(c->msg[i]);
                c->msg[i] = new_msg(step);
            }
            break;
        case 2: /* other whitespace between two messages */
            if (c->n > 1) c->sep[rnd((unsigned)c->n - 1)] = seps[rnd(4)];
            break;
        case 3: /* a system message late */ conv_add(c, sys_msg("late ")); break;
        case 4: c->tools = (int)rnd(N_TOOL_LISTS); break;
        case 5: c->tenant = (int)rnd(3); break;
        case 6: /* a retry: the same body */ break;
        case 7: /* the last message dropped (a regenerated reply) */
            if (c->n > 1) free(c->msg[--c->n]);
            break;
        default: /* the next turn */
        {
            int k = 1 + (int)rnd(4);
            for (int i = 0; i < k; i++)
                conv_push(c, step);
        }
        }
        if (c->n >= MAX_MSGS - 4) { /* start over */
            conv_free(c);
            conv_start(c, step);
            restart = true;
        }
        conv_body(c, &b);
        size_t n = check_body(c, &b);
        size_t nonsys = 0;
        for (size_t i = 0; i < c->n; i++)
            nonsys += strncmp(c->msg[i], "{\"role\":\"system\"", 16) != 0 &&
                      strncmp(c->msg[i], "{\"role\":\"developer\"", 19) != 0;
        int ci = (int)(c - convs);
        if ((kase == 6 || kase >= 8) && !restart && seen[ci]) { /* a retry or the next turn */
            continued++;
            resumed += n == nonsys - prev_nonsys[ci]; /* only the new messages */
            total += nonsys;
            normalised += n;
        }
        seen[ci] = true;
        prev_nonsys[ci] = nonsys;
    }
    /* retries and next turns normalise only their new messages (but where
     * the memo was full) */
    assert_true(resumed * 100 > continued * 98);
    assert_true(normalised * 4 < total);
    for (int i = 0; i < CONVS; i++)
        conv_free(&convs[i]);
    buf_free(&b);
}

/* The same message bytes under another tenant or tool list, or with a
 * system message after them, are another chain. */
static void test_memo_keeps_tenants_tools_and_late_system_apart(void **state)
{
    conv_t c = {0};
    c.msg[c.n] = strdup("{\"role\":\"system\",\"content\":\"s\"}");
    c.sep[c.n++] = ",";
    c.msg[c.n] = strdup("{\"role\":\"user\",\"content\":\"hello there\"}");
    c.sep[c.n++] = ",";
    c.msg[c.n] = strdup("{\"role\":\"assistant\",\"content\":\"hi\"}");
    c.sep[c.n++] = ",";
    buf_t b = BUF_INIT;
    for (int tools = 0; tools < N_TOOL_LISTS; tools++)
        for (int tenant = 0; tenant < 3; tenant++) {
            c.tools = tools;
            c.tenant = tenant;
            conv_body(&c, &b);
            check_body(&c, &b);
            /* a retry under the same tenant and tools resumes at the end */
            assert_int_equal(check_body(&c, &b), 0);
        }
    c.msg[c.n] = strdup("{\"role\":\"system\",\"content\":\"late\"}");
    c.sep[c.n++] = ",";
    conv_body(&c, &b);
    assert_int_equal(check_body(&c, &b), 2); /* p_0 changed: all of it again */
    conv_free(&c);
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memo_matches_chain_without_it),
        cmocka_unit_test(test_memo_keeps_tenants_tools_and_late_system_apart),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
