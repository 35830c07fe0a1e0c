/* mock_stats.h - the counters of `tether mock`, reported at GET /mock/stats.
 *
 * JSON shape: {"requests":N,"by_model":{"m":N},"by_path":{"/v1/...":N},
 * "violations":N,"violations_by_code":{"unknown_tool_call_id":N,...},
 * "rejected":N,"failures_injected":N,"resets_injected":N,
 * "cached_tokens_total":N,"prompt_tokens_total":N,"completion_tokens_total":N,
 * "last_headers":[["name","value"],...]}
 * last_headers: the request headers of the last API request, as received
 * (names lowercased), so tests can check what a proxy forwarded.
 *
 * Thread-safety: every function locks the stats' own mutex. */
#ifndef TETHER_MOCK_STATS_H
#define TETHER_MOCK_STATS_H
#include "core/buf.h"
#include "http/server.h"
#include "mock/mock_strict.h"
#include <stdint.h>

typedef struct mock_stats mock_stats_t;

mock_stats_t *mock_stats_new(void);
void mock_stats_free(mock_stats_t *s);
void mock_stats_clear(mock_stats_t *s);
/* One API request on `path`; model may be NULL (not counted by model). */
void mock_stats_request(mock_stats_t *s, const char *path, const char *model);
/* rejected: the request was answered 400 (strict mode). */
void mock_stats_violation(mock_stats_t *s, mock_violation_t v, bool rejected);
void mock_stats_failure(mock_stats_t *s);
void mock_stats_reset(mock_stats_t *s);
void mock_stats_tokens(mock_stats_t *s, uint64_t prompt, uint64_t completion, uint64_t cached);
/* Remember the headers of the latest API request (replacing the previous). */
void mock_stats_headers(mock_stats_t *s, const hsrv_header_t *h, size_t n);
void mock_stats_json(mock_stats_t *s, buf_t *out);
#endif
