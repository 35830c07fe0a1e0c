/* embed_openai.c - the `openai_compatible` embedder backend (SPEC §5.2):
 * POST {base_url}/embeddings through libcurl, vectors L2-normalised on
 * arrival, queries cached in an LRU keyed by H(text) (XXH3-64 of the text
 * plus its length). Batches (bank building) go 64 inputs per request and
 * use the cache too.
 *
 * Blocking: each call waits for the remote, at most timeout_ms per attempt
 * and 1 + max_retries attempts. The dimension probe (dims 0) runs on a
 * background thread of its own, so a worker never waits for it
 * (emb_openai_probe_async); the embedder is reference-counted so that a
 * probe still running when the config generation goes away ends (aborted)
 * on its own. Retries follow timeouts, connection errors,
 * 429 and 5xx; other 4xx fail at once. One curl easy handle per call keeps
 * the backend thread-safe without a handle pool; the cache and the counters
 * sit behind one mutex. */
#include "json/num.h"
#include "signals/embedder.h"

#include "core/buf.h"
#include "core/dlist.h"
#include "core/hash.h"

#include <cjson/cJSON.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH_MAX 64

typedef struct lru_node lru_node_t;
struct lru_node {
    uint64_t key;
    lru_node_t *hnext;       /* bucket chain */
    lru_node_t *prev, *next; /* recency list, head = most recent */
    float vec[];
};

typedef struct emb_openai {
    emb_t base;
    emb_openai_conf_t conf;
    char *url, *model, *auth_header;
    int want_dims; /* "dimensions" sent when > 0 */
    int timeout_ms, max_retries;
    size_t cache_cap, cache_n, nbuckets;
    lru_node_t **buckets;
    lru_node_t *head, *tail;
    pthread_mutex_t mu;
    emb_stats_t stats;
    /* the dimension probe (mu held): a thread runs, refs (1 + a running
     * probe), probes ended, last outcome, when it ended, closing (freed:
     * abort the probe's transfer) */
    pthread_cond_t probe_cv;
    bool probing, closing;
    int refs;
    uint64_t probes_done;
    emb_status_t probe_status;
    uint64_t probe_end_ms;
} emb_openai_t;

#define PROBE_RETRY_MS 1000 /* emb_openai_probe_async: at most one start per second */

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static uint64_t text_key(const char *t, size_t n)
{
    return hash_xxh64(t, n, (uint64_t)n);
}

/* ------------------------------------------------------------ LRU (mu held) */

static void lru_unlink(emb_openai_t *o, lru_node_t *n)
{
    DLIST_UNLINK(o->head, o->tail, n, prev, next);
}

static void lru_push_front(emb_openai_t *o, lru_node_t *n)
{
    DLIST_PUSH_FRONT(o->head, o->tail, n, prev, next);
}

static lru_node_t *lru_find(emb_openai_t *o, uint64_t key)
{
    for (lru_node_t *n = o->buckets[key & (o->nbuckets - 1)]; n; n = n->hnext)
        if (n->key == key) return n;
    return NULL;
}

static void lru_remove_bucket(emb_openai_t *o, lru_node_t *victim)
{
    lru_node_t **pp = &o->buckets[victim->key & (o->nbuckets - 1)];
    while (*pp != victim)
        pp = &(*pp)->hnext;
    *pp = victim->hnext;
}

static void lru_put(emb_openai_t *o, uint64_t key, const float *vec)
{
    if (!o->cache_cap || lru_find(o, key)) return;
    lru_node_t *n;
    if (o->cache_n >= o->cache_cap) { /* reuse the least recent node */
        n = o->tail;
        lru_unlink(o, n);
        lru_remove_bucket(o, n);
    } else {
        n = malloc(sizeof *n + sizeof(float) * (size_t)emb_dims(&o->base));
        if (!n) abort();
        o->cache_n++;
    }
    n->key = key;
    memcpy(n->vec, vec, sizeof(float) * (size_t)emb_dims(&o->base));
    size_t b = key & (o->nbuckets - 1);
    n->hnext = o->buckets[b];
    o->buckets[b] = n;
    lru_push_front(o, n);
}

/* Copies a cached vector into out; true on a hit. */
static bool lru_get(emb_openai_t *o, uint64_t key, float *out)
{
    if (!o->cache_cap) return false;
    lru_node_t *n = lru_find(o, key);
    if (!n) return false;
    lru_unlink(o, n);
    lru_push_front(o, n);
    memcpy(out, n->vec, sizeof(float) * (size_t)emb_dims(&o->base));
    return true;
}

/* ------------------------------------------------------------ HTTP */

static size_t on_body(char *p, size_t sz, size_t nm, void *ud)
{
    buf_append(ud, p, sz * nm);
    return sz * nm;
}

/* Parse {"data":[{"index":i,"embedding":[...]}...]} into out (n rows). With
 * base.dims == 0 the first reply fixes the dimensions. */
static emb_status_t parse_reply(emb_openai_t *o, const char *body, size_t len, size_t n, float *out)
{
    int dims = emb_dims(&o->base);
    if (out && dims > 0 && emb_parse_fast(body, len, n, dims, out)) { /* embed_parse.c */
        for (size_t i = 0; i < n; i++)
            emb_normalize(out + i * (size_t)dims, dims);
        return EMB_OK;
    }
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    emb_status_t st = EMB_OK;
    size_t seen = 0;
    if (!cJSON_IsArray(data)) {
        st = EMB_ERR_REMOTE;
        goto done;
    }
    const cJSON *d;
    size_t pos = 0;
    cJSON_ArrayForEach(d, data)
    {
        const cJSON *ji = cJSON_GetObjectItemCaseSensitive(d, "index");
        const cJSON *jv = cJSON_GetObjectItemCaseSensitive(d, "embedding");
        size_t idx = cJSON_IsNumber(ji) ? (size_t)json_num_u64(ji->valuedouble, pos) : pos;
        pos++;
        if (!cJSON_IsArray(jv) || idx >= n) {
            st = EMB_ERR_REMOTE;
            goto done;
        }
        int k = cJSON_GetArraySize(jv);
        int zero = 0; /* only the probe arrives here with dims 0: publish once */
        if (!emb_dims(&o->base))
            __atomic_compare_exchange_n(&o->base.dims, &zero, k, false, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED);
        if (k != emb_dims(&o->base)) {
            st = EMB_ERR_DIMENSIONS;
            goto done;
        }
        if (!out) continue;
        float *row = out + idx * (size_t)k;
        int i = 0;
        const cJSON *x;
        cJSON_ArrayForEach(x, jv)
        {
            row[i++] = cJSON_IsNumber(x) ? (float)x->valuedouble : 0.0f;
        }
        emb_normalize(row, k);
        seen++;
    }
    if (out && seen != n) st = EMB_ERR_REMOTE;
done:
    cJSON_Delete(root);
    return st;
}

/* libcurl's progress callback: a non-zero return aborts the transfer (the
 * embedder was freed while its probe ran). */
static int on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
    (void)dt;
    (void)dn;
    (void)ut;
    (void)un;
    return __atomic_load_n(&((emb_openai_t *)ud)->closing, __ATOMIC_ACQUIRE);
}

static emb_status_t post_once(emb_openai_t *o, const char *req, size_t reqlen, size_t n, float *out,
                              bool *retryable)
{
    CURL *c = curl_easy_init();
    if (!c) return EMB_ERR_REMOTE;
    buf_t resp = BUF_INIT;
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    if (o->auth_header) h = curl_slist_append(h, o->auth_header);
    curl_easy_setopt(c, CURLOPT_URL, o->url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, req);
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)reqlen);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, o);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    CURLcode rc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    emb_status_t st;
    *retryable = false;
    if (rc == CURLE_OPERATION_TIMEDOUT) {
        st = EMB_ERR_TIMEOUT;
        *retryable = true;
    } else if (rc != CURLE_OK) {
        st = EMB_ERR_REMOTE;
        *retryable = true;
    } else if (code < 200 || code > 299) {
        st = EMB_ERR_REMOTE;
        *retryable = code == 429 || code >= 500;
    } else {
        st = parse_reply(o, resp.data ? resp.data : "", resp.len, n, out);
    }
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    buf_free(&resp);
    return st;
}

/* One request for n texts (n <= BATCH_MAX), with retries. */
static emb_status_t post_batch(emb_openai_t *o, const char *const *texts, const size_t *lens,
                               size_t n, float *out)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"model\":");
    buf_json_str(&b, o->model, strlen(o->model));
    if (o->want_dims > 0) buf_printf(&b, ",\"dimensions\":%d", o->want_dims);
    buf_puts(&b, ",\"input\":[");
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(&b, ',');
        buf_json_str(&b, texts[i], lens[i]);
    }
    buf_puts(&b, "]}");
    emb_status_t st = EMB_ERR_REMOTE;
    for (int attempt = 0;
         attempt <= o->max_retries && !__atomic_load_n(&o->closing, __ATOMIC_ACQUIRE); attempt++) {
        bool retryable = false;
        pthread_mutex_lock(&o->mu);
        o->stats.requests++;
        pthread_mutex_unlock(&o->mu);
        st = post_once(o, b.data, b.len, n, out, &retryable);
        if (st == EMB_OK || !retryable) break;
    }
    if (st != EMB_OK) {
        pthread_mutex_lock(&o->mu);
        o->stats.failures++;
        pthread_mutex_unlock(&o->mu);
    }
    buf_free(&b);
    return st;
}

static emb_status_t openai_batch(emb_t *e, const char *const *texts, const size_t *lens, size_t n,
                                 float *out)
{
    emb_openai_t *o = (emb_openai_t *)e;
    size_t d = (size_t)emb_dims(e);
    if (!d) return EMB_ERR_DIMENSIONS; /* emb_openai_probe first */
    const char *mt[BATCH_MAX];
    size_t ml[BATCH_MAX], mi[BATCH_MAX];
    float *tmp = malloc(sizeof(float) * d * BATCH_MAX);
    if (!tmp) abort();
    emb_status_t st = EMB_OK;
    size_t i = 0;
    while (i < n && st == EMB_OK) {
        size_t m = 0;
        pthread_mutex_lock(&o->mu);
        for (; i < n && m < BATCH_MAX; i++) {
            if (lru_get(o, text_key(texts[i], lens[i]), out + i * d)) {
                o->stats.cache_hits++;
                continue;
            }
            o->stats.cache_misses++;
            mt[m] = texts[i];
            ml[m] = lens[i];
            mi[m++] = i;
        }
        pthread_mutex_unlock(&o->mu);
        if (!m) continue;
        st = post_batch(o, mt, ml, m, tmp);
        if (st != EMB_OK) break;
        pthread_mutex_lock(&o->mu);
        for (size_t k = 0; k < m; k++) {
            memcpy(out + mi[k] * d, tmp + k * d, sizeof(float) * d);
            lru_put(o, text_key(mt[k], ml[k]), tmp + k * d);
        }
        pthread_mutex_unlock(&o->mu);
    }
    free(tmp);
    return st;
}

static void openai_destroy(emb_openai_t *o)
{
    for (lru_node_t *n = o->head, *next; n; n = next) {
        next = n->next;
        free(n);
    }
    free(o->buckets);
    free(o->url);
    free(o->model);
    free(o->auth_header);
    pthread_mutex_destroy(&o->mu);
    pthread_cond_destroy(&o->probe_cv);
    free(o);
}

/* The config generation lets go: a running probe aborts and frees last. */
static void openai_free(emb_t *e)
{
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    __atomic_store_n(&o->closing, true, __ATOMIC_RELEASE);
    bool last = --o->refs == 0;
    pthread_mutex_unlock(&o->mu);
    if (last) openai_destroy(o);
}

static const emb_ops_t openai_ops = {"openai_compatible", openai_batch, openai_free};

emb_t *emb_openai_new(const emb_openai_opts_t *opt, char *err, size_t errlen)
{
    if (!opt->base_url || !*opt->base_url || !opt->model || !*opt->model) {
        snprintf(err, errlen, "openai_compatible needs base_url and model");
        return NULL;
    }
    if (strncmp(opt->base_url, "http://", 7) && strncmp(opt->base_url, "https://", 8)) {
        snprintf(err, errlen, "base_url must start with http:// or https://: %s", opt->base_url);
        return NULL;
    }
    if (opt->dims < 0 || opt->dims > 65536) {
        snprintf(err, errlen, "dimensions out of range: %d", opt->dims);
        return NULL;
    }
    pthread_once(&curl_once, curl_init_once);
    emb_openai_t *o = calloc(1, sizeof *o);
    if (!o) abort();
    o->base.ops = &openai_ops;
    o->base.dims = opt->dims;
    o->base.fail_closed = opt->fail_closed;
    o->want_dims = opt->dims;
    size_t ul = strlen(opt->base_url);
    while (ul && opt->base_url[ul - 1] == '/')
        ul--;
    buf_t u = BUF_INIT;
    buf_append(&u, opt->base_url, ul);
    buf_puts(&u, "/embeddings");
    o->url = buf_steal(&u);
    o->model = strdup(opt->model);
    if (opt->api_key && *opt->api_key) {
        buf_t a = BUF_INIT;
        buf_printf(&a, "Authorization: Bearer %s", opt->api_key);
        o->auth_header = buf_steal(&a);
    }
    o->timeout_ms = opt->timeout_ms > 0 ? opt->timeout_ms : 2000;
    o->max_retries = opt->max_retries >= 0 ? opt->max_retries : 1;
    o->cache_cap = opt->cache_entries;
    o->nbuckets = 16;
    while (o->nbuckets < o->cache_cap)
        o->nbuckets <<= 1;
    o->buckets = calloc(o->nbuckets, sizeof *o->buckets);
    if (!o->model || !o->buckets) abort();
    pthread_mutex_init(&o->mu, NULL);
    pthread_cond_init(&o->probe_cv, NULL);
    o->refs = 1;
    o->probe_status = EMB_ERR_REMOTE;
    o->conf =
        (emb_openai_conf_t){.url = o->url,
                            .model = o->model,
                            .auth_header = o->auth_header,
                            .want_dims = o->want_dims,
                            .timeout_ms = o->timeout_ms,
                            .batch_max = opt->batch_max > 0 ? opt->batch_max : BATCH_MAX,
                            .batch_window_ms = opt->batch_window_ms > 0 ? opt->batch_window_ms : 0};
    if (o->conf.batch_max > 1024) o->conf.batch_max = 1024;
    snprintf(o->base.fingerprint, sizeof o->base.fingerprint, "openai/%.100s/%.60s/%d", o->url,
             o->model, opt->dims);
    return &o->base;
}

/* ------------------------------------------------------------ dimension probe */

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void *probe_main(void *ud)
{
    emb_openai_t *o = ud;
    const char *t = "dimension probe";
    size_t l = strlen(t);
    emb_status_t st = post_batch(o, &t, &l, 1, NULL);
    pthread_mutex_lock(&o->mu);
    o->probing = false;
    o->probe_status = st;
    o->probes_done++;
    o->probe_end_ms = now_ms();
    pthread_cond_broadcast(&o->probe_cv);
    bool last = --o->refs == 0;
    pthread_mutex_unlock(&o->mu);
    if (last) openai_destroy(o);
    return NULL;
}

/* Start a probe thread unless one runs (mu held); false when none runs. */
static bool probe_start(emb_openai_t *o)
{
    if (o->probing) return true;
    if (o->closing) return false;
    pthread_attr_t at;
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    pthread_t th;
    o->refs++;
    o->probing = pthread_create(&th, &at, probe_main, o) == 0;
    if (!o->probing) o->refs--;
    pthread_attr_destroy(&at);
    return o->probing;
}

emb_status_t emb_openai_probe(emb_t *e)
{
    if (e->ops != &openai_ops || emb_dims(e)) return EMB_OK;
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    uint64_t seen = o->probes_done;
    if (probe_start(o))
        while (o->probes_done == seen)
            pthread_cond_wait(&o->probe_cv, &o->mu);
    emb_status_t st = emb_dims(e) ? EMB_OK : o->probe_status;
    pthread_mutex_unlock(&o->mu);
    return st;
}

emb_status_t emb_openai_probe_async(emb_t *e)
{
    if (e->ops != &openai_ops || emb_dims(e)) return EMB_OK;
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    if (!o->probing && (!o->probes_done || now_ms() - o->probe_end_ms >= PROBE_RETRY_MS))
        probe_start(o);
    emb_status_t st = emb_dims(e) ? EMB_OK : o->probing ? EMB_ERR_REMOTE : o->probe_status;
    pthread_mutex_unlock(&o->mu);
    return st;
}

void emb_openai_stats(const emb_t *e, emb_stats_t *out)
{
    memset(out, 0, sizeof *out);
    if (e->ops != &openai_ops) return;
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    *out = o->stats;
    pthread_mutex_unlock(&o->mu);
}

/* ------------------------------------------------------------ async client's view */

const emb_openai_conf_t *emb_openai_conf(const emb_t *e)
{
    return e && e->ops == &openai_ops ? &((const emb_openai_t *)e)->conf : NULL;
}

bool emb_openai_cache_get(emb_t *e, const char *text, size_t len, float *out)
{
    if (e->ops != &openai_ops) return false;
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    bool hit = lru_get(o, text_key(text, len), out);
    if (hit)
        o->stats.cache_hits++;
    else
        o->stats.cache_misses++;
    pthread_mutex_unlock(&o->mu);
    return hit;
}

void emb_openai_cache_put(emb_t *e, const char *text, size_t len, const float *vec)
{
    if (e->ops != &openai_ops) return;
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    lru_put(o, text_key(text, len), vec);
    pthread_mutex_unlock(&o->mu);
}

void emb_openai_count(emb_t *e, bool failed)
{
    if (e->ops != &openai_ops) return;
    emb_openai_t *o = (emb_openai_t *)e;
    pthread_mutex_lock(&o->mu);
    o->stats.requests++;
    if (failed) o->stats.failures++;
    pthread_mutex_unlock(&o->mu);
}

emb_status_t emb_openai_parse(emb_t *e, const char *body, size_t len, size_t n, float *out)
{
    if (e->ops != &openai_ops || !emb_dims(e)) return EMB_ERR_REMOTE;
    return parse_reply((emb_openai_t *)e, body, len, n, out);
}
