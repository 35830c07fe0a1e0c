/* hash.c - FNV-1a, XXH3 wrapper and random ids. */
#include "core/hash.h"
#include <stdio.h>
#include <sys/random.h>
#include <xxhash.h>

uint64_t hash_fnv1a64(const void *p, size_t n)
{
    const unsigned char *s = p;
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

uint64_t hash_xxh64(const void *p, size_t n, uint64_t seed)
{
    return XXH3_64bits_withSeed(p, n, seed);
}

void hash_hex16(uint64_t v, char out[17])
{
    snprintf(out, 17, "%016llx", (unsigned long long)v);
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

void hash_random_hex(char *out, size_t n)
{
    static __thread uint64_t state;
    static __thread int seeded;
    static const char hex[] = "0123456789abcdef";
    if (!seeded) {
        if (getrandom(&state, sizeof state, 0) != sizeof state) state = (uint64_t)(size_t)&state;
        seeded = 1;
    }
    uint64_t r = 0;
    for (size_t i = 0; i < n; i++) {
        if (i % 16 == 0) r = splitmix(&state);
        out[i] = hex[r & 15];
        r >>= 4;
    }
    out[n] = 0;
}
