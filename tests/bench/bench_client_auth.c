/* bench_client_auth.c - cost of the client key check (api/client_auth.c)
 * per request: µs per client_auth_match for a listener with 1, 10, 100 and
 * 1000 keys loaded from config as key_sha256 (the table of config/
 * api_keys.c), the presented key being the last one, as a Bearer token
 * among a typical client's 12 headers, and as x-api-key; then the whole
 * client_auth_check (match plus the principal copied into the request
 * arena) at 100 keys. The work per request is one SHA-256 of the
 * credential plus one probe sequence, whatever the key count (issue 16
 * target: <= 2 µs). Prints one line per figure. */
#include <stdio.h>
#include <string.h>

#include "api/client_auth.h"
#include "core/clock.h"
#include "core/hash.h"

#define ITER 1000000

static const char *SUF =
    "providers:\n  models:\n    - name: m\n      backend_refs: [{endpoint: \"127.0.0.1:9\"}]\n"
    "routing:\n  modelCards: [{name: m}]\n  decisions: [{name: all, modelRefs: [{model: m}]}]\n";

static void secret(int i, char *out, size_t n)
{
    snprintf(out, n, "sk-tether-%04d-0123456789abcdef0123456789", i);
}

static cfg_t *load(size_t n_keys)
{
    buf_t y = BUF_INIT;
    buf_puts(&y, "version: v0.3\nlisteners:\n  - name: main\n    api_keys:\n");
    for (size_t i = 0; i < n_keys; i++) {
        char s[64];
        unsigned char d[32];
        secret((int)i, s, sizeof s);
        hash_sha256(s, strlen(s), d);
        buf_printf(&y, "      - {name: key-%zu, team: t%zu, key_sha256: \"", i, i % 7);
        for (int j = 0; j < 32; j++)
            buf_printf(&y, "%02x", d[j]);
        buf_puts(&y, "\"}\n");
    }
    buf_puts(&y, SUF);
    cfg_diags_t dg;
    cfg_diags_init(&dg);
    cfg_t *c = cfg_load_string("bench.yaml", y.data, y.len, NULL, &dg);
    cfg_diags_free(&dg);
    buf_free(&y);
    return c;
}

static double run(const cfg_listener_t *li, const hsrv_header_t *h, size_t n)
{
    const cfg_api_key_t *k = NULL;
    size_t ok = 0;
    uint64_t t0 = clock_mono_us();
    for (int i = 0; i < ITER; i++) {
        ok += client_auth_match(li, h, n, &k) == CLIENT_AUTH_OK && k;
        __asm__ volatile("" ::: "memory");
    }
    uint64_t t1 = clock_mono_us();
    if (ok != ITER) fprintf(stderr, "bench_client_auth: a key did not match\n");
    return (double)(t1 - t0) / ITER;
}

static double run_check(const cfg_t *c, hsrv_header_t *h, size_t n)
{
    hsrv_req_t req = {0};
    arena_init(&req.arena, 4096);
    req.headers = h;
    req.n_headers = n;
    req.path = "/v1/chat/completions";
    size_t ok = 0;
    uint64_t t0 = clock_mono_us();
    for (int i = 0; i < ITER; i++) {
        req.principal = NULL;
        ok += client_auth_check(c, &req) && req.principal;
        arena_reset(&req.arena);
    }
    uint64_t t1 = clock_mono_us();
    arena_deinit(&req.arena);
    if (ok != ITER) fprintf(stderr, "bench_client_auth: check failed\n");
    return (double)(t1 - t0) / ITER;
}

int main(void)
{
    static const char *fixed[][2] = {
        {"host", "127.0.0.1:8899"},           {"user-agent", "OpenAI/Python 1.54.0"},
        {"accept", "application/json"},       {"content-type", "application/json"},
        {"content-length", "2048"},           {"x-stainless-lang", "python"},
        {"x-stainless-os", "Linux"},          {"x-stainless-arch", "x64"},
        {"x-stainless-runtime", "CPython"},   {"x-session-id", "sess-0123456789"},
        {"accept-encoding", "gzip, deflate"},
    };
    hsrv_header_t h[12];
    size_t n = 0;
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++, n++)
        h[n] = (hsrv_header_t){fixed[i][0], strlen(fixed[i][0]), fixed[i][1], strlen(fixed[i][1])};
    static const size_t counts[] = {1, 10, 100, 1000};
    for (size_t c = 0; c < sizeof counts / sizeof *counts; c++) {
        cfg_t *cfg = load(counts[c]);
        if (!cfg) {
            fprintf(stderr, "bench_client_auth: config did not load\n");
            return 1;
        }
        const cfg_listener_t *li = &cfg->listeners[0];
        char s[64], bearer[80];
        secret((int)counts[c] - 1, s, sizeof s);
        snprintf(bearer, sizeof bearer, "Bearer %s", s);
        h[n] = (hsrv_header_t){"authorization", 13, bearer, strlen(bearer)};
        printf("client_auth: %4zu keys, Bearer among %zu headers: %.3f us/request\n", counts[c],
               n + 1, run(li, h, n + 1));
        h[n] = (hsrv_header_t){"x-api-key", 9, s, strlen(s)};
        printf("client_auth: %4zu keys, x-api-key among %zu headers: %.3f us/request\n", counts[c],
               n + 1, run(li, h, n + 1));
        if (counts[c] == 100) {
            h[n] = (hsrv_header_t){"authorization", 13, bearer, strlen(bearer)};
            printf("client_auth: %4zu keys, whole check (match + principal): %.3f us/request\n",
                   counts[c], run_check(cfg, h, n + 1));
        }
        cfg_free(cfg);
    }
    return 0;
}
