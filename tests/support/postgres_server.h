/* postgres_server.h - test support: a throwaway PostgreSQL cluster on a
 * loopback port, created with Debian's initdb in a temp dir and started
 * with its postgres binary (/usr/lib/postgresql/<ver>/bin), trust auth,
 * no fsync. Under root the server runs as the `postgres` user (PostgreSQL
 * refuses root). The server dies with the test (PR_SET_PDEATHSIG).
 *
 * Typical use:
 *   static tpg_t pg;
 *   TPG_NEED();                       // skip when PostgreSQL is missing
 *   assert_int_equal(tpg_start(&pg, tsupport_free_port()), 0);
 *   ... connect with pg.conninfo ("host=127.0.0.1 port=P user=tether dbname=postgres")
 *   tpg_kill(&pg);                    // an outage: immediate shutdown (SIGQUIT)
 *   tpg_start(&pg, pg.port);          // back, same data directory
 *   tpg_stop(&pg);                    // stop and remove the directory
 *
 * Not thread-safe; one tpg_t per server. */
#ifndef TETHER_TEST_POSTGRES_SERVER_H
#define TETHER_TEST_POSTGRES_SERVER_H
#include <stdio.h>
#include <sys/types.h>

typedef struct tpg {
    pid_t pid; /* 0 when not running */
    int port;
    char dir[256]; /* data directory ("" until the first start) */
    char conninfo[256];
} tpg_t;

/* The directory holding initdb and postgres, or NULL when not installed. */
const char *tpg_bindir(void);
/* initdb (first time) and start on 127.0.0.1:port; wait (up to 20 s) until
 * it accepts connections. Returns 0 or -1. */
int tpg_start(tpg_t *p, int port);
/* Immediate shutdown (SIGQUIT: no checkpoint, clients cut), and reap. */
void tpg_kill(tpg_t *p);
/* Stop (if running) and remove the data directory. */
void tpg_stop(tpg_t *p);

#define TPG_NEED()                                                                                 \
    do {                                                                                           \
        if (!tpg_bindir()) {                                                                       \
            fprintf(stderr, "SKIP: PostgreSQL is not installed (scripts/deps.sh)\n");              \
            skip();                                                                                \
        }                                                                                          \
    } while (0)
#endif
