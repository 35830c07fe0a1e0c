/* record.c - the replay record (SPEC §9.9): construction, the reason enum,
 * validation on write, and rendering as one JSON object. The queue
 * (queue.c) moves records to the writer thread; the stores keep the rendered
 * text; query.c reads it back. */
#include "replay/record.h"
#include "replay/frag_check.h"
#include "replay/frag_memo.h"
#include "json/scan.h"
#include "session/policy.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

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

/* Records the writer is done with, kept for the next requests: a record is
 * made on a worker and freed on the writer thread, so a per-thread cache
 * would only grow on one side; a short mutex around a bounded stack makes a
 * steady-state request's record cost no allocation. Off under ASan, which
 * should see every record's lifetime. */
#ifdef __SANITIZE_ADDRESS__
#define SPARE_MAX 0
#else
#define SPARE_MAX 1024 /* about 4.6 MiB at most: a write batch's worth (queue.c) */
#endif
#if SPARE_MAX
static pthread_mutex_t spare_mu = PTHREAD_MUTEX_INITIALIZER;
static replay_record_t *spare; /* linked through next_spare */
static size_t n_spare;
#endif

replay_record_t *replay_record_new(uint64_t now_ms)
{
    replay_record_t *r = NULL;
#if SPARE_MAX
    if (__atomic_load_n(&n_spare, __ATOMIC_RELAXED)) {
        pthread_mutex_lock(&spare_mu);
        r = spare;
        if (r) {
            spare = r->next_spare;
            n_spare--;
        }
        pthread_mutex_unlock(&spare_mu);
    }
#endif
    if (!r) r = malloc(sizeof *r + REPLAY_RECORD_POOL);
    if (!r) abort();
    memset(r, 0, sizeof *r);
    r->pool = (char *)(r + 1);
    r->pool_cap = REPLAY_RECORD_POOL;
    replay_id_new(r->id);
    /* the first 10 hex digits are the creation time (ms, modulo 2^40: wraps
     * every 34.8 years), the other 14 stay random (56 bits): ids made close
     * in time sort close together, so a batch of records lands on the
     * right edge of the id index instead of on a random page each (the
     * writer's page writes, docs/PERFORMANCE.md "replay writer") */
    static const char hex[] = "0123456789abcdef";
    for (int i = 0; i < 10; i++)
        r->id[3 + i] = hex[(now_ms >> (4 * (9 - i))) & 15];
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
    if (*field) replay_record_clear(r, field); /* a new record's fields are all NULL */
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
                    &r->signal_fetch_json,
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
#if SPARE_MAX
    if (__atomic_load_n(&n_spare, __ATOMIC_RELAXED) < SPARE_MAX) {
        pthread_mutex_lock(&spare_mu);
        if (n_spare < SPARE_MAX) {
            r->next_spare = spare;
            spare = r;
            n_spare++;
            r = NULL;
        }
        pthread_mutex_unlock(&spare_mu);
    }
#endif
    free(r);
}

void replay_record_reserve(size_t n)
{
#if SPARE_MAX
    pthread_mutex_lock(&spare_mu);
    while (n_spare < n && n_spare < SPARE_MAX) {
        replay_record_t *r = malloc(sizeof *r + REPLAY_RECORD_POOL);
        if (!r) break;
        r->next_spare = spare;
        spare = r;
        n_spare++;
    }
    pthread_mutex_unlock(&spare_mu);
#else
    (void)n;
#endif
}

void replay_record_spares_free(void)
{
#if SPARE_MAX
    pthread_mutex_lock(&spare_mu);
    while (spare) {
        replay_record_t *r = spare;
        spare = r->next_spare;
        free(r);
    }
    n_spare = 0;
    pthread_mutex_unlock(&spare_mu);
#endif
}

/* ---- validation -------------------------------------------------------- */

/* The writer checks every fragment of every record: the strict one-pass
 * validator of frag_check.c first (the usual ASCII fragment), then the
 * reference: the validating scanner without a tree, and cJSON (the
 * reference this check always used) for what the scanner refuses (it also
 * checks UTF-8). */
static bool json_ok(const char *s, bool *clean)
{
    *clean = false;
    if (!s || !*s) return true;
    size_t n = strlen(s);
    /* the same bytes as a fragment this thread already found valid and
     * clean (frag_memo.h): the decision trace and candidates of most
     * records; a valid one is remembered for the redaction that follows */
    if (replay_frag_memo_clean(s, n)) return *clean = true;
    if (!replay_frag_json_ok(s, n) && jscan_validate(s, n, NULL) != 0) {
        const char *end = NULL;
        /* length + 1: with require_null_terminated cJSON wants the NUL inside */
        cJSON *j = cJSON_ParseWithLengthOpts(s, n + 1, &end, true);
        if (!j) return false;
        cJSON_Delete(j);
    }
    *clean = replay_frag_memo_learn(s, n);
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
    return replay_record_validate_clean(r, err, NULL);
}

int replay_record_validate_clean(const replay_record_t *r, buf_t *err, unsigned *clean)
{
    if (clean) *clean = 0;
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
              {"signal_fetch", r->signal_fetch_json},
              {"candidates", r->candidates_json},
              {"session.bindings", r->session.bindings_json},
              {"session.handoff", r->session.handoff_json},
              {"attempts", r->attempts_json},
              {"plugins", r->plugins_json},
              {"warnings", r->warnings_json}};
    /* in REPLAY_FRAG_* order */
    for (size_t i = 0; i < sizeof js / sizeof js[0]; i++) {
        bool c;
        if (!json_ok(js[i].v, &c)) {
            set_err(err, "replay record field '%s' is not valid JSON text", js[i].name);
            if (clean) *clean = 0;
            return REPLAY_EINVAL;
        }
        if (c && clean) *clean |= 1u << i;
    }
    return REPLAY_OK;
}

/* ---- rendering --------------------------------------------------------- */

/* Two digits / n digits of v at p (v < 10^n). */
static void put_digits(char *p, unsigned v, int n)
{
    for (int i = n - 1; i >= 0; i--) {
        p[i] = (char)('0' + v % 10);
        v /= 10;
    }
}

/* "hh:mm:ss.mmmZ" of second-of-day sod and the ms at out + 11, after the
 * date's "T". */
static void put_clock(char *out, unsigned sod, unsigned msec)
{
    out[10] = 'T';
    put_digits(out + 11, sod / 3600u, 2);
    out[13] = ':';
    put_digits(out + 14, sod / 60u % 60u, 2);
    out[16] = ':';
    put_digits(out + 17, sod % 60u, 2);
    out[19] = '.';
    put_digits(out + 20, msec, 3);
    out[23] = 'Z';
    out[24] = 0;
}

void replay_time_format(uint64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    /* the last day gmtime_r gave, per thread: the writer formats one time
     * per record, nearly all on the same day, and gmtime_r costs more than
     * the rest. A day is remembered only when gmtime_r says it holds
     * 86,400 seconds from 00:00:00 to 23:59:59 (a time zone file with leap
     * seconds may say otherwise), so the bytes are gmtime_r's */
    static __thread time_t day_start = 1, day_end = 0; /* [start, end) */
    static __thread char day_date[10];
    if (t >= day_start && t < day_end) {
        memcpy(out, day_date, 10);
        put_clock(out, (unsigned)(t - day_start), (unsigned)(ms % 1000));
        return;
    }
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
        put_clock(out, (unsigned)(tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec),
                  (unsigned)(ms % 1000));
        time_t start = t - (tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec), last = start + 86399;
        struct tm e;
        if (tm.tm_sec < 60 && gmtime_r(&last, &e) && e.tm_mday == tm.tm_mday &&
            e.tm_mon == tm.tm_mon && e.tm_year == tm.tm_year && e.tm_hour == 23 && e.tm_min == 59 &&
            e.tm_sec == 59) {
            struct tm s0;
            if (gmtime_r(&start, &s0) && s0.tm_mday == tm.tm_mday && s0.tm_hour == 0 &&
                s0.tm_min == 0 && s0.tm_sec == 0) {
                memcpy(day_date, out, 10);
                day_start = start;
                day_end = start + 86400;
            }
        }
        return;
    }
    char tmp[96]; /* wide enough for any int the compiler imagines */
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", year, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000));
    snprintf(out, 32, "%.31s", tmp);
}

/* The renderer writes ~60 members per record on the writer thread; keys are
 * literals (no escaping needed), so each member is a capacity check and a
 * copy (buf_reserve only when the bytes do not fit). */
static inline void room(buf_t *b, size_t n)
{
    if (b->len + n + 1 > b->cap) buf_reserve(b, n);
}

static inline void put_raw(buf_t *b, const char *s, size_t n)
{
    room(b, n);
    memcpy(b->data + b->len, s, n);
    b->len += n;
    b->data[b->len] = 0;
}

/* lit is "\"name\":" of length n. */
static inline void key_lit(buf_t *b, bool *first, const char *lit, size_t n)
{
    room(b, n + 1);
    if (!*first) b->data[b->len++] = ',';
    *first = false;
    memcpy(b->data + b->len, lit, n);
    b->len += n;
    b->data[b->len] = 0;
}
#define KEY(b, first, k) key_lit((b), (first), "\"" k "\":", sizeof("\"" k "\":") - 1)

/* A byte of the 8 in x is < 0x20, '"' or '\\': each test is the exact
 * "some byte is zero / below k" bit trick (a borrow can only mark bytes
 * above a byte that matched, so the answer for the word is exact). */
static inline bool esc8(uint64_t x)
{
    const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
    uint64_t q = x ^ (ones * '"'), b = x ^ (ones * '\\');
    return (((x - ones * 0x20) & ~x) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high;
}

static inline uint64_t load8(const char *s)
{
    uint64_t x;
    memcpy(&x, s, 8);
    return x;
}

/* True when s[0..n) holds a byte JSON must escape (< 0x20, '"', '\\'):
 * 16 bytes at a time, the last block overlapping the one before, 8 at a
 * time (two overlapping words) under 16, a byte at a time under 8. */
static bool needs_escape(const char *s, size_t n)
{
    if (n < 8) {
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c < 0x20 || c == '"' || c == '\\') return true;
        }
        return false;
    }
#ifdef __SSE2__
    if (n >= 16) {
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), ctl = _mm_set1_epi8(0x1f);
        for (size_t i = 0;; i += 16) {
            if (i + 16 > n) i = n - 16; /* the tail: overlaps what was checked */
            __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
            /* unsigned c <= 0x1f: min(c, 0x1f) == c */
            __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, bs)),
                                     _mm_cmpeq_epi8(_mm_min_epu8(x, ctl), x));
            if (_mm_movemask_epi8(m)) return true;
            if (i + 16 >= n) return false;
        }
    }
#endif
    for (size_t i = 0;; i += 8) {
        if (i + 8 > n) i = n - 8;
        if (esc8(load8(s + i))) return true;
        if (i + 8 >= n) return false;
    }
}

/* A JSON string: one copy when nothing needs escaping (the usual case),
 * buf_json_str otherwise (the same bytes either way). */
static void put_str(buf_t *b, const char *s, size_t n)
{
    if (needs_escape(s, n)) {
        buf_json_str(b, s, n);
        return;
    }
    room(b, n + 2);
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
    if (!isfinite(v)) {
        put_raw(b, "null", 4);
    } else if (v == 0) {
        put_raw(b, "0", 1); /* buf_num's bytes for 0 and -0 */
    } else if (v >= -1e9 && v <= 1e9 && v == (double)(int64_t)v) {
        /* an integer: buf_num's fixed point (|v| * 1e6 exact below 2^53,
         * no fraction) gives its decimal digits, as put_int */
        put_int(b, (int64_t)v);
    } else {
        buf_num(b, v);
    }
}

static void put_frag(buf_t *b, const char *v, const char *dflt)
{
    const char *s = v && *v ? v : dflt;
    put_raw(b, s, strlen(s));
}

void replay_record_render_bodies(const replay_record_t *r, buf_t *out)
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
    replay_time_format(r->created_at_ms, ts);
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
        replay_record_render_bodies(r, b);
    }
    buf_putc(b, '}');
}

void replay_record_render(const replay_record_t *r, bool with_bodies, buf_t *b)
{
    render(r, with_bodies, b, NULL);
}

void replay_record_render_cut(const replay_record_t *r, replay_render_cut_t *cut, buf_t *b)
{
    cut->trace = cut->trace && r->decision_trace_json && *r->decision_trace_json;
    cut->candidates = cut->candidates && r->candidates_json && *r->candidates_json;
    cut->trace_at = cut->candidates_at = 0;
    render(r, false, b, cut);
}
