/* saar_request.c - builds the real chat-completions request of a benchmark
 * turn (body, x-session-id, clock, base scores). Texts come from two fixed
 * pools picked by a hash of (session, turn), so no random draws are added to
 * the workload's MT19937 stream. See saar_request.h for the wire shapes. */
#include "bench/saar_request.h"
#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static const char *const coding_texts[] = {
    "Refactor the parser in src/json/scan.c so the failing unit test passes; the function "
    "returns a null pointer when the buffer is empty.",
    "The build fails with an undefined reference to sess_store_get when linking the test "
    "binary. Fix the Makefile rule or the missing source file.",
    "Add a regression test for the off-by-one bug in the ring buffer and make the loop "
    "index unsigned.",
    "Why does this function leak memory under AddressSanitizer? Trace the allocation and "
    "free it on the error path.",
    "Implement the retry with exponential backoff in the HTTP client and cover it with a "
    "unit test that injects a connection reset.",
    "Review this diff for thread safety: the counter is incremented from two worker "
    "threads without a lock or an atomic.",
    "Rename the struct fields to snake_case across the module and update every call site "
    "and header so it still compiles.",
    "Profile the hot loop in the tokenizer code and replace the quadratic string search with a "
    "single pass over the bytes.",
};

static const char *const writing_texts[] = {
    "Write a short poem about autumn light on a quiet harbour, with a gentle rhyme in the "
    "final stanza.",
    "Draft a warm, persuasive paragraph for the newsletter essay about slow travel by train "
    "across the mountains.",
    "Tell a bedtime story about a shy lighthouse keeper and a lost seabird; keep the tone "
    "tender and whimsical.",
    "Polish the prose of this wedding toast so the rhythm flows and the anecdote about the "
    "canoe trip lands warmly.",
    "Compose a haiku sequence on winter mornings and describe the character of the "
    "narrator in one lyrical sentence.",
    "Rewrite the opening chapter of my novel so the heroine's voice feels vivid, wistful "
    "and a little funny.",
};

#define NCODING  (sizeof coding_texts / sizeof coding_texts[0])
#define NWRITING (sizeof writing_texts / sizeof writing_texts[0])

static const char *const reply_texts[] = {
    "Done: I changed the function and the unit test now passes.",
    "Here is the patch with the fix and a short explanation of the root cause.",
    "I updated the code; the build is green and no warnings remain.",
};

static const char tools_json[] =
    "[{\"type\":\"function\",\"function\":{\"name\":\"run_tests\",\"description\":\"Run the "
    "project's unit tests\",\"parameters\":{\"type\":\"object\",\"properties\":{\"path\":"
    "{\"type\":\"string\"}}}}},{\"type\":\"function\",\"function\":{\"name\":\"read_file\","
    "\"description\":\"Read a file from the repository\",\"parameters\":{\"type\":\"object\","
    "\"properties\":{\"path\":{\"type\":\"string\"}},\"required\":[\"path\"]}}}]";

static unsigned text_hash(int session, int t)
{
    return (unsigned)(session * 31 + t * 7 + 3);
}

const char *saar_turn_text(const saar_turn_t *turn)
{
    unsigned h = text_hash(turn->session, turn->t);
    if (turn->phase == SAAR_PHASE_TOPIC_DRIFT) return writing_texts[h % NWRITING];
    return coding_texts[h % NCODING];
}

void saar_request_init(saar_request_t *r)
{
    memset(r, 0, sizeof *r);
}

void saar_request_deinit(saar_request_t *r)
{
    buf_free(&r->body);
}

uint64_t saar_turn_clock_ms(const saar_turn_t *turn, uint64_t prev_clock_ms)
{
    if (turn->t == 0) return SAAR_CLOCK_EPOCH_MS + (uint64_t)turn->session * 3600000ull;
    return prev_clock_ms + (turn->is_idle ? SAAR_IDLE_GAP_MS : SAAR_TURN_GAP_MS);
}

void saar_base_scores(double demand, double out[SAAR_N_MODELS])
{
    /* Midpoints 0.55 and 0.78 are the base-choice thresholds. */
    static const double anchor[SAAR_N_MODELS] = {0.40, 0.70, 0.86};
    int base = saar_base_choice(demand);
    double best_other = -1.0;
    for (int m = 0; m < SAAR_N_MODELS; m++) {
        out[m] = 1.0 - fabs(demand - anchor[m]);
        if (m != base && out[m] > best_other) best_other = out[m];
    }
    if (out[base] <= best_other) out[base] = best_other + 1e-6;
}

static void put_str_member(buf_t *b, const char *key, const char *val)
{
    buf_json_str(b, key, strlen(key));
    buf_putc(b, ':');
    buf_json_str(b, val, strlen(val));
}

static void put_user(buf_t *b, const char *text)
{
    buf_puts(b, ",{\"role\":\"user\",");
    put_str_member(b, "content", text);
    buf_putc(b, '}');
}

/* assistant tool_calls message plus one tool result per call */
static void put_tool_exchange(buf_t *b, const char *sid, int t)
{
    int ncalls = 1 + (t % 2);
    static const char *const names[2] = {"run_tests", "read_file"};
    buf_puts(b, ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[");
    for (int k = 0; k < ncalls; k++) {
        buf_printf(b,
                   "%s{\"id\":\"call_%s_%d_%d\",\"type\":\"function\",\"function\":{\"name\":"
                   "\"%s\",\"arguments\":\"{\\\"path\\\":\\\"src/module%d.c\\\"}\"}}",
                   k ? "," : "", sid, t, k, names[k], t);
    }
    buf_puts(b, "]}");
    for (int k = 0; k < ncalls; k++)
        buf_printf(b, ",{\"role\":\"tool\",\"tool_call_id\":\"call_%s_%d_%d\",\"content\":\"%s\"}",
                   sid, t, k,
                   k ? "int parse(const char *p) { return p ? 0 : -1; }"
                     : "3 passed, 1 failed: test_empty_buffer");
}

/* The previous turn as plain history: its user text, any tool exchange it
 * had (answered, then closed by an assistant reply), and the reply. Clients
 * strip reasoning from history, so no provider state rides along here. */
static void put_history(buf_t *b, const char *sid, const saar_turn_t *prev)
{
    put_user(b, saar_turn_text(prev));
    if (prev->phase == SAAR_PHASE_TOOL_LOOP) put_tool_exchange(b, sid, prev->t);
    buf_puts(b, ",{\"role\":\"assistant\",");
    put_str_member(b, "content",
                   prev->phase == SAAR_PHASE_TOPIC_DRIFT
                       ? "Here is a draft; tell me if the tone should be lighter."
                       : reply_texts[text_hash(prev->session, prev->t) % 3]);
    buf_putc(b, '}');
}

void saar_request_build(saar_request_t *r, const saar_turn_t *turn, const saar_turn_t *prev_turn,
                        int state_owner, uint64_t clock_ms)
{
    assert(state_owner >= 0 && state_owner < SAAR_N_MODELS);
    buf_t *b = &r->body;
    buf_reset(b);
    snprintf(r->session_id, sizeof r->session_id, "sess-%03d", turn->session);
    r->headers[0] = (saar_header_t){"x-session-id", r->session_id};
    r->headers[1] = (saar_header_t){"content-type", "application/json"};
    r->n_headers = 2;
    r->clock_ms = clock_ms;
    saar_base_scores(turn->demand, r->base_scores);

    const char *sid = r->session_id;
    const char *owner = saar_models[state_owner].name;
    int prev_t = prev_turn ? prev_turn->t : turn->t - 1;
    int by_response_id = turn->phase == SAAR_PHASE_PROVIDER_STATE && turn->t % 2 == 0;

    buf_puts(b, "{\"model\":\"auto\",\"stream\":false,");
    if (by_response_id)
        buf_printf(b, "\"previous_response_id\":\"resp_" SAAR_STATE_TOKEN_PREFIX "%s:%s:%d\",",
                   owner, sid, prev_t);
    buf_puts(b, "\"messages\":[{\"role\":\"system\",\"content\":\"You are a helpful assistant "
                "working in the user's software project.\"}");
    if (by_response_id) {
        /* the conversation so far lives with the provider */
    } else if (turn->phase == SAAR_PHASE_PROVIDER_STATE) {
        if (prev_turn) put_user(b, saar_turn_text(prev_turn));
        buf_puts(b, ",{\"role\":\"assistant\",\"content\":\"I checked the failing test and "
                    "found the cause.\",\"reasoning_details\":[{\"type\":\"reasoning.summary\","
                    "\"summary\":\"Looked at the test output.\"},{\"type\":"
                    "\"reasoning.encrypted\",");
        buf_printf(b,
                   "\"id\":\"rs_%s_%d\",\"format\":\"openai-responses-v1\",\"data\":"
                   "\"" SAAR_STATE_TOKEN_PREFIX "%s:%s:%d\"}]}",
                   sid, prev_t, owner, sid, prev_t);
    } else if (prev_turn) {
        put_history(b, sid, prev_turn);
    }
    put_user(b, saar_turn_text(turn));
    if (turn->phase == SAAR_PHASE_TOOL_LOOP) put_tool_exchange(b, sid, turn->t);
    buf_puts(b, "],\"tools\":");
    buf_puts(b, tools_json);
    buf_puts(b, ",\"temperature\":0.2}");
}
