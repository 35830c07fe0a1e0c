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
 * positive, bit for bit), also as a batched reply split back to three
 * requests (sig_cls_batch_fast against sig_cls_parse_batch_tree); a window never exceeds its budget
 * plus the two separators and never cuts inside a UTF-8 sequence that the input had whole. */
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
        /* the same body as a batched reply to three requests of 1, 2 and 1
         * inputs: the fast split answers as the cJSON one, part by part */
        sig_cls_out_t bf[3] = {{0}}, bt[3] = {{0}};
        sig_cls_part_t pf[3], pt[3];
        static const uint32_t first[3] = {0, 1, 3}, count[3] = {1, 2, 1};
        for (int i = 0; i < 3; i++) {
            pf[i] = (sig_cls_part_t){.first = first[i], .count = count[i], .a = &a, .out = &bf[i]};
            pt[i] = pf[i];
            pt[i].out = &bt[i];
        }
        if (sig_cls_batch_fast(&k, body, len, pf, 3)) {
            sig_cls_parse_batch_tree(&k, false, body, len, pt, 3);
            for (int i = 0; i < 3; i++) {
                CHECK(pf[i].rc == pt[i].rc);
                if (pf[i].rc) continue;
                CHECK(bf[i].label && bt[i].label && !strcmp(bf[i].label, bt[i].label));
                CHECK(!memcmp(&bf[i].score, &bt[i].score, sizeof bf[i].score));
                CHECK(!memcmp(&bf[i].positive, &bt[i].positive, sizeof bf[i].positive));
            }
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
