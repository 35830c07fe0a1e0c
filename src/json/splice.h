/* splice.h - rewrite a JSON body by splicing bytes around the original:
 * replace value spans, insert members, never re-serialise.
 * Thread-safe; the result references the original body (zero copy). */
#ifndef TETHER_JSON_SPLICE_H
#define TETHER_JSON_SPLICE_H
#include "core/buf.h"
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct jsplice_edit {
    uint32_t off, len; /* bytes of the original to drop (len 0 = insert at off) */
    const char *repl;  /* bytes to put there */
    uint32_t repl_len;
} jsplice_edit_t;

typedef struct jsplice {
    jsplice_edit_t *edits;
    size_t n, cap;
    struct arena *arena; /* NULL: edits are malloc'd; else from this arena */
} jsplice_t;

void jsplice_init(jsplice_t *s);
/* The edit list in the arena a (the request path: no malloc); jsplice_free
 * then only forgets it. */
void jsplice_init_arena(jsplice_t *s, struct arena *a);
void jsplice_free(jsplice_t *s);
void jsplice_add(jsplice_t *s, uint32_t off, uint32_t len, const char *repl, uint32_t repl_len);
/* Sort edits by offset (stable). Overlapping edits are a programmer error. */
void jsplice_sort(jsplice_t *s);
/* Total output length. */
size_t jsplice_len(const jsplice_t *s, size_t body_len);
/* Fill iov with the pieces of the output (original slices and replacements);
 * returns the number used, or -1 when more than max would be needed. */
int jsplice_iov(const jsplice_t *s, const char *body, size_t body_len, struct iovec *iov, int max);
/* Write the output to a buffer (tests and small bodies). */
void jsplice_to_buf(const jsplice_t *s, const char *body, size_t body_len, buf_t *out);
#endif
