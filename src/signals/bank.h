/* bank.h - prototype banks of the similarity families (SPEC §5.2): a list of
 * texts embedded and normalised once, then scored against a query vector.
 *
 * Vectors are looked up in a process-wide cache keyed by (embedder
 * fingerprint, H(text)) before the embedder is asked, so a config reload
 * re-embeds only new prototypes. A bank whose embedder failed at build
 * (remote backend down) stays unready and is rebuilt on use at most every
 * 30 s (failure_mode open), or, on a worker, from the vectors its request's
 * fetch asked for (sig_bank_unready_texts). Thread-safety: sig_bank_score, sig_bank_ready
 * and sig_bank_ensure may run concurrently; build/deinit are single-owner. */
#ifndef TETHER_SIGNALS_BANK_H
#define TETHER_SIGNALS_BANK_H
#include "signals/embedder.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { SIG_AGG_MAX = 0, SIG_AGG_MEAN, SIG_AGG_ANY } sig_agg_t;
/* "max" (also NULL), "mean", "any"; -1 when unknown. */
int sig_agg_parse(const char *s);

typedef struct sig_bank {
    emb_t *emb;   /* borrowed */
    char **texts; /* owned copies (kept for rebuilds) */
    size_t n;
    int dims;
    float *vecs; /* n × dims, normalised; NULL until ready */
    atomic_bool ready;
    pthread_mutex_t mu; /* rebuilds */
    int64_t last_try_ms;
    emb_status_t last_status;
} sig_bank_t;

/* Copy the texts and embed them (blocking for remote embedders). Returns
 * EMB_OK, or the embedder's failure with the bank left unready (usable,
 * retried by sig_bank_ensure). Empty texts are skipped. */
emb_status_t sig_bank_init(sig_bank_t *b, emb_t *e, const char *const *texts, size_t n);
void sig_bank_deinit(sig_bank_t *b);
/* True when ready; otherwise retries the build when 30 s passed since the
 * last attempt (now_ms from clock) and reports the outcome. On a thread
 * marked non-blocking (a worker evaluating a request) with a remote
 * embedder of known dimensions, it builds only from the embedder's cache,
 * which the request's asynchronous fetch filled with the texts of
 * sig_bank_unready_texts, and never calls the embedder. */
bool sig_bank_ensure(sig_bank_t *b, int64_t now_ms);
/* Mark the calling thread as one that must not block on the embedder
 * (route/pipeline.c around the signals of a request on a worker). */
void sig_bank_set_nonblocking(bool on);
/* The texts (at most max) of the banks over embedder e whose build failed
 * and that are not ready yet: cb(ud, text, len) for each, under a lock (cb
 * copies; it must not call back into bank.c). Returns how many. */
size_t sig_bank_unready_texts(const emb_t *e, void (*cb)(void *ud, const char *t, size_t n),
                              void *ud, size_t max);
static inline bool sig_bank_ready(const sig_bank_t *b)
{
    return atomic_load(&b->ready);
}

/* Bank score of q (normalised, b->dims): cosines clamped to [0, 1], then
 * max: 0.75·best + 0.25·mean(top 2); mean: average; any: best. top_k > 0
 * keeps only the k best cosines. 0 for an empty or unready bank. */
double sig_bank_score(const sig_bank_t *b, const float *q, sig_agg_t agg, int top_k);
/* Best clamped cosine and its prototype index (-1 when empty). */
double sig_bank_best(const sig_bank_t *b, const float *q, int *index);

/* The similarity window of a query (SPEC §5.1): the text itself when it has
 * at most 2 × 1,024 code points, else the first and the last 1,024 code
 * points joined by "\n", written to out (needs n + 1 bytes). Returns the
 * window length; *win points to text or out. */
size_t sig_query_window(const char *text, size_t n, char *out, const char **win);
#define SIG_WINDOW_CPS 1024

/* The process-wide prototype vector cache. */
size_t sig_bank_cache_size(void);
void sig_bank_cache_clear(void);
#endif
