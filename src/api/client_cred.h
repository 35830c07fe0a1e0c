/* client_cred.h - the credential a client request presents to a keyed
 * listener: every `Authorization: Bearer <key>` and `x-api-key: <key>`
 * header, which must be well formed and agree. A pure function over the
 * header array (no allocation, no config), so it can be fuzzed alone
 * (tests/fuzz/fuzz_cred.c); client_auth.c hashes and looks up what it
 * returns. Thread-safe. */
#ifndef TETHER_API_CLIENT_CRED_H
#define TETHER_API_CLIENT_CRED_H
#include "http/server.h"
#include <stddef.h>

typedef enum {
    CLIENT_AUTH_OK = 0,    /* a key matched, or the listener has no keys */
    CLIENT_AUTH_MISSING,   /* no Authorization and no x-api-key */
    CLIENT_AUTH_INVALID,   /* a well-formed credential, but no enabled key has it */
    CLIENT_AUTH_MALFORMED, /* not `Bearer <key>`, empty, or a byte outside 0x21..0x7e */
    CLIENT_AUTH_TOO_LONG,  /* longer than the listener's max_key_bytes */
    CLIENT_AUTH_CONFLICT,  /* two credentials that differ */
} client_auth_result_t;

/* The one credential of headers h[0..n): OK with *cred / *len pointing into
 * a header value (1..max printable ASCII bytes, the Bearer scheme and
 * surrounding blanks removed); MISSING when no header carries one; else
 * the first reason the headers are unusable (MALFORMED, TOO_LONG, then
 * CONFLICT). Never INVALID. */
client_auth_result_t client_cred_get(const hsrv_header_t *h, size_t n, size_t max,
                                     const char **cred, size_t *len);
#endif
