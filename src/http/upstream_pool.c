/* upstream_pool.c - the upstream client's keep-alive connection pools: one
 * pool per host, port and TLS flag per worker, the idle connections of each
 * (at most HUP_MAX_IDLE_PER_POOL), the address resolved once. */
#include "http/upstream_internal.h"

#include <event2/util.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

hup_pools_t *hup_pools_new(struct event_base *base, bool tls_verify)
{
    hup_pools_t *p = calloc(1, sizeof *p);
    p->base = base;
    p->ssl_ctx = SSL_CTX_new(TLS_client_method());
    if (p->ssl_ctx) {
        SSL_CTX_set_default_verify_paths(p->ssl_ctx);
        SSL_CTX_set_verify(p->ssl_ctx, tls_verify ? SSL_VERIFY_PEER : SSL_VERIFY_NONE, NULL);
        SSL_CTX_set_min_proto_version(p->ssl_ctx, TLS1_2_VERSION);
    }
    return p;
}

void hup_conn_destroy(hup_conn_t *c)
{
    if (c->rev) event_free(c->rev); /* before the bufferevent closes the socket */
    if (c->in) evbuffer_free(c->in);
    if (c->bev) bufferevent_free(c->bev);
    free(c);
}

void hup_pools_free(hup_pools_t *p)
{
    if (!p) return;
    hup_pool_t *pl = p->pools;
    while (pl) {
        hup_pool_t *n = pl->next;
        hup_conn_t *c = pl->idle;
        while (c) {
            hup_conn_t *cn = c->next;
            hup_conn_destroy(c);
            c = cn;
        }
        free(pl->host);
        free(pl);
        pl = n;
    }
    if (p->ssl_ctx) SSL_CTX_free(p->ssl_ctx);
    free(p);
}

size_t hup_pools_idle(const hup_pools_t *p)
{
    size_t n = 0;
    for (hup_pool_t *pl = p->pools; pl; pl = pl->next)
        n += pl->n_idle;
    return n;
}

int hup_pool_resolve(hup_pool_t *pl)
{
    char hp[300];
    snprintf(hp, sizeof hp, strchr(pl->host, ':') ? "[%s]:%d" : "%s:%d", pl->host, pl->port);
    int len = sizeof pl->addr;
    if (evutil_parse_sockaddr_port(hp, (struct sockaddr *)&pl->addr, &len) == 0) {
        pl->addrlen = len;
        return 0;
    }
    /* hostname: resolved once per worker, then cached (documented) */
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_socktype = SOCK_STREAM;
    char ps[16];
    snprintf(ps, sizeof ps, "%d", pl->port);
    if (getaddrinfo(pl->host, ps, &hints, &res) != 0 || !res) return -1;
    memcpy(&pl->addr, res->ai_addr, res->ai_addrlen);
    pl->addrlen = (int)res->ai_addrlen;
    freeaddrinfo(res);
    return 0;
}

hup_pool_t *hup_pool_get(hup_pools_t *p, const char *host, int port, bool tls)
{
    for (hup_pool_t *pl = p->pools; pl; pl = pl->next)
        if (pl->port == port && pl->tls == tls && strcmp(pl->host, host) == 0) return pl;
    hup_pool_t *pl = calloc(1, sizeof *pl);
    pl->host = strdup(host);
    pl->port = port;
    pl->tls = tls;
    pl->next = p->pools;
    p->pools = pl;
    return pl;
}

static void idle_read_cb(struct bufferevent *bev, void *arg);
static void idle_event_cb(struct bufferevent *bev, short what, void *arg);

void hup_pool_remove_idle(hup_pool_t *pl, hup_conn_t *c)
{
    hup_conn_t **pp = &pl->idle;
    while (*pp) {
        if (*pp == c) {
            *pp = c->next;
            pl->n_idle--;
            return;
        }
        pp = &(*pp)->next;
    }
}

static void idle_read_cb(struct bufferevent *bev, void *arg)
{
    /* unsolicited bytes on an idle connection: it is unusable */
    hup_conn_t *c = arg;
    hup_pool_remove_idle(c->pool, c);
    hup_conn_destroy(c);
}

static void idle_event_cb(struct bufferevent *bev, short what, void *arg)
{
    hup_conn_t *c = arg;
    hup_pool_remove_idle(c->pool, c);
    hup_conn_destroy(c);
}

void hup_pool_put(hup_pool_t *pl, hup_conn_t *c)
{
    if (pl->n_idle >= HUP_MAX_IDLE_PER_POOL) {
        hup_conn_destroy(c);
        return;
    }
    c->call = NULL;
    bufferevent_setcb(c->bev, idle_read_cb, NULL, idle_event_cb, c);
    hup_conn_reading(c, true);
    c->next = pl->idle;
    pl->idle = c;
    pl->n_idle++;
}
