/* fuzz_forward.c - libFuzzer harness for header forwarding
 * (src/upstream/forward_headers.c; build and run with scripts/fuzz.sh).
 *
 * Input: byte 0 = flags (bit 0 forward_client_credentials, bit 1 the backend
 * has its own key, bit 2 keyed listener, bit 3 Anthropic upstream), byte 1
 * = counts (bits 0-1 extra_headers, bits 2-4 plugin ops, bits 5-6 the
 * backend's auth header), then records [len|kind][name][len][value]: the
 * backend key (when it has one), the extra_headers, the ops, and the
 * client's headers. Names and values are arbitrary bytes (CR, LF, NUL,
 * spaces before the colon, any case).
 *
 * Checked on the head that comes out:
 *  - one request line, header lines of `token: value` with no control byte
 *    in the value, one blank line at the very end (nothing can start a body
 *    or a second request early);
 *  - host, content-type, content-length and x-request-id exactly once, with
 *    tether's values; no other hop-by-hop or framing name at all;
 *  - every other line is, byte for byte, one of the inputs (the backend key
 *    line, an extra header, a plugin op, or a client header), each used at
 *    most as often as it was given: nothing is fabricated or split;
 *  - a line from the client obeys the rules restated here independently:
 *    not named in `connection`, anthropic-* only to Anthropic upstreams,
 *    and a credential only when the backend may receive it (never with its
 *    own key, never authorization/x-api-key on a keyed listener). */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "upstream/forward_headers.h"
#include "core/buf.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_forward: check failed: %s (line %d)\n", #c, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_CLIENT 128
#define MAX_ITEMS  (MAX_CLIENT + 16)

typedef struct item {
    const char *name, *value;
    size_t name_len, value_len;
    int origin; /* 0 client, 1 extra, 2 op, 3 backend key */
    bool used;
} item_t;

typedef struct rd {
    const uint8_t *p;
    size_t n, i;
} rd_t;

/* One length-prefixed field; the top two bits of the length byte go to *tag. */
static bool field(rd_t *r, const char **s, size_t *len, unsigned *tag)
{
    if (r->i >= r->n) return false;
    uint8_t l = r->p[r->i++];
    if (tag) *tag = l >> 6;
    size_t want = tag ? (l & 0x3f) : l;
    if (want > r->n - r->i) want = r->n - r->i;
    *s = (const char *)r->p + r->i;
    *len = want;
    r->i += want;
    return true;
}

/* A NUL-terminated copy (config and plugin strings are C strings). */
static char *cstr(const char *s, size_t n)
{
    char *c = malloc(n + 1);
    memcpy(c, s, n);
    c[n] = 0;
    return c;
}

static bool ieq(const char *a, size_t an, const char *b)
{
    return an == strlen(b) && !strncasecmp(a, b, an);
}

static bool iprefix(const char *a, size_t an, const char *b)
{
    return an >= strlen(b) && !strncasecmp(a, b, strlen(b));
}

/* The spec's lists, restated. */
static bool ref_hop(const char *n, size_t l)
{
    static const char *const hop[] = {
        "host",       "content-length",    "content-type", "content-encoding", "connection",
        "keep-alive", "transfer-encoding", "te",           "trailer",          "upgrade",
        "expect",     "accept-encoding",   "x-request-id"};
    for (size_t i = 0; i < sizeof hop / sizeof *hop; i++)
        if (ieq(n, l, hop[i])) return true;
    return iprefix(n, l, "proxy-") || iprefix(n, l, "x-tether-");
}

static bool ref_cred(const char *n, size_t l)
{
    return ieq(n, l, "authorization") || ieq(n, l, "x-api-key") || ieq(n, l, "cookie") ||
           ieq(n, l, "api-key") || ieq(n, l, "x-goog-api-key") || ieq(n, l, "proxy-authorization");
}

static bool ref_token(const char *n, size_t l)
{
    if (!l) return false;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)n[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
              (c && strchr("!#$%&'*+-.^_`|~", c))))
            return false;
    }
    return true;
}

/* Is name among the comma-separated options of a client connection header? */
static bool ref_in_connection(const item_t *it, size_t n, const char *name, size_t len)
{
    for (size_t i = 0; i < n; i++) {
        if (it[i].origin != 0 || !ieq(it[i].name, it[i].name_len, "connection")) continue;
        const char *v = it[i].value, *end = v + it[i].value_len;
        while (v < end) {
            const char *s = v;
            while (v < end && *v != ',')
                v++;
            const char *e = v;
            while (s < e && (*s == ' ' || *s == '\t'))
                s++;
            while (e > s && (e[-1] == ' ' || e[-1] == '\t'))
                e--;
            if ((size_t)(e - s) == len && !strncasecmp(s, name, len)) return true;
            if (v < end) v++;
        }
    }
    return false;
}

/* The matching pass an input belongs to (see the head check below). */
static int item_pass(const item_t *it)
{
    if (it->origin == 0) return 1;
    if (it->origin == 2 && ref_cred(it->name, it->name_len)) return 2;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    uint8_t flags = data[0], counts = data[1];
    rd_t r = {data, size, 2};
    static const char *const auth_names[] = {"Authorization", "x-api-key", "X-Custom-Key",
                                             "api-key"};
    cfg_backend_ref_t b = {0};
    b.name = "b";
    b.host = "backend.internal";
    b.port = 8443;
    b.forward_client_credentials = flags & 1;
    b.auth_header = (char *)auth_names[(counts >> 5) & 3];
    b.auth_prefix = (flags & 0x10) ? "Bearer " : "";
    char *key = NULL;
    const char *s;
    size_t l;
    if (flags & 2) {
        if (!field(&r, &s, &l, NULL)) return 0;
        key = cstr(s, l);
        b.api_key = key;
    }
    size_t n_extra = counts & 3, n_ops = (counts >> 2) & 7;
    cfg_kv_t extra[3];
    plg_hdr_op_t ops[7];
    hsrv_header_t client[MAX_CLIENT];
    size_t ne = 0, no = 0, nc = 0;
    for (size_t i = 0; i < n_extra; i++) {
        const char *v;
        size_t vl;
        if (!field(&r, &s, &l, NULL) || !field(&r, &v, &vl, NULL)) break;
        extra[ne].name = cstr(s, l);
        extra[ne].value = cstr(v, vl);
        ne++;
    }
    b.extra_headers = extra;
    b.n_extra_headers = ne;
    for (size_t i = 0; i < n_ops; i++) {
        const char *v;
        size_t vl;
        unsigned kind;
        if (!field(&r, &s, &l, &kind) || !field(&r, &v, &vl, NULL)) break;
        ops[no].op = kind == 0 ? PLG_HDR_ADD : kind == 1 ? PLG_HDR_SET : PLG_HDR_DEL;
        ops[no].name = cstr(s, l);
        ops[no].value = ops[no].op == PLG_HDR_DEL ? NULL : cstr(v, vl);
        no++;
    }
    while (nc < MAX_CLIENT) {
        const char *v;
        size_t vl;
        if (!field(&r, &s, &l, NULL) || !field(&r, &v, &vl, NULL)) break;
        client[nc++] = (hsrv_header_t){s, l, v, vl};
    }
    fwd_head_in_t in = {.backend = &b,
                        .path_prefix = "/v1",
                        .path = "/chat/completions",
                        .body_len = 1234,
                        .request_id = "0123456789abcdef01234567",
                        .client = client,
                        .n_client = nc,
                        .anthropic_upstream = flags & 8,
                        .listener_keyed = flags & 4,
                        .ops = ops,
                        .n_ops = no};
    buf_t out = BUF_INIT;
    fwd_build_head(&in, &out);

    /* what may appear: every input, once each */
    item_t it[MAX_ITEMS + 1];
    size_t ni = 0;
    char *keyline = NULL;
    if (key) {
        size_t pl = strlen(b.auth_prefix), kl = strlen(key);
        keyline = malloc(pl + kl + 1);
        memcpy(keyline, b.auth_prefix, pl);
        memcpy(keyline + pl, key, kl + 1);
        it[ni++] = (item_t){b.auth_header, keyline, strlen(b.auth_header), pl + kl, 3, false};
    }
    for (size_t i = 0; i < ne; i++)
        it[ni++] = (item_t){
            extra[i].name, extra[i].value, strlen(extra[i].name), strlen(extra[i].value), 1, false};
    for (size_t i = 0; i < no; i++)
        if (ops[i].value)
            it[ni++] = (item_t){
                ops[i].name, ops[i].value, strlen(ops[i].name), strlen(ops[i].value), 2, false};
    for (size_t i = 0; i < nc; i++)
        it[ni++] = (item_t){
            client[i].name, client[i].value, client[i].name_len, client[i].value_len, 0, false};
    bool creds_ok = b.forward_client_credentials && !b.api_key;

    /* the head's shape */
    const char *h = out.data;
    size_t hl = out.len;
    CHECK(hl >= 4 && !memcmp(h + hl - 4, "\r\n\r\n", 4));
    CHECK(!strncmp(h, "POST /v1/chat/completions HTTP/1.1\r\n", 36));
    for (size_t i = 0; i < hl; i++) {
        CHECK(h[i] != 0);
        if (h[i] == '\r') CHECK(i + 1 < hl && h[i + 1] == '\n');
        if (h[i] == '\n') CHECK(i > 0 && h[i - 1] == '\r');
    }
    int own_host = 0, own_ct = 0, own_cl = 0, own_rid = 0, own_version = 0;
    const char *p = h + 36;
    while ((size_t)(p - h) < hl - 2) {
        const char *e = strstr(p, "\r\n");
        CHECK(e && e > p); /* no blank line before the end */
        const char *colon = memchr(p, ':', (size_t)(e - p));
        CHECK(colon && colon + 1 < e && colon[1] == ' ');
        size_t nl = (size_t)(colon - p), vl = (size_t)(e - colon - 2);
        const char *v = colon + 2;
        CHECK(ref_token(p, nl));
        for (size_t i = 0; i < vl; i++)
            CHECK(((unsigned char)v[i] >= 0x20 || v[i] == '\t') && v[i] != 0x7f);
        if (ref_hop(p, nl)) {
            /* only tether's own four */
            if (ieq(p, nl, "host")) {
                own_host++;
                CHECK(vl == 21 && !memcmp(v, "backend.internal:8443", 21));
            } else if (ieq(p, nl, "content-type")) {
                own_ct++;
                CHECK(vl == 16 && !memcmp(v, "application/json", 16));
            } else if (ieq(p, nl, "content-length")) {
                own_cl++;
                CHECK(vl == 4 && !memcmp(v, "1234", 4));
            } else if (ieq(p, nl, "x-request-id")) {
                own_rid++;
                CHECK(vl == 24 && !memcmp(v, "0123456789abcdef01234567", 24));
            } else {
                CHECK(!"a hop-by-hop or framing header was forwarded");
            }
            p = e + 2;
            continue;
        }
        /* every other line is one unused input, byte for byte: first the
         * config's and the plugins' (so a client duplicate is judged as the
         * client's), then the client's, and last a plugin op naming a
         * credential, which may never come out: a client credential that
         * equals such an op byte for byte is the client's line */
        item_t *src = NULL;
        for (int pass = 0; pass < 3 && !src; pass++)
            for (size_t i = 0; i < ni && !src; i++)
                if (!it[i].used && item_pass(&it[i]) == pass && it[i].name_len == nl &&
                    it[i].value_len == vl && !memcmp(it[i].name, p, nl) &&
                    !memcmp(it[i].value, v, vl))
                    src = &it[i];
        if (!src && in.anthropic_upstream && ieq(p, nl, "anthropic-version") && vl == 10 &&
            !memcmp(v, "2023-06-01", 10) && !own_version) {
            own_version++;
            p = e + 2;
            continue;
        }
        CHECK(src != NULL);
        src->used = true;
        if (src->origin == 0) {
            CHECK(!ref_in_connection(it, ni, p, nl));
            CHECK(in.anthropic_upstream || !iprefix(p, nl, "anthropic-"));
            if (ref_cred(p, nl) || (b.api_key && ieq(p, nl, b.auth_header))) {
                CHECK(creds_ok);
                CHECK(!(in.listener_keyed &&
                        (ieq(p, nl, "authorization") || ieq(p, nl, "x-api-key"))));
            }
        }
        if (src->origin == 2) CHECK(!ref_cred(p, nl)); /* plugins never set credentials */
        p = e + 2;
    }
    CHECK(own_host == 1 && own_ct == 1 && own_cl == 1 && own_rid == 1);

    buf_free(&out);
    free(keyline);
    free(key);
    for (size_t i = 0; i < ne; i++) {
        free(extra[i].name);
        free(extra[i].value);
    }
    for (size_t i = 0; i < no; i++) {
        free((char *)ops[i].name);
        free((char *)ops[i].value);
    }
    return 0;
}
