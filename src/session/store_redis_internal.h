/* store_redis_internal.h - private to the Redis session store: its state,
 * one in-flight operation, and the calls its four files make on each
 * other. store_redis.c (operations, scripts, mirror, recovery),
 * store_redis_transport.c (operations over the Redis layer, kv/client.h,
 * which owns the connection, timers and circuit), store_redis_writeback.c
 * and store_redis_record.c (record JSON). Not for other modules: use
 * session/store.h. */
#ifndef TETHER_SESSION_STORE_REDIS_INTERNAL_H
#define TETHER_SESSION_STORE_REDIS_INTERNAL_H
#include "core/buf.h"
#include "kv/client.h"
#include "session/store.h"
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    OP_GET,
    OP_COMMIT,
    OP_USAGE,
    OP_CHAIN_PUT,
    OP_CHAIN_FIND,
    OP_OPENER_PUT,
    OP_OPENER_GET,
    OP_PUT_NEWER
} sess_redis_op_kind_t;

typedef struct sess_redis sess_redis_t;

typedef struct sess_redis_op {
    sess_redis_t *rs;
    sess_redis_op_kind_t kind;
    bool completed;                    /* the caller's callback has run */
    bool is_writeback;                 /* a paced write-back push (counted in wb_inflight) */
    struct sess_redis_op *prev, *next; /* pending list */
    /* arguments, kept for the fallback */
    char *key;
    char *model;
    sess_outcome_t o;
    char o_model[SESS_NAME_MAX], o_backend[SESS_NAME_MAX], o_decision[SESS_NAME_MAX],
        o_reasoning[16], o_trace[28], o_reason[24];
    sess_usage_t usage;
    uint64_t now_ms, opener, put_last_seen;
    uint64_t *hashes;
    size_t n;
    union {
        sess_get_cb get;
        sess_commit_cb commit;
        sess_done_cb done;
        sess_lookup_cb lookup;
    } cb;
    void *ud;
} sess_redis_op_t;

struct sess_redis {
    sess_store_t base;
    struct event_base *evb;
    bool own_base;
    kv_t *kv; /* the connection, per-call timers and the circuit */
    char *prefix;
    uint64_t ttl_ms;
    sess_store_t *fb;
    sess_redis_op_t *pending;
    uint64_t gets, hits, commits, conflicts, usage_adds, fallbacks;
    /* paced write-back of local records after recovery (store_redis_writeback.c) */
    struct event *wb_timer;
    char **wb_keys;
    size_t wb_n, wb_next;
    unsigned wb_inflight;
    uint64_t wb_pushed;
    sess_writeback_token_t *wb_token; /* shared with the process's other workers, or NULL */
    bool wb_owner;                    /* this store holds wb_token */
};

/* ---- store_redis_transport.c ---- */

/* The Redis layer's connection for rs (scripts, hooks for the circuit's
 * transitions). NULL with err set for a malformed address. */
kv_t *sess_redis_kv_new(sess_redis_t *rs, const sess_redis_opts_t *opts, char *err, size_t errlen);
/* A new operation on rs's pending list; key is copied (may be NULL). */
sess_redis_op_t *sess_redis_op_new(sess_redis_t *rs, sess_redis_op_kind_t kind, const char *key,
                                   void *ud);
void sess_redis_op_free(sess_redis_op_t *op);
/* Send argv for op, or fall back at once; op may be freed on return.
 * script: an SCR_* index (EVALSHA; argv starts at numkeys), or -1. */
void sess_redis_op_send(sess_redis_op_t *op, int script, int argc, const char **argv,
                        const size_t *lens);

/* ---- store_redis.c ---- */

/* The store's Lua scripts, by SCR_* index (kv loads them on connect). */
enum { SCR_COMMIT = 0, SCR_USAGE, SCR_PUT_NEWER, SCR_INDEX_PUT, SCR_N };
extern const char *const sess_redis_scripts[SCR_N];
/* Complete op from a non-error reply; false when the reply is malformed. */
bool sess_redis_reply(sess_redis_op_t *op, redisReply *r);
/* Serve op from the local store (inline) and complete it. */
void sess_redis_op_fallback(sess_redis_op_t *op);
/* Push one local record (later last_seen wins); writeback: counted in
 * rs->wb_inflight until it completes. */
void sess_redis_push_local(sess_redis_t *rs, const char *key, const sess_state_t *st,
                           bool writeback);
/* Mirror keys hold copies of what Redis acknowledged (never pushed back). */
bool sess_redis_is_mirror_key(const char *key);

/* ---- store_redis_writeback.c ---- */

/* After recovery: push every local outage record back, a bounded batch per
 * tick, while the circuit stays closed. */
void sess_redis_wb_start(sess_redis_t *rs);
/* Stop (circuit opened again, or the store closes); records not yet pushed
 * stay local and are pushed after the next recovery. */
void sess_redis_wb_stop(sess_redis_t *rs);
/* Local records still waiting to be pushed in the current write-back. */
size_t sess_redis_wb_pending(const sess_redis_t *rs);

/* ---- store_redis_record.c ---- */

/* Append ,"keys[i]":"vals[i]" (JSON strings) for i < n. */
void sess_redis_json_strs(buf_t *b, const char *const *keys, const char *const *vals, size_t n);
void sess_redis_rec_to_json(buf_t *b, const sess_state_t *s);
bool sess_redis_rec_from_json(const char *p, size_t n, sess_state_t *s);

#endif
