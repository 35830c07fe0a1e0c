/* text_memo.c - the per-scratch memo of text results (text_memo.h). */
#include "signals/text_memo.h"

#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#define MEMO_SET_BITS 4
#define MEMO_SETS     (1 << MEMO_SET_BITS)
#define MEMO_WAYS     4

typedef struct {
    uint64_t h, tag, used; /* used: 0 = empty way */
    uint64_t at;           /* where it was written: vlen bytes of value, padded to
                            * 16, then n bytes of text, from ring[at % SIG_MEMO_BYTES] */
    uint32_t n, vlen;
} memo_ent_t;

/* Entries live in one ring of SIG_MEMO_BYTES allocated with the memo, so a
 * put never allocates (the worker's per-request allocations stay at 0).
 * Positions count bytes ever written (at, pos): an entry is written at pos,
 * skipping to the next lap when it does not fit before the ring's end. The
 * writer overwrites an entry only once pos passes its position plus the
 * ring's size, so an entry is intact while pos <= at + SIG_MEMO_BYTES (a
 * check on lookup: a put scans nothing). */
struct sig_memo {
    memo_ent_t e[MEMO_SETS][MEMO_WAYS];
    uint64_t tick;
    uint64_t pos;
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

/* The hash: the text's XXH3 (once per text) with the tag mixed in. */
static uint64_t tag_mix(uint64_t tag)
{
    return (tag + 1) * 0x9E3779B97F4A7C15ull;
}

sig_memo_key_t sig_memo_key(uint64_t tag, const char *s, size_t n)
{
    return (sig_memo_key_t){tag, XXH3_64bits(s, n) ^ tag_mix(tag), s, n};
}

/* k's text under another tag, without hashing the text again. */
static sig_memo_key_t retag(const sig_memo_key_t *k, uint64_t tag)
{
    return (sig_memo_key_t){tag, k->h ^ tag_mix(k->tag) ^ tag_mix(tag), k->s, k->n};
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

static char *ent_bytes(const sig_memo_t *m, const memo_ent_t *e)
{
    return m->ring + e->at % SIG_MEMO_BYTES;
}

/* Not an empty way, nor overwritten since. */
static bool ent_live(const sig_memo_t *m, const memo_ent_t *e)
{
    return e->used && m->pos <= e->at + SIG_MEMO_BYTES;
}

static memo_ent_t *find(sig_memo_t *m, const sig_memo_key_t *k)
{
    uint64_t h = k->h, tag = k->tag;
    const char *s = k->s;
    size_t n = k->n;
    memo_ent_t *set = m->e[h >> (64 - MEMO_SET_BITS)];
    for (size_t w = 0; w < MEMO_WAYS; w++) {
        memo_ent_t *e = &set[w];
        if (ent_live(m, e) && e->h == h && e->tag == tag && e->n == n &&
            (!n || !memcmp(ent_bytes(m, e) + text_at(e->vlen), s, n)))
            return e;
    }
    return NULL;
}

bool sig_memo_get(sig_memo_t *m, const sig_memo_key_t *k, const void **val, size_t *vlen)
{
    if (!m || k->n > SIG_MEMO_MAX_TEXT || atomic_load_explicit(&memo_bypass, memory_order_relaxed))
        return false;
    memo_ent_t *e = find(m, k);
    if (!e) return false;
    e->used = ++m->tick;
    *val = ent_bytes(m, e);
    *vlen = e->vlen;
    return true;
}

void sig_memo_put(sig_memo_t *m, const sig_memo_key_t *k, const void *val, size_t vlen)
{
    size_t n = k->n;
    if (!m || n > SIG_MEMO_MAX_TEXT || vlen > SIG_MEMO_MAX_TEXT ||
        atomic_load_explicit(&memo_bypass, memory_order_relaxed))
        return;
    uint64_t h = k->h;
    memo_ent_t *v = find(m, k);
    if (!v) {
        memo_ent_t *set = m->e[h >> (64 - MEMO_SET_BITS)];
        v = &set[0];
        for (size_t w = 0; w < MEMO_WAYS; w++) {
            if (!ent_live(m, &set[w])) {
                v = &set[w];
                break;
            }
            if (set[w].used < v->used) v = &set[w];
        }
    }
    size_t need = ent_size(vlen, n), off = m->pos % SIG_MEMO_BYTES;
    if (off + need > SIG_MEMO_BYTES) { /* to the next lap */
        m->pos += SIG_MEMO_BYTES - off;
        off = 0;
    }
    char *b = m->ring + off;
    if (vlen) memcpy(b, val, vlen);
    if (n) memcpy(b + text_at(vlen), k->s, n);
    *v = (memo_ent_t){.h = h,
                      .tag = k->tag,
                      .used = ++m->tick,
                      .at = m->pos,
                      .n = (uint32_t)n,
                      .vlen = (uint32_t)vlen};
    m->pos += need;
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
    sig_memo_key_t k0 = sig_memo_key(0, s, len);
    for (size_t i = 0; i < n; i++) {
        const void *v;
        size_t vl;
        sig_memo_key_t k = retag(&k0, TAG_RESULT(refs[i].id));
        if (!sig_memo_get(m, &k, &v, &vl) || vl != sizeof *got) return false;
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
    sig_memo_key_t k0 = sig_memo_key(0, s, len);
    for (size_t i = 0; i < n; i++) {
        const sig_result_t *r = refs[i].res;
        if (r->label || r->error || r->fallback || r->latency_us) continue;
        memo_res_t v = {r->score, r->value, r->matched, r->has_value};
        sig_memo_key_t k = retag(&k0, TAG_RESULT(refs[i].id));
        sig_memo_put(m, &k, &v, sizeof v);
    }
}
