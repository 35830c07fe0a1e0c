/* forward_headers.c - the upstream request head and the choice of the
 * client's headers that reach a backend (rules in forward_headers.h).
 * Caller: build_head in attempt.c (the adapter fills path and protocol). Every
 * line this file writes goes through emit(), which refuses a name that is
 * not a token and a value with a control byte, so neither the client, the
 * config nor a plugin can split the head or smuggle a second body length. */
#include "upstream/forward_headers.h"
#include <stdint.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

typedef struct lit {
    const char *s;
    size_t len;
} lit_t;
#define LIT(x)                                                                                     \
    {                                                                                              \
        x, sizeof x - 1                                                                            \
    }

/* The 8 bytes of x with 'A'..'Z' lowered (every other byte, 0x80 and
 * above included, unchanged): bit 7 marks the bytes at or above 'A' and at
 * or above '[' in two sums that cannot carry across bytes (each byte is
 * below 0x80 once its top bit is masked). */
static inline uint64_t lower8(uint64_t x)
{
    const uint64_t hi = 0x8080808080808080ull, lo7 = 0x7f7f7f7f7f7f7f7full;
    uint64_t v = x & lo7;
    uint64_t upper = (v + 0x3f3f3f3f3f3f3f3full) & ~(v + 0x2525252525252525ull) & ~x & hi;
    return x | upper >> 2;
}

static inline uint64_t load8(const char *p)
{
    uint64_t x;
    memcpy(&x, p, 8);
    return x;
}

static inline uint64_t load4(const char *p)
{
    uint32_t x;
    memcpy(&x, p, 4);
    return x;
}

/* ASCII case-insensitive equality of n bytes (header names are ASCII;
 * cheaper than the locale-aware strncasecmp on this per-header path): 8
 * bytes a step with lower8 (the last step overlapping the one before),
 * two 4-byte loads under 8; test_forward_headers checks it against
 * strncasecmp. */
static bool ascii_ieq(const char *a, const char *b, size_t n)
{
    if (n >= 8) {
        for (size_t i = 0; i + 8 < n; i += 8)
            if (lower8(load8(a + i)) != lower8(load8(b + i))) return false;
        /* n bytes of b exist (cppcheck assumes a shorter literal) */
        // cppcheck-suppress pointerOutOfBoundsCond
        return lower8(load8(a + n - 8)) == lower8(load8(b + n - 8));
    }
    if (n >= 4)
        return lower8(load4(a) | load4(a + n - 4) << 32) ==
               lower8(load4(b) | load4(b + n - 4) << 32);
    for (size_t i = 0; i < n; i++) {
        unsigned char x = (unsigned char)a[i], y = (unsigned char)b[i];
        if (x >= 'A' && x <= 'Z') x += 32;
        if (y >= 'A' && y <= 'Z') y += 32;
        if (x != y) return false;
    }
    return true;
}

/* Length first: most names differ in length, so few reach the compare. */
static bool name_is_lit(const char *name, size_t len, const lit_t *l)
{
    return len == l->len && ascii_ieq(name, l->s, len);
}

static bool name_is(const char *name, size_t len, const char *s)
{
    size_t n = strlen(s);
    return len == n && ascii_ieq(name, s, n);
}

static bool name_has_prefix(const char *name, size_t len, const lit_t *l)
{
    return len >= l->len && ascii_ieq(name, l->s, l->len);
}

static bool in_list(const char *name, size_t len, const lit_t *list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (name_is_lit(name, len, &list[i])) return true;
    return false;
}

static const lit_t PROXY_ = LIT("proxy-"), TETHER_ = LIT("x-tether-"),
                   ANTHROPIC_ = LIT("anthropic-"), CONNECTION = LIT("connection"),
                   AUTHORIZATION = LIT("authorization"), X_API_KEY = LIT("x-api-key"),
                   ANTHROPIC_VERSION = LIT("anthropic-version");

bool fwd_is_hop_by_hop(const char *name, size_t len)
{
    /* by length first: one or two compares per name instead of thirteen */
    static const lit_t hop2[] = {LIT("te")}, hop4[] = {LIT("host")}, hop6[] = {LIT("expect")},
                       hop7[] = {LIT("trailer"), LIT("upgrade")},
                       hop10[] = {LIT("connection"), LIT("keep-alive")},
                       hop12[] = {LIT("content-type"), LIT("x-request-id")},
                       hop14[] = {LIT("content-length")}, hop15[] = {LIT("accept-encoding")},
                       hop16[] = {LIT("content-encoding")}, hop17[] = {LIT("transfer-encoding")};
#define HOP(L)                                                                                     \
    case L:                                                                                        \
        if (in_list(name, len, hop##L, sizeof hop##L / sizeof *hop##L)) return true;               \
        break
    switch (len) {
        HOP(2);
        HOP(4);
        HOP(6);
        HOP(7);
        HOP(10);
        HOP(12);
        HOP(14);
        HOP(15);
        HOP(16);
        HOP(17);
    default: break;
    }
#undef HOP
    return name_has_prefix(name, len, &PROXY_) || name_has_prefix(name, len, &TETHER_);
}

bool fwd_is_credential(const char *name, size_t len)
{
    static const lit_t cred[] = {LIT("authorization"),  LIT("x-api-key"),
                                 LIT("cookie"),         LIT("api-key"),
                                 LIT("x-goog-api-key"), LIT("proxy-authorization")};
    return in_list(name, len, cred, sizeof cred / sizeof *cred);
}

/* RFC 9110 tchar: ALPHA / DIGIT / "!#$%&'*+-.^_`|~" */
static const unsigned char TCHAR[256] = {
    ['!'] = 1, ['#'] = 1, ['$'] = 1, ['%'] = 1,         ['&'] = 1,         ['\''] = 1,
    ['*'] = 1, ['+'] = 1, ['-'] = 1, ['.'] = 1,         ['^'] = 1,         ['_'] = 1,
    ['`'] = 1, ['|'] = 1, ['~'] = 1, ['0' ... '9'] = 1, ['A' ... 'Z'] = 1, ['a' ... 'z'] = 1,
};

bool fwd_valid_name(const char *name, size_t len)
{
    if (!name || !len) return false;
    for (size_t i = 0; i < len; i++)
        if (!TCHAR[(unsigned char)name[i]]) return false;
    return true;
}

bool fwd_valid_value(const char *value, size_t len)
{
    if (!value) return len == 0;
    size_t i = 0;
#ifdef __SSE2__
    /* 16 bytes a step: a byte <= 0x1f but tab, or 0x7f, fails */
    const __m128i c1f = _mm_set1_epi8(0x1f), tab = _mm_set1_epi8('\t'), del = _mm_set1_epi8(0x7f);
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(const void *)(value + i));
        __m128i ctl = _mm_cmpeq_epi8(_mm_min_epu8(v, c1f), v);
        ctl = _mm_or_si128(_mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl), _mm_cmpeq_epi8(v, del));
        if (_mm_movemask_epi8(ctl)) return false;
    }
#endif
    for (; i < len; i++) {
        unsigned char c = (unsigned char)value[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

bool fwd_credentials_allowed(const fwd_head_in_t *in)
{
    const cfg_backend_ref_t *b = in->backend;
    return b->forward_client_credentials && !b->api_key;
}

/* Is `name` one of the comma-separated options of a client connection
 * header (RFC 9110 §7.6.1: those headers are meant for this hop only)? */
static bool listed_in_connection(const fwd_head_in_t *in, const char *name, size_t len)
{
    for (size_t i = 0; i < in->n_client; i++) {
        const hsrv_header_t *c = &in->client[i];
        if (!name_is_lit(c->name, c->name_len, &CONNECTION) || !c->value) continue;
        const char *v = c->value, *end = c->value + c->value_len;
        while (v < end) {
            while (v < end && (*v == ' ' || *v == '\t' || *v == ','))
                v++;
            const char *s = v;
            while (v < end && *v != ',')
                v++;
            const char *e = v;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - s) == len && ascii_ieq(s, name, len)) return true;
        }
    }
    return false;
}

/* Does a plugin op of a kind in `kinds` (bit per plg_hdr_kind_t) name it,
 * at index `from` or later? */
static bool op_names(const fwd_head_in_t *in, size_t from, unsigned kinds, const char *name,
                     size_t len)
{
    for (size_t o = from; o < in->n_ops; o++)
        if ((kinds & (1u << in->ops[o].op)) && in->ops[o].name &&
            name_is(name, len, in->ops[o].name))
            return true;
    return false;
}

#define OPS_REPLACE ((1u << PLG_HDR_SET) | (1u << PLG_HDR_DEL))

static bool extra_names(const cfg_backend_ref_t *b, const char *name, size_t len)
{
    for (size_t e = 0; e < b->n_extra_headers; e++)
        if (b->extra_headers[e].name && name_is(name, len, b->extra_headers[e].name)) return true;
    return false;
}

fwd_verdict_t fwd_client_header(const fwd_head_in_t *in, const hsrv_header_t *h)
{
    const cfg_backend_ref_t *b = in->backend;
    if (!fwd_valid_name(h->name, h->name_len) || !fwd_valid_value(h->value, h->value_len))
        return FWD_DROP_INVALID;
    if (fwd_is_hop_by_hop(h->name, h->name_len)) return FWD_DROP_HOP;
    if (listed_in_connection(in, h->name, h->name_len)) return FWD_DROP_CONNECTION;
    bool own_auth = b->api_key && b->auth_header && name_is(h->name, h->name_len, b->auth_header);
    if (own_auth || fwd_is_credential(h->name, h->name_len)) {
        if (!fwd_credentials_allowed(in)) return FWD_DROP_CREDENTIAL;
        if (in->listener_keyed && (name_is_lit(h->name, h->name_len, &AUTHORIZATION) ||
                                   name_is_lit(h->name, h->name_len, &X_API_KEY)))
            return FWD_DROP_CREDENTIAL;
    }
    if (!in->anthropic_upstream && name_has_prefix(h->name, h->name_len, &ANTHROPIC_))
        return FWD_DROP_PROTOCOL;
    if (extra_names(b, h->name, h->name_len) || op_names(in, 0, OPS_REPLACE, h->name, h->name_len))
        return FWD_DROP_OVERRIDDEN;
    if (in->traceparent && name_is(h->name, h->name_len, "traceparent")) return FWD_DROP_OVERRIDDEN;
    return FWD_PASS;
}

/* One "name: value" line, or nothing when either part could break the head
 * or names a header tether owns. */
static bool emit(buf_t *out, const char *name, const char *prefix, const char *value,
                 size_t value_len)
{
    size_t nl = name ? strlen(name) : 0, pl = prefix ? strlen(prefix) : 0;
    if (!fwd_valid_name(name, nl) || fwd_is_hop_by_hop(name, nl) || !fwd_valid_value(prefix, pl) ||
        !fwd_valid_value(value, value_len))
        return false;
    buf_append(out, name, nl);
    buf_append(out, ": ", 2);
    buf_append(out, prefix, pl);
    buf_append(out, value, value_len);
    buf_append(out, "\r\n", 2);
    return true;
}

static bool emit_str(buf_t *out, const char *name, const char *value)
{
    return emit(out, name, NULL, value, value ? strlen(value) : 0);
}

void fwd_build_head(const fwd_head_in_t *in, buf_t *out)
{
    const cfg_backend_ref_t *b = in->backend;
    const char *prefix = in->path_prefix ? in->path_prefix : "";
    const char *path = in->path ? in->path : "/";
    /* the request target comes from config and code, never from the client;
     * a control byte or space there would split the request line */
    if (!fwd_valid_value(prefix, strlen(prefix)) || strchr(prefix, ' ') ||
        !fwd_valid_value(path, strlen(path)) || strchr(path, ' '))
        prefix = "", path = "/";
    buf_reserve(out, 512); /* a typical head in one allocation instead of two */
    /* "POST %s%s HTTP/1.1\r\nhost: %s:%d\r\ncontent-type: application/json\r\n
     * content-length: %zu\r\n" without printf (every upstream attempt) */
    buf_append(out, "POST ", 5);
    buf_puts(out, prefix);
    buf_puts(out, path);
    buf_append(out, " HTTP/1.1\r\nhost: ", 17);
    buf_puts(out, b->host ? b->host : "");
    buf_putc(out, ':');
    buf_int(out, b->port);
    buf_puts(out, "\r\ncontent-type: application/json\r\ncontent-length: ");
    buf_uint(out, in->body_len);
    buf_append(out, "\r\n", 2);
    const char *auth = b->auth_header ? b->auth_header : "authorization";
    if (b->api_key) {
        const char *ap = b->auth_prefix ? b->auth_prefix : "";
        emit(out, auth, ap, b->api_key, strlen(b->api_key));
    }
    bool has_version = false;
    for (size_t e = 0; e < b->n_extra_headers; e++) {
        const cfg_kv_t *x = &b->extra_headers[e];
        size_t nl = x->name ? strlen(x->name) : 0;
        if (op_names(in, 0, OPS_REPLACE, x->name, nl)) continue;
        /* the backend's own key header is not doubled by a config entry */
        if (b->api_key && name_is(x->name, nl, auth)) continue;
        if (emit_str(out, x->name, x->value) && name_is_lit(x->name, nl, &ANTHROPIC_VERSION))
            has_version = true;
    }
    if (in->request_id && fwd_valid_value(in->request_id, strlen(in->request_id))) {
        buf_append(out, "x-request-id: ", 14);
        buf_puts(out, in->request_id);
        buf_append(out, "\r\n", 2);
    }
    if (in->traceparent) emit_str(out, "traceparent", in->traceparent);
    for (size_t i = 0; i < in->n_client; i++) {
        const hsrv_header_t *h = &in->client[i];
        if (fwd_client_header(in, h) != FWD_PASS) continue; /* also checks name and value */
        buf_append(out, h->name, h->name_len);
        buf_append(out, ": ", 2);
        buf_append(out, h->value, h->value_len);
        buf_append(out, "\r\n", 2);
        if (name_is_lit(h->name, h->name_len, &ANTHROPIC_VERSION)) has_version = true;
    }
    for (size_t o = 0; o < in->n_ops; o++) {
        const plg_hdr_op_t *op = &in->ops[o];
        if (op->op == PLG_HDR_DEL || !op->value || !op->name) continue;
        size_t nl = strlen(op->name);
        /* a later set or delete of the same name supersedes this one */
        if (op_names(in, o + 1, OPS_REPLACE, op->name, nl)) continue;
        if (fwd_is_credential(op->name, nl)) continue;
        if (!in->anthropic_upstream && name_has_prefix(op->name, nl, &ANTHROPIC_)) continue;
        if (emit_str(out, op->name, op->value) && name_is_lit(op->name, nl, &ANTHROPIC_VERSION))
            has_version = true;
    }
    if (in->anthropic_upstream && !has_version) buf_puts(out, "anthropic-version: 2023-06-01\r\n");
    buf_append(out, "\r\n", 2);
}
