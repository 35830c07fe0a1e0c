/* identity.h - the session key of a routed request (SPEC §9.1).
 *
 * The first non-empty source wins: the configured identity headers
 * (x-session-id, x-conversation-id, x-claude-code-session-id), session_id in
 * the JSON of x-codex-turn-metadata, the body fields (prompt_cache_key,
 * metadata.session_id, metadata.user_id), the Responses `conversation`, the
 * session stored with previous_response_id (a lookup callback into the
 * response store), and finally the prefix-chain fingerprint resolved through
 * the session store's chain and opener indexes.
 *
 * Keys are `tenant \x1f source \x1f id` (SESS_KEY_SEP is the ASCII unit
 * separator). A tenant or id longer than max_id_bytes, or not printable
 * ASCII, is replaced by `h:` + hex16 of its bytes.
 *
 * Resolution may wait for the store (Redis): sess_identity_resolve reports
 * through a callback, inline for the memory store. After a successful turn,
 * sess_identity_index_turn records the chain hashes so the next turn (or a
 * retry) maps back to the same session. Everything here is per request and
 * runs on the request's thread; the store does its own locking. */
#ifndef TETHER_SESSION_IDENTITY_H
#define TETHER_SESSION_IDENTITY_H
#include "request/request.h"
#include "session/store.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cfg_session;

#define SESS_KEY_SEP        '\x1f'
#define SESS_KEY_MAX        640 /* tenant (<=256) + source + id (<=256) + separators */
#define SESS_CHAIN_LOOKBACK 16

/* identity_source values (static strings): a configured header name,
 * "x-codex-turn-metadata" (the configured codex header), a body field name,
 * "conversation", "previous_response_id", "fingerprint". */
typedef struct sess_identity {
    bool found;             /* false: no identity (fingerprint disabled, nothing given) */
    char key[SESS_KEY_MAX]; /* tenant \x1f source \x1f id */
    char tenant[260];
    const char *source;
    bool low_confidence; /* opener fallback (identity_confidence: low) */
    bool is_new;         /* fingerprint: a new session was started */
    /* prefix-chain facts, for sess_identity_index_turn and for the session
     * record's `opener`: filled when fingerprinting is enabled, except when
     * an explicit source gave the key and there is no store (nothing to
     * index into); has_chain tells */
    bool has_chain;
    uint64_t p0, opener, pn; /* pn: chain hash over all non-system messages */
    size_t n;                /* non-system messages hashed */
    bool has_assistant;
} sess_identity_t;

/* Who is asking, for scoping (§9.1 Scoping). */
typedef struct sess_tenant_in {
    const char *key_tenant;      /* tenant of the listener API key that matched, or NULL */
    bool trust_identity_headers; /* services.authz.trust_identity_headers: honour x-authz-tenant-id
                                  */
} sess_tenant_in_t;

/* The response store's side of source 5: find the session key stored with
 * response id `resp_id`, then call done(done_ud, key) exactly once (key NULL
 * when unknown; may be called inline). */
typedef void (*sess_prev_done_fn)(void *done_ud, const char *key);
typedef void (*sess_prev_lookup_fn)(void *ud, const char *resp_id, sess_prev_done_fn done,
                                    void *done_ud);

typedef struct sess_identity_in {
    const struct cfg_session *cfg; /* NULL = the SPEC defaults */
    sess_tenant_in_t tenant;
    const char *request_id;          /* makes new fingerprint ids unique */
    sess_store_t *store;             /* chain/opener indexes; NULL disables fingerprint lookups */
    sess_prev_lookup_fn prev_lookup; /* NULL: previous_response_id is not a source */
    void *prev_ud;
} sess_identity_in_t;

typedef void (*sess_identity_cb)(void *ud, const sess_identity_t *id);

/* Resolve the identity of r. cb runs exactly once (inline, or later from the
 * store's event loop); `id` is valid during the callback only. r and its
 * arena must outlive the callback. */
void sess_identity_resolve(const sess_identity_in_t *in, rq_t *r, sess_identity_cb cb, void *ud);

/* The tenant part of the key (§9.1 Scoping) into out. */
void sess_identity_tenant(const sess_tenant_in_t *t, const rq_t *r, char out[260]);

/* Append `part` to out as a key component: as is when printable ASCII and at
 * most max_bytes long, else "h:" + hex16(xxh3(part)). Returns bytes written. */
size_t sess_identity_component(char *out, size_t cap, const char *part, size_t len,
                               size_t max_bytes);

/* ---- prefix chain (§9.1), exposed for tests and the response store ---- */

/* Fill id's chain facts from r (p0, opener, pn, n, has_assistant). */
void sess_identity_chain(rq_t *r, sess_identity_t *id);
/* The same facts, and the last SESS_CHAIN_LOOKBACK+1 chain hashes p_n,
 * p_{n-1}, ... (down to p_1) into ring; returns how many. use_memo false:
 * without this thread's chain memo (neither read nor written), the
 * reference the memo is tested against. */
size_t sess_identity_chain_ring(rq_t *r, sess_identity_t *id, bool use_memo,
                                uint64_t ring[SESS_CHAIN_LOOKBACK + 1]);
/* Hash of one normalised message: role, whitespace-collapsed text, tool-call
 * ids and names, and for tool results the id they answer. */
uint64_t sess_identity_msg_hash(jrole_t role, const char *text, size_t len,
                                const rq_tool_call_t *calls, size_t n_calls,
                                const char *tool_call_id);
/* p_i = H(p_{i-1} || h_i). */
uint64_t sess_identity_chain_step(uint64_t prev, uint64_t msg_hash);
/* Messages the calling thread has normalised and hashed for chains so far.
 * Each thread memoises the chain after the last message of the requests it
 * saw, so a conversation's next turn normalises only its new messages
 * (tests read this to pin that). */
size_t sess_identity_chain_normalised(void);

/* After a successful turn: index H(pn || norm(reply)) and, when the request
 * had an assistant message, pn itself; record the opener. reply_text may be
 * NULL (""), calls may be NULL. Fire-and-forget (cb may be NULL). Does
 * nothing unless id->found && id->has_chain. */
void sess_identity_index_turn(sess_store_t *store, const sess_identity_t *id,
                              const char *reply_text, size_t reply_len, const rq_tool_call_t *calls,
                              size_t n_calls, sess_done_cb cb, void *ud);
#endif
