/* embed_builtin.c - the weight-free builtin embedder (SPEC §5.2), the default
 * vector space of every similarity family (bank.c, the family files).
 *
 *  1. lower-case with simple case mapping (utf8proc_tolower);
 *  2. tokens: maximal runs of letters/digits (a combining mark continues a
 *     run), each Han, kana or Hangul character its own token;
 *  3. features: class 1 tokens (1.0), class 2 adjacent token pairs joined by
 *     one space (0.7), class 3 character 3-5-grams of "<token>" (0.3);
 *  4. h = FNV-1a-64(class byte ‖ UTF-8); add sign·weight·(1 + ln tf) to
 *     component h mod D, sign negative when bit 63 is set;
 *  5. L2-normalise.
 * Term frequencies are counted in an open-addressing table in scratch memory
 * (stack for short texts, one malloc otherwise). Pure function of the text. */
#include "signals/embedder.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <utf8proc.h>

#define FNV_BASIS     0xcbf29ce484222325ull
#define FNV_PRIME     0x100000001b3ull
#define STACK_SCRATCH 65536 /* short texts embed without malloc */

static const float class_weight[4] = {0.0f, 1.0f, 0.7f, 0.3f};

static inline uint64_t fnv_add(uint64_t h, const unsigned char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= FNV_PRIME;
    }
    return h;
}

static inline uint64_t fnv_byte(uint64_t h, unsigned char c)
{
    return (h ^ c) * FNV_PRIME;
}

/* Characters that are tokens on their own: Han, kana, Hangul. */
static bool is_isolated(int32_t c)
{
    return (c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
           (c >= 0x20000 && c <= 0x2FFFF) || (c >= 0xF900 && c <= 0xFAFF) ||
           (c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
           (c >= 0xFF66 && c <= 0xFF9F) || (c >= 0xAC00 && c <= 0xD7AF) ||
           (c >= 0x1100 && c <= 0x11FF) || (c >= 0x3130 && c <= 0x318F) || c == 0x3005;
}

enum { CH_SEP = 0, CH_WORD, CH_MARK, CH_ISOLATED };

static int char_class(int32_t c)
{
    if (c < 0x80) {
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) return CH_WORD;
        return CH_SEP; /* upper case was folded already */
    }
    if (is_isolated(c)) return CH_ISOLATED;
    switch (utf8proc_category(c)) {
    case UTF8PROC_CATEGORY_LU:
    case UTF8PROC_CATEGORY_LL:
    case UTF8PROC_CATEGORY_LT:
    case UTF8PROC_CATEGORY_LM:
    case UTF8PROC_CATEGORY_LO:
    case UTF8PROC_CATEGORY_ND: return CH_WORD;
    case UTF8PROC_CATEGORY_MN:
    case UTF8PROC_CATEGORY_MC: return CH_MARK;
    default: return CH_SEP;
    }
}

typedef struct feat {
    uint64_t h;
    uint32_t tf; /* 0 = empty slot */
    uint32_t cls;
} feat_t;

typedef struct scratch {
    int32_t *cps;      /* lower-cased code points */
    uint32_t *off;     /* byte offset of cp i in u8 (n + 1 entries) */
    unsigned char *u8; /* lower-cased UTF-8 */
    uint32_t *tok;     /* token i spans cps [tok[2i], tok[2i+1]) */
    feat_t *tab;
    size_t mask, nfeat;
} scratch_t;

static void add_feature(scratch_t *s, int cls, uint64_t h)
{
    size_t i = (size_t)(h ^ (h >> 29)) & s->mask;
    for (;;) {
        feat_t *f = &s->tab[i];
        if (!f->tf) {
            f->h = h;
            f->tf = 1;
            f->cls = (uint32_t)cls;
            s->nfeat++;
            return;
        }
        if (f->h == h && f->cls == (uint32_t)cls) {
            f->tf++;
            return;
        }
        i = (i + 1) & s->mask;
    }
}

/* UTF-8 bytes of cps [a, b) in the lower-cased buffer. */
static inline uint64_t hash_cps(const scratch_t *s, uint64_t h, uint32_t a, uint32_t b)
{
    return fnv_add(h, s->u8 + s->off[a], s->off[b] - s->off[a]);
}

/* Stack memory when it fits, else the heap (recorded in *heap for free). */
static void *scratch_get(unsigned char **stack, size_t *left, size_t need, void **heap)
{
    need = (need + 15) & ~(size_t)15;
    if (need <= *left) {
        void *p = *stack;
        *stack += need;
        *left -= need;
        return p;
    }
    void *p = malloc(need);
    if (!p) abort();
    *heap = p;
    return p;
}

/* Runs the whole extraction; the caller frees heap[0..1]. Returns the number
 * of distinct features, with s->tab filled. */
static size_t extract(const char *text, size_t len, scratch_t *s, unsigned char *stack, size_t left,
                      void *heap[2])
{
    size_t maxcp = len, maxtok = len / 2 + 2; /* a run token is followed by a separator */
    /* isolated characters take >= 2 bytes each, so len/2 + 2 bounds them too */
    heap[0] = heap[1] = NULL;
    unsigned char *mem = scratch_get(&stack, &left, maxcp * 12 + 4 + maxtok * 8, &heap[0]);
    s->cps = (int32_t *)mem;
    s->off = (uint32_t *)(s->cps + maxcp);
    s->tok = s->off + maxcp + 1;
    s->u8 = (unsigned char *)(s->tok + 2 * maxtok);

    /* pass 1: decode, fold, tokenise */
    const unsigned char *p = (const unsigned char *)text;
    size_t i = 0, ncp = 0, ntok = 0;
    uint32_t nb = 0;
    bool in_run = false;
    while (i < len) {
        int32_t c;
        if (p[i] < 0x80) {
            c = p[i];
            if (c >= 'A' && c <= 'Z') c += 32;
            i++;
        } else {
            utf8proc_ssize_t k = utf8proc_iterate(p + i, (utf8proc_ssize_t)(len - i), &c);
            if (k <= 0) { /* invalid byte: a separator */
                i++;
                in_run = false;
                continue;
            }
            i += (size_t)k;
            c = utf8proc_tolower(c);
        }
        int cl = char_class(c);
        if (cl == CH_SEP || (cl == CH_MARK && !in_run)) {
            in_run = false;
            continue;
        }
        if (cl == CH_ISOLATED) {
            in_run = false;
            s->tok[2 * ntok] = (uint32_t)ncp;
            ntok++;
        } else if (!in_run) {
            s->tok[2 * ntok] = (uint32_t)ncp;
            ntok++;
            in_run = true;
        }
        s->cps[ncp] = c;
        s->off[ncp] = nb;
        nb += (uint32_t)utf8proc_encode_char(c, s->u8 + nb);
        ncp++;
        s->tok[2 * ntok - 1] = (uint32_t)ncp;
    }
    s->off[ncp] = nb;

    /* the table: <= 2 features per token + 3 n-grams per padded code point,
     * load factor <= 2/3 */
    size_t bound = 2 * ntok + 3 * (ncp + 2 * ntok) + 8;
    size_t cap = 64;
    while (cap < bound + bound / 2)
        cap <<= 1;
    s->tab = scratch_get(&stack, &left, cap * sizeof(feat_t), &heap[1]);
    memset(s->tab, 0, cap * sizeof(feat_t));
    s->mask = cap - 1;
    s->nfeat = 0;

    /* pass 2: features */
    static const unsigned char lt = '<', gt = '>';
    for (size_t t = 0; t < ntok; t++) {
        uint32_t a = s->tok[2 * t], b = s->tok[2 * t + 1];
        add_feature(s, 1, hash_cps(s, fnv_byte(FNV_BASIS, 1), a, b));
        if (t + 1 < ntok) {
            uint64_t h = hash_cps(s, fnv_byte(FNV_BASIS, 2), a, b);
            h = fnv_byte(h, ' ');
            h = hash_cps(s, h, s->tok[2 * t + 2], s->tok[2 * t + 3]);
            add_feature(s, 2, h);
        }
        /* padded sequence: index 0 '<', 1..L the token, L+1 '>' */
        uint32_t L = b - a, P = L + 2;
        for (uint32_t n = 3; n <= 5; n++) {
            if (P < n) break;
            for (uint32_t j = 0; j + n <= P; j++) {
                uint64_t h = fnv_byte(FNV_BASIS, 3);
                uint32_t from = j, to = j + n; /* padded [from, to) */
                if (from == 0) {
                    h = fnv_add(h, &lt, 1);
                    from = 1;
                }
                uint32_t inner_to = to > L + 1 ? L + 1 : to;
                if (inner_to > from) h = hash_cps(s, h, a + from - 1, a + inner_to - 1);
                if (to == P) h = fnv_add(h, &gt, 1);
                add_feature(s, 3, h);
            }
        }
    }
    return s->nfeat;
}

size_t emb_builtin_features(const char *text, size_t len,
                            void (*fn)(void *ud, int cls, uint64_t h, uint32_t tf), void *ud)
{
    unsigned char stackbuf[STACK_SCRATCH] __attribute__((aligned(16)));
    scratch_t s;
    void *heap[2];
    size_t n = extract(text, len, &s, stackbuf, sizeof stackbuf, heap);
    for (size_t i = 0; i <= s.mask; i++)
        if (s.tab[i].tf) fn(ud, (int)s.tab[i].cls, s.tab[i].h, s.tab[i].tf);
    free(heap[0]);
    free(heap[1]);
    return n;
}

static void builtin_one(int dims, const char *text, size_t len, float *out)
{
    unsigned char stackbuf[STACK_SCRATCH] __attribute__((aligned(16)));
    scratch_t s;
    void *heap[2];
    memset(out, 0, sizeof(float) * (size_t)dims);
    extract(text, len, &s, stackbuf, sizeof stackbuf, heap);
    for (size_t i = 0; i <= s.mask; i++) {
        const feat_t *f = &s.tab[i];
        if (!f->tf) continue;
        float w = class_weight[f->cls] * (1.0f + logf((float)f->tf));
        size_t k = (size_t)(f->h % (uint64_t)dims);
        out[k] += (f->h >> 63) ? -w : w;
    }
    free(heap[0]);
    free(heap[1]);
    emb_normalize(out, dims);
}

static emb_status_t builtin_batch(emb_t *e, const char *const *texts, const size_t *lens, size_t n,
                                  float *out)
{
    for (size_t i = 0; i < n; i++)
        builtin_one(e->dims, texts[i], lens[i], out + i * (size_t)e->dims);
    return EMB_OK;
}

static void builtin_free(emb_t *e)
{
    free(e);
}

static const emb_ops_t builtin_ops = {"builtin", builtin_batch, builtin_free};

emb_t *emb_builtin_new(int dims)
{
    assert(dims >= 256 && dims <= 4096);
    emb_t *e = calloc(1, sizeof *e);
    if (!e) abort();
    e->ops = &builtin_ops;
    e->dims = dims;
    snprintf(e->fingerprint, sizeof e->fingerprint, "builtin/%d", dims);
    return e;
}
