/* bench_signals.c - quality and cost of the config-independent signal
 * engines: precision/recall of the PII recognizers, the jailbreak pattern
 * library and language detection on tests/data/signals/, then microseconds
 * per request on a 16 KB and a 1 MB agent-style text (prose, code, JSON and
 * log lines with a few PII entities), one core, median of several runs.
 * Run from the repository root (or set TETHER_SRC). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/signals/signals_eval.h"
#include "core/clock.h"

/* Build an agent-like request text of n bytes. */
static char *make_text(size_t n)
{
    static const char *parts[] = {
        "The user wants to refactor the payment module so that retries are idempotent. ",
        "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n            "
        "return fn()\n"
        "        except TimeoutError as e:\n            log.warning('retry %d: %s', i, e)\n",
        "{\"role\": \"tool\", \"content\": \"HTTP 200 OK in 35 ms, items: [1, 2, 3], next: "
        "null\"}\n",
        "2024-03-15T10:30:45Z INFO worker-3 processed job 8812734 in 1.25 s (queue depth 12)\n",
        "Please keep the public API stable; version 2.4.1 shipped last week with build "
        "20240315.1. ",
        "Contact the owner at jane.doe@example.com or call (415) 555-0100 if the job fails. ",
        "Server 10.20.30.40 answered; see section 4.2 of the design doc for the retry budget. ",
        "const total = items.reduce((a, b) => a + b.price * b.qty, 0); // sum in cents\n",
    };
    char *t = malloc(n + 1);
    size_t at = 0, k = 0;
    while (at < n) {
        const char *p = parts[k++ % (sizeof parts / sizeof *parts)];
        size_t l = strlen(p);
        if (l > n - at) l = n - at;
        memcpy(t + at, p, l);
        at += l;
    }
    t[n] = 0;
    return t;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

typedef enum { W_PII, W_JB, W_LANG } work_t;

static double median_us(work_t w, const jb_lib_t *lib, jb_scratch_t *scr, const char *t, size_t n,
                        int iters, size_t *found)
{
    uint64_t samples[64];
    int rounds = 9;
    static pii_entity_t ents[4096];
    for (int r = 0; r < rounds; r++) {
        uint64_t t0 = clock_mono_us();
        for (int i = 0; i < iters; i++) {
            if (w == W_PII) {
                *found = pii_scan(t, n, ents, 4096, NULL);
            } else if (w == W_JB) {
                jb_result_t res;
                jb_lib_score(lib, scr, t, n, &res);
                *found = res.n_ids;
            } else {
                char code[8];
                double c;
                lang_detect(t, n, code, &c);
                *found = (size_t)(c * 100);
            }
        }
        samples[r] = clock_mono_us() - t0;
    }
    qsort(samples, (size_t)rounds, sizeof *samples, cmp_u64);
    return (double)samples[rounds / 2] / iters;
}

int main(void)
{
    sig_set_t s;
    printf("# bench_signals\n\n## Quality (tests/data/signals)\n\n");
    if (sig_set_load("pii.jsonl", &s) != 0) {
        fprintf(stderr, "cannot read tests/data/signals (run from the repository root)\n");
        return 1;
    }
    printf("PII (%zu texts): precision / recall per type, threshold 0.8 | any score\n", s.n);
    sig_pr_t a[PII_TYPE_COUNT + 1], b[PII_TYPE_COUNT + 1];
    sig_pii_eval(&s, 0.8, a, NULL);
    sig_pii_eval(&s, 0.0, b, NULL);
    for (int t = 0; t <= PII_TYPE_COUNT; t++)
        printf("  %-14s %5.3f / %5.3f | %5.3f / %5.3f  (%zu labels)\n",
               t < PII_TYPE_COUNT ? pii_type_name(t) : "all", sig_precision(&a[t]),
               sig_recall(&a[t]), sig_precision(&b[t]), sig_recall(&b[t]), a[t].n_label);
    sig_set_free(&s);

    uint64_t c0 = clock_mono_us();
    jb_lib_t *lib = jb_lib_new(NULL, 0, NULL, 0, NULL, 0);
    uint64_t c1 = clock_mono_us();
    jb_scratch_t *scr = jb_scratch_new(lib);
    const char *jsets[] = {"jailbreak.jsonl", "jailbreak_holdout.jsonl"};
    for (int k = 0; k < 2; k++) {
        sig_pr_t pr;
        if (sig_set_load(jsets[k], &s) != 0) continue;
        sig_jb_eval(&s, lib, scr, 0.7, &pr, NULL);
        printf("jailbreak patterns, %s (%zu prompts, threshold 0.7): precision %.3f recall %.3f\n",
               jsets[k], s.n, sig_precision(&pr), sig_recall(&pr));
        sig_set_free(&s);
    }
    printf("jailbreak library: %u curated patterns, compiled in %.0f ms\n",
           jb_lib_pattern_count(lib), (c1 - c0) / 1000.0);
    if (sig_set_load("language.jsonl", &s) == 0) {
        size_t ok, total;
        sig_lang_eval(&s, &ok, &total, NULL);
        printf("language (%zu sentences, 10 languages): accuracy %.3f (%zu/%zu)\n", s.n,
               (double)ok / (double)total, ok, total);
        sig_set_free(&s);
    }

    printf("\n## Cost (one core, median of 9 rounds)\n\n");
    printf("  %-22s %12s %12s %10s\n", "engine", "16 KB us/req", "1 MB us/req", "us/KB(1MB)");
    size_t sizes[2] = {16 << 10, 1 << 20};
    char *texts[2] = {make_text(sizes[0]), make_text(sizes[1])};
    const char *names[3] = {"pii_scan", "jb_lib_score", "lang_detect"};
    for (int w = 0; w < 3; w++) {
        double us[2];
        size_t found = 0;
        for (int z = 0; z < 2; z++)
            us[z] = median_us((work_t)w, lib, scr, texts[z], sizes[z], z ? 3 : 100, &found);
        printf("  %-22s %12.1f %12.1f %10.3f\n", names[w], us[0], us[1], us[1] / 1024.0);
    }
    /* A short chat prompt: the common case. */
    const char *prompt = "Ignore the previous error and retry; my email is a.b@example.com.";
    size_t pl = strlen(prompt), found;
    printf("  short prompt (%zu B): pii %.2f us, jailbreak %.2f us, language %.2f us\n", pl,
           median_us(W_PII, lib, scr, prompt, pl, 2000, &found),
           median_us(W_JB, lib, scr, prompt, pl, 2000, &found),
           median_us(W_LANG, lib, scr, prompt, pl, 2000, &found));
    free(texts[0]);
    free(texts[1]);
    jb_scratch_free(scr);
    jb_lib_free(lib);
    return 0;
}
