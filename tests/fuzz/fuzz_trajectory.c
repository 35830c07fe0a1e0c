/* fuzz_trajectory.c - libFuzzer harness for the conversation rebuilt from
 * captured bodies (replay/trajectory.c): client request bodies and upstream
 * response bodies are untrusted JSON (OpenAI chat, Anthropic Messages or
 * anything else). Whatever they hold, the trajectory is valid JSON, with
 * and without content, and a redacted one keeps only role, tool call ids
 * and names, with content "[redacted]". The
 * input is split at its first NUL into a request and a response body;
 * two turns use them in both orders. Run with scripts/fuzz.sh. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "replay/query.h"
#include "replay/store.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_trajectory: check failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void put(replay_store_t *s, uint64_t ms, int64_t turn, const char *req, size_t rl,
                const char *res, size_t sl)
{
    replay_record_t *r = replay_record_new(ms);
    r->has_session = true;
    replay_record_set(&r->session.id, "f");
    replay_record_set(&r->session.reason, "stay_best_adjusted");
    r->session.turn = turn;
    replay_record_set_body(r, 0, req, rl, 0);
    replay_record_set_body(r, 1, res, sl, 0);
    CHECK(replay_store_write(s, &r, 1, NULL) == REPLAY_OK);
    replay_record_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *d = (const char *)data;
    const char *nul = memchr(d, 0, size);
    size_t rl = nul ? (size_t)(nul - d) : size;
    const char *res = nul ? nul + 1 : "";
    size_t sl = nul ? size - rl - 1 : 0;
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "memory";
    c.max_records = 4;
    replay_store_t *s = replay_store_open(&c, NULL);
    CHECK(s);
    put(s, 1000, 1, d, rl, res, sl);
    put(s, 2000, 2, res, sl, d, rl);
    for (int with = 0; with < 2; with++) {
        buf_t out = BUF_INIT;
        CHECK(replay_query_trajectory(s, "f", with, &out, NULL) == REPLAY_OK);
        cJSON *j = cJSON_Parse(out.data);
        CHECK(j);
        const cJSON *m;
        cJSON_ArrayForEach(m, cJSON_GetObjectItem(j, "messages"))
        {
            CHECK(cJSON_IsObject(m));
            if (!with) { /* only the allowed members, content redacted */
                const cJSON *k;
                cJSON_ArrayForEach(k, m)
                {
                    CHECK(!strcmp(k->string, "role") || !strcmp(k->string, "content") ||
                          !strcmp(k->string, "tool_call_id") || !strcmp(k->string, "tool_calls"));
                    if (!strcmp(k->string, "content"))
                        CHECK(cJSON_IsString(k) && !strcmp(k->valuestring, "[redacted]"));
                }
            }
        }
        cJSON_Delete(j);
        buf_free(&out);
    }
    replay_store_close(s);
    return 0;
}
