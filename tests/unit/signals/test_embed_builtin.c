/* test_embed_builtin.c - the builtin embedder (SPEC §5.2): features and
 * their hashes exactly as specified, determinism, case folding, CJK
 * tokens, the vector built from the features, similarity properties on
 * realistic prompts, the query window and bank scoring/caching. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/hash.h"
#include "signals/bank.h"
#include "signals/embedder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define D 1024

typedef struct fset {
    int cls[4096];
    uint64_t h[4096];
    uint32_t tf[4096];
    size_t n;
} fset_t;

static void collect(void *ud, int cls, uint64_t h, uint32_t tf)
{
    fset_t *f = ud;
    if (f->n < 4096) {
        f->cls[f->n] = cls;
        f->h[f->n] = h;
        f->tf[f->n++] = tf;
    }
}

static uint32_t tf_of(const fset_t *f, int cls, const char *utf8)
{
    char buf[256];
    buf[0] = (char)cls;
    size_t n = strlen(utf8);
    memcpy(buf + 1, utf8, n);
    uint64_t h = hash_fnv1a64(buf, n + 1);
    for (size_t i = 0; i < f->n; i++)
        if (f->h[i] == h && f->cls[i] == cls) return f->tf[i];
    return 0;
}

static size_t count_cls(const fset_t *f, int cls)
{
    size_t k = 0;
    for (size_t i = 0; i < f->n; i++)
        k += f->cls[i] == cls;
    return k;
}

static float cosine(emb_t *e, const char *a, const char *b)
{
    float va[D], vb[D];
    assert_int_equal(emb_embed(e, a, strlen(a), va), EMB_OK);
    assert_int_equal(emb_embed(e, b, strlen(b), vb), EMB_OK);
    return emb_dot(va, vb, D);
}

static void test_features_are_tokens_pairs_and_char_ngrams(void **st)
{
    (void)st;
    static fset_t f;
    memset(&f, 0, sizeof f);
    emb_builtin_features("Hello, hello world!", 19, collect, &f);
    assert_int_equal(tf_of(&f, 1, "hello"), 2);
    assert_int_equal(tf_of(&f, 1, "world"), 1);
    assert_int_equal(tf_of(&f, 2, "hello hello"), 1);
    assert_int_equal(tf_of(&f, 2, "hello world"), 1);
    assert_int_equal(tf_of(&f, 3, "<he"), 2);
    assert_int_equal(tf_of(&f, 3, "<hell"), 2);
    assert_int_equal(tf_of(&f, 3, "llo>"), 2);
    assert_int_equal(tf_of(&f, 3, "orld>"), 1);
    assert_int_equal(tf_of(&f, 3, "<hello"), 0); /* 6-grams are not features */
    assert_int_equal(tf_of(&f, 1, "Hello"), 0);  /* folded */
    /* "<hello>": 5 3-grams, 4 4-grams, 3 5-grams; "<world>" likewise */
    assert_int_equal(count_cls(&f, 3), 24);
    assert_int_equal(count_cls(&f, 1), 2);
}

static void test_cjk_characters_are_single_tokens(void **st)
{
    (void)st;
    static fset_t f;
    memset(&f, 0, sizeof f);
    emb_builtin_features("你好世界", strlen("你好世界"), collect, &f);
    assert_int_equal(count_cls(&f, 1), 4);
    assert_int_equal(count_cls(&f, 2), 3);
    assert_int_equal(count_cls(&f, 3), 4); /* one 3-gram "<字>" each */
    assert_int_equal(tf_of(&f, 1, "世"), 1);
    assert_int_equal(tf_of(&f, 2, "你 好"), 1);
    assert_int_equal(tf_of(&f, 3, "<界>"), 1);
    /* Latin next to kana splits at the script change; Hangul likewise */
    memset(&f, 0, sizeof f);
    emb_builtin_features("abcテスト한국", strlen("abcテスト한국"), collect, &f);
    assert_int_equal(count_cls(&f, 1), 6);
    assert_int_equal(tf_of(&f, 1, "abc"), 1);
    assert_int_equal(tf_of(&f, 1, "한"), 1);
}

static void test_unicode_case_folding_and_marks(void **st)
{
    (void)st;
    emb_t *e = emb_builtin_new(D);
    assert_true(cosine(e, "ÉCOLE Über STRAßE", "école über straße") > 0.9999f);
    static fset_t f;
    memset(&f, 0, sizeof f);
    /* a combining acute accent continues the word */
    emb_builtin_features("cafe\xcc\x81 ok", strlen("cafe\xcc\x81 ok"), collect, &f);
    assert_int_equal(count_cls(&f, 1), 2);
    assert_int_equal(tf_of(&f, 1, "cafe\xcc\x81"), 1);
    emb_free(e);
}

static void test_vector_is_the_signed_hashed_sum(void **st)
{
    (void)st;
    const char *t = "the cat sat on the mat, the end";
    static fset_t f;
    memset(&f, 0, sizeof f);
    emb_builtin_features(t, strlen(t), collect, &f);
    static const double w[4] = {0, 1.0, 0.7, 0.3};
    double want[D] = {0}, ss = 0;
    for (size_t i = 0; i < f.n; i++) {
        double x = w[f.cls[i]] * (1 + log((double)f.tf[i]));
        want[f.h[i] % D] += (f.h[i] >> 63) ? -x : x;
    }
    for (int i = 0; i < D; i++)
        ss += want[i] * want[i];
    emb_t *e = emb_builtin_new(D);
    float v[D];
    emb_embed(e, t, strlen(t), v);
    double norm = 0;
    for (int i = 0; i < D; i++) {
        assert_true(fabs(v[i] - want[i] / sqrt(ss)) < 1e-5);
        norm += (double)v[i] * v[i];
    }
    assert_true(fabs(norm - 1) < 1e-5);
    assert_int_equal(tf_of(&f, 1, "the"), 3);
    emb_free(e);
}

static void test_deterministic_and_dimension_bound(void **st)
{
    (void)st;
    const char *t = "Summarise the quarterly revenue report for the board";
    emb_t *a = emb_builtin_new(D), *b = emb_builtin_new(D), *small = emb_builtin_new(256);
    float va[D], vb[D], vs[256];
    emb_embed(a, t, strlen(t), va);
    emb_embed(b, t, strlen(t), vb);
    assert_memory_equal(va, vb, sizeof va);
    assert_true(emb_dot(va, va, D) > 0.9999f);
    emb_embed(small, t, strlen(t), vs);
    assert_true(fabs(emb_dot(vs, vs, 256) - 1) < 1e-5);
    /* empty and separator-only texts give the zero vector */
    emb_embed(a, "", 0, va);
    emb_embed(a, " ,.;!? ", 7, vb);
    for (int i = 0; i < D; i++)
        assert_true(va[i] == 0 && vb[i] == 0);
    /* invalid UTF-8 is a separator, never a crash */
    emb_embed(a, "ab\xff\xfe cd\xc3", 8, va);
    assert_true(fabs(emb_dot(va, va, D) - 1) < 1e-5);
    emb_free(a);
    emb_free(b);
    emb_free(small);
}

static void test_paraphrase_beats_unrelated(void **st)
{
    (void)st;
    emb_t *e = emb_builtin_new(D);
    const char *q = "How do I reverse a linked list in Python?";
    float same = cosine(e, q, q);
    float para = cosine(e, q, "Write Python code to reverse a singly linked list");
    float unrel = cosine(e, q, "What were the main causes of the French Revolution?");
    float unrel2 = cosine(e, q, "Give me a recipe for banana bread without eggs");
    assert_true(same > 0.9999f);
    assert_true(para > 0.30f);
    assert_true(unrel < 0.15f && unrel2 < 0.15f);
    assert_true(para > unrel + 0.2f);
    float a = cosine(e, "What is the capital of France?", "Which city is the capital of France?");
    float b =
        cosine(e, "What is the capital of France?", "Explain gradient descent in neural networks");
    assert_true(a > b + 0.3f);
    emb_free(e);
}

static void test_query_window(void **st)
{
    (void)st;
    char *big = malloc(5001), *out = malloc(5001);
    for (int i = 0; i < 5000; i++)
        big[i] = (char)('a' + i % 26);
    big[5000] = 0;
    const char *w;
    size_t n = sig_query_window(big, 5000, out, &w);
    assert_int_equal(n, 1024 + 1 + 1024);
    assert_ptr_equal(w, out);
    assert_memory_equal(w, big, 1024);
    assert_int_equal(w[1024], '\n');
    assert_memory_equal(w + 1025, big + 5000 - 1024, 1024);
    n = sig_query_window(big, 2048, out, &w); /* 2048 code points: whole text */
    assert_int_equal(n, 2048);
    assert_ptr_equal(w, big);
    /* 2,100 two-byte code points: counted in code points, cut on boundaries */
    char *u = malloc(4201), *uo = malloc(4201);
    for (int i = 0; i < 2100; i++)
        memcpy(u + 2 * i, "é", 2);
    n = sig_query_window(u, 4200, uo, &w);
    assert_int_equal(n, 2048 + 1 + 2048);
    assert_memory_equal(w, u, 2048);
    free(big);
    free(out);
    free(u);
    free(uo);
}

static void test_bank_aggregations_and_cache(void **st)
{
    (void)st;
    sig_bank_cache_clear();
    emb_t *e = emb_builtin_new(D);
    const char *texts[] = {"reverse a linked list", "sort an array in place",
                           "binary search tree insert", ""};
    sig_bank_t b;
    assert_int_equal(sig_bank_init(&b, e, texts, 4), EMB_OK);
    assert_int_equal(b.n, 3); /* the empty text is skipped */
    assert_true(sig_bank_ready(&b));
    assert_int_equal(sig_bank_cache_size(), 3);
    const char *q = "how to reverse a linked list";
    float v[D];
    emb_embed(e, q, strlen(q), v);
    double c[3];
    for (int i = 0; i < 3; i++) {
        float t[D];
        emb_embed(e, texts[i], strlen(texts[i]), t);
        c[i] = emb_dot(v, t, D);
        if (c[i] < 0) c[i] = 0;
    }
    assert_true(c[0] > c[1] && c[0] > c[2]);
    double second = c[1] > c[2] ? c[1] : c[2];
    assert_true(fabs(sig_bank_score(&b, v, SIG_AGG_MAX, 0) -
                     (0.75 * c[0] + 0.25 * (c[0] + second) / 2)) < 1e-5);
    assert_true(fabs(sig_bank_score(&b, v, SIG_AGG_ANY, 0) - c[0]) < 1e-5);
    assert_true(fabs(sig_bank_score(&b, v, SIG_AGG_MEAN, 0) - (c[0] + c[1] + c[2]) / 3) < 1e-5);
    assert_true(fabs(sig_bank_score(&b, v, SIG_AGG_MEAN, 2) - (c[0] + second) / 2) < 1e-5);
    int idx;
    assert_true(fabs(sig_bank_best(&b, v, &idx) - c[0]) < 1e-5);
    assert_int_equal(idx, 0);
    /* a rebuilt bank (reload) reuses the cached vectors */
    sig_bank_t b2;
    const char *more[] = {"reverse a linked list", "a new prototype"};
    sig_bank_init(&b2, e, more, 2);
    assert_int_equal(sig_bank_cache_size(), 4);
    assert_memory_equal(b2.vecs, b.vecs, sizeof(float) * D);
    /* another embedder space does not share entries */
    emb_t *e2 = emb_builtin_new(512);
    sig_bank_t b3;
    sig_bank_init(&b3, e2, texts, 3);
    assert_int_equal(sig_bank_cache_size(), 7);
    assert_int_equal(sig_agg_parse("mean"), SIG_AGG_MEAN);
    assert_int_equal(sig_agg_parse(NULL), SIG_AGG_MAX);
    assert_int_equal(sig_agg_parse("median"), -1);
    sig_bank_deinit(&b);
    sig_bank_deinit(&b2);
    sig_bank_deinit(&b3);
    sig_bank_cache_clear();
    emb_free(e);
    emb_free(e2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_features_are_tokens_pairs_and_char_ngrams),
        cmocka_unit_test(test_cjk_characters_are_single_tokens),
        cmocka_unit_test(test_unicode_case_folding_and_marks),
        cmocka_unit_test(test_vector_is_the_signed_hashed_sum),
        cmocka_unit_test(test_deterministic_and_dimension_bound),
        cmocka_unit_test(test_paraphrase_beats_unrelated),
        cmocka_unit_test(test_query_window),
        cmocka_unit_test(test_bank_aggregations_and_cache),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
