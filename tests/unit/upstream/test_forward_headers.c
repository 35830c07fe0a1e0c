/* test_forward_headers.c - the upstream head built by forward_headers.c:
 * hop-by-hop, framing and connection-listed headers are dropped whatever
 * their case; client credentials reach only a backend configured for them
 * and never one with its own key, nor the listener's own key; anthropic-*
 * only to Anthropic upstreams; extra_headers and plugin ops replace client
 * headers; names and values that could split the head never pass; the
 * hop-by-hop and value predicates agree with their plain definitions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "upstream/forward_headers.h"
#include <stdio.h>
#include <string.h>
#include <ctype.h>
#include <stdbool.h>
#include <strings.h>

#define H(n, v)                                                                                    \
    {                                                                                              \
        n, sizeof n - 1, v, sizeof v - 1                                                           \
    }

static cfg_backend_ref_t backend(void)
{
    cfg_backend_ref_t b = {0};
    b.name = "b1";
    b.host = "10.0.0.1";
    b.port = 8000;
    b.auth_header = "Authorization";
    b.auth_prefix = "Bearer ";
    return b;
}

static fwd_head_in_t input(const cfg_backend_ref_t *b, const hsrv_header_t *h, size_t n)
{
    fwd_head_in_t in = {.backend = b,
                        .path_prefix = "/v1",
                        .path = "/chat/completions",
                        .body_len = 42,
                        .request_id = "0123456789abcdef01234567",
                        .client = h,
                        .n_client = n};
    return in;
}

/* Number of lines of head whose name is `name` (case-insensitive); the
 * value of the first one into val (may be NULL). */
static int lines_named(const char *head, const char *name, char *val, size_t vlen)
{
    int n = 0;
    const char *p = strstr(head, "\r\n");
    size_t nl = strlen(name);
    while (p && p[2] != '\r') {
        p += 2;
        const char *e = strstr(p, "\r\n");
        if (!e) break;
        if ((size_t)(e - p) > nl && p[nl] == ':' && !strncasecmp(p, name, nl)) {
            if (!n && val) snprintf(val, vlen, "%.*s", (int)(e - p - nl - 2), p + nl + 2);
            n++;
        }
        p = e;
    }
    return n;
}

static char *build(const fwd_head_in_t *in)
{
    static buf_t out;
    buf_free(&out);
    fwd_build_head(in, &out);
    return out.data;
}

static void test_request_line_and_own_framing(void **st)
{
    cfg_backend_ref_t b = backend();
    hsrv_header_t h[] = {H("Host", "client.example"), H("Content-Length", "999"),
                         H("content-type", "text/plain"), H("X-Request-Id", "client")};
    fwd_head_in_t in = input(&b, h, 4);
    char *head = build(&in);
    assert_true(strncmp(head, "POST /v1/chat/completions HTTP/1.1\r\n", 36) == 0);
    char v[256];
    assert_int_equal(lines_named(head, "host", v, sizeof v), 1);
    assert_string_equal(v, "10.0.0.1:8000");
    assert_int_equal(lines_named(head, "content-length", v, sizeof v), 1);
    assert_string_equal(v, "42");
    assert_int_equal(lines_named(head, "content-type", v, sizeof v), 1);
    assert_string_equal(v, "application/json");
    assert_int_equal(lines_named(head, "x-request-id", v, sizeof v), 1);
    assert_string_equal(v, "0123456789abcdef01234567");
    size_t len = strlen(head);
    assert_true(len >= 4 && !strcmp(head + len - 4, "\r\n\r\n"));
}

static void test_hop_by_hop_dropped_in_any_case(void **st)
{
    cfg_backend_ref_t b = backend();
    hsrv_header_t h[] = {
        H("Transfer-Encoding", "chunked"),
        H("CONNECTION", "close"),
        H("Keep-Alive", "5"),
        H("TE", "trailers"),
        H("Trailer", "x"),
        H("Upgrade", "h2c"),
        H("Expect", "100-continue"),
        H("Proxy-Connection", "k"),
        H("Proxy-Foo", "1"),
        H("Accept-Encoding", "gzip"),
        H("X-Tether-Debug", "1"),
        H("Content-Encoding", "gz"),
        H("x-keep", "yes"),
    };
    fwd_head_in_t in = input(&b, h, sizeof h / sizeof *h);
    char *head = build(&in);
    for (size_t i = 0; i + 1 < sizeof h / sizeof *h; i++) {
        char lname[64];
        snprintf(lname, sizeof lname, "%.*s", (int)h[i].name_len, h[i].name);
        assert_int_equal(lines_named(head, lname, NULL, 0), 0);
        assert_int_not_equal(fwd_client_header(&in, &h[i]), FWD_PASS);
    }
    assert_int_equal(lines_named(head, "x-keep", NULL, 0), 1);
}

static void test_names_listed_in_connection_are_dropped(void **st)
{
    cfg_backend_ref_t b = backend();
    hsrv_header_t h[] = {H("Connection", " Foo ,\tX-Secret-Hop"), H("foo", "1"),
                         H("x-secret-hop", "2"), H("x-foo", "3")};
    fwd_head_in_t in = input(&b, h, 4);
    assert_int_equal(fwd_client_header(&in, &h[1]), FWD_DROP_CONNECTION);
    assert_int_equal(fwd_client_header(&in, &h[2]), FWD_DROP_CONNECTION);
    assert_int_equal(fwd_client_header(&in, &h[3]), FWD_PASS);
    char *head = build(&in);
    assert_int_equal(lines_named(head, "foo", NULL, 0), 0);
    assert_int_equal(lines_named(head, "x-secret-hop", NULL, 0), 0);
    assert_int_equal(lines_named(head, "x-foo", NULL, 0), 1);
}

static const hsrv_header_t CREDS[] = {
    H("Authorization", "Bearer client"), H("X-Api-Key", "client-x"), H("Cookie", "sid=1"),
    H("api-key", "client-az"),           H("X-Goog-Api-Key", "g"),
};
#define N_CREDS (sizeof CREDS / sizeof *CREDS)

static void test_credentials_not_forwarded_by_default(void **st)
{
    cfg_backend_ref_t b = backend();
    fwd_head_in_t in = input(&b, CREDS, N_CREDS);
    char *head = build(&in);
    for (size_t i = 0; i < N_CREDS; i++)
        assert_int_equal(fwd_client_header(&in, &CREDS[i]), FWD_DROP_CREDENTIAL);
    assert_null(strstr(head, "client"));
    assert_null(strcasestr(head, "cookie"));
    assert_null(strcasestr(head, "authorization"));
}

static void test_credentials_forwarded_when_backend_allows(void **st)
{
    cfg_backend_ref_t b = backend();
    b.forward_client_credentials = true;
    fwd_head_in_t in = input(&b, CREDS, N_CREDS);
    char *head = build(&in);
    char v[64];
    assert_int_equal(lines_named(head, "authorization", v, sizeof v), 1);
    assert_string_equal(v, "Bearer client");
    assert_int_equal(lines_named(head, "x-api-key", NULL, 0), 1);
    assert_int_equal(lines_named(head, "cookie", NULL, 0), 1);
    assert_int_equal(lines_named(head, "api-key", NULL, 0), 1);
    /* a keyed listener consumed authorization / x-api-key: those stay */
    in.listener_keyed = true;
    head = build(&in);
    assert_int_equal(lines_named(head, "authorization", NULL, 0), 0);
    assert_int_equal(lines_named(head, "x-api-key", NULL, 0), 0);
    assert_int_equal(lines_named(head, "cookie", NULL, 0), 1);
}

static void test_backend_with_own_key_never_gets_the_clients(void **st)
{
    cfg_backend_ref_t b = backend();
    b.forward_client_credentials = true; /* has no effect with a key */
    b.api_key = "sk-own";
    b.auth_header = "x-custom-key";
    b.auth_prefix = "";
    hsrv_header_t h[N_CREDS + 1];
    memcpy(h, CREDS, sizeof CREDS);
    h[N_CREDS] = (hsrv_header_t)H("X-Custom-Key", "client-custom");
    fwd_head_in_t in = input(&b, h, N_CREDS + 1);
    assert_false(fwd_credentials_allowed(&in));
    char *head = build(&in);
    char v[64];
    assert_int_equal(lines_named(head, "x-custom-key", v, sizeof v), 1);
    assert_string_equal(v, "sk-own");
    assert_null(strstr(head, "client"));
    assert_int_equal(lines_named(head, "cookie", NULL, 0), 0);
}

static void test_anthropic_headers_only_to_anthropic_upstreams(void **st)
{
    cfg_backend_ref_t b = backend();
    hsrv_header_t h[] = {H("Anthropic-Beta", "tools"), H("anthropic-version", "2024-01-01")};
    fwd_head_in_t in = input(&b, h, 2);
    char *head = build(&in);
    assert_null(strcasestr(head, "anthropic"));
    in.anthropic_upstream = true;
    head = build(&in);
    char v[64];
    assert_int_equal(lines_named(head, "anthropic-version", v, sizeof v), 1);
    assert_string_equal(v, "2024-01-01"); /* the client's, not the default */
    assert_int_equal(lines_named(head, "anthropic-beta", NULL, 0), 1);
    /* no version anywhere: the default is added */
    in.n_client = 1;
    head = build(&in);
    assert_int_equal(lines_named(head, "anthropic-version", v, sizeof v), 1);
    assert_string_equal(v, "2023-06-01");
}

static void test_extra_headers_and_plugin_ops_replace_client_headers(void **st)
{
    cfg_backend_ref_t b = backend();
    cfg_kv_t extra[] = {{"X-Org", "acme"}};
    b.extra_headers = extra;
    b.n_extra_headers = 1;
    hsrv_header_t h[] = {H("x-org", "client"), H("x-tier", "free"), H("x-gone", "1"),
                         H("x-multi", "a")};
    plg_hdr_op_t ops[] = {
        {PLG_HDR_SET, "x-tier", "gold"}, {PLG_HDR_DEL, "x-gone", NULL},
        {PLG_HDR_ADD, "x-multi", "b"},   {PLG_HDR_SET, "x-late", "1"},
        {PLG_HDR_DEL, "x-late", NULL},   {PLG_HDR_ADD, "authorization", "Bearer plugin"}};
    fwd_head_in_t in = input(&b, h, 4);
    in.ops = ops;
    in.n_ops = sizeof ops / sizeof *ops;
    char *head = build(&in);
    char v[64];
    assert_int_equal(lines_named(head, "x-org", v, sizeof v), 1);
    assert_string_equal(v, "acme");
    assert_int_equal(lines_named(head, "x-tier", v, sizeof v), 1);
    assert_string_equal(v, "gold");
    assert_int_equal(lines_named(head, "x-gone", NULL, 0), 0);
    assert_int_equal(lines_named(head, "x-multi", NULL, 0), 2);
    assert_int_equal(lines_named(head, "x-late", NULL, 0), 0); /* deleted after it was set */
    assert_int_equal(lines_named(head, "authorization", NULL, 0), 0);
}

/* The fuzz_forward case: a plugin op naming a credential with the very
 * line a client sends. The op never comes out; the client's line comes out
 * once, and only when the backend may receive client credentials. */
static void test_plugin_credential_equal_to_the_clients_is_not_doubled(void **st)
{
    cfg_backend_ref_t b = backend();
    b.forward_client_credentials = true;
    hsrv_header_t h[] = {H("X-Api-Key", "k"), H("Cookie", "a=b")};
    plg_hdr_op_t ops[] = {{PLG_HDR_ADD, "X-Api-Key", "k"}, {PLG_HDR_ADD, "Cookie", "a=b"}};
    fwd_head_in_t in = input(&b, h, 2);
    in.ops = ops;
    in.n_ops = 2;
    char *head = build(&in);
    char v[64];
    assert_int_equal(lines_named(head, "x-api-key", v, sizeof v), 1);
    assert_string_equal(v, "k");
    assert_int_equal(lines_named(head, "cookie", NULL, 0), 1);
    in.listener_keyed = true; /* the client's x-api-key was tether's key */
    head = build(&in);
    assert_int_equal(lines_named(head, "x-api-key", NULL, 0), 0);
    assert_int_equal(lines_named(head, "cookie", NULL, 0), 1);
    b.forward_client_credentials = false;
    in.listener_keyed = false;
    head = build(&in);
    assert_int_equal(lines_named(head, "x-api-key", NULL, 0), 0);
    assert_int_equal(lines_named(head, "cookie", NULL, 0), 0);
}

static void test_invalid_names_and_values_never_pass(void **st)
{
    cfg_backend_ref_t b = backend();
    cfg_kv_t extra[] = {{"x-bad", "a\r\nx-injected: 1"}, {"bad name", "v"}, {"Host", "evil"}};
    b.extra_headers = extra;
    b.n_extra_headers = 3;
    b.api_key = "sk\r\nx-injected: 2";
    hsrv_header_t h[] = {
        H("content-length ", "5"), H("authorization ", "Bearer c"), H("x-ok", "fine\tvalue"),
        H("x-nul", "a\0b"),        H("x-lf", "a\nx-injected: 3"),   H("", "empty"),
        H("x(y)", "sep")};
    fwd_head_in_t in = input(&b, h, sizeof h / sizeof *h);
    assert_int_equal(fwd_client_header(&in, &h[0]), FWD_DROP_INVALID);
    assert_int_equal(fwd_client_header(&in, &h[1]), FWD_DROP_INVALID);
    assert_int_equal(fwd_client_header(&in, &h[2]), FWD_PASS);
    char *head = build(&in);
    assert_null(strstr(head, "x-injected"));
    assert_null(strstr(head, "evil"));
    assert_null(strstr(head, "bad name"));
    assert_int_equal(lines_named(head, "content-length", NULL, 0), 1);
    assert_int_equal(lines_named(head, "x-ok", NULL, 0), 1);
    assert_int_equal(lines_named(head, "x-nul", NULL, 0), 0);
    assert_int_equal(lines_named(head, "x(y)", NULL, 0), 0);
}

/* Tracing on: the attempt's traceparent replaces the client's (one line);
 * tracing off: the client's passes as it came. tracestate always passes. */
static void test_traceparent_replaced_when_tracing(void **st)
{
    cfg_backend_ref_t b = backend();
    hsrv_header_t h[] = {
        H("TraceParent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"),
        H("tracestate", "vendor=1")};
    fwd_head_in_t in = input(&b, h, 2);
    char v[256];
    char *head = build(&in);
    assert_int_equal(lines_named(head, "traceparent", v, sizeof v), 1);
    assert_string_equal(v, "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
    in.traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-1111111111111111-01";
    head = build(&in);
    assert_int_equal(lines_named(head, "traceparent", v, sizeof v), 1);
    assert_string_equal(v, in.traceparent);
    assert_int_equal(lines_named(head, "tracestate", v, sizeof v), 1);
    assert_int_equal(fwd_client_header(&in, &h[0]), FWD_DROP_OVERRIDDEN);
}

static void test_predicates(void **st)
{
    assert_true(fwd_is_hop_by_hop("PROXY-Authorization", 19));
    assert_true(fwd_is_hop_by_hop("x-TETHER-anything", 17));
    assert_false(fwd_is_hop_by_hop("x-tether", 8));
    assert_true(fwd_is_credential("COOKIE", 6));
    assert_false(fwd_is_credential("cookies", 7));
    assert_true(fwd_valid_name("x-a_b.c~", 8));
    assert_false(fwd_valid_name("x:a", 3));
    assert_false(fwd_valid_value("a\rb", 3));
    assert_true(fwd_valid_value("a\tb", 3));
    assert_false(fwd_valid_value("a\x7f", 2));
}

/* The length switch of fwd_is_hop_by_hop and the 16-byte steps of
 * fwd_valid_value against the plain definitions, on generated input: every
 * listed name and prefix in random case, each with one byte changed, cut or
 * extended; values of every length 0..80 with a control byte (or none) at
 * every position. */
static const char *const HOP_NAMES[] = {
    "host",         "content-length",    "content-type", "content-encoding",
    "connection",   "keep-alive",        "te",           "trailer",
    "upgrade",      "transfer-encoding", "expect",       "accept-encoding",
    "x-request-id",
};

static bool ref_hop(const char *name, size_t len)
{
    for (size_t i = 0; i < sizeof HOP_NAMES / sizeof *HOP_NAMES; i++)
        if (strlen(HOP_NAMES[i]) == len && !strncasecmp(name, HOP_NAMES[i], len)) return true;
    return (len >= 6 && !strncasecmp(name, "proxy-", 6)) ||
           (len >= 9 && !strncasecmp(name, "x-tether-", 9));
}

static bool ref_value(const char *v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
    }
    return true;
}

static uint32_t rng = 12345;

static uint32_t next_rand(void)
{
    rng = rng * 1103515245u + 12345u;
    return rng >> 8;
}

static void test_fast_predicates_match_the_plain_definitions(void **st)
{
    static const char *const extra[] = {
        "proxy-authorization", "x-tether-session", "proxy-", "x-tether-", "proxy", "x-tether",
        "authorization",       "x-session-id",     "accept", "user-agent"};
    size_t hops = 0, checked = 0;
    for (size_t i = 0; i < sizeof HOP_NAMES / sizeof *HOP_NAMES + sizeof extra / sizeof *extra;
         i++) {
        const char *base = i < sizeof HOP_NAMES / sizeof *HOP_NAMES
                               ? HOP_NAMES[i]
                               : extra[i - sizeof HOP_NAMES / sizeof *HOP_NAMES];
        for (int rep = 0; rep < 250; rep++) {
            char name[64];
            size_t n = strlen(base);
            memcpy(name, base, n);
            for (size_t k = 0; k < n; k++)
                if (next_rand() & 1) name[k] = (char)toupper((unsigned char)name[k]);
            switch (rep % 5) {
            case 1: { /* the case bit flipped (a letter's case, '-' to CR), or any byte */
                size_t at = next_rand() % n;
                unsigned char c = (unsigned char)name[at];
                name[at] = (char)(next_rand() & 1 ? c ^ 0x20u : next_rand() % 256);
                break;
            }
            case 2: n -= 1 + next_rand() % n; break;
            case 3: name[n++] = "-ax@`["[next_rand() % 6]; break;
            case 4: { /* a byte next to the letters' bounds, or the letter with its top bit
                       * set (the 8-byte compare lowers 'A'..'Z' only) */
                static const unsigned char edge[] = {'@',  '[',  '`',  '{',  'Z',  'z',  0xc1,
                                                     0xe1, 0xda, 0xfa, 0x80, 0xff, 0x0d, 0x2d};
                size_t at = next_rand() % n;
                unsigned char c = (unsigned char)name[at];
                name[at] = (char)(next_rand() & 1 ? c | 0x80u : edge[next_rand() % sizeof edge]);
                break;
            }
            default: break;
            }
            bool want = ref_hop(name, n);
            assert_int_equal(fwd_is_hop_by_hop(name, n), want);
            hops += want;
            checked++;
        }
    }
    assert_true(hops > 1000 && hops < checked);
    char v[96];
    for (size_t len = 0; len <= 80; len++)
        for (size_t pos = 0; pos <= len; pos++)
            for (int bad = 0; bad < 4; bad++) {
                for (size_t k = 0; k < len; k++)
                    v[k] = (char)(0x20 + next_rand() % 0x5f); /* printable, not 0x7f */
                if (pos < len) {
                    static const unsigned char probe[] = {0x00, '\t', 0x7f, 0x1f};
                    v[pos] = (char)probe[bad];
                    if (next_rand() % 3 == 0) v[pos] = (char)(next_rand() % 256);
                }
                assert_int_equal(fwd_valid_value(v, len), ref_value(v, len));
            }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_request_line_and_own_framing),
        cmocka_unit_test(test_hop_by_hop_dropped_in_any_case),
        cmocka_unit_test(test_names_listed_in_connection_are_dropped),
        cmocka_unit_test(test_credentials_not_forwarded_by_default),
        cmocka_unit_test(test_credentials_forwarded_when_backend_allows),
        cmocka_unit_test(test_backend_with_own_key_never_gets_the_clients),
        cmocka_unit_test(test_anthropic_headers_only_to_anthropic_upstreams),
        cmocka_unit_test(test_extra_headers_and_plugin_ops_replace_client_headers),
        cmocka_unit_test(test_plugin_credential_equal_to_the_clients_is_not_doubled),
        cmocka_unit_test(test_invalid_names_and_values_never_pass),
        cmocka_unit_test(test_traceparent_replaced_when_tracing),
        cmocka_unit_test(test_predicates),
        cmocka_unit_test(test_fast_predicates_match_the_plain_definitions),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
