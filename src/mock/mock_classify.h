/* mock_classify.h - the learnable classifiers of `tether mock`: vLLM's
 * classification API (POST /classify, /v1/classify), its pooling API on a
 * classification model (POST /pooling with "task": "classify"), its score
 * API (POST /score, /v1/score) and a guard model
 * answering through chat completions (--guard-model NAME), both driven by
 * one keyword table given on the command line (--classify "kw=label,...").
 *
 * A text whose lower-cased form contains a keyword gets that keyword's label
 * (the first that matches, table order) with probability 0.9; otherwise the
 * label "benign" with 0.9. The labels of /classify replies are "benign"
 * followed by the table's labels in first-seen order (that is the order of
 * probs[]). The guard answers "safe", or "unsafe\n<label>".
 *
 * Thread-safety: pure functions of their arguments. */
#ifndef TETHER_MOCK_CLASSIFY_H
#define TETHER_MOCK_CLASSIFY_H
#include "core/buf.h"
#include <cjson/cJSON.h>
#include <stddef.h>

/* Render the /classify reply for a request body into out. Returns 0, or -1
 * with err set (bad JSON, missing input). */
int mock_classify_render(const char *table, const char *model, const char *body, size_t len,
                         buf_t *out, char *err, size_t errlen);
/* vLLM's /pooling reply for a classification model ("task": "classify"):
 * data[i].data = the same probabilities as /classify, no label. */
int mock_classify_pooling(const char *table, const char *model, const char *body, size_t len,
                          buf_t *out, char *err, size_t errlen);
/* The same two replies from a request body the caller already parsed
 * (root may be NULL: the error of a missing input). */
int mock_classify_render_json(const char *table, const char *model, const cJSON *root, buf_t *out,
                              char *err, size_t errlen);
int mock_classify_pooling_json(const char *table, const char *model, const cJSON *root, buf_t *out,
                               char *err, size_t errlen);
/* vLLM's /score reply: one data[i].score per (text_1, text_2[i]) pair:
 * 0.9 when text_2 contains the label text_1 gets from the table ("benign"
 * when no keyword matches), else 0.1. */
int mock_classify_score(const char *table, const char *model, const char *body, size_t len,
                        buf_t *out, char *err, size_t errlen);
/* The guard's verdict for text (malloc'd). */
char *mock_classify_guard(const char *table, const char *text);
#endif
