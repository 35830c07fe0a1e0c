/* forward_headers.h - which of the client's request headers reach a backend,
 * and the upstream request head built from them, for every attempt of the
 * upstream proxy (attempt.c; the adapter names the path and protocol), so
 * the drop lists cannot drift apart between endpoints.
 *
 * Rules, matched case-insensitively on the parsed name:
 * - hop-by-hop and framing headers never pass (host, content-length,
 *   content-type, content-encoding, transfer-encoding, connection and every
 *   name listed in a connection header, keep-alive, te, trailer, upgrade,
 *   expect, proxy-*, accept-encoding, x-request-id, x-tether-*): tether
 *   writes its own framing;
 * - client credentials (authorization, x-api-key, cookie, api-key,
 *   x-goog-api-key) pass only to a backend with forward_client_credentials
 *   and no key of its own; authorization and x-api-key never pass when they
 *   carried the listener's own key (keyed listener);
 * - anthropic-* headers pass only to an Anthropic-format upstream;
 * - a header the backend's extra_headers or a plugin set/delete names is
 *   replaced, not doubled;
 * - a name that is not an RFC 9110 token, or a value with a control byte
 *   (CR, LF, NUL...), is dropped, whatever its origin (client, config,
 *   plugin), so no input can add a line to the head;
 * - with tracing on, tether writes the attempt's own traceparent (the
 *   client's trace joined) in place of the client's.
 * Pure functions over the inputs; thread-safe. */
#ifndef TETHER_UPSTREAM_FORWARD_HEADERS_H
#define TETHER_UPSTREAM_FORWARD_HEADERS_H
#include "config/config.h"
#include "core/buf.h"
#include "http/server.h"
#include "plugins/plugins.h"
#include <stdbool.h>
#include <stddef.h>

/* Why a client header does not reach the backend. */
typedef enum {
    FWD_PASS = 0,
    FWD_DROP_INVALID,    /* not a token name, or a control byte in the value */
    FWD_DROP_HOP,        /* hop-by-hop or framing header */
    FWD_DROP_CONNECTION, /* named by the client's connection header */
    FWD_DROP_CREDENTIAL, /* a client credential the backend may not receive */
    FWD_DROP_PROTOCOL,   /* anthropic-* to a non-Anthropic upstream */
    FWD_DROP_OVERRIDDEN, /* extra_headers or a plugin op replaces it */
} fwd_verdict_t;

typedef struct fwd_head_in {
    const cfg_backend_ref_t *backend;
    const char *path_prefix, *path; /* request target = prefix + path */
    size_t body_len;
    const char *request_id;
    const hsrv_header_t *client; /* the client's request headers */
    size_t n_client;
    bool anthropic_upstream; /* anthropic-* pass; anthropic-version defaulted */
    bool listener_keyed;     /* authorization / x-api-key carried tether's key */
    const plg_hdr_op_t *ops; /* header_mutation ops, applied in order; may be NULL */
    size_t n_ops;
    const char *traceparent; /* tracing: this attempt's W3C context, replacing the client's */
} fwd_head_in_t;

/* Hop-by-hop, framing or tether's own header (never forwarded). */
bool fwd_is_hop_by_hop(const char *name, size_t len);
/* A client credential header. */
bool fwd_is_credential(const char *name, size_t len);
/* An RFC 9110 token (non-empty). */
bool fwd_valid_name(const char *name, size_t len);
/* No control byte but HTAB. */
bool fwd_valid_value(const char *value, size_t len);
/* May this backend receive the client's credentials? */
bool fwd_credentials_allowed(const fwd_head_in_t *in);
/* The fate of one client header (in->client[i]). */
fwd_verdict_t fwd_client_header(const fwd_head_in_t *in, const hsrv_header_t *h);
/* Append the whole upstream head (request line to the blank line) to out. */
void fwd_build_head(const fwd_head_in_t *in, buf_t *out);
#endif
