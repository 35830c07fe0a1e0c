/* bank.c - prototype banks (bank.h): build through the embedder with a
 * process-wide vector cache, rebuild after remote failures (on a worker from
 * the vectors its fetch asked for, never a call), score with the
 * SPEC §5.2 aggregations, and the §5.1 query window. Used by every
 * similarity family (embedding.c, domain.c, complexity.c, ...). */
#include "signals/bank.h"

#include "core/clock.h"
#include "core/hash.h"

#include <stdlib.h>
#include <string.h>

#define REBUILD_MS 30000
#define CACHE_CAP  65536

/* ------------------------------------------------------------ vector cache */

typedef struct vc_node {
    uint64_t key;
    int dims;
    struct vc_node *next;
    float vec[];
} vc_node_t;

static pthread_mutex_t vc_mu = PTHREAD_MUTEX_INITIALIZER;
static vc_node_t *vc_buckets[CACHE_CAP];
static uint64_t vc_order[CACHE_CAP]; /* insertion ring, for eviction */
static size_t vc_n, vc_head;

static uint64_t vc_key(const emb_t *e, const char *t, size_t n)
{
    uint64_t fp = hash_fnv1a64(e->fingerprint, strlen(e->fingerprint));
    return hash_xxh64(t, n, fp ^ (uint64_t)n);
}

static void vc_remove(uint64_t key)
{
    vc_node_t **pp = &vc_buckets[key & (CACHE_CAP - 1)];
    while (*pp) {
        if ((*pp)->key == key) {
            vc_node_t *d = *pp;
            *pp = d->next;
            free(d);
            vc_n--;
            return;
        }
        pp = &(*pp)->next;
    }
}

static bool vc_get(uint64_t key, int dims, float *out)
{
    for (vc_node_t *n = vc_buckets[key & (CACHE_CAP - 1)]; n; n = n->next)
        if (n->key == key && n->dims == dims) {
            memcpy(out, n->vec, sizeof(float) * (size_t)dims);
            return true;
        }
    return false;
}

static void vc_put(uint64_t key, int dims, const float *v)
{
    for (vc_node_t *n = vc_buckets[key & (CACHE_CAP - 1)]; n; n = n->next)
        if (n->key == key) return;
    if (vc_n >= CACHE_CAP) vc_remove(vc_order[vc_head]); /* oldest insert */
    vc_node_t *n = malloc(sizeof *n + sizeof(float) * (size_t)dims);
    if (!n) abort();
    n->key = key;
    n->dims = dims;
    memcpy(n->vec, v, sizeof(float) * (size_t)dims);
    n->next = vc_buckets[key & (CACHE_CAP - 1)];
    vc_buckets[key & (CACHE_CAP - 1)] = n;
    vc_order[vc_head] = key;
    vc_head = (vc_head + 1) % CACHE_CAP;
    vc_n++;
}

size_t sig_bank_cache_size(void)
{
    pthread_mutex_lock(&vc_mu);
    size_t n = vc_n;
    pthread_mutex_unlock(&vc_mu);
    return n;
}

void sig_bank_cache_clear(void)
{
    pthread_mutex_lock(&vc_mu);
    for (size_t i = 0; i < CACHE_CAP; i++) {
        for (vc_node_t *n = vc_buckets[i], *next; n; n = next) {
            next = n->next;
            free(n);
        }
        vc_buckets[i] = NULL;
    }
    vc_n = vc_head = 0;
    pthread_mutex_unlock(&vc_mu);
}

/* ------------------------------------------------------------ banks */

int sig_agg_parse(const char *s)
{
    if (!s || !*s || !strcmp(s, "max")) return SIG_AGG_MAX;
    if (!strcmp(s, "mean")) return SIG_AGG_MEAN;
    if (!strcmp(s, "any")) return SIG_AGG_ANY;
    return -1;
}

/* ------------------------------------------------------------ unready banks */

/* Banks whose remote build failed, so that a worker's fetch can ask for
 * their texts asynchronously (sig_bank_unready_texts) and the next use
 * builds them from the embedder's cache without a call. */
static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static sig_bank_t **reg;
static size_t reg_n, reg_cap;
static __thread bool tl_nonblocking;

static void reg_add(sig_bank_t *b)
{
    pthread_mutex_lock(&reg_mu);
    bool in = false;
    for (size_t i = 0; i < reg_n && !in; i++)
        in = reg[i] == b;
    if (!in) {
        if (reg_n == reg_cap) {
            reg_cap = reg_cap ? reg_cap * 2 : 16;
            reg = realloc(reg, reg_cap * sizeof *reg);
            if (!reg) abort();
        }
        reg[reg_n++] = b;
    }
    pthread_mutex_unlock(&reg_mu);
}

static void reg_remove(sig_bank_t *b)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n; i++)
        if (reg[i] == b) {
            reg[i] = reg[--reg_n];
            break;
        }
    pthread_mutex_unlock(&reg_mu);
}

void sig_bank_set_nonblocking(bool on)
{
    tl_nonblocking = on;
}

size_t sig_bank_unready_texts(const emb_t *e, void (*cb)(void *ud, const char *t, size_t n),
                              void *ud, size_t max)
{
    size_t k = 0;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < reg_n && k < max; i++) {
        const sig_bank_t *b = reg[i];
        if (b->emb != e || atomic_load(&b->ready)) continue;
        for (size_t t = 0; t < b->n && k < max; t++, k++)
            cb(ud, b->texts[t], strlen(b->texts[t]));
    }
    pthread_mutex_unlock(&reg_mu);
    return k;
}

/* Missing texts from the remote embedder's cache only (their query
 * window, as the worker's fetch asked for them); false when one is not
 * there. */
static bool from_remote_cache(sig_bank_t *b, const char *const *mt, const size_t *ml, size_t m,
                              float *tmp)
{
    size_t d = (size_t)b->dims;
    for (size_t k = 0; k < m; k++) {
        char *w = malloc(ml[k] > 8 * SIG_WINDOW_CPS ? 8 * SIG_WINDOW_CPS + 2 : ml[k] + 1);
        if (!w) abort();
        const char *win;
        size_t wn = sig_query_window(mt[k], ml[k], w, &win);
        bool ok = emb_openai_cache_get(b->emb, win, wn, tmp + k * d);
        free(w);
        if (!ok) return false;
    }
    return true;
}

/* Embed every text (cache first); fills b->vecs and sets ready on success.
 * cache_only: never call the embedder (a worker), only its cache. */
static emb_status_t bank_build(sig_bank_t *b, bool cache_only)
{
    if (!emb_dims(b->emb)) {
        /* a worker never waits for the probe (it runs on its own thread) */
        emb_status_t ps =
            tl_nonblocking ? emb_openai_probe_async(b->emb) : emb_openai_probe(b->emb);
        if (ps != EMB_OK) return b->last_status = ps;
    }
    b->dims = emb_dims(b->emb);
    size_t d = (size_t)b->dims;
    float *v = malloc(sizeof(float) * d * (b->n ? b->n : 1));
    const char **mt = malloc(sizeof(char *) * (b->n + 1));
    size_t *ml = malloc(sizeof(size_t) * (b->n + 1)), *mi = malloc(sizeof(size_t) * (b->n + 1));
    uint64_t *keys = malloc(sizeof(uint64_t) * (b->n + 1));
    if (!v || !mt || !ml || !mi || !keys) abort();
    size_t m = 0;
    pthread_mutex_lock(&vc_mu);
    for (size_t i = 0; i < b->n; i++) {
        size_t len = strlen(b->texts[i]);
        keys[i] = vc_key(b->emb, b->texts[i], len);
        if (vc_get(keys[i], b->dims, v + i * d)) continue;
        mt[m] = b->texts[i];
        ml[m] = len;
        mi[m++] = i;
    }
    pthread_mutex_unlock(&vc_mu);
    emb_status_t st = EMB_OK;
    if (m) {
        float *tmp = malloc(sizeof(float) * d * m);
        if (!tmp) abort();
        if (!cache_only)
            st = emb_embed_batch(b->emb, mt, ml, m, tmp);
        else if (!from_remote_cache(b, mt, ml, m, tmp))
            st = b->last_status != EMB_OK ? b->last_status : EMB_ERR_REMOTE;
        if (st == EMB_OK) {
            pthread_mutex_lock(&vc_mu);
            for (size_t k = 0; k < m; k++) {
                memcpy(v + mi[k] * d, tmp + k * d, sizeof(float) * d);
                vc_put(keys[mi[k]], b->dims, tmp + k * d);
            }
            pthread_mutex_unlock(&vc_mu);
        }
        free(tmp);
    }
    free(mt);
    free(ml);
    free(mi);
    free(keys);
    b->last_status = st;
    if (st != EMB_OK) {
        free(v);
        reg_add(b);
        return st;
    }
    b->vecs = v;
    atomic_store(&b->ready, true);
    reg_remove(b);
    return EMB_OK;
}

emb_status_t sig_bank_init(sig_bank_t *b, emb_t *e, const char *const *texts, size_t n)
{
    memset(b, 0, sizeof *b);
    b->emb = e;
    b->dims = emb_dims(e);
    b->texts = calloc(n + 1, sizeof(char *));
    if (!b->texts) abort();
    for (size_t i = 0; i < n; i++) {
        if (!texts[i] || !*texts[i]) continue;
        b->texts[b->n] = strdup(texts[i]);
        if (!b->texts[b->n]) abort();
        b->n++;
    }
    pthread_mutex_init(&b->mu, NULL);
    atomic_init(&b->ready, false);
    b->last_try_ms = (int64_t)clock_mono_ms();
    return bank_build(b, false);
}

void sig_bank_deinit(sig_bank_t *b)
{
    if (!b->texts) return;
    reg_remove(b);
    for (size_t i = 0; i < b->n; i++)
        free(b->texts[i]);
    free(b->texts);
    free(b->vecs);
    pthread_mutex_destroy(&b->mu);
    memset(b, 0, sizeof *b);
}

bool sig_bank_ensure(sig_bank_t *b, int64_t now_ms)
{
    if (atomic_load(&b->ready)) return true;
    if (!b->texts) return false;
    /* a worker with a remote embedder whose dimensions are known: from the
     * cache the request's fetch filled, never a call (no 30 s gate: it is
     * a few lookups) */
    bool cache_only = tl_nonblocking && emb_openai_conf(b->emb) && emb_dims(b->emb) > 0;
    pthread_mutex_lock(&b->mu);
    if (!atomic_load(&b->ready) && cache_only) {
        bank_build(b, true);
    } else if (!atomic_load(&b->ready) && now_ms - b->last_try_ms >= REBUILD_MS) {
        b->last_try_ms = now_ms;
        bank_build(b, false);
    }
    pthread_mutex_unlock(&b->mu);
    return atomic_load(&b->ready);
}

static inline double clamp01(double x)
{
    return x < 0 ? 0 : x > 1 ? 1 : x;
}

double sig_bank_best(const sig_bank_t *b, const float *q, int *index)
{
    double best = 0;
    int bi = -1;
    if (atomic_load(&b->ready))
        for (size_t i = 0; i < b->n; i++) {
            double c = clamp01(emb_dot(q, b->vecs + i * (size_t)b->dims, b->dims));
            if (bi < 0 || c > best) {
                best = c;
                bi = (int)i;
            }
        }
    if (index) *index = bi;
    return best;
}

static int cmp_desc(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x < y) - (x > y);
}

double sig_bank_score(const sig_bank_t *b, const float *q, sig_agg_t agg, int top_k)
{
    if (!atomic_load(&b->ready) || !b->n) return 0;
    size_t n = b->n;
    if (top_k > 0 && agg == SIG_AGG_MEAN && (size_t)top_k < n) {
        double stackv[256], *c = n <= 256 ? stackv : malloc(sizeof(double) * n);
        if (!c) abort();
        for (size_t i = 0; i < n; i++)
            c[i] = clamp01(emb_dot(q, b->vecs + i * (size_t)b->dims, b->dims));
        qsort(c, n, sizeof *c, cmp_desc);
        double s = 0;
        for (int i = 0; i < top_k; i++)
            s += c[i];
        if (c != stackv) free(c);
        return s / top_k;
    }
    double best = -1, second = -1, sum = 0;
    for (size_t i = 0; i < n; i++) {
        double c = clamp01(emb_dot(q, b->vecs + i * (size_t)b->dims, b->dims));
        sum += c;
        if (c > best) {
            second = best;
            best = c;
        } else if (c > second) {
            second = c;
        }
    }
    switch (agg) {
    case SIG_AGG_MEAN: return sum / (double)n;
    case SIG_AGG_ANY: return best;
    case SIG_AGG_MAX:
    default: {
        /* top_k = 1 keeps only the best; one prototype is its own top 2 */
        double top2 = (second < 0 || top_k == 1) ? best : (best + second) / 2;
        return 0.75 * best + 0.25 * top2;
    }
    }
}

/* ------------------------------------------------------------ window */

size_t sig_query_window(const char *text, size_t n, char *out, const char **win)
{
    /* count code points (UTF-8 lead bytes) up to 2 × window + 1 */
    size_t cps = 0, head_end = n;
    for (size_t i = 0; i < n && cps <= 2 * SIG_WINDOW_CPS; i++)
        if (((unsigned char)text[i] & 0xC0) != 0x80) {
            if (cps == SIG_WINDOW_CPS) head_end = i;
            cps++;
        }
    if (cps <= 2 * SIG_WINDOW_CPS) {
        *win = text;
        return n;
    }
    size_t tail_start = n, k = 0;
    while (tail_start > 0 && k < SIG_WINDOW_CPS) {
        tail_start--;
        if (((unsigned char)text[tail_start] & 0xC0) != 0x80) k++;
    }
    memcpy(out, text, head_end);
    out[head_end] = '\n';
    memcpy(out + head_end + 1, text + tail_start, n - tail_start);
    *win = out;
    return head_end + 1 + (n - tail_start);
}
