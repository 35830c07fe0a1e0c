/* breaker.c - the circuit breaker state machine (breaker.h) used by the
 * Redis session store's transport (store_redis_transport.c). */
#include "session/breaker.h"

void sess_breaker_init(sess_breaker_t *b, unsigned failures_to_open, uint64_t open_ms,
                       unsigned jitter_pct, uint64_t seed)
{
    *b = (sess_breaker_t){0};
    b->failures_to_open = failures_to_open ? failures_to_open : 3;
    b->open_ms = open_ms ? open_ms : 5000;
    b->jitter_pct = jitter_pct > 100 ? 100 : jitter_pct;
    b->rng = seed ? seed : 0x9e3779b97f4a7c15ull;
}

static uint64_t next_rand(sess_breaker_t *b)
{
    uint64_t x = b->rng;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    b->rng = x;
    return x;
}

/* open_ms +- jitter_pct %, never below 1 ms */
static void open_now(sess_breaker_t *b, uint64_t now_ms)
{
    uint64_t span = b->open_ms * b->jitter_pct / 100;
    uint64_t lo = b->open_ms - span;
    uint64_t d = lo + (span ? next_rand(b) % (2 * span + 1) : 0);
    b->state = SESS_BRK_OPEN;
    b->open_until = now_ms + (d ? d : 1);
    b->probe_inflight = false;
}

sess_brk_admit_t sess_breaker_admit(sess_breaker_t *b, uint64_t now_ms)
{
    if (b->state == SESS_BRK_CLOSED) return SESS_BRK_ALLOW;
    if (b->state == SESS_BRK_OPEN && now_ms >= b->open_until) {
        b->state = SESS_BRK_HALF_OPEN;
        b->probe_inflight = true;
        return SESS_BRK_PROBE;
    }
    return SESS_BRK_DENY;
}

sess_brk_event_t sess_breaker_success(sess_breaker_t *b, bool is_probe, uint64_t now_ms)
{
    (void)now_ms;
    if (b->state == SESS_BRK_CLOSED) {
        b->consecutive = 0;
        return SESS_BRK_SAME;
    }
    if (!is_probe || b->state != SESS_BRK_HALF_OPEN) return SESS_BRK_SAME;
    b->state = SESS_BRK_CLOSED;
    b->probe_inflight = false;
    b->consecutive = 0;
    b->transitions++;
    return SESS_BRK_CLOSED_NOW;
}

sess_brk_event_t sess_breaker_failure(sess_breaker_t *b, bool is_probe, uint64_t now_ms)
{
    if (b->state == SESS_BRK_CLOSED) {
        if (++b->consecutive < b->failures_to_open) return SESS_BRK_SAME;
        b->consecutive = 0;
        open_now(b, now_ms);
        b->transitions++;
        return SESS_BRK_OPENED;
    }
    if (!is_probe || b->state != SESS_BRK_HALF_OPEN) return SESS_BRK_SAME;
    open_now(b, now_ms);
    return SESS_BRK_REOPENED;
}

void sess_breaker_probe_abandoned(sess_breaker_t *b, uint64_t now_ms)
{
    if (b->state == SESS_BRK_HALF_OPEN) {
        b->state = SESS_BRK_OPEN;
        b->open_until = now_ms;
        b->probe_inflight = false;
    }
}
