/* redis_server.h - test support: a throwaway redis-server on a loopback
 * port, started by the test and killed with it (no persistence, no
 * protected mode).
 *
 * Typical use:
 *   static tredis_t srv;
 *   if (!tredis_bin()) ... skip: redis-server is not installed
 *   assert_int_equal(tredis_start(&srv, tsupport_free_port()), 0);
 *   ... connect to srv.addr ("127.0.0.1:PORT") or tredis_connect(&srv) ...
 *   tredis_kill(&srv);          // an outage: SIGKILL and reap
 *   tredis_start(&srv, srv.port); // back on the same port
 *   tredis_stop(&srv, 5000);
 *
 * Not thread-safe; one tredis_t per server. */
#ifndef TETHER_TEST_REDIS_SERVER_H
#define TETHER_TEST_REDIS_SERVER_H
#include "proc.h"
#include <hiredis/hiredis.h>

typedef struct tredis {
    tproc_t proc;
    int port;
    char addr[64]; /* "127.0.0.1:PORT" */
} tredis_t;

/* The installed redis-server (/usr/bin, /usr/local/bin, /usr/sbin), or
 * NULL when there is none. */
const char *tredis_bin(void);
/* Start redis-server on 127.0.0.1:port and wait (up to 30 s) until it
 * answers PING. Returns 0, or -1 (not installed, spawn failed, it exited,
 * no answer). */
int tredis_start(tredis_t *r, int port);
/* A blocking connection to r (1 s timeout), or NULL. Free with redisFree. */
redisContext *tredis_connect(const tredis_t *r);
/* SIGKILL the server and reap it (a crash, not a shutdown). */
void tredis_kill(tredis_t *r);
/* SIGTERM, then SIGKILL after timeout_ms (see tproc_stop). */
int tredis_stop(tredis_t *r, int timeout_ms);

/* One server for a whole test program: the cmocka group setup starts
 * tredis_srv on a free port when redis-server is installed (else each test
 * skips with TREDIS_NEED); the teardown stops it. */
extern tredis_t tredis_srv;
int tredis_group_setup(void **state);
int tredis_group_teardown(void **state);

/* In a cmocka test: skip, with a message, when redis-server is missing. */
#define TREDIS_NEED()                                                                              \
    do {                                                                                           \
        if (!tredis_bin()) {                                                                       \
            fprintf(stderr, "SKIP: redis-server is not installed (scripts/deps.sh)\n");            \
            skip();                                                                                \
        }                                                                                          \
    } while (0)
#endif
