/* upstream.h - HTTP/1.1 client to backends: keep-alive connection pools per
 * worker, TCP_NODELAY, TLS through OpenSSL bufferevents, connect / first-byte
 * / idle timeouts, and a streaming response callback interface.
 *
 * Thread-safety: a hup_pools_t belongs to one worker's event base; every
 * function must be called on that worker's thread. */
#ifndef TETHER_HTTP_UPSTREAM_H
#define TETHER_HTTP_UPSTREAM_H
#include "http/server.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

struct event_base;
typedef struct hup_pools hup_pools_t;
typedef struct hup_call hup_call_t;

typedef enum {
    HUP_ERR_CONNECT = 1, /* refused, unreachable, DNS */
    HUP_ERR_RESET,       /* closed or reset before the response completed */
    HUP_ERR_TIMEOUT_CONNECT,
    HUP_ERR_TIMEOUT_FIRST_BYTE,
    HUP_ERR_TIMEOUT_IDLE, /* stream went quiet */
    HUP_ERR_PROTOCOL,     /* unparseable response */
    HUP_ERR_TLS,
} hup_error_t;

const char *hup_error_str(hup_error_t e);

typedef struct hup_callbacks {
    /* Response headers arrived. content_length < 0 when not given. */
    void (*on_headers)(void *ud, int status, const hsrv_header_t *hdrs, size_t n,
                       int64_t content_length);
    void (*on_body)(void *ud, const char *data, size_t len);
    /* Response complete; the call is released after this returns. */
    void (*on_done)(void *ud);
    /* Failure; got_response tells whether any response byte had arrived.
     * The call is released after this returns. */
    void (*on_error)(void *ud, hup_error_t err, bool got_response);
} hup_callbacks_t;

typedef struct hup_request {
    const char *host;
    int port;
    bool tls;
    const char *head; /* request line + headers + CRLF CRLF */
    size_t head_len;
    const struct iovec *body; /* referenced, not copied: must stay valid */
    int n_body;
    uint64_t connect_timeout_ms;
    uint64_t first_byte_timeout_ms;
    uint64_t idle_timeout_ms;
} hup_request_t;

/* tls_verify: verify backend certificates against the system store. */
hup_pools_t *hup_pools_new(struct event_base *base, bool tls_verify);
void hup_pools_free(hup_pools_t *p);
/* Idle connections currently pooled (all targets). */
size_t hup_pools_idle(const hup_pools_t *p);

/* Start a call; callbacks fire later, never from inside this function. */
hup_call_t *hup_call_start(hup_pools_t *p, const hup_request_t *req, const hup_callbacks_t *cb,
                           void *ud);
/* Cancel: no callback fires afterwards; the connection is closed. */
void hup_call_cancel(hup_call_t *c);
/* Backpressure: stop/resume reading the response. */
void hup_call_pause(hup_call_t *c, bool paused);
#endif
