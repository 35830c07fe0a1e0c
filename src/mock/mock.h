/* mock.h - `tether mock`, the simulated OpenAI-compatible backend used by
 * tests, benchmarks and the quickstart (docs/mock.md describes behaviour,
 * endpoints, reply shapes and strict codes).
 *
 * The server runs on tether's own HTTP layer (http/server.h) with its own
 * worker threads; all shared state (prefix cache, issued-state registry,
 * counters, fault PRNG, script) is behind per-component mutexes.
 *
 * Thread-safety: mock_start / mock_stop from one controlling thread. */
#ifndef TETHER_MOCK_MOCK_H
#define TETHER_MOCK_MOCK_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct mock_config {
    const char *address;       /* default "127.0.0.1" */
    int port;                  /* 0: ephemeral (see mock_port) */
    const char *const *models; /* served models; n_models == 0: any model */
    size_t n_models;
    bool strict;             /* reject continuity violations with 400 */
    uint64_t chunk_delay_ms; /* between SSE chunks */
    uint64_t latency_ms;     /* before the status line */
    uint64_t ttft_ms;        /* before the first SSE chunk (non-stream: added to latency) */
    double fail_rate;        /* 0..1: answer 503 */
    double reset_rate;       /* 0..1: reset the connection mid-response */
    uint64_t seed;           /* replies, ids and fault rolls derive from it */
    int workers;             /* <= 0: 1 */
    size_t reply_bytes;      /* > 0: fixed reply text of this size (benchmarks) */
    int embed_dims;          /* default dimensions of /v1/embeddings; <= 0: 64 */
    size_t max_sessions;     /* prefix-cache sessions kept; 0: 100000 */
    const char *script_path; /* JSON-lines fault script or NULL (mock_script.h) */
    const char *classify;    /* keyword table "kw=label,..." of /classify and the guard */
    const char *guard_model; /* chat model answering guard verdicts (mock_classify.h) */
    const char *embed_delay; /* "kw=ms,...": embeddings holding kw wait ms more */
} mock_config_t;

typedef struct mock mock_t;

/* Bind and start serving. Returns NULL and fills err on failure (bad
 * address, port in use, unreadable script). */
mock_t *mock_start(const mock_config_t *cfg, char *err, size_t errlen);
/* The bound port (useful with port 0). */
int mock_port(const mock_t *m);
/* Stop serving (in-flight requests get up to grace_ms) and free everything. */
void mock_stop(mock_t *m, uint64_t grace_ms);
#endif
