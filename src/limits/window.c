/* window.c - fixed windows, calendar periods and the numbers the limit
 * headers carry (see window.h). */
#include "limits/window.h"
#include <math.h>
#include <stdio.h>
#include <time.h>

uint64_t lim_window_start(uint64_t now_ms, uint64_t window_ms)
{
    return window_ms ? now_ms - now_ms % window_ms : now_ms;
}

uint64_t lim_window_left_ms(uint64_t now_ms, uint64_t window_ms)
{
    if (!window_ms) return 1;
    return window_ms - now_ms % window_ms;
}

/* gmtime_r + timegm cost more than the rest of a request's checks: each
 * thread keeps the last period it computed per kind. */
static __thread struct {
    uint64_t start, end;
} period_cache[3];

static void period_compute(uint64_t now_ms, cfg_period_t p, uint64_t *start, uint64_t *end);

void lim_period_bounds(uint64_t now_ms, cfg_period_t p, uint64_t *start, uint64_t *end)
{
    if ((unsigned)p < 3 && now_ms >= period_cache[p].start && now_ms < period_cache[p].end) {
        *start = period_cache[p].start;
        *end = period_cache[p].end;
        return;
    }
    period_compute(now_ms, p, start, end);
    if ((unsigned)p < 3) {
        period_cache[p].start = *start;
        period_cache[p].end = *end;
    }
}

static void period_compute(uint64_t now_ms, cfg_period_t p, uint64_t *start, uint64_t *end)
{
    time_t t = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
    tm.tm_isdst = 0;
    if (p == CFG_PERIOD_WEEK) tm.tm_mday -= (tm.tm_wday + 6) % 7; /* back to Monday */
    if (p == CFG_PERIOD_MONTH) tm.tm_mday = 1;
    time_t s = timegm(&tm);
    if (p == CFG_PERIOD_DAY)
        tm.tm_mday += 1;
    else if (p == CFG_PERIOD_WEEK)
        tm.tm_mday += 7;
    else
        tm.tm_mon += 1;
    time_t e = timegm(&tm); /* normalizes the overflowing day or month */
    *start = (uint64_t)s * 1000;
    *end = (uint64_t)e * 1000;
}

int64_t lim_add_sat(int64_t a, int64_t b)
{
    int64_t r;
    if (__builtin_add_overflow(a, b, &r)) return b > 0 ? INT64_MAX : 0;
    return r < 0 ? 0 : r;
}

int64_t lim_money_to_nano(double v)
{
    if (!(v > 0)) return 0;
    double n = v * 1e9;
    if (n >= 9.2e18) return (int64_t)9200000000000000000ll;
    return (int64_t)llround(n);
}

double lim_nano_to_money(int64_t n)
{
    return (double)n / 1e9;
}

void lim_fmt_reset(uint64_t ms, char *out, size_t n)
{
    if (ms < 1000) {
        snprintf(out, n, "%llums", (unsigned long long)ms);
        return;
    }
    uint64_t s = (ms + 999) / 1000, h = s / 3600, m = s % 3600 / 60;
    s %= 60;
    if (h)
        snprintf(out, n, "%lluh%llum%llus", (unsigned long long)h, (unsigned long long)m,
                 (unsigned long long)s);
    else if (m)
        snprintf(out, n, "%llum%llus", (unsigned long long)m, (unsigned long long)s);
    else
        snprintf(out, n, "%llus", (unsigned long long)s);
}

uint64_t lim_retry_after_s(uint64_t ms)
{
    uint64_t s = (ms + 999) / 1000;
    return s ? s : 1;
}
