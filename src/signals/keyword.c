/* keyword.c - the keyword family (SPEC §5.4 keyword).
 *
 * Compile: every case-insensitive literal keyword of every rule of every
 * recipe goes into ONE vectorscan literal database over case-folded text
 * (word boundaries are checked in the match callback, except for CJK
 * keywords); regex keywords and case-sensitive literals share a second
 * database over the raw query, and regexes vectorscan rejects fall back to
 * PCRE2 with JIT. BM25 keywords are pre-stemmed (Snowball english), n-gram
 * keywords pre-hashed, fuzzy keywords pre-folded.
 * Eval: each database scans the query once for all rules, then each rule
 * combines its keywords with AND / OR / NOR. The results depend on the
 * query alone, so a query this thread saw before (an agent re-sends it
 * every turn of a tool loop) takes them from the scratch's memo
 * (text_memo.h). */
#include "config/family.h"
#include "signals/family.h"
#include "signals/regex.h"
#include "signals/text_memo.h"

#include <hs/hs.h>
#include <libstemmer.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

enum { KW_LITERAL = 0, KW_REGEX, KW_BM25, KW_NGRAM };
enum { KW_OR = 0, KW_AND, KW_NOR };

#define BM25_K1       1.2
#define BM25_B        0.75
#define BM25_AVG_LEN  256.0
#define FUZZY_MIN_CPS 4
#define FUZZY_MAX_LEN 64

typedef struct kw_pat {
    uint32_t rule, kw;
    uint32_t len;  /* literal byte length (folded or raw) */
    bool boundary; /* check word boundaries at the hit */
    bool literal;  /* raw db: a case-sensitive literal (else a regex) */
} kw_pat_t;

typedef struct kw_stemseq {
    char **stem;
    uint32_t *len;
    uint32_t *hash;
    size_t n;
} kw_stemseq_t;

typedef struct kw_rule {
    int method, op;
    bool cs, fuzzy;
    int fuzzy_thr, arity;
    double bm25_thr, ngram_thr;
    size_t n_kw;
    char **kw; /* folded (or raw when cs) keyword text */
    size_t *kw_len;
    size_t *kw_cps;      /* code points */
    uint64_t *kw_mask;   /* char-presence mask (fuzzy filter) */
    size_t *kw_ntok;     /* tokens in the keyword (fuzzy windows) */
    pcre2_code **pcre;   /* regex keywords vectorscan could not take */
    kw_stemseq_t *stems; /* bm25 */
    uint32_t **grams;    /* ngram: sorted unique hashes */
    size_t *n_grams;
} kw_rule_t;

/* realloc that aborts on OOM (as the rest of the compile path does). */
static void *kw_grow(void *p, size_t n, size_t size)
{
    void *q = realloc(p, n * size);
    if (!q) abort();
    return q;
}

typedef struct kw_state {
    kw_rule_t *rules;
    size_t n_rules;
    hs_database_t *fold_db, *raw_db;
    kw_pat_t *fold_pats, *raw_pats;
    size_t n_fold, n_raw;
    uint8_t stem_prefix[65536 / 8]; /* 2-byte prefixes of every bm25 stem */
    uint8_t stem_prefix1[256 / 8];  /* 1-byte stems */
    uint64_t gram_bits[4096 / 64];  /* union of every n-gram keyword's grams */
    bool has_bm25, has_ngram, has_pcre;
} kw_state_t;

typedef struct kw_scratch {
    hs_scratch_t *hs;
    struct sb_stemmer *stemmer;
    pcre2_match_data *md;
    sig_memo_t *memo; /* the rules' results per query (text_memo.h) */
} kw_scratch_t;

static uint32_t h32(const char *s, size_t n)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)s[i]) * 16777619u;
    return h ? h : 1;
}

static uint64_t char_mask(const char *s, size_t n)
{
    uint64_t m = 0;
    for (size_t i = 0; i < n; i++)
        m |= 1ull << ((unsigned char)s[i] & 63);
    return m;
}

static size_t count_cps(const char *s, size_t n)
{
    size_t c = 0;
    for (size_t i = 0; i < n; i++)
        c += ((unsigned char)s[i] & 0xC0) != 0x80;
    return c;
}

static int cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return x < y ? -1 : x > y;
}

/* Sorted unique n-gram hashes of s into out (capacity >= n + 1). */
static size_t make_grams(const char *s, size_t n, int arity, uint32_t *out)
{
    size_t k = 0;
    if (n == 0) return 0;
    if (n < (size_t)arity)
        out[k++] = h32(s, n);
    else
        for (size_t i = 0; i + (size_t)arity <= n; i++)
            out[k++] = h32(s + i, (size_t)arity);
    qsort(out, k, sizeof *out, cmp_u32);
    size_t u = 0;
    for (size_t i = 0; i < k; i++)
        if (!u || out[u - 1] != out[i]) out[u++] = out[i];
    return u;
}

static void stem_tokens(struct sb_stemmer *st, const char *s, size_t n, kw_stemseq_t *q)
{
    arena_t a;
    arena_init(&a, 1024);
    sig_tokens_t t;
    sig_tokenize(&a, (sig_text_t){s, n}, &t);
    q->n = t.n;
    q->stem = calloc(t.n + 1, sizeof(char *));
    q->len = calloc(t.n + 1, sizeof(uint32_t));
    q->hash = calloc(t.n + 1, sizeof(uint32_t));
    for (size_t i = 0; i < t.n; i++) {
        const sb_symbol *r = sb_stemmer_stem(st, (const sb_symbol *)s + t.off[i], (int)t.len[i]);
        int l = sb_stemmer_length(st);
        q->stem[i] = strndup((const char *)r, (size_t)l);
        q->len[i] = (uint32_t)l;
        q->hash[i] = h32((const char *)r, (size_t)l);
    }
    arena_deinit(&a);
}

static void set_bit(uint8_t *b, size_t i)
{
    b[i >> 3] |= (uint8_t)(1u << (i & 7));
}
static bool get_bit(const uint8_t *b, size_t i)
{
    return (b[i >> 3] >> (i & 7)) & 1u;
}

static void escape_literal(buf_t *b, const char *s, size_t n)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char e[4] = {'\\', 'x', hx[c >> 4], hx[c & 15]};
        buf_append(b, e, 4);
    }
}

static void kw_free(void *p);

static int kw_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    kw_state_t *s = calloc(1, sizeof *s);
    *state = s;
    if (!b->n_rules) return 0;
    s->n_rules = b->n_rules;
    s->rules = calloc(b->n_rules, sizeof *s->rules);
    int rc = 0;
    struct sb_stemmer *st = sb_stemmer_new("english", NULL);
    /* growing pattern lists */
    size_t cap = 16, n_fold = 0, n_raw = 0;
    char **fexpr = malloc(cap * sizeof *fexpr), **rexpr = malloc(cap * sizeof *rexpr);
    size_t *flen = malloc(cap * sizeof *flen);
    unsigned *rflags = malloc(cap * sizeof *rflags);
    s->fold_pats = malloc(cap * sizeof *s->fold_pats);
    s->raw_pats = malloc(cap * sizeof *s->raw_pats);
    size_t fcap = cap, rcap = cap;

    for (size_t r = 0; r < b->n_rules; r++) {
        const cfg_signal_t *sg = b->rules[r];
        kw_rule_t *kr = &s->rules[r];
        const char *m = sg->method ? sg->method : "literal";
        kr->method = !strcmp(m, "regex")   ? KW_REGEX
                     : !strcmp(m, "bm25")  ? KW_BM25
                     : !strcmp(m, "ngram") ? KW_NGRAM
                                           : KW_LITERAL;
        const char *op = sg->op ? sg->op : "OR";
        kr->op = !strcasecmp(op, "AND") ? KW_AND : !strcasecmp(op, "NOR") ? KW_NOR : KW_OR;
        kr->cs = sg->case_sensitive;
        kr->fuzzy = sg->fuzzy_match;
        kr->fuzzy_thr = sg->fuzzy_threshold > 0 ? sg->fuzzy_threshold : 2;
        kr->arity = sg->ngram_arity > 0 ? sg->ngram_arity : 3;
        kr->bm25_thr = sg->bm25_threshold;
        kr->ngram_thr = sg->ngram_threshold;
        kr->n_kw = sg->keywords.n;
        kr->kw = calloc(kr->n_kw + 1, sizeof(char *));
        kr->kw_len = calloc(kr->n_kw + 1, sizeof(size_t));
        kr->kw_cps = calloc(kr->n_kw + 1, sizeof(size_t));
        kr->kw_mask = calloc(kr->n_kw + 1, sizeof(uint64_t));
        kr->kw_ntok = calloc(kr->n_kw + 1, sizeof(size_t));
        if (kr->method == KW_REGEX) kr->pcre = calloc(kr->n_kw + 1, sizeof(pcre2_code *));
        if (kr->method == KW_BM25) kr->stems = calloc(kr->n_kw + 1, sizeof(kw_stemseq_t));
        if (kr->method == KW_NGRAM) {
            kr->grams = calloc(kr->n_kw + 1, sizeof(uint32_t *));
            kr->n_grams = calloc(kr->n_kw + 1, sizeof(size_t));
        }
        for (size_t k = 0; k < kr->n_kw; k++) {
            const char *raw = sg->keywords.v[k] ? sg->keywords.v[k] : "";
            size_t rl = strlen(raw);
            if (kr->method == KW_REGEX || kr->cs) {
                kr->kw[k] = strdup(raw);
                kr->kw_len[k] = rl;
            } else {
                kr->kw[k] = sig_fold_dup(raw, rl, &kr->kw_len[k]);
            }
            const char *kw = kr->kw[k];
            size_t kl = kr->kw_len[k];
            kr->kw_cps[k] = count_cps(kw, kl);
            kr->kw_mask[k] = char_mask(kw, kl);
            if (kl == 0) {
                sig_rule_error(d, b->cfg, sg, "keyword %zu is empty", k);
                rc = -1;
                continue;
            }
            if (kr->method == KW_LITERAL) {
                arena_t a;
                arena_init(&a, 512);
                sig_tokens_t t;
                sig_tokenize(&a, (sig_text_t){kw, kl}, &t);
                kr->kw_ntok[k] = t.n;
                arena_deinit(&a);
                bool cjk = sig_has_cjk(kw, kl);
                if (!kr->cs) {
                    if (n_fold == fcap) {
                        fcap *= 2;
                        fexpr = kw_grow(fexpr, fcap, sizeof *fexpr);
                        flen = kw_grow(flen, fcap, sizeof *flen);
                        s->fold_pats = kw_grow(s->fold_pats, fcap, sizeof *s->fold_pats);
                    }
                    fexpr[n_fold] = kr->kw[k];
                    flen[n_fold] = kl;
                    s->fold_pats[n_fold++] =
                        (kw_pat_t){(uint32_t)r, (uint32_t)k, (uint32_t)kl, !cjk, true};
                } else {
                    if (n_raw == rcap) {
                        rcap *= 2;
                        rexpr = kw_grow(rexpr, rcap, sizeof *rexpr);
                        rflags = kw_grow(rflags, rcap, sizeof *rflags);
                        s->raw_pats = kw_grow(s->raw_pats, rcap, sizeof *s->raw_pats);
                    }
                    buf_t eb = {0};
                    escape_literal(&eb, kw, kl);
                    rexpr[n_raw] = strndup(eb.data, eb.len);
                    buf_free(&eb);
                    rflags[n_raw] = 0;
                    s->raw_pats[n_raw++] =
                        (kw_pat_t){(uint32_t)r, (uint32_t)k, (uint32_t)kl, !cjk, true};
                }
            } else if (kr->method == KW_REGEX) {
                unsigned fl = HS_FLAG_SINGLEMATCH | (kr->cs ? 0 : HS_FLAG_CASELESS);
                hs_database_t *probe = NULL;
                hs_compile_error_t *ce = NULL;
                if (hs_compile(kw, fl, HS_MODE_BLOCK, NULL, &probe, &ce) == HS_SUCCESS) {
                    hs_free_database(probe);
                    if (n_raw == rcap) {
                        rcap *= 2;
                        rexpr = kw_grow(rexpr, rcap, sizeof *rexpr);
                        rflags = kw_grow(rflags, rcap, sizeof *rflags);
                        s->raw_pats = kw_grow(s->raw_pats, rcap, sizeof *s->raw_pats);
                    }
                    rexpr[n_raw] = strdup(kw);
                    rflags[n_raw] = fl;
                    s->raw_pats[n_raw++] = (kw_pat_t){(uint32_t)r, (uint32_t)k, 0, false, false};
                } else {
                    if (ce) hs_free_compile_error(ce);
                    pcre2_code *c = sig_regex_compile(kw, kl, kr->cs ? 0 : PCRE2_CASELESS, d,
                                                      b->cfg, sg, "regex keyword", k);
                    if (!c) {
                        rc = -1;
                        continue;
                    }
                    kr->pcre[k] = c;
                    s->has_pcre = true;
                }
            } else if (kr->method == KW_BM25) {
                stem_tokens(st, kw, kl, &kr->stems[k]);
                s->has_bm25 = true;
                for (size_t i = 0; i < kr->stems[k].n; i++) {
                    const unsigned char *x = (const unsigned char *)kr->stems[k].stem[i];
                    if (kr->stems[k].len[i] >= 2)
                        set_bit(s->stem_prefix, (size_t)x[0] << 8 | x[1]);
                    else
                        set_bit(s->stem_prefix1, x[0]);
                }
            } else if (kr->method == KW_NGRAM) {
                uint32_t *g = malloc((kl + 2) * sizeof *g);
                kr->n_grams[k] = make_grams(kw, kl, kr->arity, g);
                kr->grams[k] = g;
                s->has_ngram = true;
                for (size_t i = 0; i < kr->n_grams[k]; i++)
                    s->gram_bits[(g[i] >> 6) & 63] |= 1ull << (g[i] & 63);
            }
        }
    }
    if (st) sb_stemmer_delete(st);
    hs_compile_error_t *ce = NULL;
    if (rc == 0 && n_fold) {
        unsigned *ids = malloc(n_fold * sizeof *ids), *fl = calloc(n_fold, sizeof *fl);
        for (size_t i = 0; i < n_fold; i++)
            ids[i] = (unsigned)i;
        if (hs_compile_lit_multi((const char *const *)fexpr, fl, ids, flen, (unsigned)n_fold,
                                 HS_MODE_BLOCK, NULL, &s->fold_db, &ce) != HS_SUCCESS) {
            sig_rule_error(d, b->cfg, b->rules[0], "keyword automaton: %s",
                           ce ? ce->message : "compile failed");
            rc = -1;
        }
        if (ce) hs_free_compile_error(ce);
        ce = NULL;
        free(ids);
        free(fl);
    }
    if (rc == 0 && n_raw) {
        unsigned *ids = malloc(n_raw * sizeof *ids);
        for (size_t i = 0; i < n_raw; i++)
            ids[i] = (unsigned)i;
        if (hs_compile_multi((const char *const *)rexpr, rflags, ids, (unsigned)n_raw,
                             HS_MODE_BLOCK, NULL, &s->raw_db, &ce) != HS_SUCCESS) {
            sig_rule_error(d, b->cfg, b->rules[0], "keyword regex database: %s",
                           ce ? ce->message : "compile failed");
            rc = -1;
        }
        if (ce) hs_free_compile_error(ce);
        free(ids);
    }
    s->n_fold = n_fold;
    s->n_raw = n_raw;
    for (size_t i = 0; i < n_raw; i++)
        free(rexpr[i]);
    free(fexpr);
    free(flen);
    free(rexpr);
    free(rflags);
    return rc;
}

static void kw_free(void *p)
{
    kw_state_t *s = p;
    if (!s) return;
    for (size_t r = 0; r < s->n_rules; r++) {
        kw_rule_t *kr = &s->rules[r];
        for (size_t k = 0; k < kr->n_kw; k++) {
            free(kr->kw[k]);
            if (kr->pcre && kr->pcre[k]) pcre2_code_free(kr->pcre[k]);
            if (kr->stems) {
                for (size_t i = 0; i < kr->stems[k].n; i++)
                    free(kr->stems[k].stem[i]);
                free(kr->stems[k].stem);
                free(kr->stems[k].len);
                free(kr->stems[k].hash);
            }
            if (kr->grams) free(kr->grams[k]);
        }
        free(kr->kw);
        free(kr->kw_len);
        free(kr->kw_cps);
        free(kr->kw_mask);
        free(kr->kw_ntok);
        free(kr->pcre);
        free(kr->stems);
        free(kr->grams);
        free(kr->n_grams);
    }
    free(s->rules);
    if (s->fold_db) hs_free_database(s->fold_db);
    if (s->raw_db) hs_free_database(s->raw_db);
    free(s->fold_pats);
    free(s->raw_pats);
    free(s);
}

static void *kw_scratch_new(const void *p)
{
    const kw_state_t *s = p;
    kw_scratch_t *x = calloc(1, sizeof *x);
    if (!x) abort();
    if (s->fold_db) hs_alloc_scratch(s->fold_db, &x->hs);
    if (s->raw_db) hs_alloc_scratch(s->raw_db, &x->hs);
    if (s->has_bm25) x->stemmer = sb_stemmer_new("english", NULL);
    if (s->has_pcre) x->md = pcre2_match_data_create(1, NULL);
    x->memo = sig_memo_new();
    return x;
}

static void kw_scratch_free(void *p)
{
    kw_scratch_t *x = p;
    if (x->hs) hs_free_scratch(x->hs);
    if (x->stemmer) sb_stemmer_delete(x->stemmer);
    if (x->md) pcre2_match_data_free(x->md);
    sig_memo_free(x->memo);
    free(x);
}

/* ---- scanning ---- */

typedef struct kw_scan {
    const char *text;
    size_t n;
    const kw_pat_t *pats;
    uint8_t *hit; /* bit per pattern */
} kw_scan_t;

static int on_hit(unsigned int id, unsigned long long from, unsigned long long to,
                  unsigned int flags, void *ctx)
{
    kw_scan_t *sc = ctx;
    if (get_bit(sc->hit, id)) return 0;
    const kw_pat_t *p = &sc->pats[id];
    if (p->literal && p->boundary) {
        size_t end = (size_t)to, start = end - p->len;
        if (!sig_at_word_boundary(sc->text, sc->n, start, end)) return 0;
    }
    set_bit(sc->hit, id);
    return 0;
}

static size_t lev_bounded(const char *a, size_t la, const char *b, size_t lb, size_t max)
{
    if (la > FUZZY_MAX_LEN || lb > FUZZY_MAX_LEN) return max + 1;
    size_t prev[FUZZY_MAX_LEN + 1], cur[FUZZY_MAX_LEN + 1];
    for (size_t j = 0; j <= lb; j++)
        prev[j] = j;
    for (size_t i = 1; i <= la; i++) {
        cur[0] = i;
        size_t best = cur[0];
        for (size_t j = 1; j <= lb; j++) {
            size_t c = prev[j - 1] + (a[i - 1] != b[j - 1]);
            if (prev[j] + 1 < c) c = prev[j] + 1;
            if (cur[j - 1] + 1 < c) c = cur[j - 1] + 1;
            cur[j] = c;
            if (c < best) best = c;
        }
        if (best > max) return max + 1;
        memcpy(prev, cur, (lb + 1) * sizeof *prev);
    }
    return prev[lb];
}

/* Tokens grouped by byte length (1..FUZZY_MAX_LEN; longer ones never
 * match): a one-token keyword only looks at tokens of a length within its
 * threshold. Built once per token list and request. */
typedef struct kw_bylen {
    uint32_t start[FUZZY_MAX_LEN + 2]; /* tokens of length L: idx[start[L] .. start[L + 1]) */
    uint32_t *idx;
} kw_bylen_t;

static kw_bylen_t *bylen_build(arena_t *a, const sig_tokens_t *t)
{
    kw_bylen_t *b = arena_calloc(a, sizeof *b);
    b->idx = arena_alloc(a, (t->n + 1) * sizeof(uint32_t));
    uint32_t cnt[FUZZY_MAX_LEN + 2] = {0};
    for (size_t i = 0; i < t->n; i++)
        if (t->len[i] <= FUZZY_MAX_LEN) cnt[t->len[i]]++;
    uint32_t acc = 0;
    for (size_t l = 0; l <= FUZZY_MAX_LEN; l++) {
        b->start[l] = acc;
        acc += cnt[l];
        cnt[l] = b->start[l];
    }
    b->start[FUZZY_MAX_LEN + 1] = acc;
    for (size_t i = 0; i < t->n; i++)
        if (t->len[i] <= FUZZY_MAX_LEN) b->idx[cnt[t->len[i]]++] = (uint32_t)i;
    return b;
}

static bool fuzzy_window(const kw_rule_t *kr, size_t k, const char *w, size_t wl)
{
    size_t thr = (size_t)kr->fuzzy_thr;
    if ((size_t)__builtin_popcountll(char_mask(w, wl) ^ kr->kw_mask[k]) > 2 * thr) return false;
    return lev_bounded(w, wl, kr->kw[k], kr->kw_len[k], thr) <= thr;
}

/* A token window of the keyword's token count within Levenshtein distance. */
static bool fuzzy_hit(const kw_rule_t *kr, size_t k, sig_text_t f, const sig_tokens_t *t,
                      const kw_bylen_t *bl)
{
    size_t nt = kr->kw_ntok[k] ? kr->kw_ntok[k] : 1;
    size_t kl = kr->kw_len[k], thr = (size_t)kr->fuzzy_thr;
    if (nt == 1 && bl) { /* any hit will do: visit only tokens of a fitting length */
        size_t lo = kl > thr ? kl - thr : 0, hi = kl + thr;
        if (hi > FUZZY_MAX_LEN) hi = FUZZY_MAX_LEN;
        for (size_t l = lo; l <= hi; l++)
            for (uint32_t j = bl->start[l]; j < bl->start[l + 1]; j++) {
                uint32_t i = bl->idx[j];
                if (fuzzy_window(kr, k, f.s + t->off[i], t->len[i])) return true;
            }
        return false;
    }
    for (size_t i = 0; i + nt <= t->n; i++) {
        size_t st = t->off[i], en = t->off[i + nt - 1] + t->len[i + nt - 1];
        size_t wl = en - st;
        if (wl + thr < kl || kl + thr < wl) continue;
        const char *w = f.s + st;
        if ((size_t)__builtin_popcountll(char_mask(w, wl) ^ kr->kw_mask[k]) > 2 * thr) continue;
        if (lev_bounded(w, wl, kr->kw[k], kl, thr) <= thr) return true;
    }
    return false;
}

/* Stemmed query tokens; tokens that cannot stem to any keyword stem (their
 * 2-byte prefix is not one) keep hash 0 and are never stemmed. cand lists
 * the tokens with a stem (the only places a keyword can start). */
typedef struct kw_qstems {
    uint32_t *hash;
    uint32_t *cand;
    size_t n, n_cand;
} kw_qstems_t;

/* Per-request memo of stemmed words: the same word stems to the same stem,
 * and prompts repeat words. A full table just stops memoising. */
#define STEM_MEMO 512
typedef struct kw_memo {
    const char *w;
    uint32_t len, key, stem;
} kw_memo_t;

static void query_stems(const kw_state_t *s, kw_scratch_t *x, sig_ctx_t *cx, kw_qstems_t *q)
{
    sig_text_t f = sig_ctx_folded(cx);
    const sig_tokens_t *t = sig_ctx_tokens(cx);
    q->n = t->n;
    q->hash = arena_calloc(cx->a, (t->n + 1) * sizeof(uint32_t));
    q->cand = arena_alloc(cx->a, (t->n + 1) * sizeof(uint32_t));
    q->n_cand = 0;
    kw_memo_t *memo = NULL;
    size_t used = 0;
    for (size_t i = 0; i < t->n; i++) {
        const unsigned char *w = (const unsigned char *)f.s + t->off[i];
        bool maybe = t->len[i] >= 2 ? get_bit(s->stem_prefix, (size_t)w[0] << 8 | w[1]) ||
                                          get_bit(s->stem_prefix1, w[0])
                                    : get_bit(s->stem_prefix1, w[0]);
        if (!maybe || !x->stemmer) continue;
        if (!memo) memo = arena_calloc(cx->a, STEM_MEMO * sizeof *memo);
        uint32_t key = h32((const char *)w, t->len[i]), slot = key & (STEM_MEMO - 1);
        kw_memo_t *m = NULL;
        for (size_t probe = 0; probe < 8; probe++, slot = (slot + 1) & (STEM_MEMO - 1)) {
            kw_memo_t *e = &memo[slot];
            if (!e->w) {
                if (used < STEM_MEMO / 2) m = e;
                break;
            }
            if (e->key == key && e->len == t->len[i] && !memcmp(e->w, w, t->len[i])) {
                q->hash[i] = e->stem;
                break;
            }
        }
        if (!q->hash[i]) {
            const sb_symbol *r = sb_stemmer_stem(x->stemmer, w, (int)t->len[i]);
            q->hash[i] = h32((const char *)r, (size_t)sb_stemmer_length(x->stemmer));
            if (m) {
                *m = (kw_memo_t){(const char *)w, t->len[i], key, q->hash[i]};
                used++;
            }
        }
        q->cand[q->n_cand++] = (uint32_t)i;
    }
}

static double bm25(const kw_rule_t *kr, const kw_qstems_t *q, bool *present, bool *all)
{
    double sum = 0, len = (double)q->n;
    *all = true;
    for (size_t k = 0; k < kr->n_kw; k++) {
        const kw_stemseq_t *ks = &kr->stems[k];
        size_t tf = 0;
        for (size_t c = 0; ks->n && c < q->n_cand; c++) {
            size_t i = q->cand[c];
            if (i + ks->n > q->n) break;
            size_t j = 0;
            while (j < ks->n && q->hash[i + j] == ks->hash[j])
                j++;
            if (j == ks->n) tf++;
        }
        present[k] = tf > 0;
        if (!tf) *all = false;
        double t = (double)tf;
        sum += t * (BM25_K1 + 1) / (t + BM25_K1 * (1 - BM25_B + BM25_B * len / BM25_AVG_LEN)) /
               (BM25_K1 + 1);
    }
    return kr->n_kw ? sum / (double)kr->n_kw : 0;
}

/* Per-position n-gram hashes of the folded query, for one arity, computed
 * lazily: only up to the last window a keyword needed (a keyword found
 * exactly stops the search early). */
typedef struct kw_qgrams {
    int arity;
    uint32_t *h;
    uint32_t *pref; /* prefix counts of positions whose gram is in gram_bits */
    size_t n, done; /* positions; h and pref[1..done] are filled */
} kw_qgrams_t;

static void query_grams(sig_ctx_t *cx, int arity, kw_qgrams_t *g)
{
    sig_text_t f = sig_ctx_folded(cx);
    g->arity = arity;
    g->n = f.n >= (size_t)arity ? f.n - (size_t)arity + 1 : 0;
    g->h = arena_alloc(cx->a, (g->n + 1) * sizeof(uint32_t));
    g->pref = arena_alloc(cx->a, (g->n + 1) * sizeof(uint32_t));
    g->pref[0] = 0;
    g->done = 0;
}

/* h32 of 3 bytes, unrolled (the default arity). */
static inline uint32_t h32_3(const char *s)
{
    uint32_t h = 2166136261u;
    h = (h ^ (unsigned char)s[0]) * 16777619u;
    h = (h ^ (unsigned char)s[1]) * 16777619u;
    h = (h ^ (unsigned char)s[2]) * 16777619u;
    return h ? h : 1;
}

/* Fill g up to position e (at least 256 positions more, to batch). */
static void grams_upto(const kw_state_t *s, const char *f, kw_qgrams_t *g, size_t e)
{
    if (e <= g->done) return;
    size_t to = g->done + 256 > e ? g->done + 256 : e;
    if (to > g->n) to = g->n;
    for (size_t i = g->done; i < to; i++) {
        uint32_t h = g->arity == 3 ? h32_3(f + i) : h32(f + i, (size_t)g->arity);
        g->h[i] = h;
        g->pref[i + 1] = g->pref[i] + (uint32_t)((s->gram_bits[(h >> 6) & 63] >> (h & 63)) & 1u);
    }
    g->done = to;
}

/* Best Jaccard of keyword k against windows of its length starting at
 * each token start of the query. */
static double ngram_best(const kw_state_t *s, const kw_rule_t *kr, size_t k, sig_ctx_t *cx,
                         kw_qgrams_t *g, uint32_t *tmp)
{
    sig_text_t f = sig_ctx_folded(cx);
    const sig_tokens_t *t = sig_ctx_tokens(cx);
    size_t kl = kr->kw_len[k], na = kr->n_grams[k];
    const uint32_t *A = kr->grams[k];
    if (!na) return 0;
    double best = 0;
    for (size_t ti = 0; ti < t->n; ti++) {
        size_t st = t->off[ti];
        size_t wl = kl <= f.n - st ? kl : f.n - st;
        size_t m;
        if (wl < (size_t)g->arity) {
            if (!wl) continue;
            tmp[0] = h32(f.s + st, wl);
            m = 1;
        } else {
            size_t e = st + wl - (size_t)g->arity + 1; /* gram positions [st, e) */
            grams_upto(s, f.s, g, e);
            size_t flagged = g->pref[e] - g->pref[st];
            if ((double)flagged / (double)na <= best || flagged == 0) continue;
            m = e - st;
            memcpy(tmp, g->h + st, m * sizeof *tmp);
            qsort(tmp, m, sizeof *tmp, cmp_u32);
            size_t u = 0;
            for (size_t i = 0; i < m; i++)
                if (!u || tmp[u - 1] != tmp[i]) tmp[u++] = tmp[i];
            m = u;
        }
        size_t i = 0, j = 0, inter = 0;
        while (i < na && j < m) {
            if (A[i] == tmp[j])
                inter++, i++, j++;
            else if (A[i] < tmp[j])
                i++;
            else
                j++;
        }
        double jac = (double)inter / (double)(na + m - inter);
        if (jac > best) best = jac;
        if (best >= 1.0) break;
    }
    return best;
}

static bool combine(int op, const bool *hit, size_t n)
{
    size_t c = 0;
    for (size_t k = 0; k < n; k++)
        c += hit[k];
    return op == KW_AND ? n > 0 && c == n : op == KW_NOR ? c == 0 : c > 0;
}

static void kw_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const kw_state_t *s = p;
    kw_scratch_t *x = cx->scratch[CFG_SIG_KEYWORD];
    if (!n || !s || !x) return;
    bool need_fold = false, need_raw = false, need_stems = false;
    for (size_t i = 0; i < n; i++) {
        const kw_rule_t *kr = &s->rules[refs[i].id];
        if (kr->method == KW_LITERAL) need_fold |= !kr->cs, need_raw |= kr->cs;
        if (kr->method == KW_REGEX) need_raw = true;
        if (kr->method == KW_BM25) need_stems = true;
    }
    uint8_t *fold_hit = NULL, *raw_hit = NULL;
    sig_text_t q = sig_ctx_query(cx);
    /* every result depends on the query alone: an agent's query seen before */
    if (sig_memo_get_results(x->memo, refs, n, q.s, q.n)) return;
    if (need_fold && s->fold_db) {
        sig_text_t f = sig_ctx_folded(cx);
        fold_hit = arena_calloc(cx->a, s->n_fold / 8 + 1);
        kw_scan_t sc = {f.s, f.n, s->fold_pats, fold_hit};
        if (f.n && hs_scan(s->fold_db, f.s, (unsigned)f.n, 0, x->hs, on_hit, &sc) != HS_SUCCESS)
            for (size_t i = 0; i < n; i++)
                refs[i].res->error = "scan_failed";
    }
    if (need_raw && s->raw_db) {
        raw_hit = arena_calloc(cx->a, s->n_raw / 8 + 1);
        kw_scan_t sc = {q.s, q.n, s->raw_pats, raw_hit};
        if (q.n && hs_scan(s->raw_db, q.s, (unsigned)q.n, 0, x->hs, on_hit, &sc) != HS_SUCCESS)
            for (size_t i = 0; i < n; i++)
                refs[i].res->error = "scan_failed";
    }
    /* map pattern hits back to (rule, keyword) */
    bool **hits = arena_calloc(cx->a, s->n_rules * sizeof(bool *));
    for (size_t i = 0; i < n; i++) {
        uint32_t id = refs[i].id;
        if (!hits[id]) hits[id] = arena_calloc(cx->a, s->rules[id].n_kw + 1);
    }
    for (size_t i = 0; fold_hit && i < s->n_fold; i++)
        if (get_bit(fold_hit, i) && hits[s->fold_pats[i].rule])
            hits[s->fold_pats[i].rule][s->fold_pats[i].kw] = true;
    for (size_t i = 0; raw_hit && i < s->n_raw; i++)
        if (get_bit(raw_hit, i) && hits[s->raw_pats[i].rule])
            hits[s->raw_pats[i].rule][s->raw_pats[i].kw] = true;
    kw_qstems_t qs = {0};
    if (need_stems) query_stems(s, x, cx, &qs);
    kw_qgrams_t qg = {0};
    uint32_t *tmp = NULL;
    kw_bylen_t *fold_bylen = NULL;

    for (size_t i = 0; i < n; i++) {
        const kw_rule_t *kr = &s->rules[refs[i].id];
        sig_result_t *res = refs[i].res;
        bool *h = hits[refs[i].id];
        double score = 1.0;
        if (kr->method == KW_LITERAL && kr->fuzzy) {
            sig_text_t f = kr->cs ? q : sig_ctx_folded(cx);
            const sig_tokens_t *t = kr->cs ? NULL : sig_ctx_tokens(cx);
            sig_tokens_t tcs;
            kw_bylen_t *bl;
            if (kr->cs) {
                sig_tokenize(cx->a, q, &tcs);
                t = &tcs;
                bl = bylen_build(cx->a, t);
            } else {
                if (!fold_bylen) fold_bylen = bylen_build(cx->a, t);
                bl = fold_bylen;
            }
            for (size_t k = 0; k < kr->n_kw; k++)
                if (!h[k] && kr->kw_cps[k] >= FUZZY_MIN_CPS) h[k] = fuzzy_hit(kr, k, f, t, bl);
        } else if (kr->method == KW_REGEX) {
            for (size_t k = 0; k < kr->n_kw; k++) {
                if (!kr->pcre[k] || h[k]) continue;
                int m = pcre2_match(kr->pcre[k], (PCRE2_SPTR)q.s, q.n, 0, 0, x->md, NULL);
                h[k] = m >= 0;
            }
        } else if (kr->method == KW_BM25) {
            bool all;
            score = bm25(kr, &qs, h, &all);
            bool m = kr->op == KW_NOR
                         ? !combine(KW_OR, h, kr->n_kw)
                         : score >= kr->bm25_thr && (kr->op != KW_AND || all) && score > 0;
            res->matched = m;
            res->score = kr->op == KW_NOR ? (m ? 1.0 : 0.0) : score;
            res->value = score;
            res->has_value = true;
            continue;
        } else if (kr->method == KW_NGRAM) {
            if (!qg.h || qg.arity != kr->arity) query_grams(cx, kr->arity, &qg);
            if (!tmp) tmp = arena_alloc(cx->a, (sig_ctx_folded(cx).n + 2) * sizeof *tmp);
            double best = 0, worst = 1.0;
            for (size_t k = 0; k < kr->n_kw; k++) {
                double j = ngram_best(s, kr, k, cx, &qg, tmp);
                h[k] = j >= kr->ngram_thr;
                if (j > best) best = j;
                if (j < worst) worst = j;
            }
            bool m = combine(kr->op, h, kr->n_kw);
            res->matched = m;
            res->score = kr->op == KW_NOR ? (m ? 1.0 : 0.0) : kr->op == KW_AND ? worst : best;
            res->value = best;
            res->has_value = true;
            continue;
        }
        res->matched = combine(kr->op, h, kr->n_kw);
        size_t c = 0;
        for (size_t k = 0; k < kr->n_kw; k++)
            c += h[k];
        res->value = (double)c;
        res->has_value = true;
        res->score = res->matched ? score : 0.0;
    }
    sig_memo_put_results(x->memo, refs, n, q.s, q.n);
}

static const char *keyword_check(const cfg_signal_t *r)
{
    return r->keywords.n ? NULL : "a keyword rule needs keywords";
}

CFG_SIG_FAMILY(
    sig_keyword_family, "keyword", "keywords", "keyword rules",
    "Keyword rules (YAML key keywords, leaf type keyword).",
    .fields =
        (const cfg_field_t[]){
            CFG_FENUM(cfg_signal_t, "operator", op, "OR", "AND|OR|NOR", "how keywords combine"),
            CFG_FLIST(cfg_signal_t, "keywords", keywords, NULL, "keywords or patterns"),
            CFG_FBOOL(cfg_signal_t, "case_sensitive", case_sensitive, "false", "match case"),
            CFG_FENUM(cfg_signal_t, "method", method, "literal", "literal|regex|bm25|ngram",
                      "matching method"),
            CFG_FBOOL(cfg_signal_t, "fuzzy_match", fuzzy_match, "false",
                      "Levenshtein token matching"),
            CFG_FINT(cfg_signal_t, "fuzzy_threshold", fuzzy_threshold, "2", 0, 10,
                     "max edit distance"),
            CFG_FUNIT(cfg_signal_t, "bm25_threshold", bm25_threshold, "0.1", "BM25 score to match"),
            CFG_FUNIT(cfg_signal_t, "ngram_threshold", ngram_threshold, "0.4",
                      "n-gram Jaccard to match"),
            CFG_FINT(cfg_signal_t, "ngram_arity", ngram_arity, "3", 1, 10, "n of the n-grams"),
            {0}},
    .check = keyword_check,
    .ops = &(const sig_family_ops_t){.compile = kw_compile,
                                     .free = kw_free,
                                     .scratch_new = kw_scratch_new,
                                     .scratch_free = kw_scratch_free,
                                     .eval = kw_eval});
