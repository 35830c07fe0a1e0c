/* bench_replay_shared.c - write throughput of the shared replay stores:
 * records per second through the replay queue into `redis` and `postgres`
 * (one writer: the queue's thread hands batches to the store's spool
 * thread), and tether's CPU per record (the writer's validation, redaction
 * and flattening plus the spool's encoding and client work; the servers'
 * own CPU is not counted). Starts a throwaway redis-server and PostgreSQL
 * on loopback (skips a store that is not installed).
 * Usage: bench_replay_shared [records]   (default 50000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>

#include "core/clock.h"
#include <libpq-fe.h>
#include "postgres_server.h"
#include "proc.h"
#include "redis_server.h"
#include "replay/queue.h"
#include "replay/spool.h"
#include "replay/store.h"

typedef struct redis_replay_opts { /* store_redis.c's options block */
    char *address, *password_env, *key_prefix;
    int64_t db, timeout_ms, buffer_records;
} redis_replay_opts_t;

typedef struct pg_replay_opts { /* store_postgres.c's options block */
    char *conninfo, *password_env, *table;
    int64_t retention_days, timeout_ms, buffer_records;
} pg_replay_opts_t;

static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static replay_record_t *make(uint64_t i)
{
    replay_record_t *r = replay_record_new(1714564800000ull + i);
    replay_record_set(&r->request_id, "req-0123456789");
    replay_record_set(&r->endpoint, "/v1/chat/completions");
    replay_record_set(&r->decision, i % 3 ? "coding" : "chat");
    replay_record_set(&r->decision_trace_json, "{\"matched\":[\"coding\"],\"evaluated\":3}");
    replay_record_set(&r->signals_json,
                      "[{\"family\":\"keyword\",\"name\":\"code\",\"score\":1,\"us\":3}]");
    replay_record_set(&r->candidates_json,
                      "[{\"model\":\"big\",\"admissible\":true,\"excluded_reason\":null,"
                      "\"base\":0.81,\"prefix_benefit\":0.12,\"stay_bias\":0.05,\"final\":0.98},"
                      "{\"model\":\"small\",\"admissible\":true,\"excluded_reason\":null,"
                      "\"base\":0.7,\"handoff_penalty\":0.04,\"final\":0.52}]");
    replay_record_set(&r->model, "big");
    r->has_session = true;
    char sid[32];
    snprintf(sid, sizeof sid, "sess-%llu", (unsigned long long)(i / 20));
    replay_record_set(&r->session.id, sid);
    r->session.turn = (int64_t)(i % 20) + 1;
    replay_record_set(&r->session.phase, "turn");
    replay_record_set(&r->session.reason, "stay_best_adjusted");
    replay_record_set(&r->session.hard_lock, "none");
    r->status = 200;
    r->usage.prompt = 12000;
    r->usage.completion = 300;
    return r;
}

/* Bytes the server holds for the records (printed after the run). */
static long long redis_bytes(tredis_t *r)
{
    redisContext *c = tredis_connect(r);
    long long v = -1;
    redisReply *rep = c ? redisCommand(c, "INFO memory") : NULL;
    const char *m = rep && rep->str ? strstr(rep->str, "used_memory:") : NULL;
    if (m) v = atoll(m + strlen("used_memory:"));
    freeReplyObject(rep);
    if (c) redisFree(c);
    return v;
}

/* Redis CPU spent in the store's script, from INFO commandstats. */
static double redis_script_us(tredis_t *r)
{
    redisContext *c = tredis_connect(r);
    double v = -1;
    redisReply *rep = c ? redisCommand(c, "INFO commandstats") : NULL;
    const char *m = rep && rep->str ? strstr(rep->str, "cmdstat_evalsha:") : NULL;
    m = m ? strstr(m, "usec=") : NULL;
    if (m) v = atof(m + 5);
    freeReplyObject(rep);
    if (c) redisFree(c);
    return v;
}

static long long pg_bytes(const tpg_t *p)
{
    PGconn *c = PQconnectdb(p->conninfo);
    PGresult *r = PQexec(c, "SELECT pg_total_relation_size('bench')");
    long long v = PQresultStatus(r) == PGRES_TUPLES_OK ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static void run(const char *label, const char *store, const void *opts, size_t n)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = store;
    c.opts = opts;
    c.max_records = (int64_t)n * 2;
    c.queue_size = (int64_t)n + 1;
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) {
        fprintf(stderr, "%s: %s\n", label, err.data);
        buf_free(&err);
        return;
    }
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true);
    for (size_t i = 0; i < n; i++)
        replay_queue_push(q, make(i));
    uint64_t t0 = clock_mono_us(), c0 = cpu_us();
    replay_queue_pause(q, false);
    replay_queue_flush(q, 600000);
    replay_store_flush(s, 600000);
    uint64_t t1 = clock_mono_us(), c1 = cpu_us();
    replay_stats_t x;
    replay_queue_free(q, 1000, &x);
    replay_spool_stats_t ss;
    replay_store_spool_stats(s, &ss);
    printf("%-9s %8.0f records/s   %6.1f us tether CPU/record   stored %llu dropped %llu "
           "errors %llu\n",
           label, (double)n * 1e6 / (double)(t1 - t0), (double)(c1 - c0) / (double)n,
           (unsigned long long)ss.written, (unsigned long long)(x.dropped + ss.dropped),
           (unsigned long long)ss.errors);
    replay_store_close(s);
    buf_free(&err);
}

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 50000;
    printf("shared replay stores, %zu records, one writer (queue thread + spool thread)\n", n);
    tredis_t rs = {0};
    if (tredis_bin() && tredis_start(&rs, tsupport_free_port()) == 0) {
        redis_replay_opts_t o = {.address = rs.addr,
                                 .key_prefix = "bench:",
                                 .timeout_ms = 2000,
                                 .buffer_records = (int64_t)n + 1};
        long long before = redis_bytes(&rs);
        run("redis", "redis", &o, n);
        printf("redis     %.0f bytes of server memory, %.1f us of server CPU (script) per record\n",
               (double)(redis_bytes(&rs) - before) / (double)n, redis_script_us(&rs) / (double)n);
        tredis_stop(&rs, 5000);
    } else {
        printf("redis     skipped (redis-server not installed or did not start)\n");
    }
    tpg_t pg = {0};
    if (tpg_bindir() && tpg_start(&pg, tsupport_free_port()) == 0) {
        pg_replay_opts_t o = {.conninfo = pg.conninfo,
                              .table = "bench",
                              .retention_days = 0,
                              .timeout_ms = 30000,
                              .buffer_records = (int64_t)n + 1};
        run("postgres", "postgres", &o, n);
        printf("postgres  %.0f bytes on disk per row (table and indexes)\n",
               (double)pg_bytes(&pg) / (double)n);
    } else {
        printf("postgres  skipped (PostgreSQL not installed or did not start)\n");
    }
    tpg_stop(&pg);
    return 0;
}
