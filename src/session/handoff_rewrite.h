/* handoff_rewrite.h - the byte side of the forced handoff (SPEC §9.7): turn
 * a chat-completions request that the unavailable model c could read into
 * one the handoff target can read, as splice edits over the client's body
 * (never a re-serialisation). The session policy decides WHETHER and WHAT
 * (sess_handoff_plan: plan->pol.handoff); this file does the bytes.
 *
 * Conversions, by sess_conversion_t in handoff->conversions:
 *   EXPAND_RESPONSE_CHAIN   `previous_response_id` is removed; its stored
 *                           chain is inserted at the head of `messages` via
 *                           opts->expand_chain. No callback, or the callback
 *                           fails -> impossible (-1, binding
 *                           previous_response_id). A null value is just
 *                           removed. (Done whenever the field is present.)
 *   DROP_ENCRYPTED_REASONING  `reasoning_details` entries whose type contains
 *                           "encrypted", every `encrypted_content` member
 *                           (messages, parts, nested), `signature` members of
 *                           the kept reasoning_details entries. Without
 *                           KEEP_REASONING_SUMMARIES the whole
 *                           `reasoning_details` and the message's
 *                           `reasoning_content` / string `reasoning` go too.
 *   DROP_SIGNED_THINKING    content parts `thinking` (become
 *                           {"type":"text","text":<thinking>} with
 *                           KEEP_REASONING_SUMMARIES, else removed) and
 *                           `redacted_thinking` (removed). A content array
 *                           left empty becomes "".
 *   DROP_THOUGHT_SIGNATURES `thought_signature` / `thoughtSignature` members
 *                           at any depth of a message (tool_calls[],
 *                           function, extra_content.google, parts).
 *   REWRITE_TOOL_CALL_IDS   tool_calls[].id, tool messages' tool_call_id and
 *                           tool_use.id / tool_result.tool_use_id parts to
 *                           ^[A-Za-z0-9_-]+$: an id that does not match gets
 *                           its bad bytes replaced by '_' and
 *                           "_" + hex16(xxh64(id))[0..8] appended (the same
 *                           mapping as the Anthropic translator, so calls and
 *                           results stay paired, also across turns).
 *   TOOL_LOOP_AS_HISTORY    the pending tool loop - the assistant messages
 *                           with tool_calls and the tool messages after the
 *                           last plain assistant answer - becomes plain
 *                           text: each such assistant message becomes
 *                           {"role":"assistant","content":"<its text>\n
 *                           [tool call NAME id=ID] ARGUMENTS"} and each tool
 *                           message {"role":"user","content":"[tool result
 *                           id=ID (NAME)] RESULT"}, in place, so every result
 *                           still follows its call. Tool-call ids are
 *                           provider-bound only while their loop is open; as
 *                           text the new model can read them and is not
 *                           asked to continue a call it never issued.
 *   KEEP_REASONING_SUMMARIES  a modifier of the two DROP_* above.
 *
 * Bodies with nothing to convert produce no edits, and the output of a
 * rewrite rewritten again produces none (idempotent).
 *
 * HOW THE PROXY CALLS IT (src/api/chat.c, chat_routed, plan->status OK):
 *
 *   if (plan->ran_policy && plan->pol.reason == SESS_REASON_FORCED_HANDOFF &&
 *       plan->pol.has_handoff && plan->pol.handoff.possible) {
 *       sess_handoff_result_t hr;
 *       const char *nb; size_t nl;
 *       if (sess_handoff_apply(p->rq, &plan->pol.handoff, NULL, &req->arena,
 *                              &nb, &nl, &hr) != 0)
 *           -> 503 server_error, code "session_model_unavailable",
 *              message hr.error (names rq_binding_name(hr.blocking_binding))
 *       else: use nb/nl as the client body from here on (re-scan it with
 *             jscan_request into p->jr, point the plugins' pc.body and the
 *             model/stream_options splices at it); trace hr.applied[] and
 *             hr.warnings[].
 *   }
 *
 * sess_handoff_apply materialises the converted body in the arena, which
 * keeps chat.c's fixed iovec list and its other splices unchanged. To splice
 * instead, call sess_handoff_rewrite into the proxy's jsplice_t; then the
 * iovec list must hold 2 * edits + 1 pieces, and the handoff edits must be
 * added AFTER any zero-length insertion at the same offset (the
 * stream_options injection at obj_open + 1), and must not overlap plugin
 * edits of the same messages.
 *
 * Thread-safety: none needed (pure over its inputs; allocations in the
 * arena, edits into the caller's splice). rq must be the request view of
 * the body (rq_from_chat); texts are read through rq_msg_text. */
#ifndef TETHER_SESSION_HANDOFF_REWRITE_H
#define TETHER_SESSION_HANDOFF_REWRITE_H
#include "core/arena.h"
#include "core/buf.h"
#include "json/splice.h"
#include "request/request.h"
#include "session/policy.h"
#include <stdbool.h>
#include <stddef.h>

#define SESS_HANDOFF_MAX_WARNINGS 8

typedef struct sess_handoff_opts {
    /* Write the stored chain of previous_response_id as chat messages: JSON
     * array elements separated by commas, no brackets, into out. Return 0,
     * or -1 when the chain is not available. NULL: no store (impossible). */
    int (*expand_chain)(void *ud, const char *previous_response_id, buf_t *out);
    void *ud;
} sess_handoff_opts_t;

typedef struct sess_handoff_result {
    /* conversions that changed bytes, in the order of handoff->conversions */
    sess_conversion_t applied[SESS_MAX_CONVERSIONS];
    size_t n_applied;
    /* arena strings, e.g. a requested conversion that found nothing */
    const char *warnings[SESS_HANDOFF_MAX_WARNINGS];
    size_t n_warnings;
    size_t ids_rewritten;      /* id values replaced */
    size_t messages_flattened; /* tool-loop messages turned into text */
    size_t entries_dropped;    /* members, parts and reasoning entries removed */
    /* on -1 */
    unsigned blocking_binding; /* RQ_BIND_* */
    const char *error;         /* one sentence for the 503 */
} sess_handoff_result_t;

/* Add the edits converting rq's body for handoff->to (see the top of this
 * file) to edits (which may already hold other edits; they are not sorted
 * here). Returns 0, or -1 when the conversion is impossible (res->error,
 * res->blocking_binding set; edits added so far should be discarded).
 * opts may be NULL. */
int sess_handoff_rewrite(rq_t *rq, const sess_handoff_t *handoff, const sess_handoff_opts_t *opts,
                         arena_t *a, jsplice_t *edits, sess_handoff_result_t *res);

/* sess_handoff_rewrite, then the converted body written to the arena
 * (NUL-terminated; *out_len without the NUL). On -1 *out is the original
 * body. */
int sess_handoff_apply(rq_t *rq, const sess_handoff_t *handoff, const sess_handoff_opts_t *opts,
                       arena_t *a, const char **out, size_t *out_len, sess_handoff_result_t *res);

/* The tool-call id mapping of REWRITE_TOOL_CALL_IDS into the arena: id
 * itself when it already matches ^[A-Za-z0-9_-]+$ (or is empty). */
const char *sess_handoff_tool_id(arena_t *a, const char *id);

/* Whether this turn must be handed off after its attempts: the policy held
 * the session on c by a tool-loop or provider-state lock (pol->reason
 * hard_lock_tool_loop / hard_lock_provider_state), every one of c's
 * n_backend_refs backend_refs was tried and failed before the first byte
 * (connect error, timeout before the first byte, or an error status before
 * any body), and nothing reached the client. SPEC §9.4: "every backend
 * failing before the first byte" makes c unavailable. Pure. */
bool sess_handoff_after_failures(const sess_policy_out_t *pol, size_t n_backend_refs,
                                 size_t n_failed_before_first_byte, bool client_got_bytes);

/* Re-run the policy of the same turn with c unavailable: in->facts copied
 * into *facts_scratch with current_available = false, in->cands copied into
 * cands_scratch (in->n_cands entries) with c's entry available = false,
 * then sess_policy_decide. With a lock this yields forced_handoff (out->
 * handoff) or the 503 verdict. out->terms as for sess_policy_decide.
 * Returns sess_policy_decide's value. */
int sess_policy_decide_without_current(const sess_policy_in_t *in, const char *current,
                                       sess_facts_t *facts_scratch, sess_candidate_t *cands_scratch,
                                       sess_policy_out_t *out);
#endif
