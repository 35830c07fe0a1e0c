/* response_cache_internal.h - private to the response_cache plugin: the
 * calls its files make on each other. response_cache.c (the store),
 * response_cache_key.c (keys, query embedding), response_cache_sse.c
 * (streamed chat assembly, hit rendering) and response_cache_stream.c (the
 * same for Messages and Responses). Other modules use
 * plugins/response_cache.h. */
#ifndef TETHER_PLUGINS_RESPONSE_CACHE_INTERNAL_H
#define TETHER_PLUGINS_RESPONSE_CACHE_INTERNAL_H
#include "plugins/response_cache.h"
#include "select/select.h"
#include <stdbool.h>
#include <stddef.h>

/* ---- response_cache_key.c ---- */

/* The key's mode looks up by similarity (semantic or exact_then_semantic). */
bool rc_key_is_semantic(const rc_key_t *k);
/* The query embedding, computed once per key with emb (k owns it); NULL
 * when there is no query or embedder, or embedding failed. */
const float *rc_key_embedding(rc_key_t *k, const sel_embedder_t *emb);

/* ---- response_cache_sse.c ---- */

/* The chat.completion JSON of a streamed chat response (heap), NULL when
 * the stream is unusable or never finished. */
char *rc_assemble_chat(const char *sse, size_t len);

/* ---- response_cache_stream.c ---- */

/* The Message JSON of a streamed Anthropic Messages reply (heap), NULL when
 * the stream is unusable or never reached message_stop. */
char *rc_assemble_messages(const char *sse, size_t len);
/* The Response of a streamed Responses reply's response.completed (heap),
 * NULL without one (failed, incomplete, cut short). */
char *rc_assemble_responses(const char *sse, size_t len);
/* A stored Message / Response (h->proto) as that protocol's SSE events,
 * appended to out. -1 when it cannot be rendered. */
int rc_render_stream(const rc_hit_t *h, buf_t *out);

#endif
