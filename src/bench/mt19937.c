/* mt19937.c - MT19937 (Matsumoto & Nishimura, 2002 reference algorithm) and
 * the draws CPython's random.Random builds on it (getrandbits, _randbelow,
 * randint, choice, random, uniform). Written from the published algorithm;
 * BENCH_SAAR.md gives the check values the unit tests pin. */
#include "bench/mt19937.h"
#include <assert.h>

#define MT_M        397
#define MT_MATRIX_A 0x9908b0dfu
#define MT_UPPER    0x80000000u
#define MT_LOWER    0x7fffffffu

static void mt_init_genrand(mt19937_t *g, uint32_t s)
{
    g->mt[0] = s;
    for (int i = 1; i < MT19937_N; i++)
        g->mt[i] = 1812433253u * (g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) + (uint32_t)i;
    g->mti = MT19937_N;
}

void mt19937_init_by_array(mt19937_t *g, const uint32_t *key, size_t len)
{
    assert(g && key && len >= 1);
    mt_init_genrand(g, 19650218u);
    size_t i = 1, j = 0;
    size_t k = MT19937_N > len ? MT19937_N : len;
    for (; k; k--) {
        g->mt[i] =
            (g->mt[i] ^ ((g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) * 1664525u)) + key[j] + (uint32_t)j;
        i++;
        j++;
        if (i >= MT19937_N) {
            g->mt[0] = g->mt[MT19937_N - 1];
            i = 1;
        }
        if (j >= len) j = 0;
    }
    for (k = MT19937_N - 1; k; k--) {
        g->mt[i] = (g->mt[i] ^ ((g->mt[i - 1] ^ (g->mt[i - 1] >> 30)) * 1566083941u)) - (uint32_t)i;
        i++;
        if (i >= MT19937_N) {
            g->mt[0] = g->mt[MT19937_N - 1];
            i = 1;
        }
    }
    g->mt[0] = 0x80000000u; /* non-zero initial state is assured */
    g->mti = MT19937_N;
}

void mt19937_seed(mt19937_t *g, uint32_t seed)
{
    mt19937_init_by_array(g, &seed, 1);
}

static void mt_twist(mt19937_t *g)
{
    static const uint32_t mag01[2] = {0u, MT_MATRIX_A};
    int kk;
    uint32_t y;
    for (kk = 0; kk < MT19937_N - MT_M; kk++) {
        y = (g->mt[kk] & MT_UPPER) | (g->mt[kk + 1] & MT_LOWER);
        g->mt[kk] = g->mt[kk + MT_M] ^ (y >> 1) ^ mag01[y & 1u];
    }
    for (; kk < MT19937_N - 1; kk++) {
        y = (g->mt[kk] & MT_UPPER) | (g->mt[kk + 1] & MT_LOWER);
        g->mt[kk] = g->mt[kk + (MT_M - MT19937_N)] ^ (y >> 1) ^ mag01[y & 1u];
    }
    y = (g->mt[MT19937_N - 1] & MT_UPPER) | (g->mt[0] & MT_LOWER);
    g->mt[MT19937_N - 1] = g->mt[MT_M - 1] ^ (y >> 1) ^ mag01[y & 1u];
    g->mti = 0;
}

uint32_t mt19937_u32(mt19937_t *g)
{
    if (g->mti >= MT19937_N) mt_twist(g);
    uint32_t y = g->mt[g->mti++];
    y ^= (y >> 11);
    y ^= (y << 7) & 0x9d2c5680u;
    y ^= (y << 15) & 0xefc60000u;
    y ^= (y >> 18);
    return y;
}

uint32_t mt19937_bits(mt19937_t *g, int k)
{
    assert(k >= 1 && k <= 32);
    return mt19937_u32(g) >> (32 - k);
}

uint32_t mt19937_below(mt19937_t *g, uint32_t n)
{
    assert(n >= 1);
    int k = 0;
    for (uint32_t v = n; v; v >>= 1)
        k++;
    uint32_t r = mt19937_bits(g, k);
    while (r >= n)
        r = mt19937_bits(g, k);
    return r;
}

int64_t mt19937_randint(mt19937_t *g, int64_t a, int64_t b)
{
    assert(a <= b && b - a < (int64_t)UINT32_MAX);
    return a + (int64_t)mt19937_below(g, (uint32_t)(b - a + 1));
}

size_t mt19937_choice(mt19937_t *g, size_t n)
{
    assert(n >= 1 && n <= UINT32_MAX);
    return mt19937_below(g, (uint32_t)n);
}

double mt19937_random(mt19937_t *g)
{
    uint32_t a = mt19937_u32(g) >> 5, b = mt19937_u32(g) >> 6;
    return (a * 67108864.0 + b) * (1.0 / 9007199254740992.0);
}

double mt19937_uniform(mt19937_t *g, double a, double b)
{
    return a + (b - a) * mt19937_random(g);
}
