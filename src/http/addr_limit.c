/* addr_limit.c - open connections per client address (addr_limit.h): a
 * chained hash table of counts under one mutex. The accept path takes the
 * lock once per connection and the close path once, which is cheap next
 * to accept(2) itself. */
#include "http/addr_limit.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define N_BUCKETS 4096

typedef struct addr_entry {
    srv_addr_t a;
    size_t n;
    struct addr_entry *next;
} addr_entry_t;

struct srv_addr_table {
    pthread_mutex_t mu;
    addr_entry_t *buckets[N_BUCKETS];
};

srv_addr_table_t *srv_addr_table_new(void)
{
    srv_addr_table_t *t = calloc(1, sizeof *t);
    if (!t) abort();
    pthread_mutex_init(&t->mu, NULL);
    return t;
}

void srv_addr_table_free(srv_addr_table_t *t)
{
    if (!t) return;
    for (size_t i = 0; i < N_BUCKETS; i++)
        for (addr_entry_t *e = t->buckets[i], *n; e; e = n) {
            n = e->next;
            free(e);
        }
    pthread_mutex_destroy(&t->mu);
    free(t);
}

srv_addr_t srv_addr_of(const struct sockaddr *sa, int salen)
{
    srv_addr_t a;
    memset(&a, 0, sizeof a);
    if (!sa) return a;
    if (sa->sa_family == AF_INET && salen >= (int)sizeof(struct sockaddr_in)) {
        a.family = AF_INET;
        memcpy(a.bytes, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6 && salen >= (int)sizeof(struct sockaddr_in6)) {
        const struct in6_addr *v6 = &((const struct sockaddr_in6 *)sa)->sin6_addr;
        if (IN6_IS_ADDR_V4MAPPED(v6)) {
            a.family = AF_INET;
            memcpy(a.bytes, v6->s6_addr + 12, 4);
        } else {
            a.family = AF_INET6;
            memcpy(a.bytes, v6->s6_addr, 16);
        }
    }
    return a;
}

static size_t bucket_of(const srv_addr_t *a)
{
    uint64_t h = 1469598103934665603ull ^ a->family;
    for (size_t i = 0; i < sizeof a->bytes; i++)
        h = (h ^ a->bytes[i]) * 1099511628211ull;
    return (size_t)(h ^ (h >> 29)) % N_BUCKETS;
}

static addr_entry_t **find(srv_addr_table_t *t, const srv_addr_t *a)
{
    addr_entry_t **p = &t->buckets[bucket_of(a)];
    while (*p && !((*p)->a.family == a->family && !memcmp((*p)->a.bytes, a->bytes, 16)))
        p = &(*p)->next;
    return p;
}

bool srv_addr_acquire(srv_addr_table_t *t, const srv_addr_t *a, size_t limit)
{
    if (!a->family) return true;
    bool ok = true;
    pthread_mutex_lock(&t->mu);
    addr_entry_t **p = find(t, a);
    if (*p) {
        if (limit && (*p)->n >= limit)
            ok = false;
        else
            (*p)->n++;
    } else {
        addr_entry_t *e = calloc(1, sizeof *e);
        if (!e) abort();
        e->a = *a;
        e->n = 1;
        *p = e;
    }
    pthread_mutex_unlock(&t->mu);
    return ok;
}

void srv_addr_release(srv_addr_table_t *t, const srv_addr_t *a)
{
    if (!a->family) return;
    pthread_mutex_lock(&t->mu);
    addr_entry_t **p = find(t, a);
    if (*p && --(*p)->n == 0) {
        addr_entry_t *e = *p;
        *p = e->next;
        free(e);
    }
    pthread_mutex_unlock(&t->mu);
}

size_t srv_addr_count(srv_addr_table_t *t, const srv_addr_t *a)
{
    pthread_mutex_lock(&t->mu);
    addr_entry_t **p = find(t, a);
    size_t n = *p ? (*p)->n : 0;
    pthread_mutex_unlock(&t->mu);
    return n;
}

void srv_addr_format(const srv_addr_t *a, char *out, size_t outlen)
{
    if (!outlen) return;
    out[0] = 0;
    if (a->family == AF_INET || a->family == AF_INET6)
        inet_ntop(a->family, a->bytes, out, (socklen_t)outlen);
}
