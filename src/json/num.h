/* num.h - a JSON number (a double, as cJSON and the scanner give it) to an
 * integer type without undefined behaviour: a value outside the type's
 * range, or NaN, gives the caller's default instead of a conversion C
 * leaves undefined (fuzz_translate found 8.9e63 as an upstream's index).
 * Fractions are truncated toward zero, as a cast does. */
#ifndef TETHER_JSON_NUM_H
#define TETHER_JSON_NUM_H
#include <stdint.h>

static inline int64_t json_num_i64(double d, int64_t dflt)
{
    return d > -9.2e18 && d < 9.2e18 ? (int64_t)d : dflt;
}

static inline uint64_t json_num_u64(double d, uint64_t dflt)
{
    return d > -1.0 && d < 1.8e19 ? (uint64_t)d : dflt;
}

static inline uint32_t json_num_u32(double d, uint32_t dflt)
{
    return d > -1.0 && d < 4294967296.0 ? (uint32_t)d : dflt;
}

static inline int json_num_int(double d, int dflt)
{
    return d > -2147483648.0 && d < 2147483647.0 ? (int)d : dflt;
}

/* Token counts from outside added up: non-negative terms, and a sum past
 * INT64_MAX stays at INT64_MAX instead of overflowing (undefined). */
static inline int64_t json_count_add(int64_t a, int64_t b)
{
    return b > INT64_MAX - a ? INT64_MAX : a + b;
}
#endif
