/* binding_token.h - a session binding carried inside the ids tether hands to
 * clients (chat completion ids, Responses ids), so that any replica routes a
 * continuation (a previous_response_id) to the model that issued it with no
 * store lookup, even while the shared session store is down.
 *
 * Shape: ORIGINAL ".tb1." PAYLOAD "." MAC
 *   ORIGINAL  the id as the provider issued it (or as tether minted it);
 *             forwarded upstream unchanged, the suffix stripped
 *   PAYLOAD   base64url (no padding) of KIND 0x1f MODEL 0x1f BACKEND
 *   MAC       base64url of the first 16 bytes of
 *             HMAC-SHA256(key, "tb1" 0x00 ORIGINAL 0x00 PAYLOAD)
 * Only [A-Za-z0-9_-] and '.' are added, so a wrapped id stays safe in URL
 * paths and JSON without escaping beyond the original's.
 *
 * Tool call ids (chat tool_calls[].id, Messages tool_use.id, Responses
 * call_id) use a form without '.', since Anthropic requires tool_use ids to
 * match ^[a-zA-Z0-9_-]+$:
 *   ORIGINAL "_tb1_" PAYLOAD LEN MAC
 *   LEN       PAYLOAD's length, two base64url digits (the suffix is parsed
 *             from its end: '_' and '-' may occur in PAYLOAD and MAC)
 *   KIND      SESS_BINDING_TOOL; the MAC as above
 *
 * The key is shared by replicas (global.stores.session.binding_key_env).
 * Without one, a random per-process key is used: ids then verify only on
 * the replica that issued them. An id whose MAC does not verify (forged,
 * altered, other key) is still unwrapped for the upstream, but its binding
 * is ignored (routing falls back to session memory).
 *
 * Thread-safe; no allocation. */
#ifndef TETHER_SESSION_BINDING_TOKEN_H
#define TETHER_SESSION_BINDING_TOKEN_H
#include "session/state.h"
#include <stdbool.h>
#include <stddef.h>

#define SESS_BINDING_MARK          ".tb1."
#define SESS_BINDING_MARK_LEN      5
#define SESS_BINDING_TOOL_MARK     "_tb1_"
#define SESS_BINDING_TOOL_MARK_LEN 5
/* Bytes a wrap adds at most: mark, payload of two names, '.' (the tool
 * form: two length digits), MAC. */
#define SESS_BINDING_SUFFIX_MAX                                                                    \
    (SESS_BINDING_MARK_LEN + 4 * ((2 * SESS_NAME_MAX + 4) / 3 + 1) + 2 + 22)
/* The longest wrapped id tether issues or accepts. */
#define SESS_BINDING_ID_MAX 512

/* What the id was issued for. */
typedef enum {
    SESS_BINDING_CHAT = 'c',     /* a chat completion id issued by the provider */
    SESS_BINDING_NATIVE = 'n',   /* a Responses id the provider holds state for */
    SESS_BINDING_EMULATED = 'e', /* a Responses id tether minted (state in its store) */
    SESS_BINDING_TOOL = 't',     /* a tool call id issued by the provider (the tool form) */
} sess_binding_kind_t;

typedef struct sess_binding {
    bool wrapped;    /* the id ends in a well-formed binding suffix */
    bool valid;      /* ... whose MAC verified under the key */
    char kind;       /* sess_binding_kind_t when wrapped */
    size_t orig_len; /* length of ORIGINAL (the whole input when not wrapped) */
    char model[SESS_NAME_MAX];
    char backend[SESS_NAME_MAX];
} sess_binding_t;

/* Wrap id[0..id_len) for model/backend (names longer than SESS_NAME_MAX-1
 * are truncated) into out. key NULL or key_len 0: the per-process key.
 * Returns the length written (NUL-terminated), or 0 when out is too small
 * or the result would exceed SESS_BINDING_ID_MAX. */
size_t sess_binding_wrap(const char *key, size_t key_len, sess_binding_kind_t kind, const char *id,
                         size_t id_len, const char *model, const char *backend, char *out,
                         size_t cap);

/* The tool form (kind SESS_BINDING_TOOL; sess_binding_wrap with that kind
 * lands here too). */
size_t sess_binding_wrap_tool(const char *key, size_t key_len, const char *id, size_t id_len,
                              const char *model, const char *backend, char *out, size_t cap);
/* Parse a tool-form id, as sess_binding_parse (valid only for kind
 * SESS_BINDING_TOOL). */
void sess_binding_parse_tool(const char *key, size_t key_len, const char *s, size_t len,
                             sess_binding_t *out);

/* Parse s[0..len). Never fails: an id without a well-formed suffix is
 * returned as not wrapped (orig_len = len). A wrapped id always gets
 * orig_len (the part to forward upstream); model/backend are filled only
 * when valid. */
void sess_binding_parse(const char *key, size_t key_len, const char *s, size_t len,
                        sess_binding_t *out);

/* The per-process random key (32 bytes), generated once. */
const unsigned char *sess_binding_process_key(size_t *len);
#endif
