/* health.c - the backend health table (health.h): passive outlier ejection
 * and active-check results, shared by every worker. Lookups walk a small
 * open-addressed table by hash without the lock once an entry exists;
 * creation takes the lock. Metrics: tether_backend_up{model,backend} and
 * tether_backend_ejections_total{model,backend}. */
#include "select/health.h"
#include "core/hash.h"
#include "core/log.h"
#include "metrics/metrics.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 4096

struct sel_health {
    char *model, *backend;
    uint64_t key;
    atomic_int failures;           /* consecutive failed requests */
    atomic_int ejections;          /* ejections in a row (back-off multiplier) */
    atomic_uint_fast64_t until_ms; /* ejected until (monotonic ms); 0 = not ejected */
    atomic_bool probe_down;        /* the last active check failed */
    atomic_int inflight;           /* requests on the backend now */
};

static _Atomic(sel_health_t *) slots[SLOTS];
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static met_family_t *m_up, *m_ejections;
static pthread_once_t once = PTHREAD_ONCE_INIT;

static void init_metrics(void)
{
    static const char *const lbl[] = {"model", "backend", NULL};
    m_up = met_gauge("backend_up", "1 when the backend takes requests (not ejected, checks pass)",
                     lbl);
    m_ejections =
        met_counter("backend_ejections_total", "Backends ejected after consecutive failures", lbl);
}

static uint64_t key_of(const char *model, const char *backend)
{
    uint64_t a = hash_xxh64(model, strlen(model), 0x9e3779b97f4a7c15ull);
    return hash_xxh64(backend, strlen(backend), a);
}

sel_health_t *sel_health_get(const char *model, const char *backend)
{
    if (!model || !backend) return NULL;
    pthread_once(&once, init_metrics);
    uint64_t k = key_of(model, backend);
    size_t i0 = (size_t)(k % SLOTS);
    for (int pass = 0; pass < 2; pass++) {
        for (size_t j = 0; j < SLOTS; j++) {
            size_t i = (i0 + j) % SLOTS;
            sel_health_t *h = atomic_load_explicit(&slots[i], memory_order_acquire);
            if (!h) {
                if (pass == 0) break; /* not there: create under the lock */
                h = calloc(1, sizeof *h);
                if (!h) return NULL;
                h->model = strdup(model);
                h->backend = strdup(backend);
                h->key = k;
                if (!h->model || !h->backend) {
                    free(h->model);
                    free(h->backend);
                    free(h);
                    return NULL;
                }
                atomic_store_explicit(&slots[i], h, memory_order_release);
                met_set(m_up, 1, model, backend);
                pthread_mutex_unlock(&lock);
                return h;
            }
            if (h->key == k && !strcmp(h->model, model) && !strcmp(h->backend, backend)) {
                if (pass == 1) pthread_mutex_unlock(&lock);
                return h;
            }
        }
        if (pass == 0) pthread_mutex_lock(&lock);
    }
    pthread_mutex_unlock(&lock);
    return NULL; /* full */
}

bool sel_health_is_up(const sel_health_t *h, uint64_t now_ms)
{
    if (!h) return true;
    if (atomic_load(&h->probe_down)) return false;
    uint64_t u = atomic_load(&h->until_ms);
    return !u || now_ms >= u;
}

void sel_health_observe(sel_health_t *h, bool ok, const cfg_reliability_t *rel, uint64_t now_ms)
{
    if (!h) return;
    if (ok) {
        atomic_store(&h->failures, 0);
        atomic_store(&h->ejections, 0);
        if (atomic_exchange(&h->until_ms, 0) && !atomic_load(&h->probe_down))
            met_set(m_up, 1, h->model, h->backend);
        return;
    }
    int limit = rel ? rel->consecutive_failures : 0;
    int f = atomic_fetch_add(&h->failures, 1) + 1;
    if (limit <= 0 || f < limit) return;
    /* a backend back from an ejection is ejected again by its next failure */
    atomic_store(&h->failures, limit - 1);
    uint64_t cur = atomic_load(&h->until_ms);
    if (cur && now_ms < cur) return; /* already out */
    int e = atomic_fetch_add(&h->ejections, 1) + 1;
    uint64_t span = rel->ejection_time_ms * (uint64_t)(e < 8 ? e : 8);
    atomic_store(&h->until_ms, now_ms + (span ? span : 1));
    met_inc(m_ejections, 1, h->model, h->backend);
    met_set(m_up, 0, h->model, h->backend);
    tlog(TLOG_WARN, "backend_ejected",
         "\"model\":\"%s\",\"backend\":\"%s\",\"consecutive_failures\":%d,\"for_ms\":%llu",
         h->model, h->backend, limit, (unsigned long long)span);
}

void sel_health_probe(sel_health_t *h, bool ok)
{
    if (!h) return;
    bool was_down = atomic_exchange(&h->probe_down, !ok);
    if (was_down == !ok) return;
    met_set(m_up, ok && !atomic_load(&h->until_ms) ? 1 : 0, h->model, h->backend);
    tlog(ok ? TLOG_INFO : TLOG_WARN, "backend_health_check",
         "\"model\":\"%s\",\"backend\":\"%s\",\"healthy\":%s", h->model, h->backend,
         ok ? "true" : "false");
}

void sel_health_inflight_add(sel_health_t *h, int d)
{
    if (h) atomic_fetch_add(&h->inflight, d);
}

int sel_health_inflight(const sel_health_t *h)
{
    return h ? atomic_load(&h->inflight) : 0;
}

bool sel_health_model_up(const cfg_model_t *m, uint64_t now_ms)
{
    for (size_t i = 0; i < m->n_backend_refs; i++) {
        const cfg_backend_ref_t *b = &m->backend_refs[i];
        if (b->weight <= 0 || (b->api_key_env && !b->api_key)) continue;
        if (sel_health_is_up(sel_health_get(m->name, b->name), now_ms)) return true;
    }
    return false;
}

void sel_health_json(buf_t *out, uint64_t now_ms)
{
    buf_putc(out, '[');
    bool first = true;
    for (size_t i = 0; i < SLOTS; i++) {
        const sel_health_t *h = atomic_load_explicit(&slots[i], memory_order_acquire);
        if (!h) continue;
        uint64_t u = atomic_load(&h->until_ms);
        bool ejected = u && now_ms < u;
        if (!first) buf_putc(out, ',');
        first = false;
        buf_puts(out, "{\"model\":");
        buf_json_str(out, h->model, strlen(h->model));
        buf_puts(out, ",\"backend\":");
        buf_json_str(out, h->backend, strlen(h->backend));
        buf_printf(out,
                   ",\"up\":%s,\"ejected\":%s,\"ejected_for_ms\":%llu,"
                   "\"consecutive_failures\":%d,\"health_check_failing\":%s,\"inflight\":%d}",
                   sel_health_is_up(h, now_ms) ? "true" : "false", ejected ? "true" : "false",
                   (unsigned long long)(ejected ? u - now_ms : 0), atomic_load(&h->failures),
                   atomic_load(&h->probe_down) ? "true" : "false", atomic_load(&h->inflight));
    }
    buf_putc(out, ']');
}

void sel_health_reset(void)
{
    for (size_t i = 0; i < SLOTS; i++) {
        sel_health_t *h = atomic_load(&slots[i]);
        if (!h) continue;
        atomic_store(&h->failures, 0);
        atomic_store(&h->ejections, 0);
        atomic_store(&h->until_ms, 0);
        atomic_store(&h->probe_down, false);
    }
}
