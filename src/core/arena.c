/* arena.c - chunked bump allocator used for everything a request owns, so
 * the request path frees memory once, at the end, and mostly does no malloc
 * once the first chunk is warm. */
#include "core/arena.h"
#include "core/thread_exit.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
    arena_chunk_t *next;
    size_t size, used;
    _Alignas(16) unsigned char data[];
};

/* Chunks a thread gave back (at an arena's reset or end), kept for its next
 * chunk of the same size: a worker's request arenas then take their extra
 * chunks from here instead of malloc. Small and bounded; emptied when the
 * thread exits. Off under ASan, so a use after free is still caught. */
#ifdef __SANITIZE_ADDRESS__
#define CHUNK_CACHE_MAX 0
#else
#define CHUNK_CACHE_MAX 8
#endif
#define CHUNK_CACHE_SIZE_MAX (64 * 1024) /* larger chunks go back to malloc */
static __thread arena_chunk_t *chunk_cache;
static __thread size_t chunk_cache_n;

static void chunk_cache_drain(void *unused)
{
    (void)unused;
    while (chunk_cache) {
        arena_chunk_t *c = chunk_cache;
        chunk_cache = c->next;
        free(c);
    }
    chunk_cache_n = 0;
}
/* empties a thread's cache at its exit (unused when ASan turns the cache off) */
__attribute__((unused)) static core_thread_exit_t chunk_cache_exit =
    CORE_THREAD_EXIT_INIT(chunk_cache_drain);

static void chunk_release(arena_chunk_t *c)
{
#if CHUNK_CACHE_MAX > 0
    if (c->size <= CHUNK_CACHE_SIZE_MAX && chunk_cache_n < CHUNK_CACHE_MAX) {
        if (!chunk_cache) core_thread_exit_arm(&chunk_cache_exit, &chunk_cache);
        c->next = chunk_cache;
        chunk_cache = c;
        chunk_cache_n++;
        return;
    }
#endif
    free(c);
}

static arena_chunk_t *chunk_new(size_t size)
{
    arena_chunk_t *c = NULL;
    for (arena_chunk_t **pc = &chunk_cache; *pc; pc = &(*pc)->next)
        if ((*pc)->size == size) {
            c = *pc;
            *pc = c->next;
            chunk_cache_n--;
            break;
        }
    if (!c) c = malloc(sizeof(*c) + size);
    if (!c) abort();
    c->next = NULL;
    c->size = size;
    c->used = 0;
    return c;
}

void arena_init(arena_t *a, size_t chunk_size)
{
    a->chunk_size = chunk_size ? chunk_size : 8192;
    a->head = NULL;
    a->total = 0;
}

void arena_reset(arena_t *a)
{
    arena_chunk_t *c = a->head;
    if (!c) return;
    /* keep the oldest chunk (last in list) */
    while (c->next) {
        arena_chunk_t *n = c->next;
        chunk_release(c);
        c = n;
    }
    c->used = 0;
    a->head = c;
    a->total = 0;
}

void arena_deinit(arena_t *a)
{
    arena_chunk_t *c = a->head;
    while (c) {
        arena_chunk_t *n = c->next;
        chunk_release(c);
        c = n;
    }
    a->head = NULL;
    a->total = 0;
}

void *arena_alloc(arena_t *a, size_t n)
{
    n = (n + 15) & ~(size_t)15;
    if (n == 0) n = 16;
    arena_chunk_t *c = a->head;
    if (!c || c->size - c->used < n) {
        size_t sz = a->chunk_size;
        if (n > sz / 2) sz = n; /* big allocation: its own chunk */
        arena_chunk_t *nc = chunk_new(sz);
        if (c && sz == n && c->size - c->used >= 256) {
            /* keep the current chunk on top; slot the big one behind it */
            nc->next = c->next;
            c->next = nc;
            nc->used = n;
            a->total += n;
            return nc->data;
        }
        nc->next = c;
        a->head = c = nc;
    }
    void *p = c->data + c->used;
    c->used += n;
    a->total += n;
    return p;
}

void *arena_grow(arena_t *a, void *p, size_t old, size_t n)
{
    if (!p || n <= old) {
        void *q = n ? arena_alloc(a, n) : NULL;
        if (p && q && old) memcpy(q, p, old < n ? old : n);
        return q ? q : p;
    }
    /* the newest block of the current chunk: extended in place when the
     * chunk has room (a buffer growing on the request path) */
    arena_chunk_t *h = a->head;
    size_t o16 = (old + 15) & ~(size_t)15, n16 = (n + 15) & ~(size_t)15;
    if (h && (unsigned char *)p >= h->data && (unsigned char *)p + o16 == h->data + h->used &&
        h->size - h->used >= n16 - o16) {
        h->used += n16 - o16;
        a->total += n16 - o16;
        return p;
    }
    /* a dedicated chunk: its data is p and it holds exactly one block */
    for (arena_chunk_t **pc = &a->head; *pc; pc = &(*pc)->next) {
        arena_chunk_t *c = *pc;
        if ((void *)c->data != p || c->used != c->size || c->size != ((old + 15) & ~(size_t)15))
            continue;
        size_t sz = (n + 15) & ~(size_t)15;
        arena_chunk_t *nc = realloc(c, sizeof(*nc) + sz);
        if (!nc) abort();
        a->total += sz - nc->used;
        nc->size = nc->used = sz;
        *pc = nc;
        return nc->data;
    }
    void *q = arena_alloc(a, n);
    memcpy(q, p, old);
    return q;
}

void *arena_calloc(arena_t *a, size_t n)
{
    void *p = arena_alloc(a, n);
    memset(p, 0, n);
    return p;
}

char *arena_strndup(arena_t *a, const char *s, size_t n)
{
    char *p = arena_alloc(a, n + 1);
    if (n) memcpy(p, s, n);
    p[n] = 0;
    return p;
}

char *arena_strdup(arena_t *a, const char *s)
{
    return arena_strndup(a, s, strlen(s));
}

char *arena_sprintf(arena_t *a, const char *fmt, ...)
{
    va_list ap, ap2;
    va_start(ap, fmt);
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) n = 0;
    char *p = arena_alloc(a, (size_t)n + 1);
    vsnprintf(p, (size_t)n + 1, fmt, ap2);
    va_end(ap2);
    return p;
}
