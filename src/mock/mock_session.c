/* mock_session.c - simulated per-(model, session) prefix cache of `tether
 * mock`: a chained hash table of the previous canonical text of each session
 * with an LRU list for eviction. Independent of the router's session code on
 * purpose: the mock judges cache locality by itself. */
#include "mock/mock_session.h"
#include "core/dlist.h"
#include "core/hash.h"
#include "mock/mock_reply.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct sess {
    struct sess *next;                /* bucket chain */
    struct sess *lru_prev, *lru_next; /* most recent at head */
    uint64_t h;
    char *key; /* model '\0' session */
    size_t key_len;
    char *text;
    size_t text_len;
} sess_t;

struct mock_cache {
    pthread_mutex_t mu;
    sess_t **buckets;
    size_t n_buckets; /* power of two */
    size_t count, max;
    sess_t *lru_head, *lru_tail;
};

mock_cache_t *mock_cache_new(size_t max_sessions)
{
    mock_cache_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    pthread_mutex_init(&c->mu, NULL);
    c->max = max_sessions ? max_sessions : 1;
    c->n_buckets = 64;
    while (c->n_buckets < c->max && c->n_buckets < (1u << 18))
        c->n_buckets <<= 1;
    c->buckets = calloc(c->n_buckets, sizeof *c->buckets);
    if (!c->buckets) abort();
    return c;
}

static void sess_free(sess_t *s)
{
    free(s->key);
    free(s->text);
    free(s);
}

static void lru_unlink(mock_cache_t *c, sess_t *s)
{
    DLIST_UNLINK(c->lru_head, c->lru_tail, s, lru_prev, lru_next);
}

static void lru_push(mock_cache_t *c, sess_t *s)
{
    DLIST_PUSH_FRONT(c->lru_head, c->lru_tail, s, lru_prev, lru_next);
}

static void clear_locked(mock_cache_t *c)
{
    for (size_t i = 0; i < c->n_buckets; i++) {
        sess_t *s = c->buckets[i];
        while (s) {
            sess_t *n = s->next;
            sess_free(s);
            s = n;
        }
        c->buckets[i] = NULL;
    }
    c->count = 0;
    c->lru_head = c->lru_tail = NULL;
}

void mock_cache_free(mock_cache_t *c)
{
    if (!c) return;
    clear_locked(c);
    free(c->buckets);
    pthread_mutex_destroy(&c->mu);
    free(c);
}

void mock_cache_clear(mock_cache_t *c)
{
    pthread_mutex_lock(&c->mu);
    clear_locked(c);
    pthread_mutex_unlock(&c->mu);
}

size_t mock_cache_count(mock_cache_t *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->count;
    pthread_mutex_unlock(&c->mu);
    return n;
}

size_t mock_lcp(const char *a, size_t alen, const char *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    /* word at a time, then bytes */
    while (i + 8 <= n) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) break;
        i += 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

static void evict_one(mock_cache_t *c)
{
    sess_t *victim = c->lru_tail;
    if (!victim) return;
    lru_unlink(c, victim);
    sess_t **pp = &c->buckets[victim->h & (c->n_buckets - 1)];
    while (*pp && *pp != victim)
        pp = &(*pp)->next;
    if (*pp) *pp = victim->next;
    c->count--;
    sess_free(victim);
}

uint64_t mock_cache_update(mock_cache_t *c, const char *model, const char *session,
                           size_t session_len, const char *text, size_t text_len)
{
    size_t mlen = strlen(model);
    size_t klen = mlen + 1 + session_len;
    char *key = malloc(klen + 1);
    if (!key) abort();
    memcpy(key, model, mlen);
    key[mlen] = 0;
    memcpy(key + mlen + 1, session, session_len);
    key[klen] = 0;
    uint64_t h = hash_xxh64(key, klen, 0x6d6f636b);
    char *copy = malloc(text_len + 1);
    if (!copy) abort();
    memcpy(copy, text, text_len);
    copy[text_len] = 0;

    uint64_t cached = 0;
    pthread_mutex_lock(&c->mu);
    sess_t **bucket = &c->buckets[h & (c->n_buckets - 1)], *s = *bucket;
    while (s && !(s->h == h && s->key_len == klen && !memcmp(s->key, key, klen)))
        s = s->next;
    if (s) {
        cached = mock_lcp(s->text, s->text_len, text, text_len) / MOCK_TOKEN_BYTES;
        free(s->text);
        s->text = copy;
        s->text_len = text_len;
        lru_unlink(c, s);
        lru_push(c, s);
        free(key);
    } else {
        if (c->count >= c->max) {
            evict_one(c);
            bucket = &c->buckets[h & (c->n_buckets - 1)];
        }
        s = calloc(1, sizeof *s);
        if (!s) abort();
        s->h = h;
        s->key = key;
        s->key_len = klen;
        s->text = copy;
        s->text_len = text_len;
        s->next = *bucket;
        *bucket = s;
        lru_push(c, s);
        c->count++;
    }
    pthread_mutex_unlock(&c->mu);
    return cached;
}
