/* bench_embed.c - cost of the builtin embedder and of the similarity
 * families: µs per embedding by query size, µs per prototype scored, bank
 * build per prototype, and µs per request for a config with every
 * similarity family (builtin, 1024 dimensions). Prints one line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/signals/sig_fixture.h"
#include "core/clock.h"
#include "signals/bank.h"
#include "signals/embedder.h"

static double per_call_us(emb_t *e, const char *t, size_t n, int iters)
{
    float v[4096];
    uint64_t t0 = clock_mono_us();
    for (int i = 0; i < iters; i++)
        emb_embed(e, t, n, v);
    return (double)(clock_mono_us() - t0) / iters;
}

int main(void)
{
    const char *unit =
        "Please review this function and explain why the parser crashes on nested arrays. ";
    size_t ul = strlen(unit);
    char *big = malloc(1 << 20);
    size_t bl = 0;
    while (bl + ul < (1 << 20)) {
        memcpy(big + bl, unit, ul);
        bl += ul;
    }
    emb_t *e = emb_builtin_new(1024);
    printf("builtin embed, 80 B prompt:   %8.2f us\n", per_call_us(e, unit, ul, 20000));
    printf("builtin embed, 1 KB:          %8.2f us\n", per_call_us(e, big, 1024, 5000));
    char *win = malloc(bl + 1);
    const char *w;
    size_t wn = sig_query_window(big, 16384, win, &w);
    printf("builtin embed, 16 KB (window %zu B): %8.2f us\n", wn, per_call_us(e, w, wn, 2000));
    uint64_t t0 = clock_mono_us();
    for (int i = 0; i < 200; i++)
        wn = sig_query_window(big, bl, win, &w);
    printf("query window of 1 MB:         %8.2f us\n", (double)(clock_mono_us() - t0) / 200);

    /* bank: 1,000 prototypes */
    enum { NP = 1000 };
    char **texts = malloc(sizeof(char *) * NP);
    for (int i = 0; i < NP; i++) {
        texts[i] = malloc(96);
        snprintf(texts[i], 96, "prototype %d: how do I configure service %d with option %d", i,
                 i * 7, i % 13);
    }
    sig_bank_cache_clear();
    sig_bank_t b;
    t0 = clock_mono_us();
    sig_bank_init(&b, e, (const char *const *)texts, NP);
    printf("bank build (cold), per prototype: %8.2f us\n", (double)(clock_mono_us() - t0) / NP);
    sig_bank_t b2;
    t0 = clock_mono_us();
    sig_bank_init(&b2, e, (const char *const *)texts, NP);
    printf("bank build (cached), per prototype: %8.2f us\n", (double)(clock_mono_us() - t0) / NP);
    float q[1024];
    emb_embed(e, unit, ul, q);
    volatile double sink = 0;
    t0 = clock_mono_us();
    for (int i = 0; i < 2000; i++)
        sink += sig_bank_score(&b, q, SIG_AGG_MAX, 0);
    printf("bank score, per prototype (1024 dims): %8.3f us\n",
           (double)(clock_mono_us() - t0) / 2000 / NP);
    sig_bank_deinit(&b);
    sig_bank_deinit(&b2);

    /* every similarity family through the engine */
    sigt_t *t = sigt_load(
        "    embeddings:\n"
        "      - {name: code, candidates: ['fix this bug', 'write a function', 'why does it "
        "crash']}\n"
        "    domains:\n"
        "      - {name: math}\n      - {name: computer_science}\n      - {name: law}\n"
        "      - {name: health}\n      - {name: history}\n"
        "    complexity:\n"
        "      - {name: cx, hard: {candidates: ['prove it rigorously', 'design a system']},"
        " easy: {candidates: ['say hi', 'what time is it']}}\n"
        "    preferences:\n"
        "      - {name: brief, examples: ['keep it short']}\n"
        "      - {name: deep, examples: ['explain in detail']}\n"
        "    reasks:\n      - {name: again}\n"
        "    fact_check:\n      - {name: needs_fact_check}\n"
        "    user_feedbacks:\n      - {name: wrong_answer}\n",
        "[{type: embedding, name: code}, {type: domain, name: math}, {type: domain, name: "
        "computer_science},"
        " {type: domain, name: law}, {type: domain, name: health}, {type: domain, name: history},"
        " {type: complexity, name: cx, label: hard}, {type: preference, name: brief},"
        " {type: preference, name: deep}, {type: reask, name: again},"
        " {type: fact_check, name: needs_fact_check}, {type: user_feedback, name: wrong_answer}]");
    if (!t->e) {
        fprintf(stderr, "%s", t->err);
        return 1;
    }
    const char *body = "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"How do "
                       "I parse JSON in C?\"},"
                       "{\"role\":\"assistant\",\"content\":\"Use cJSON.\"},"
                       "{\"role\":\"user\",\"content\":\"Please review this function and explain "
                       "why the parser crashes on nested arrays.\"}]}";
    size_t n = strlen(body);
    sigt_eval_body(t, body, n, NULL, NULL, 0);
    t0 = clock_mono_us();
    for (int i = 0; i < 2000; i++)
        sigt_eval_body(t, body, n, NULL, NULL, 0);
    printf("all similarity families (8 families, ~170 prototypes), per request: %8.2f us\n",
           (double)(clock_mono_us() - t0) / 2000);
    sigt_free(t);
    for (int i = 0; i < NP; i++)
        free(texts[i]);
    free(texts);
    free(big);
    free(win);
    emb_free(e);
    sig_bank_cache_clear();
    (void)sink;
    return 0;
}
