/* mock_script.h - per-request fault script of `tether mock --script FILE`.
 *
 * The file holds JSON lines, one per incoming API request in arrival order
 * (blank lines and lines starting with '#' are skipped):
 *   {"status":503, "delay_ms":100, "reset_after_bytes":40, "body":"..."}
 * Every field is optional. status + body: answer exactly that (body is a
 * string sent verbatim, or any JSON value sent serialised). status alone:
 * an OpenAI error body for that status. delay_ms: wait before answering.
 * reset_after_bytes: send that many bytes of the response body (for
 * streams: of the SSE bytes) and reset the connection. stream: true answers
 * with a stream (SSE) even when the request did not ask for one (a backend
 * that ignores "stream": false). An empty object {}
 * means "behave normally". Requests after the last line behave normally.
 *
 * Thread-safety: mock_script_next locks; load/free are not thread-safe. */
#ifndef TETHER_MOCK_SCRIPT_H
#define TETHER_MOCK_SCRIPT_H
#include <stddef.h>
#include <stdint.h>

typedef struct mock_step {
    int status; /* 0: not set */
    uint64_t delay_ms;
    long long reset_after_bytes; /* < 0: no reset */
    char *body;                  /* NULL: not set */
    int force_stream;            /* answer with SSE whatever the request asked */
} mock_step_t;

typedef struct mock_script mock_script_t;

/* Returns NULL and fills err ("FILE:LINE: ...") on a read or parse error. */
mock_script_t *mock_script_load(const char *path, char *err, size_t errlen);
mock_script_t *mock_script_parse(const char *text, size_t len, const char *name, char *err,
                                 size_t errlen);
void mock_script_free(mock_script_t *s);
/* The step for the next request, or NULL when the script is exhausted. The
 * step stays owned by the script. */
const mock_step_t *mock_script_next(mock_script_t *s);
/* Start over from the first line (POST /mock/reset). */
void mock_script_rewind(mock_script_t *s);
size_t mock_script_len(const mock_script_t *s);
#endif
