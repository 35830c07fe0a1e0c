/* client.c - the Redis layer's connection (client.h): the hiredis async
 * context on the caller's libevent loop, its setup (AUTH, SELECT, SCRIPT
 * LOAD pipelined ahead of any command), one command's life (pending list,
 * timer, reply or timeout, callback exactly once), the circuit breaker
 * (breaker.c) with its PING probe, and EVALSHA with an EVAL retry on
 * NOSCRIPT. Addresses are parsed in addr.c. One kv_t per loop. */
#include "kv/client.h"
#include "core/clock.h"
#include "core/log.h"
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct kv_req {
    kv_t *c;
    kv_reply_cb cb;
    void *ud;
    struct event *timer;
    bool done;  /* the callback ran, or the command was abandoned */
    bool probe; /* the breaker's PING: nobody waits for it */
    struct kv_req *prev, *next;
    /* kv_eval: the arguments again, for the EVAL retry after NOSCRIPT */
    size_t script;
    int argc;
    char **argv;
    size_t *lens;
    bool retried;
} kv_req_t;

struct kv {
    struct event_base *evb;
    redisAsyncContext *ac;
    kv_addr_t addr;
    char *username, *password, *name;
    int db;
    uint64_t timeout_ms;
    const char *const *scripts;
    size_t n_scripts;
    char (*sha)[41];
    kv_breaker_t brk;
    bool probe_is_call;
    uint64_t failures;
    kv_req_t *pending;
    void (*on_open)(void *ud);
    void (*on_recover)(void *ud);
    void *hook_ud;
};

void kv_opts_from_cfg(const cfg_redis_t *r, kv_opts_t *out)
{
    memset(out, 0, sizeof *out);
    if (!r) return;
    out->address = r->address;
    out->password = r->password;
    if ((!out->password || !*out->password) && r->password_env && *r->password_env)
        out->password = getenv(r->password_env);
    out->db = (int)r->db;
    out->timeout_ms = r->timeout_ms > 0 ? (uint64_t)r->timeout_ms : 0;
}

/* ---- connection ---- */

static void drop_conn(kv_t *c)
{
    redisAsyncContext *ac = c->ac;
    c->ac = NULL;
    if (ac) redisAsyncFree(ac); /* pending callbacks run with a NULL reply */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    kv_t *c = ac->data;
    if (status != REDIS_OK && c && c->ac == ac) c->ac = NULL; /* hiredis frees it */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    (void)status;
    kv_t *c = ac->data;
    if (c && c->ac == ac) c->ac = NULL;
}

/* AUTH and SELECT: an error reply is logged (the commands behind it then
 * fail, and the breaker counts those). Never logs the password. */
static void on_setup(redisAsyncContext *ac, void *reply, void *privdata)
{
    redisReply *r = reply;
    kv_t *c = ac->data;
    if (r && r->type == REDIS_REPLY_ERROR)
        tlog(TLOG_WARN, "redis_setup_failed",
             "\"user\":\"%s\",\"command\":\"%s\",\"error\":\"%.80s\"",
             c && c->name ? c->name : "redis", (const char *)privdata, r->str ? r->str : "");
}

static bool kv_connect(kv_t *c)
{
    if (c->ac) return true;
    redisAsyncContext *ac = c->addr.unix_path ? redisAsyncConnectUnix(c->addr.unix_path)
                                              : redisAsyncConnect(c->addr.host, c->addr.port);
    if (!ac) return false;
    if (ac->err) {
        redisAsyncFree(ac);
        return false;
    }
    ac->data = c;
    if (redisLibeventAttach(ac, c->evb) != REDIS_OK) {
        redisAsyncFree(ac);
        return false;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    c->ac = ac;
    if (c->password) {
        const char *argv[] = {"AUTH", c->username ? c->username : c->password, c->password};
        size_t lens[] = {4, strlen(argv[1]), strlen(c->password)};
        redisAsyncCommandArgv(ac, on_setup, "AUTH", c->username ? 3 : 2, argv, lens);
    }
    if (c->db > 0) {
        char db[16];
        snprintf(db, sizeof db, "%d", c->db);
        const char *argv[] = {"SELECT", db};
        size_t lens[] = {6, strlen(db)};
        redisAsyncCommandArgv(ac, on_setup, "SELECT", 2, argv, lens);
    }
    for (size_t i = 0; i < c->n_scripts; i++) {
        const char *argv[] = {"SCRIPT", "LOAD", c->scripts[i]};
        size_t lens[] = {6, 4, strlen(c->scripts[i])};
        redisAsyncCommandArgv(ac, NULL, NULL, 3, argv, lens);
    }
    return true;
}

/* ---- commands ---- */

static kv_req_t *req_new(kv_t *c, kv_reply_cb cb, void *ud)
{
    kv_req_t *q = calloc(1, sizeof *q);
    if (!q) abort();
    q->c = c;
    q->cb = cb;
    q->ud = ud;
    q->next = c->pending;
    if (c->pending) c->pending->prev = q;
    c->pending = q;
    return q;
}

static void req_free(kv_req_t *q)
{
    kv_t *c = q->c;
    if (q->prev)
        q->prev->next = q->next;
    else if (c->pending == q)
        c->pending = q->next;
    if (q->next) q->next->prev = q->prev;
    if (q->timer) event_free(q->timer);
    for (int i = 0; i < q->argc; i++)
        free(q->argv[i]);
    free(q->argv);
    free(q->lens);
    free(q);
}

/* A result for the breaker: transitions run the hooks; an opening drops the
 * connection (pending commands then complete with KV_ECONN). */
static void note(kv_t *c, const kv_req_t *q, bool ok)
{
    uint64_t now = clock_mono_ms();
    if (ok) {
        if (kv_breaker_success(&c->brk, q->probe, now) == KV_BRK_CLOSED_NOW && c->on_recover)
            c->on_recover(c->hook_ud);
        return;
    }
    c->failures++;
    kv_brk_event_t ev = kv_breaker_failure(&c->brk, q->probe, now);
    if (ev == KV_BRK_SAME) return;
    if (ev == KV_BRK_OPENED && c->on_open) c->on_open(c->hook_ud);
    drop_conn(c);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    kv_req_t *q = arg;
    if (q->done) return;
    kv_t *c = q->c;
    q->done = true;
    if (q->cb) q->cb(q->ud, KV_ETIMEOUT, NULL);
    /* may drop the connection: hiredis then calls on_reply(NULL), which
     * frees q (done); so q is not touched after this */
    note(c, q, false);
}

static void arm(kv_req_t *q, uint64_t ms)
{
    q->timer = evtimer_new(q->c->evb, on_timeout, q);
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(q->timer, &tv);
}

static bool resend_as_eval(kv_req_t *q);

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    (void)ac;
    kv_req_t *q = privdata;
    redisReply *r = reply;
    if (q->done) {
        req_free(q);
        return;
    }
    if (r && r->type == REDIS_REPLY_ERROR && q->argv && !q->retried && r->str &&
        !strncmp(r->str, "NOSCRIPT", 8) && resend_as_eval(q))
        return; /* hiredis owns q again; the timer keeps running */
    kv_t *c = q->c;
    q->done = true;
    kv_status_t st = !r ? KV_ECONN : r->type == REDIS_REPLY_ERROR ? KV_EREPLY : KV_OK;
    bool good = st == KV_OK;
    if (q->cb) good = q->cb(q->ud, st, r) && (st == KV_OK || st == KV_EREPLY);
    note(c, q, good);
    req_free(q);
}

/* The breaker's probe: a PING of the layer's own, with a longer timeout than
 * commands (a new connection's AUTH, SELECT and SCRIPT LOAD go first, and a
 * loaded host must not keep the circuit open forever). */
static void send_probe(kv_t *c)
{
    kv_req_t *q = req_new(c, NULL, NULL);
    q->probe = true;
    const char *argv[] = {"PING"};
    size_t lens[] = {4};
    if (!kv_connect(c) || redisAsyncCommandArgv(c->ac, on_reply, q, 1, argv, lens) != REDIS_OK) {
        q->done = true;
        note(c, q, false);
        req_free(q);
        return;
    }
    arm(q, c->timeout_ms * 4 < 500 ? 500 : c->timeout_ms * 4);
}

/* Admit, connect, send: false when the command was not handed to hiredis
 * (the callback has run then, and q is freed). */
static bool send_req(kv_t *c, kv_req_t *q, int argc, const char **argv, const size_t *lens)
{
    kv_brk_admit_t a = kv_breaker_admit(&c->brk, clock_mono_ms());
    if (a == KV_BRK_PROBE && c->probe_is_call)
        q->probe = true;
    else if (a == KV_BRK_PROBE)
        send_probe(c);
    if (a == KV_BRK_DENY || (a == KV_BRK_PROBE && !q->probe)) {
        q->done = true;
        if (q->cb) q->cb(q->ud, KV_EOPEN, NULL);
        req_free(q);
        return false;
    }
    if (!kv_connect(c) || redisAsyncCommandArgv(c->ac, on_reply, q, argc, argv, lens) != REDIS_OK) {
        q->done = true;
        note(c, q, false);
        if (q->cb) q->cb(q->ud, KV_ECONN, NULL);
        req_free(q);
        return false;
    }
    arm(q, c->timeout_ms);
    return true;
}

void kv_cmd(kv_t *c, kv_reply_cb cb, void *ud, int argc, const char **argv, const size_t *lens)
{
    send_req(c, req_new(c, cb, ud), argc, argv, lens);
}

void kv_eval(kv_t *c, size_t script, kv_reply_cb cb, void *ud, int argc, const char **argv,
             const size_t *lens)
{
    kv_req_t *q = req_new(c, cb, ud);
    q->script = script;
    q->argc = argc;
    q->argv = calloc((size_t)argc + 1, sizeof *q->argv);
    q->lens = calloc((size_t)argc + 1, sizeof *q->lens);
    if (!q->argv || !q->lens) abort();
    for (int i = 0; i < argc; i++) {
        q->argv[i] = malloc(lens[i] + 1);
        if (!q->argv[i]) abort();
        memcpy(q->argv[i], argv[i], lens[i]);
        q->argv[i][lens[i]] = 0;
        q->lens[i] = lens[i];
    }
    const char **av = calloc((size_t)argc + 2, sizeof *av);
    size_t *al = calloc((size_t)argc + 2, sizeof *al);
    if (!av || !al) abort();
    av[0] = "EVALSHA";
    al[0] = 7;
    av[1] = c->sha[script];
    al[1] = 40;
    memcpy(av + 2, argv, (size_t)argc * sizeof *av);
    memcpy(al + 2, lens, (size_t)argc * sizeof *al);
    send_req(c, q, argc + 2, av, al);
    free(av);
    free(al);
}

static bool resend_as_eval(kv_req_t *q)
{
    kv_t *c = q->c;
    if (!c->ac) return false;
    q->retried = true;
    const char **av = calloc((size_t)q->argc + 2, sizeof *av);
    size_t *al = calloc((size_t)q->argc + 2, sizeof *al);
    if (!av || !al) abort();
    av[0] = "EVAL";
    al[0] = 4;
    av[1] = c->scripts[q->script];
    al[1] = strlen(av[1]);
    for (int i = 0; i < q->argc; i++) {
        av[i + 2] = q->argv[i];
        al[i + 2] = q->lens[i];
    }
    bool ok = redisAsyncCommandArgv(c->ac, on_reply, q, q->argc + 2, av, al) == REDIS_OK;
    free(av);
    free(al);
    return ok;
}

void kv_flush(kv_t *c)
{
    /* not from inside a hiredis callback: a failed write frees the context
     * at once, under the caller's feet; the loop writes it soon anyway */
    if (c->ac && (c->ac->c.flags & REDIS_CONNECTED) && !(c->ac->c.flags & REDIS_IN_CALLBACK))
        redisAsyncHandleWrite(c->ac);
}

/* ---- lifecycle ---- */

kv_t *kv_new(struct event_base *evb, const kv_opts_t *o, char *err, size_t errlen)
{
    kv_t *c = calloc(1, sizeof *c);
    if (!c) abort();
    if (!kv_addr_parse(&c->addr, o->address, err, errlen)) {
        free(c);
        return NULL;
    }
    c->evb = evb;
    c->username = o->username && *o->username ? strdup(o->username) : NULL;
    c->password = o->password && *o->password ? strdup(o->password) : NULL;
    c->name = strdup(o->name ? o->name : "redis");
    c->db = o->db;
    c->timeout_ms = o->timeout_ms ? o->timeout_ms : 50;
    c->scripts = o->scripts;
    c->n_scripts = o->n_scripts;
    c->sha = calloc(c->n_scripts ? c->n_scripts : 1, sizeof *c->sha);
    if (!c->sha) abort();
    for (size_t i = 0; i < c->n_scripts; i++) {
        unsigned char d[SHA_DIGEST_LENGTH];
        SHA1((const unsigned char *)c->scripts[i], strlen(c->scripts[i]), d);
        for (int b = 0; b < SHA_DIGEST_LENGTH; b++)
            snprintf(&c->sha[i][b * 2], 3, "%02x", d[b]);
    }
    /* the seed spreads the jittered reopen intervals of workers and replicas */
    uint64_t seed = (uint64_t)(uintptr_t)c ^ clock_mono_us() ^ ((uint64_t)getpid() << 32);
    kv_breaker_init(&c->brk, o->failures_to_open, o->open_ms, o->jitter_pct ? o->jitter_pct : 20,
                    seed);
    c->probe_is_call = o->probe_is_call;
    c->on_open = o->on_open;
    c->on_recover = o->on_recover;
    c->hook_ud = o->hook_ud;
    return c;
}

void kv_free(kv_t *c)
{
    if (!c) return;
    for (kv_req_t *q = c->pending; q; q = q->next)
        q->done = true;
    drop_conn(c);
    while (c->pending)
        req_free(c->pending); /* ones hiredis no longer holds */
    kv_addr_deinit(&c->addr);
    free(c->username);
    free(c->password);
    free(c->name);
    free(c->sha);
    free(c);
}

bool kv_is_degraded(const kv_t *c)
{
    return c->brk.state != KV_BRK_CLOSED;
}

uint64_t kv_failures(const kv_t *c)
{
    return c->failures;
}

uint64_t kv_transitions(const kv_t *c)
{
    return c->brk.transitions;
}

const kv_breaker_t *kv_breaker(const kv_t *c)
{
    return &c->brk;
}

struct event_base *kv_base(const kv_t *c)
{
    return c->evb;
}
