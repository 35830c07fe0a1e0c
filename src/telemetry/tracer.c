/* tracer.c - the bounded span queue and the OTLP/HTTP JSON exporter thread
 * (tracer.h). */
#include "telemetry/tracer.h"
#include "config/global.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "metrics/catalog.h"
#include "telemetry/otlp_json.h"
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

struct tel_tracer {
    tel_config_t c;
    char host[256], path[512], *headers; /* extra head lines */
    int port;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tel_trace_t **q; /* ring of traces */
    size_t cap, head, n, spans;
    bool stop;
    uint64_t stop_deadline_ms;
    pthread_t th;
    uint64_t dropped, dropped_logged; /* spans (under mu) */
    uint64_t last_log_ms;
};

void tel_config_from_cfg(const cfg_t *cfg, tel_config_t *o)
{
    memset(o, 0, sizeof *o);
    if (!cfg || !cfg->global_ext) return;
    const cfg_services_t *s = &cfg->global_ext->services;
    o->enabled = s->tracing.enabled;
    o->endpoint = s->tracing.endpoint;
    o->service_name = s->tracing.service_name;
    o->headers = s->tracing.headers;
    o->sample_ratio = s->tracing.sample_ratio;
    o->queue_spans = s->tracing.queue_size > 0 ? (uint64_t)s->tracing.queue_size : 2048;
    o->batch_spans = s->tracing.batch_size > 0 ? (uint64_t)s->tracing.batch_size : 256;
    o->flush_ms = s->tracing.flush_interval_ms ? s->tracing.flush_interval_ms : 1000;
    o->timeout_ms = s->tracing.timeout_ms ? s->tracing.timeout_ms : 2000;
    o->drop_log_ms = 10000;
}

bool tel_endpoint_parse(const char *ep, char *host, size_t host_len, int *port, char *path,
                        size_t path_len)
{
    if (!ep || strncmp(ep, "http://", 7)) return false;
    const char *h = ep + 7, *slash = strchr(h, '/');
    size_t hl = slash ? (size_t)(slash - h) : strlen(h);
    const char *colon = memchr(h, ':', hl);
    size_t name_len = colon ? (size_t)(colon - h) : hl;
    if (!name_len || name_len >= host_len) return false;
    memcpy(host, h, name_len);
    host[name_len] = 0;
    *port = 80;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end != h + hl || p <= 0 || p > 65535) return false;
        *port = (int)p;
    }
    const char *pp = slash ? slash : "";
    size_t pl = strlen(pp);
    while (pl && pp[pl - 1] == '/')
        pl--;
    if (pl >= path_len) return false;
    for (size_t i = 0; i < pl; i++)
        if ((unsigned char)pp[i] <= ' ' || pp[i] == 0x7f) return false;
    memcpy(path, pp, pl);
    path[pl] = 0;
    return true;
}

/* "k=v,k2=v2" into "k: v\r\nk2: v2\r\n"; pairs with a control byte or no
 * '=' are left out. */
static char *head_lines(const char *spec)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "");
    while (spec && *spec) {
        const char *e = strchr(spec, ',');
        size_t n = e ? (size_t)(e - spec) : strlen(spec);
        const char *eq = memchr(spec, '=', n);
        bool ok = eq && eq > spec;
        for (size_t i = 0; ok && i < n; i++)
            if ((unsigned char)spec[i] < ' ' || spec[i] == 0x7f) ok = false;
        if (ok) {
            while (spec < eq && *spec == ' ')
                spec++, n--;
            buf_append(&b, spec, (size_t)(eq - spec));
            buf_puts(&b, ": ");
            buf_append(&b, eq + 1, n - (size_t)(eq + 1 - spec));
            buf_puts(&b, "\r\n");
        }
        spec = e ? e + 1 : NULL;
    }
    return buf_steal(&b);
}

/* Wait for fd to be ready (POLLIN/POLLOUT) until deadline_ms. */
static bool wait_fd(int fd, short ev, uint64_t deadline_ms)
{
    for (;;) {
        uint64_t now = clock_mono_ms();
        if (now >= deadline_ms) return false;
        struct pollfd pf = {.fd = fd, .events = ev};
        int r = poll(&pf, 1, (int)(deadline_ms - now));
        if (r > 0) return true;
        if (r < 0 && errno != EINTR) return false;
    }
}

/* POST body to the collector; the HTTP status, or -1 on a network error. */
static int post(tel_tracer_t *t, const buf_t *body)
{
    uint64_t deadline = clock_mono_ms() + t->c.timeout_ms;
    char port[8];
    snprintf(port, sizeof port, "%d", t->port);
    struct addrinfo hints = {.ai_socktype = SOCK_STREAM}, *ai = NULL;
    if (getaddrinfo(t->host, port, &hints, &ai) != 0 || !ai) return -1;
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    int status = -1;
    if (fd < 0) goto out;
    if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
        int err = 0;
        socklen_t el = sizeof err;
        if (errno != EINPROGRESS || !wait_fd(fd, POLLOUT, deadline) ||
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &el) != 0 || err)
            goto out;
    }
    buf_t req = BUF_INIT;
    buf_printf(&req,
               "POST %s/v1/traces HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
               "Content-Length: %zu\r\nConnection: close\r\n%s\r\n",
               t->path, t->host, t->port, body->len, t->headers ? t->headers : "");
    buf_append(&req, body->data, body->len);
    size_t off = 0;
    while (off < req.len) {
        ssize_t w = send(fd, req.data + off, req.len - off, MSG_NOSIGNAL);
        if (w > 0) {
            off += (size_t)w;
            continue;
        }
        if (w < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLOUT, deadline))
            continue;
        break;
    }
    bool sent = off == req.len;
    buf_free(&req);
    if (!sent) goto out;
    /* the status line decides ("HTTP/1.1 200 ..."); the rest is read and
     * discarded until the collector closes (Connection: close), at most 64 KiB */
    char in[64], sink[4096];
    size_t got = 0, total = 0;
    while (total < 65536) {
        ssize_t r = got < sizeof in - 1 ? recv(fd, in + got, sizeof in - 1 - got, 0)
                                        : recv(fd, sink, sizeof sink, 0);
        if (r > 0) {
            if (got < sizeof in - 1) got += (size_t)r;
            total += (size_t)r;
            continue;
        }
        if (r < 0 && (errno == EAGAIN || errno == EINTR) && wait_fd(fd, POLLIN, deadline)) continue;
        break;
    }
    in[got] = 0;
    if (got >= 12 && !strncmp(in, "HTTP/1.", 7)) status = atoi(in + 9);
out:
    if (fd >= 0) close(fd);
    freeaddrinfo(ai);
    return status;
}

static void count_drop(tel_tracer_t *t, uint64_t spans, const char *reason)
{
    met_inc(tmet.trace_spans_dropped_total, (double)spans, reason);
    t->dropped += spans;
}

/* Under mu: a drop line at most once per interval. */
static void log_drops(tel_tracer_t *t)
{
    uint64_t now = clock_mono_ms();
    if (t->dropped == t->dropped_logged || now - t->last_log_ms < t->c.drop_log_ms) return;
    tlog(TLOG_WARN, "trace_spans_dropped", "\"spans\":%llu,\"endpoint\":\"%s:%d\"",
         (unsigned long long)(t->dropped - t->dropped_logged), t->host, t->port);
    t->dropped_logged = t->dropped;
    t->last_log_ms = now;
}

static void *exporter(void *arg)
{
    tel_tracer_t *t = arg;
    tel_trace_t **batch = calloc(t->cap, sizeof *batch);
    buf_t body = BUF_INIT;
    pthread_mutex_lock(&t->mu);
    for (;;) {
        if (!t->stop && t->spans < t->c.batch_spans) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + t->c.flush_ms * 1000000ull;
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
            pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        }
        log_drops(t);
        if (t->stop && (!t->n || clock_mono_ms() >= t->stop_deadline_ms)) break;
        size_t nb = 0, spans = 0;
        while (t->n && (nb == 0 || spans + (size_t)t->q[t->head]->n_spans <= t->c.batch_spans)) {
            tel_trace_t *tr = t->q[t->head];
            t->head = (t->head + 1) % t->cap;
            t->n--;
            t->spans -= (size_t)tr->n_spans;
            spans += (size_t)tr->n_spans;
            batch[nb++] = tr;
        }
        if (!nb) continue;
        pthread_mutex_unlock(&t->mu);
        buf_reset(&body);
        tel_otlp_encode(&body, t->c.service_name, NULL, batch, nb);
        int st = post(t, &body);
        for (size_t i = 0; i < nb; i++)
            free(batch[i]);
        if (body.cap > (1u << 20)) buf_free(&body);
        pthread_mutex_lock(&t->mu);
        if (st >= 200 && st < 300)
            met_inc(tmet.trace_spans_exported_total, (double)spans);
        else
            count_drop(t, spans, "export_failed");
    }
    /* what is left after the stop deadline */
    while (t->n) {
        tel_trace_t *tr = t->q[t->head];
        t->head = (t->head + 1) % t->cap;
        t->n--;
        count_drop(t, (uint64_t)tr->n_spans, "shutdown");
        free(tr);
    }
    pthread_mutex_unlock(&t->mu);
    buf_free(&body);
    free(batch);
    return NULL;
}

tel_tracer_t *tel_tracer_new(const tel_config_t *c)
{
    if (!c->enabled) return NULL;
    tel_tracer_t *t = calloc(1, sizeof *t);
    t->c = *c;
    if (!tel_endpoint_parse(c->endpoint, t->host, sizeof t->host, &t->port, t->path,
                            sizeof t->path)) {
        tlog(TLOG_ERROR, "tracing_endpoint_invalid", "\"endpoint\":\"%s\"",
             c->endpoint ? c->endpoint : "");
        free(t);
        return NULL;
    }
    t->headers = head_lines(c->headers);
    t->c.endpoint = NULL; /* not kept: the config may go */
    t->c.headers = NULL;
    t->c.service_name = strdup(c->service_name ? c->service_name : "tether");
    /* the ring holds traces; each holds at least one span */
    t->cap = c->queue_spans ? (size_t)c->queue_spans : 2048;
    t->q = calloc(t->cap, sizeof *t->q);
    pthread_mutex_init(&t->mu, NULL);
    pthread_cond_init(&t->cv, NULL);
    if (pthread_create(&t->th, NULL, exporter, t) != 0) {
        tlog(TLOG_ERROR, "tracing_thread_failed", "\"error\":\"pthread_create\"");
        free(t->q);
        free(t->headers);
        free((char *)t->c.service_name);
        free(t);
        return NULL;
    }
    tlog(TLOG_INFO, "tracing_enabled",
         "\"collector\":\"%s:%d\",\"sample_ratio\":%.3f,\"queue_spans\":%zu", t->host, t->port,
         t->c.sample_ratio, t->cap);
    return t;
}

void tel_tracer_free(tel_tracer_t *t, uint64_t wait_ms)
{
    if (!t) return;
    pthread_mutex_lock(&t->mu);
    t->stop = true;
    t->stop_deadline_ms = clock_mono_ms() + wait_ms;
    pthread_cond_signal(&t->cv);
    pthread_mutex_unlock(&t->mu);
    pthread_join(t->th, NULL);
    pthread_mutex_destroy(&t->mu);
    pthread_cond_destroy(&t->cv);
    free(t->q);
    free(t->headers);
    free((char *)t->c.service_name);
    free(t);
}

bool tel_tracer_sample(const tel_tracer_t *t, const tel_ctx_t *parent)
{
    if (!t) return false;
    if (parent && parent->valid) return parent->sampled;
    if (t->c.sample_ratio >= 1) return true;
    if (t->c.sample_ratio <= 0) return false;
    return tel_rand01() < t->c.sample_ratio;
}

void tel_tracer_submit(tel_tracer_t *t, tel_trace_t *tr)
{
    if (!tr) return;
    if (!t || !tr->n_spans) {
        free(tr);
        return;
    }
    pthread_mutex_lock(&t->mu);
    if (t->stop || t->n == t->cap || t->spans + (size_t)tr->n_spans > t->cap) {
        count_drop(t, (uint64_t)tr->n_spans, "queue_full");
        pthread_mutex_unlock(&t->mu);
        free(tr);
        return;
    }
    t->q[(t->head + t->n) % t->cap] = tr;
    t->n++;
    t->spans += (size_t)tr->n_spans;
    bool wake = t->spans >= t->c.batch_spans;
    pthread_mutex_unlock(&t->mu);
    if (wake) pthread_cond_signal(&t->cv);
}
