/* bench_identity.c - cost of session identity (SPEC §9.1) on big agent
 * requests: µs per sess_identity_resolve for a 64 KB and a 1 MB chat body
 * shaped like a coding agent's (long system prompt, pretty-printed tools,
 * user turns, assistant tool calls, tool results full of indented code),
 * with no session header (the prefix-chain fingerprint against a memory
 * store) and with an x-session-id header (with and without a store), plus
 * the raw throughput of the per-message hash. Message texts are unescaped
 * once before timing (rq_msg_text caches them), so the figures are the
 * identity work alone. Prints one line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "request/request.h"
#include "session/identity.h"
#include "session/store.h"

static const char *prose =
    "You are a coding agent working in a large repository. Read files before editing them,\n"
    "keep changes minimal, and explain what you did.  When a command fails, read the error\n"
    "and try again.\n\n## Tools\nUse the shell tool for builds and tests; use the editor for "
    "files.\n";

static const char *code =
    "static int parse_item(const char *s, size_t n, item_t *out)\n{\n"
    "    size_t i = 0;\n    while (i < n && s[i] == ' ')\n        i++;\n"
    "    if (i == n) {\n        return -1;\n    }\n"
    "    out->key = s + i;\n\tout->len = n - i; /* tab indented */\n    return 0;\n}\n\n";

static void add_text(buf_t *b, const char *unit, size_t want)
{
    buf_t t = {0};
    while (t.len < want)
        buf_puts(&t, unit);
    buf_json_str(b, t.data, want < t.len ? want : t.len);
    buf_free(&t);
}

/* A chat body of about `size` bytes. */
static char *agent_body(size_t size, size_t *len)
{
    buf_t b = {0};
    buf_puts(&b, "{\"model\":\"auto\",\"stream\":true,\"tools\": [\n");
    for (int i = 0; i < 12; i++)
        buf_printf(&b,
                   "%s  {\n    \"type\": \"function\",\n    \"function\": {\n      \"name\": "
                   "\"tool_%d\",\n"
                   "      \"description\": \"Runs step %d of the agent loop; see the docs.\",\n"
                   "      \"parameters\": {\"type\": \"object\", \"properties\": {\n"
                   "        \"path\": {\"type\": \"string\"}, \"args\": {\"type\": \"array\"}}}\n  "
                   "  }\n  }",
                   i ? ",\n" : "", i, i);
    buf_puts(&b, "],\n\"messages\":[{\"role\":\"system\",\"content\":");
    add_text(&b, prose, size / 8);
    buf_puts(&b, "}");
    for (int turn = 0; b.len < size; turn++) {
        buf_puts(&b, ",{\"role\":\"user\",\"content\":");
        add_text(&b, prose, 600);
        buf_printf(
            &b,
            "},{\"role\":\"assistant\",\"content\":\"Let me "
            "look.\",\"tool_calls\":[{\"id\":\"call_%d\","
            "\"type\":\"function\",\"function\":{\"name\":\"tool_%d\",\"arguments\":\"{}\"}}]}"
            ",{\"role\":\"tool\",\"tool_call_id\":\"call_%d\",\"content\":",
            turn, turn % 12, turn);
        add_text(&b, code, 3000);
        buf_puts(&b, "}");
    }
    buf_puts(&b, ",{\"role\":\"user\",\"content\":\"Now fix the failing test.\"}]}");
    *len = b.len;
    return buf_steal(&b);
}

typedef struct got {
    int calls;
    sess_identity_t id;
} got_t;

static void on_id(void *ud, const sess_identity_t *id)
{
    got_t *g = ud;
    g->calls++;
    g->id = *id;
}

static double per_resolve_us(const char *body, size_t len, bool header, bool with_store, int iters)
{
    arena_t a;
    arena_init(&a, 1 << 16);
    jreq_t *jr = arena_calloc(&a, sizeof *jr);
    jscan_err_t e;
    if (jscan_request(body, len, &a, jr, &e) != 0) {
        fprintf(stderr, "bench_identity: body does not parse\n");
        exit(1);
    }
    rq_header_t h = {"x-session-id", 12, "sess-bench-1", 12};
    rq_t *r = rq_from_chat(&a, body, len, jr, header ? &h : NULL, header ? 1 : 0);
    for (size_t i = 0; i < r->n_msgs; i++)
        rq_msg_text(r, i, NULL); /* unescape once */
    sess_store_t *st = with_store ? sess_store_memory_new(NULL) : NULL;
    sess_identity_in_t in = {.request_id = "req-bench", .store = st};
    got_t g = {0};
    sess_identity_resolve(&in, r, on_id, &g); /* warm */
    uint64_t t0 = clock_mono_us();
    for (int i = 0; i < iters; i++)
        sess_identity_resolve(&in, r, on_id, &g);
    double us = (double)(clock_mono_us() - t0) / iters;
    if (g.calls != iters + 1 || !g.id.found) {
        fprintf(stderr, "bench_identity: resolve did not report\n");
        exit(1);
    }
    if (st) sess_store_free(st);
    arena_deinit(&a);
    return us;
}

int main(void)
{
    size_t sizes[] = {64 << 10, 1 << 20};
    const char *names[] = {"64 KB", "1 MB"};
    for (int s = 0; s < 2; s++) {
        size_t len;
        char *body = agent_body(sizes[s], &len);
        int iters = s ? 100 : 2000;
        double fp = per_resolve_us(body, len, false, true, iters);
        printf("resolve, %-5s agent request, no header (fingerprint):      %9.2f us (%.2f GB/s)\n",
               names[s], fp, (double)len / fp / 1e3);
        printf("resolve, %-5s agent request, x-session-id, memory store:  %9.2f us\n", names[s],
               per_resolve_us(body, len, true, true, iters));
        printf("resolve, %-5s agent request, x-session-id, no store:      %9.2f us\n", names[s],
               per_resolve_us(body, len, true, false, iters));
        free(body);
    }
    /* the message hash alone on 1 MB of indented code */
    buf_t t = {0};
    while (t.len < (1 << 20))
        buf_puts(&t, code);
    uint64_t acc = 0, t0 = clock_mono_us();
    for (int i = 0; i < 100; i++)
        acc += sess_identity_msg_hash(JROLE_TOOL, t.data, t.len, NULL, 0, "c");
    double us = (double)(clock_mono_us() - t0) / 100;
    printf("msg hash, 1 MB indented code:                                %9.2f us (%.2f GB/s) "
           "[%016llx]\n",
           us, (double)t.len / us / 1e3, (unsigned long long)acc);
    buf_free(&t);
    return 0;
}
