/* fuzz_binding.c - libFuzzer harness for the session binding codec
 * (session/binding_token.c): parsing any client-sent id never reads out of
 * bounds, orig_len never exceeds the input, a binding is only valid with a
 * tag that verifies, and wrapping the input (as an id) then parsing it gives
 * back the input, the model and the backend, while any changed byte of the
 * suffix leaves it unverified; the same for the tool form of tool call ids.
 * Run with scripts/fuzz.sh. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "session/binding_token.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_binding: check failed: %s (line %d)\n", #c, __LINE__);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char KEY[] = "fuzzing key of some length";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* a heap copy of exactly size bytes, so ASan sees any over-read */
    char *s = malloc(size ? size : 1);
    if (!s) return 0;
    if (size) memcpy(s, data, size);
    sess_binding_t b;
    sess_binding_parse(KEY, sizeof KEY - 1, s, size, &b);
    CHECK(b.orig_len <= size);
    if (!b.wrapped) CHECK(b.orig_len == size && !b.valid);
    if (b.valid) CHECK(b.model[0] != 0);

    /* round trip: the input as an id, its first bytes as the model name */
    char out[SESS_BINDING_ID_MAX + 1];
    size_t n = sess_binding_wrap(KEY, sizeof KEY - 1, SESS_BINDING_CHAT, s, size, "m", "b", out,
                                 sizeof out);
    if (n) {
        sess_binding_parse(KEY, sizeof KEY - 1, out, n, &b);
        CHECK(b.wrapped && b.valid && b.orig_len == size);
        CHECK(!memcmp(out, s, size));
        CHECK(!strcmp(b.model, "m") && !strcmp(b.backend, "b"));
        size_t at = size + (size ? data[0] : 0) % (n - size);
        out[at] ^= 0x01;
        sess_binding_parse(KEY, sizeof KEY - 1, out, n, &b);
        CHECK(!b.valid);
    }
    /* the same for the tool form (tool call ids: no '.') */
    sess_binding_parse_tool(KEY, sizeof KEY - 1, s, size, &b);
    CHECK(b.orig_len <= size);
    if (!b.wrapped) CHECK(b.orig_len == size && !b.valid);
    if (b.valid) CHECK(b.model[0] != 0 && b.kind == SESS_BINDING_TOOL);
    n = sess_binding_wrap(KEY, sizeof KEY - 1, SESS_BINDING_TOOL, s, size, "m", "b", out,
                          sizeof out);
    if (n) {
        CHECK(!memchr(out + size, '.', n - size));
        sess_binding_parse_tool(KEY, sizeof KEY - 1, out, n, &b);
        CHECK(b.wrapped && b.valid && b.orig_len == size);
        CHECK(!strcmp(b.model, "m") && !strcmp(b.backend, "b"));
        size_t at = size + (size ? data[0] : 0) % (n - size);
        out[at] ^= 0x01;
        sess_binding_parse_tool(KEY, sizeof KEY - 1, out, n, &b);
        CHECK(!b.valid);
    }
    free(s);
    return 0;
}
