/* response_store.c - memory backend of the Responses store: a chained hash
 * table on the id plus an insertion-ordered list for TTL and size eviction. */
#include "api/response_store.h"
#include "core/hash.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define RS_BUCKETS   4096
#define RS_MAX_CHAIN 10000

typedef struct rnode {
    rstore_entry_t e;
    struct rnode *hnext;       /* bucket chain */
    struct rnode *prev, *next; /* insertion order */
} rnode_t;

struct rstore {
    pthread_mutex_t mu;
    rnode_t *buckets[RS_BUCKETS];
    rnode_t *head, *tail; /* oldest .. newest */
    size_t n, max;
    uint64_t ttl_ms;
};

static char *dup0(const char *s)
{
    return s ? strdup(s) : NULL;
}

static void entry_copy(rstore_entry_t *d, const rstore_entry_t *s)
{
    *d = *s;
    d->session_key = dup0(s->session_key);
    d->model = dup0(s->model);
    d->input = dup0(s->input);
    d->output = dup0(s->output);
    d->instructions = dup0(s->instructions);
    d->previous_response_id = dup0(s->previous_response_id);
    d->response = dup0(s->response);
}

static void entry_deinit(rstore_entry_t *e)
{
    free(e->session_key);
    free(e->model);
    free(e->input);
    free(e->output);
    free(e->instructions);
    free(e->previous_response_id);
    free(e->response);
}

void rstore_entry_free(rstore_entry_t *e)
{
    if (!e) return;
    entry_deinit(e);
    free(e);
}

rstore_t *rstore_new(uint64_t ttl_ms, size_t max)
{
    rstore_t *s = calloc(1, sizeof *s);
    pthread_mutex_init(&s->mu, NULL);
    s->ttl_ms = ttl_ms;
    s->max = max;
    return s;
}

static size_t bucket(const char *id)
{
    return hash_xxh64(id, strlen(id), 0) % RS_BUCKETS;
}

static void unlink_node(rstore_t *s, rnode_t *n)
{
    rnode_t **pp = &s->buckets[bucket(n->e.id)];
    while (*pp && *pp != n)
        pp = &(*pp)->hnext;
    if (*pp) *pp = n->hnext;
    if (n->prev)
        n->prev->next = n->next;
    else
        s->head = n->next;
    if (n->next)
        n->next->prev = n->prev;
    else
        s->tail = n->prev;
    s->n--;
    entry_deinit(&n->e);
    free(n);
}

static rnode_t *find(rstore_t *s, const char *id)
{
    for (rnode_t *n = s->buckets[bucket(id)]; n; n = n->hnext)
        if (!strcmp(n->e.id, id)) return n;
    return NULL;
}

static void sweep(rstore_t *s, uint64_t now_ms)
{
    /* insertion order == expiry order (one TTL for all) */
    while (s->head && s->ttl_ms && s->head->e.expires_ms <= now_ms)
        unlink_node(s, s->head);
}

void rstore_free(rstore_t *s)
{
    if (!s) return;
    while (s->head)
        unlink_node(s, s->head);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void rstore_put(rstore_t *s, const rstore_entry_t *e, uint64_t now_ms)
{
    rnode_t *n = calloc(1, sizeof *n);
    entry_copy(&n->e, e);
    n->e.expires_ms = s->ttl_ms ? now_ms + s->ttl_ms : UINT64_MAX;
    pthread_mutex_lock(&s->mu);
    sweep(s, now_ms);
    rnode_t *old = find(s, e->id);
    if (old) unlink_node(s, old);
    size_t b = bucket(n->e.id);
    n->hnext = s->buckets[b];
    s->buckets[b] = n;
    n->prev = s->tail;
    if (s->tail)
        s->tail->next = n;
    else
        s->head = n;
    s->tail = n;
    s->n++;
    while (s->max && s->n > s->max)
        unlink_node(s, s->head);
    pthread_mutex_unlock(&s->mu);
}

rstore_entry_t *rstore_get(rstore_t *s, const char *id, uint64_t now_ms)
{
    rstore_entry_t *out = NULL;
    pthread_mutex_lock(&s->mu);
    rnode_t *n = find(s, id);
    if (n && n->e.expires_ms > now_ms) {
        out = malloc(sizeof *out);
        entry_copy(out, &n->e);
    }
    pthread_mutex_unlock(&s->mu);
    return out;
}

bool rstore_delete(rstore_t *s, const char *id)
{
    pthread_mutex_lock(&s->mu);
    rnode_t *n = find(s, id);
    if (n) unlink_node(s, n);
    pthread_mutex_unlock(&s->mu);
    return n != NULL;
}

size_t rstore_count(rstore_t *s)
{
    pthread_mutex_lock(&s->mu);
    size_t n = s->n;
    pthread_mutex_unlock(&s->mu);
    return n;
}

int rstore_chain(rstore_t *s, const char *id, uint64_t now_ms, cJSON *msgs, cJSON *items,
                 char **instructions, bool *native, char **model, tr_warn_t *w)
{
    if (instructions) *instructions = NULL;
    if (native) *native = false;
    if (model) *model = NULL;
    rstore_entry_t **chain = NULL;
    int n = 0, cap = 0, rc = 0;
    const char *cur = id;
    while (cur && *cur) {
        if (n >= RS_MAX_CHAIN) {
            rc = -1;
            break;
        }
        rstore_entry_t *e = rstore_get(s, cur, now_ms);
        if (!e) {
            rc = -1;
            break;
        }
        if (n == cap) {
            cap = cap ? cap * 2 : 8;
            rstore_entry_t **nc = realloc(chain, (size_t)cap * sizeof *chain);
            if (!nc) abort();
            chain = nc;
        }
        chain[n++] = e;
        cur = e->previous_response_id;
    }
    if (rc == 0) {
        if (n && instructions && chain[0]->instructions)
            *instructions = strdup(chain[0]->instructions);
        if (n && model && chain[0]->model) *model = strdup(chain[0]->model);
        for (int i = n - 1; i >= 0; i--) {
            if (native && chain[i]->native) *native = true;
            cJSON *in = chain[i]->input ? cJSON_Parse(chain[i]->input) : NULL;
            cJSON *out = chain[i]->output ? cJSON_Parse(chain[i]->output) : NULL;
            if (msgs) {
                if (in) tr_items_to_messages(in, msgs, w);
                if (out) tr_items_to_messages(out, msgs, w);
            }
            if (items) {
                cJSON *x;
                cJSON_ArrayForEach(x, in) cJSON_AddItemToArray(items, cJSON_Duplicate(x, 1));
                cJSON_ArrayForEach(x, out) cJSON_AddItemToArray(items, cJSON_Duplicate(x, 1));
            }
            cJSON_Delete(in);
            cJSON_Delete(out);
        }
    }
    for (int i = 0; i < n; i++)
        rstore_entry_free(chain[i]);
    free(chain);
    return rc < 0 ? -1 : n;
}

void rstore_new_id(char out[32])
{
    memcpy(out, "resp_", 5);
    hash_random_hex(out + 5, 24);
    out[29] = 0;
}
