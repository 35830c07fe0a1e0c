/* mock_session.h - the simulated prefix cache of `tether mock`.
 *
 * Per (model, session) it remembers the canonical text of the previous
 * request; cached_tokens of a new request = floor(lcp / MOCK_TOKEN_BYTES),
 * lcp being the byte length of the longest common prefix with that previous
 * text (only whole tokens are cached). The new text then replaces the old.
 * At most `max_sessions` are kept; the least recently used is evicted.
 *
 * Thread-safety: all functions lock the cache's own mutex. */
#ifndef TETHER_MOCK_SESSION_H
#define TETHER_MOCK_SESSION_H
#include <stddef.h>
#include <stdint.h>

typedef struct mock_cache mock_cache_t;

mock_cache_t *mock_cache_new(size_t max_sessions);
void mock_cache_free(mock_cache_t *c);
/* Look up the session of (model, session), compute cached tokens against its
 * previous text, and store `text` as its new previous text. */
uint64_t mock_cache_update(mock_cache_t *c, const char *model, const char *session,
                           size_t session_len, const char *text, size_t text_len);
/* Forget every session. */
void mock_cache_clear(mock_cache_t *c);
size_t mock_cache_count(mock_cache_t *c);
/* Byte length of the longest common prefix of a and b. */
size_t mock_lcp(const char *a, size_t alen, const char *b, size_t blen);
#endif
