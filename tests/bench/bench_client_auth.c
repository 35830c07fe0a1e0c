/* bench_client_auth.c - cost of the listener key check (api/client_auth.c)
 * per request: µs per client_auth_match for a listener with 1, 10 and 100
 * keys, the presented key matching the last one (the constant-time compare
 * visits every key), as a Bearer token among a typical client's 12 headers,
 * and as x-api-key. Rate limits are not built yet, so this is the whole
 * gateway check today (issue 16 target: <= 2 µs with local limits). Prints
 * one line per figure. */
#include <stdio.h>
#include <string.h>

#include "api/client_auth.h"
#include "core/clock.h"

#define ITER 2000000

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

int main(void)
{
    static cfg_api_key_t keys[100];
    static char vals[100][48], names[100][16];
    for (int i = 0; i < 100; i++) {
        snprintf(vals[i], sizeof vals[i], "sk-tether-%02d-0123456789abcdef0123456789", i);
        snprintf(names[i], sizeof names[i], "key-%d", i);
        keys[i].name = names[i];
        keys[i].key = vals[i];
    }
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
    static const size_t counts[] = {1, 10, 100};
    for (size_t c = 0; c < 3; c++) {
        cfg_listener_t li = {.name = "main", .api_keys = keys, .n_api_keys = counts[c]};
        char bearer[64];
        snprintf(bearer, sizeof bearer, "Bearer %s", vals[counts[c] - 1]);
        h[n] = (hsrv_header_t){"authorization", 13, bearer, strlen(bearer)};
        printf("client_auth: %3zu keys, Bearer among %zu headers: %.3f us/request\n", counts[c],
               n + 1, run(&li, h, n + 1));
        h[n] = (hsrv_header_t){"x-api-key", 9, vals[counts[c] - 1], strlen(vals[counts[c] - 1])};
        printf("client_auth: %3zu keys, x-api-key among %zu headers: %.3f us/request\n", counts[c],
               n + 1, run(&li, h, n + 1));
    }
    return 0;
}
