/* translate_build.h - the reply-object builders shared by the whole-body
 * translators (translate_resp.c) and the stream translators
 * (translate_stream.c); private to src/api/. Public API: translate.h. */
#ifndef TETHER_API_TRANSLATE_BUILD_H
#define TETHER_API_TRANSLATE_BUILD_H
#include "api/translate.h"

static inline const char *tr_str_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* A member's integer value; -1 when absent, not a number, or outside what
 * an int64 holds (an upstream may send any number: 1e64 or NaN must not be
 * converted, which is undefined behaviour). */
static inline int64_t tr_num_of(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v)) return -1;
    double d = v->valuedouble;
    return d > -9.2e18 && d < 9.2e18 ? (int64_t)d : -1;
}

static inline int64_t tr_nz(int64_t v)
{
    return v < 0 ? 0 : v;
}

/* A chat.completion "usage" member on o (negative counts become 0). */
void tr_chat_usage(cJSON *o, int64_t prompt, int64_t completion, int64_t cached,
                   int64_t cache_write);
/* The counts of a chat.completion's (or final chunk's) usage; -1 when absent.
 * rt may be NULL. */
void tr_chat_usage_of(const cJSON *root, int64_t *p, int64_t *c, int64_t *cached, int64_t *rt);
/* "msg_<hash of chat_id>": an Anthropic message id derived from a chat id. */
void tr_msg_id_from(const char *chat_id, char *out, size_t n);
/* A Responses "usage" object (caller owns it). */
cJSON *tr_responses_usage(int64_t p, int64_t c, int64_t cached, int64_t rt);
/* A Response object; output is adopted (may be NULL: empty), usage too. */
cJSON *tr_response_object(const tr_resp_meta_t *m, const char *status, cJSON *output, cJSON *usage);
/* Responses output items: an assistant message (text may be NULL) and a
 * function call (caller owns them). */
cJSON *tr_msg_item(const char *id, const char *text, const char *status);
cJSON *tr_fc_item(const char *id, const char *call_id, const char *name, const char *args,
                  const char *status);
/* An Anthropic tool_use block {type,id,name,input} for a chat tool call's
 * "function" fn: input is its "arguments" parsed; a body that is not an
 * object becomes {} with the warning tool_arguments_not_an_object. */
cJSON *tr_tool_use_block(const char *id, const cJSON *fn, tr_warn_t *w);
/* A chat.completion body parsed, with its first choice and that choice's
 * message (either may be NULL); NULL when the body is not a JSON object. */
cJSON *tr_chat_parse(const char *body, size_t len, const cJSON **choice, const cJSON **msg);
/* "<prefix>_<hash of seed and k>": a stable item id. */
void tr_item_id(const char *prefix, const char *seed, int k, char *out, size_t n);
#endif
