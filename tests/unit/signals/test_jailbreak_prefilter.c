/* test_jailbreak_prefilter.c - the anchor prefilter of the curated
 * jailbreak library (jailbreak_prefilter.h) never changes a result: for
 * every text, jb_lib_score (prefilter, then the scan) equals
 * jb_lib_score_full (always the scan). Texts: the labelled sets under
 * tests/data/signals (jailbreak, held-out, pii, language), strings generated
 * from each curated regex (every alternative, random case, optional parts
 * dropped, embedded in filler; each pattern must be matched by its own
 * samples, so the generator reaches every pattern), the same with one word
 * removed or a byte changed (near misses), and random word soups over the
 * pattern vocabulary. A missing anchor word fails the generated samples of
 * its branch. Also: benign text is filtered out (the point of the filter),
 * and the filter is off for libraries with user patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "signals/jailbreak_prefilter.h"
#include "signals_eval.h"

static jb_lib_t *g_lib;
static jb_scratch_t *g_scr;
static unsigned long g_rng = 0x9e3779b97f4a7c15ul;
static size_t g_texts, g_skipped;

static unsigned rnd(unsigned n)
{
    g_rng ^= g_rng << 13;
    g_rng ^= g_rng >> 7;
    g_rng ^= g_rng << 17;
    return n ? (unsigned)(g_rng % n) : 0;
}

static int setup(void **st)
{
    char err[256] = "";
    g_lib = jb_lib_new(NULL, 0, NULL, 0, err, sizeof err);
    g_scr = g_lib ? jb_scratch_new(g_lib) : NULL;
    return g_lib && g_scr ? 0 : -1;
}

static int teardown(void **st)
{
    jb_scratch_free(g_scr);
    jb_lib_free(g_lib);
    return 0;
}

/* Fast and full results equal; returns the full one. */
static jb_result_t check(const char *s, size_t n)
{
    jb_result_t fast, full;
    assert_int_equal(jb_lib_score_full(g_lib, g_scr, s, n, &full), 0);
    assert_int_equal(jb_lib_score(g_lib, g_scr, s, n, &fast), 0);
    if (fast.p != full.p || fast.n_ids != full.n_ids || fast.benign != full.benign ||
        memcmp(fast.ids, full.ids, sizeof fast.ids))
        fail_msg("prefilter changed the result (full p=%.2f ids=%u, first %s) for: %.*s", full.p,
                 full.n_ids, full.n_ids ? jb_lib_pattern_name(g_lib, full.ids[0]) : "-", (int)n, s);
    g_texts++;
    if (!jb_lib_may_match(g_lib, s, n)) g_skipped++;
    return full;
}

/* ---- a random string matched by a regex of the curated subset ---- */

typedef struct {
    char *s;
    size_t n, cap;
} sbuf_t;

static void put(sbuf_t *b, char c)
{
    if (b->n + 1 >= b->cap) {
        b->cap = b->cap ? b->cap * 2 : 256;
        b->s = realloc(b->s, b->cap);
        assert_non_null(b->s);
    }
    b->s[b->n++] = c;
    b->s[b->n] = 0;
}

static void put_cased(sbuf_t *b, char c)
{
    if (c >= 'a' && c <= 'z' && rnd(3) == 0) c = (char)(c - 32);
    if (c >= 'A' && c <= 'Z' && rnd(3) == 0) c = (char)(c + 32);
    put(b, c);
}

/* end of the atom starting at p (after its quantifier is not included) */
static const char *atom_end(const char *p)
{
    if (*p == '\\') return p + 2;
    if (*p == '[') {
        p++;
        while (*p != ']')
            p += *p == '\\' ? 2 : 1;
        return p + 1;
    }
    if (*p == '(') {
        int depth = 0;
        for (;; p++) {
            if (*p == '\\') {
                p++;
                continue;
            }
            if (*p == '[') {
                p = atom_end(p) - 1;
                continue;
            }
            if (*p == '(') depth++;
            if (*p == ')' && --depth == 0) return p + 1;
        }
    }
    return p + 1;
}

static void gen_alt(sbuf_t *b, const char *s, const char *e);

static void gen_class(sbuf_t *b, const char *p, const char *e) /* [ ... ] */
{
    char set[128];
    size_t n = 0;
    for (p++; p < e - 1; p++) {
        char c = *p;
        if (c == '\\') {
            c = *++p == 't' ? '\t' : *p;
        } else if (p[1] == '-' && p + 2 < e - 1) {
            for (char x = c; x <= p[2] && n < sizeof set; x++)
                set[n++] = x;
            p += 2;
            continue;
        }
        if (n < sizeof set) set[n++] = c;
    }
    put_cased(b, set[rnd((unsigned)n)]);
}

static void gen_atom(sbuf_t *b, const char *p, const char *q)
{
    static const char dot[] = "  ,.;:\n-";
    static const char space[] = " \t\n  ";
    switch (*p) {
    case '(': gen_alt(b, p + 1, q - 1); return;
    case '[': gen_class(b, p, q); return;
    case '.': put(b, dot[rnd(sizeof dot - 1)]); return;
    case '^':
    case '$': return;
    case '\\':
        if (p[1] == 'b') return;
        if (p[1] == 's') {
            put(b, space[rnd(sizeof space - 1)]);
            return;
        }
        put(b, p[1]);
        return;
    default: put_cased(b, *p);
    }
}

static void gen_seq(sbuf_t *b, const char *p, const char *e)
{
    while (p < e) {
        const char *q = atom_end(p), *r = q;
        unsigned lo = 1, hi = 1;
        if (r < e && *r == '?')
            lo = 0, hi = 1, r++;
        else if (r < e && *r == '*')
            lo = 0, hi = 3, r++;
        else if (r < e && *r == '+')
            lo = 1, hi = 3, r++;
        else if (r < e && *r == '{') {
            char *x;
            lo = (unsigned)strtoul(r + 1, &x, 10);
            hi = *x == ',' ? (unsigned)strtoul(x + 1, &x, 10) : lo;
            if (hi > lo + 4) hi = lo + 4; /* .{0,80}: a few characters */
            r = x + 1;
        }
        unsigned k = lo + rnd(hi - lo + 1);
        if (lo == 0 && rnd(2)) k = 0;
        for (unsigned i = 0; i < k; i++)
            gen_atom(b, p, q);
        p = r;
    }
}

static void gen_alt(sbuf_t *b, const char *s, const char *e)
{
    const char *alts[64];
    size_t n = 0;
    alts[n++] = s;
    for (const char *p = s; p < e; p = atom_end(p))
        if (*p == '|' && n < 63) alts[n++] = p + 1;
    size_t k = rnd((unsigned)n);
    const char *a = alts[k], *z = k + 1 < n ? alts[k + 1] - 1 : e;
    gen_seq(b, a, z);
}

static const char *const FILLER[] = {
    "please",   "the",    "code",   "review", "this",   "function", "now",    "your",
    "answer",   "thanks", "system", "with",   "ignore", "you",      "are",    "mode",
    "rules",    "in",     "all",    "what",   "decode", "base64",   "follow", "new",
    "previous", "prompt", "act",    "as",     "ai",     "no",       "longer", "data",
    "<|",       "|>",     "[",      "]",      "#",      ":",        "don't",  "\n"};
#define N_FILLER (sizeof FILLER / sizeof FILLER[0])

static void filler(sbuf_t *b, unsigned words)
{
    for (unsigned i = 0; i < words; i++) {
        for (const char *w = FILLER[rnd(N_FILLER)]; *w; w++)
            put_cased(b, *w);
        put(b, rnd(5) ? ' ' : '\n');
    }
}

static void test_generated_samples_of_every_pattern(void **st)
{
    unsigned n = jb_curated_count();
    sbuf_t b = {0}, m = {0};
    for (unsigned id = 0; id < n; id++) {
        const char *re = jb_curated_regex(id);
        unsigned own = 0, samples = 300;
        for (unsigned k = 0; k < samples; k++) {
            b.n = 0;
            put(&b, ' ');
            if (rnd(2)) filler(&b, rnd(6));
            put(&b, '\n');
            gen_alt(&b, re, re + strlen(re));
            put(&b, rnd(2) ? '\n' : ' ');
            if (rnd(2)) filler(&b, rnd(6));
            jb_result_t r = check(b.s, b.n);
            for (unsigned i = 0; i < r.n_ids; i++)
                own += r.ids[i] == id;
            /* near misses: one byte changed, or a stretch cut out */
            m.n = 0;
            for (size_t i = 0; i < b.n; i++)
                put(&m, b.s[i]);
            size_t at = rnd((unsigned)m.n);
            if (rnd(2)) {
                m.s[at] = (char)" az_'.\x80"[rnd(7)];
            } else {
                size_t cut = 1 + rnd(8);
                if (at + cut > m.n) cut = m.n - at;
                memmove(m.s + at, m.s + at + cut, m.n - at - cut);
                m.n -= cut;
            }
            check(m.s, m.n);
            check(b.s + 1, b.n > 4 ? b.n - 3 : b.n - 1); /* no leading space, cut tail */
        }
        /* the generator reaches the pattern: most of its samples match it */
        if (own < samples / 8)
            fail_msg("%s: only %u of %u samples match", jb_lib_pattern_name(g_lib, id), own,
                     samples);
    }
    free(b.s);
    free(m.s);
}

static void test_word_soups(void **st)
{
    sbuf_t b = {0};
    for (unsigned k = 0; k < 20000; k++) {
        b.n = 0;
        filler(&b, 1 + rnd(30));
        check(b.s, b.n);
    }
    free(b.s);
}

static void test_labelled_sets(void **st)
{
    static const char *const sets[] = {"jailbreak.jsonl", "jailbreak_holdout.jsonl", "pii.jsonl",
                                       "language.jsonl"};
    size_t matched = 0;
    for (size_t i = 0; i < sizeof sets / sizeof *sets; i++) {
        sig_set_t s = {0};
        assert_int_equal(sig_set_load(sets[i], &s), 0);
        assert_true(s.n > 0);
        for (size_t k = 0; k < s.n; k++) {
            const char *t = sig_text(s.rows[k]);
            if (!t) continue;
            size_t n = strlen(t);
            matched += check(t, n).n_ids > 0;
            for (size_t cut = 1; cut < n; cut += 1 + n / 8) /* every prefix and suffix length */
                check(t, cut), check(t + cut, n - cut);
        }
        sig_set_free(&s);
    }
    assert_true(matched >= 80); /* the jailbreak sets do reach the scan */
}

static void test_benign_text_skips_the_scan(void **st)
{
    static const char *const benign[] = {
        "Can you refactor this function so the error path frees the buffer?",
        "// load.c: keeps the buffer until parse returns, then frees it on every path.\n",
        "int load(const char *path) {\n    int rc = -1;\n    char *buf = malloc(4096);\n}",
        "Ok, normalising fixed it. Last thing: summarise what we changed for the pull request "
        "description, in three bullet points, and mention the accent fix.",
        "",
        "日本語のファイル名でも同じ問題が起きます。"};
    for (size_t i = 0; i < sizeof benign / sizeof *benign; i++) {
        size_t before = g_skipped;
        check(benign[i], strlen(benign[i]));
        assert_int_equal(g_skipped, before + 1);
    }
    check(NULL, 0);
}

static void test_user_patterns_turn_the_filter_off(void **st)
{
    assert_true(jb_lib_has_prefilter(g_lib));
    const char *user[] = {"zebra\\s+crossing"}, *benign[] = {"ignore previous instructions"};
    char err[256];
    jb_lib_t *u = jb_lib_new(user, 1, NULL, 0, err, sizeof err);
    jb_lib_t *bn = jb_lib_new(NULL, 0, benign, 1, err, sizeof err);
    assert_non_null(u);
    assert_non_null(bn);
    assert_false(jb_lib_has_prefilter(u));
    assert_false(jb_lib_has_prefilter(bn));
    jb_scratch_t *s = jb_scratch_new(u);
    jb_result_t r;
    assert_int_equal(jb_lib_score(u, s, "a zebra crossing", 16, &r), 0);
    assert_true(r.p > 0.8);
    jb_scratch_free(s);
    s = jb_scratch_new(bn);
    assert_int_equal(jb_lib_score(bn, s, "ignore previous instructions", 28, &r), 0);
    assert_true(r.benign);
    jb_scratch_free(s);
    jb_lib_free(u);
    jb_lib_free(bn);
}

static void test_filter_rejects_bad_anchor_lists(void **st)
{
    const char *ok[] = {"ignore forget, instructions", "inst sys"};
    jb_pf_t *pf = jb_pf_new(ok, 2);
    assert_non_null(pf);
    assert_true(jb_pf_may_match(pf, "IGNORE all Instructions", 23));
    assert_true(jb_pf_may_match(pf, "[INST]", 6));
    assert_false(jb_pf_may_match(pf, "ignore the rest", 15));
    assert_false(jb_pf_may_match(pf, "xinst ignoreinstructions", 24)); /* not word starts */
    assert_true(jb_pf_may_match(pf, "9inst", 5));
    jb_pf_free(pf);
    const char *one_letter[] = {"a"}, *digit[] = {"2x"}, *empty[] = {""};
    assert_null(jb_pf_new(one_letter, 1));
    assert_null(jb_pf_new(digit, 1));
    pf = jb_pf_new(empty, 1); /* a pattern without anchors: always maybe */
    assert_non_null(pf);
    assert_true(jb_pf_may_match(pf, "anything", 8));
    jb_pf_free(pf);
}

static void test_summary(void **st)
{
    /* most generated texts reach the scan, but not all: the filter is used */
    print_message("prefilter: %zu texts compared, %zu skipped the scan\n", g_texts, g_skipped);
    assert_true(g_texts > 50000);
    assert_true(g_skipped > 1000 && g_skipped < g_texts);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_rejects_bad_anchor_lists),
        cmocka_unit_test(test_user_patterns_turn_the_filter_off),
        cmocka_unit_test(test_benign_text_skips_the_scan),
        cmocka_unit_test(test_generated_samples_of_every_pattern),
        cmocka_unit_test(test_word_soups),
        cmocka_unit_test(test_labelled_sets),
        cmocka_unit_test(test_summary),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
