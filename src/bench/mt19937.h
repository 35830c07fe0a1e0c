/* mt19937.h - the Mersenne Twister with CPython's `random.Random` draws, so the
 * session benchmark (BENCH_SAAR.md) regenerates its workload bit-exactly.
 * A generator is a plain value: embed it, seed it, draw. Not thread-safe (one
 * generator per run); no allocation. */
#ifndef TETHER_BENCH_MT19937_H
#define TETHER_BENCH_MT19937_H
#include <stddef.h>
#include <stdint.h>

#define MT19937_N 624

typedef struct mt19937 {
    uint32_t mt[MT19937_N];
    int mti;
} mt19937_t;

/* CPython's seed for a non-negative int below 2^32: init_by_array([seed]). */
void mt19937_seed(mt19937_t *g, uint32_t seed);
/* The reference init_by_array over key[0..len-1] (len >= 1). */
void mt19937_init_by_array(mt19937_t *g, const uint32_t *key, size_t len);
uint32_t mt19937_u32(mt19937_t *g);
/* getrandbits(k) for 1 <= k <= 32. */
uint32_t mt19937_bits(mt19937_t *g, int k);
/* _randbelow(n), n >= 1: rejection sampling on bit_length(n) bits. */
uint32_t mt19937_below(mt19937_t *g, uint32_t n);
/* randint(a, b), a <= b, b - a < 2^32 - 1. */
int64_t mt19937_randint(mt19937_t *g, int64_t a, int64_t b);
/* choice(seq) as an index into a sequence of n >= 1 items. */
size_t mt19937_choice(mt19937_t *g, size_t n);
/* random(): 53-bit double in [0, 1). */
double mt19937_random(mt19937_t *g);
/* uniform(a, b) = a + (b - a) * random(). */
double mt19937_uniform(mt19937_t *g, double a, double b);
#endif
