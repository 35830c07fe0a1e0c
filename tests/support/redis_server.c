/* redis_server.c - test support: start, reach, kill and stop a throwaway
 * redis-server on a loopback port (see redis_server.h). */
#include "redis_server.h"
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

const char *tredis_bin(void)
{
    static const char *const cands[] = {"/usr/bin/redis-server", "/usr/local/bin/redis-server",
                                        "/usr/sbin/redis-server"};
    for (size_t i = 0; i < sizeof cands / sizeof cands[0]; i++)
        if (access(cands[i], X_OK) == 0) return cands[i];
    return NULL;
}

redisContext *tredis_connect(const tredis_t *r)
{
    struct timeval tv = {1, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", r->port, tv);
    if (c && c->err) {
        redisFree(c);
        return NULL;
    }
    return c;
}

int tredis_start(tredis_t *r, int port)
{
    const char *bin = tredis_bin();
    if (!bin || port <= 0) return -1;
    r->port = port;
    snprintf(r->addr, sizeof r->addr, "127.0.0.1:%d", port);
    char p[16];
    snprintf(p, sizeof p, "%d", port);
    const char *argv[] = {bin, "--port",       p,    "--bind",           "127.0.0.1", "--save",
                          "",  "--appendonly", "no", "--protected-mode", "no",        NULL};
    if (tproc_spawn(&r->proc, argv, TPROC_QUIET) != 0) return -1;
    /* bounded (30 s: a loaded machine); a server that exits (its port
     * taken) is seen at once */
    for (int i = 0; i < 3000 && tproc_wait(&r->proc, 0) < 0; i++) {
        redisContext *c = tredis_connect(r);
        if (c) {
            redisReply *rep = redisCommand(c, "PING");
            bool ok = rep && rep->type == REDIS_REPLY_STATUS;
            freeReplyObject(rep);
            redisFree(c);
            if (ok) return 0;
        }
        struct timespec ts = {0, 10 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return -1;
}

void tredis_kill(tredis_t *r)
{
    tproc_signal(&r->proc, SIGKILL);
    tproc_wait(&r->proc, 5000);
    tproc_stop(&r->proc, 1000);
}

int tredis_stop(tredis_t *r, int timeout_ms)
{
    if (r->proc.pid <= 0) return -1; /* never started */
    return tproc_stop(&r->proc, timeout_ms);
}

tredis_t tredis_srv;

int tredis_group_setup(void **state)
{
    (void)state;
    if (!tredis_bin()) return 0;
    return tredis_start(&tredis_srv, tsupport_free_port());
}

int tredis_group_teardown(void **state)
{
    (void)state;
    tredis_stop(&tredis_srv, 5000);
    return 0;
}
