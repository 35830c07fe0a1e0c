/* replay_fixture.h - helpers shared by the replay tests: a filled record,
 * a temp directory, and counting/collecting scan callbacks. */
#ifndef TETHER_TEST_REPLAY_FIXTURE_H
#define TETHER_TEST_REPLAY_FIXTURE_H
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/query.h"
#include "replay/queue.h"
#include "replay/record.h"
#include "replay/redact.h"
#include "replay/store.h"

/* A routed turn of session sid at time ms. */
static inline replay_record_t *fx_record(uint64_t ms, const char *sid, int64_t turn,
                                         const char *decision, const char *model,
                                         const char *reason)
{
    replay_record_t *r = replay_record_new(ms);
    replay_record_set(&r->request_id, "req-1");
    replay_record_set(&r->endpoint, "/v1/chat/completions");
    replay_record_set(&r->client_protocol, "openai_chat");
    replay_record_set(&r->upstream_protocol, "openai_chat");
    replay_record_set(&r->tenant, "team-a");
    replay_record_set(&r->recipe, "default");
    replay_record_set(&r->decision, decision);
    r->decision_confidence = 0.75;
    replay_record_set(&r->strategy, "priority");
    replay_record_set(&r->decision_trace_json, "{\"matched\":[\"coding\"],\"evaluated\":3}");
    replay_record_set(&r->signals_json, "[{\"family\":\"keyword\",\"name\":\"code\",\"score\":1}]");
    replay_record_set(&r->algorithm, "static");
    replay_record_set(&r->candidates_json,
                      "[{\"model\":\"m-a\",\"admissible\":true,\"excluded_reason\":null,"
                      "\"base\":0.8,\"final\":0.9},{\"model\":\"m-b\",\"admissible\":false,"
                      "\"excluded_reason\":\"api_format\"}]");
    replay_record_set(&r->model, model);
    if (sid) {
        r->has_session = true;
        replay_record_set(&r->session.id, sid);
        replay_record_set(&r->session.identity_source, "header:x-session-id");
        r->session.identity_confidence = 1.0;
        r->session.turn = turn;
        replay_record_set(&r->session.phase, turn <= 1 ? "cold" : "warm");
        replay_record_set(&r->session.selected_model, model);
        replay_record_set(&r->session.reason, reason);
        replay_record_set(&r->session.hard_lock, "none");
        replay_record_set(&r->session.bindings_json, "[]");
    }
    replay_record_set(&r->backend, "b1");
    replay_record_set(&r->response_path, "upstream");
    r->status = 200;
    r->usage.prompt = 100;
    r->usage.cached = 40;
    r->usage.completion = 20;
    replay_record_set(&r->cost.currency, "USD");
    r->cost.actual = 0.0012;
    r->cost.baseline = 0.002;
    r->latency.routing_us = 85;
    r->latency.ttft_ms = 120.5;
    r->latency.total_ms = 900;
    return r;
}

/* mkdtemp under /tmp; the caller removes it with fx_rmdir. */
static inline void fx_tmpdir(char *out, size_t n)
{
    snprintf(out, n, "/tmp/tether-replay-test-XXXXXX");
    if (!mkdtemp(out)) abort();
}

static inline void fx_rmdir(const char *dir)
{
    char cmd[512];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Collect ids (newest first as the store returns them). */
typedef struct {
    char ids[64][REPLAY_ID_LEN + 1];
    uint64_t ms[64];
    int64_t turns[64];
    size_t n;
    int bodies;
} fx_rows_t;

static inline bool fx_collect(void *ctx, const replay_row_t *r)
{
    fx_rows_t *c = ctx;
    if (c->n < 64) {
        snprintf(c->ids[c->n], sizeof c->ids[0], "%s", r->id);
        c->ms[c->n] = r->created_at_ms;
        c->turns[c->n] = r->turn;
        c->n++;
    }
    if (r->bodies_json) c->bodies++;
    return true;
}

static inline size_t fx_count(replay_store_t *s, const replay_filter_t *f)
{
    fx_rows_t c = {0};
    if (replay_store_scan(s, f, fx_collect, &c, NULL) != REPLAY_OK) return (size_t)-1;
    return c.n;
}

/* Write records one by one; frees them. */
static inline int fx_write(replay_store_t *s, replay_record_t **recs, size_t n)
{
    int rc = replay_store_write(s, recs, n, NULL);
    if (rc == REPLAY_OK && !replay_store_flush(s, 10000)) rc = REPLAY_EIO; /* write-behind stores */
    for (size_t i = 0; i < n; i++)
        replay_record_free(recs[i]);
    return rc;
}
#endif

#ifdef FX_CONFORMANCE
/* The behaviour every store shares: write a batch, read newest first, each
 * filter, exact id, and cursor paging that visits every row once. Needs
 * cmocka included before this header. */
static void fx_store_conformance(replay_store_t *s)
{
    replay_record_t *recs[12];
    /* two sessions, two decisions, two models; created_at out of write order,
     * and two rows share a millisecond (the id breaks the tie) */
    static const uint64_t ms[12] = {5000, 1000, 3000, 2000, 4000,  6000,
                                    7000, 7000, 9000, 8000, 10000, 11000};
    for (int i = 0; i < 12; i++) {
        bool a = i % 2 == 0;
        recs[i] = fx_record(ms[i], i < 11 ? (a ? "sess-a" : "sess-b") : NULL, i + 1,
                            i % 3 ? "coding" : "chat", a ? "m-a" : "m-b",
                            i == 4 ? "hard_lock_tool_loop" : "stay_best_adjusted");
    }
    const char *body = "{\"messages\":[]}";
    replay_record_set_body(recs[0], 0, body, strlen(body), 0);
    char id0[REPLAY_ID_LEN + 1];
    memcpy(id0, recs[0]->id, sizeof id0);
    assert_int_equal(fx_write(s, recs, 12), REPLAY_OK);

    fx_rows_t all = {0};
    replay_filter_t f = {0};
    assert_int_equal(replay_store_scan(s, &f, fx_collect, &all, NULL), REPLAY_OK);
    assert_int_equal(all.n, 12);
    assert_int_equal(all.bodies, 1);
    for (size_t i = 1; i < all.n; i++)
        assert_true(replay_row_cmp(all.ms[i - 1], all.ids[i - 1], all.ms[i], all.ids[i]) > 0);
    assert_true(all.ms[0] == 11000 && all.ms[11] == 1000);

    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "sess-a"}), 6);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "sess-b"}), 5);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "nope"}), 0);
    assert_int_equal(fx_count(s, &(replay_filter_t){.decision = "chat"}), 4);
    assert_int_equal(fx_count(s, &(replay_filter_t){.model = "m-b"}), 6);
    assert_int_equal(fx_count(s, &(replay_filter_t){.reason = "hard_lock_tool_loop"}), 1);
    assert_int_equal(fx_count(s, &(replay_filter_t){.since_ms = 7000}), 6);
    assert_int_equal(
        fx_count(s, &(replay_filter_t){.model = "m-a", .decision = "coding", .since_ms = 3000}),
        4); /* i = 2, 4, 8, 10 */
    assert_int_equal(fx_count(s, &(replay_filter_t){.limit = 5}), 5);
    assert_int_equal(fx_count(s, &(replay_filter_t){.id = id0}), 1);

    /* cursor paging, 5 per page: 12 rows, each once, in order */
    fx_rows_t seen = {0};
    replay_filter_t pg = {.limit = 5};
    for (int page = 0; page < 5; page++) {
        fx_rows_t p = {0};
        assert_int_equal(replay_store_scan(s, &pg, fx_collect, &p, NULL), REPLAY_OK);
        for (size_t i = 0; i < p.n; i++) {
            memcpy(seen.ids[seen.n], p.ids[i], sizeof p.ids[i]);
            seen.ms[seen.n++] = p.ms[i];
        }
        if (p.n < 5) break;
        pg.has_cursor = true;
        pg.before_ms = seen.ms[seen.n - 1];
        pg.before_id = seen.ids[seen.n - 1];
    }
    assert_int_equal(seen.n, 12);
    for (size_t i = 0; i < 12; i++)
        assert_string_equal(seen.ids[i], all.ids[i]);
}
#endif

#ifdef FX_SHARED_STORE
/* The stores several replicas share over the network (redis, postgres):
 * open one from its options block, two replicas writing one session, and
 * the first half of an outage. Needs cmocka included before this header. */
#include "replay/spool.h"

/* Open store `name` with its backend options block opts (and max_records);
 * prints the error when it fails. */
static inline replay_store_t *fx_open_shared(const char *name, void *opts, int64_t max_records)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = name;
    c.opts = opts;
    c.max_records = max_records;
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) fprintf(stderr, "open: %s\n", err.data);
    buf_free(&err);
    return s;
}

/* Two replicas write one turn each of session "shared": a cold start on a,
 * then a tool-loop lock on b. */
static inline void fx_two_replicas_write(replay_store_t *a, replay_store_t *b)
{
    replay_record_t *ra[1] = {fx_record(1000, "shared", 1, "d", "m-a", "cold_start")};
    replay_record_t *rb[1] = {fx_record(2000, "shared", 2, "d", "m-a", "hard_lock_tool_loop")};
    assert_int_equal(fx_write(a, ra, 1), REPLAY_OK);
    assert_int_equal(fx_write(b, rb, 1), REPLAY_OK);
}

/* One record of session "o" written while the server is up. */
static inline void fx_outage_first_write(replay_store_t *s)
{
    replay_record_t *one[1] = {fx_record(1000, "o", 1, "d", "m", "cold_start")};
    assert_int_equal(fx_write(s, one, 1), REPLAY_OK);
}

/* With the server down and a buffer of 5: 8 records of session "o" are
 * written at once (write never fails), 5 wait and 3 drop; a flush cannot
 * finish and the store says it is down. Returns the spool stats in ss. */
static inline void fx_outage_writes_buffer(replay_store_t *s, replay_spool_stats_t *ss)
{
    for (int i = 0; i < 8; i++) {
        replay_record_t *r = fx_record(2000 + (uint64_t)i, "o", 2 + i, "d", "m", "stay_best");
        assert_int_equal(replay_store_write(s, &r, 1, NULL), REPLAY_OK);
        replay_record_free(r);
    }
    assert_false(replay_store_flush(s, 300));
    assert_true(replay_store_spool_stats(s, ss));
    assert_int_equal(ss->dropped, 3);
    assert_int_equal(ss->pending, 5);
    assert_true(ss->is_down);
}
#endif
