/* server_workers.c - the HTTP server's worker side: binding the listening
 * sockets (a plain bind probe first, then one SO_REUSEPORT socket per worker),
 * the worker threads and their event loops, and start / graceful stop / free.
 * The connection side (parsing, responding, socket I/O) is server.c. */
#include "http/server_internal.h"
#include "core/log.h"
#include "metrics/metrics.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

long hsrv_server_inflight(const hsrv_server_t *s)
{
    return atomic_load(&s->inflight);
}

int hsrv_server_port(const hsrv_server_t *s, int i)
{
    return s->ports[i];
}

/* ---------------------------------------------------------------- workers */

void srv_worker_maybe_exit(hsrv_worker_t *w)
{
    if (w->inflight == 0 && w->conns == NULL) event_base_loopexit(w->base, NULL);
}

static void deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    hsrv_worker_t *w = arg;
    tlog(TLOG_WARN, "shutdown_deadline", "\"worker\":%d,\"inflight\":%ld", w->index, w->inflight);
    event_base_loopbreak(w->base);
}

static void stop_cb(evutil_socket_t fd, short what, void *arg)
{
    hsrv_worker_t *w = arg;
    uint64_t v;
    ssize_t r = read(fd, &v, sizeof v);
    (void)r;
    if (w->stopping) return;
    w->stopping = 1;
    for (size_t i = 0; i < w->srv->cfg.n_listeners; i++) {
        if (w->lev[i]) evconnlistener_free(w->lev[i]);
        w->lev[i] = NULL;
    }
    /* close idle connections now; busy ones close after their response */
    hsrv_conn_t *c = w->conns;
    while (c) {
        hsrv_conn_t *n = c->next;
        if (!c->busy) {
            c->dead = 1;
            if (!c->in_process) srv_conn_free(c);
        } else {
            c->req.keep_alive = false;
        }
        c = n;
    }
    uint64_t g = w->srv->grace_ms;
    struct timeval tv = {(time_t)(g / 1000), (suseconds_t)((g % 1000) * 1000)};
    w->deadline_ev = evtimer_new(w->base, deadline_cb, w);
    evtimer_add(w->deadline_ev, &tv);
    srv_worker_maybe_exit(w);
}

static void *worker_main(void *arg)
{
    hsrv_worker_t *w = arg;
    hsrv_server_t *s = w->srv;
    char name[16]; /* the kernel's limit, NUL included */
    snprintf(name, sizeof name, "%.9s-%d", s->cfg.thread_name ? s->cfg.thread_name : "worker",
             w->index);
    pthread_setname_np(pthread_self(), name);
    if (s->cfg.on_worker_start) w->ctx = s->cfg.on_worker_start(w->index, w->base, s->cfg.ud);
    event_base_dispatch(w->base);
    /* forced stop: release whatever is left */
    while (w->conns) {
        hsrv_conn_t *c = w->conns;
        c->dead = 1;
        c->in_process = 0;
        srv_conn_free(c);
    }
    if (s->cfg.on_worker_stop) s->cfg.on_worker_stop(w->index, w->ctx, s->cfg.ud);
    return NULL;
}

/* SO_REUSEPORT lets every worker own a listening socket, but it would also
 * let a second tether process silently share the port. Probe with a plain
 * bind first so an address already in use is an error, as users expect. */
static int probe_port_free(const struct addrinfo *ai)
{
    int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    int rc = bind(fd, ai->ai_addr, ai->ai_addrlen);
    int e = errno;
    close(fd);
    return rc == 0 || e != EADDRINUSE;
}

static int bind_socket(const char *address, int port, int probe, char *err, size_t errlen)
{
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", port);
    int rc = getaddrinfo(address, ps, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errlen, "cannot resolve listen address %s: %s", address, gai_strerror(rc));
        return -1;
    }
    if (probe && port != 0 && !probe_port_free(res)) {
        snprintf(err, errlen, "cannot listen on %s:%d: address already in use", address, port);
        freeaddrinfo(res);
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "socket: %s", strerror(errno));
        freeaddrinfo(res);
        return -1;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one);
    if (bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
        snprintf(err, errlen, "cannot listen on %s:%d: %s", address, port, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    return fd;
}

static int bound_port(int fd)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) return -1;
    if (ss.ss_family == AF_INET) return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
}

hsrv_server_t *hsrv_server_start(const hsrv_config_t *cfg, char *err, size_t errlen)
{
    hsrv_server_t *s = calloc(1, sizeof *s);
    s->cfg = *cfg;
    if (!s->cfg.limits.max_header_bytes) s->cfg.limits.max_header_bytes = 64 * 1024;
    if (!s->cfg.limits.max_body_bytes) s->cfg.limits.max_body_bytes = 32u << 20;
    if (!s->cfg.limits.header_timeout_ms) s->cfg.limits.header_timeout_ms = 10000;
    if (!s->cfg.limits.body_timeout_ms) s->cfg.limits.body_timeout_ms = 60000;
    if (!s->cfg.limits.keepalive_timeout_ms) s->cfg.limits.keepalive_timeout_ms = 60000;
    if (!s->cfg.limits.max_empty_lines) s->cfg.limits.max_empty_lines = 4;
    if (!s->cfg.limits.max_connections) s->cfg.limits.max_connections = 4096;
    s->met_closed = met_counter("connections_closed_total",
                                "Client connections the server closed on its own, by reason",
                                (const char *const[]){"reason", NULL});
    s->addrs = srv_addr_table_new();
    int nw = cfg->workers > 0 ? cfg->workers : (int)sysconf(_SC_NPROCESSORS_ONLN);
    if (nw < 1) nw = 1;
    s->n_workers = nw;
    size_t nl = cfg->n_listeners;
    s->listens = calloc(nl ? nl : 1, sizeof *s->listens);
    s->ports = calloc(nl ? nl : 1, sizeof *s->ports);
    for (size_t i = 0; i < nl; i++) {
        s->listens[i] = cfg->listeners[i];
        s->listens[i].address = strdup(cfg->listeners[i].address);
    }
    s->cfg.listeners = s->listens;
    s->workers = calloc((size_t)nw, sizeof *s->workers);
    /* bind everything first, so errors come before any thread starts */
    for (int wi = 0; wi < nw; wi++) {
        hsrv_worker_t *w = &s->workers[wi];
        w->srv = s;
        w->index = wi;
        w->fds = calloc(nl ? nl : 1, sizeof(int));
        w->lev = calloc(nl ? nl : 1, sizeof(*w->lev));
        w->stop_fd = -1;
        for (size_t i = 0; i < nl; i++) {
            int port = wi == 0 ? s->listens[i].port : s->ports[i];
            w->fds[i] = bind_socket(s->listens[i].address, port, wi == 0, err, errlen);
            if (w->fds[i] < 0) goto fail;
            if (wi == 0) s->ports[i] = bound_port(w->fds[i]);
        }
    }
    for (int wi = 0; wi < nw; wi++) {
        hsrv_worker_t *w = &s->workers[wi];
        w->base = event_base_new();
        w->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
        w->stop_ev = event_new(w->base, w->stop_fd, EV_READ | EV_PERSIST, stop_cb, w);
        event_add(w->stop_ev, NULL);
        for (size_t i = 0; i < nl; i++) {
            w->lev[i] =
                evconnlistener_new(w->base, srv_accept_cb, w, LEV_OPT_CLOSE_ON_FREE, -1, w->fds[i]);
            w->fds[i] = -1;
        }
    }
    for (int wi = 0; wi < nw; wi++)
        pthread_create(&s->workers[wi].thread, NULL, worker_main, &s->workers[wi]);
    return s;
fail:
    for (int wi = 0; wi < nw; wi++) {
        hsrv_worker_t *w = &s->workers[wi];
        for (size_t i = 0; w->fds && i < nl; i++)
            if (w->fds[i] > 0) close(w->fds[i]);
        free(w->fds);
        free(w->lev);
    }
    for (size_t i = 0; i < nl; i++)
        free((char *)s->listens[i].address);
    free(s->listens);
    free(s->ports);
    free(s->workers);
    srv_addr_table_free(s->addrs);
    free(s);
    return NULL;
}

void hsrv_server_stop(hsrv_server_t *s, uint64_t grace_ms)
{
    s->grace_ms = grace_ms;
    for (int wi = 0; wi < s->n_workers; wi++) {
        uint64_t one = 1;
        ssize_t r = write(s->workers[wi].stop_fd, &one, sizeof one);
        (void)r;
    }
    for (int wi = 0; wi < s->n_workers; wi++)
        pthread_join(s->workers[wi].thread, NULL);
}

void hsrv_server_free(hsrv_server_t *s)
{
    if (!s) return;
    for (int wi = 0; wi < s->n_workers; wi++) {
        hsrv_worker_t *w = &s->workers[wi];
        for (size_t i = 0; i < s->cfg.n_listeners; i++)
            if (w->lev[i]) evconnlistener_free(w->lev[i]);
        if (w->stop_ev) event_free(w->stop_ev);
        if (w->deadline_ev) event_free(w->deadline_ev);
        if (w->stop_fd >= 0) close(w->stop_fd);
        if (w->base) event_base_free(w->base);
        free(w->fds);
        free(w->lev);
    }
    for (size_t i = 0; i < s->cfg.n_listeners; i++)
        free((char *)s->listens[i].address);
    free(s->listens);
    free(s->ports);
    free(s->workers);
    srv_addr_table_free(s->addrs);
    free(s);
}
