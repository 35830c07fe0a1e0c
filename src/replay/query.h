/* query.h - reading the replay store back (SPEC §11): the list behind
 * GET /v1/router_replay, one record for GET /v1/router_replay/{id}, and the
 * session timeline for GET /v1/router_replay/sessions/{id}. Every function
 * appends ready-to-send JSON text to out, so the management API returns it
 * as is; `tether replay` uses the same calls offline.
 *
 * Wiring the HTTP side (the management API):
 *   replay_query_t q; buf_t err = BUF_INIT;
 *   if (replay_query_from_params(qs, qs_len, clock_wall_ms(), arena, &q, &err)) -> 400 err
 *   replay_query_list(store, &q, &body, &err)                 -> 200 / 500
 *   replay_query_get(store, id, role >= admin, &body, &err)    -> 200 / 404 (REPLAY_ENOTFOUND)
 *   replay_query_timeline(store, sid, memory_json, &body, &err) -> 200 (empty timeline when
 * unknown)
 *
 * Thread-safe (the store serialises); no global state. */
#ifndef TETHER_REPLAY_QUERY_H
#define TETHER_REPLAY_QUERY_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/arena.h"
#include "core/buf.h"
#include "replay/store.h"

#define REPLAY_LIMIT_DEFAULT 50
#define REPLAY_LIMIT_MAX     1000
#define REPLAY_TIMELINE_MAX  1000 /* newest turns shown in a timeline */

typedef struct replay_query {
    const char *session_id, *decision, *model, *reason; /* NULL: any */
    uint64_t since_ms;                                  /* 0: any */
    uint64_t until_ms;                                  /* 0: any; created_at_ms <= until_ms */
    const char *baseline_model; /* aggregate: price the baseline at this model; NULL: recorded */
    size_t limit;               /* 0: 50; larger than 1000 is capped at 1000 */
    const char *cursor;         /* next_cursor of the previous page, or NULL */
} replay_query_t;

/* {"records":[record...],"count":N,"next_cursor":"..."|null}, newest first,
 * without bodies. REPLAY_EINVAL for a malformed cursor. */
int replay_query_list(replay_store_t *s, const replay_query_t *q, buf_t *out, buf_t *err);
/* Iterate what replay_query_list would return (cursor and limit applied),
 * handing each row to cb; for the CLI's table and CSV output. */
int replay_query_rows(replay_store_t *s, const replay_query_t *q, replay_row_cb cb, void *ctx,
                      buf_t *err);
/* The record; with_bodies adds "bodies" (admin role only). REPLAY_ENOTFOUND
 * when there is no such id. */
int replay_query_get(replay_store_t *s, const char *id, bool with_bodies, buf_t *out, buf_t *err);
/* {"session_id":S,"memory":M|null,"turns":N,"truncated":bool,"timeline":[
 *   {"turn","time","decision","model","switched","reason","phase","replay_id",
 *    "lock","previous_model","switch_terms":{continuation_mass, cache_warmth,
 *    switch_count, idle_for_s, idle_reset, drift_reset, decision_inherited,
 *    "candidate": the chosen model's candidate entry with its §9.5 terms | null},
 *    "handoff","status","usage":{prompt,cached,completion},
 *    "cost":{currency,actual,baseline}}...]}
 * oldest first (by created_at, then id); the newest REPLAY_TIMELINE_MAX turns.
 * memory_json: the session store's view of the session (pre-rendered JSON),
 * or NULL. */
int replay_query_timeline(replay_store_t *s, const char *session_id, const char *memory_json,
                          buf_t *out, buf_t *err);

/* The whole-fleet summary behind GET /v1/router_replay/aggregate: the
 * records matching q's filters (session, decision, model, reason, since,
 * until; limit and cursor ignored), at most REPLAY_AGGREGATE_MAX of the
 * newest, summed per decision and per model:
 * {"records":N,"truncated":bool,"since":ms|null,"until":ms|null,
 *  "baseline":{"model":M|null,"source":"recorded"|"model"},
 *  "totals":GROUP,"by_decision":[GROUP+"decision"],"by_model":[GROUP+"model"]}
 * GROUP = {"turns","switches","locks":{lock:n},"reasons":{reason:n},
 *  "tokens":{"prompt","cached","completion"},"cost","baseline_cost","savings",
 *  "currency"}. The baseline cost is what each record carries (the stateless
 * top choice's price), or, with baseline (non-NULL), what its token counts
 * would have cost at that model's prices. */
#define REPLAY_AGGREGATE_MAX 100000
typedef struct replay_baseline {
    const char *model;
    double prompt_per_1m, completion_per_1m;
} replay_baseline_t;
int replay_query_aggregate(replay_store_t *s, const replay_query_t *q,
                           const replay_baseline_t *baseline, buf_t *out, buf_t *err);

/* The session as an OpenAI chat message list, rebuilt from the captured
 * bodies (router_replay.capture_bodies) of its turns, oldest first:
 * {"session_id":S,"turns":N,"messages":[{"role","content",...}],
 *  "turn_index":[{"turn","replay_id","model","decision","reason","lock",
 *   "first_message","last_message"}],"missing_bodies":K,"redacted":bool}
 * Each turn adds the messages of its request that the conversation did not
 * have yet and the assistant message of its response (OpenAI chat and
 * Anthropic Messages bodies; tool calls kept). Without with_bodies, every
 * message keeps its role, and its content reads "[redacted]". */
int replay_query_trajectory(replay_store_t *s, const char *session_id, bool with_bodies, buf_t *out,
                            buf_t *err);

/* A session's turns as the timeline and the trajectory collect them
 * (query.c): the newest REPLAY_TIMELINE_MAX, oldest first (by created_at,
 * then turn). Owned strings. */
typedef struct replay_turn {
    uint64_t ms;
    int64_t turn;
    bool switched;
    char *id, *decision, *model, *reason, *phase;
    char *bodies; /* with bodies only; NULL when none were captured */
    char *extra;  /* what the caller's extra made of the record's JSON */
} replay_turn_t;

typedef struct replay_turns {
    /* set by the caller */
    bool bodies;                      /* copy each row's bodies */
    char *(*extra)(const char *json); /* an owned string from the record, or NULL */
    /* filled by collect */
    replay_turn_t *v;
    size_t n, cap;
    bool truncated; /* the session has more turns */
} replay_turns_t;

int replay_turns_collect(replay_store_t *s, const char *session_id, replay_turns_t *t, buf_t *err);
void replay_turns_free(replay_turns_t *t);

/* `since`: Unix seconds or milliseconds, RFC 3339 (2024-05-01T12:00:00Z,
 * fractional seconds and +hh:mm offsets allowed), a date (2024-05-01), or
 * an age: 90s, 15m, 2h, 7d (now_ms minus that). REPLAY_EINVAL otherwise. */
int replay_query_parse_since(const char *s, uint64_t now_ms, uint64_t *out_ms);
/* Parse a URL query string (session_id, decision, model, reason, since,
 * limit, cursor; percent-decoding, '+' as space; unknown keys ignored).
 * Strings live in arena. REPLAY_EINVAL with a sentence for a bad value. */
int replay_query_from_params(const char *qs, size_t len, uint64_t now_ms, arena_t *arena,
                             replay_query_t *q, buf_t *err);
#endif
