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
    size_t limit;       /* 0: 50; larger than 1000 is capped at 1000 */
    const char *cursor; /* next_cursor of the previous page, or NULL */
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
 *   {"turn","time","decision","model","switched","reason","phase","replay_id"}...]}
 * oldest first (by created_at, then id); the newest REPLAY_TIMELINE_MAX turns.
 * memory_json: the session store's view of the session (pre-rendered JSON),
 * or NULL. */
int replay_query_timeline(replay_store_t *s, const char *session_id, const char *memory_json,
                          buf_t *out, buf_t *err);

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
