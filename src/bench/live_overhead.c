/* live_overhead.c - `tether bench overhead` (live_run.h): one mock backend
 * and one router; every client sends the same body straight to the backend
 * and through the router, alternating which goes first, and the per-request
 * difference is the router's overhead. */
#include "bench/live_http.h"
#include "bench/live_stack.h"
#include "core/clock.h"
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void live_overhead_options_default(live_overhead_options_t *o)
{
    memset(o, 0, sizeof *o);
    o->requests = 20000;
    o->body_bytes = 2048;
    o->concurrency = 32;
}

typedef struct ovh_shared {
    const live_overhead_options_t *o;
    int client_cpu; /* -1: not pinned */
    int mock_port, router_port;
    const char *direct_body, *routed_body;
    size_t direct_len, routed_len;
    atomic_long next;
    long warmup, total;
    double *routed, *direct;
    atomic_long errors;
    pthread_mutex_t mu;
    char first_error[256];
} ovh_shared_t;

static void ovh_error(ovh_shared_t *sh, const char *what, const char *e, int status)
{
    atomic_fetch_add(&sh->errors, 1);
    pthread_mutex_lock(&sh->mu);
    if (!sh->first_error[0])
        snprintf(sh->first_error, sizeof sh->first_error, "%s: %s (status %d)", what, e, status);
    pthread_mutex_unlock(&sh->mu);
}

static void *ovh_thread(void *arg)
{
    ovh_shared_t *sh = arg;
    live_http_conn_t dc, rc;
    live_http_init(&dc, "127.0.0.1", sh->mock_port, LIVE_HTTP_TIMEOUT_MS);
    live_http_init(&rc, "127.0.0.1", sh->router_port, LIVE_HTTP_TIMEOUT_MS);
    live_http_resp_t r = {0};
    char e[200];
    int perr = live_pin_thread(sh->client_cpu);
    if (perr) ovh_error(sh, "pin", strerror(perr), 0);
    for (;;) {
        long i = atomic_fetch_add(&sh->next, 1);
        if (i >= sh->warmup + sh->total || live_stopped(sh->o->stop)) break;
        double us[2] = {0, 0};
        /* alternate which goes first so neither side always meets a warmer
         * cache or a quieter moment */
        for (int k = 0; k < 2; k++) {
            int routed = (k + (int)(i & 1)) % 2;
            uint64_t t0 = clock_mono_us();
            int st = routed ? live_http_request(&rc, "POST", "/v1/chat/completions", NULL,
                                                sh->routed_body, sh->routed_len, &r, e, sizeof e)
                            : live_http_request(&dc, "POST", "/v1/chat/completions", NULL,
                                                sh->direct_body, sh->direct_len, &r, e, sizeof e);
            us[routed] = (double)(clock_mono_us() - t0);
            if (st || r.status != 200)
                ovh_error(sh, routed ? "routed" : "direct", st ? e : "bad status", r.status);
        }
        if (i >= sh->warmup) {
            sh->direct[i - sh->warmup] = us[0];
            sh->routed[i - sh->warmup] = us[1];
        }
    }
    buf_free(&r.body);
    live_http_close(&dc);
    live_http_close(&rc);
    return NULL;
}

int live_overhead(const live_overhead_options_t *o, live_overhead_results_t *res, char *err,
                  size_t errlen)
{
    memset(res, 0, sizeof *res);
    if (o->requests < 1 || o->body_bytes < 64 || o->concurrency < 1) {
        snprintf(err, errlen, "bad options (requests >= 1, body bytes >= 64, concurrency >= 1)");
        return -1;
    }
    res->requests = o->requests;
    res->body_bytes = o->body_bytes;
    res->concurrency = o->concurrency;
    live_pin_plan_self(!o->no_pin, &res->pin);
    live_procs_t pr;
    memset(&pr, 0, sizeof pr);
    pr.redis.out_fd = -1;
    for (int i = 0; i < LIVE_N_BACKENDS; i++)
        pr.mock[i].out_fd = -1;
    pr.router[0].out_fd = pr.router[1].out_fd = -1;
    char dir[] = "/tmp/tether-bench-overhead-XXXXXX", cfg[64];
    if (!mkdtemp(dir)) {
        snprintf(err, errlen, "mkdtemp: %s", strerror(errno));
        return -1;
    }
    snprintf(cfg, sizeof cfg, "%s/router.yaml", dir);
    int ok = -1;
    buf_t db = BUF_INIT, rb = BUF_INIT, text = BUF_INIT;
    ovh_shared_t sh;
    memset(&sh, 0, sizeof sh);
    pthread_mutex_init(&sh.mu, NULL);
    /* one backend serves every model name; the router sees one decision */
    if ((pr.mock_port[0] = live_start_mock(&pr.mock[0], o->tether_bin, "qwen3-8b", 0, o->verbose,
                                           res->pin.mock, err, errlen)) < 0)
        goto done;
    FILE *f = fopen(cfg, "w");
    if (!f) {
        snprintf(err, errlen, "cannot write %s", cfg);
        goto done;
    }
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: qwen3-8b}\n  models:\n"
            "    - name: qwen3-8b\n"
            "      pricing: {currency: USD, prompt_per_1m: 0.05, cached_input_per_1m: 0.01, "
            "completion_per_1m: 0.10}\n"
            "      backend_refs: [{name: b0, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: qwen3-8b, quality_score: 0.64}]\n"
            "  decisions:\n    - {name: chat, modelRefs: [{model: qwen3-8b}]}\n"
            "global:\n  services:\n    router_replay: {enabled: true, store: memory}\n",
            live_http_free_port(), pr.mock_port[0]);
    if (fclose(f)) {
        snprintf(err, errlen, "write error on %s", cfg);
        goto done;
    }
    pr.n_routers = 1;
    if ((pr.router_port[0] = live_start_router(&pr.router[0], o->tether_bin, cfg, o->router_workers,
                                               o->verbose, res->pin.router, err, errlen)) < 0)
        goto done;
    /* identical bodies but for the model field; padded to body_bytes */
    buf_puts(&text, "Summarise the build log below in one line.");
    while ((int)text.len + 80 < o->body_bytes)
        buf_puts(&text, " log: compiled module ok;");
    buf_printf(&db,
               "{\"model\":\"qwen3-8b\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
               text.data);
    buf_printf(&rb, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"%s\"}]}",
               text.data);
    sh.o = o;
    sh.client_cpu = res->pin.client;
    sh.mock_port = pr.mock_port[0];
    sh.router_port = pr.router_port[0];
    sh.direct_body = db.data;
    sh.direct_len = db.len;
    sh.routed_body = rb.data;
    sh.routed_len = rb.len;
    sh.total = o->requests;
    sh.warmup = o->requests / 10 < 200 ? o->requests / 10 : 200;
    sh.routed = calloc((size_t)o->requests, sizeof *sh.routed);
    sh.direct = calloc((size_t)o->requests, sizeof *sh.direct);
    if (!sh.routed || !sh.direct) abort();
    pthread_t *th = calloc((size_t)o->concurrency, sizeof *th);
    if (!th) abort();
    int started = 0;
    uint64_t t0 = clock_mono_us();
    for (; started < o->concurrency; started++)
        if (pthread_create(&th[started], NULL, ovh_thread, &sh)) break;
    for (int i = 0; i < started; i++)
        pthread_join(th[i], NULL);
    free(th);
    res->wall_s = (double)(clock_mono_us() - t0) / 1e6;
    if (live_stopped(o->stop)) {
        snprintf(err, errlen, "interrupted");
        goto done;
    }
    res->errors = atomic_load(&sh.errors);
    snprintf(res->first_error, sizeof res->first_error, "%s", sh.first_error);
    double *d = calloc((size_t)o->requests, sizeof *d);
    if (!d) abort();
    for (long i = 0; i < o->requests; i++)
        d[i] = sh.routed[i] - sh.direct[i];
    live_lat_summarize(sh.routed, o->requests, &res->routed);
    live_lat_summarize(sh.direct, o->requests, &res->direct);
    live_lat_summarize(d, o->requests, &res->diff);
    free(d);
    ok = 0;
done:
    live_procs_stop(&pr);
    free(sh.routed);
    free(sh.direct);
    pthread_mutex_destroy(&sh.mu);
    buf_free(&db);
    buf_free(&rb);
    buf_free(&text);
    unlink(cfg);
    rmdir(dir);
    return ok;
}
