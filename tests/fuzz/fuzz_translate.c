/* fuzz_translate.c - libFuzzer harness for protocol translation (build and
 * run with scripts/fuzz.sh): arbitrary bytes through every request
 * translator (Anthropic Messages -> chat IR, Responses -> chat IR, chat ->
 * Anthropic), every whole-reply translator, the stream translators and the
 * stream assembler, under ASan/UBSan.
 *
 * Besides "no crash, no sanitizer report" it checks properties:
 *  - a request translation that succeeds gives valid JSON that the request
 *    scanner accepts as an object with a messages array, no longer than a
 *    small multiple of the input (the IR never amplifies a body);
 *  - one that fails leaves the output untouched and says why;
 *  - translated replies and assembled streams parse as JSON (cJSON: an
 *    upstream's bad UTF-8 is carried, not repaired, so not jscan_validate). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/translate.h"
#include "json/scan.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_translate: check failed: %s (line %d)\n", #c, __LINE__);         \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void check_parses(const buf_t *out)
{
    cJSON *j = cJSON_ParseWithLength(out->data, out->len);
    CHECK(j != NULL);
    cJSON_Delete(j);
}

static void check_ir(const buf_t *out, size_t in_len)
{
    CHECK(jscan_validate(out->data, out->len, NULL) == 0);
    jreq_t jr;
    CHECK(jscan_request(out->data, out->len, NULL, &jr, NULL) == 0);
    CHECK(jr.has_messages);
    CHECK(jr.dup_key == NULL);
    /* escaped text is copied once; a few fixed members and separators are
     * added per message (an empty message object {} becomes at most one) */
    CHECK(out->len <= 4 * in_len + 512);
}

static void requests(const char *d, size_t n)
{
    buf_t out = BUF_INIT;
    tr_warn_t w = {0};
    char err[256] = "";
    if (tr_req_anthropic_to_chat(d, n, NULL, &out, &w, err, sizeof err) == 0)
        check_ir(&out, n);
    else
        CHECK(out.len == 0 && err[0]);
    buf_free(&out);
    err[0] = 0;
    if (tr_req_responses_to_chat(d, n, NULL, "inst", "m", &out, &w, err, sizeof err) == 0)
        check_ir(&out, n + 20);
    else
        CHECK(out.len == 0 && err[0]);
    buf_free(&out);
    if (tr_req_chat_to_anthropic(d, n, "claude", &out, &w, err, sizeof err) == 0 && out.len)
        check_parses(&out);
    buf_free(&out);
}

static void replies(const char *d, size_t n)
{
    buf_t out = BUF_INIT;
    tr_warn_t w = {0};
    if (tr_resp_anthropic_to_chat(d, n, &out, &w) == 0 && out.len) check_parses(&out);
    buf_reset(&out);
    if (tr_resp_chat_to_anthropic(d, n, "m", &out, &w) == 0 && out.len) check_parses(&out);
    buf_reset(&out);
    tr_resp_meta_t meta = {.id = "resp_x", .model = "m", .created_at = 1};
    cJSON *items = NULL;
    if (tr_resp_chat_to_responses(d, n, &meta, &out, &items, &w) == 0 && out.len)
        check_parses(&out);
    cJSON_Delete(items);
    buf_free(&out);
    char msg[128];
    tr_error_message(d, n, msg, sizeof msg);
}

static size_t n_events;
static void count_emit(void *ud, const char *event, const char *data, size_t len)
{
    (void)ud;
    (void)event;
    CHECK(data || !len);
    n_events++;
}

/* Each line is one event's data; "event: x" lines name the next event. */
static void streams(const char *d, size_t n)
{
    tr_warn_t w = {0};
    tr_stream_t s[3];
    tr_stream_init(&s[0], TR_S_A2C, "m", count_emit, NULL, &w);
    tr_stream_init(&s[1], TR_S_C2A, "m", count_emit, NULL, &w);
    tr_stream_init(&s[2], TR_S_C2R, "m", count_emit, NULL, &w);
    tr_resp_meta_t meta = {.id = "resp_x", .model = "m", .created_at = 1};
    s[2].meta = &meta;
    tr_asm_t a;
    tr_asm_init(&a);
    char ev[64] = "";
    size_t i = 0;
    while (i < n) {
        const char *nl = memchr(d + i, '\n', n - i);
        size_t l = nl ? (size_t)(nl - (d + i)) : n - i;
        if (l > 7 && !memcmp(d + i, "event: ", 7)) {
            snprintf(ev, sizeof ev, "%.*s", (int)(l - 7 < 63 ? l - 7 : 63), d + i + 7);
        } else {
            for (int k = 0; k < 3; k++)
                tr_stream_event(&s[k], ev[0] ? ev : NULL, d + i, l);
            tr_asm_chunk(&a, d + i, l);
            ev[0] = 0;
        }
        i += l + 1;
    }
    for (int k = 0; k < 3; k++) {
        tr_stream_end(&s[k]);
        tr_stream_deinit(&s[k]);
    }
    buf_t out = BUF_INIT;
    tr_asm_finish(&a, &out);
    check_parses(&out);
    buf_free(&out);
    tr_asm_deinit(&a);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    /* a NUL-terminated copy, so any reader that wants a C string has one */
    char *d = malloc(size + 1);
    if (!d) return 0;
    memcpy(d, data, size);
    d[size] = 0;
    requests(d, size);
    replies(d, size);
    streams(d, size);
    free(d);
    return 0;
}
