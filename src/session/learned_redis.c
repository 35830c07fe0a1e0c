/* learned_redis.c - outcome estimates shared through Redis: a sync thread
 * with its own event loop and kv_t (kv/client.h) that sends queued outcome
 * increments (a Lua script mirroring sess_outcomes_record's arithmetic) and
 * reads the hash back into the local table every sync interval; the
 * remaining-turn priors and elo rating moves go the same way. See
 * learned_redis.h. */
#include "session/learned_redis.h"
#include "core/log.h"
#include "kv/client.h"
#include <event2/event.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FIELD_SEP     '\x1f'
#define SEND_PER_TICK 16 /* increments sent per 100 ms tick, and in flight, at most */

/* KEYS[1] the hash; ARGV[1] field, ARGV[2] v, ARGV[3] max weight, ARGV[4] max fields.
 * Returns 1, or 0 when the table is full. */
static const char LUA_ADD[] =
    "local cur=redis.call('HGET',KEYS[1],ARGV[1])\n"
    "local g,b=0,0\n"
    "if cur then local x,y=string.match(cur,'^(%S+) (%S+)$') g=tonumber(x) or 0 b=tonumber(y) or "
    "0\n"
    "elseif redis.call('HLEN',KEYS[1])>=tonumber(ARGV[4]) then return 0 end\n"
    "local v=tonumber(ARGV[2])\n"
    "g=g+v b=b+(1-v)\n"
    "if g+b>tonumber(ARGV[3]) then g=g*0.5 b=b*0.5 end\n"
    "redis.call('HSET',KEYS[1],ARGV[1],string.format('%.17g %.17g',g,b))\n"
    "return 1\n";
/* A remaining-turn prior observation (priors.h) into the decision's window:
 * KEYS[1] the decision's hash (session-key hash -> longest turns, plus _sum
 * and _n), KEYS[2] its FIFO of session hashes, KEYS[3] the set of decisions;
 * ARGV[1] decision, ARGV[2] session hash, ARGV[3] turns, ARGV[4] window,
 * ARGV[5] max decisions. The oldest session leaves a full window. */
static const char LUA_PRIOR[] =
    "if redis.call('SISMEMBER',KEYS[3],ARGV[1])==0 then\n"
    "  if redis.call('SCARD',KEYS[3])>=tonumber(ARGV[5]) then return 0 end\n"
    "  redis.call('SADD',KEYS[3],ARGV[1])\n"
    "end\n"
    "local t=tonumber(ARGV[3])\n"
    "local old=tonumber(redis.call('HGET',KEYS[1],ARGV[2]) or '0') or 0\n"
    "if old>=t then return 1 end\n"
    "local sum=tonumber(redis.call('HGET',KEYS[1],'_sum') or '0') or 0\n"
    "local n=tonumber(redis.call('HGET',KEYS[1],'_n') or '0') or 0\n"
    "if old==0 then\n"
    "  n=n+1 redis.call('RPUSH',KEYS[2],ARGV[2])\n"
    "  if n>tonumber(ARGV[4]) then\n"
    "    local gone=redis.call('LPOP',KEYS[2])\n"
    "    sum=sum-(tonumber(redis.call('HGET',KEYS[1],gone) or '0') or 0)\n"
    "    redis.call('HDEL',KEYS[1],gone) n=n-1\n"
    "  end\n"
    "end\n"
    "sum=sum+t-old\n"
    "redis.call('HSET',KEYS[1],ARGV[2],t,'_sum',sum,'_n',n)\n"
    "return 1\n";
/* An elo rating move: KEYS[1] the hash; ARGV[1] field, ARGV[2] delta,
 * ARGV[3] the initial rating (a missing field), ARGV[4] max fields. */
static const char LUA_ELO[] =
    "local cur=redis.call('HGET',KEYS[1],ARGV[1])\n"
    "local r=tonumber(ARGV[3])\n"
    "if cur then r=tonumber(cur) or r\n"
    "elseif redis.call('HLEN',KEYS[1])>=tonumber(ARGV[4]) then return 0 end\n"
    "r=r+tonumber(ARGV[2])\n"
    "redis.call('HSET',KEYS[1],ARGV[1],string.format('%.17g',r))\n"
    "return 1\n";
static const char *const scripts[] = {LUA_ADD, LUA_PRIOR, LUA_ELO};

enum { P_OUTCOME, P_PRIOR, P_ELO };

/* Priors read back: the set of decisions, then each one's _sum and _n (one
 * slot per decision, held by the sync state so nothing is allocated). */
typedef struct prior_read {
    struct sess_learned_redis *l;
    char decision[128];
} prior_read_t;

typedef struct pending {
    int kind;        /* P_OUTCOME, P_PRIOR, P_ELO */
    char field[160]; /* outcome, elo: "<decision>\x1f<model>"; prior: the decision */
    char hash[17];   /* prior: the session key's hash, 16 hex */
    double v;        /* outcome: v; prior: turns; elo: the delta */
    double initial;  /* elo: the model's initial rating */
} pending_t;

/* An increment sent and not answered yet; linked so a stop can free the
 * ones the Redis layer abandons (kv_free drops their callbacks). */
typedef struct add_op {
    struct sess_learned_redis *l;
    pending_t p;
    struct add_op *prev, *next;
} add_op_t;

struct sess_learned_redis {
    sess_outcomes_t *o;
    sess_priors_t *priors; /* NULL: no priors */
    sel_state_t *elo;      /* NULL: no elo ratings */
    char elo_key[192];
    kv_conf_t conf;
    char key[192];
    char prefix[128];
    uint64_t sync_ms;
    pthread_t th;
    struct event_base *evb;
    struct event *tick;
    kv_t *kv;
    pthread_mutex_t mu;
    pending_t *q; /* ring of SESS_LEARNED_REDIS_QUEUE */
    size_t head, n;
    atomic_bool stop;
    atomic_uint_fast64_t syncs;
    uint64_t ticks;
    bool reading;     /* an HGETALL in flight */
    bool reading_elo; /* the elo hash's HGETALL in flight */
    int in_flight;    /* increments sent, not answered */
    add_op_t *ops;    /* those increments */
    prior_read_t reads[SESS_PRIORS_MAX_DECISIONS];
    int prior_reads; /* SMEMBERS or HMGETs of the priors in flight */
};

static bool field_of(char *out, size_t cap, const char *decision, const char *model)
{
    int n = snprintf(out, cap, "%s%c%s", decision ? decision : "", FIELD_SEP, model);
    return n > 0 && (size_t)n < cap;
}

bool sess_learned_redis_push(sess_learned_redis_t *l, const char *decision, const char *model,
                             double v)
{
    if (!l || !model || !*model) return false;
    bool ok = true;
    pthread_mutex_lock(&l->mu);
    for (int pass = 0; pass < 2 && ok; pass++) {
        if (pass == 1 && (!decision || !*decision)) break;
        if (l->n >= SESS_LEARNED_REDIS_QUEUE) {
            ok = false;
            break;
        }
        pending_t *p = &l->q[(l->head + l->n) % SESS_LEARNED_REDIS_QUEUE];
        /* the model's entry, then the (decision, model) one */
        p->kind = P_OUTCOME;
        if (!field_of(p->field, sizeof p->field, pass ? decision : "", model)) {
            ok = false;
            break;
        }
        p->v = v;
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

bool sess_learned_redis_push_prior(sess_learned_redis_t *l, const char *decision, uint64_t key_hash,
                                   int64_t turns)
{
    if (!l || !decision || !*decision || turns < 1 || strlen(decision) >= 128) return false;
    bool ok = false;
    pthread_mutex_lock(&l->mu);
    if (l->n < SESS_LEARNED_REDIS_QUEUE) {
        pending_t *p = &l->q[(l->head + l->n) % SESS_LEARNED_REDIS_QUEUE];
        p->kind = P_PRIOR;
        snprintf(p->field, sizeof p->field, "%s", decision);
        snprintf(p->hash, sizeof p->hash, "%016llx", (unsigned long long)key_hash);
        p->v = (double)turns;
        l->n++;
        ok = true;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

bool sess_learned_redis_push_elo(sess_learned_redis_t *l, const char *decision, const char *model,
                                 double delta, double initial)
{
    if (!l || !decision || !*decision || !model || !*model || !isfinite(delta) ||
        !isfinite(initial))
        return false;
    bool ok = false;
    pthread_mutex_lock(&l->mu);
    if (l->n < SESS_LEARNED_REDIS_QUEUE) {
        pending_t *p = &l->q[(l->head + l->n) % SESS_LEARNED_REDIS_QUEUE];
        p->kind = P_ELO;
        p->v = delta;
        p->initial = initial;
        ok = field_of(p->field, sizeof p->field, decision, model);
        if (ok) l->n++;
    }
    pthread_mutex_unlock(&l->mu);
    return ok;
}

static _Atomic(sess_learned_redis_t *) shared;

void sess_learned_redis_set_shared(sess_learned_redis_t *l)
{
    atomic_store(&shared, l);
}

sess_learned_redis_t *sess_learned_redis_shared(void)
{
    return atomic_load(&shared);
}

uint64_t sess_learned_redis_syncs(sess_learned_redis_t *l)
{
    return l ? atomic_load(&l->syncs) : 0;
}

static void requeue_front(sess_learned_redis_t *l, const pending_t *p)
{
    pthread_mutex_lock(&l->mu);
    if (l->n < SESS_LEARNED_REDIS_QUEUE) {
        l->head = (l->head + SESS_LEARNED_REDIS_QUEUE - 1) % SESS_LEARNED_REDIS_QUEUE;
        l->q[l->head] = *p;
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

static bool on_added(void *ud, kv_status_t st, redisReply *r)
{
    add_op_t *op = ud;
    sess_learned_redis_t *l = op->l;
    l->in_flight--;
    if (op->prev)
        op->prev->next = op->next;
    else
        l->ops = op->next;
    if (op->next) op->next->prev = op->prev;
    bool ok = st == KV_OK && r && r->type == REDIS_REPLY_INTEGER;
    /* not sent or no answer: keep it for the next tick (Redis may have it
     * when the answer was lost: at most one outcome counted twice) */
    if (st == KV_EOPEN || st == KV_ECONN || st == KV_ETIMEOUT) requeue_front(l, &op->p);
    free(op);
    return ok;
}

static void send_pending(sess_learned_redis_t *l)
{
    pthread_mutex_lock(&l->mu);
    /* what is queued now (a refused one waits for the next tick), at most
     * SEND_PER_TICK: a backlog after an outage drains gently instead of
     * competing with the session store for a Redis that just came back */
    size_t budget = l->n < SEND_PER_TICK ? l->n : SEND_PER_TICK;
    pthread_mutex_unlock(&l->mu);
    for (; budget; budget--) {
        pending_t p;
        pthread_mutex_lock(&l->mu);
        bool have = l->n > 0 && l->in_flight < SEND_PER_TICK;
        if (have) {
            p = l->q[l->head];
            l->head = (l->head + 1) % SESS_LEARNED_REDIS_QUEUE;
            l->n--;
        }
        pthread_mutex_unlock(&l->mu);
        if (!have) return;
        add_op_t *op = malloc(sizeof *op);
        if (!op) abort();
        op->l = l;
        op->p = p;
        op->prev = NULL;
        op->next = l->ops;
        if (l->ops) l->ops->prev = op;
        l->ops = op;
        l->in_flight++;
        if (op->p.kind == P_ELO) {
            char d[40], in[40], mf[24];
            snprintf(d, sizeof d, "%.17g", op->p.v);
            snprintf(in, sizeof in, "%.17g", op->p.initial);
            snprintf(mf, sizeof mf, "%d", SEL_ELO_MAX);
            const char *argv[] = {"1", l->elo_key, op->p.field, d, in, mf};
            size_t lens[] = {1,         strlen(l->elo_key), strlen(op->p.field),
                             strlen(d), strlen(in),         strlen(mf)};
            kv_eval(l->kv, 2, on_added, op, 6, argv, lens);
        } else if (op->p.kind == P_PRIOR) {
            char kh[320], kl[320], ks[200], t[24], w[24], md[24];
            snprintf(kh, sizeof kh, "%slearned:prior:%s", l->prefix, op->p.field);
            snprintf(kl, sizeof kl, "%slearned:prior_order:%s", l->prefix, op->p.field);
            snprintf(ks, sizeof ks, "%slearned:prior_decisions", l->prefix);
            snprintf(t, sizeof t, "%lld", (long long)op->p.v);
            snprintf(w, sizeof w, "%d", SESS_PRIORS_WINDOW);
            snprintf(md, sizeof md, "%d", SESS_PRIORS_MAX_DECISIONS);
            const char *argv[] = {"3", kh, kl, ks, op->p.field, op->p.hash, t, w, md};
            size_t lens[9];
            for (int i = 0; i < 9; i++)
                lens[i] = strlen(argv[i]);
            kv_eval(l->kv, 1, on_added, op, 9, argv, lens);
        } else {
            char v[40], mw[40], mf[24];
            snprintf(v, sizeof v, "%.17g", p.v);
            snprintf(mw, sizeof mw, "%.17g", SESS_OUTCOMES_MAX_WEIGHT);
            snprintf(mf, sizeof mf, "%d", SESS_OUTCOMES_MAX);
            const char *argv[] = {"1", l->key, op->p.field, v, mw, mf};
            size_t lens[] = {1,         strlen(l->key), strlen(op->p.field),
                             strlen(v), strlen(mw),     strlen(mf)};
            kv_eval(l->kv, 0, on_added, op, 6, argv, lens);
        }
        if (kv_is_degraded(l->kv)) return; /* refused: wait for the next tick */
    }
}

static bool on_read(void *ud, kv_status_t st, redisReply *r)
{
    sess_learned_redis_t *l = ud;
    l->reading = false;
    if (st != KV_OK || !r || r->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        const char *sep = memchr(f->str, FIELD_SEP, f->len);
        if (!sep) continue;
        char decision[128], model[128];
        size_t dl = (size_t)(sep - f->str), ml = f->len - dl - 1;
        if (dl >= sizeof decision || ml >= sizeof model || !ml) continue;
        memcpy(decision, f->str, dl), decision[dl] = 0;
        memcpy(model, sep + 1, ml), model[ml] = 0;
        double g, b;
        if (sscanf(v->str, "%lf %lf", &g, &b) != 2 || !(g >= 0) || !(b >= 0)) continue;
        sess_outcomes_set(l->o, decision, model, g, b);
    }
    atomic_fetch_add(&l->syncs, 1);
    return true;
}

/* The merged elo ratings: they replace the local ones. */
static bool on_elo_read(void *ud, kv_status_t st, redisReply *r)
{
    sess_learned_redis_t *l = ud;
    l->reading_elo = false;
    if (st != KV_OK || !r || r->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i + 1 < r->elements; i += 2) {
        const redisReply *f = r->element[i], *v = r->element[i + 1];
        if (f->type != REDIS_REPLY_STRING || v->type != REDIS_REPLY_STRING) continue;
        const char *sep = memchr(f->str, FIELD_SEP, f->len);
        if (!sep) continue;
        char decision[128], model[128], num[48];
        size_t dl = (size_t)(sep - f->str), ml = f->len - dl - 1;
        if (!dl || dl >= sizeof decision || !ml || ml >= sizeof model || v->len >= sizeof num)
            continue;
        memcpy(decision, f->str, dl), decision[dl] = 0;
        memcpy(model, sep + 1, ml), model[ml] = 0;
        memcpy(num, v->str, v->len), num[v->len] = 0;
        char *end;
        double rating = strtod(num, &end);
        if (end == num || *end) continue;
        sel_elo_restore(l->elo, decision, model, rating);
    }
    return true;
}

static bool on_prior(void *ud, kv_status_t st, redisReply *r)
{
    prior_read_t *pr = ud;
    pr->l->prior_reads--;
    bool ok = st == KV_OK && r && r->type == REDIS_REPLY_ARRAY && r->elements == 2;
    if (ok && r->element[0]->type == REDIS_REPLY_STRING &&
        r->element[1]->type == REDIS_REPLY_STRING)
        sess_priors_set_shared(pr->l->priors, pr->decision, atoll(r->element[0]->str),
                               atoll(r->element[1]->str));
    return ok;
}

static bool on_decisions(void *ud, kv_status_t st, redisReply *r)
{
    sess_learned_redis_t *l = ud;
    l->prior_reads--;
    if (st != KV_OK || !r || r->type != REDIS_REPLY_ARRAY) return false;
    for (size_t i = 0; i < r->elements && i < SESS_PRIORS_MAX_DECISIONS; i++) {
        const redisReply *e = r->element[i];
        if (e->type != REDIS_REPLY_STRING || !e->len || e->len >= 128) continue;
        prior_read_t *pr = &l->reads[i];
        pr->l = l;
        memcpy(pr->decision, e->str, e->len);
        pr->decision[e->len] = 0;
        l->prior_reads++;
        char kh[320];
        snprintf(kh, sizeof kh, "%slearned:prior:%s", l->prefix, pr->decision);
        const char *argv[] = {"HMGET", kh, "_sum", "_n"};
        size_t lens[] = {5, strlen(kh), 4, 2};
        kv_cmd(l->kv, on_prior, pr, 4, argv, lens);
    }
    return true;
}

static void on_tick(evutil_socket_t fd, short what, void *ud)
{
    (void)fd, (void)what;
    sess_learned_redis_t *l = ud;
    if (atomic_load(&l->stop)) {
        event_base_loopbreak(l->evb);
        return;
    }
    send_pending(l);
    /* read back every sync interval (the first tick reads at once) */
    uint64_t every = l->sync_ms / 100 ? l->sync_ms / 100 : 1;
    if (l->ticks++ % every == 0 && !l->reading) {
        const char *argv[] = {"HGETALL", l->key};
        size_t lens[] = {7, strlen(l->key)};
        l->reading = true;
        kv_cmd(l->kv, on_read, l, 2, argv, lens);
        if (l->elo && !l->reading_elo) {
            const char *av[] = {"HGETALL", l->elo_key};
            size_t ln[] = {7, strlen(l->elo_key)};
            l->reading_elo = true;
            kv_cmd(l->kv, on_elo_read, l, 2, av, ln);
        }
        if (l->priors && l->prior_reads == 0) {
            char ks[200];
            snprintf(ks, sizeof ks, "%slearned:prior_decisions", l->prefix);
            const char *av[] = {"SMEMBERS", ks};
            size_t ln[] = {8, strlen(ks)};
            l->prior_reads++;
            kv_cmd(l->kv, on_decisions, l, 2, av, ln);
        }
    }
}

static void *run(void *arg)
{
    sess_learned_redis_t *l = arg;
    event_base_dispatch(l->evb);
    return NULL;
}

sess_learned_redis_t *sess_learned_redis_start(const cfg_redis_t *r, const char *prefix,
                                               sess_outcomes_t *o, sess_priors_t *priors,
                                               sel_state_t *elo, uint64_t sync_ms, char *err,
                                               size_t errlen)
{
    if (!r || !o) {
        snprintf(err, errlen, "no Redis or no outcome table");
        return NULL;
    }
    sess_learned_redis_t *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->o = o;
    l->priors = priors;
    l->elo = elo;
    snprintf(l->prefix, sizeof l->prefix, "%s", prefix ? prefix : "tether:");
    l->sync_ms = sync_ms ? sync_ms : 1000;
    snprintf(l->key, sizeof l->key, "%slearned:outcomes", prefix ? prefix : "tether:");
    snprintf(l->elo_key, sizeof l->elo_key, "%slearned:elo", prefix ? prefix : "tether:");
    pthread_mutex_init(&l->mu, NULL);
    l->q = calloc(SESS_LEARNED_REDIS_QUEUE, sizeof *l->q);
    if (!l->q) abort();
    kv_opts_t ko;
    kv_opts_from_cfg(r, &ko);
    ko.scripts = scripts;
    ko.n_scripts = 3;
    ko.name = "learned_state";
    if (!kv_conf_init(&l->conf, &ko, err, errlen)) goto fail;
    l->evb = event_base_new();
    if (!l->evb) goto fail;
    l->kv = kv_new(l->evb, &l->conf.o, err, errlen);
    if (!l->kv) goto fail;
    l->tick = event_new(l->evb, -1, EV_PERSIST, on_tick, l);
    struct timeval tv = {0, 100 * 1000};
    event_add(l->tick, &tv);
    event_active(l->tick, EV_TIMEOUT, 0); /* restore on start: the first read at once */
    if (pthread_create(&l->th, NULL, run, l) != 0) {
        snprintf(err, errlen, "cannot start the learned-state thread");
        goto fail;
    }
    return l;
fail:
    if (l->tick) event_free(l->tick);
    if (l->kv) kv_free(l->kv);
    if (l->evb) event_base_free(l->evb);
    kv_conf_deinit(&l->conf);
    pthread_mutex_destroy(&l->mu);
    free(l->q);
    free(l);
    return NULL;
}

void sess_learned_redis_stop(sess_learned_redis_t *l)
{
    if (!l) return;
    atomic_store(&l->stop, true);
    pthread_join(l->th, NULL);
    event_free(l->tick);
    kv_free(l->kv); /* abandons what is in flight: free those (the local table has them) */
    while (l->ops) {
        add_op_t *n = l->ops->next;
        free(l->ops);
        l->ops = n;
    }
    event_base_free(l->evb);
    kv_conf_deinit(&l->conf);
    pthread_mutex_destroy(&l->mu);
    free(l->q);
    free(l);
}
