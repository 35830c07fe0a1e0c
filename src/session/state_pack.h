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
#include <stdint.h>

#define SESS_PACK_MAX   1024 /* the largest packed record (all names inline) */
#define SESS_PACK_NAMES 4095 /* dictionary capacity */

/* Pack s into out (SESS_PACK_MAX bytes); returns the length. */
size_t sess_state_pack(const sess_state_t *s, unsigned char out[SESS_PACK_MAX]);
/* Unpack n bytes into s (fully overwritten); false on malformed input. */
bool sess_state_unpack(const unsigned char *in, size_t n, sess_state_t *s);

/* What unpacking the packed form of s gives, without packing: s with what
 * packing does not keep (bytes after a name's NUL, unused model slots,
 * padding) cleared. Byte for byte equal to sess_state_unpack's output. */
void sess_state_canon(const sess_state_t *s, sess_state_t *out);

/* The same as sess_state_pack and sess_state_unpack, with a per-thread
 * memory of the last few records either saw (packed bytes -> state): an
 * unpack of bytes this thread just packed or unpacked is a copy instead of
 * a decoding (the memory store unpacks a session's record three times per
 * routed request: get, commit, usage). The memory is addressed by the
 * packed bytes themselves, and the bytes determine the state (a dictionary
 * id never changes its name), so it cannot answer with another or an older
 * record, whatever the store, key or thread wrote in between. */
size_t sess_state_pack_keep(const sess_state_t *s, unsigned char out[SESS_PACK_MAX]);
bool sess_state_unpack_kept(const unsigned char *in, size_t n, sess_state_t *s);
/* Unpacks this thread answered from its memory; forget it all (tests). */
uint64_t sess_state_kept_hits(void);
void sess_state_kept_reset(void);
#endif
