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

#define PF_WORDS   4  /* slot words: 256 (pattern, group) slots */
#define PF_MAX_LEN 31 /* longest anchor */
#define PF_KEYS    (26 * 26 * 27)

typedef struct {
    char s[PF_MAX_LEN + 1];
    unsigned len;
    uint64_t slots[PF_WORDS];
} pf_anchor_t;

typedef struct {
    unsigned word; /* slot word of the pattern's groups */
    uint64_t need; /* its group bits */
} pf_need_t;

struct jb_pf {
    bool always; /* a pattern without anchors: every text may match */
    pf_anchor_t *a;
    unsigned n_a;
    unsigned first[26 * 26 + 1]; /* anchors sorted by their first two letters */
    pf_need_t *need;
    size_t n_need;
    uint64_t keys[(PF_KEYS + 63) / 64];
};

static inline bool is_letter(unsigned char c)
{
    return (unsigned char)((c | 0x20) - 'a') < 26;
}

static inline unsigned char lc(unsigned char c)
{
    return is_letter(c) ? (unsigned char)(c | 0x20) : c;
}

static unsigned key_of(unsigned char c0, unsigned char c1, unsigned c2class)
{
    return ((unsigned)((c0 | 0x20) - 'a') * 26 + (unsigned)((c1 | 0x20) - 'a')) * 27 + c2class;
}

void jb_pf_free(jb_pf_t *pf)
{
    if (!pf) return;
    free(pf->a);
    free(pf->need);
    free(pf);
}

/* Add word w (length n) with slot bit (word, bit); merges duplicates. */
static int add_anchor(jb_pf_t *pf, unsigned *cap, const char *w, size_t n, unsigned word,
                      uint64_t bit)
{
    if (n < 2 || n > PF_MAX_LEN || !is_letter((unsigned char)w[0]) ||
        !is_letter((unsigned char)w[1]))
        return -1;
    for (size_t k = 0; k < n; k++)
        if (!is_letter((unsigned char)w[k]) && w[k] != '_') return -1;
    for (unsigned k = 0; k < pf->n_a; k++)
        if (pf->a[k].len == n && !memcmp(pf->a[k].s, w, n)) {
            pf->a[k].slots[word] |= bit;
            return 0;
        }
    if (pf->n_a == *cap) {
        unsigned nc = *cap ? *cap * 2 : 64;
        pf_anchor_t *v = realloc(pf->a, nc * sizeof *v);
        if (!v) return -1;
        pf->a = v;
        *cap = nc;
    }
    pf_anchor_t *an = &pf->a[pf->n_a++];
    memset(an, 0, sizeof *an);
    for (size_t k = 0; k < n; k++)
        an->s[k] = (char)lc((unsigned char)w[k]);
    an->len = (unsigned)n;
    an->slots[word] = bit;
    return 0;
}

static int cmp_anchor(const void *x, const void *y)
{
    const pf_anchor_t *a = x, *b = y;
    int d = (unsigned char)a->s[0] - (unsigned char)b->s[0];
    return d ? d : (unsigned char)a->s[1] - (unsigned char)b->s[1];
}

jb_pf_t *jb_pf_new(const char *const *anchors, size_t n_patterns)
{
    jb_pf_t *pf = calloc(1, sizeof *pf);
    if (!pf) return NULL;
    pf->need = calloc(n_patterns + 1, sizeof *pf->need);
    if (!pf->need) goto fail;
    pf->n_need = n_patterns;
    unsigned cap = 0, word = 0, used = 0; /* slot bits used in the current word */
    for (size_t p = 0; p < n_patterns; p++) {
        const char *s = anchors ? anchors[p] : NULL;
        if (!s || !*s) {
            pf->always = true;
            continue;
        }
        unsigned groups = 1;
        for (const char *c = s; *c; c++)
            groups += *c == ',';
        if (groups > 64) goto fail;
        if (used + groups > 64) word++, used = 0;
        if (word >= PF_WORDS) goto fail;
        pf->need[p].word = word;
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
            if (c > w && add_anchor(pf, &cap, w, (size_t)(c - w), word, (uint64_t)1 << g))
                goto fail;
        }
        for (unsigned k = used; k < used + groups; k++)
            pf->need[p].need |= (uint64_t)1 << k;
        used += groups;
    }
    if (pf->n_a) qsort(pf->a, pf->n_a, sizeof *pf->a, cmp_anchor);
    /* every group must own a word, or the pattern could never "match" */
    for (size_t p = 0; p < n_patterns; p++) {
        uint64_t have = 0;
        for (unsigned k = 0; k < pf->n_a; k++)
            have |= pf->a[k].slots[pf->need[p].word];
        if (pf->need[p].need && (have & pf->need[p].need) != pf->need[p].need) goto fail;
    }
    unsigned k = 0;
    for (unsigned b = 0; b < 26 * 26; b++) {
        pf->first[b] = k;
        while (k < pf->n_a && (unsigned)((pf->a[k].s[0] - 'a') * 26 + (pf->a[k].s[1] - 'a')) == b)
            k++;
    }
    pf->first[26 * 26] = k;
    for (unsigned i = 0; i < pf->n_a; i++) {
        const pf_anchor_t *an = &pf->a[i];
        unsigned lo = 0, hi = 26; /* third-byte classes the anchor accepts */
        if (an->len > 2) {
            if (!is_letter((unsigned char)an->s[2])) {
                lo = 26; /* '_' and the like: the "not a letter" class */
            } else {
                lo = (unsigned)(an->s[2] - 'a');
                hi = lo;
            }
        }
        for (unsigned c2 = lo; c2 <= hi; c2++) {
            unsigned key = key_of((unsigned char)an->s[0], (unsigned char)an->s[1], c2);
            pf->keys[key >> 6] |= (uint64_t)1 << (key & 63);
        }
    }
    return pf;
fail:
    jb_pf_free(pf);
    return NULL;
}

/* Tick the slots of the anchors that the word at text[i] starts with. */
static inline bool word_at(const jb_pf_t *pf, const unsigned char *t, size_t i, size_t n,
                           uint64_t *st)
{
    if (i + 1 >= n || !is_letter(t[i + 1])) return false;
    unsigned c2 = i + 2 < n && is_letter(t[i + 2]) ? (unsigned)((t[i + 2] | 0x20) - 'a') : 26;
    unsigned key = key_of(t[i], t[i + 1], c2);
    if (!((pf->keys[key >> 6] >> (key & 63)) & 1)) return false;
    unsigned b = key / 27;
    bool hit = false;
    for (unsigned k = pf->first[b]; k < pf->first[b + 1]; k++) {
        const pf_anchor_t *an = &pf->a[k];
        if (an->len > n - i) continue;
        unsigned j = 2;
        while (j < an->len && lc(t[i + j]) == (unsigned char)an->s[j])
            j++;
        if (j < an->len) continue;
        for (unsigned w = 0; w < PF_WORDS; w++)
            st[w] |= an->slots[w];
        hit = true;
    }
    return hit;
}

bool jb_pf_may_match(const jb_pf_t *pf, const char *text, size_t len)
{
    if (pf->always) return true;
    const unsigned char *t = (const unsigned char *)text;
    uint64_t st[PF_WORDS] = {0};
    bool any = false, prev = false; /* prev: the byte before i is a letter */
    size_t i = 0;
#ifdef __SSE2__
    const __m128i k20 = _mm_set1_epi8(0x20), ka = _mm_set1_epi8('a' - 1),
                  kz = _mm_set1_epi8('z' + 1);
    unsigned carry = 0;
    for (; i + 16 <= len; i += 16) {
        __m128i v = _mm_or_si128(_mm_loadu_si128((const __m128i *)(t + i)), k20);
        /* signed compares: bytes >= 0x80 are negative, so never letters */
        __m128i letter = _mm_and_si128(_mm_cmpgt_epi8(v, ka), _mm_cmplt_epi8(v, kz));
        unsigned m = (unsigned)_mm_movemask_epi8(letter);
        unsigned starts = m & ~((m << 1) | carry);
        carry = m >> 15;
        while (starts) {
            unsigned j = (unsigned)__builtin_ctz(starts);
            starts &= starts - 1;
            any |= word_at(pf, t, i + j, len, st);
        }
    }
    prev = carry;
#endif
    for (; i < len; i++) {
        bool l = is_letter(t[i]);
        if (l && !prev) any |= word_at(pf, t, i, len, st);
        prev = l;
    }
    if (!any) return false;
    for (size_t p = 0; p < pf->n_need; p++)
        if ((st[pf->need[p].word] & pf->need[p].need) == pf->need[p].need) return true;
    return false;
}
