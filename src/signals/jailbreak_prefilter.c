/* jailbreak_prefilter.c - the anchor-word test run before the jailbreak
 * pattern database (jailbreak_prefilter.h). Cost: one pass to find word
 * starts (16 bytes at a time with SSE2), then per word a bit test in a
 * table keyed by its first two letters and the class of the third; only
 * words that pass it are compared with the anchors sharing those two
 * letters. Each anchor carries the (pattern, group) slots it ticks; the
 * slots of one pattern sit in one 64-bit word, so the final "has a pattern
 * all its groups?" test is a mask compare per pattern.
 * Neighbours: jailbreak_patterns.c builds one per curated-only library. */
#include "signals/jailbreak_prefilter.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define PF_WORDS   4  /* slot words: 256 (pattern, group) slots with guards */
#define PF_MAX_LEN 31 /* longest anchor */
/* keys: 5 bits per byte, a letter as its (c & 31) (1..26 in either case),
 * the third byte 0 when it is not a letter */
#define PF_K2  1024
#define PF_K3  (PF_K2 * 32)
#define PF_K3W (PF_K3 / 64)

typedef struct {
    char s[PF_MAX_LEN + 1];
    unsigned len;
    unsigned key; /* two-letter key (len 2) or three-byte key */
    /* its first (up to) 8 bytes for one compare: (text | fold) & mask ==
     * pre, fold setting the case bit where the anchor has a letter */
    uint64_t pre, mask, fold;
    uint64_t slots[PF_WORDS];
} pf_anchor_t;

struct jb_pf {
    bool always;    /* a pattern without anchors: every text may match */
    pf_anchor_t *a; /* three bytes and longer, sorted by key */
    unsigned n_a;
    pf_anchor_t *two; /* two-letter anchors */
    unsigned n_two;
    uint8_t two_at[PF_K2]; /* index + 1 into two, by two-letter key */
    uint64_t keys[PF_K3W]; /* three-byte keys of a[]: a bit test before bucket[] */
    uint8_t *bucket;       /* PF_K3: index + 1 into first[] by three-byte key */
    uint16_t *first;       /* per key: its first anchor in a[]; one more at the end */
    /* Each pattern owns its groups' bits and one guard bit above them in a
     * slot word: missing + need sets a guard exactly when a group of its
     * pattern is still missing (need fills the low bits of every range). */
    uint64_t need[PF_WORDS], guard[PF_WORDS];
};

static inline bool is_letter(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26;
}

/* the third byte's part of a key: 1..26 for a letter, 0 for anything else */
static inline unsigned class3(unsigned char c)
{
    return is_letter(c) ? (unsigned)(c & 31) : 0;
}

void jb_pf_free(jb_pf_t *pf)
{
    if (!pf) return;
    free(pf->a);
    free(pf->two);
    free(pf->first);
    free(pf->bucket);
    free(pf);
}

/* Add word w (length n) with slot bit (word, bit); merges duplicates. */
static int add_anchor(pf_anchor_t **v, unsigned *n_v, unsigned *cap, const char *w, size_t n,
                      unsigned word, uint64_t bit)
{
    for (unsigned k = 0; k < *n_v; k++)
        if ((*v)[k].len == n && !memcmp((*v)[k].s, w, n)) {
            (*v)[k].slots[word] |= bit;
            return 0;
        }
    if (*n_v == *cap) {
        unsigned nc = *cap ? *cap * 2 : 64;
        pf_anchor_t *nv = realloc(*v, nc * sizeof *nv);
        if (!nv) return -1;
        *v = nv;
        *cap = nc;
    }
    pf_anchor_t *an = &(*v)[(*n_v)++];
    memset(an, 0, sizeof *an);
    for (size_t k = 0; k < n; k++)
        an->s[k] = is_letter((unsigned char)w[k]) ? (char)(w[k] | 0x20) : w[k];
    an->len = (unsigned)n;
    unsigned char pre[8] = {0}, mask[8] = {0}, fold[8] = {0};
    for (size_t k = 0; k < n && k < 8; k++) {
        pre[k] = (unsigned char)an->s[k];
        mask[k] = 0xFF;
        fold[k] = is_letter(pre[k]) ? 0x20 : 0;
    }
    memcpy(&an->pre, pre, 8);
    memcpy(&an->mask, mask, 8);
    memcpy(&an->fold, fold, 8);
    an->key = (unsigned)(an->s[0] & 31) << 5 | (unsigned)(an->s[1] & 31);
    if (n > 2) an->key = an->key << 5 | class3((unsigned char)an->s[2]);
    an->slots[word] = bit;
    return 0;
}

static int cmp_anchor(const void *x, const void *y)
{
    const pf_anchor_t *a = x, *b = y;
    return a->key < b->key ? -1 : a->key > b->key;
}

static bool word_ok(const char *w, size_t n)
{
    if (n < 2 || n > PF_MAX_LEN || !is_letter((unsigned char)w[0]) ||
        !is_letter((unsigned char)w[1]))
        return false;
    for (size_t k = 2; k < n; k++)
        if (!is_letter((unsigned char)w[k]) && w[k] != '_') return false;
    return true;
}

jb_pf_t *jb_pf_new(const char *const *anchors, size_t n_patterns)
{
    jb_pf_t *pf = calloc(1, sizeof *pf);
    if (!pf) return NULL;
    unsigned cap = 0, cap2 = 0, word = 0, used = 0; /* slot bits used in the current word */
    for (size_t p = 0; p < n_patterns; p++) {
        const char *s = anchors ? anchors[p] : NULL;
        if (!s || !*s) {
            pf->always = true;
            continue;
        }
        unsigned groups = 1;
        for (const char *c = s; *c; c++)
            groups += *c == ',';
        if (groups > 63) goto fail;
        if (used + groups + 1 > 64) word++, used = 0;
        if (word >= PF_WORDS) goto fail;
        uint64_t mine = 0;
        unsigned g = used;
        const char *c = s;
        while (*c) {
            while (*c == ' ')
                c++;
            if (*c == ',') {
                g++, c++;
                continue;
            }
            const char *w = c;
            while (*c && *c != ' ' && *c != ',')
                c++;
            if (c == w) continue;
            size_t n = (size_t)(c - w);
            if (!word_ok(w, n)) goto fail;
            uint64_t bit = (uint64_t)1 << g;
            mine |= bit;
            if (n == 2 ? add_anchor(&pf->two, &pf->n_two, &cap2, w, n, word, bit)
                       : add_anchor(&pf->a, &pf->n_a, &cap, w, n, word, bit))
                goto fail;
        }
        uint64_t range = (((uint64_t)1 << groups) - 1) << used;
        if (mine != range) goto fail; /* a group without a word */
        pf->need[word] |= range;
        pf->guard[word] |= (uint64_t)1 << (used + groups);
        used += groups + 1;
    }
    if (pf->n_two > 255 || pf->n_a > 65535) goto fail;
    for (unsigned k = 0; k < pf->n_two; k++)
        pf->two_at[pf->two[k].key] = (uint8_t)(k + 1);
    if (pf->n_a) qsort(pf->a, pf->n_a, sizeof *pf->a, cmp_anchor);
    unsigned n_keys = 0;
    for (unsigned k = 0; k < pf->n_a; k++)
        if (!((pf->keys[pf->a[k].key >> 6] >> (pf->a[k].key & 63)) & 1)) {
            pf->keys[pf->a[k].key >> 6] |= (uint64_t)1 << (pf->a[k].key & 63);
            n_keys++;
        }
    if (n_keys > 255) goto fail;
    pf->first = calloc(n_keys + 1, sizeof *pf->first);
    pf->bucket = calloc(PF_K3, 1);
    if (!pf->first || !pf->bucket) goto fail;
    for (unsigned k = 0, at = 0; k < pf->n_a; k++)
        if (!k || pf->a[k].key != pf->a[k - 1].key) {
            pf->first[at++] = (uint16_t)k;
            pf->bucket[pf->a[k].key] = (uint8_t)at;
        }
    pf->first[n_keys] = (uint16_t)pf->n_a;
    return pf;
fail:
    jb_pf_free(pf);
    return NULL;
}

static inline void tick(uint64_t *st, const pf_anchor_t *an)
{
    for (unsigned w = 0; w < PF_WORDS; w++)
        st[w] |= an->slots[w];
}

/* Tick the slots of the anchors that the word at text[i] starts with. */
static inline __attribute__((always_inline)) void word_at(const jb_pf_t *pf, const unsigned char *t,
                                                          size_t i, size_t n, uint64_t *st)
{
    if (i + 1 >= n || !is_letter(t[i + 1])) return;
    unsigned k2 = (unsigned)(t[i] & 31) << 5 | (unsigned)(t[i + 1] & 31);
    if (pf->two_at[k2]) tick(st, &pf->two[pf->two_at[k2] - 1]);
    unsigned key = k2 << 5 | (i + 2 < n ? class3(t[i + 2]) : 0);
    if (!((pf->keys[key >> 6] >> (key & 63)) & 1)) return;
    unsigned b = pf->bucket[key];
    uint64_t w8 = 0;
    if (n - i >= 8) memcpy(&w8, t + i, 8);
    for (unsigned k = pf->first[b - 1]; k < pf->first[b]; k++) {
        const pf_anchor_t *an = &pf->a[k];
        if (an->len > n - i) continue;
        unsigned j = 0;
        if (n - i >= 8) {
            if (((w8 | an->fold) & an->mask) != an->pre) continue;
            j = 8;
        }
        while (j < an->len && (t[i + j] == (unsigned char)an->s[j] ||
                               (t[i + j] | 0x20) == (unsigned char)an->s[j]))
            j++;
        if (j >= an->len) tick(st, an);
    }
}

/* Word starts of the 16 bytes at t + i (the first `valid` of them count),
 * given whether the byte before is a letter (*carry, updated). */
static inline __attribute__((always_inline)) unsigned word_starts(const unsigned char *p,
                                                                  unsigned valid, unsigned *carry)
{
    unsigned m = 0;
#ifdef __SSE2__
    const __m128i v = _mm_or_si128(_mm_loadu_si128((const __m128i *)p), _mm_set1_epi8(0x20));
    /* signed compares: bytes >= 0x80 are negative, so never letters */
    const __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(v, _mm_set1_epi8('a' - 1)),
                                         _mm_cmplt_epi8(v, _mm_set1_epi8('z' + 1)));
    m = (unsigned)_mm_movemask_epi8(letter);
#else
    for (unsigned j = 0; j < 16; j++)
        m |= (unsigned)is_letter(p[j]) << j;
#endif
    m &= valid >= 16 ? 0xFFFFu : (1u << valid) - 1;
    unsigned starts = m & ~((m << 1) | *carry);
    *carry = (m >> 15) & 1;
    return starts;
}

bool jb_pf_may_match(const jb_pf_t *pf, const char *text, size_t len)
{
    if (pf->always) return true;
    const unsigned char *t = (const unsigned char *)text;
    uint64_t st[PF_WORDS] = {0};
    unsigned carry = 0;
    unsigned char tail[16];
    for (size_t i = 0; i < len; i += 16) {
        const unsigned char *p = t + i;
        unsigned valid = 16;
        if (len - i < 16) { /* the last bytes, copied so the load stays inside */
            valid = (unsigned)(len - i);
            memset(tail, 0, sizeof tail);
            memcpy(tail, p, valid);
            p = tail;
        }
        unsigned starts = word_starts(p, valid, &carry);
        while (starts) {
            unsigned j = (unsigned)__builtin_ctz(starts);
            starts &= starts - 1;
            word_at(pf, t, i + j, len, st);
        }
    }
    for (unsigned w = 0; w < PF_WORDS; w++) {
        uint64_t missing = pf->need[w] & ~st[w];
        if (((missing + pf->need[w]) & pf->guard[w]) != pf->guard[w]) return true;
    }
    return false;
}
