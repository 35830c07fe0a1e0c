/* sha256.h - SHA-256 (FIPS 180-4) and HMAC-SHA256 (RFC 2104) without heap
 * allocation: the request path signs binding tokens and tool-call ids on
 * every turn, and OpenSSL's one-shot HMAC allocates about twenty times per
 * call. A keyed HMAC state keeps the inner and outer pad midstates, so a
 * MAC over a short message costs two compressions plus the message's.
 * Plain structs; no global state; thread-safe. */
#ifndef TETHER_CORE_SHA256_H
#define TETHER_CORE_SHA256_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SHA256_BYTES 32

typedef struct sha256 {
    uint32_t h[8];
    uint64_t len; /* bytes hashed so far */
    unsigned char block[64];
    size_t fill;
} sha256_t;

/* The compression uses the CPU's SHA extensions when it has them (x86-64),
 * else portable C (its message schedule in SSE2 where present); both give
 * the same bytes. valgrind hides the extensions (CPUID.7:EBX.SHA reads 0
 * under it), so callgrind profiles count the portable code. Tests only:
 * on = false forces the portable code, on = true the extensions again
 * where present; returns whether they are used now. */
bool sha256_use_accel(bool on);

void sha256_init(sha256_t *s);
void sha256_update(sha256_t *s, const void *p, size_t n);
void sha256_final(sha256_t *s, unsigned char out[SHA256_BYTES]);

/* An HMAC-SHA256 key, prepared once (any length). */
typedef struct hmac_sha256_key {
    sha256_t inner, outer; /* states after the ipad / opad block */
} hmac_sha256_key_t;

void hmac_sha256_key_init(hmac_sha256_key_t *k, const void *key, size_t key_len);
/* MAC of the concatenation of n parts (ptrs[i], lens[i]). */
void hmac_sha256_parts(const hmac_sha256_key_t *k, size_t n, const void *const *ptrs,
                       const size_t *lens, unsigned char out[SHA256_BYTES]);
void hmac_sha256(const hmac_sha256_key_t *k, const void *msg, size_t len,
                 unsigned char out[SHA256_BYTES]);
#endif
