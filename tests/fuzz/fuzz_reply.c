/* fuzz_reply.c - libFuzzer harness for jreply_scan (json/reply_scan.h), the
 * one walk over an upstream reply (build and run with scripts/fuzz.sh).
 *
 * Besides "no crash, no sanitizer report" it checks that, for any input,
 * jreply_scan answers what the readers it replaced answer:
 *  - its usage is jscan_usage's, field by field;
 *  - on a valid reply, its id is the top-level "id" jscan_obj_get finds
 *    (rid_wrap_top_id's lookup), and its text is the string
 *    choices[0].message/.delta.content that the walk of
 *    up_capture_chat_text finds (both written here with the span helpers),
 *    for whole replies and deltas;
 *  - valid is false whenever jscan_validate rejects the input for anything
 *    but a lone surrogate, and true when it accepts an object;
 *  - every field (valid, usage, id, text, escaped_key) is the one the
 *    former validate-then-pick walk gives (tests/support/reply_scan_ref.h). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json/reply_scan.h"
#include "../support/reply_scan_ref.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_reply: check failed: %s (line %d)\n", #c, __LINE__);             \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool span_eq(jspan_t a, jspan_t b)
{
    return a.off == b.off && a.len == b.len;
}

/* rid_wrap_top_id's lookup of the id (response_id.c). */
static jspan_t old_id(const char *doc, size_t len)
{
    jspan_t all = {0, (uint32_t)len}, id = {0, 0};
    if (jscan_type(doc, all) != '{') {
        size_t i = 0;
        while (i < len && (doc[i] == ' ' || doc[i] == '\n' || doc[i] == '\r' || doc[i] == '\t'))
            i++;
        if (i >= len || doc[i] != '{') return id;
        all.off = (uint32_t)i;
        all.len = (uint32_t)(len - i);
    }
    if (!jscan_obj_get(doc, all, "id", &id)) id.len = 0;
    return id;
}

/* up_capture_chat_text's walk (proxy.c), without its gates. */
static jspan_t old_text(const char *doc, size_t len, bool delta)
{
    jspan_t d = {0, (uint32_t)len}, ch, c0, msg, ct, none = {0, 0};
    uint32_t cur = 0;
    if (jscan_obj_get(doc, d, "choices", &ch) && jscan_arr_next(doc, ch, &cur, &c0) &&
        jscan_obj_get(doc, c0, delta ? "delta" : "message", &msg) &&
        jscan_obj_get(doc, msg, "content", &ct) && jscan_type(doc, ct) == '"')
        return ct;
    return none;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *doc = (const char *)data;
    for (int delta = 0; delta < 2; delta++) {
        jreply_t r;
        jusage_t u;
        jreply_scan(doc, size, delta, &r);
        jscan_usage(doc, size, &u);
        { /* the former validate-then-pick walk, field by field */
            jreply_t ref;
            jreply_scan_ref(doc, size, delta, &ref);
            CHECK(r.valid == ref.valid && r.escaped_key == ref.escaped_key);
            CHECK(r.usage.found == ref.usage.found);
            CHECK(r.usage.prompt_tokens == ref.usage.prompt_tokens);
            CHECK(r.usage.completion_tokens == ref.usage.completion_tokens);
            CHECK(r.usage.cached_tokens == ref.usage.cached_tokens);
            CHECK(r.usage.cache_creation_tokens == ref.usage.cache_creation_tokens);
            CHECK(r.usage.reasoning_tokens == ref.usage.reasoning_tokens);
            CHECK(r.usage.is_anthropic == ref.usage.is_anthropic);
            CHECK(span_eq(r.id, ref.id) && span_eq(r.text, ref.text));
        }
        CHECK(r.usage.found == u.found);
        CHECK(r.usage.prompt_tokens == u.prompt_tokens);
        CHECK(r.usage.completion_tokens == u.completion_tokens);
        CHECK(r.usage.cached_tokens == u.cached_tokens);
        CHECK(r.usage.cache_creation_tokens == u.cache_creation_tokens);
        CHECK(r.usage.reasoning_tokens == u.reasoning_tokens);
        CHECK(r.usage.is_anthropic == u.is_anthropic);
        if (!jscan_validate(doc, size, NULL)) {
            size_t i = 0;
            while (i < size && strchr(" \t\r\n", doc[i]))
                i++;
            CHECK(r.valid == (i < size && doc[i] == '{'));
        }
        if (!r.valid) continue;
        CHECK(span_eq(r.id, old_id(doc, size)));
        CHECK(span_eq(r.text, old_text(doc, size, delta)));
    }
    return 0;
}
