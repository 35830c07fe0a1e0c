/* fuzz_classify.c - libFuzzer harness for the replies of external
 * classifiers (src/signals/classify_parse.c; build and run with
 * scripts/fuzz.sh): vLLM /classify, /pooling and /score bodies, guard chat
 * bodies, and the input
 * window of long texts.
 *
 * Input: byte 0 picks the parser and the labels table; the rest is the body
 * (or the text to window). Checked: parsers return 0 or -1 and, on 0, give a
 * label and scores in [0, 1]; whatever the fast /classify reader
 * (classify_fast.c) accepts, the cJSON one reads the same (label, score and
 * positive, bit for bit); a window never exceeds its budget plus the two
 * separators and never cuts inside a UTF-8 sequence that the input had
 * whole. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals/classify.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_classify: check failed: %s (line %d)\n", #c, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    uint8_t mode = data[0];
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    char *labels[] = {"benign", "jailbreak", "S1"};
    char *pos[] = {"jailbreak", "unsafe"};
    cfg_classifier_t k = {0};
    if (mode & 2) {
        k.labels.v = labels;
        k.labels.n = 3;
    }
    if (mode & 4) {
        k.positive_labels.v = pos;
        k.positive_labels.n = 2;
    }
    arena_t a;
    arena_init(&a, 4096);
    sig_cls_out_t o = {0};
    switch ((mode >> 3) % 5) {
    case 0: {
        if (sig_cls_parse_classify(&k, body, len, &a, &o) == 0) {
            CHECK(o.label);
            CHECK(o.score >= 0 && o.score <= 1);
            CHECK(o.positive >= 0 && o.positive <= 1);
        }
        /* the fast reader (classify_fast.c) answers as the cJSON one */
        sig_cls_out_t f = {0}, t = {0};
        if (sig_cls_classify_fast(&k, body, len, &a, &f)) {
            CHECK(sig_cls_parse_classify_tree(&k, body, len, &a, &t) == 0);
            CHECK(t.label && !strcmp(f.label, t.label));
            CHECK(!memcmp(&f.score, &t.score, sizeof f.score));
            CHECK(!memcmp(&f.positive, &t.positive, sizeof f.positive));
        }
        break;
    }
    case 1:
        if (sig_cls_parse_guard(&k, body, len, &a, &o) == 0) {
            CHECK(o.label && *o.label);
            CHECK(o.positive == 0 || o.positive == 1);
        }
        break;
    case 3:
        if (sig_cls_parse_pooling(&k, body, len, &a, &o) == 0) {
            CHECK(o.label);
            CHECK(o.score >= 0 && o.score <= 1);
            CHECK(o.positive >= 0 && o.positive <= 1);
        }
        break;
    case 4:
        if (sig_cls_parse_score(&k, body, len, &a, &o) == 0) {
            CHECK(o.label && k.labels.n);
            CHECK(o.score >= 0 && o.score <= 1);
            CHECK(o.positive >= 0 && o.positive <= 1);
        }
        break;
    default: {
        size_t max = 64 + (mode >> 5) * 7;
        char *w = malloc(max + 16);
        size_t n = sig_cls_window(body, len, max, w);
        CHECK(len <= max ? n == len && !memcmp(w, body, len) : n <= max + 2);
        free(w);
        break;
    }
    }
    arena_deinit(&a);
    return 0;
}
