/* hash.c - FNV-1a, XXH3 wrapper, SHA-256 (libcrypto) and random ids. */
#include "core/hash.h"
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
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

static EVP_MD *sha256_md;
static pthread_once_t sha256_once = PTHREAD_ONCE_INIT;
static pthread_key_t sha256_ctx_key;

static void sha256_ctx_free(void *c)
{
    EVP_MD_CTX_free(c);
}

static void sha256_init(void)
{
    sha256_md = EVP_MD_fetch(NULL, "SHA256", NULL);
    if (!sha256_md || pthread_key_create(&sha256_ctx_key, sha256_ctx_free) != 0) abort();
}

void hash_sha256(const void *p, size_t n, unsigned char out[32])
{
    pthread_once(&sha256_once, sha256_init);
    EVP_MD_CTX *c = pthread_getspecific(sha256_ctx_key);
    if (!c) {
        c = EVP_MD_CTX_new();
        if (!c || pthread_setspecific(sha256_ctx_key, c) != 0) abort();
    }
    unsigned int len = 0;
    if (!EVP_DigestInit_ex2(c, sha256_md, NULL) || !EVP_DigestUpdate(c, p, n) ||
        !EVP_DigestFinal_ex(c, out, &len) || len != 32)
        abort();
}

bool hash_sha256_equal(const unsigned char a[32], const unsigned char b[32])
{
    return CRYPTO_memcmp(a, b, 32) == 0;
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
