/* hash.h - hashing helpers: FNV-1a (stable, spec'd for the embedder),
 * XXH3 (fast fingerprints), SHA-256 (libcrypto, for stored client keys),
 * plus hex formatting. Thread-safe. */
#ifndef TETHER_CORE_HASH_H
#define TETHER_CORE_HASH_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
uint64_t hash_fnv1a64(const void *p, size_t n);
uint64_t hash_xxh64(const void *p, size_t n, uint64_t seed);
/* Write 16 lowercase hex digits of v into out (17 bytes incl. NUL). */
void hash_hex16(uint64_t v, char out[17]);
/* SHA-256 of p[0..n) into out, through a per-thread reused libcrypto context
 * (a one-shot SHA256() call fetches the algorithm each time, ~4x slower). */
void hash_sha256(const void *p, size_t n, unsigned char out[32]);
/* a == b over 32 bytes, in constant time. */
bool hash_sha256_equal(const unsigned char a[32], const unsigned char b[32]);
/* Fill out with n random hex digits (n < 64) from a thread-local PRNG. */
void hash_random_hex(char *out, size_t n);
#endif
