/* state_pack.h - the compact form of a session record (state.h) that the
 * memory store keeps: varints, deltas and names replaced by ids of a
 * process-wide dictionary (model, backend, decision, reasoning and reason
 * names come from a small vocabulary). A typical record packs into about a
 * hundred bytes instead of sizeof(sess_state_t) (issue 12). Packing then
 * unpacking gives back every field's value; bytes after a string's NUL in
 * the fixed arrays are not kept (they come back as zeros).
 * Thread-safe; the dictionary only grows (at most SESS_PACK_NAMES names;
 * later names are stored inline). */
#ifndef TETHER_SESSION_STATE_PACK_H
#define TETHER_SESSION_STATE_PACK_H
#include "session/state.h"
#include <stdbool.h>
#include <stddef.h>

#define SESS_PACK_MAX   1024 /* the largest packed record (all names inline) */
#define SESS_PACK_NAMES 4095 /* dictionary capacity */

/* Pack s into out (SESS_PACK_MAX bytes); returns the length. */
size_t sess_state_pack(const sess_state_t *s, unsigned char out[SESS_PACK_MAX]);
/* Unpack n bytes into s (fully overwritten); false on malformed input. */
bool sess_state_unpack(const unsigned char *in, size_t n, sess_state_t *s);
#endif
