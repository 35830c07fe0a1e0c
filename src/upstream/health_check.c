/* health_check.c - the active health checker (health_check.h): a thread
 * with a blocking libcurl GET per due backend (timeouts bounded by
 * health_check.timeout), results into the process-wide health table
 * (select/health.c). Serving never waits for it. */
#include "upstream/health_check.h"
#include "core/clock.h"
#include "core/log.h"
#include "select/health.h"
#include <curl/curl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_DUE 1024

typedef struct {
    sel_health_t *h;
    uint64_t next_ms;
} due_t;

struct up_hc {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool stop;
    up_hc_acquire_fn acquire;
    up_hc_release_fn release;
    void *ud;
    due_t due[MAX_DUE];
    size_t n_due;
};

static size_t discard(char *p, size_t sz, size_t n, void *ud)
{
    (void)p;
    (void)ud;
    return sz * n;
}

static bool probe(CURL *c, const cfg_backend_ref_t *b, const cfg_reliability_t *r)
{
    char url[1024];
    const char *path = r->health_check.path;
    snprintf(url, sizeof url, "%s://%s:%d%s%s", b->tls ? "https" : "http", b->host, b->port,
             path[0] == '/' ? "" : "/", path);
    curl_easy_reset(c);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)(r->health_check.timeout_ms ?: 2000));
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    long code = 0;
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    return rc == CURLE_OK && code >= 200 && code < 300;
}

static due_t *due_of(up_hc_t *hc, sel_health_t *h)
{
    for (size_t i = 0; i < hc->n_due; i++)
        if (hc->due[i].h == h) return &hc->due[i];
    if (hc->n_due == MAX_DUE) return NULL;
    hc->due[hc->n_due] = (due_t){h, 0};
    return &hc->due[hc->n_due++];
}

/* One pass: probe every backend whose check is due. */
static void pass(up_hc_t *hc, CURL *c)
{
    void *ref = NULL;
    const cfg_t *cfg = hc->acquire(hc->ud, &ref);
    if (!cfg) return;
    for (size_t i = 0; i < cfg->providers.n_models; i++) {
        const cfg_model_t *m = &cfg->providers.models[i];
        const cfg_reliability_t *r = &m->reliability;
        if (!r->health_check.path || !*r->health_check.path) continue;
        for (size_t j = 0; j < m->n_backend_refs; j++) {
            const cfg_backend_ref_t *b = &m->backend_refs[j];
            if (!b->host) continue;
            sel_health_t *h = sel_health_get(m->name, b->name);
            due_t *d = h ? due_of(hc, h) : NULL;
            uint64_t now = clock_mono_ms();
            if (!d || now < d->next_ms) continue;
            sel_health_probe(h, probe(c, b, r));
            d->next_ms = clock_mono_ms() + (r->health_check.interval_ms ?: 10000);
            pthread_mutex_lock(&hc->mu);
            bool stop = hc->stop;
            pthread_mutex_unlock(&hc->mu);
            if (stop) goto out;
        }
    }
out:
    hc->release(ref);
}

static void *run(void *arg)
{
    up_hc_t *hc = arg;
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    for (;;) {
        pass(hc, c);
        pthread_mutex_lock(&hc->mu);
        if (!hc->stop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += 200 * 1000000L; /* due times are checked five times a second */
            if (ts.tv_nsec >= 1000000000L) ts.tv_sec++, ts.tv_nsec -= 1000000000L;
            pthread_cond_timedwait(&hc->cv, &hc->mu, &ts);
        }
        bool stop = hc->stop;
        pthread_mutex_unlock(&hc->mu);
        if (stop) break;
    }
    curl_easy_cleanup(c);
    return NULL;
}

up_hc_t *up_hc_start(up_hc_acquire_fn acquire, up_hc_release_fn release, void *ud)
{
    up_hc_t *hc = calloc(1, sizeof *hc);
    if (!hc) return NULL;
    pthread_mutex_init(&hc->mu, NULL);
    pthread_cond_init(&hc->cv, NULL);
    hc->acquire = acquire;
    hc->release = release;
    hc->ud = ud;
    if (pthread_create(&hc->th, NULL, run, hc) != 0) {
        tlog(TLOG_WARN, "health_check_unavailable", "\"reason\":\"thread\"");
        pthread_mutex_destroy(&hc->mu);
        pthread_cond_destroy(&hc->cv);
        free(hc);
        return NULL;
    }
    return hc;
}

void up_hc_stop(up_hc_t *hc)
{
    if (!hc) return;
    pthread_mutex_lock(&hc->mu);
    hc->stop = true;
    pthread_cond_signal(&hc->cv);
    pthread_mutex_unlock(&hc->mu);
    pthread_join(hc->th, NULL);
    pthread_mutex_destroy(&hc->mu);
    pthread_cond_destroy(&hc->cv);
    free(hc);
}
