/* record.c - the replay record (SPEC §9.9): construction, the reason enum,
 * validation on write, and rendering as one JSON object. The queue
 * (queue.c) moves records to the writer thread; the stores keep the rendered
 * text; query.c reads it back. */
#include "replay/record.h"
#include "json/scan.h"
#include "session/policy.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

const char *const *const replay_reason_names = sess_reason_names;
const size_t replay_n_reasons = SESS_REASON__N;

bool replay_reason_valid(const char *s)
{
    if (!s) return false;
    for (size_t i = 0; i < replay_n_reasons; i++)
        if (!strcmp(s, replay_reason_names[i])) return true;
    return false;
}

void replay_id_new(char out[REPLAY_ID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    /* 12 random bytes from a per-thread reserve refilled 40 ids at a time:
     * one getrandom call per 40 records instead of one per record (tether
     * never forks after starting threads, so no two processes share it) */
    static __thread unsigned char reserve[480];
    static __thread size_t left;
    unsigned char b[12];
    if (left < sizeof b &&
        getrandom(reserve, sizeof reserve, GRND_NONBLOCK) == (ssize_t)sizeof reserve)
        left = sizeof reserve;
    if (left >= sizeof b) {
        memcpy(b, reserve + sizeof reserve - left, sizeof b);
        memset(reserve + sizeof reserve - left, 0, sizeof b); /* used once */
        left -= sizeof b;
    } else {
        /* Entropy pool not ready (early boot): fall back to time + counter. */
        static unsigned long ctr;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        unsigned long long v =
            (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 30) ^
            (__atomic_add_fetch(&ctr, 1, __ATOMIC_RELAXED) * 0x9E3779B97F4A7C15ull);
        for (size_t i = 0; i < sizeof b; i++)
            b[i] = (unsigned char)(v >> ((i % 8) * 8)) ^ (unsigned char)i;
    }
    memcpy(out, "rr_", 3);
    for (size_t i = 0; i < sizeof b; i++) {
        out[3 + 2 * i] = hex[b[i] >> 4];
        out[4 + 2 * i] = hex[b[i] & 15];
    }
    out[REPLAY_ID_LEN] = 0;
}

bool replay_id_valid(const char *s)
{
    if (!s || strlen(s) != REPLAY_ID_LEN || strncmp(s, "rr_", 3)) return false;
    for (size_t i = 3; i < REPLAY_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return true;
}

replay_record_t *replay_record_new(uint64_t now_ms)
{
    replay_record_t *r = malloc(sizeof *r + REPLAY_RECORD_POOL);
    if (!r) abort();
    memset(r, 0, sizeof *r);
    r->pool = (char *)(r + 1);
    r->pool_cap = REPLAY_RECORD_POOL;
    replay_id_new(r->id);
    r->created_at_ms = now_ms;
    r->session.idle_for_s = -1;
    return r;
}

void replay_record_setn(char **field, const char *s, size_t n)
{
    free(*field);
    *field = NULL;
    if (!s) return;
    char *p = malloc(n + 1);
    if (!p) abort();
    memcpy(p, s, n);
    p[n] = 0;
    *field = p;
}

static bool in_pool(const replay_record_t *r, const char *p)
{
    return p && r->pool && p >= r->pool && p < r->pool + r->pool_cap;
}

void replay_record_clear(replay_record_t *r, char **field)
{
    if (!in_pool(r, *field)) free(*field);
    *field = NULL;
}

void replay_record_put(replay_record_t *r, char **field, const char *s, size_t n)
{
    replay_record_clear(r, field);
    if (!s) return;
    char *p;
    if (n + 1 <= r->pool_cap - r->pool_used) {
        p = r->pool + r->pool_used;
        r->pool_used += n + 1;
    } else {
        p = malloc(n + 1);
        if (!p) abort();
    }
    memcpy(p, s, n);
    p[n] = 0;
    *field = p;
}

void replay_record_puts(replay_record_t *r, char **field, const char *s)
{
    replay_record_put(r, field, s, s ? strlen(s) : 0);
}

void replay_record_set(char **field, const char *s)
{
    replay_record_setn(field, s, s ? strlen(s) : 0);
}

void replay_record_set_body(replay_record_t *r, int which, const char *data, size_t len,
                            size_t max_bytes)
{
    if (max_bytes && len > max_bytes) {
        len = max_bytes;
        r->bodies_truncated = true;
    }
    char **f = which ? &r->response_body : &r->request_body;
    replay_record_setn(f, data, len);
    if (which)
        r->response_body_len = data ? len : 0;
    else
        r->request_body_len = data ? len : 0;
}

void replay_record_free(replay_record_t *r)
{
    if (!r) return;
    char **all[] = {&r->request_id,
                    &r->endpoint,
                    &r->client_protocol,
                    &r->upstream_protocol,
                    &r->tenant,
                    &r->client_key_json,
                    &r->recipe,
                    &r->decision,
                    &r->strategy,
                    &r->decision_trace_json,
                    &r->signals_json,
                    &r->algorithm,
                    &r->candidates_json,
                    &r->model,
                    &r->session.id,
                    &r->session.identity_source,
                    &r->session.phase,
                    &r->session.previous_model,
                    &r->session.selected_model,
                    &r->session.mode,
                    &r->session.reason,
                    &r->session.hard_lock,
                    &r->session.bindings_json,
                    &r->session.handoff_json,
                    &r->backend,
                    &r->attempts_json,
                    &r->response_path,
                    &r->cost.currency,
                    &r->plugins_json,
                    &r->warnings_json,
                    &r->request_body,
                    &r->response_body};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++)
        replay_record_clear(r, all[i]);
    free(r);
}

/* ---- validation -------------------------------------------------------- */

/* The writer checks every fragment of every record: one validating pass
 * without a tree first; cJSON (the reference this check always used) only
 * for what the stricter scanner refuses (it also checks UTF-8). */
static bool json_ok(const char *s)
{
    if (!s || !*s) return true;
    size_t n = strlen(s);
    if (jscan_validate(s, n, NULL) == 0) return true;
    const char *end = NULL;
    /* length + 1: with require_null_terminated cJSON wants the NUL inside */
    cJSON *j = cJSON_ParseWithLengthOpts(s, n + 1, &end, true);
    if (!j) return false;
    cJSON_Delete(j);
    return true;
}

static void set_err(buf_t *err, const char *fmt, const char *what)
{
    if (!err) return;
    buf_reset(err);
    buf_printf(err, fmt, what);
}

int replay_record_validate(const replay_record_t *r, buf_t *err)
{
    if (!replay_id_valid(r->id)) {
        set_err(err, "replay record id '%s' is not rr_ followed by 24 lower-case hex digits",
                r->id);
        return REPLAY_EINVAL;
    }
    if (r->has_session && !replay_reason_valid(r->session.reason)) {
        set_err(err,
                "replay record session.reason '%s' is not a SPEC 9.9 reason code (cold_start, "
                "stay_best_adjusted, switch_allowed, hard_lock_*, idle_reset, drift_reset, "
                "forced_handoff, passthrough, no_session)",
                r->session.reason ? r->session.reason : "(null)");
        return REPLAY_EINVAL;
    }
    const struct {
        const char *name, *v;
    } js[] = {{"client_key", r->client_key_json},
              {"decision_trace", r->decision_trace_json},
              {"signals", r->signals_json},
              {"candidates", r->candidates_json},
              {"session.bindings", r->session.bindings_json},
              {"session.handoff", r->session.handoff_json},
              {"attempts", r->attempts_json},
              {"plugins", r->plugins_json},
              {"warnings", r->warnings_json}};
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++)
        if (!json_ok(js[i].v)) {
            set_err(err, "replay record field '%s' is not valid JSON text", js[i].name);
            return REPLAY_EINVAL;
        }
    return REPLAY_OK;
}

/* ---- rendering --------------------------------------------------------- */

void replay_time_format(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char tmp[96]; /* wide enough for any int the compiler imagines */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
             tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
    snprintf(out, 32, "%.31s", tmp);
}

static void key(buf_t *b, bool *first, const char *k)
{
    if (!*first) buf_putc(b, ',');
    *first = false;
    buf_json_str(b, k, strlen(k));
    buf_putc(b, ':');
}

static void kstr(buf_t *b, bool *first, const char *k, const char *v)
{
    key(b, first, k);
    buf_json_cstr(b, v);
}

static void knum(buf_t *b, bool *first, const char *k, double v)
{
    key(b, first, k);
    if (!isfinite(v))
        buf_puts(b, "null");
    else
        buf_num(b, v);
}

static void kint(buf_t *b, bool *first, const char *k, int64_t v)
{
    key(b, first, k);
    buf_printf(b, "%lld", (long long)v);
}

static void kbool(buf_t *b, bool *first, const char *k, bool v)
{
    key(b, first, k);
    buf_puts(b, v ? "true" : "false");
}

/* Opens the object member k; its members go after a fresh `first` (returned
 * true), and buf_putc(b, '}') closes it. */
static bool kobj(buf_t *b, bool *first, const char *k)
{
    key(b, first, k);
    buf_putc(b, '{');
    return true;
}

/* Pre-rendered JSON: inserted as is (validated on write), dflt when NULL. */
static void kraw(buf_t *b, bool *first, const char *k, const char *v, const char *dflt)
{
    key(b, first, k);
    buf_puts(b, v && *v ? v : dflt);
}

void replay_record_render_bodies(const replay_record_t *r, buf_t *out)
{
    if (!r->request_body && !r->response_body) {
        buf_puts(out, "null");
        return;
    }
    bool f = true;
    buf_putc(out, '{');
    key(out, &f, "request");
    if (r->request_body)
        buf_json_str(out, r->request_body, r->request_body_len);
    else
        buf_puts(out, "null");
    key(out, &f, "response");
    if (r->response_body)
        buf_json_str(out, r->response_body, r->response_body_len);
    else
        buf_puts(out, "null");
    kbool(out, &f, "truncated", r->bodies_truncated);
    buf_putc(out, '}');
}

void replay_record_render(const replay_record_t *r, bool with_bodies, buf_t *b)
{
    char ts[32];
    bool f = true, g;
    replay_time_format(r->created_at_ms, ts);
    buf_putc(b, '{');
    /* identity */
    kstr(b, &f, "id", r->id);
    kstr(b, &f, "created_at", ts);
    kint(b, &f, "created_at_ms", (int64_t)r->created_at_ms);
    kstr(b, &f, "request_id", r->request_id);
    kstr(b, &f, "endpoint", r->endpoint);
    kstr(b, &f, "client_protocol", r->client_protocol);
    kstr(b, &f, "upstream_protocol", r->upstream_protocol);
    kstr(b, &f, "tenant", r->tenant);
    kraw(b, &f, "client_key", r->client_key_json, "null");
    /* routing */
    kstr(b, &f, "recipe", r->recipe);
    kstr(b, &f, "decision", r->decision);
    knum(b, &f, "decision_confidence", r->decision_confidence);
    kstr(b, &f, "strategy", r->strategy);
    kraw(b, &f, "decision_trace", r->decision_trace_json, "null");
    kraw(b, &f, "signals", r->signals_json, "[]");
    kstr(b, &f, "algorithm", r->algorithm);
    kraw(b, &f, "candidates", r->candidates_json, "[]");
    kstr(b, &f, "model", r->model);
    /* session */
    key(b, &f, "session");
    if (!r->has_session) {
        buf_puts(b, "null");
    } else {
        g = true;
        buf_putc(b, '{');
        kstr(b, &g, "id", r->session.id);
        kstr(b, &g, "identity_source", r->session.identity_source);
        knum(b, &g, "identity_confidence", r->session.identity_confidence);
        kint(b, &g, "turn", r->session.turn);
        kstr(b, &g, "phase", r->session.phase);
        kstr(b, &g, "previous_model", r->session.previous_model);
        kstr(b, &g, "mode", r->session.mode ? r->session.mode : "enforce");
        kstr(b, &g, "selected_model", r->session.selected_model);
        kbool(b, &g, "switched", r->session.switched);
        kstr(b, &g, "reason", r->session.reason);
        kstr(b, &g, "hard_lock", r->session.hard_lock);
        kraw(b, &g, "bindings", r->session.bindings_json, "[]");
        if (r->session.idle_for_s < 0)
            kraw(b, &g, "idle_for_s", NULL, "null");
        else
            knum(b, &g, "idle_for_s", r->session.idle_for_s);
        kbool(b, &g, "idle_reset", r->session.idle_reset);
        kbool(b, &g, "drift_reset", r->session.drift_reset);
        kbool(b, &g, "decision_inherited", r->session.decision_inherited);
        kbool(b, &g, "current_not_in_candidates", r->session.current_not_in_candidates);
        knum(b, &g, "continuation_mass", r->session.continuation_mass);
        knum(b, &g, "cache_warmth", r->session.cache_warmth);
        kint(b, &g, "switch_count", r->session.switch_count);
        kraw(b, &g, "handoff", r->session.handoff_json, "null");
        kbool(b, &g, "fallback", r->session.fallback);
        buf_putc(b, '}');
    }
    /* outcome */
    kstr(b, &f, "backend", r->backend);
    kraw(b, &f, "attempts", r->attempts_json, "[]");
    kstr(b, &f, "response_path", r->response_path);
    kint(b, &f, "status", r->status);
    g = kobj(b, &f, "usage");
    kint(b, &g, "prompt", r->usage.prompt);
    kint(b, &g, "cached", r->usage.cached);
    kint(b, &g, "completion", r->usage.completion);
    buf_putc(b, '}');
    g = kobj(b, &f, "cost");
    kstr(b, &g, "currency", r->cost.currency);
    knum(b, &g, "actual", r->cost.actual);
    knum(b, &g, "baseline", r->cost.baseline);
    buf_putc(b, '}');
    g = kobj(b, &f, "latency");
    kint(b, &g, "routing_us", r->latency.routing_us);
    knum(b, &g, "ttft_ms", r->latency.ttft_ms);
    knum(b, &g, "total_ms", r->latency.total_ms);
    buf_putc(b, '}');
    kraw(b, &f, "plugins", r->plugins_json, "[]");
    kraw(b, &f, "warnings", r->warnings_json, "[]");
    if (with_bodies && (r->request_body || r->response_body)) {
        key(b, &f, "bodies");
        replay_record_render_bodies(r, b);
    }
    buf_putc(b, '}');
}
