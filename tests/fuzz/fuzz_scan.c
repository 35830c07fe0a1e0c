/* fuzz_scan.c - libFuzzer harness for the JSON scanner, the splice writer and
 * the SSE parser (build and run with scripts/fuzz.sh).
 *
 * Besides "no crash, no sanitizer report" it checks properties:
 *  - jscan_validate agrees (accept/reject) with a small, obviously-correct
 *    recursive reference validator written here;
 *  - jscan_request agrees with jscan_validate, with the same error offset
 *    and message, and every span it records lies in the body and is itself
 *    valid JSON;
 *  - every string lexer (json/scan_str.c: portable, SSE2, AVX2, forced in
 *    turn) gives the same jscan_request and jscan_validate answers: return
 *    code, error offset and message, every span, count and flag, every
 *    message and tool call; the input is also scanned at a few lengths cut
 *    from its end and with its strings made long (so they cross the 64-byte
 *    blocks of the fast lexers);
 *  - rewriting every "model" and inserting stream_options by splicing gives
 *    a body that scans again with the new model;
 *  - the SSE parser yields the same events for the input in one chunk and
 *    split at input-derived points, with and without a size limit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "http/sse.h"
#include "json/scan.h"
#include "json/splice.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_scan: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* ---- reference validator: recursive, byte by byte --------------------- */

typedef struct ref {
    const uint8_t *p;
    size_t n, i;
} ref_t;

static void ref_ws(ref_t *r)
{
    while (r->i < r->n &&
           (r->p[r->i] == ' ' || r->p[r->i] == '\t' || r->p[r->i] == '\n' || r->p[r->i] == '\r'))
        r->i++;
}

static int ref_utf8(ref_t *r)
{
    /* decode one code point and check it is minimal, not a surrogate, <= 0x10FFFF */
    uint8_t c = r->p[r->i];
    int k;
    uint32_t cp;
    if (c < 0x80) return 0;
    if ((c & 0xe0) == 0xc0)
        k = 1, cp = c & 0x1f;
    else if ((c & 0xf0) == 0xe0)
        k = 2, cp = c & 0x0f;
    else if ((c & 0xf8) == 0xf0)
        k = 3, cp = c & 0x07;
    else
        return -1;
    if (r->n - r->i <= (size_t)k) return -1;
    for (int j = 1; j <= k; j++) {
        uint8_t d = r->p[r->i + j];
        if ((d & 0xc0) != 0x80) return -1;
        cp = cp << 6 | (d & 0x3f);
    }
    static const uint32_t min[] = {0, 0x80, 0x800, 0x10000};
    if (cp < min[k] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return -1;
    r->i += (size_t)k + 1;
    return 0;
}

static unsigned ref_hex(uint8_t c)
{
    return c <= '9' ? c - '0' : (c | 0x20) - 'a' + 10u;
}

static int ref_string(ref_t *r)
{
    r->i++; /* opening quote */
    for (;;) {
        if (r->i >= r->n) return -1;
        uint8_t c = r->p[r->i];
        if (c == '"') {
            r->i++;
            return 0;
        }
        if (c < 0x20) return -1;
        if (c == '\\') {
            if (++r->i >= r->n) return -1;
            c = r->p[r->i];
            if (c == 'u') {
                unsigned cp = 0;
                for (int k = 1; k <= 4; k++) {
                    if (r->i + (size_t)k >= r->n ||
                        !strchr("0123456789abcdefABCDEF", r->p[r->i + (size_t)k]) ||
                        r->p[r->i + (size_t)k] == 0)
                        return -1;
                    cp = cp * 16 + ref_hex(r->p[r->i + (size_t)k]);
                }
                r->i += 5;
                /* I-JSON: a high surrogate needs a low one right after; a low alone is bad */
                if (cp >= 0xdc00 && cp <= 0xdfff) return -1;
                if (cp >= 0xd800 && cp <= 0xdbff) {
                    unsigned lo = 0;
                    if (r->n - r->i < 6 || r->p[r->i] != '\\' || r->p[r->i + 1] != 'u') return -1;
                    for (int k = 2; k <= 5; k++) {
                        char h = (char)r->p[r->i + (size_t)k];
                        if (!h || !strchr("0123456789abcdefABCDEF", h)) return -1;
                        lo = lo * 16 + ref_hex((uint8_t)h);
                    }
                    if (lo < 0xdc00 || lo > 0xdfff) return -1;
                    r->i += 6;
                }
            } else if (c && strchr("\"\\/bfnrt", c)) {
                r->i++;
            } else
                return -1;
            continue;
        }
        if (c >= 0x80) {
            if (ref_utf8(r)) return -1;
            continue;
        }
        r->i++;
    }
}

static int ref_digits(ref_t *r)
{
    size_t s = r->i;
    while (r->i < r->n && r->p[r->i] >= '0' && r->p[r->i] <= '9')
        r->i++;
    return r->i > s ? 0 : -1;
}

static int ref_value(ref_t *r, int depth)
{
    ref_ws(r);
    if (r->i >= r->n) return -1;
    uint8_t c = r->p[r->i];
    if (c == '{' || c == '[') {
        if (depth >= JSCAN_MAX_DEPTH) return -1;
        uint8_t close = c == '{' ? '}' : ']';
        r->i++;
        ref_ws(r);
        if (r->i < r->n && r->p[r->i] == close) {
            r->i++;
            return 0;
        }
        for (;;) {
            if (c == '{') {
                ref_ws(r);
                if (r->i >= r->n || r->p[r->i] != '"' || ref_string(r)) return -1;
                ref_ws(r);
                if (r->i >= r->n || r->p[r->i] != ':') return -1;
                r->i++;
            }
            if (ref_value(r, depth + 1)) return -1;
            ref_ws(r);
            if (r->i >= r->n) return -1;
            if (r->p[r->i] == ',') {
                r->i++;
                continue;
            }
            if (r->p[r->i] != close) return -1;
            r->i++;
            return 0;
        }
    }
    if (c == '"') return ref_string(r);
    static const char *lits[] = {"true", "false", "null"};
    for (int k = 0; k < 3; k++) {
        size_t L = strlen(lits[k]);
        if (r->n - r->i >= L && memcmp(r->p + r->i, lits[k], L) == 0) {
            r->i += L;
            return 0;
        }
    }
    if (c == '-') r->i++;
    if (r->i < r->n && r->p[r->i] == '0')
        r->i++;
    else if (r->i >= r->n || r->p[r->i] < '1' || r->p[r->i] > '9' || ref_digits(r))
        return -1;
    if (r->i < r->n && r->p[r->i] == '.') {
        r->i++;
        if (ref_digits(r)) return -1;
    }
    if (r->i < r->n && (r->p[r->i] == 'e' || r->p[r->i] == 'E')) {
        r->i++;
        if (r->i < r->n && (r->p[r->i] == '+' || r->p[r->i] == '-')) r->i++;
        if (ref_digits(r)) return -1;
    }
    return 0;
}

static int ref_validate(const uint8_t *p, size_t n)
{
    ref_t r = {p, n, 0};
    if (ref_value(&r, 0)) return -1;
    ref_ws(&r);
    return r.i == n ? 0 : -1;
}

/* ---- request scanner properties --------------------------------------- */

static void check_span(const char *body, size_t len, jspan_t s)
{
    if (!s.len) return;
    CHECK((size_t)s.off + s.len <= len);
    CHECK(jscan_validate(body + s.off, s.len, NULL) == 0);
}

static void check_request(const uint8_t *data, size_t size, arena_t *a)
{
    const char *body = (const char *)data;
    jscan_err_t ev = {0}, er = {0};
    int v = jscan_validate(body, size, &ev);
    if (v) CHECK(ev.offset <= size && ev.message);
    /* the reference recursion is bounded by the same depth limit */
    CHECK((ref_validate(data, size) == 0) == (v == 0));

    jreq_t r;
    int rc = jscan_request(body, size, a, &r, &er);
    size_t i = 0;
    while (i < size && strchr(" \t\r\n", data[i]) && data[i])
        i++;
    bool is_obj = i < size && data[i] == '{';
    if (!is_obj) {
        CHECK(rc == (v == 0 ? -2 : -1));
        if (rc == -1) CHECK(er.offset == ev.offset && strcmp(er.message, ev.message) == 0);
        return;
    }
    if (rc == -1 && v == 0) {
        CHECK(strcmp(er.message, "too many \"model\" keys") == 0);
        return;
    }
    CHECK((rc == 0) == (v == 0));
    if (rc != 0) {
        CHECK(er.offset == ev.offset && strcmp(er.message, ev.message) == 0);
        return;
    }
    CHECK(data[r.obj_open] == '{' && data[r.obj_close] == '}');
    CHECK(r.n_model <= JREQ_MAX_MODEL_KEYS);
    for (uint32_t k = 0; k < r.n_model; k++) {
        check_span(body, size, r.model_all[k]);
        if (data[r.model_all[k].off] == '"') CHECK(jscan_unescape(a, body, r.model_all[k], NULL));
    }
    if (r.n_model) CHECK(r.model.off == r.model_all[r.n_model - 1].off);
    jspan_t tops[] = {
        r.stream_options,   r.messages,     r.tools,  r.previous_response_id, r.input, r.metadata,
        r.prompt_cache_key, r.stream_value, r.system, r.instructions};
    for (size_t k = 0; k < sizeof(tops) / sizeof(tops[0]); k++)
        check_span(body, size, tops[k]);
    { /* the scan's count of the tools is the walk's (rq_from_chat used to walk) */
        uint32_t cur = 0, cnt = 0;
        jspan_t el;
        while (r.tools.len && data[r.tools.off] == '[' && jscan_arr_next(body, r.tools, &cur, &el))
            cnt++;
        CHECK(r.n_tools == cnt);
    }
    for (uint32_t k = 0; k < r.n_msgs; k++) {
        const jmsg_t *m = &r.msgs[k];
        CHECK(m->value.off >= r.messages.off &&
              m->value.off + m->value.len <= r.messages.off + r.messages.len);
        check_span(body, size, m->value);
        check_span(body, size, m->content);
        check_span(body, size, m->tool_calls);
        check_span(body, size, m->tool_call_id);
        /* the scan's note of the raw "encrypted_content" is the text search's */
        CHECK(m->enc_marker ==
              jscan_contains(body + m->value.off, m->value.len, "\"encrypted_content\"", 19));
        if (m->tool_calls.len && data[m->tool_calls.off] == '[') {
            uint32_t cur = 0, cnt = 0;
            jspan_t el;
            static const char *const ck[] = {"id", "function"};
            CHECK(m->calls_built);
            while (jscan_arr_next(body, m->tool_calls, &cur, &el)) {
                /* the recorded id and function name are the walk's */
                jspan_t kv[2], nm = {0, 0};
                jscan_obj_pick(body, el, ck, 2, kv);
                if (kv[1].len && !jscan_obj_get(body, kv[1], "name", &nm)) nm = (jspan_t){0, 0};
                CHECK(cnt < m->n_tool_calls);
                CHECK(m->calls[cnt].id.len == kv[0].len &&
                      (!kv[0].len || m->calls[cnt].id.off == kv[0].off));
                CHECK(m->calls[cnt].name.len == nm.len &&
                      (!nm.len || m->calls[cnt].name.off == nm.off));
                cnt++;
            }
            CHECK(cnt == m->n_tool_calls);
        } else
            CHECK(!m->calls_built);
    }
    /* splice: every model -> "X", and stream_options inserted after '{' */
    jsplice_t s;
    jsplice_init(&s);
    for (uint32_t k = 0; k < r.n_model; k++)
        jsplice_add(&s, r.model_all[k].off, r.model_all[k].len, "\"X\"", 3);
    static const char ins[] = "\"stream_options\":{\"include_usage\":true},";
    jsplice_add(&s, r.obj_open + 1, 0, ins, r.n_top_keys ? sizeof(ins) - 1 : sizeof(ins) - 2);
    jsplice_sort(&s);
    buf_t out = BUF_INIT;
    jsplice_to_buf(&s, body, size, &out);
    CHECK(out.len == jsplice_len(&s, size));
    jreq_t r2;
    jscan_err_t e2;
    int rc2 = jscan_request(out.data, out.len, a, &r2, &e2);
    if (rc2 == -1) { /* the insertion may add a 9th "model"-free key only, so this is a bug */
        fprintf(stderr, "re-scan failed: %s at %zu\n", e2.message, e2.offset);
        abort();
    }
    CHECK(rc2 == 0 && r2.n_model == r.n_model && r2.n_top_keys == r.n_top_keys + 1);
    if (r.n_model) CHECK(jscan_str_eq(out.data, r2.model, "X"));
    CHECK(r2.stream_options.len > 0);
    buf_free(&out);
    jsplice_free(&s);
}

/* ---- SSE: chunking must not change the events ------------------------- */

static void sse_log(void *ud, const char *ev, size_t evl, const char *data, size_t dl)
{
    buf_t *log = ud;
    buf_printf(log, "%zu:%zu:", evl, dl);
    buf_append(log, ev, evl);
    buf_append(log, data, dl);
    /* every event's data is usually a JSON chunk: exercise usage capture too */
    jusage_t u;
    jscan_usage(data, dl, &u);
}

static void sse_run(const uint8_t *d, size_t n, size_t max, const size_t *cuts, int ncuts,
                    buf_t *log)
{
    sse_parser_t p;
    sse_parser_init(&p, sse_log, log);
    p.max_event_bytes = max;
    size_t prev = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t c = i < ncuts ? cuts[i] : n;
        if (c < prev) c = prev;
        sse_parser_feed(&p, (const char *)d + prev, c - prev);
        prev = c;
    }
    sse_parser_deinit(&p);
}

static void check_sse(const uint8_t *data, size_t size)
{
    size_t cuts[16];
    int nc = 0;
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < size && i < 64; i++)
        h = (h ^ data[i]) * 1099511628211ull;
    for (int k = 0; k < 16 && size; k++) {
        h = h * 6364136223846793005ull + 1442695040888963407ull;
        cuts[nc++] = (size_t)(h >> 33) % (size + 1);
    }
    /* sort the cut points */
    for (int i = 1; i < nc; i++)
        for (int j = i; j > 0 && cuts[j - 1] > cuts[j]; j--) {
            size_t t = cuts[j];
            cuts[j] = cuts[j - 1];
            cuts[j - 1] = t;
        }
    size_t maxes[] = {0, 1 + (size_t)(h % 97)};
    for (int m = 0; m < 2; m++) {
        buf_t a = BUF_INIT, b = BUF_INIT, c = BUF_INIT;
        sse_run(data, size, maxes[m], NULL, 0, &a);
        sse_run(data, size, maxes[m], cuts, nc, &b);
        size_t ones[64];
        int no = 0;
        for (size_t i = 1; i < size && no < 64; i++)
            ones[no++] = i; /* first bytes one by one */
        sse_run(data, size, maxes[m], ones, no, &c);
        CHECK(a.len == b.len && (a.len == 0 || memcmp(a.data, b.data, a.len) == 0));
        CHECK(a.len == c.len && (a.len == 0 || memcmp(a.data, c.data, a.len) == 0));
        buf_free(&a);
        buf_free(&b);
        buf_free(&c);
    }
}

/* ---- lexers: the fast ones against the portable one ------------------ */

typedef struct scan_out {
    int rc, vrc;
    jscan_err_t err, verr;
    jreq_t r;
} scan_out_t;

static void scan_with(jscan_lexer_t lx, const char *body, size_t len, arena_t *a, scan_out_t *o)
{
    CHECK(jscan_lexer_force(lx) == 0);
    memset(o, 0, sizeof *o);
    o->rc = jscan_request(body, len, a, &o->r, &o->err);
    o->vrc = jscan_validate(body, len, &o->verr);
}

#define SAME_SPAN(x, y) CHECK((x).off == (y).off && (x).len == (y).len)

static void same_msgs(const jreq_t *x, const jreq_t *y)
{
    CHECK(x->n_msgs == y->n_msgs && x->msgs_built == y->msgs_built);
    if (!x->msgs_built) return;
    for (uint32_t k = 0; k < x->n_msgs; k++) {
        const jmsg_t *m = &x->msgs[k], *n = &y->msgs[k];
        CHECK(m->role == n->role && m->n_tool_calls == n->n_tool_calls);
        CHECK(m->calls_built == n->calls_built && m->enc_marker == n->enc_marker);
        SAME_SPAN(m->value, n->value);
        SAME_SPAN(m->content, n->content);
        SAME_SPAN(m->tool_calls, n->tool_calls);
        SAME_SPAN(m->tool_call_id, n->tool_call_id);
        SAME_SPAN(m->role_span, n->role_span);
        SAME_SPAN(m->name, n->name);
        SAME_SPAN(m->reasoning_details, n->reasoning_details);
        SAME_SPAN(m->reasoning_content, n->reasoning_content);
        SAME_SPAN(m->type, n->type);
        CHECK((m->calls == NULL) == (n->calls == NULL));
        for (uint32_t c = 0; m->calls && c < m->n_tool_calls; c++) {
            SAME_SPAN(m->calls[c].id, n->calls[c].id);
            SAME_SPAN(m->calls[c].name, n->calls[c].name);
        }
    }
}

static void same_scan(const scan_out_t *x, const scan_out_t *y)
{
    CHECK(x->rc == y->rc && x->vrc == y->vrc);
    if (x->rc == -1 || x->rc == JSCAN_ETOO_MANY)
        CHECK(x->err.offset == y->err.offset && !strcmp(x->err.message, y->err.message));
    if (x->vrc)
        CHECK(x->verr.offset == y->verr.offset && !strcmp(x->verr.message, y->verr.message));
    const jreq_t *r = &x->r, *q = &y->r;
    same_msgs(r, q);
    CHECK(r->n_model == q->n_model && r->model_is_string == q->model_is_string);
    for (uint32_t k = 0; k < JREQ_MAX_MODEL_KEYS; k++)
        SAME_SPAN(r->model_all[k], q->model_all[k]);
    CHECK(r->stream == q->stream && r->has_messages == q->has_messages);
    CHECK(r->n_input == q->n_input && r->dup_key == q->dup_key && r->dup_off == q->dup_off);
    CHECK(r->n_tools == q->n_tools);
    CHECK(r->obj_open == q->obj_open && r->obj_close == q->obj_close);
    CHECK(r->n_top_keys == q->n_top_keys);
    const jspan_t a[] = {r->model,
                         r->stream_options,
                         r->messages,
                         r->tools,
                         r->previous_response_id,
                         r->input,
                         r->metadata,
                         r->prompt_cache_key,
                         r->stream_value,
                         r->system,
                         r->instructions,
                         r->max_tokens,
                         r->max_completion_tokens,
                         r->tool_choice,
                         r->reasoning,
                         r->thinking,
                         r->store,
                         r->user,
                         r->conversation};
    const jspan_t b[] = {q->model,
                         q->stream_options,
                         q->messages,
                         q->tools,
                         q->previous_response_id,
                         q->input,
                         q->metadata,
                         q->prompt_cache_key,
                         q->stream_value,
                         q->system,
                         q->instructions,
                         q->max_tokens,
                         q->max_completion_tokens,
                         q->tool_choice,
                         q->reasoning,
                         q->thinking,
                         q->store,
                         q->user,
                         q->conversation};
    for (size_t k = 0; k < sizeof a / sizeof a[0]; k++)
        SAME_SPAN(a[k], b[k]);
}

static void check_lexers_on(const char *body, size_t len, arena_t *a)
{
    static const jscan_lexer_t fast[] = {JSCAN_LEX_SSE2, JSCAN_LEX_AVX2};
    scan_out_t want, got;
    scan_with(JSCAN_LEX_PORTABLE, body, len, a, &want);
    for (size_t k = 0; k < sizeof fast / sizeof fast[0]; k++) {
        if (jscan_lexer_force(fast[k]) != 0) continue; /* the CPU lacks it */
        scan_with(fast[k], body, len, a, &got);
        same_scan(&want, &got);
    }
    jscan_lexer_force(JSCAN_LEX_AUTO);
}

/* jscan_unescape's SSE2 copy against the portable one (a memchr per
 * escape) on the spans from each quote to each of the next four: the same
 * NULL, or the same bytes, length and NUL. */
static void check_unescape_on(const char *body, size_t len)
{
    arena_t u;
    arena_init(&u, 4096);
    size_t opened = 0;
    for (size_t i = 0; i < len && opened < 256; i++) {
        if (body[i] != '"') continue;
        opened++;
        size_t seen = 0;
        for (size_t j = i + 1; j < len && seen < 4; j++) {
            if (body[j] != '"') continue;
            seen++;
            jspan_t s = {(uint32_t)i, (uint32_t)(j - i + 1)};
            size_t n1 = 0, n2 = 0;
            CHECK(jscan_lexer_force(JSCAN_LEX_PORTABLE) == 0);
            char *u1 = jscan_unescape(&u, body, s, &n1);
            CHECK(jscan_lexer_force(JSCAN_LEX_SSE2) == 0);
            char *u2 = jscan_unescape(&u, body, s, &n2);
            CHECK((u1 == NULL) == (u2 == NULL));
            if (u1) CHECK(n1 == n2 && memcmp(u1, u2, n1 + 1) == 0);
            arena_reset(&u);
        }
    }
    jscan_lexer_force(JSCAN_LEX_AUTO);
    arena_deinit(&u);
}

/* The input, then cut short at a few lengths (truncated strings and
 * escapes), then with each string's first plain byte repeated so that
 * strings cross 64-byte blocks with their escapes and UTF-8 at every
 * offset. */
static void check_lexers(const uint8_t *data, size_t size, arena_t *a)
{
    check_lexers_on((const char *)data, size, a);
    check_unescape_on((const char *)data, size);
    for (size_t cut = 1; cut <= 3 && cut <= size; cut++)
        check_lexers_on((const char *)data, size - cut, a);
    if (size > 4096) return;
    size_t rep = 1 + (size ? data[0] % 80 : 0);
    char *big = malloc(size * (rep + 1) + 1);
    size_t w = 0;
    bool in_str = false, after_bs = false;
    for (size_t i = 0; i < size; i++) {
        uint8_t c = data[i];
        big[w++] = (char)c;
        if (in_str && !after_bs && c >= 'a' && c <= 'z')
            for (size_t k = 0; k < rep; k++)
                big[w++] = (char)c;
        if (after_bs)
            after_bs = false;
        else if (c == '\\')
            after_bs = in_str;
        else if (c == '"')
            in_str = !in_str;
    }
    check_lexers_on(big, w, a);
    check_unescape_on(big, w);
    free(big);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    arena_t a;
    arena_init(&a, 4096);
    check_lexers(data, size, &a);
    check_request(data, size, &a);
    jusage_t u;
    jscan_usage((const char *)data, size, &u);
    if (!u.found) CHECK(u.prompt_tokens == -1 && u.completion_tokens == -1);
    check_sse(data, size);
    arena_deinit(&a);
    return 0;
}
