/* window.h - the arithmetic of rate limits and budgets, pure (the caller
 * passes the clock): fixed windows aligned to the Unix epoch, UTC calendar
 * periods (day, ISO week from Monday, month), saturating counter sums, the
 * x-ratelimit-reset-* duration text and money as integer nano-units.
 *
 * Why fixed windows: every replica computes the same window from its clock
 * alone, a window is one counter (one Redis key with INCRBY and an expiry),
 * and "reset" means what the x-ratelimit-reset-* headers say: the moment the
 * counter starts again. The price is a burst of up to twice the limit across
 * a boundary; a second, shorter rule (per second under per minute) bounds it.
 * Thread-safe (no state). */
#ifndef TETHER_LIMITS_WINDOW_H
#define TETHER_LIMITS_WINDOW_H
#include "config/limits.h"
#include <stddef.h>
#include <stdint.h>

/* The start (ms since the epoch) of the window of length window_ms holding now_ms. */
uint64_t lim_window_start(uint64_t now_ms, uint64_t window_ms);
/* Milliseconds from now_ms until that window ends (>= 1). */
uint64_t lim_window_left_ms(uint64_t now_ms, uint64_t window_ms);
/* The UTC calendar period holding now_ms: its start and end (ms). */
void lim_period_bounds(uint64_t now_ms, cfg_period_t p, uint64_t *start, uint64_t *end);
/* a + b, clamped to [0, INT64_MAX]. */
int64_t lim_add_sat(int64_t a, int64_t b);
/* Money <-> nano-units (1e-9 of the currency), clamped to [0, 9.2e18]. */
int64_t lim_money_to_nano(double v);
double lim_nano_to_money(int64_t n);
/* ms as the x-ratelimit-reset-* text: "250ms", "12s", "1m0s", "2h3m4s". */
void lim_fmt_reset(uint64_t ms, char *out, size_t n);
/* Whole seconds for retry-after, rounded up (at least 1). */
uint64_t lim_retry_after_s(uint64_t ms);
#endif
