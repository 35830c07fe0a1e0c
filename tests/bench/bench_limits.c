/* bench_limits.c - cost of rate limits and budgets per request with local
 * counters (limits/limits.h), the way the proxy pays it: the counters the
 * request meets (lim_plan, in a per-request arena), the verdict with the
 * request counted (lim_admit_local), and the reply's usage counted
 * (lim_record) - for a config with four rules and two budgets (5 checks per
 * request), alone and after the listener key check (client_auth_match, 10
 * keys, Bearer among 12 headers); then the same on 2 threads sharing the
 * counters (one subject: the worst case for the shard locks). Issue 16
 * target: <= 2 us per request including the key check. Figures are the
 * thread's CPU time per request (CLOCK_THREAD_CPUTIME_ID), so a busy machine
 * does not inflate them; wall time is printed beside. One line per figure. */
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "api/client_auth.h"
#include "config/config.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "limits/limits.h"

#define ITER 1000000

static const char *YAML =
    "providers:\n  models:\n"
    "    - {name: big, pricing: {prompt_per_1m: 3, completion_per_1m: 15}, "
    "backend_refs: [{endpoint: \"127.0.0.1:1\"}]}\n"
    "    - {name: small, backend_refs: [{endpoint: \"127.0.0.1:1\"}]}\n"
    "routing:\n  modelCards: [{name: big}, {name: small}]\n"
    "  decisions: [{name: all, modelRefs: [{model: big}]}]\n"
    "global:\n  services:\n"
    "    rate_limits:\n"
    "      - {scope: key, window: 1m, requests: 1000000000, tokens: 1000000000000}\n"
    "      - {scope: key, window: 1s, requests: 1000000000}\n"
    "      - {scope: team, window: 24h, tokens: 1000000000000}\n"
    "      - {scope: model, match: big, window: 1s, requests: 1000000000}\n"
    "    budgets:\n"
    "      - {scope: key, period: month, max_spend: 1000000000}\n"
    "      - {scope: team, match: other, period: day, max_spend: 10}\n";

static cfg_t *cfg;
static lim_t *lim;
static const cfg_listener_t *li;
static hsrv_header_t hdrs[12];
static size_t n_hdrs;

static uint64_t cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

typedef struct fig {
    double cpu, wall;
} fig_t;

static fig_t run(bool with_key)
{
    arena_t a;
    arena_init(&a, 4096);
    const lim_who_t who = {"key-9", "research", "big", "all"};
    size_t denied = 0;
    uint64_t t0 = clock_mono_us(), c0 = cpu_us();
    for (int i = 0; i < ITER; i++) {
        if (with_key) {
            const cfg_api_key_t *k = NULL;
            denied += client_auth_match(li, hdrs, n_hdrs, &k) != CLIENT_AUTH_OK;
        }
        lim_verdict_t v;
        lim_plan(cfg, &who, &a, clock_wall_ms(), &v);
        lim_admit_local(lim, &v);
        denied += v.denied >= 0;
        lim_record(lim, NULL, &v, 300, 0.002);
        arena_reset(&a);
    }
    uint64_t t1 = clock_mono_us(), c1 = cpu_us();
    arena_deinit(&a);
    if (denied) fprintf(stderr, "bench_limits: %zu requests denied\n", denied);
    return (fig_t){(double)(c1 - c0) / ITER, (double)(t1 - t0) / ITER};
}

static void *thread_run(void *out)
{
    *(fig_t *)out = run(true);
    return NULL;
}

int main(void)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    /* ten listener keys, given as their SHA-256 the way operators load them */
    static char vals[10][48];
    buf_t y = BUF_INIT;
    buf_puts(&y, "version: v0.3\nlisteners:\n  - name: main\n    api_keys:\n");
    for (int i = 0; i < 10; i++) {
        unsigned char dg[32];
        snprintf(vals[i], sizeof vals[i], "sk-tether-%02d-0123456789abcdef0123456789", i);
        hash_sha256(vals[i], strlen(vals[i]), dg);
        buf_printf(&y, "      - {name: key-%d, key_sha256: \"", i);
        for (int j = 0; j < 32; j++)
            buf_printf(&y, "%02x", dg[j]);
        buf_puts(&y, "\"}\n");
    }
    buf_puts(&y, YAML);
    cfg = cfg_load_string("bench.yaml", y.data, y.len, NULL, &d);
    buf_free(&y);
    if (!cfg) {
        cfg_diags_print(stderr, &d);
        return 1;
    }
    cfg_diags_free(&d);
    lim = lim_new(cfg, NULL, 0);
    li = &cfg->listeners[0];
    static const char *fixed[][2] = {
        {"host", "127.0.0.1:8899"},           {"user-agent", "OpenAI/Python 1.54.0"},
        {"accept", "application/json"},       {"content-type", "application/json"},
        {"content-length", "2048"},           {"x-stainless-lang", "python"},
        {"x-stainless-os", "Linux"},          {"x-stainless-arch", "x64"},
        {"x-stainless-runtime", "CPython"},   {"x-session-id", "sess-0123456789"},
        {"accept-encoding", "gzip, deflate"},
    };
    for (size_t i = 0; i < sizeof fixed / sizeof *fixed; i++, n_hdrs++)
        hdrs[n_hdrs] =
            (hsrv_header_t){fixed[i][0], strlen(fixed[i][0]), fixed[i][1], strlen(fixed[i][1])};
    static char bearer[64];
    snprintf(bearer, sizeof bearer, "Bearer %s", vals[9]);
    hdrs[n_hdrs++] = (hsrv_header_t){"authorization", 13, bearer, strlen(bearer)};
    run(false); /* warm-up: counters made */
    fig_t f = run(false);
    printf("limits: 4 rules + 2 budgets (5 checks), local counters: %.3f us CPU/request "
           "(%.3f wall)\n",
           f.cpu, f.wall);
    f = run(true);
    printf("limits: key check (10 keys) + limits, 1 thread: %.3f us CPU/request (%.3f wall)\n",
           f.cpu, f.wall);
    fig_t r[2];
    pthread_t th[2];
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, thread_run, &r[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    printf("limits: key check + limits, 2 threads on the same counters: %.3f / %.3f us "
           "CPU/request (%.3f / %.3f wall)\n",
           r[0].cpu, r[1].cpu, r[0].wall, r[1].wall);
    lim_free(lim);
    cfg_free(cfg);
    return 0;
}
