/* bench_scan.c - throughput of the request scanner and the splice writer on
 * generated agent-style bodies (system prompt, tool definitions, many
 * user / assistant / tool messages with escaped code and JSON), 16 KB and
 * 1 MB. Columns: scan only; scan + splice (new model, inserted
 * stream_options, iovec pieces: what the proxy does); scan + splice copied
 * into one buffer; cJSON parse of the same body for reference. Each figure is
 * the median of 21 timed batches. Usage: bench_scan [seconds_per_cell] */
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>

#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "json/scan.h"
#include "json/splice.h"

static const char *code_lines[] = {
    "static int parse_header(const char *p, size_t n, struct hdr *out) {",
    "    if (n < 4 || memcmp(p, \"HTTP\", 4) != 0) return -1; /* not a status line */",
    "    for (size_t i = 0; i < n; i++) { if (p[i] == '\\r') break; }",
    "\tprintf(\"%s: %d\\n\", name, value);",
    "def handler(event, ctx):\n    return {\"status\": 200, \"body\": json.dumps(event)}",
    "const re = /^[a-z0-9_\\-]+$/i; // identifiers, caf\xC3\xA9 \xE2\x9C\x93",
    "    assert(x <= y && \"bounds\"); // TODO: handle the 'empty' case",
};

static unsigned rng_state = 12345;
static unsigned rnd(void)
{
    rng_state = rng_state * 1103515245u + 12345u;
    return rng_state >> 8;
}

static void put_code(buf_t *b, int lines)
{
    buf_t raw = BUF_INIT;
    for (int i = 0; i < lines; i++) {
        buf_puts(&raw, code_lines[rnd() % (sizeof(code_lines) / sizeof(code_lines[0]))]);
        buf_putc(&raw, '\n');
    }
    buf_json_str(b, raw.data, raw.len);
    buf_free(&raw);
}

/* A tool result that is itself JSON, escaped into a string. */
static void put_json_result(buf_t *b, int items)
{
    buf_t raw = BUF_INIT;
    buf_puts(&raw, "{\"files\":[");
    for (int i = 0; i < items; i++)
        buf_printf(&raw,
                   "%s{\"path\":\"src/mod%u/file_%d.c\",\"size\":%u,\"match\":\"if (x < 0) return "
                   "\\\"neg\\\";\"}",
                   i ? "," : "", rnd() % 50, i, rnd() % 100000);
    buf_puts(&raw, "],\"truncated\":false}");
    buf_json_str(b, raw.data, raw.len);
    buf_free(&raw);
}

static void make_body(buf_t *b, size_t target)
{
    buf_reset(b);
    buf_puts(b, "{\"model\":\"auto\",\"stream\":true,\"temperature\":0.2,\"messages\":[{\"role\":"
                "\"system\",\"content\":");
    buf_t sys = BUF_INIT;
    for (int i = 0; i < 20; i++)
        buf_puts(&sys,
                 "You are an autonomous coding agent. Follow the user's instructions exactly; "
                 "prefer small, reviewable changes and run the tests after each one.\n");
    buf_json_str(b, sys.data, sys.len);
    buf_free(&sys);
    buf_puts(b, "}");
    unsigned call = 0;
    size_t tools_reserve = 2600; /* tool definitions at the end */
    while (b->len + tools_reserve < target) {
        unsigned k = rnd() % 4;
        if (k == 0) {
            buf_puts(b, ",{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":");
            put_code(b, 3 + (int)(rnd() % 10));
            buf_puts(b, "}]}");
        } else {
            buf_printf(
                b,
                ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_%08x\","
                "\"type\":\"function\",\"function\":{\"name\":\"read_file\",\"arguments\":"
                "\"{\\\"path\\\":\\\"src/mod%u/file.c\\\",\\\"start\\\":%u}\"}}]}",
                call, rnd() % 50, rnd() % 900);
            buf_printf(b,
                       ",{\"role\":\"tool\",\"tool_call_id\":\"call_%08x\",\"content\":", call++);
            if (k == 1)
                put_json_result(b, 2 + (int)(rnd() % 12));
            else
                put_code(b, 5 + (int)(rnd() % 40));
            buf_puts(b, "}");
        }
    }
    buf_puts(b, "],\"tools\":[");
    for (int t = 0; t < 6; t++)
        buf_printf(
            b,
            "%s{\"type\":\"function\",\"function\":{\"name\":\"tool_%d\",\"description\":"
            "\"Reads or edits files in the workspace; paths are relative to the repository root.\","
            "\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":{\"type\":\"string\"},"
            "\"start\":{\"type\":\"integer\",\"minimum\":0},\"content\":{\"type\":\"string\"}},"
            "\"required\":[\"path\"]}}}",
            t ? "," : "", t);
    buf_puts(b, "],\"metadata\":{\"session\":\"s-1\"}}");
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

enum { M_SCAN, M_SPLICE_IOV, M_SPLICE_BUF, M_CJSON, M_COUNT };
static const char *mode_name[] = {"scan", "scan+splice(iov)", "scan+splice(copy)", "cJSON parse"};

static volatile size_t sink;

static void run_once(int mode, const buf_t *body, arena_t *a, buf_t *out)
{
    if (mode == M_CJSON) {
        cJSON *j = cJSON_ParseWithLength(body->data, body->len);
        sink += j != NULL;
        cJSON_Delete(j);
        return;
    }
    jreq_t r;
    arena_reset(a);
    if (jscan_request(body->data, body->len, a, &r, NULL) != 0) abort();
    sink += r.n_msgs;
    if (mode == M_SCAN) return;
    static const char nm[] = "\"gpt-4o-mini-2024-07-18\"";
    static const char ins[] = "\"stream_options\":{\"include_usage\":true},";
    jsplice_t s;
    jsplice_init(&s);
    for (uint32_t i = 0; i < r.n_model; i++)
        jsplice_add(&s, r.model_all[i].off, r.model_all[i].len, nm, sizeof(nm) - 1);
    if (!r.stream_options.len) jsplice_add(&s, r.obj_open + 1, 0, ins, sizeof(ins) - 1);
    jsplice_sort(&s);
    if (mode == M_SPLICE_IOV) {
        struct iovec iov[16];
        int n = jsplice_iov(&s, body->data, body->len, iov, 16);
        sink += (size_t)n + iov[n - 1].iov_len;
    } else {
        buf_reset(out);
        jsplice_to_buf(&s, body->data, body->len, out);
        sink += out->len;
    }
    jsplice_free(&s);
}

/* MB/s (1e6 bytes) as the median of 21 batches of about cell_s/21 each. */
static double measure(int mode, const buf_t *body, double cell_s)
{
    arena_t a;
    arena_init(&a, 64 * 1024);
    buf_t out = BUF_INIT;
    /* calibrate the batch size */
    int iters = 1;
    for (;;) {
        uint64_t t0 = clock_mono_us();
        for (int i = 0; i < iters; i++)
            run_once(mode, body, &a, &out);
        uint64_t dt = clock_mono_us() - t0;
        if (dt >= (uint64_t)(cell_s * 1e6 / 21) || iters >= (1 << 24)) break;
        iters *= 2;
    }
    enum { BATCHES = 21 };
    uint64_t t[BATCHES];
    for (int b = 0; b < BATCHES; b++) {
        uint64_t t0 = clock_mono_us();
        for (int i = 0; i < iters; i++)
            run_once(mode, body, &a, &out);
        t[b] = clock_mono_us() - t0;
    }
    qsort(t, BATCHES, sizeof(t[0]), cmp_u64);
    arena_deinit(&a);
    buf_free(&out);
    double us = (double)t[BATCHES / 2] / iters;
    return (double)body->len / us; /* bytes per us == MB/s */
}

int main(int argc, char **argv)
{
    double cell_s = argc > 1 ? atof(argv[1]) : 1.0;
    if (cell_s <= 0) cell_s = 1.0;
    size_t sizes[] = {16 * 1024, 1024 * 1024};
    printf("bench_scan: median of 21 batches, ~%.1fs per cell, MB/s = 1e6 bytes/s\n", cell_s);
    printf("%-10s %6s %8s", "body", "msgs", "bytes");
    for (int m = 0; m < M_COUNT; m++)
        printf(" %18s", mode_name[m]);
    printf("\n");
    for (size_t si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
        buf_t body = BUF_INIT;
        make_body(&body, sizes[si]);
        jreq_t r;
        arena_t a;
        arena_init(&a, 0);
        jscan_err_t e;
        if (jscan_request(body.data, body.len, &a, &r, &e) != 0) {
            fprintf(stderr, "generated body is invalid: %s at %zu\n", e.message, e.offset);
            return 1;
        }
        printf("%-10s %6u %8zu", si == 0 ? "16 KB" : "1 MB", r.n_msgs, body.len);
        arena_deinit(&a);
        fflush(stdout);
        for (int m = 0; m < M_COUNT; m++) {
            printf(" %18.0f", measure(m, &body, cell_s));
            fflush(stdout);
        }
        printf("\n");
        buf_free(&body);
    }
    return 0;
}
