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
 *   The directory (default a temp dir, removed after) keeps the file.
 *        bench_replay writer [records] [routed|bench]
 *   writer: only the sqlite writer row (for callgrind: --toggle-collect=write_batch);
 *   routed: records of the routed shape (make_routed, 4.1 KB; the signals'
 *   timings differ per record, the trace and candidates repeat, as a
 *   router's do) instead of the synthetic one (1.6 KB). The default run
 *   prints the sqlite rows of both. bench: the routed shape with the
 *   sessions of `make bench` (128 ids, every one busy from the first record
 *   to the last, turns taken in turn) instead of 200 at a time that end
 *   after 20 turns: the session index then gets entries all over it.
 *        bench_replay rate [records_per_s] [seconds]
 *   rate: records pushed at a steady rate (default 20000/s for 5 s) through
 *   the default queue (10000) into the default store, as workers would;
 *   reports the writer thread's CPU per record and the drops. */
#include <dirent.h>
#include <sqlite3.h>
#include <stdbool.h>
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
static bool routed;       /* the routed shape: make_routed */
static bool bench_sess;   /* ... with make bench's sessions (make_routed) */

/* The routing parts of a record the router wrote under `make bench`'s
 * routed config (2 KB agent body with a tool loop: six signals, three
 * decisions, two candidates), byte for byte: a record of about 4.1 KB.
 * Sessions as a router sees them: 200 at a time taking turns, random ids. */
static const char ROUTED_DECISION_TRACE[] =
    "{\"outcome\":\"matched\",\"decision\":\"agentic\",\"confidence\":1,\"algorithm\":\"static\","
    "\"strategy\":\""
    "priority\",\"ranking\":[\"agentic\"],\"trace\":[{\"name\":\"guarded\",\"matched\":false,"
    "\"confidence\":0,"
    "\"catch_all\":false,\"root\":{\"kind\":\"OR\",\"signal\":null,\"label\":null,\"matched\":"
    "false,\"confiden"
    "ce\":0,\"skipped\":false,\"error\":null,\"children\":[{\"kind\":\"leaf\",\"signal\":"
    "\"jailbreak:injectio"
    "n\",\"label\":null,\"matched\":false,\"confidence\":0,\"skipped\":false,\"error\":null,"
    "\"children\":[]}"
    ",{\"kind\":\"leaf\",\"signal\":\"pii:sensitive\",\"label\":null,\"matched\":false,"
    "\"confidence\":0,\"skip"
    "ped\":false,\"error\":null,\"children\":[]}]}},{\"name\":\"long_context\",\"matched\":false,"
    "\"confiden"
    "ce\":0,\"catch_all\":false,\"root\":{\"kind\":\"AND\",\"signal\":null,\"label\":null,"
    "\"matched\":false,\"c"
    "onfidence\":0,\"skipped\":false,\"error\":null,\"children\":[{\"kind\":\"leaf\",\"signal\":"
    "\"context:lon"
    "g_context\",\"label\":null,\"matched\":false,\"confidence\":0,\"skipped\":false,\"error\":"
    "null,\"child"
    "ren\":[]}]}},{\"name\":\"agentic\",\"matched\":true,\"confidence\":1,\"catch_all\":false,"
    "\"root\":{\"kin"
    "d\":\"OR\",\"signal\":null,\"label\":null,\"matched\":true,\"confidence\":1,\"skipped\":false,"
    "\"error\":n"
    "ull,\"children\":[{\"kind\":\"leaf\",\"signal\":\"conversation:tool_use\",\"label\":null,"
    "\"matched\":tru"
    "e,\"confidence\":1,\"skipped\":false,\"error\":null,\"children\":[]},{\"kind\":\"leaf\","
    "\"signal\":\"keyw"
    "ord:code_terms\",\"label\":null,\"matched\":false,\"confidence\":0,\"skipped\":false,"
    "\"error\":null,\""
    "children\":[]},{\"kind\":\"leaf\",\"signal\":\"language:fr\",\"label\":null,\"matched\":false,"
    "\"confiden"
    "ce\":0,\"skipped\":false,\"error\":null,\"children\":[]}]}}]}";

static const char ROUTED_SIGNALS[] = "[{\"family\":\"keyword\",\"name\":\"code_terms\",\"matched\":"
                                     "false,\"score\":0.0000,\"value\":0.0000,\"la"
                                     "tency_us\":392422},{\"family\":\"pii\",\"name\":"
                                     "\"sensitive\",\"matched\":false,\"score\":0.0000,\"value"
                                     "\":0.0000,\"latency_us\":327235},{\"family\":\"jailbreak\","
                                     "\"name\":\"injection\",\"matched\":false,\"sc"
                                     "ore\":0.0000,\"value\":0.0000,\"latency_us\":1510108},{"
                                     "\"family\":\"language\",\"name\":\"fr\",\"matched"
                                     "\":false,\"score\":0.0000,\"label\":\"en\",\"value\":0.9900,"
                                     "\"latency_us\":444106},{\"family\":\"context"
                                     "\",\"name\":\"long_context\",\"matched\":false,\"score\":0."
                                     "0000,\"value\":390.0000,\"latency_us\":976},"
                                     "{\"family\":\"conversation\",\"name\":\"tool_use\","
                                     "\"matched\":true,\"score\":1.0000,\"value\":2.0000,\"l"
                                     "atency_us\":15487}]";

static const char ROUTED_CANDIDATES[] = "[{\"model\":\"medium\",\"admissible\":true,\"available\":"
                                        "true,\"learned_quality\":0.000000,\"base\":1."
                                        "0000,\"quality_gap\":0.0000,\"downgrade_credit\":0.0000,"
                                        "\"handoff_penalty\":0.0000,\"prefix_benef"
                                        "it\":0.0000,\"prefix_penalty\":0.0000,\"history_penalty\":"
                                        "0.0000,\"switch_margin\":0.0000,\"stay_b"
                                        "ias\":0.0000,\"tool_loop_term\":0.0000,\"checkout_"
                                        "multiplier\":0.0000,\"final\":1.0000,\"net_switc"
                                        "h_advantage\":0.0000},{\"model\":\"large\",\"admissible\":"
                                        "true,\"available\":true,\"learned_quality\""
                                        ":0.000000,\"base\":0.9990,\"quality_gap\":0.0000,"
                                        "\"downgrade_credit\":0.0000,\"handoff_penalty\":0"
                                        ".0000,\"prefix_benefit\":0.0000,\"prefix_penalty\":0.0000,"
                                        "\"history_penalty\":0.0000,\"switch_mar"
                                        "gin\":0.0000,\"stay_bias\":0.0000,\"tool_loop_term\":0."
                                        "0000,\"checkout_multiplier\":0.0000,\"final"
                                        "\":0.9990,\"net_switch_advantage\":0.0000}]";

static const char ROUTED_ATTEMPTS[] = "[{\"backend\":\"mock-medium\",\"attempts\":1}]";

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
static replay_record_t *make_routed(uint64_t i)
{
    replay_record_t *r = replay_record_new(base_ms + i);
    replay_record_puts(r, &r->request_id, "2032622325dff96c3ac9d4f2");
    replay_record_puts(r, &r->endpoint, "chat");
    replay_record_puts(r, &r->client_protocol, "openai");
    replay_record_puts(r, &r->upstream_protocol, "openai");
    replay_record_puts(r, &r->tenant, "anon");
    replay_record_puts(r, &r->recipe, "default");
    replay_record_puts(r, &r->decision, i % 3 ? "agentic" : "guarded");
    r->decision_confidence = 1;
    replay_record_puts(r, &r->strategy, "priority");
    replay_record_puts(r, &r->decision_trace_json, ROUTED_DECISION_TRACE);
    /* a router's signal timings differ from request to request (the trace
     * and candidates repeat): the writer's memory of checked fragments
     * (replay/frag_memo.h) must not see the same signals every time */
    char sig[sizeof ROUTED_SIGNALS], us[8];
    memcpy(sig, ROUTED_SIGNALS, sizeof sig);
    snprintf(us, sizeof us, "%06u", (unsigned)(100000u + i * 7919u % 900000u)); /* no leading 0 */
    memcpy(strstr(sig, "392422"), us, 6);
    replay_record_puts(r, &r->signals_json, sig);
    replay_record_puts(r, &r->algorithm, "static");
    replay_record_puts(r, &r->candidates_json, ROUTED_CANDIDATES);
    replay_record_puts(r, &r->model, "medium");
    r->has_session = true;
    /* 200 sessions at a time, taking turns (agents run side by side), each
     * 20 turns long, then the next 200; ids as random as a client's UUID */
    uint64_t sess = (i / 4000) * 200 + i % 200;
    uint64_t h = (sess + 1) * 0x9E3779B97F4A7C15ull;
    h ^= h >> 29;
    h *= 0xBF58476D1CE4E5B9ull;
    h ^= h >> 32;
    char sid[48];
    snprintf(sid, sizeof sid, "%016llx-%04llu", (unsigned long long)h,
             (unsigned long long)(sess % 10000));
    if (bench_sess) /* make bench: 128 sessions, all busy from start to end */
        snprintf(sid, sizeof sid, "bench-session-%04llu", (unsigned long long)(i * 37 % 128));
    replay_record_puts(r, &r->session.id, sid);
    replay_record_puts(r, &r->session.identity_source, "x-session-id");
    r->session.identity_confidence = 1;
    r->session.turn = bench_sess ? (int64_t)(i / 128) + 1 : (int64_t)(i % 4000 / 200) + 1;
    replay_record_puts(r, &r->session.phase, "tool_loop");
    replay_record_puts(r, &r->session.previous_model, "");
    replay_record_puts(r, &r->session.selected_model, "medium");
    replay_record_puts(r, &r->session.reason,
                       (bench_sess ? i >= 128 : i % 4000 >= 200) ? "hard_lock_tool_loop"
                                                                 : "cold_start");
    replay_record_puts(r, &r->session.hard_lock, "none");
    replay_record_puts(r, &r->backend, "mock-medium");
    replay_record_puts(r, &r->attempts_json, ROUTED_ATTEMPTS);
    replay_record_puts(r, &r->response_path, "upstream");
    r->status = 200;
    r->usage.prompt = 352;
    r->usage.completion = 33;
    replay_record_puts(r, &r->cost.currency, "USD");
    r->cost.actual = r->cost.baseline = 0.000226;
    r->latency.routing_us = 3134;
    r->latency.ttft_ms = 4.271;
    r->latency.total_ms = 4.739;
    return r;
}

static replay_record_t *make(uint64_t i)
{
    if (routed) return make_routed(i);
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

/* Bytes this process passed to read and write calls (/proc/self/io). */
static void io_bytes(double *rd, double *wr)
{
    FILE *f = fopen("/proc/self/io", "r");
    char line[128];
    *rd = *wr = 0;
    while (f && fgets(line, sizeof line, f)) {
        if (!strncmp(line, "rchar: ", 7)) *rd = atof(line + 7);
        if (!strncmp(line, "wchar: ", 7)) *wr = atof(line + 7);
    }
    if (f) fclose(f);
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
    double r1, w1b, r2, w2b;
    io_bytes(&r1, &w1b);
    replay_queue_pause(q, false);
    replay_queue_flush(q, 600000);
    uint64_t t2 = clock_mono_us(), c2 = cpu_us();
    io_bytes(&r2, &w2b);
    replay_stats_t x;
    replay_queue_free(q, 1000, &x);
    /* plus one sweep, which is where caps used to be enforced: the cost of
     * keeping the cap, whichever side pays it */
    size_t removed = 0;
    replay_store_sweep(s, base_ms + n, &removed, NULL);
    uint64_t c3 = cpu_us();
    printf("%-10s build+push %6.2f us/record (%5.2f us thread CPU)   writer %8.0f records/s %6.1f "
           "us CPU/record "
           "(%5.1f with a sweep)   written %llu dropped %llu errors %llu   I/O per record: read "
           "%.1f KB, written %.1f KB\n",
           label, (double)(t1 - t0) / (double)n, (double)(w1 - w0) / 1e3 / (double)n,
           (double)n * 1e6 / (double)(t2 - t1), (double)(c2 - c1) / (double)n,
           (double)(c3 - c1) / (double)n, (unsigned long long)x.written,
           (unsigned long long)x.dropped, (unsigned long long)x.errors, (r2 - r1) / 1e3 / (double)n,
           (w2b - w1b) / 1e3 / (double)n);
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

/* CPU (user + system, us) of the thread named "replay-writer", from
 * /proc/self/task: what the writer alone costs. */
static double writer_thread_cpu_us(void)
{
    DIR *d = opendir("/proc/self/task");
    double v = -1;
    struct dirent *e;
    while (d && (e = readdir(d))) {
        char p[300], buf[512];
        snprintf(p, sizeof p, "/proc/self/task/%s/comm", e->d_name);
        FILE *f = fopen(p, "r");
        if (!f) continue;
        bool is_writer = fgets(buf, sizeof buf, f) && !strncmp(buf, "replay-writer", 13);
        fclose(f);
        if (!is_writer) continue;
        snprintf(p, sizeof p, "/proc/self/task/%s/stat", e->d_name);
        f = fopen(p, "r");
        if (!f) continue;
        if (fgets(buf, sizeof buf, f)) {
            const char *q = strrchr(buf, ')');
            unsigned long long ut = 0, st = 0;
            /* after "pid (comm)": state ppid pgrp session tty tpgid flags minflt cminflt
             * majflt cmajflt utime stime */
            if (q && sscanf(q + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut,
                            &st) == 2)
                v = (double)(ut + st) * 1e6 / (double)sysconf(_SC_CLK_TCK);
        }
        fclose(f);
    }
    if (d) closedir(d);
    return v;
}

/* The server's shape: records pushed at a fixed rate into the default
 * queue and store (sweeps every 60 s), the writer keeping up or dropping. */
static void rate(const char *path, double per_s, double seconds)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = path;
    replay_store_t *s = replay_store_open(&c, NULL);
    if (!s) exit(2);
    replay_queue_t *q = replay_queue_new(s, &c);
    size_t n = (size_t)(per_s * seconds);
    double r0, w0, r1, w1; /* only the writer reads and writes files */
    io_bytes(&r0, &w0);
    uint64_t t0 = clock_mono_us(), mine = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t due = t0 + (uint64_t)((double)i * 1e6 / per_s), now = clock_mono_us();
        if (due > now + 200) usleep((useconds_t)(due - now));
        uint64_t a = thread_cpu_ns();
        replay_queue_push(q, make(i));
        mine += thread_cpu_ns() - a;
    }
    replay_queue_flush(q, 600000);
    uint64_t t1 = clock_mono_us();
    io_bytes(&r1, &w1);
    double wcpu = writer_thread_cpu_us();
    replay_stats_t x;
    replay_queue_free(q, 60000, &x);
    printf("rate %.0f routed records/s for %.1f s (sqlite, queue_size 10000): pushed at %.0f/s, "
           "writer "
           "thread %.1f us CPU/record, build+push %.2f us, written %llu dropped %llu, I/O per "
           "record: read %.1f KB, written %.1f KB\n",
           per_s, seconds, (double)n * 1e6 / (double)(t1 - t0),
           wcpu / (double)(x.written ? x.written : 1), (double)mine / 1e3 / (double)n,
           (unsigned long long)x.written, (unsigned long long)x.dropped,
           (r1 - r0) / 1e3 / (double)(n ? n : 1), (w1 - w0) / 1e3 / (double)(n ? n : 1));
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
    bool is_writer = argc > 1 && !strcmp(argv[1], "writer");
    bool is_rate = argc > 1 && !strcmp(argv[1], "rate");
    if (is_soak || is_writer || is_rate) argv++, argc--;
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
    } else if (is_writer) {
        bench_sess = argc > 2 && !strcmp(argv[2], "bench");
        routed = bench_sess || (argc > 2 && !strcmp(argv[2], "routed"));
        run(bench_sess ? "sqlite-bch" : routed ? "sqlite-rtd" : "sqlite", "sqlite", p1, n, 0);
    } else if (is_rate) {
        routed = true; /* what the server writes */
        rate(p1, argc > 1 ? atof(argv[1]) : 20000, argc > 2 ? atof(argv[2]) : 5);
    } else {
        run("sqlite", "sqlite", p1, n, 0);
        if (unlink(p1)) return 2;
        worker_steady(p1, n);
        if (unlink(p1)) return 2;
        run("sqlite-cap", "sqlite", p1, n, (int64_t)n / 4); /* 3/4 of the writes trim */
        if (unlink(p1)) return 2;
        routed = true;
        run("sqlite-rtd", "sqlite", p1, n, 0); /* the routed record shape */
        routed = false;
        run("jsonl", "jsonl", p2, n, 0);
        run("memory", "memory", NULL, n, 0);
        burst(n);
    }
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 2;
    return 0;
}
