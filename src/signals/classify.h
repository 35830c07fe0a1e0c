/* classify.h - external classifiers (global.model_catalog.classifiers[])
 * called on the worker's event loop before the signals run.
 *
 * Four protocols: `http_classify` (vLLM's classification API: POST endpoint
 * {"model", "input": [texts]} -> data[i].label, data[i].probs),
 * `http_pooling` (vLLM's pooling API on a classification model: {"model",
 * "task", "input"} -> data[i].data, the pooled probabilities or logits),
 * `http_score` (vLLM's score API: {"model", "text_1": query, "text_2":
 * [label texts]} -> data[i].score) and `openai_chat` (a guard model through
 * chat completions: the prompt with {{text}} replaced, a reply such as
 * "safe" or "unsafe\nS1").
 *
 * The route pipeline (route/fetch.h) calls fetch_classify once per request: one call per
 * classifier that the recipe's rules name (of the families the recipe uses),
 * all in parallel, under one deadline (global.router.limits.signal_timeout).
 * Families then read the outcome through sig_env_t.cls (sig_cls_lookup);
 * a classifier that timed out, failed or sits behind an open circuit reports
 * why, and the family falls back to its heuristic.
 *
 * Thread-safety: a sig_cls_client_t belongs to one worker's event loop. */
#ifndef TETHER_SIGNALS_CLASSIFY_H
#define TETHER_SIGNALS_CLASSIFY_H
#include "config/config.h"
#include "config/global.h"
#include "core/arena.h"
#include "request/request.h"
#include <stdbool.h>
#include <stdint.h>

struct sig_engine;
struct event_base;

/* Outcome of one classifier for one request. */
typedef struct sig_cls_out {
    bool asked;              /* a rule of the recipe named it */
    bool ok;                 /* a reply was parsed */
    const char *outcome;     /* ok | timeout | unreachable | error | http_error | bad_response |
                              * circuit_open */
    const char *label;       /* top label (or the guard's category) */
    double score;            /* probability of the top label */
    double positive;         /* probability of the positive labels (max over windows) */
    uint32_t latency_us;     /* fetch start -> outcome recorded */
    const char *name;        /* the classifier's name (config memory) */
    uint32_t sent_us;        /* fetch start -> the call started (0: never started) */
    uint32_t call_us;        /* the call started -> its reply (or failure) on the loop */
    uint32_t batch_requests; /* requests whose inputs shared the call (0: its own call) */
} sig_cls_out_t;

/* Per request: one entry per model_catalog classifier, by index. */
typedef struct sig_cls_results {
    sig_cls_out_t *items;
    size_t n;
    uint64_t t0_us; /* clock_mono_us when the fetch started */
} sig_cls_results_t;

typedef struct sig_cls_client sig_cls_client_t; /* route/fetch.h */
typedef struct sig_emb_client sig_emb_client_t; /* route/fetch.h */

/* The index of classifier `name` in global.model_catalog.classifiers[], or -1. */
int sig_cls_index(const cfg_t *cfg, const char *name);

/* The outcome for classifier `name`, or NULL with *why set (no prefetch,
 * unknown classifier, or its failure outcome "classifier_<outcome>"). */
const sig_cls_out_t *sig_cls_lookup(const cfg_t *cfg, const sig_cls_results_t *r, const char *name,
                                    const char **why);

/* For a family's rule sg that names a classifier: its outcome, or NULL
 * when the rule has none or it failed. On failure res->fallback gets the
 * reason (failure_mode open: the family uses its heuristic), or res->error
 * (failure_mode closed: the leaf's on_error policy applies). */
struct sig_ctx;
struct sig_result;
const sig_cls_out_t *sig_cls_rule(struct sig_ctx *cx, const cfg_signal_t *sg,
                                  struct sig_result *res);

/* Label families (domain, fact_check, user_feedback): rule ref takes the
 * classifier's verdict: label = the classifier's top label, matched when it
 * is the rule's name (case-insensitive) with a probability of at least the
 * rule's threshold (def_thr when unset). Returns true when the rule is
 * settled (verdict or closed-mode error), false when the family should
 * evaluate it with its heuristic (no classifier, or it failed open). */
struct sig_ref;
bool sig_cls_verdict(struct sig_ctx *cx, const struct sig_ref *ref, double def_thr);

/* Parsers (exposed for unit tests and the fuzz harness). Fill *out from a
 * response body; return 0, or -1 when the body is not understood. */
int sig_cls_parse_classify(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                           sig_cls_out_t *out);
/* The /classify reply's two readers, which sig_cls_parse_classify combines:
 * the fast one (classify_fast.c, no cJSON tree) returns true with *out set
 * when it understands the reply fully, exactly as the cJSON one would set
 * it, else false with *out untouched; the cJSON one decides everything
 * else. Exposed so tests compare them. */
bool sig_cls_classify_fast(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                           sig_cls_out_t *out);
int sig_cls_parse_classify_tree(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                                sig_cls_out_t *out);
/* One request of a batched call (http_classify, http_pooling): its inputs
 * are [first, first + count) of the call's input list; parts are given in
 * input order and do not overlap. */
typedef struct sig_cls_part {
    uint32_t first, count;
    arena_t *a;         /* where its label goes */
    sig_cls_out_t *out; /* label, score, positive */
    int rc;             /* 0, or -1: its part of the reply is not understood */
} sig_cls_part_t;
/* A batched call's reply, split back to its requests: a data[] entry is
 * input number "index" when that is an integer, else its position; an
 * entry of no request's inputs is ignored. Each request's outcome is what
 * sig_cls_parse_classify (pooling: sig_cls_parse_pooling) gives on
 * {"data":[its entries, in the reply's order]}, i.e. on the reply to a call
 * of its own; a request without entries is -1, as is every request when the
 * reply has no data[] array. */
void sig_cls_parse_batch(const cfg_classifier_t *k, bool pooling, const char *body, size_t len,
                         sig_cls_part_t *parts, size_t n);
/* Its two readers: the fast one (classify_fast.c, http_classify) returns
 * true with every part set when it understands the reply fully, exactly as
 * the cJSON one would set them, else false with no part's out touched; the
 * cJSON one decides everything else. Exposed so tests compare them. */
bool sig_cls_batch_fast(const cfg_classifier_t *k, const char *body, size_t len,
                        sig_cls_part_t *parts, size_t n);
void sig_cls_parse_batch_tree(const cfg_classifier_t *k, bool pooling, const char *body, size_t len,
                              sig_cls_part_t *parts, size_t n);
int sig_cls_parse_guard(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                        sig_cls_out_t *out);
/* vLLM /pooling (http_pooling): data[i].data is a classification model's
 * pooled vector: probabilities, logits (softmax) or one score (binary);
 * labels[] names the classes when it lines up. */
int sig_cls_parse_pooling(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                          sig_cls_out_t *out);
/* vLLM /score (http_score): data[i].score of the query against labels[i]'s
 * text; the top label wins, positive = the best positive label's score. */
int sig_cls_parse_score(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                        sig_cls_out_t *out);
/* The text sent for a long input: head, middle and tail samples of at most
 * max_chars bytes in total (on UTF-8 boundaries); short texts unchanged. */
size_t sig_cls_window(const char *s, size_t n, size_t max_chars, char *out);
#endif
