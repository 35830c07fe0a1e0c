/* hash.h - hashing helpers: FNV-1a (stable, spec'd for the embedder) and
 * XXH3 (fast fingerprints), plus hex formatting. Thread-safe. */
#ifndef TETHER_CORE_HASH_H
#define TETHER_CORE_HASH_H
#include <stddef.h>
#include <stdint.h>
uint64_t hash_fnv1a64(const void *p, size_t n);
uint64_t hash_xxh64(const void *p, size_t n, uint64_t seed);
/* Write 16 lowercase hex digits of v into out (17 bytes incl. NUL). */
void hash_hex16(uint64_t v, char out[17]);
/* Fill out with n random hex digits (n < 64) from a thread-local PRNG. */
void hash_random_hex(char *out, size_t n);
#endif
