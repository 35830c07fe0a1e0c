/* splice_del.c - comma-correct deletion of array elements and object
 * members as splice edits (see splice_del.h for the rules). */
#include "json/splice_del.h"
#include <stdlib.h>

/* Span of entry number `cur`-th step: the element, or key..value. */
static bool next_entry(const char *body, jspan_t c, bool is_obj, uint32_t *cur, jspan_t *e)
{
    if (is_obj) {
        jspan_t k, v;
        if (!jscan_obj_next(body, c, cur, &k, &v)) return false;
        e->off = k.off;
        e->len = v.off + v.len - k.off;
        return true;
    }
    return jscan_arr_next(body, c, cur, e);
}

size_t jsplice_count_entries(const char *body, jspan_t c)
{
    char t = jscan_type(body, c);
    if (t != '[' && t != '{') return 0;
    size_t n = 0;
    uint32_t cur = 0;
    jspan_t e;
    while (next_entry(body, c, t == '{', &cur, &e))
        n++;
    return n;
}

int jsplice_delete_entries(jsplice_t *s, const char *body, jspan_t c, const bool *del, size_t n)
{
    char t = jscan_type(body, c);
    if (t != '[' && t != '{') return -1;
    if (jsplice_count_entries(body, c) != n) return -1;
    if (n == 0) return 0;
    jspan_t stack[16];
    jspan_t *e = n <= 16 ? stack : malloc(n * sizeof *e);
    if (!e) abort();
    uint32_t cur = 0;
    for (size_t i = 0; i < n; i++)
        next_entry(body, c, t == '{', &cur, &e[i]);
    int deleted = 0;
    size_t i = 0;
    while (i < n) {
        if (!del[i]) {
            i++;
            continue;
        }
        size_t j = i;
        while (j + 1 < n && del[j + 1])
            j++;
        uint32_t from, to;
        if (j + 1 < n) { /* a kept entry follows: take the comma after the run */
            from = e[i].off;
            to = e[j + 1].off;
        } else if (i > 0) { /* the run ends the container: take the comma before it */
            from = e[i - 1].off + e[i - 1].len;
            to = e[j].off + e[j].len;
        } else { /* everything goes */
            from = e[0].off;
            to = e[n - 1].off + e[n - 1].len;
        }
        jsplice_add(s, from, to - from, NULL, 0);
        deleted += (int)(j - i + 1);
        i = j + 1;
    }
    if (e != stack) free(e);
    return deleted;
}
