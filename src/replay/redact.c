/* redact.c - credential and PII masking for replay records (SPEC §9.9).
 * One pass finds credential spans (secret JSON members, header lines, bearer
 * tokens, and the API-key shapes of signals/pii_recognizers), merges them and
 * writes "<redacted>" over each; a second pass, only with redact on, masks
 * PII entities as [TYPE] with pii_scan / pii_mask. Runs in the replay writer
 * thread (queue.c). */
#include "replay/redact.h"

#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "replay/frag_check.h"
#include "replay/frag_memo.h"
#include "signals/pii_recognizers.h"

typedef struct {
    size_t start, end;
} span_t;

typedef struct {
    span_t *v;
    size_t n, cap;
} spans_t;

static void add_span(spans_t *s, size_t a, size_t b)
{
    if (b <= a) return;
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        s->v = realloc(s->v, s->cap * sizeof *s->v);
        if (!s->v) abort();
    }
    s->v[s->n++] = (span_t){a, b};
}

static bool ends_with_ci(const char *s, size_t n, const char *suf)
{
    size_t k = strlen(suf);
    return n >= k && !strncasecmp(s + n - k, suf, k);
}

static bool eq_ci(const char *s, size_t n, const char *w)
{
    return strlen(w) == n && !strncasecmp(s, w, n);
}

bool replay_redact_is_secret_name(const char *name, size_t n)
{
    /* every name below ends in y, n, d, t or e: one look at the last byte
     * turns away nearly every member name a fragment holds */
    if (!n || !memchr("yndtYNDTeE", name[n - 1], 10)) return false;
    static const char *const exact[] = {
        "authorization", "proxy-authorization", "x-api-key", "api-key", "cookie", "set-cookie"};
    for (size_t i = 0; i < sizeof exact / sizeof exact[0]; i++)
        if (eq_ci(name, n, exact[i])) return true;
    return ends_with_ci(name, n, "key") || ends_with_ci(name, n, "token") ||
           ends_with_ci(name, n, "password") || ends_with_ci(name, n, "secret");
}

/* Header names whose "Name: value" lines are masked in plain text. */
static bool is_header_name(const char *name, size_t n)
{
    if (!n || !memchr("nyeNYE", name[n - 1], 6)) return false; /* see is_secret_name */
    return eq_ci(name, n, "authorization") || eq_ci(name, n, "proxy-authorization") ||
           eq_ci(name, n, "x-api-key") || eq_ci(name, n, "api-key") || eq_ci(name, n, "cookie");
}

/* End of a JSON string literal starting at s[i] == '"' (index of the closing
 * quote), or n when unterminated. */
static size_t str_end(const char *s, size_t n, size_t i)
{
    for (size_t k = i + 1; k < n; k++) {
        if (s[k] == '\\')
            k++;
        else if (s[k] == '"')
            return k;
    }
    return n;
}

static size_t skip_ws(const char *s, size_t n, size_t i)
{
    while (i < n && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n'))
        i++;
    return i;
}

static bool is_name_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
}

static bool is_token_char(char c)
{
    return is_name_char(c) || c == '.' || c == '~' || c == '+' || c == '/' || c == '=';
}

/* JSON members "secret-name": "value" -> the value's content. */
static void find_json_members(const char *s, size_t n, spans_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != '"') continue;
        size_t e = str_end(s, n, i);
        if (e >= n) return;
        size_t k = skip_ws(s, n, e + 1);
        if (k < n && s[k] == ':' && replay_redact_is_secret_name(s + i + 1, e - i - 1)) {
            size_t v = skip_ws(s, n, k + 1);
            if (v < n && s[v] == '"') {
                size_t ve = str_end(s, n, v);
                add_span(out, v + 1, ve);
                i = ve < n ? ve : n;
                continue;
            }
        }
        i = e;
    }
}

/* Plain-text header lines "Authorization: value" -> value to end of line. */
static void find_header_lines(const char *s, size_t n, spans_t *out)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] != ':' || i == 0) continue;
        size_t a = i;
        while (a > 0 && is_name_char(s[a - 1]))
            a--;
        if (a == i || !is_header_name(s + a, i - a)) continue;
        size_t v = i + 1;
        while (v < n && (s[v] == ' ' || s[v] == '\t'))
            v++;
        if (v < n && s[v] == '"') continue; /* JSON member: find_json_members */
        size_t e = v;
        while (e < n && !memchr("\r\n\"'\\", s[e], 5))
            e++; /* to end of line or quote */
        add_span(out, v, e);
        i = e;
    }
}

/* "Bearer <token>" anywhere -> the token. */
static void find_bearer(const char *s, size_t n, spans_t *out)
{
    for (size_t i = 0; i + 7 < n; i++) {
        if ((s[i] != 'B' && s[i] != 'b') || (s[i + 1] | 0x20) != 'e' ||
            strncasecmp(s + i, "bearer", 6))
            continue;
        if (i > 0 && is_name_char(s[i - 1])) continue;
        size_t v = i + 6;
        if (s[v] != ' ' && s[v] != '\t') continue;
        while (v < n && (s[v] == ' ' || s[v] == '\t'))
            v++;
        size_t e = v;
        while (e < n && is_token_char(s[e]))
            e++;
        if (e - v >= 8) add_span(out, v, e);
        i = e > i ? e - 1 : i;
    }
}

static void find_key_shapes(const char *s, size_t n, spans_t *out)
{
    pii_entity_t ents[64];
    pii_opts_t o = {.types = PII_TYPE_BIT(PII_API_KEY)};
    size_t off = 0;
    while (off < n) {
        size_t k = pii_scan(s + off, n - off, ents, 64, &o);
        for (size_t i = 0; i < k; i++)
            add_span(out, off + ents[i].start, off + ents[i].start + ents[i].len);
        if (k < 64) break;
        off += ents[k - 1].start + ents[k - 1].len;
    }
}

static int span_cmp(const void *a, const void *b)
{
    const span_t *x = a, *y = b;
    return x->start < y->start ? -1 : x->start > y->start ? 1 : 0;
}

static void mask_credentials(const char *s, size_t n, buf_t *out)
{
    spans_t sp = {0};
    find_json_members(s, n, &sp);
    find_header_lines(s, n, &sp);
    find_bearer(s, n, &sp);
    find_key_shapes(s, n, &sp);
    if (sp.n) qsort(sp.v, sp.n, sizeof *sp.v, span_cmp);
    size_t at = 0;
    for (size_t i = 0; i < sp.n; i++) {
        span_t x = sp.v[i];
        while (i + 1 < sp.n && sp.v[i + 1].start <= x.end) {
            if (sp.v[i + 1].end > x.end) x.end = sp.v[i + 1].end;
            i++;
        }
        if (x.start < at) x.start = at;
        buf_append(out, s + at, x.start - at);
        if (x.end > x.start) buf_puts(out, REPLAY_REDACTED);
        at = x.end > at ? x.end : at;
    }
    buf_append(out, s + at, n - at);
    free(sp.v);
}

static void mask_pii(const char *s, size_t n, buf_t *out)
{
    pii_entity_t ents[128];
    size_t off = 0;
    while (off < n) {
        size_t k = pii_scan(s + off, n - off, ents, 128, NULL);
        if (k < 128) {
            pii_mask(s + off, n - off, ents, k, out);
            return;
        }
        size_t stop = ents[k - 1].start + ents[k - 1].len;
        pii_mask(s + off, stop, ents, k, out);
        off += stop;
    }
}

void replay_redact_text(const char *s, size_t n, bool pii, buf_t *out)
{
    if (!s || !n) return;
    if (!pii) {
        mask_credentials(s, n, out);
        return;
    }
    buf_t tmp = BUF_INIT;
    mask_credentials(s, n, &tmp);
    mask_pii(tmp.data, tmp.len, out);
    buf_free(&tmp);
}

static void redact_body(replay_record_t *r, char **body, size_t *len, bool pii)
{
    if (!*body) return;
    buf_t b = BUF_INIT;
    replay_redact_text(*body, *len, pii, &b);
    replay_record_clear(r, body);
    *len = b.len;
    *body = b.data ? buf_steal(&b) : strdup("");
    if (!*body) abort();
}

/* The routing fragments are rendered by tether from config names, enum names
 * and numbers; a credential can only reach them through a misconfigured name
 * or an error text. frag_check.c's one pass answers whether the credential
 * scan could find anything at all (a secret name before '"' or ':', a
 * bearer scheme, a key prefix, a long token): the common fragment then costs
 * that pass instead of the whole scan, with the same result. */
static void redact_fragment(replay_record_t *r, char **frag)
{
    if (!*frag || !**frag) return;
    size_t n = strlen(*frag);
    /* checked clean already (record.c's validation remembers it) */
    if (replay_frag_memo_clean(*frag, n) || !replay_frag_may_hold_secret(*frag, n)) return;
    buf_t b = BUF_INIT;
    mask_credentials(*frag, n, &b);
    if (b.len == n && !memcmp(b.data, *frag, n)) { /* nothing found: keep as is */
        buf_free(&b);
        return;
    }
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(b.data, b.len + 1, &end, true); /* +1: the NUL */
    replay_record_clear(r, frag);
    if (j) {
        cJSON_Delete(j);
        *frag = buf_steal(&b);
    } else {
        buf_free(&b);
        *frag = strdup("\"" REPLAY_REDACTED "\"");
        if (!*frag) abort();
    }
}

void replay_redact_record_clean(replay_record_t *r, bool pii, unsigned clean)
{
    redact_body(r, &r->request_body, &r->request_body_len, pii);
    redact_body(r, &r->response_body, &r->response_body_len, pii);
    const struct {
        char **f;
        unsigned bit;
    } frags[] = {{&r->decision_trace_json, REPLAY_FRAG_DECISION_TRACE},
                 {&r->signals_json, REPLAY_FRAG_SIGNALS},
                 {&r->candidates_json, REPLAY_FRAG_CANDIDATES},
                 {&r->session.bindings_json, REPLAY_FRAG_BINDINGS},
                 {&r->session.handoff_json, REPLAY_FRAG_HANDOFF},
                 {&r->attempts_json, REPLAY_FRAG_ATTEMPTS},
                 {&r->plugins_json, REPLAY_FRAG_PLUGINS},
                 {&r->warnings_json, REPLAY_FRAG_WARNINGS}};
    for (size_t i = 0; i < sizeof frags / sizeof frags[0]; i++)
        if (!(clean >> frags[i].bit & 1)) redact_fragment(r, frags[i].f);
}

void replay_redact_record(replay_record_t *r, bool pii)
{
    replay_redact_record_clean(r, pii, 0);
}
