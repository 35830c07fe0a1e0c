/* breaker.h - the circuit breaker of the Redis layer (kv/client.c), as a pure
 * state machine: the caller passes the clock (so tests drive it without
 * sleeping) and a seed for the jitter.
 *
 *   closed     every call goes through; failures_to_open consecutive
 *              failures open the circuit
 *   open       calls are refused (served locally) until open_until, a
 *              jittered interval (open_ms +- jitter_pct %) so replicas and
 *              workers do not probe in lockstep
 *   half-open  exactly one call, the probe, goes through; its success
 *              closes the circuit, its failure reopens it (a new jittered
 *              interval); every other call is refused meanwhile
 * Results of calls admitted before the circuit opened (late replies) do not
 * change an open or half-open circuit.
 *
 * Not thread-safe: one breaker per connection (per event loop). */
#ifndef TETHER_KV_BREAKER_H
#define TETHER_KV_BREAKER_H
#include <stdbool.h>
#include <stdint.h>

typedef enum { KV_BRK_CLOSED = 0, KV_BRK_OPEN, KV_BRK_HALF_OPEN } kv_brk_state_t;
typedef enum { KV_BRK_DENY = 0, KV_BRK_ALLOW, KV_BRK_PROBE } kv_brk_admit_t;
/* What a result did to the circuit (for log lines and recovery work). */
typedef enum {
    KV_BRK_SAME = 0,  /* no transition */
    KV_BRK_OPENED,    /* closed -> open */
    KV_BRK_REOPENED,  /* half-open -> open (the probe failed) */
    KV_BRK_CLOSED_NOW /* half-open -> closed (the probe succeeded) */
} kv_brk_event_t;

typedef struct kv_breaker {
    kv_brk_state_t state;
    unsigned failures_to_open; /* >= 1 */
    unsigned consecutive;      /* failures in a row while closed */
    uint64_t open_ms;          /* nominal open interval */
    unsigned jitter_pct;       /* 0..100 */
    uint64_t open_until;       /* while open: when the next probe may go */
    bool probe_inflight;
    uint64_t rng;         /* xorshift64 state */
    uint64_t transitions; /* closed->open and ->closed (not reopenings) */
} kv_breaker_t;

/* failures_to_open 0: 3; open_ms 0: 5000; jitter_pct is clamped to 100. */
void kv_breaker_init(kv_breaker_t *b, unsigned failures_to_open, uint64_t open_ms,
                     unsigned jitter_pct, uint64_t seed);
/* May a call go now? PROBE marks the one call whose result decides. */
kv_brk_admit_t kv_breaker_admit(kv_breaker_t *b, uint64_t now_ms);
kv_brk_event_t kv_breaker_success(kv_breaker_t *b, bool is_probe, uint64_t now_ms);
kv_brk_event_t kv_breaker_failure(kv_breaker_t *b, bool is_probe, uint64_t now_ms);
/* The probe's call was dropped without a result (e.g. the store closed). */
void kv_breaker_probe_abandoned(kv_breaker_t *b, uint64_t now_ms);
#endif
