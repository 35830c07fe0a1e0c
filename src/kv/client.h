/* client.h - the Redis layer: one non-blocking connection to one Redis on
 * one libevent loop, used by every Redis user (the session store, the
 * Responses store, the response cache).
 *
 * A kv_t parses its address once (kv_addr_parse), connects lazily with
 * hiredis' async API on the caller's event base, pipelines AUTH, SELECT and
 * SCRIPT LOAD of its scripts ahead of any command on each new connection,
 * bounds every command with a timer of timeout_ms, and sends every command
 * through a circuit breaker (kv/breaker.h): after failures_to_open
 * consecutive failures (error reply, timeout, lost connection, a reply the
 * caller calls malformed) the circuit opens for a jittered open_ms, during
 * which commands are refused at once (KV_EOPEN, callback inline); when the
 * interval elapses the layer sends its own PING as the probe (4 x
 * timeout_ms, at least 500 ms; or, with probe_is_call, the command that
 * found the interval elapsed goes as the probe) and its result alone
 * closes the circuit.
 * Opening drops the connection; the next admitted command reconnects.
 *
 * Nothing here blocks. TLS (rediss://) is not available: Debian's hiredis
 * 0.14 has no hiredis_ssl, so such an address is refused with a message.
 *
 * Not thread-safe: one kv_t per event loop (per worker). */
#ifndef TETHER_KV_CLIENT_H
#define TETHER_KV_CLIENT_H
#include "config/global.h"
#include "kv/breaker.h"
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct event_base;

/* ---- addresses ---- */

typedef struct kv_addr {
    char host[256]; /* TCP host ("" for a unix socket) */
    int port;       /* TCP port (6379 when omitted) */
    char *unix_path;
} kv_addr_t;

/* "host:port", "host" (port 6379), "redis://host:port[/...]" or
 * "[redis://]unix:/path"; NULL or "" is 127.0.0.1:6379. False with a
 * diagnostic in err for anything else (including rediss://: no TLS). */
bool kv_addr_parse(kv_addr_t *a, const char *addr, char *err, size_t errlen);
void kv_addr_deinit(kv_addr_t *a);

/* ---- a connection ---- */

typedef struct kv kv_t;

typedef struct kv_opts {
    const char *address;  /* see kv_addr_parse */
    const char *username; /* NULL: AUTH with the password alone */
    const char *password; /* NULL or "": no AUTH */
    int db;               /* SELECT when > 0 */
    uint64_t timeout_ms;  /* per command; 0: 50 */
    /* circuit breaker: 0s take the defaults (3 failures, 5000 ms, 20 %) */
    unsigned failures_to_open;
    uint64_t open_ms;
    unsigned jitter_pct;
    /* Lua scripts loaded on every new connection (borrowed, must outlive
     * the kv_t); kv_eval calls them by SHA1 */
    const char *const *scripts;
    size_t n_scripts;
    /* the probe: false, a PING of the layer's own while the caller's
     * command is refused (KV_EOPEN); true, the caller's command itself */
    bool probe_is_call;
    const char *name; /* for log lines ("session_store", ...) */
    /* circuit transitions: opened (closed -> open) and recovered (the probe
     * closed it), run on the loop; either may be NULL */
    void (*on_open)(void *ud);
    void (*on_recover)(void *ud);
    void *hook_ud;
} kv_opts_t;

/* Options kept by a user that opens its connections later (one per loop
 * or thread): the address checked once, the strings copied into it. */
typedef struct kv_conf {
    kv_opts_t o; /* its strings point into this kv_conf_t */
    char *address, *username, *password;
} kv_conf_t;
/* False with a diagnostic in err when the address is malformed. */
bool kv_conf_init(kv_conf_t *k, const kv_opts_t *o, char *err, size_t errlen);
void kv_conf_deinit(kv_conf_t *k);

/* Options from a config section (the password, else getenv(password_env)).
 * Strings are borrowed from r. */
void kv_opts_from_cfg(const cfg_redis_t *r, kv_opts_t *out);

typedef enum {
    KV_OK = 0,  /* a reply that is not an error */
    KV_EREPLY,  /* an error reply (r->str says which) */
    KV_EOPEN,   /* the circuit is open: not sent */
    KV_ECONN,   /* no connection, or it was lost before the reply */
    KV_ETIMEOUT /* no reply within timeout_ms */
} kv_status_t;

/* A command's result, run once on the loop (inline from kv_cmd for
 * KV_EOPEN and a failed send). r is valid for the call only (NULL unless
 * KV_OK or KV_EREPLY). Return true when the result is good for the breaker
 * (a success), false to count it as a failure (e.g. a malformed reply); the
 * return is ignored for EOPEN, ECONN and ETIMEOUT (already failures, or not
 * sent). A NULL callback counts OK as success and EREPLY as failure. */
typedef bool (*kv_reply_cb)(void *ud, kv_status_t st, redisReply *r);

/* Parses the address and options; does not connect (the first command
 * does). NULL with a diagnostic in err when the address is malformed. */
kv_t *kv_new(struct event_base *evb, const kv_opts_t *o, char *err, size_t errlen);
/* Drops the connection; commands in flight are abandoned without their
 * callbacks. */
void kv_free(kv_t *c);

/* Send one command (binary-safe argv). The callback runs exactly once. */
void kv_cmd(kv_t *c, kv_reply_cb cb, void *ud, int argc, const char **argv, const size_t *lens);
/* EVALSHA of script `script` (an index into opts.scripts) with argv =
 * numkeys, keys..., args...; when Redis answers NOSCRIPT (flushed, or a
 * failover), the script is sent once more as EVAL. */
void kv_eval(kv_t *c, size_t script, kv_reply_cb cb, void *ud, int argc, const char **argv,
             const size_t *lens);

/* Write the commands queued so far to the socket now (non-blocking)
 * rather than at the loop's next turn: a caller about to answer its client
 * makes sure Redis has its write first. No-op while not connected. */
void kv_flush(kv_t *c);

/* ---- state ---- */

bool kv_is_degraded(const kv_t *c); /* the circuit is not closed */
uint64_t kv_failures(const kv_t *c);
uint64_t kv_transitions(const kv_t *c); /* closed -> open and -> closed */
const kv_breaker_t *kv_breaker(const kv_t *c);
struct event_base *kv_base(const kv_t *c);
#endif
