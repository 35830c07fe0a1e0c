/* saar_checker.c - independent continuity checker for `bench saar`. Builds a
 * cJSON tree of the request (small bodies, clarity over speed) and looks for
 * open tool loops and provider-bound state. Deliberately shares no code with
 * src/json (the request scanner) or the session policy, so a bug there cannot
 * hide an unsafe switch here. */
#include "bench/saar_checker.h"
#include "bench/saar_request.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *saar_verdict_name(saar_verdict_t v)
{
    switch (v) {
    case SAAR_UNSAFE_TOOL_LOOP: return "unsafe_tool_loop";
    case SAAR_UNSAFE_PROVIDER_STATE: return "unsafe_provider_state";
    default: return "safe";
    }
}

typedef struct idset {
    const char **id;
    size_t n, cap;
} idset_t;

static void idset_add(idset_t *s, const char *id)
{
    if (s->n == s->cap) {
        s->cap = s->cap ? s->cap * 2 : 16;
        const char **p = realloc(s->id, s->cap * sizeof *p);
        if (!p) abort();
        s->id = p;
    }
    s->id[s->n++] = id;
}

static int idset_has(const idset_t *s, const char *id)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->id[i], id)) return 1;
    return 0;
}

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Record a state token; the first token that names its issuer wins. */
static void note_state(saar_check_t *c, const char *token)
{
    c->has_provider_state = 1;
    if (!token || c->state_owner[0]) return;
    const char *p = strstr(token, SAAR_STATE_TOKEN_PREFIX);
    if (!p) return;
    p += strlen(SAAR_STATE_TOKEN_PREFIX);
    const char *end = strchr(p, ':');
    size_t n = end ? (size_t)(end - p) : strlen(p);
    if (n == 0 || n >= sizeof c->state_owner) return;
    memcpy(c->state_owner, p, n);
    c->state_owner[n] = 0;
}

/* thought signatures may sit anywhere inside a message (tool calls, parts) */
static void scan_thought_signatures(const cJSON *node, saar_check_t *c)
{
    for (const cJSON *ch = node ? node->child : NULL; ch; ch = ch->next) {
        if (ch->string &&
            (!strcmp(ch->string, "thought_signature") || !strcmp(ch->string, "thoughtSignature")))
            note_state(c, cJSON_IsString(ch) ? ch->valuestring : NULL);
        if (cJSON_IsObject(ch) || cJSON_IsArray(ch)) scan_thought_signatures(ch, c);
    }
}

static void scan_reasoning_details(const cJSON *arr, saar_check_t *c)
{
    const cJSON *e;
    cJSON_ArrayForEach(e, arr)
    {
        const char *type = str_of(e, "type");
        if (type && strstr(type, "encrypted")) note_state(c, str_of(e, "data"));
        if (str_of(e, "encrypted_content")) note_state(c, str_of(e, "encrypted_content"));
        if (str_of(e, "signature")) note_state(c, str_of(e, "signature"));
    }
}

/* One message: collect tool calls and results in order, provider state. The
 * latest-message flag is recomputed per message so the last one decides. */
static void scan_message(const cJSON *m, idset_t *calls, idset_t *results, int *last_is_result,
                         saar_check_t *c)
{
    const char *role = str_of(m, "role");
    const char *type = str_of(m, "type");
    int is_result = 0;
    if (role && !strcmp(role, "tool")) {
        const char *id = str_of(m, "tool_call_id");
        if (id) idset_add(results, id);
        is_result = 1;
    }
    /* Responses-style items */
    if (type && !strcmp(type, "function_call") && str_of(m, "call_id"))
        idset_add(calls, str_of(m, "call_id"));
    if (type && !strcmp(type, "function_call_output")) {
        if (str_of(m, "call_id")) idset_add(results, str_of(m, "call_id"));
        is_result = 1;
    }
    if (type && !strcmp(type, "reasoning") && str_of(m, "encrypted_content"))
        note_state(c, str_of(m, "encrypted_content"));

    const cJSON *tc = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *e;
    cJSON_ArrayForEach(e, tc)
    {
        const char *id = str_of(e, "id");
        if (id) idset_add(calls, id);
    }
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(m, "reasoning_details");
    if (cJSON_IsArray(rd)) scan_reasoning_details(rd, c);

    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (cJSON_IsArray(content)) {
        int all_results = cJSON_GetArraySize(content) > 0;
        cJSON_ArrayForEach(e, content)
        {
            const char *bt = str_of(e, "type");
            if (!bt) {
                all_results = 0;
                continue;
            }
            if (!strcmp(bt, "tool_use") && str_of(e, "id")) idset_add(calls, str_of(e, "id"));
            if (!strcmp(bt, "tool_result")) {
                if (str_of(e, "tool_use_id")) idset_add(results, str_of(e, "tool_use_id"));
            } else {
                all_results = 0;
            }
            if (!strcmp(bt, "thinking") && str_of(e, "signature"))
                note_state(c, str_of(e, "signature"));
            if (!strcmp(bt, "redacted_thinking")) note_state(c, str_of(e, "data"));
        }
        if (all_results) is_result = 1;
    }
    scan_thought_signatures(m, c);
    *last_is_result = is_result;
}

int saar_check_scan(const char *body, size_t len, saar_check_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *root = cJSON_ParseWithLength(body, len);
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return -1;
    }
    const char *prid = str_of(root, "previous_response_id");
    if (prid && prid[0]) note_state(out, prid);

    idset_t calls = {0}, results = {0};
    int last_is_result = 0;
    const char *lists[2] = {"messages", "input"};
    for (int l = 0; l < 2; l++) {
        const cJSON *arr = cJSON_GetObjectItemCaseSensitive(root, lists[l]), *m;
        if (!cJSON_IsArray(arr)) continue;
        cJSON_ArrayForEach(m, arr)
        {
            if (cJSON_IsObject(m)) scan_message(m, &calls, &results, &last_is_result, out);
        }
    }
    for (size_t i = 0; i < calls.n; i++)
        if (!idset_has(&results, calls.id[i])) out->tool_call_unanswered = 1;
    out->tool_results_latest = last_is_result;
    free(calls.id);
    free(results.id);
    cJSON_Delete(root);
    return 0;
}

void saar_check_judge(saar_check_t *c, const char *prev_model, const char *chosen_model)
{
    c->is_switch = strcmp(prev_model, chosen_model) != 0;
    c->verdict = SAAR_SAFE;
    if (!c->is_switch) return;
    if (c->tool_call_unanswered || c->tool_results_latest)
        c->verdict = SAAR_UNSAFE_TOOL_LOOP;
    else if (c->has_provider_state &&
             (!c->state_owner[0] || strcmp(c->state_owner, chosen_model) != 0))
        c->verdict = SAAR_UNSAFE_PROVIDER_STATE;
}

int saar_check_turn(const char *body, size_t len, const char *prev_model, const char *chosen_model,
                    saar_check_t *out)
{
    int rc = saar_check_scan(body, len, out);
    saar_check_judge(out, prev_model, chosen_model);
    if (rc) out->verdict = SAAR_SAFE;
    return rc;
}
