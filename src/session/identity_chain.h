/* identity_chain.h - identity.c's side of identity_chain.c (the
 * prefix-chain facts; the public part is in identity.h). Per request, on
 * the request's thread. */
#ifndef TETHER_SESSION_IDENTITY_CHAIN_H
#define TETHER_SESSION_IDENTITY_CHAIN_H
#include "session/identity.h"

/* Fill id's chain facts (p0, opener, pn, n, has_assistant, has_chain) from
 * r under tenant and, when ring is given, the last SESS_CHAIN_LOOKBACK+1
 * chain hashes p_n, p_{n-1}, ... (k >= 1) into ring; returns how many.
 * use_memo: through this thread's chain memo. */
size_t sess_identity_chain_facts(rq_t *r, const char *tenant, sess_identity_t *id, uint64_t *ring,
                                 bool use_memo);
/* The hash a new fingerprint session's id is made of. */
uint64_t sess_identity_new_hash(uint64_t opener, const char *request_id);
#endif
