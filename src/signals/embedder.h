/* embedder.h - the embedder interface of the similarity signals (SPEC §5.2):
 * text in, an L2-normalised float vector of emb_dims() components out.
 *
 * Backends:
 *   builtin            weight-free hashed word / word-pair / character n-gram
 *                      vectors (embed_builtin.c); deterministic, no I/O.
 *   openai_compatible  POST {base_url}/embeddings over libcurl with an LRU
 *                      query cache (embed_openai.c). BLOCKING: a call waits
 *                      for the remote (bounded by timeout_ms × (1 +
 *                      max_retries)); used at load (banks) and off the
 *                      workers (eval, dsl test). Workers fetch request
 *                      texts asynchronously instead (embed_async.h), through
 *                      the same cache (emb_openai_cache_get / _put).
 *
 * Ownership: the caller owns the emb_t and frees it with emb_free. Vectors
 * are written into caller memory. Thread-safety: emb_embed and
 * emb_embed_batch are safe to call concurrently on one emb_t (the remote
 * backend serialises only its cache). */
#ifndef TETHER_SIGNALS_EMBEDDER_H
#define TETHER_SIGNALS_EMBEDDER_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct emb emb_t;

/* Status of an embedding call. */
typedef enum {
    EMB_OK = 0,
    EMB_ERR_TIMEOUT,    /* remote did not answer within timeout_ms */
    EMB_ERR_REMOTE,     /* connection failure, non-2xx, malformed reply */
    EMB_ERR_DIMENSIONS, /* remote vector length differs from emb_dims() */
} emb_status_t;

/* "ok", "timeout", "embedding_unavailable", "embedding_dimensions" */
const char *emb_status_str(emb_status_t s);

typedef struct emb_ops {
    const char *name; /* "builtin", "openai_compatible" */
    /* Embed n texts into out (n × dims floats, row-major). */
    emb_status_t (*embed_batch)(emb_t *e, const char *const *texts, const size_t *lens, size_t n,
                                float *out);
    void (*free)(emb_t *e);
} emb_ops_t;

/* Every backend starts with this header. */
struct emb {
    const emb_ops_t *ops;
    int dims;
    bool fail_closed;      /* failure_mode: closed (remote backends) */
    char fingerprint[200]; /* identifies the vector space: bank caches key on it */
};

/* Builtin embedder with dims components (256..4096; asserts the range). */
emb_t *emb_builtin_new(int dims);

/* Remote options; strings are copied. */
typedef struct emb_openai_opts {
    const char *base_url; /* required, e.g. http://127.0.0.1:8001/v1 */
    const char *model;    /* required */
    const char *api_key;  /* NULL: no Authorization header */
    int dims;             /* 0: learn from the first reply, sent as "dimensions" when > 0 */
    int timeout_ms;       /* 2000 */
    int max_retries;      /* 1 */
    size_t cache_entries; /* 10000; 0 disables the cache */
    bool fail_closed;     /* failure_mode: closed */
    int batch_max;        /* texts per asynchronous upstream call (64) */
    int batch_window_ms; /* asynchronous gather window (0: at once, gathered at the in-flight bound)
                          */
} emb_openai_opts_t;

/* NULL with a message in err when options are invalid. Does no I/O. */
emb_t *emb_openai_new(const emb_openai_opts_t *o, char *err, size_t errlen);

/* With dims 0, ask the remote (one probe with retries) and adopt the length
 * of its vector; a no-op for other backends or when dims are known. The
 * probe runs on a background thread of the embedder (one at a time), so a
 * worker never waits for it:
 *   emb_openai_probe        starts one (or joins the running one) and waits
 *                           for its outcome: for loading and tools, never on
 *                           a worker's loop.
 *   emb_openai_probe_async  starts one unless one runs or the last ended
 *                           less than 1 s ago, and returns at once: EMB_OK
 *                           when the dimensions are known, else the last
 *                           probe's failure (EMB_ERR_REMOTE while pending).
 * The dimensions are published atomically (emb_dims) when a probe answers. */
emb_status_t emb_openai_probe(emb_t *e);
emb_status_t emb_openai_probe_async(emb_t *e);

/* Counters of the remote backend (zeros for others). */
typedef struct emb_stats {
    uint64_t requests, failures, cache_hits, cache_misses;
} emb_stats_t;
void emb_openai_stats(const emb_t *e, emb_stats_t *out);

/* What the asynchronous client needs of a remote embedder (NULL for other
 * backends). Strings live as long as the embedder. */
typedef struct emb_openai_conf {
    const char *url, *model, *auth_header; /* auth_header: "Authorization: Bearer ..." or NULL */
    int want_dims;                         /* "dimensions" sent when > 0 */
    int timeout_ms, batch_max, batch_window_ms;
} emb_openai_conf_t;
const emb_openai_conf_t *emb_openai_conf(const emb_t *e);
/* The shared LRU (all workers; one short critical section per call):
 * copy the vector of text into out and return true on a hit; store one. */
bool emb_openai_cache_get(emb_t *e, const char *text, size_t len, float *out);
void emb_openai_cache_put(emb_t *e, const char *text, size_t len, const float *vec);
/* Parse an /embeddings reply of n inputs into out (n × dims, normalised);
 * dims must be known. Counts a request (and a failure unless EMB_OK). */
emb_status_t emb_openai_parse(emb_t *e, const char *body, size_t len, size_t n, float *out);
/* The fast path of that parse (embed_parse.c): true when body is an
 * /embeddings reply it reads fully (valid JSON, rows 0..n-1 once each, dims
 * numbers each), rows written to out unnormalised; false for anything else
 * (out then undefined): the caller parses with cJSON, for the exact error. */
bool emb_parse_fast(const char *body, size_t len, size_t n, int dims, float *out);
void emb_openai_count(emb_t *e, bool failed);

static inline int emb_dims(const emb_t *e)
{
    return __atomic_load_n(&e->dims, __ATOMIC_ACQUIRE); /* a background probe sets it once */
}
emb_status_t emb_embed(emb_t *e, const char *text, size_t len, float *out);
emb_status_t emb_embed_batch(emb_t *e, const char *const *texts, const size_t *lens, size_t n,
                             float *out);
void emb_free(emb_t *e);

/* Dot product (= cosine of normalised vectors) and in-place L2 normalisation
 * (a zero vector stays zero). */
float emb_dot(const float *a, const float *b, int dims);
void emb_normalize(float *v, int dims);

/* The builtin's feature extraction, exposed for tests: calls fn once per
 * distinct feature with its class (1 token, 2 pair, 3 char n-gram), its
 * 64-bit hash and its term frequency. Returns the number of features. */
size_t emb_builtin_features(const char *text, size_t len,
                            void (*fn)(void *ud, int cls, uint64_t h, uint32_t tf), void *ud);
#endif
