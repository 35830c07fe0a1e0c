/* store_redis_transport.c - the Redis session store's plumbing: the hiredis
 * async connection on the caller's libevent loop, one operation's life
 * (pending list, per-call timer of timeout_ms, send, reply or timeout) and
 * the circuit breaker (breaker.c: after failures_to_open consecutive errors
 * the circuit opens for a jittered open_ms, then admits one probe at a
 * time); one log line is written per open/close, and a close starts the
 * paced write-back (store_redis_writeback.c). An operation that fails, times out or arrives while
 * the circuit is open is handed to sess_redis_op_fallback (store_redis.c), and a reply is handed to
 * sess_redis_reply there. Nothing here blocks; one instance per event loop, not thread-safe. */
#include "core/clock.h"
#include "core/log.h"
#include "session/store_redis_internal.h"
#include <event2/event.h>
#include <hiredis/adapters/libevent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sess_redis_drop_conn(sess_redis_t *rs)
{
    redisAsyncContext *ac = rs->ac;
    rs->ac = NULL;
    if (ac) redisAsyncFree(ac); /* pending callbacks run with a NULL reply */
}

static void on_connect(const redisAsyncContext *ac, int status)
{
    sess_redis_t *rs = ac->data;
    if (status != REDIS_OK && rs && rs->ac == ac) rs->ac = NULL; /* hiredis frees it */
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    sess_redis_t *rs = ac->data;
    if (rs && rs->ac == ac) rs->ac = NULL;
}

bool sess_redis_connect(sess_redis_t *rs)
{
    if (rs->ac) return true;
    redisAsyncContext *ac = rs->unix_path ? redisAsyncConnectUnix(rs->unix_path)
                                          : redisAsyncConnect(rs->host, rs->port);
    if (!ac) return false;
    if (ac->err) {
        redisAsyncFree(ac);
        return false;
    }
    ac->data = rs;
    if (redisLibeventAttach(ac, rs->evb) != REDIS_OK) {
        redisAsyncFree(ac);
        return false;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    rs->ac = ac;
    if (rs->password) redisAsyncCommand(ac, NULL, NULL, "AUTH %s", rs->password);
    if (rs->db > 0) redisAsyncCommand(ac, NULL, NULL, "SELECT %d", rs->db);
    sess_redis_load_scripts(ac);
    return true;
}

/* ---- circuit (the state machine is breaker.c) ---- */

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata);
static void on_timeout(evutil_socket_t fd, short what, void *arg);

/* The half-open probe: a PING of the store's own, so no request waits on
 * it. It has a longer timeout than calls (a new connection's AUTH, SELECT
 * and SCRIPT LOAD go first, and a loaded host must not keep the circuit
 * open forever): 4 x timeout_ms, at least 500 ms. */
static void send_probe(sess_redis_t *rs)
{
    sess_redis_op_t *op = sess_redis_op_new(rs, OP_PING, NULL, NULL);
    op->is_probe = true;
    static const char *const argv[] = {"PING"};
    static const size_t lens[] = {4};
    if (!sess_redis_connect(rs) ||
        redisAsyncCommandArgv(rs->ac, on_reply, op, 1, (const char **)argv, lens) != REDIS_OK) {
        op->completed = true;
        sess_redis_circ_failure(rs, op);
        sess_redis_op_free(op);
        return;
    }
    op->sent = true;
    op->timer = evtimer_new(rs->evb, on_timeout, op);
    uint64_t ms = rs->timeout_ms * 4 < 500 ? 500 : rs->timeout_ms * 4;
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)(ms % 1000) * 1000};
    evtimer_add(op->timer, &tv);
}

/* Calls go to Redis only while the circuit is closed; the call that finds
 * the open interval elapsed starts the probe and is served locally. */
static bool circ_admit(sess_redis_t *rs, sess_redis_op_t *op)
{
    (void)op;
    sess_brk_admit_t a = sess_breaker_admit(&rs->brk, clock_mono_ms());
    if (a == SESS_BRK_PROBE) send_probe(rs);
    return a == SESS_BRK_ALLOW;
}

void sess_redis_circ_success(sess_redis_t *rs, sess_redis_op_t *op)
{
    if (sess_breaker_success(&rs->brk, op->is_probe, clock_mono_ms()) != SESS_BRK_CLOSED_NOW)
        return;
    tlog(TLOG_WARN, "session_store_recovered", "\"backend\":\"redis\",\"errors\":%llu",
         (unsigned long long)rs->errors);
    sess_redis_wb_start(rs);
}

void sess_redis_circ_failure(sess_redis_t *rs, sess_redis_op_t *op)
{
    rs->errors++;
    sess_brk_event_t ev = sess_breaker_failure(&rs->brk, op->is_probe, clock_mono_ms());
    if (ev == SESS_BRK_SAME) return;
    if (ev == SESS_BRK_OPENED)
        tlog(TLOG_WARN, "session_store_degraded",
             "\"backend\":\"redis\",\"fallback\":\"memory\",\"consecutive_errors\":%u,"
             "\"open_ms\":%llu",
             rs->brk.failures_to_open, (unsigned long long)rs->brk.open_ms);
    sess_redis_wb_stop(rs);
    sess_redis_drop_conn(rs);
}

/* ---- ops ---- */

void sess_redis_op_free(sess_redis_op_t *op)
{
    sess_redis_t *rs = op->rs;
    if (op->prev)
        op->prev->next = op->next;
    else if (rs->pending == op)
        rs->pending = op->next;
    if (op->next) op->next->prev = op->prev;
    if (op->is_writeback && rs->wb_inflight) rs->wb_inflight--;
    if (op->timer) event_free(op->timer);
    free(op->key);
    free(op->model);
    free(op->hashes);
    free(op);
}

static void on_timeout(evutil_socket_t fd, short what, void *arg)
{
    sess_redis_op_t *op = arg;
    if (op->completed) return;
    sess_redis_t *rs = op->rs;
    sess_redis_op_fallback(op);
    /* may free the context: hiredis then calls on_reply(NULL), which frees
     * op (completed); so op is not touched after this */
    sess_redis_circ_failure(rs, op);
}

sess_redis_op_t *sess_redis_op_new(sess_redis_t *rs, sess_redis_op_kind_t kind, const char *key,
                                   void *ud)
{
    sess_redis_op_t *op = calloc(1, sizeof *op);
    if (!op) abort();
    op->rs = rs;
    op->kind = kind;
    op->ud = ud;
    if (key) op->key = strdup(key);
    op->next = rs->pending;
    if (rs->pending) rs->pending->prev = op;
    rs->pending = op;
    return op;
}

static void on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
    sess_redis_op_t *op = privdata;
    sess_redis_t *rs = op->rs;
    redisReply *r = reply;
    if (op->completed) {
        sess_redis_op_free(op);
        return;
    }
    bool ok = r && r->type != REDIS_REPLY_ERROR;
    if (ok) ok = sess_redis_reply(op, r);
    if (!ok) {
        if (r && r->type == REDIS_REPLY_ERROR)
            tlog(TLOG_DEBUG, "session_store_redis_error", "\"error\":\"%.80s\"", r->str);
        sess_redis_circ_failure(rs, op);
        if (!op->completed) sess_redis_op_fallback(op);
    }
    sess_redis_op_free(op);
}

/* Send argv for op, or fall back at once. Takes care of the circuit, the
 * connection and the timer. */
void sess_redis_op_send(sess_redis_op_t *op, int argc, const char **argv, const size_t *lens)
{
    sess_redis_t *rs = op->rs;
    if (!circ_admit(rs, op)) {
        sess_redis_op_fallback(op);
        sess_redis_op_free(op);
        return;
    }
    if (!sess_redis_connect(rs) ||
        redisAsyncCommandArgv(rs->ac, on_reply, op, argc, argv, lens) != REDIS_OK) {
        sess_redis_circ_failure(rs, op);
        sess_redis_op_fallback(op);
        sess_redis_op_free(op);
        return;
    }
    op->sent = true;
    op->timer = evtimer_new(rs->evb, on_timeout, op);
    struct timeval tv = {(time_t)(rs->timeout_ms / 1000),
                         (suseconds_t)(rs->timeout_ms % 1000) * 1000};
    evtimer_add(op->timer, &tv);
}

bool sess_redis_parse_address(sess_redis_t *rs, const char *addr, char *err, size_t errlen)
{
    if (!addr || !*addr) addr = "127.0.0.1:6379";
    if (strncmp(addr, "redis://", 8) == 0) addr += 8;
    if (strncmp(addr, "unix:", 5) == 0) {
        rs->unix_path = strdup(addr + 5);
        return true;
    }
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hl == 0 || hl >= sizeof rs->host) {
        snprintf(err, errlen, "redis address '%s': expected host:port or unix:/path", addr);
        return false;
    }
    memcpy(rs->host, addr, hl);
    rs->host[hl] = 0;
    rs->port = 6379;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || p <= 0 || p > 65535) {
            snprintf(err, errlen, "redis address '%s': bad port", addr);
            return false;
        }
        rs->port = (int)p;
    }
    return true;
}
