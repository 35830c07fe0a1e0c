/* evmem.h - libevent's memory from per-thread caches of size-classed blocks
 * (issue 12): evbuffer chains, events and bufferevents are allocated and
 * freed on every request; after warm-up they come from the cache of the
 * thread that frees them instead of malloc. Install once, before any other
 * libevent call (cli/main.c does it first thing). Thread-safe. */
#ifndef TETHER_HTTP_EVMEM_H
#define TETHER_HTTP_EVMEM_H
#include <stddef.h>

void evmem_install(void);

/* The cache itself, for tests: the same functions libevent is given. */
void *evmem_malloc(size_t n);
void *evmem_realloc(void *p, size_t n);
void evmem_free(void *p);
#endif
