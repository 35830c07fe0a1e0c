/* bench_replay.c - cost of replay on and off the request path: the time a
 * worker spends building and pushing a typical record (the request path),
 * and how many records per second the writer stores and the writer CPU per
 * record (validate, redact, render, SQLite WAL insert in batches; once
 * under the row cap and once at it, where every batch also trims; jsonl and
 * memory for comparison). Also what a burst larger than the queue does
 * (dropped, not stalled).
 * Usage: bench_replay [records]   (default 100000)
 *        bench_replay soak [records] [body_bytes] [dir]
 *   soak: writes records (default 200000) through the queue at the default
 *   caps and sweep period, as the server would, and reports the rows and the
 *   database and WAL sizes after the writes, after a sweep and after close.
 *   The directory (default a temp dir, removed after) keeps the file. */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/clock.h"
#include "replay/queue.h"
#include "replay/store.h"

static uint64_t base_ms = 1714564800000ull;
static size_t body_bytes; /* soak: request body per record */

static uint64_t cpu_us(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000u +
           (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* CPU time of the calling thread: what a worker would pay, whatever else
 * runs on the machine. */
static uint64_t thread_cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A record built the way the proxy builds one (upstream/trace.c): strings
 * copied into the record's own pool with replay_record_puts. */
static replay_record_t *make(uint64_t i)
{
    replay_record_t *r = replay_record_new(base_ms + i);
    replay_record_puts(r, &r->request_id, "req-0123456789");
    replay_record_puts(r, &r->endpoint, "/v1/chat/completions");
    replay_record_puts(r, &r->client_protocol, "openai_chat");
    replay_record_puts(r, &r->upstream_protocol, "openai_chat");
    replay_record_puts(r, &r->tenant, "team-a");
    replay_record_puts(r, &r->decision, i % 3 ? "coding" : "chat");
    replay_record_puts(r, &r->decision_trace_json,
                       "{\"matched\":[\"coding\"],\"evaluated\":[\"coding\",\"chat\",\"math\"],"
                       "\"rule\":\"keyword:code OR domain:cs\"}");
    replay_record_puts(r, &r->signals_json,
                       "[{\"family\":\"keyword\",\"name\":\"code\",\"score\":1,\"us\":3},"
                       "{\"family\":\"domain\",\"name\":\"cs\",\"score\":0.82,\"us\":41}]");
    replay_record_puts(
        r, &r->candidates_json,
        "[{\"model\":\"big\",\"admissible\":true,\"excluded_reason\":null,\"base\":0.81,"
        "\"quality_gap\":0,\"downgrade_credit\":0,\"handoff_penalty\":0,"
        "\"prefix_benefit\":0.12,\"prefix_penalty\":0,\"history_penalty\":0,"
        "\"switch_margin\":0,\"stay_bias\":0.05,\"tool_loop_term\":0,"
        "\"checkout_multiplier\":0.1,\"final\":0.98,\"net_switch_advantage\":0},"
        "{\"model\":\"small\",\"admissible\":true,\"excluded_reason\":null,\"base\":0.7,"
        "\"quality_gap\":0.03,\"downgrade_credit\":0.02,\"handoff_penalty\":0.04,"
        "\"prefix_benefit\":0,\"prefix_penalty\":0.11,\"history_penalty\":0.01,"
        "\"switch_margin\":0.05,\"stay_bias\":0,\"tool_loop_term\":0,"
        "\"checkout_multiplier\":1,\"final\":0.52,\"net_switch_advantage\":-0.46}]");
    replay_record_puts(r, &r->model, "big");
    r->has_session = true;
    char sid[32];
    snprintf(sid, sizeof sid, "sess-%llu", (unsigned long long)(i / 20));
    replay_record_puts(r, &r->session.id, sid);
    replay_record_puts(r, &r->session.identity_source, "header:x-session-id");
    r->session.turn = (int64_t)(i % 20) + 1;
    replay_record_puts(r, &r->session.phase, "turn");
    replay_record_puts(r, &r->session.reason, "stay_best_adjusted");
    replay_record_puts(r, &r->backend, "b1");
    replay_record_puts(r, &r->response_path, "upstream");
    r->status = 200;
    r->usage.prompt = 12000;
    r->usage.cached = 11000;
    r->usage.completion = 300;
    if (body_bytes) {
        char *b = malloc(body_bytes);
        if (!b) abort();
        for (size_t k = 0; k < body_bytes; k++)
            b[k] = (char)('a' + (k * 31 + i) % 26);
        replay_record_set_body(r, 0, b, body_bytes, 0);
        free(b);
    }
    return r;
}

/* max_records 0: twice n, so the cap never applies. */
static void run(const char *label, const char *store, const char *path, size_t n,
                int64_t max_records)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = store;
    c.path = path;
    c.max_records = max_records ? max_records : (int64_t)n * 2;
    c.queue_size = (int64_t)n + 1; /* measure the writer, not drops */
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.data);
        exit(2);
    }
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true);
    uint64_t t0 = clock_mono_us(), w0 = thread_cpu_ns();
    for (size_t i = 0; i < n; i++)
        replay_queue_push(q, make(i));
    uint64_t t1 = clock_mono_us(), w1 = thread_cpu_ns();
    /* only the writer runs from here on: the process CPU is its CPU */
    uint64_t c1 = cpu_us();
    replay_queue_pause(q, false);
    replay_queue_flush(q, 600000);
    uint64_t t2 = clock_mono_us(), c2 = cpu_us();
    replay_stats_t x;
    replay_queue_free(q, 1000, &x);
    /* plus one sweep, which is where caps used to be enforced: the cost of
     * keeping the cap, whichever side pays it */
    size_t removed = 0;
    replay_store_sweep(s, base_ms + n, &removed, NULL);
    uint64_t c3 = cpu_us();
    printf("%-10s build+push %6.2f us/record (%5.2f us thread CPU)   writer %8.0f records/s %6.1f "
           "us CPU/record "
           "(%5.1f with a sweep)   written %llu dropped %llu errors %llu\n",
           label, (double)(t1 - t0) / (double)n, (double)(w1 - w0) / 1e3 / (double)n,
           (double)n * 1e6 / (double)(t2 - t1), (double)(c2 - c1) / (double)n,
           (double)(c3 - c1) / (double)n, (unsigned long long)x.written,
           (unsigned long long)x.dropped, (unsigned long long)x.errors);
    replay_store_close(s);
    buf_free(&err);
}

/* The worker's side at a steady state: records built and pushed while the
 * writer keeps up (a flush every 128 records, as a server's writer drains
 * the queue between requests), so freed records come back for reuse. The
 * pushing thread's CPU only: what a worker pays per request for replay. */
static void worker_steady(const char *path, size_t n)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = path;
    c.max_records = (int64_t)n * 2;
    replay_store_t *s = replay_store_open(&c, NULL);
    if (!s) exit(2);
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    uint64_t spent = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t a = thread_cpu_ns();
        replay_queue_push(q, make(i));
        spent += thread_cpu_ns() - a;
        if (i % 128 == 127) replay_queue_flush(q, 600000);
    }
    replay_stats_t x;
    replay_queue_free(q, 60000, &x);
    printf("worker (steady, sqlite): build+push %5.2f us thread CPU/record   written %llu dropped "
           "%llu\n",
           (double)spent / 1e3 / (double)n, (unsigned long long)x.written,
           (unsigned long long)x.dropped);
    replay_store_close(s);
}

static void burst(size_t n)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.max_records = 10000;
    replay_store_t *s = replay_store_open(&c, NULL);
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0); /* queue_size 10000 */
    uint64_t t0 = clock_mono_us(), worst = 0;
    for (size_t i = 0; i < n; i++) {
        replay_record_t *r = make(i);
        uint64_t a = clock_mono_us();
        replay_queue_push(q, r);
        uint64_t d = clock_mono_us() - a;
        if (d > worst) worst = d;
    }
    uint64_t t1 = clock_mono_us();
    replay_stats_t x;
    replay_queue_free(q, 60000, &x);
    printf("burst of %zu into queue_size 10000 (memory store): %.2f us/record, worst push %llu us, "
           "written %llu, dropped %llu\n",
           n, (double)(t1 - t0) / (double)n, (unsigned long long)worst,
           (unsigned long long)x.written, (unsigned long long)x.dropped);
    replay_store_close(s);
}

static long long fsize(const char *path, const char *suffix)
{
    char p[512];
    struct stat sb;
    snprintf(p, sizeof p, "%s%s", path, suffix);
    return stat(p, &sb) == 0 ? (long long)sb.st_size : 0;
}

static void soak_report(const char *when, const char *path)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    long long rows = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
        sqlite3_prepare_v2(db, "SELECT count(*) FROM replay", -1, &st, NULL) == SQLITE_OK) {
        if (sqlite3_step(st) == SQLITE_ROW) rows = sqlite3_column_int64(st, 0);
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    printf("  %-16s rows %8lld   db %8.1f MB   wal %8.1f MB\n", when, rows,
           (double)fsize(path, "") / 1e6, (double)fsize(path, "-wal") / 1e6);
}

/* The server's way: default caps, 60 s sweeps, records stamped now. */
static void soak(size_t n, const char *path)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = path;
    buf_t err = BUF_INIT;
    bool existed = fsize(path, "") > 0;
    if (existed) soak_report("before open", path);
    uint64_t t = clock_mono_us();
    replay_store_t *s = replay_store_open(&c, &err); /* may convert an existing file */
    if (!s) {
        fprintf(stderr, "%s\n", err.data);
        exit(2);
    }
    if (existed) {
        printf("  open: %.1f ms\n", (double)(clock_mono_us() - t) / 1e3);
        soak_report("after open", path);
    }
    base_ms = clock_wall_ms();
    replay_queue_t *q = replay_queue_new(s, &c);
    uint64_t t0 = clock_mono_us(), c0 = cpu_us();
    for (size_t i = 0; i < n; i++) {
        replay_queue_push(q, make(i));
        if (i % 5000 == 4999) replay_queue_flush(q, 600000); /* no drops */
    }
    replay_queue_flush(q, 600000);
    uint64_t t1 = clock_mono_us(), c1 = cpu_us();
    replay_stats_t x;
    replay_queue_free(q, 1000, &x);
    printf("soak: %zu records (body %zu bytes) in %.1f s, %.1f us CPU/record (build+write), "
           "written %llu dropped %llu swept %llu\n",
           n, body_bytes, (double)(t1 - t0) / 1e6, (double)(c1 - c0) / (double)n,
           (unsigned long long)x.written, (unsigned long long)x.dropped,
           (unsigned long long)x.swept);
    soak_report("after writes", path);
    size_t removed = 0;
    uint64_t t2 = clock_mono_us();
    replay_store_sweep(s, clock_wall_ms(), &removed, &err);
    printf("  sweep: %.1f ms, %zu removed\n", (double)(clock_mono_us() - t2) / 1e3, removed);
    soak_report("after a sweep", path);
    replay_store_close(s);
    soak_report("after close", path);
    buf_free(&err);
}

int main(int argc, char **argv)
{
    bool is_soak = argc > 1 && !strcmp(argv[1], "soak");
    if (is_soak) argv++, argc--;
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : is_soak ? 200000 : 100000;
    char dir[] = "/tmp/bench-replay-XXXXXX", p1[512], p2[512];
    if (is_soak) {
        body_bytes = argc > 2 ? (size_t)strtoull(argv[2], NULL, 10) : 0;
        if (argc > 3) {
            snprintf(p1, sizeof p1, "%s/replay-soak.db", argv[3]);
            soak(n, p1);
            return 0;
        }
    }
    if (!mkdtemp(dir)) return 2;
    snprintf(p1, sizeof p1, "%s/r.db", dir);
    snprintf(p2, sizeof p2, "%s/r.jsonl", dir);
    if (is_soak) {
        soak(n, p1);
    } else {
        run("sqlite", "sqlite", p1, n, 0);
        if (unlink(p1)) return 2;
        worker_steady(p1, n);
        if (unlink(p1)) return 2;
        run("sqlite-cap", "sqlite", p1, n, (int64_t)n / 4); /* 3/4 of the writes trim */
        run("jsonl", "jsonl", p2, n, 0);
        run("memory", "memory", NULL, n, 0);
        burst(n);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 2;
    return 0;
}
