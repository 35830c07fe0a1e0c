/* fuzz_cache_stream.c - libFuzzer harness for the response cache's stream
 * formats (plugins/response_cache_sse.c, response_cache_stream.c): any
 * upstream SSE bytes assembled as a chat, Anthropic Messages or Responses
 * reply never crash or leak, and what assembles is JSON; a Messages or
 * Responses reply replayed as SSE (rc_render_hit) assembles back into the
 * same reply once normalised (render, assemble, render, assemble gives the
 * same bytes twice; a Response comes back exactly). Run with
 * scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plugins/response_cache_internal.h"
#include <cjson/cJSON.h>

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_cache_stream: check failed: %s (line %d)\n", #c, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* The reply json (proto) replayed as SSE and assembled again (heap), or
 * NULL when it does not render or assemble. */
static char *replay(rq_proto_t proto, const char *json)
{
    rc_hit_t h = {.kind = RC_HIT_EXACT, .body = (char *)json, .len = strlen(json), .proto = proto};
    buf_t out = BUF_INIT;
    const char *ct = NULL;
    char *back = NULL;
    if (rc_render_hit(&h, true, true, &out, &ct) == 0) {
        CHECK(ct && !strcmp(ct, "text/event-stream"));
        back = proto == RQ_PROTO_ANTHROPIC ? rc_assemble_messages(out.data, out.len)
                                           : rc_assemble_responses(out.data, out.len);
    }
    buf_free(&out);
    return back;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a heap copy of exactly size bytes, so ASan sees any over-read */
    char *s = malloc(size ? size : 1);
    if (!s) return 0;
    if (size) memcpy(s, data, size);
    char *chat = rc_assemble_chat(s, size);
    if (chat) {
        cJSON *j = cJSON_Parse(chat);
        CHECK(j);
        cJSON_Delete(j);
        rc_hit_t h = {.kind = RC_HIT_EXACT, .body = chat, .len = strlen(chat)};
        buf_t out = BUF_INIT;
        const char *ct;
        rc_render_hit(&h, true, true, &out, &ct);
        buf_free(&out);
    }
    free(chat);
    static const rq_proto_t protos[] = {RQ_PROTO_ANTHROPIC, RQ_PROTO_RESPONSES};
    for (size_t i = 0; i < 2; i++) {
        char *j1 = protos[i] == RQ_PROTO_ANTHROPIC ? rc_assemble_messages(s, size)
                                                   : rc_assemble_responses(s, size);
        if (!j1) continue;
        cJSON *j = cJSON_Parse(j1);
        CHECK(cJSON_IsObject(j));
        cJSON_Delete(j);
        char *j2 = replay(protos[i], j1);
        if (protos[i] == RQ_PROTO_RESPONSES && j2) CHECK(!strcmp(j1, j2));
        char *j3 = j2 ? replay(protos[i], j2) : NULL;
        if (j2) CHECK(j3 && !strcmp(j2, j3));
        free(j1);
        free(j2);
        free(j3);
    }
    free(s);
    return 0;
}
