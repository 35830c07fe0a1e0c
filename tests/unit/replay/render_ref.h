/* render_ref.h - the replay record's rendering as record.c had it before
 * the writer's seventh pass (commit 91386c0): the reference
 * test_render_diff.c compares today's rendering with, byte for byte.
 * Byte-at-a-time escape scan, buf_num for every number, gmtime_r for every
 * time. Include once, in a test. */
#ifndef TETHER_TEST_REPLAY_RENDER_REF_H
#define TETHER_TEST_REPLAY_RENDER_REF_H
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "core/buf.h"
#include "replay/record.h"

/* ---- rendering --------------------------------------------------------- */

/* Two digits / n digits of v at p (v < 10^n). */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

static void ref_time_format(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    int year = tm.tm_year + 1900;
    if (year >= 0 && year <= 9999) {
        /* the same bytes as the printf below, without printf: the writer
         * formats one per record */
        put_digits(out, (unsigned)year, 4);
        out[4] = '-';
        put_digits(out + 5, (unsigned)tm.tm_mon + 1, 2);
        out[7] = '-';
        put_digits(out + 8, (unsigned)tm.tm_mday, 2);
        out[10] = 'T';
        put_digits(out + 11, (unsigned)tm.tm_hour, 2);
        out[13] = ':';
        put_digits(out + 14, (unsigned)tm.tm_min, 2);
        out[16] = ':';
        put_digits(out + 17, (unsigned)tm.tm_sec, 2);
        out[19] = '.';
        put_digits(out + 20, (unsigned)(ms % 1000), 3);
        out[23] = 'Z';
        out[24] = 0;
        return;
    }
    char tmp[96]; /* wide enough for any int the compiler imagines */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", year, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
    snprintf(out, 32, "%.31s", tmp);
}

/* The renderer writes ~60 members per record on the writer thread; keys are
 * literals (no escaping needed), so each member is one reserve and a copy. */
static inline void put_raw(buf_t *b, const char *s, size_t n)
{
    buf_reserve(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* lit is "\"name\":" of length n. */
static inline void key_lit(buf_t *b, bool *first, const char *lit, size_t n)
{
    buf_reserve(b, n + 1);
    if (!*first) b->data[b->len++] = ',';
    *first = false;
    memcpy(b->data + b->len, lit, n);
    b->len += n;
    b->data[b->len] = 0;
}
#define KEY(b, first, k) key_lit((b), (first), "\"" k "\":", sizeof("\"" k "\":") - 1)

/* A JSON string: one copy when nothing needs escaping (the usual case),
 * buf_json_str otherwise (the same bytes either way). */
static void put_str(buf_t *b, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == '"' || c == '\\') {
            buf_json_str(b, s, n);
            return;
        }
    }
    buf_reserve(b, n + 2);
    char *p = b->data + b->len;
    p[0] = '"';
    memcpy(p + 1, s, n);
    p[n + 1] = '"';
    b->len += n + 2;
    b->data[b->len] = 0;
}

static void put_cstr(buf_t *b, const char *s)
{
    if (!s)
        put_raw(b, "null", 4);
    else
        put_str(b, s, strlen(s));
}

/* printf("%lld") without printf. */
static void put_int(buf_t *b, int64_t v)
{
    char tmp[24];
    int k = (int)sizeof tmp;
    uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    do {
        tmp[--k] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (v < 0) tmp[--k] = '-';
    put_raw(b, tmp + k, sizeof tmp - (size_t)k);
}

#define KSTR(b, first, k, v)                                                                       \
    do {                                                                                           \
        KEY(b, first, k);                                                                          \
        put_cstr(b, v);                                                                            \
    } while (0)
#define KNUM(b, first, k, v)                                                                       \
    do {                                                                                           \
        KEY(b, first, k);                                                                          \
        put_num(b, v);                                                                             \
    } while (0)
#define KINT(b, first, k, v)                                                                       \
    do {                                                                                           \
        KEY(b, first, k);                                                                          \
        put_int(b, v);                                                                             \
    } while (0)
#define KBOOL(b, first, k, v)                                                                      \
    do {                                                                                           \
        KEY(b, first, k);                                                                          \
        if (v)                                                                                     \
            put_raw(b, "true", 4);                                                                 \
        else                                                                                       \
            put_raw(b, "false", 5);                                                                \
    } while (0)
/* Pre-rendered JSON: inserted as is (validated on write), dflt when NULL. */
#define KRAW(b, first, k, v, dflt)                                                                 \
    do {                                                                                           \
        KEY(b, first, k);                                                                          \
        put_frag(b, v, dflt);                                                                      \
    } while (0)

static void put_num(buf_t *b, double v)
{
    if (!isfinite(v))
        put_raw(b, "null", 4);
    else
        buf_num(b, v);
}

static void put_frag(buf_t *b, const char *v, const char *dflt)
{
    const char *s = v && *v ? v : dflt;
    put_raw(b, s, strlen(s));
}

static void ref_render_bodies(const replay_record_t *r, buf_t *out)
{
    if (!r->request_body && !r->response_body) {
        buf_puts(out, "null");
        return;
    }
    bool f = true;
    buf_putc(out, '{');
    KEY(out, &f, "request");
    if (r->request_body)
        buf_json_str(out, r->request_body, r->request_body_len);
    else
        buf_puts(out, "null");
    KEY(out, &f, "response");
    if (r->response_body)
        buf_json_str(out, r->response_body, r->response_body_len);
    else
        buf_puts(out, "null");
    KBOOL(out, &f, "truncated", r->bodies_truncated);
    buf_putc(out, '}');
}

/* The rendering; with cut, the values of decision_trace (cut->trace) and
 * candidates (cut->candidates) are left out and their offsets noted. */
static void render(const replay_record_t *r, bool with_bodies, buf_t *b, replay_render_cut_t *cut)
{
    size_t start = b->len;
    char ts[32];
    bool f = true, g;
    ref_time_format(r->created_at_ms, ts);
    buf_putc(b, '{');
    /* identity */
    KSTR(b, &f, "id", r->id);
    KSTR(b, &f, "created_at", ts);
    KINT(b, &f, "created_at_ms", (int64_t)r->created_at_ms);
    KSTR(b, &f, "request_id", r->request_id);
    KSTR(b, &f, "endpoint", r->endpoint);
    KSTR(b, &f, "client_protocol", r->client_protocol);
    KSTR(b, &f, "upstream_protocol", r->upstream_protocol);
    KSTR(b, &f, "tenant", r->tenant);
    KRAW(b, &f, "client_key", r->client_key_json, "null");
    /* routing */
    KSTR(b, &f, "recipe", r->recipe);
    KSTR(b, &f, "decision", r->decision);
    KNUM(b, &f, "decision_confidence", r->decision_confidence);
    KSTR(b, &f, "strategy", r->strategy);
    if (cut && cut->trace) {
        KEY(b, &f, "decision_trace");
        cut->trace_at = b->len - start;
    } else {
        KRAW(b, &f, "decision_trace", r->decision_trace_json, "null");
    }
    KRAW(b, &f, "signals", r->signals_json, "[]");
    KRAW(b, &f, "signal_fetch", r->signal_fetch_json, "null");
    KSTR(b, &f, "algorithm", r->algorithm);
    if (cut && cut->candidates) {
        KEY(b, &f, "candidates");
        cut->candidates_at = b->len - start;
    } else {
        KRAW(b, &f, "candidates", r->candidates_json, "[]");
    }
    KSTR(b, &f, "model", r->model);
    /* session */
    KEY(b, &f, "session");
    if (!r->has_session) {
        buf_puts(b, "null");
    } else {
        g = true;
        buf_putc(b, '{');
        KSTR(b, &g, "id", r->session.id);
        KSTR(b, &g, "identity_source", r->session.identity_source);
        KNUM(b, &g, "identity_confidence", r->session.identity_confidence);
        KINT(b, &g, "turn", r->session.turn);
        KSTR(b, &g, "phase", r->session.phase);
        KSTR(b, &g, "previous_model", r->session.previous_model);
        KSTR(b, &g, "mode", r->session.mode ? r->session.mode : "enforce");
        KSTR(b, &g, "selected_model", r->session.selected_model);
        KBOOL(b, &g, "switched", r->session.switched);
        KSTR(b, &g, "reason", r->session.reason);
        KSTR(b, &g, "hard_lock", r->session.hard_lock);
        KRAW(b, &g, "bindings", r->session.bindings_json, "[]");
        if (r->session.idle_for_s < 0)
            KRAW(b, &g, "idle_for_s", NULL, "null");
        else
            KNUM(b, &g, "idle_for_s", r->session.idle_for_s);
        KBOOL(b, &g, "idle_reset", r->session.idle_reset);
        KBOOL(b, &g, "drift_reset", r->session.drift_reset);
        KBOOL(b, &g, "decision_inherited", r->session.decision_inherited);
        KBOOL(b, &g, "current_not_in_candidates", r->session.current_not_in_candidates);
        KNUM(b, &g, "continuation_mass", r->session.continuation_mass);
        KNUM(b, &g, "cache_warmth", r->session.cache_warmth);
        KINT(b, &g, "switch_count", r->session.switch_count);
        KRAW(b, &g, "handoff", r->session.handoff_json, "null");
        KBOOL(b, &g, "fallback", r->session.fallback);
        buf_putc(b, '}');
    }
    /* outcome */
    KSTR(b, &f, "backend", r->backend);
    KRAW(b, &f, "attempts", r->attempts_json, "[]");
    KSTR(b, &f, "response_path", r->response_path);
    KINT(b, &f, "status", r->status);
    KEY(b, &f, "usage");
    buf_putc(b, '{');
    g = true;
    KINT(b, &g, "prompt", r->usage.prompt);
    KINT(b, &g, "cached", r->usage.cached);
    KINT(b, &g, "completion", r->usage.completion);
    buf_putc(b, '}');
    KEY(b, &f, "cost");
    buf_putc(b, '{');
    g = true;
    KSTR(b, &g, "currency", r->cost.currency);
    KNUM(b, &g, "actual", r->cost.actual);
    KNUM(b, &g, "baseline", r->cost.baseline);
    buf_putc(b, '}');
    KEY(b, &f, "latency");
    buf_putc(b, '{');
    g = true;
    KINT(b, &g, "routing_us", r->latency.routing_us);
    KNUM(b, &g, "ttft_ms", r->latency.ttft_ms);
    KNUM(b, &g, "total_ms", r->latency.total_ms);
    buf_putc(b, '}');
    KRAW(b, &f, "plugins", r->plugins_json, "[]");
    KRAW(b, &f, "warnings", r->warnings_json, "[]");
    if (with_bodies && (r->request_body || r->response_body)) {
        KEY(b, &f, "bodies");
        ref_render_bodies(r, b);
    }
    buf_putc(b, '}');
}

static void ref_render_full(const replay_record_t *r, bool with_bodies, buf_t *b)
{
    render(r, with_bodies, b, NULL);
}

static void ref_render_cut(const replay_record_t *r, replay_render_cut_t *cut, buf_t *b)
{
    cut->trace = cut->trace && r->decision_trace_json && *r->decision_trace_json;
    cut->candidates = cut->candidates && r->candidates_json && *r->candidates_json;
    cut->trace_at = cut->candidates_at = 0;
    render(r, false, b, cut);
}
#endif
