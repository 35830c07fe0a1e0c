/* errors.c - OpenAI-shaped error responses, with a log line each. */
#include "api/errors.h"
#include "core/buf.h"
#include "core/log.h"
#include "http/sse.h"
#include "metrics/catalog.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

void api_error_openai_json(buf_t *b, const char *type, const char *code, const char *param,
                           const char *message)
{
    buf_puts(b, "{\"error\":{\"message\":");
    buf_json_str(b, message, strlen(message));
    buf_puts(b, ",\"type\":");
    buf_json_str(b, type, strlen(type));
    buf_puts(b, ",\"param\":");
    buf_json_cstr(b, param);
    buf_puts(b, ",\"code\":");
    buf_json_str(b, code, strlen(code));
    buf_puts(b, "}}");
}

void api_error_openai_body(struct up_proxy *up, int status, const char *type, const char *code,
                           const char *msg, buf_t *out)
{
    (void)up;
    (void)status;
    api_error_openai_json(out, type, code, NULL, msg);
}

void api_error_openai_stream(struct up_proxy *up, const char *msg, buf_t *out)
{
    (void)up;
    buf_t js = BUF_INIT;
    api_error_openai_json(&js, "upstream_error", "stream_aborted", NULL, msg);
    sse_write_event(out, NULL, js.data, js.len);
    buf_free(&js);
}

void api_error_openai(hsrv_req_t *req, int status, const char *type, const char *code,
                      const char *param, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    buf_t b = BUF_INIT;
    api_error_openai_json(&b, type, code, param, msg);
    tlog(status >= 500 ? TLOG_ERROR : TLOG_WARN, "request_error",
         "\"request_id\":\"%s\",\"method\":\"%s\",\"status\":%d,\"code\":\"%s\"", req->request_id,
         req->method_str ? req->method_str : "", status, code);
    const char *ep = !req->path                               ? "other"
                     : strstr(req->path, "/chat/completions") ? "chat"
                     : strstr(req->path, "/v1/responses")     ? "responses"
                                                              : "other";
    api_error_respond(req, status, &b, ep, "openai", code);
}

void api_error_respond(hsrv_req_t *req, int status, buf_t *body, const char *endpoint,
                       const char *protocol, const char *code)
{
    hsrv_header_t h[2] = {
        {"content-type", 12, "application/json", 16},
        {"x-tether-request-id", 19, req->request_id, strlen(req->request_id)},
    };
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    met_inc(tmet.requests_total, 1, endpoint, st, protocol);
    met_inc(tmet.request_errors_total, 1, endpoint, code);
    hsrv_respond(req, status, h, 2, body->data, body->len);
    buf_free(body);
}
