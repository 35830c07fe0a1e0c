/* store_redis_transport.c - the Redis session store's operations over the
 * Redis layer (kv/client.h, which owns the connection, the per-call timer
 * of timeout_ms and the circuit breaker): one operation's life (pending
 * list, send, reply or failure), and the store's side of the circuit's
 * transitions: one log line per open/close, and a close starts the paced
 * write-back (store_redis_writeback.c). An operation that fails, times out
 * or arrives while the circuit is open is handed to sess_redis_op_fallback
 * (store_redis.c), and a reply is handed to sess_redis_reply there. Nothing
 * here blocks; one instance per event loop, not thread-safe. */
#include "core/log.h"
#include "session/store_redis_internal.h"
#include <stdlib.h>
#include <string.h>

static void on_open(void *ud)
{
    sess_redis_t *rs = ud;
    const kv_breaker_t *b = kv_breaker(rs->kv);
    tlog(TLOG_WARN, "session_store_degraded",
         "\"backend\":\"redis\",\"fallback\":\"memory\",\"consecutive_errors\":%u,"
         "\"open_ms\":%llu",
         b->failures_to_open, (unsigned long long)b->open_ms);
    sess_redis_wb_stop(rs);
}

static void on_recover(void *ud)
{
    sess_redis_t *rs = ud;
    tlog(TLOG_WARN, "session_store_recovered", "\"backend\":\"redis\",\"errors\":%llu",
         (unsigned long long)kv_failures(rs->kv));
    sess_redis_wb_start(rs);
}

kv_t *sess_redis_kv_new(sess_redis_t *rs, const sess_redis_opts_t *opts, char *err, size_t errlen)
{
    kv_opts_t ko = {.address = opts->address,
                    .password = opts->password,
                    .db = opts->db,
                    .timeout_ms = opts->timeout_ms ? opts->timeout_ms : 50,
                    .failures_to_open = opts->failures_to_open,
                    .open_ms = opts->open_ms,
                    .jitter_pct = 20, /* the open interval varies by +-20 % */
                    .scripts = sess_redis_scripts,
                    .n_scripts = SCR_N,
                    .name = "session_store",
                    .on_open = on_open,
                    .on_recover = on_recover,
                    .hook_ud = rs};
    return kv_new(rs->evb, &ko, err, errlen);
}

void sess_redis_op_free(sess_redis_op_t *op)
{
    sess_redis_t *rs = op->rs;
    if (op->prev)
        op->prev->next = op->next;
    else if (rs->pending == op)
        rs->pending = op->next;
    if (op->next) op->next->prev = op->prev;
    if (op->is_writeback && rs->wb_inflight) rs->wb_inflight--;
    free(op->key);
    free(op->model);
    free(op->hashes);
    free(op);
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

/* The layer's one callback per operation: a reply completes it, anything
 * else (error reply, timeout, lost connection, open circuit) serves it
 * locally. A malformed reply counts as a failure for the circuit. */
static bool on_result(void *ud, kv_status_t st, redisReply *r)
{
    sess_redis_op_t *op = ud;
    bool ok = st == KV_OK && sess_redis_reply(op, r);
    if (!ok) {
        if (st == KV_EREPLY)
            tlog(TLOG_DEBUG, "session_store_redis_error", "\"error\":\"%.80s\"",
                 r->str ? r->str : "");
        if (!op->completed) sess_redis_op_fallback(op);
    }
    sess_redis_op_free(op);
    return ok;
}

void sess_redis_op_send(sess_redis_op_t *op, int script, int argc, const char **argv,
                        const size_t *lens)
{
    if (script >= 0)
        kv_eval(op->rs->kv, (size_t)script, on_result, op, argc, argv, lens);
    else
        kv_cmd(op->rs->kv, on_result, op, argc, argv, lens);
}
