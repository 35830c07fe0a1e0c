/* errors.h - client-facing errors in each API's own shape.
 * OpenAI: {"error":{"message","type","param","code"}}
 * Anthropic: {"type":"error","error":{"type","message"}} (later endpoints).
 * Every error is also logged (without prompt text). Worker-thread only. */
#ifndef TETHER_API_ERRORS_H
#define TETHER_API_ERRORS_H
#include "http/server.h"
struct buf;

/* type: e.g. invalid_request_error; code: e.g. model_not_found; param may be NULL. */
void api_error_openai(hsrv_req_t *req, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* Write the OpenAI error JSON into buf (used for in-band stream errors). */
void api_error_openai_json(struct buf *out, const char *type, const char *code, const char *param,
                           const char *message);
/* Send an error body (JSON, freed here) with the request id, and count it in
 * requests_total and request_errors_total under endpoint, protocol and code
 * (the caller has logged it). */
void api_error_respond(hsrv_req_t *req, int status, struct buf *body, const char *endpoint,
                       const char *protocol, const char *code);
/* The OpenAI-shaped error callbacks of an upstream adapter (up_adapter_t
 * .error_body and .stream_error), shared by every adapter whose client speaks
 * OpenAI: the error JSON, and the same as an in-band SSE event (stream_aborted). */
struct up_proxy;
void api_error_openai_body(struct up_proxy *up, int status, const char *type, const char *code,
                           const char *msg, struct buf *out);
void api_error_openai_stream(struct up_proxy *up, const char *msg, struct buf *out);
#endif
