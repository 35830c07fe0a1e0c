/* live_run.h - `tether bench live` and `tether bench overhead`: real HTTP
 * traffic through `tether serve` replicas to `tether mock --strict`
 * backends (docs/benchmarks.md, "live").
 *
 * live_run starts three strict mocks (qwen3-8b, qwen3-32b,
 * frontier-reasoner), writes a router config, starts one or two router
 * replicas (two share a Redis session store), drives concurrent multi-turn
 * sessions whose turns follow the session benchmark's phases (tool loops
 * answered with the mock's real tool calls, provider state sent back, topic
 * drift, idle pauses), reads every backend's /mock/stats, then replays the
 * same request sequence directly to the backends that served it to measure
 * the router's added latency. Every process it started is stopped before it
 * returns, also on error or when *stop becomes non-zero.
 *
 * live_overhead measures the added latency of the router over a direct
 * backend for identical session-less requests, router and direct requests
 * interleaved on the same connections' threads; by default the client
 * threads, the mock and the router run on CPUs of their own (live_pin.h).
 *
 * Both are blocking and use threads internally; call from one thread. */
#ifndef TETHER_BENCH_LIVE_RUN_H
#define TETHER_BENCH_LIVE_RUN_H
#include "bench/live_pin.h"
#include "core/buf.h"
#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#define LIVE_N_BACKENDS  3
#define LIVE_MAX_REASONS 16

typedef struct live_options {
    const char *tether_bin;      /* the binary to spawn (mock, serve) */
    int sessions;                /* default 32 */
    int turns;                   /* default 12 */
    int concurrency;             /* client threads, default 32 */
    int idle_pause_ms;           /* pause before an idle turn, default 1500 (idle timeout 1 s) */
    int replicas;                /* 1 or 2 */
    const char *redis_addr;      /* HOST:PORT of a running Redis, or NULL */
    int redis_server;            /* start a redis-server on a free port (implied by 2 replicas
                                    without redis_addr) */
    const char *redis_bin;       /* default /usr/bin/redis-server */
    uint32_t seed;               /* workload seed */
    int router_workers;          /* `tether serve --workers`, 0 = its default */
    int no_direct;               /* skip the direct replay (no overhead figures) */
    const char *workdir;         /* where configs go; NULL: a fresh /tmp directory, removed after */
    int verbose;                 /* children's stderr and per-run notes on stderr */
    int progress;                /* phase lines and one line a second on stderr */
    volatile sig_atomic_t *stop; /* optional: stop early when it becomes non-zero */
} live_options_t;

void live_options_default(live_options_t *o);

/* Latency summary in microseconds (nearest-rank percentiles). */
typedef struct live_lat {
    long n;
    double p50, p95, p99, mean, max;
} live_lat_t;

typedef struct live_reason_count {
    char reason[48];
    long n;
} live_reason_count_t;

typedef struct live_backend_stats {
    char model[32];
    long requests, violations, rejected;
    long cached_tokens, prompt_tokens;
} live_backend_stats_t;

typedef struct live_results {
    int sessions, turns, concurrency, replicas, idle_pause_ms;
    uint32_t seed;
    char store[16]; /* "local" or "redis" */
    long sessions_with_header, sessions_prefix_chain;
    long turns_done, requests, errors, sessions_aborted;
    long tool_calls, state_turns, drift_turns, idle_turns;
    long switches;                     /* x-tether-model changes within a session */
    long violations, rejected;         /* summed over the strict backends' /mock/stats */
    long cached_tokens, prompt_tokens; /* summed over the backends' /mock/stats */
    live_backend_stats_t backend[LIVE_N_BACKENDS];
    live_reason_count_t reasons[LIVE_MAX_REASONS]; /* x-tether-session-reason counts */
    size_t n_reasons;
    double wall_s; /* the routed phase, idle pauses included */
    /* overhead: the routed requests, the same requests sent directly, the
     * per-request difference (routed - direct, same request) */
    int have_direct;
    long direct_errors;
    live_lat_t routed, direct, diff;
    char first_error[256];
} live_results_t;

/* Run one live benchmark. Returns 0 when it ran (res filled; errors and
 * violations are figures, not failures), -1 with err when it could not run
 * (a child did not start, interrupted). */
int live_run(const live_options_t *o, live_results_t *res, char *err, size_t errlen);

typedef struct live_overhead_options {
    const char *tether_bin;
    long requests;   /* pairs measured, default 20000 */
    int body_bytes;  /* request body size, default 2048 */
    int concurrency; /* client threads, default 32 */
    int router_workers;
    int no_pin; /* --pin off: no CPU pinning (default: the live_pin.h layout) */
    int verbose;
    volatile sig_atomic_t *stop;
} live_overhead_options_t;

void live_overhead_options_default(live_overhead_options_t *o);

typedef struct live_overhead_results {
    long requests, body_bytes, concurrency, errors;
    live_pin_t pin; /* where the client threads, the mock and the router ran */
    live_lat_t routed, direct, diff;
    double wall_s;
    char first_error[256];
} live_overhead_results_t;

int live_overhead(const live_overhead_options_t *o, live_overhead_results_t *res, char *err,
                  size_t errlen);

/* Reports: a table (several live runs side by side, e.g. 1 and 2 replicas)
 * or JSON ({"runs": [...]}). */
void live_report_table(const live_results_t *r, size_t n, buf_t *out);
void live_report_json(const live_results_t *r, size_t n, buf_t *out);
void live_overhead_report_table(const live_overhead_results_t *r, buf_t *out);
void live_overhead_report_json(const live_overhead_results_t *r, buf_t *out);

/* Latency summary of n samples (sorted in place). */
void live_lat_summarize(double *us, long n, live_lat_t *out);
#endif
