/* arena.h - per-request bump allocator: many small allocations, one free.
 * Not thread-safe: one arena belongs to one request on one worker. */
#ifndef TETHER_CORE_ARENA_H
#define TETHER_CORE_ARENA_H
#include <stddef.h>

typedef struct arena_chunk arena_chunk_t;
typedef struct arena {
    arena_chunk_t *head; /* current chunk */
    size_t chunk_size;   /* default size of new chunks */
    size_t total;        /* bytes handed out, for stats */
} arena_t;

void arena_init(arena_t *a, size_t chunk_size);
/* Release everything except the first chunk, which is kept for reuse. */
void arena_reset(arena_t *a);
void arena_deinit(arena_t *a);
/* 16-byte aligned; never returns NULL (aborts on OOM). */
void *arena_alloc(arena_t *a, size_t n);
void *arena_calloc(arena_t *a, size_t n);
/* Grow the block p (old bytes, NULL/0 for none) from arena_alloc to n bytes
 * and return it (contents kept). A block big enough to have its own chunk is
 * grown in place with realloc, so growing by doubling costs the final size,
 * not the sum of the copies; a small one is copied into a new block. */
void *arena_grow(arena_t *a, void *p, size_t old, size_t n);
char *arena_strndup(arena_t *a, const char *s, size_t n);
char *arena_strdup(arena_t *a, const char *s);
char *arena_sprintf(arena_t *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#endif
