/* splice.c - the splice writer: the upstream body is the client's body with a
 * few byte ranges replaced or inserted (new "model" value, added members),
 * described as iovec pieces that point into the original and into the
 * replacement strings. Nothing is re-serialised and nothing is copied until
 * the socket write (or jsplice_to_buf for tests and small bodies). */
#include "json/splice.h"
#include "core/arena.h"
#include <assert.h>
#include <stdlib.h>
#include <string.h>

void jsplice_init(jsplice_t *s)
{
    memset(s, 0, sizeof(*s));
}

void jsplice_init_arena(jsplice_t *s, struct arena *a)
{
    memset(s, 0, sizeof(*s));
    s->arena = a;
}

void jsplice_free(jsplice_t *s)
{
    if (!s->arena) free(s->edits);
    memset(s, 0, sizeof(*s));
}

void jsplice_add(jsplice_t *s, uint32_t off, uint32_t len, const char *repl, uint32_t repl_len)
{
    assert(repl || repl_len == 0);
    if (s->n == s->cap) {
        size_t nc = s->cap ? s->cap * 2 : 8;
        jsplice_edit_t *e =
            s->arena ? arena_grow(s->arena, s->edits, s->cap * sizeof(*e), nc * sizeof(*e))
                     : realloc(s->edits, nc * sizeof(*e));
        if (!e) abort();
        s->edits = e;
        s->cap = nc;
    }
    s->edits[s->n++] = (jsplice_edit_t){off, len, repl, repl_len};
}

/* Insertion sort: stable (insertions at one offset keep the order they were
 * added in) and linear on the usual already-sorted list of a few edits. */
void jsplice_sort(jsplice_t *s)
{
    for (size_t i = 1; i < s->n; i++) {
        jsplice_edit_t e = s->edits[i];
        size_t j = i;
        while (j > 0 && s->edits[j - 1].off > e.off) {
            s->edits[j] = s->edits[j - 1];
            j--;
        }
        s->edits[j] = e;
    }
    for (size_t i = 1; i < s->n; i++) {
        /* overlapping edits are a programmer error */
        assert((uint64_t)s->edits[i - 1].off + s->edits[i - 1].len <= s->edits[i].off);
    }
}

size_t jsplice_len(const jsplice_t *s, size_t body_len)
{
    size_t n = body_len;
    for (size_t i = 0; i < s->n; i++) {
        assert((size_t)s->edits[i].off + s->edits[i].len <= body_len);
        n = n - s->edits[i].len + s->edits[i].repl_len;
    }
    return n;
}

int jsplice_iov(const jsplice_t *s, const char *body, size_t body_len, struct iovec *iov, int max)
{
    int k = 0;
    size_t cur = 0;
#define PUSH(ptr, l)                                                                               \
    do {                                                                                           \
        if ((l) > 0) {                                                                             \
            if (k >= max) return -1;                                                               \
            iov[k].iov_base = (void *)(ptr);                                                       \
            iov[k].iov_len = (l);                                                                  \
            k++;                                                                                   \
        }                                                                                          \
    } while (0)
    for (size_t i = 0; i < s->n; i++) {
        const jsplice_edit_t *e = &s->edits[i];
        assert(e->off >= cur && (size_t)e->off + e->len <= body_len);
        PUSH(body + cur, e->off - cur);
        PUSH(e->repl, (size_t)e->repl_len);
        cur = (size_t)e->off + e->len;
    }
    PUSH(body + cur, body_len - cur);
#undef PUSH
    return k;
}

void jsplice_to_buf(const jsplice_t *s, const char *body, size_t body_len, buf_t *out)
{
    buf_reserve(out, jsplice_len(s, body_len));
    size_t cur = 0;
    for (size_t i = 0; i < s->n; i++) {
        const jsplice_edit_t *e = &s->edits[i];
        assert(e->off >= cur && (size_t)e->off + e->len <= body_len);
        buf_append(out, body + cur, e->off - cur);
        buf_append(out, e->repl, e->repl_len);
        cur = (size_t)e->off + e->len;
    }
    buf_append(out, body + cur, body_len - cur);
}
