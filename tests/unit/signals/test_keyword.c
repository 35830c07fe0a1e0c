/* test_keyword.c - the keyword family through real configs: literal
 * keywords of many rules in one automaton with word boundaries and CJK,
 * case sensitivity, regex (vectorscan and the PCRE2 fallback), BM25 on
 * stems, character n-grams, fuzzy matching (never under 4 characters),
 * AND / OR / NOR, and compile errors with positions. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "sig_fixture.h"

#define K CFG_SIG_KEYWORD

static void test_literal_many_rules_word_boundaries(void **state)
{
    sigt_t *t = sigt_load(
        "    keywords:\n"
        "      - {name: code, keywords: [stack trace, segfault, unit test]}\n"
        "      - {name: cat, keywords: [cat]}\n"
        "      - {name: cpp, keywords: [c++]}\n"
        "      - {name: zh, keywords: ['代码', 'Straße']}\n",
        "[{type: keyword, name: code}, {type: keyword, name: cat}, {type: keyword, name: cpp},"
        " {type: keyword, name: zh}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "I got a SEGFAULT in my concatenate() helper", NULL);
    assert_true(sigt_matched(t, K, "code"));
    assert_false(sigt_matched(t, K, "cat")); /* inside concatenate: no boundary */
    assert_false(sigt_matched(t, K, "zh"));
    assert_true(t->res.family_ran[K]);
    assert_int_equal(sigt_get(t, K, "code")->score * 10, 10);

    sigt_eval_prompt(t, "my cat, and c++ code", NULL);
    assert_true(sigt_matched(t, K, "cat"));
    assert_true(sigt_matched(t, K, "cpp"));
    assert_false(sigt_matched(t, K, "code"));

    sigt_eval_prompt(t, "请帮我看看这段代码为什么崩溃", NULL); /* CJK: no boundaries needed */
    assert_true(sigt_matched(t, K, "zh"));
    sigt_eval_prompt(t, "die STRASSE? nein, die STRAßE", NULL); /* utf8proc lower-casing */
    assert_true(sigt_matched(t, K, "zh"));
    sigt_eval_prompt(t, "unit tests are great", NULL); /* plural: not a literal hit */
    assert_false(sigt_matched(t, K, "code"));
    sigt_free(t);
}

static void test_case_sensitive_and_operators(void **state)
{
    sigt_t *t = sigt_load(
        "    keywords:\n"
        "      - {name: cs, case_sensitive: true, keywords: [AWS]}\n"
        "      - {name: both, operator: AND, keywords: [deploy, kubernetes]}\n"
        "      - {name: none, operator: NOR, keywords: [password, secret]}\n",
        "[{type: keyword, name: cs}, {type: keyword, name: both}, {type: keyword, name: none}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "deploy this to Kubernetes on AWS", NULL);
    assert_true(sigt_matched(t, K, "cs"));
    assert_true(sigt_matched(t, K, "both"));
    assert_true(sigt_matched(t, K, "none"));
    sigt_eval_prompt(t, "deploy on aws, the secret is in the vault", NULL);
    assert_false(sigt_matched(t, K, "cs"));
    assert_false(sigt_matched(t, K, "both"));
    assert_false(sigt_matched(t, K, "none"));
    assert_int_equal((int)sigt_get(t, K, "both")->value, 1); /* one of two keywords */
    sigt_free(t);
}

static void test_regex_vectorscan_and_pcre_fallback(void **state)
{
    sigt_t *t = sigt_load(
        "    keywords:\n"
        "      - {name: think, method: regex, keywords: ['\\b(prove|derive|step[- ]by[- "
        "]step)\\b']}\n"
        "      - {name: back, method: regex, keywords: ['(\\w+) again \\1']}\n"
        "      - {name: look, method: regex, keywords: ['foo(?=bar)']}\n",
        "[{type: keyword, name: think}, {type: keyword, name: back}, {type: keyword, name: look}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "Please DERIVE it step-by-step", NULL);
    assert_true(sigt_matched(t, K, "think"));
    assert_false(sigt_matched(t, K, "back"));
    sigt_eval_prompt(t, "again and again: do it again do, foobar", NULL);
    assert_false(sigt_matched(t, K, "think"));
    assert_false(sigt_matched(t, K, "back"));
    assert_true(sigt_matched(t, K, "look"));
    sigt_eval_prompt(t, "say again say", NULL); /* backreference: PCRE2 */
    assert_true(sigt_matched(t, K, "back"));
    assert_false(sigt_matched(t, K, "look"));
    sigt_free(t);
}

static void test_bad_regex_is_a_positioned_error(void **state)
{
    sigt_t *t = sigt_load("    keywords:\n"
                          "      - {name: bad, method: regex, keywords: ['(unclosed']}\n",
                          "[{type: keyword, name: bad}]");
    assert_null(t->e);
    assert_non_null(strstr(t->err, "t.yaml:10:9"));
    assert_non_null(strstr(t->err, "routing.signals.keywords[bad]"));
    assert_non_null(strstr(t->err, "does not compile"));
    sigt_free(t);
}

static void test_bm25_on_stems(void **state)
{
    sigt_t *t = sigt_load(
        "    keywords:\n"
        "      - {name: perf, method: bm25, bm25_threshold: 0.2, keywords: [optimize, latency]}\n"
        "      - {name: all, method: bm25, operator: AND, bm25_threshold: 0.05, keywords: "
        "[optimize, latency]}\n",
        "[{type: keyword, name: perf}, {type: keyword, name: all}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "we are optimizing the optimizer; optimized code runs", NULL);
    const sig_result_t *r = sigt_get(t, K, "perf");
    /* tf(optim)=3 of 8 tokens: 0.5 * 3*2.2/(3+1.2*(0.25+0.75*8/256))/2.2 */
    double want = 0.5 * 3.0 * 2.2 / (3.0 + 1.2 * (0.25 + 0.75 * 8.0 / 256.0)) / 2.2;
    assert_true(r->score > want - 1e-9 && r->score < want + 1e-9);
    assert_true(r->matched);
    assert_false(sigt_matched(t, K, "all")); /* latency missing */
    sigt_eval_prompt(t, "the latencies after we optimised... no, optimized", NULL);
    assert_true(sigt_matched(t, K, "all"));
    sigt_eval_prompt(t, "nothing relevant here", NULL);
    assert_false(sigt_matched(t, K, "perf"));
    assert_true(sigt_get(t, K, "perf")->score == 0.0);
    sigt_free(t);
}

static void test_ngram_jaccard(void **state)
{
    sigt_t *t = sigt_load(
        "    keywords:\n"
        "      - {name: ng, method: ngram, ngram_threshold: 0.5, keywords: [kubernetes]}\n",
        "[{type: keyword, name: ng}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "my kubernetis cluster", NULL); /* one letter off */
    const sig_result_t *r = sigt_get(t, K, "ng");
    assert_true(r->matched);
    assert_true(r->score >= 0.5 && r->score < 1.0);
    sigt_eval_prompt(t, "kubernetes", NULL);
    assert_true(sigt_get(t, K, "ng")->score == 1.0);
    sigt_eval_prompt(t, "my docker swarm", NULL);
    assert_false(sigt_matched(t, K, "ng"));
    sigt_free(t);
}

static void test_fuzzy_skips_short_keywords(void **state)
{
    sigt_t *t = sigt_load("    keywords:\n"
                          "      - {name: fz, fuzzy_match: true, fuzzy_threshold: 2, keywords: "
                          "[segfault, bug, null pointer]}\n",
                          "[{type: keyword, name: fz}]");
    assert_non_null(t->e);
    sigt_eval_prompt(t, "got a segfalt", NULL);
    assert_true(sigt_matched(t, K, "fz"));
    sigt_eval_prompt(t, "a bag of chips", NULL); /* bug vs bag: under 4 chars, never fuzzy */
    assert_false(sigt_matched(t, K, "fz"));
    sigt_eval_prompt(t, "nul pointr dereference", NULL); /* two-token window */
    assert_true(sigt_matched(t, K, "fz"));
    sigt_eval_prompt(t, "completely different words", NULL);
    assert_false(sigt_matched(t, K, "fz"));
    sigt_free(t);
}

/* Long prompts: n-gram hashes are filled lazily in steps of 256 positions,
 * bm25 counts only over stemmed candidates (a per-request memo of stems,
 * which stops growing when half full) and fuzzy looks only at tokens of a
 * fitting length; results are those of a full scan. */
static void test_long_prompt_lazy_paths(void **state)
{
    sigt_t *t = sigt_load(
        "    keywords:\n"
        "      - {name: ng, method: ngram, ngram_threshold: 0.99, keywords: [idempotent]}\n"
        "      - {name: ng2, method: ngram, ngram_arity: 2, ngram_threshold: 0.99, keywords: "
        "[retries]}\n"
        "      - {name: perf, method: bm25, bm25_threshold: 0.001, keywords: [optimize, "
        "'load balancer']}\n"
        "      - {name: fz, fuzzy_match: true, keywords: [deadlock]}\n",
        "[{type: keyword, name: ng}, {type: keyword, name: ng2}, {type: keyword, name: perf},"
        " {type: keyword, name: fz}]");
    assert_non_null(t->e);
    buf_t b = BUF_INIT;
    /* 600 distinct words sharing the stems' 2-byte prefixes (op.., lo..),
     * then the keywords far past the first 256 positions */
    for (int i = 0; i < 600; i++)
        buf_printf(&b, "op%dx lo%dy ", i, i);
    buf_puts(&b, "the retries are idempotent; optimized the load balancers; a deadlok. ");
    for (int i = 0; i < 300; i++)
        buf_printf(&b, "op%dx optimizing ", i);
    sigt_eval_prompt(t, b.data, NULL);
    assert_true(sigt_matched(t, K, "ng"));
    assert_true(sigt_get(t, K, "ng")->score == 1.0);
    assert_true(sigt_matched(t, K, "ng2"));
    assert_true(sigt_matched(t, K, "fz"));
    const sig_result_t *r = sigt_get(t, K, "perf");
    assert_true(r->matched);
    /* tf(optim) = 301, tf(load balanc) = 1 over 2 * 600 + 10 + 2 * 300 tokens */
    double len = 2 * 600 + 10 + 2 * 300, k = 1.2 * (0.25 + 0.75 * len / 256.0);
    double want = (301 * 2.2 / (301 + k) + 1 * 2.2 / (1 + k)) / 2.2 / 2;
    assert_true(r->score > want - 1e-9 && r->score < want + 1e-9);
    /* no keyword anywhere: nothing matches, whole text scanned */
    buf_reset(&b);
    for (int i = 0; i < 2000; i++)
        buf_printf(&b, "idem%d retr%d dead%d ", i, i, i);
    sigt_eval_prompt(t, b.data, NULL);
    assert_false(sigt_matched(t, K, "ng"));
    assert_false(sigt_matched(t, K, "ng2"));
    assert_false(sigt_matched(t, K, "perf"));
    assert_false(sigt_matched(t, K, "fz"));
    buf_free(&b);
    sigt_free(t);
}

static void test_query_window_in_tool_loop(void **state)
{
    sigt_t *t = sigt_load("    keywords:\n      - {name: code, keywords: [segfault]}\n",
                          "[{type: keyword, name: code}]");
    const char *body = "{\"model\":\"auto\",\"messages\":["
                       "{\"role\":\"user\",\"content\":\"fix the segfault\"},"
                       "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c1\","
                       "\"type\":\"function\","
                       "\"function\":{\"name\":\"sh\",\"arguments\":\"{}\"}}]},"
                       "{\"role\":\"tool\",\"tool_call_id\":\"c1\",\"content\":\"ok\"}]}";
    assert_int_equal(sigt_eval_body(t, body, strlen(body), NULL, NULL, 0), 0);
    assert_true(sigt_matched(t, K, "code")); /* query = earlier user text */
    const char *body2 = "{\"model\":\"auto\",\"messages\":["
                        "{\"role\":\"user\",\"content\":\"fix the segfault\"},"
                        "{\"role\":\"assistant\",\"content\":\"done\"},"
                        "{\"role\":\"user\",\"content\":\"thanks\"}]}";
    sigt_eval_body(t, body2, strlen(body2), NULL, NULL, 0);
    assert_false(sigt_matched(t, K, "code")); /* history is not the query */
    sigt_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_literal_many_rules_word_boundaries),
        cmocka_unit_test(test_case_sensitive_and_operators),
        cmocka_unit_test(test_regex_vectorscan_and_pcre_fallback),
        cmocka_unit_test(test_bad_regex_is_a_positioned_error),
        cmocka_unit_test(test_bm25_on_stems),
        cmocka_unit_test(test_ngram_jaccard),
        cmocka_unit_test(test_fuzzy_skips_short_keywords),
        cmocka_unit_test(test_query_window_in_tool_loop),
        cmocka_unit_test(test_long_prompt_lazy_paths),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
