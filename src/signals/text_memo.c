/* text_memo.c - the per-scratch memo of text results (text_memo.h). */
#include "signals/text_memo.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define MEMO_SET_BITS 4
#define MEMO_SETS     (1 << MEMO_SET_BITS)
#define MEMO_WAYS     4

typedef struct {
    uint64_t h, tag, used; /* used: 0 = empty way */
    uint32_t off;          /* in ring: vlen bytes of value, padded to 16, then n bytes of text */
    uint32_t n, vlen;
} memo_ent_t;

/* Entries live in one ring of SIG_MEMO_BYTES allocated with the memo, so a
 * put never allocates (the worker's per-request allocations stay at 0):
 * a new entry is written at head, wrapping to 0 when it does not fit, and
 * every entry whose bytes it overwrites is dropped. */
struct sig_memo {
    memo_ent_t e[MEMO_SETS][MEMO_WAYS];
    uint64_t tick;
    size_t head;
    char *ring;
};

static atomic_bool memo_bypass;

void sig_memo_bypass(bool on)
{
    atomic_store_explicit(&memo_bypass, on, memory_order_relaxed);
}

sig_memo_t *sig_memo_new(void)
{
    sig_memo_t *m = calloc(1, sizeof *m);
    if (m && !(m->ring = malloc(SIG_MEMO_BYTES))) {
        free(m);
        m = NULL;
    }
    return m;
}

void sig_memo_free(sig_memo_t *m)
{
    if (!m) return;
    free(m->ring);
    free(m);
}

/* The set hash: the tag, the length and eight 8-byte words spread over the
 * text (first and last included). Not the whole text: a lookup compares
 * the text in full anyway, so the hash only has to spread the entries, and
 * texts that differ only between the samples merely share a set. */
static uint64_t mix(uint64_t h, uint64_t w)
{
    h = (h ^ w) * 0x9E3779B97F4A7C15ull;
    return h ^ (h >> 29);
}

static uint64_t key_hash(uint64_t tag, const char *s, size_t n)
{
    uint64_t h = mix(tag, (uint64_t)n);
    if (n < 8) {
        uint64_t w = 0;
        if (n) memcpy(&w, s, n);
        return mix(h, w);
    }
    size_t step = (n - 8) / 7;
    for (size_t i = 0; i < 7; i++) {
        uint64_t w;
        memcpy(&w, s + i * step, 8);
        h = mix(h, w);
    }
    uint64_t w;
    memcpy(&w, s + n - 8, 8);
    return mix(h, w);
}

/* Where the text starts in an entry. */
static size_t text_at(size_t vlen)
{
    return (vlen + 15) & ~(size_t)15;
}

/* Bytes an entry takes in the ring (a multiple of 16). */
static size_t ent_size(size_t vlen, size_t n)
{
    return text_at(vlen) + ((n + 15) & ~(size_t)15);
}

static memo_ent_t *find(sig_memo_t *m, uint64_t h, uint64_t tag, const char *s, size_t n)
{
    memo_ent_t *set = m->e[h >> (64 - MEMO_SET_BITS)];
    for (size_t w = 0; w < MEMO_WAYS; w++) {
        memo_ent_t *e = &set[w];
        if (e->used && e->h == h && e->tag == tag && e->n == n &&
            (!n || !memcmp(m->ring + e->off + text_at(e->vlen), s, n)))
            return e;
    }
    return NULL;
}

bool sig_memo_get(sig_memo_t *m, uint64_t tag, const char *s, size_t n, const void **val,
                  size_t *vlen)
{
    if (!m || n > SIG_MEMO_MAX_TEXT || atomic_load_explicit(&memo_bypass, memory_order_relaxed))
        return false;
    memo_ent_t *e = find(m, key_hash(tag, s, n), tag, s, n);
    if (!e) return false;
    e->used = ++m->tick;
    *val = m->ring + e->off;
    *vlen = e->vlen;
    return true;
}

void sig_memo_put(sig_memo_t *m, uint64_t tag, const char *s, size_t n, const void *val,
                  size_t vlen)
{
    if (!m || n > SIG_MEMO_MAX_TEXT || vlen > SIG_MEMO_MAX_TEXT ||
        atomic_load_explicit(&memo_bypass, memory_order_relaxed))
        return;
    uint64_t h = key_hash(tag, s, n);
    memo_ent_t *v = find(m, h, tag, s, n);
    if (!v) {
        memo_ent_t *set = m->e[h >> (64 - MEMO_SET_BITS)];
        v = &set[0];
        for (size_t w = 0; w < MEMO_WAYS && v->used; w++)
            if (!set[w].used || set[w].used < v->used) v = &set[w];
    }
    v->used = 0;
    size_t need = ent_size(vlen, n);
    if (m->head + need > SIG_MEMO_BYTES) m->head = 0;
    size_t lo = m->head, hi = lo + need;
    /* drop what [lo, hi) overwrites */
    for (size_t k = 0; k < MEMO_SETS; k++)
        for (size_t w = 0; w < MEMO_WAYS; w++) {
            memo_ent_t *e = &m->e[k][w];
            if (e->used && e->off < hi && lo < e->off + ent_size(e->vlen, e->n)) e->used = 0;
        }
    char *b = m->ring + lo;
    if (vlen) memcpy(b, val, vlen);
    if (n) memcpy(b + text_at(vlen), s, n);
    *v = (memo_ent_t){.h = h,
                      .tag = tag,
                      .used = ++m->tick,
                      .off = (uint32_t)lo,
                      .n = (uint32_t)n,
                      .vlen = (uint32_t)vlen};
    m->head = hi;
}

/* ---- whole results per rule ---- */

typedef struct {
    double score, value;
    bool matched, has_value;
} memo_res_t;

#define TAG_RESULT(id) ((uint64_t)1 << 32 | (id))

bool sig_memo_get_results(sig_memo_t *m, const sig_ref_t *refs, size_t n, const char *s, size_t len)
{
    memo_res_t got[SIG_MEMO_MAX_REFS];
    if (!m || !n || n > SIG_MEMO_MAX_REFS) return false;
    for (size_t i = 0; i < n; i++) {
        const void *v;
        size_t vl;
        if (!sig_memo_get(m, TAG_RESULT(refs[i].id), s, len, &v, &vl) || vl != sizeof *got)
            return false;
        memcpy(&got[i], v, sizeof *got);
    }
    for (size_t i = 0; i < n; i++) {
        sig_result_t *r = refs[i].res;
        r->matched = got[i].matched;
        r->score = got[i].score;
        r->value = got[i].value;
        r->has_value = got[i].has_value;
    }
    return true;
}

void sig_memo_put_results(sig_memo_t *m, const sig_ref_t *refs, size_t n, const char *s, size_t len)
{
    if (!m || n > SIG_MEMO_MAX_REFS) return;
    for (size_t i = 0; i < n; i++) {
        const sig_result_t *r = refs[i].res;
        if (r->label || r->error || r->fallback || r->latency_us) continue;
        memo_res_t v = {r->score, r->value, r->matched, r->has_value};
        sig_memo_put(m, TAG_RESULT(refs[i].id), s, len, &v, sizeof v);
    }
}
