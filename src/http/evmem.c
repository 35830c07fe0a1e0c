/* evmem.c - a small-block cache under libevent (see evmem.h). Blocks of up
 * to 64 KiB are rounded up to a power of two (32 bytes and up) and carry a
 * 16-byte header with their class; a freed block goes to the freeing
 * thread's list for its class, up to 64 blocks or 256 KiB per class (so a
 * thread keeps at most 3 MiB), and the rest back to malloc. Larger blocks are plain malloc with the
 * header. A thread's lists are returned to malloc when it exits. */
#include "http/evmem.h"
#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_SHIFT  5            /* 32 bytes */
#define N_CLASSES  12           /* 32 B .. 64 KiB */
#define KEEP_BYTES (256 * 1024) /* cached per class and thread ... */
#define KEEP_MAX   64           /* ... and at most this many blocks */
#define BIG        UINT32_MAX

typedef struct {
    uint32_t cls; /* size class, or BIG */
    uint32_t pad;
    uint64_t size; /* BIG: the size asked for */
} hdr_t;           /* 16 bytes: keeps the payload 16-byte aligned */

typedef struct block {
    struct block *next;
} block_t;

typedef struct {
    block_t *head[N_CLASSES];
    unsigned n[N_CLASSES];
    bool registered;
} cache_t;

static __thread cache_t cache;
static pthread_key_t cache_key;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static size_t class_size(uint32_t c)
{
    return (size_t)1 << (c + MIN_SHIFT);
}

static void cache_flush(void *arg)
{
    cache_t *c = arg;
    for (int i = 0; i < N_CLASSES; i++) {
        while (c->head[i]) {
            block_t *b = c->head[i];
            c->head[i] = b->next;
            free((hdr_t *)b - 1);
        }
        c->n[i] = 0;
    }
}

static void key_init(void)
{
    pthread_key_create(&cache_key, cache_flush);
}

void *evmem_malloc(size_t n)
{
    if (n > class_size(N_CLASSES - 1)) {
        hdr_t *h = malloc(sizeof *h + n);
        if (!h) return NULL;
        h->cls = BIG;
        h->size = n;
        return h + 1;
    }
    uint32_t c = 0;
    while (class_size(c) < n)
        c++;
    if (cache.head[c]) {
        block_t *b = cache.head[c];
        cache.head[c] = b->next;
        cache.n[c]--;
        return b;
    }
    hdr_t *h = malloc(sizeof *h + class_size(c));
    if (!h) return NULL;
    h->cls = c;
    h->size = 0;
    return h + 1;
}

void evmem_free(void *p)
{
    if (!p) return;
    hdr_t *h = (hdr_t *)p - 1;
    uint32_t c = h->cls;
    if (c == BIG || cache.n[c] >= KEEP_MAX || (cache.n[c] + 1) * class_size(c) > KEEP_BYTES) {
        free(h);
        return;
    }
    if (!cache.registered) {
        pthread_once(&cache_once, key_init);
        pthread_setspecific(cache_key, &cache);
        cache.registered = true;
    }
    block_t *b = p;
    b->next = cache.head[c];
    cache.head[c] = b;
    cache.n[c]++;
}

void *evmem_realloc(void *p, size_t n)
{
    if (!p) return evmem_malloc(n);
    if (!n) {
        evmem_free(p);
        return NULL;
    }
    hdr_t *h = (hdr_t *)p - 1;
    size_t have = h->cls == BIG ? h->size : class_size(h->cls);
    if (h->cls != BIG && n <= have) return p;
    void *q = evmem_malloc(n);
    if (!q) return NULL;
    memcpy(q, p, have < n ? have : n);
    evmem_free(p);
    return q;
}

void evmem_install(void)
{
#ifndef __SANITIZE_ADDRESS__
    /* under ASan, libevent keeps plain malloc so a use after free of its
     * buffers is still caught instead of landing in a cached block */
    event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
#endif
}
