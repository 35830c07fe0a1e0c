/* breaker.c - the circuit breaker state machine (breaker.h) of the Redis
 * layer: kv/client.c admits, counts and probes every command through it. */
#include "kv/breaker.h"

void kv_breaker_init(kv_breaker_t *b, unsigned failures_to_open, uint64_t open_ms,
                     unsigned jitter_pct, uint64_t seed)
{
    *b = (kv_breaker_t){0};
    b->failures_to_open = failures_to_open ? failures_to_open : 3;
    b->open_ms = open_ms ? open_ms : 5000;
    b->jitter_pct = jitter_pct > 100 ? 100 : jitter_pct;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t next_rand(kv_breaker_t *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

/* open_ms +- jitter_pct %, never below 1 ms */
static void open_now(kv_breaker_t *b, uint64_t now_ms)
{
    uint64_t span = b->open_ms * b->jitter_pct / 100;
    uint64_t lo = b->open_ms - span;
    uint64_t d = lo + (span ? next_rand(b) % (2 * span + 1) : 0);
    b->state = KV_BRK_OPEN;
    b->open_until = now_ms + (d ? d : 1);
    b->probe_inflight = false;
}

kv_brk_admit_t kv_breaker_admit(kv_breaker_t *b, uint64_t now_ms)
{
    if (b->state == KV_BRK_CLOSED) return KV_BRK_ALLOW;
    if (b->state == KV_BRK_OPEN && now_ms >= b->open_until) {
        b->state = KV_BRK_HALF_OPEN;
        b->probe_inflight = true;
        return KV_BRK_PROBE;
    }
    return KV_BRK_DENY;
}

kv_brk_event_t kv_breaker_success(kv_breaker_t *b, bool is_probe, uint64_t now_ms)
{
    (void)now_ms;
    if (b->state == KV_BRK_CLOSED) {
        b->consecutive = 0;
        return KV_BRK_SAME;
    }
    if (!is_probe || b->state != KV_BRK_HALF_OPEN) return KV_BRK_SAME;
    b->state = KV_BRK_CLOSED;
    b->probe_inflight = false;
    b->consecutive = 0;
    b->transitions++;
    return KV_BRK_CLOSED_NOW;
}

kv_brk_event_t kv_breaker_failure(kv_breaker_t *b, bool is_probe, uint64_t now_ms)
{
    if (b->state == KV_BRK_CLOSED) {
        if (++b->consecutive < b->failures_to_open) return KV_BRK_SAME;
        b->consecutive = 0;
        open_now(b, now_ms);
        b->transitions++;
        return KV_BRK_OPENED;
    }
    if (!is_probe || b->state != KV_BRK_HALF_OPEN) return KV_BRK_SAME;
    open_now(b, now_ms);
    return KV_BRK_REOPENED;
}

void kv_breaker_probe_abandoned(kv_breaker_t *b, uint64_t now_ms)
{
    if (b->state == KV_BRK_HALF_OPEN) {
        b->state = KV_BRK_OPEN;
        b->open_until = now_ms;
        b->probe_inflight = false;
    }
}
