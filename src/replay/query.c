/* query.c - replay queries as JSON text: the filtered, cursor-paged list
 * (newest first), one record by id (bodies for admins), the per-session
 * timeline, and the parsing of `since` and of a URL query string. Built on
 * replay_store_scan (store.h); used by the management API and by
 * `tether replay` (src/cli/replay.c). */
#include "replay/query.h"
#include "json/scan.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void set_err(buf_t *err, const char *msg, const char *arg)
{
    if (!err) return;
    buf_reset(err);
    buf_printf(err, msg, arg ? arg : "");
}

/* cursor: "<created_at_ms>.<id>" */
static int parse_cursor(const char *c, replay_filter_t *f, buf_t *err)
{
    char *end = NULL;
    unsigned long long ms = strtoull(c, &end, 10);
    if (end == c || *end != '.' || !replay_id_valid(end + 1)) {
        set_err(err, "malformed cursor '%s' (pass next_cursor from the previous page unchanged)",
                c);
        return REPLAY_EINVAL;
    }
    f->has_cursor = true;
    f->before_ms = ms;
    f->before_id = end + 1;
    return REPLAY_OK;
}

static size_t eff_limit(size_t l)
{
    return l == 0 ? REPLAY_LIMIT_DEFAULT : l > REPLAY_LIMIT_MAX ? REPLAY_LIMIT_MAX : l;
}

static int to_filter(const replay_query_t *q, replay_filter_t *f, buf_t *err)
{
    memset(f, 0, sizeof *f);
    f->session_id = q->session_id && *q->session_id ? q->session_id : NULL;
    f->decision = q->decision && *q->decision ? q->decision : NULL;
    f->model = q->model && *q->model ? q->model : NULL;
    f->reason = q->reason && *q->reason ? q->reason : NULL;
    f->since_ms = q->since_ms;
    if (q->cursor && *q->cursor && parse_cursor(q->cursor, f, err)) return REPLAY_EINVAL;
    /* until: a cursor just past it ("older than (until + 1 ms, '')"), unless
     * the page's own cursor is already older */
    if (q->until_ms && (!f->has_cursor || f->before_ms > q->until_ms)) {
        f->has_cursor = true;
        f->before_ms = q->until_ms + 1;
        f->before_id = "";
    }
    return REPLAY_OK;
}

/* A stored text the API may splice into its answer as it is. Rows come back
 * from Redis or Postgres as the text they hold, which another writer (or a
 * torn write) may have left as anything; one such row must not make the
 * whole answer invalid JSON. The scanner first, cJSON for what it is
 * stricter about (the writer's own check, record.c). */
static bool stored_json_ok(const char *s)
{
    if (!s || !*s) return false;
    size_t n = strlen(s);
    if (jscan_validate(s, n, NULL) == 0) return true;
    const char *end = NULL; /* nothing may follow the value: n + 1 takes the NUL in */
    cJSON *j = cJSON_ParseWithLengthOpts(s, n + 1, &end, true);
    cJSON_Delete(j);
    return j != NULL;
}

typedef struct {
    buf_t *out;
    size_t n, limit;
    uint64_t last_ms;
    char last_id[REPLAY_ID_LEN + 1];
    bool more;
} list_ctx_t;

static bool list_cb(void *p, const replay_row_t *r)
{
    list_ctx_t *c = p;
    if (c->n == c->limit) { /* the probe row: there is another page */
        c->more = true;
        return false;
    }
    if (!stored_json_ok(r->json)) return true; /* not a record: skipped */
    if (c->n) buf_putc(c->out, ',');
    buf_puts(c->out, r->json);
    c->n++;
    c->last_ms = r->created_at_ms;
    snprintf(c->last_id, sizeof c->last_id, "%s", r->id ? r->id : "");
    return true;
}

int replay_query_list(replay_store_t *s, const replay_query_t *q, buf_t *out, buf_t *err)
{
    replay_filter_t f;
    int rc = to_filter(q, &f, err);
    if (rc) return rc;
    list_ctx_t c = {.out = out, .limit = eff_limit(q->limit)};
    f.limit = c.limit + 1;
    size_t mark = out->len;
    buf_puts(out, "{\"records\":[");
    rc = replay_store_scan(s, &f, list_cb, &c, err);
    if (rc) {
        out->len = mark;
        if (out->data) out->data[mark] = 0;
        return rc;
    }
    buf_printf(out, "],\"count\":%zu,\"next_cursor\":", c.n);
    if (c.more)
        buf_printf(out, "\"%llu.%s\"}", (unsigned long long)c.last_ms, c.last_id);
    else
        buf_puts(out, "null}");
    return REPLAY_OK;
}

typedef struct {
    size_t n, limit;
    replay_row_cb cb;
    void *ctx;
} rows_ctx_t;

static bool rows_cb(void *p, const replay_row_t *r)
{
    rows_ctx_t *c = p;
    if (c->n++ == c->limit) return false;
    return c->cb(c->ctx, r);
}

int replay_query_rows(replay_store_t *s, const replay_query_t *q, replay_row_cb cb, void *ctx,
                      buf_t *err)
{
    replay_filter_t f;
    int rc = to_filter(q, &f, err);
    if (rc) return rc;
    /* The CLI's export passes SIZE_MAX as limit: everything. */
    rows_ctx_t c = {
        .limit = q->limit == SIZE_MAX ? SIZE_MAX : eff_limit(q->limit), .cb = cb, .ctx = ctx};
    f.limit = c.limit == SIZE_MAX ? 0 : c.limit;
    return replay_store_scan(s, &f, rows_cb, &c, err);
}

typedef struct {
    buf_t *out;
    bool with_bodies, found;
} get_ctx_t;

static bool get_cb(void *p, const replay_row_t *r)
{
    get_ctx_t *c = p;
    if (!stored_json_ok(r->json)) return false; /* not a record: not found */
    c->found = true;
    size_t n = strlen(r->json);
    if (c->with_bodies && r->bodies_json && n >= 2 && r->json[n - 1] == '}' &&
        stored_json_ok(r->bodies_json)) {
        buf_append(c->out, r->json, n - 1);
        buf_puts(c->out, ",\"bodies\":");
        buf_puts(c->out, r->bodies_json);
        buf_putc(c->out, '}');
    } else {
        buf_append(c->out, r->json, n);
    }
    return false;
}

int replay_query_get(replay_store_t *s, const char *id, bool with_bodies, buf_t *out, buf_t *err)
{
    if (!replay_id_valid(id)) {
        set_err(err, "'%s' is not a replay id (rr_ followed by 24 hex digits)", id);
        return REPLAY_ENOTFOUND;
    }
    replay_filter_t f = {.id = id, .limit = 1};
    get_ctx_t c = {.out = out, .with_bodies = with_bodies};
    int rc = replay_store_scan(s, &f, get_cb, &c, err);
    if (rc) return rc;
    if (!c.found) {
        set_err(err, "no replay record '%s'", id);
        return REPLAY_ENOTFOUND;
    }
    return REPLAY_OK;
}

/* ---- timeline ---------------------------------------------------------- */

static char *dup0(const char *s)
{
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

static bool turns_cb(void *p, const replay_row_t *r)
{
    replay_turns_t *c = p;
    if (c->n == REPLAY_TIMELINE_MAX) {
        c->truncated = true;
        return false;
    }
    if (c->n == c->cap) {
        c->cap = c->cap ? c->cap * 2 : 32;
        c->v = realloc(c->v, c->cap * sizeof *c->v);
        if (!c->v) abort();
    }
    c->v[c->n++] = (replay_turn_t){r->created_at_ms,
                                   r->turn,
                                   r->switched,
                                   dup0(r->id),
                                   dup0(r->decision),
                                   dup0(r->model),
                                   dup0(r->reason),
                                   dup0(r->phase),
                                   c->bodies ? dup0(r->bodies_json) : NULL,
                                   c->extra ? c->extra(r->json) : NULL};
    return true;
}

/* Oldest first by time, and by turn within one millisecond (two turns of
 * a fast session can share a timestamp). */
static int turns_cmp_oldest_first(const void *a, const void *b)
{
    const replay_turn_t *x = a, *y = b;
    if (x->ms != y->ms) return x->ms > y->ms ? 1 : -1;
    if (x->turn != y->turn) return x->turn > y->turn ? 1 : -1;
    return 0;
}

int replay_turns_collect(replay_store_t *s, const char *session_id, replay_turns_t *t, buf_t *err)
{
    replay_filter_t f = {.session_id = session_id, .limit = REPLAY_TIMELINE_MAX + 1};
    int rc = replay_store_scan(s, &f, turns_cb, t, err);
    if (rc == REPLAY_OK && t->n > 1) qsort(t->v, t->n, sizeof *t->v, turns_cmp_oldest_first);
    return rc;
}

void replay_turns_free(replay_turns_t *t)
{
    for (size_t i = 0; i < t->n; i++) {
        replay_turn_t *x = &t->v[i];
        free(x->id);
        free(x->decision);
        free(x->model);
        free(x->reason);
        free(x->phase);
        free(x->bodies);
        free(x->extra);
    }
    free(t->v);
    t->v = NULL;
    t->n = t->cap = 0;
}

static void put_item(buf_t *b, const char *k, const cJSON *v, const char *dflt)
{
    buf_printf(b, ",\"%s\":", k);
    char *t = v ? cJSON_PrintUnformatted(v) : NULL;
    buf_puts(b, t ? t : dflt);
    cJSON_free(t);
}

/* The per-turn detail of the timeline, from the stored record: the lock,
 * the switch terms (with the chosen model's candidate entry), the outcome
 * and its cost. */
static char *tl_extra(const char *json)
{
    cJSON *doc = json ? cJSON_Parse(json) : NULL;
    const cJSON *ss = cJSON_GetObjectItemCaseSensitive(doc, "session");
    const cJSON *model = cJSON_GetObjectItemCaseSensitive(doc, "model");
    buf_t b = BUF_INIT;
    put_item(&b, "lock", cJSON_GetObjectItemCaseSensitive(ss, "hard_lock"), "null");
    put_item(&b, "previous_model", cJSON_GetObjectItemCaseSensitive(ss, "previous_model"), "null");
    buf_puts(&b, ",\"switch_terms\":{");
    static const char *const terms[] = {"continuation_mass", "cache_warmth", "switch_count",
                                        "idle_for_s",        "idle_reset",   "drift_reset",
                                        "decision_inherited"};
    for (size_t i = 0; i < sizeof terms / sizeof *terms; i++) {
        buf_printf(&b, "%s\"%s\":", i ? "," : "", terms[i]);
        const cJSON *v = cJSON_GetObjectItemCaseSensitive(ss, terms[i]);
        char *t = v ? cJSON_PrintUnformatted(v) : NULL;
        buf_puts(&b, t ? t : "null");
        cJSON_free(t);
    }
    const cJSON *cand = NULL, *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItemCaseSensitive(doc, "candidates"))
    {
        const cJSON *m = cJSON_GetObjectItemCaseSensitive(c, "model");
        if (cJSON_IsString(m) && cJSON_IsString(model) &&
            !strcmp(m->valuestring, model->valuestring))
            cand = c;
    }
    put_item(&b, "candidate", cand, "null");
    buf_putc(&b, '}');
    put_item(&b, "handoff", cJSON_GetObjectItemCaseSensitive(ss, "handoff"), "null");
    put_item(&b, "status", cJSON_GetObjectItemCaseSensitive(doc, "status"), "null");
    put_item(&b, "usage", cJSON_GetObjectItemCaseSensitive(doc, "usage"), "null");
    put_item(&b, "cost", cJSON_GetObjectItemCaseSensitive(doc, "cost"), "null");
    cJSON_Delete(doc);
    return buf_steal(&b);
}

int replay_query_timeline(replay_store_t *s, const char *session_id, const char *memory_json,
                          buf_t *out, buf_t *err)
{
    if (!session_id || !*session_id) {
        set_err(err, "a session id is required%s", NULL);
        return REPLAY_EINVAL;
    }
    replay_turns_t c = {.extra = tl_extra};
    int rc = replay_turns_collect(s, session_id, &c, err);
    if (rc == REPLAY_OK) {
        buf_puts(out, "{\"session_id\":");
        buf_json_str(out, session_id, strlen(session_id));
        buf_puts(out, ",\"memory\":");
        buf_puts(out, memory_json && *memory_json ? memory_json : "null");
        buf_printf(out, ",\"turns\":%zu,\"truncated\":%s,\"timeline\":[", c.n,
                   c.truncated ? "true" : "false");
        for (size_t k = 0; k < c.n; k++) {
            const replay_turn_t *t = &c.v[k];
            char ts[32];
            replay_time_format(t->ms, ts);
            buf_printf(out, "%s{\"turn\":%lld,\"time\":\"%s\",\"decision\":", k ? "," : "",
                       (long long)t->turn, ts);
            buf_json_cstr(out, t->decision);
            buf_puts(out, ",\"model\":");
            buf_json_cstr(out, t->model);
            buf_printf(out, ",\"switched\":%s,\"reason\":", t->switched ? "true" : "false");
            buf_json_cstr(out, t->reason);
            buf_puts(out, ",\"phase\":");
            buf_json_cstr(out, t->phase);
            buf_puts(out, ",\"replay_id\":");
            buf_json_cstr(out, t->id);
            if (t->extra) buf_puts(out, t->extra);
            buf_putc(out, '}');
        }
        buf_puts(out, "]}");
    }
    replay_turns_free(&c);
    return rc;
}

/* ---- parameters -------------------------------------------------------- */

static int digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i])) return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

int replay_query_parse_since(const char *s, uint64_t now_ms, uint64_t *out_ms)
{
    if (!s || !*s) goto bad;
    size_t n = strlen(s);
    /* an age: 90s, 15m, 2h, 7d */
    char unit = s[n - 1];
    if (n >= 2 && strchr("smhd", unit)) {
        bool all = true;
        for (size_t i = 0; i + 1 < n; i++)
            all &= isdigit((unsigned char)s[i]) != 0;
        if (all) {
            uint64_t v = strtoull(s, NULL, 10);
            uint64_t mul = unit == 's'   ? 1000
                           : unit == 'm' ? 60000
                           : unit == 'h' ? 3600000
                                         : 86400000;
            uint64_t age = v * mul;
            *out_ms = age >= now_ms ? 0 : now_ms - age;
            return REPLAY_OK;
        }
    }
    /* Unix seconds or milliseconds */
    bool numeric = true;
    for (size_t i = 0; i < n; i++)
        numeric &= isdigit((unsigned char)s[i]) != 0;
    if (numeric) {
        uint64_t v = strtoull(s, NULL, 10);
        *out_ms = v >= 100000000000ull ? v : v * 1000; /* >= 1e11: already ms */
        return REPLAY_OK;
    }
    /* RFC 3339 or a date */
    int Y, M, D, h = 0, m = 0, sec = 0;
    if (n < 10 || digits(s, 4, &Y) || s[4] != '-' || digits(s + 5, 2, &M) || s[7] != '-' ||
        digits(s + 8, 2, &D))
        goto bad;
    const char *p = s + 10;
    unsigned frac_ms = 0;
    long off_s = 0;
    if (*p == 'T' || *p == 't' || *p == ' ') {
        if (strlen(p) < 9 || digits(p + 1, 2, &h) || p[3] != ':' || digits(p + 4, 2, &m) ||
            p[6] != ':' || digits(p + 7, 2, &sec))
            goto bad;
        p += 9;
        if (*p == '.') {
            p++;
            unsigned scale = 100;
            if (!isdigit((unsigned char)*p)) goto bad;
            while (isdigit((unsigned char)*p)) {
                frac_ms += (unsigned)(*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
        if (*p == 'Z' || *p == 'z')
            p++;
        else if (*p == '+' || *p == '-') {
            int oh, om;
            if (strlen(p) != 6 || digits(p + 1, 2, &oh) || p[3] != ':' || digits(p + 4, 2, &om))
                goto bad;
            off_s = (oh * 3600L + om * 60L) * (*p == '+' ? 1 : -1);
            p += 6;
        } else
            goto bad;
    }
    if (*p || M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60) goto bad;
    struct tm tm = {.tm_year = Y - 1900,
                    .tm_mon = M - 1,
                    .tm_mday = D,
                    .tm_hour = h,
                    .tm_min = m,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t < 0 || (long)t < off_s) goto bad;
    *out_ms = (uint64_t)(t - off_s) * 1000 + frac_ms;
    return REPLAY_OK;
bad:
    return REPLAY_EINVAL;
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static char *url_decode(arena_t *a, const char *s, size_t n)
{
    char *o = arena_alloc(a, n + 1), *w = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '+')
            *w++ = ' ';
        else if (s[i] == '%' && i + 2 < n && hexv(s[i + 1]) >= 0 && hexv(s[i + 2]) >= 0) {
            *w++ = (char)(hexv(s[i + 1]) * 16 + hexv(s[i + 2]));
            i += 2;
        } else
            *w++ = s[i];
    }
    *w = 0;
    return o;
}

int replay_query_from_params(const char *qs, size_t len, uint64_t now_ms, arena_t *arena,
                             replay_query_t *q, buf_t *err)
{
    memset(q, 0, sizeof *q);
    size_t i = 0;
    if (len && qs[0] == '?') i = 1;
    while (i < len) {
        size_t e = i;
        while (e < len && qs[e] != '&')
            e++;
        size_t eqp = i;
        while (eqp < e && qs[eqp] != '=')
            eqp++;
        char *k = url_decode(arena, qs + i, eqp - i);
        char *v = url_decode(arena, qs + (eqp < e ? eqp + 1 : e), eqp < e ? e - eqp - 1 : 0);
        if (!strcmp(k, "session_id"))
            q->session_id = v;
        else if (!strcmp(k, "decision"))
            q->decision = v;
        else if (!strcmp(k, "model"))
            q->model = v;
        else if (!strcmp(k, "reason")) {
            if (*v && !replay_reason_valid(v)) {
                set_err(err,
                        "unknown reason '%s' (cold_start, stay_best_adjusted, switch_allowed, "
                        "hard_lock_tool_loop, hard_lock_provider_state, hard_lock_min_turns, "
                        "idle_reset, drift_reset, forced_handoff, passthrough, no_session)",
                        v);
                return REPLAY_EINVAL;
            }
            q->reason = v;
        } else if (!strcmp(k, "since")) {
            if (*v && replay_query_parse_since(v, now_ms, &q->since_ms)) {
                set_err(err,
                        "since '%s' is not Unix seconds/ms, an RFC 3339 time, a date or an age "
                        "like 15m, 2h, 7d",
                        v);
                return REPLAY_EINVAL;
            }
        } else if (!strcmp(k, "until")) {
            if (*v && replay_query_parse_since(v, now_ms, &q->until_ms)) {
                set_err(err,
                        "until '%s' is not Unix seconds/ms, an RFC 3339 time, a date or an age "
                        "like 15m, 2h, 7d",
                        v);
                return REPLAY_EINVAL;
            }
        } else if (!strcmp(k, "limit")) {
            char *end = NULL;
            long long l = strtoll(v, &end, 10);
            if (!*v || *end || l < 1) {
                set_err(err, "limit '%s' is not a positive integer (default 50, max 1000)", v);
                return REPLAY_EINVAL;
            }
            q->limit = (size_t)l;
        } else if (!strcmp(k, "cursor")) {
            q->cursor = v;
        } else if (!strcmp(k, "baseline_model")) {
            q->baseline_model = *v ? v : NULL;
        }
        i = e + 1;
    }
    if (q->cursor && *q->cursor) {
        replay_filter_t f;
        if (parse_cursor(q->cursor, &f, err)) return REPLAY_EINVAL;
    }
    return REPLAY_OK;
}
