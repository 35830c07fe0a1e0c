/* tracer.c - the bounded span queue and the OTLP/HTTP JSON exporter thread
 * (tracer.h), on the shared bounded queue (core/workq.h): traces are its
 * items, weighed by their span count, so the queue holds at most
 * queue_spans spans and a batch at most batch_spans. */
#include "telemetry/tracer.h"
#include "config/global.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "core/workq.h"
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
    core_workq_t *wq;
    buf_t body;                       /* exporter thread */
    uint64_t dropped, dropped_logged; /* spans; dropped is atomic */
    uint64_t last_log_ms;             /* exporter thread */
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
    __atomic_add_fetch(&t->dropped, spans, __ATOMIC_RELAXED);
}

/* On the exporter thread: a drop line at most once per interval. */
static void log_drops(tel_tracer_t *t)
{
    uint64_t now = clock_mono_ms(), d = __atomic_load_n(&t->dropped, __ATOMIC_RELAXED);
    if (d == t->dropped_logged || now - t->last_log_ms < t->c.drop_log_ms) return;
    tlog(TLOG_WARN, "trace_spans_dropped", "\"spans\":%llu,\"endpoint\":\"%s:%d\"",
         (unsigned long long)(d - t->dropped_logged), t->host, t->port);
    t->dropped_logged = d;
    t->last_log_ms = now;
}

static size_t trace_weight(const void *item)
{
    return (size_t)(*(tel_trace_t *const *)item)->n_spans;
}

static uint64_t export_batch(void *ud, void *items, size_t nb)
{
    tel_tracer_t *t = ud;
    tel_trace_t **batch = items;
    size_t spans = 0;
    for (size_t i = 0; i < nb; i++)
        spans += (size_t)batch[i]->n_spans;
    buf_reset(&t->body);
    tel_otlp_encode(&t->body, t->c.service_name, NULL, batch, nb);
    int st = post(t, &t->body);
    for (size_t i = 0; i < nb; i++)
        free(batch[i]);
    if (t->body.cap > (1u << 20)) buf_free(&t->body);
    if (st >= 200 && st < 300)
        met_inc(tmet.trace_spans_exported_total, (double)spans);
    else
        count_drop(t, spans, "export_failed");
    log_drops(t);
    return 0;
}

/* Full or stopped (queue_full), or left at the stop deadline (shutdown). */
static void drop_traces(void *ud, void *items, size_t n, core_workq_why_t why)
{
    tel_tracer_t *t = ud;
    tel_trace_t **trs = items;
    for (size_t i = 0; i < n; i++) {
        count_drop(t, (uint64_t)trs[i]->n_spans,
                   why == CORE_WORKQ_DEADLINE ? "shutdown" : "queue_full");
        free(trs[i]);
    }
}

static void tick(void *ud)
{
    log_drops(ud);
}

tel_tracer_t *tel_tracer_new(const tel_config_t *c)
{
    if (!c->enabled) return NULL;
    tel_tracer_t *t = calloc(1, sizeof *t);
    if (!t) abort();
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
    size_t cap = c->queue_spans ? (size_t)c->queue_spans : 2048;
    size_t batch = c->batch_spans ? (size_t)c->batch_spans : 256;
    core_workq_opts_t o = {.name = "trace-export",
                           .item_size = sizeof(tel_trace_t *),
                           .capacity = cap,
                           .weight = trace_weight,
                           .max_weight = cap,
                           .batch = cap,
                           .batch_weight = batch,
                           .linger_ms = c->flush_ms,
                           .linger_enough = batch,
                           .tick_ms = c->drop_log_ms ? c->drop_log_ms : 10000,
                           .handle = export_batch,
                           .tick = tick,
                           .drop = drop_traces,
                           .ud = t};
    t->wq = core_workq_new(&o);
    tlog(TLOG_INFO, "tracing_enabled",
         "\"collector\":\"%s:%d\",\"sample_ratio\":%.3f,\"queue_spans\":%zu", t->host, t->port,
         t->c.sample_ratio, cap);
    return t;
}

void tel_tracer_free(tel_tracer_t *t, uint64_t wait_ms)
{
    if (!t) return;
    core_workq_free(t->wq, wait_ms);
    buf_free(&t->body);
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
    core_workq_push(t->wq, &tr, 1); /* a drop is counted and freed by drop_traces */
}
