/* bench_replay.c - cost of replay on and off the request path: the time a
 * worker spends building and pushing a typical record (the request path),
 * and how many records per second the writer stores (validate, redact,
 * render, SQLite WAL insert in batches; jsonl and memory for comparison).
 * Also what a burst larger than the queue does (dropped, not stalled).
 * Usage: bench_replay [records]   (default 100000) */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/clock.h"
#include "replay/queue.h"
#include "replay/store.h"

static replay_record_t *make(uint64_t i)
{
    replay_record_t *r = replay_record_new(1714564800000ull + i);
    replay_record_set(&r->request_id, "req-0123456789");
    replay_record_set(&r->endpoint, "/v1/chat/completions");
    replay_record_set(&r->client_protocol, "openai_chat");
    replay_record_set(&r->upstream_protocol, "openai_chat");
    replay_record_set(&r->tenant, "team-a");
    replay_record_set(&r->decision, i % 3 ? "coding" : "chat");
    replay_record_set(&r->decision_trace_json,
                      "{\"matched\":[\"coding\"],\"evaluated\":[\"coding\",\"chat\",\"math\"],"
                      "\"rule\":\"keyword:code OR domain:cs\"}");
    replay_record_set(&r->signals_json,
                      "[{\"family\":\"keyword\",\"name\":\"code\",\"score\":1,\"us\":3},"
                      "{\"family\":\"domain\",\"name\":\"cs\",\"score\":0.82,\"us\":41}]");
    replay_record_set(
        &r->candidates_json,
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
    replay_record_set(&r->model, "big");
    r->has_session = true;
    char sid[32];
    snprintf(sid, sizeof sid, "sess-%llu", (unsigned long long)(i / 20));
    replay_record_set(&r->session.id, sid);
    replay_record_set(&r->session.identity_source, "header:x-session-id");
    r->session.turn = (int64_t)(i % 20) + 1;
    replay_record_set(&r->session.phase, "turn");
    replay_record_set(&r->session.reason, "stay_best_adjusted");
    replay_record_set(&r->backend, "b1");
    replay_record_set(&r->response_path, "upstream");
    r->status = 200;
    r->usage.prompt = 12000;
    r->usage.cached = 11000;
    r->usage.completion = 300;
    return r;
}

static void run(const char *store, const char *path, size_t n)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = store;
    c.path = path;
    c.max_records = (int64_t)n * 2;
    c.queue_size = (int64_t)n + 1; /* measure the writer, not drops */
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) {
        fprintf(stderr, "%s\n", err.data);
        exit(2);
    }
    replay_queue_t *q = replay_queue_new_ex(s, &c, 0);
    replay_queue_pause(q, true);
    uint64_t t0 = clock_mono_us();
    for (size_t i = 0; i < n; i++)
        replay_queue_push(q, make(i));
    uint64_t t1 = clock_mono_us();
    replay_queue_pause(q, false);
    replay_queue_flush(q, 600000);
    uint64_t t2 = clock_mono_us();
    replay_stats_t x;
    replay_queue_free(q, 1000, &x);
    printf("%-7s build+push %6.2f us/record   writer %8.0f records/s   written %llu dropped %llu "
           "errors %llu\n",
           store, (double)(t1 - t0) / (double)n, (double)n * 1e6 / (double)(t2 - t1),
           (unsigned long long)x.written, (unsigned long long)x.dropped,
           (unsigned long long)x.errors);
    replay_store_close(s);
    buf_free(&err);
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

int main(int argc, char **argv)
{
    size_t n = argc > 1 ? (size_t)strtoull(argv[1], NULL, 10) : 100000;
    char dir[] = "/tmp/bench-replay-XXXXXX", p1[64], p2[64];
    if (!mkdtemp(dir)) return 2;
    snprintf(p1, sizeof p1, "%s/r.db", dir);
    snprintf(p2, sizeof p2, "%s/r.jsonl", dir);
    run("sqlite", p1, n);
    run("jsonl", p2, n);
    run("memory", NULL, n);
    burst(n);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd)) return 2;
    return 0;
}
