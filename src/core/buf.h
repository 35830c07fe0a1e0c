/* buf.h - growable byte buffer (heap, or a request's arena), the one string
 * builder used everywhere. Always NUL-terminated after any append. Not
 * thread-safe. */
#ifndef TETHER_CORE_BUF_H
#define TETHER_CORE_BUF_H
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

struct arena;
typedef struct buf {
    char *data;
    size_t len, cap;
    /* NULL: data is malloc'd. Else data lives in this arena (BUF_ARENA) and
     * is released with it: buf_free only forgets it, buf_steal copies it. */
    struct arena *arena;
} buf_t;

#define BUF_INIT                                                                                   \
    {                                                                                              \
        0                                                                                          \
    }
/* An empty buffer whose bytes come from the arena a (the request path's
 * buffers: no malloc once the arena is warm). */
#define BUF_ARENA(a) ((buf_t){.data = NULL, .len = 0, .cap = 0, .arena = (a)})
void buf_reserve(buf_t *b, size_t extra);
/* buf_append's path when the bytes do not fit the capacity (grows first). */
void buf_append_grow(buf_t *b, const void *p, size_t n);
/* The appends are inline: the renderers on the request path call them for
 * every few bytes, and a literal's length and copy then fold to a few
 * moves. */
static inline void buf_append(buf_t *b, const void *p, size_t n)
{
    if (b->len + n >= b->cap) {
        buf_append_grow(b, p, n);
        return;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = 0;
}
static inline void buf_puts(buf_t *b, const char *s)
{
    buf_append(b, s, strlen(s));
}
static inline void buf_putc(buf_t *b, char c)
{
    if (b->len + 1 >= b->cap) {
        buf_append_grow(b, &c, 1);
        return;
    }
    b->data[b->len++] = c;
    b->data[b->len] = 0;
}
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
/* Append v in decimal: printf's "%llu" / "%lld" bytes (and "%d", "%u",
 * "%zu" for the narrower types) without printf. */
void buf_uint(buf_t *b, unsigned long long v);
void buf_int(buf_t *b, long long v);
/* Append a JSON number: integers as such, others with up to 6 decimals
 * (trailing zeros trimmed); "null" for NaN and infinities. */
void buf_num(buf_t *b, double v);
/* Append v as printf("%.*f", decimals, v) would (decimals 0..9), the same
 * bytes, without printf for ordinary magnitudes (renderers on the request
 * path); printf itself for the rest. */
void buf_fixed(buf_t *b, double v, int decimals);
/* Append v as printf("%.6g", v) would, the same bytes, without printf for
 * magnitudes in [1e-4, 1e5) and +0 (scores and confidences); printf itself
 * for the rest. */
void buf_g6(buf_t *b, double v);
/* Append s as a JSON string literal, quotes included. */
void buf_json_str(buf_t *b, const char *s, size_t n);
/* Append the NUL-terminated s as a JSON string literal, or null when s is NULL. */
void buf_json_cstr(buf_t *b, const char *s);
/* Append ,"key":<s as a JSON string> when s is not NULL; nothing when it is
 * (an optional field of an object being written). key is not escaped. */
void buf_json_opt(buf_t *b, const char *key, const char *s);
void buf_reset(buf_t *b);
void buf_free(buf_t *b);
/* Append everything left to read from f; false on a read error (what was
 * read before it stays appended). */
bool buf_read_stream(buf_t *b, FILE *f);
/* One of the calling thread's scratch buffers (slot < BUF_SCRATCH_SLOTS),
 * emptied: kept between calls so a per-event builder on the request path
 * does not malloc. A slot belongs to one caller until it returns (do not
 * hold it across callbacks); one grown past 64 KiB is released at the next
 * call; all are freed when the thread exits. */
#define BUF_SCRATCH_SLOTS 4
buf_t *buf_scratch(unsigned slot);
/* Hand the bytes to the caller (malloc'd, NUL-terminated); b becomes empty. */
char *buf_steal(buf_t *b);
#endif
