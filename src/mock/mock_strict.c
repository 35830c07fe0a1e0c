/* mock_strict.c - registry of the state `tether mock` issued (response ids,
 * tool call ids, encrypted reasoning, thinking signatures) and the strict
 * continuity check over a request. The set stores 64-bit hashes of
 * (kind, id) in an open-addressed table; a collision would need 2^32 ids. */
#include "mock/mock_strict.h"
#include "core/hash.h"
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First element of an array/object (NULL for anything else or NULL). */
static const cJSON *cj_child(const cJSON *x)
{
    return x ? x->child : NULL;
}

struct mock_registry {
    pthread_mutex_t mu;
    uint64_t *slots; /* 0 = empty */
    size_t cap, count;
};

static const char *const CODES[MOCK_V__COUNT] = {
    [MOCK_V_NONE] = "none",
    [MOCK_V_TOOL_CALL] = "unknown_tool_call_id",
    [MOCK_V_PREVIOUS_RESPONSE] = "unknown_previous_response_id",
    [MOCK_V_REASONING] = "unknown_reasoning_item",
    [MOCK_V_SIGNATURE] = "unknown_thinking_signature",
};

const char *mock_violation_code(mock_violation_t v)
{
    return (unsigned)v < MOCK_V__COUNT ? CODES[v] : "unknown";
}

mock_registry_t *mock_registry_new(void)
{
    mock_registry_t *r = calloc(1, sizeof *r);
    if (!r) abort();
    pthread_mutex_init(&r->mu, NULL);
    r->cap = 1024;
    r->slots = calloc(r->cap, sizeof *r->slots);
    if (!r->slots) abort();
    return r;
}

void mock_registry_free(mock_registry_t *r)
{
    if (!r) return;
    free(r->slots);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

static uint64_t key_of(mock_id_kind_t kind, const char *id)
{
    uint64_t h = hash_xxh64(id, strlen(id), 0x5354524943540000ull + (uint64_t)kind);
    return h ? h : 1;
}

static void insert_locked(mock_registry_t *r, uint64_t k)
{
    size_t mask = r->cap - 1, i = k & mask;
    while (r->slots[i] && r->slots[i] != k)
        i = (i + 1) & mask;
    if (!r->slots[i]) {
        r->slots[i] = k;
        r->count++;
    }
}

void mock_registry_add(mock_registry_t *r, mock_id_kind_t kind, const char *id)
{
    uint64_t k = key_of(kind, id);
    pthread_mutex_lock(&r->mu);
    if ((r->count + 1) * 2 > r->cap) {
        uint64_t *old = r->slots;
        size_t oldcap = r->cap;
        r->cap *= 2;
        r->slots = calloc(r->cap, sizeof *r->slots);
        if (!r->slots) abort();
        r->count = 0;
        for (size_t i = 0; i < oldcap; i++)
            if (old[i]) insert_locked(r, old[i]);
        free(old);
    }
    insert_locked(r, k);
    pthread_mutex_unlock(&r->mu);
}

bool mock_registry_has(mock_registry_t *r, mock_id_kind_t kind, const char *id)
{
    uint64_t k = key_of(kind, id);
    pthread_mutex_lock(&r->mu);
    size_t mask = r->cap - 1, i = k & mask;
    bool found = false;
    while (r->slots[i]) {
        if (r->slots[i] == k) {
            found = true;
            break;
        }
        i = (i + 1) & mask;
    }
    pthread_mutex_unlock(&r->mu);
    return found;
}

void mock_registry_clear(mock_registry_t *r)
{
    pthread_mutex_lock(&r->mu);
    memset(r->slots, 0, r->cap * sizeof *r->slots);
    r->count = 0;
    pthread_mutex_unlock(&r->mu);
}

size_t mock_registry_count(mock_registry_t *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->count;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* ---- the check ---- */

typedef struct {
    mock_registry_t *reg;
    char *detail;
    size_t detail_len;
    bool check_tools; /* the item is in the open tool loop (see check_list) */
} check_t;

static const char *str_of(const cJSON *o, const char *key)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

static bool type_is(const cJSON *o, const char *t)
{
    const char *s = str_of(o, "type");
    return s && !strcmp(s, t);
}

/* Returns the violation when `id` (if present) is not registered as kind. */
static mock_violation_t need(check_t *c, mock_id_kind_t kind, mock_violation_t v, const char *id,
                             const char *what)
{
    if (!id || mock_registry_has(c->reg, kind, id)) return MOCK_V_NONE;
    snprintf(c->detail, c->detail_len, "%s '%.80s' was not issued by this backend", what, id);
    return v;
}

#define CHECK(expr)                                                                                \
    do {                                                                                           \
        mock_violation_t v_ = (expr);                                                              \
        if (v_ != MOCK_V_NONE) return v_;                                                          \
    } while (0)

/* An object that may carry state: a message, a content part or an input item. */
static mock_violation_t check_item(check_t *c, const cJSON *o)
{
    if (!cJSON_IsObject(o)) return MOCK_V_NONE;
    const char *role = str_of(o, "role");
    if (c->check_tools && role && !strcmp(role, "tool"))
        CHECK(need(c, MOCK_ID_TOOL_CALL, MOCK_V_TOOL_CALL, str_of(o, "tool_call_id"),
                   "tool_call_id"));
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(o, "tool_calls"), *tc;
    for (tc = cj_child((c->check_tools && cJSON_IsArray(tcs) ? tcs : NULL)); tc; tc = tc->next)
        CHECK(need(c, MOCK_ID_TOOL_CALL, MOCK_V_TOOL_CALL, str_of(tc, "id"), "tool call id"));
    if (c->check_tools && (type_is(o, "function_call") || type_is(o, "function_call_output")))
        CHECK(need(c, MOCK_ID_TOOL_CALL, MOCK_V_TOOL_CALL, str_of(o, "call_id"), "call_id"));
    if (c->check_tools && type_is(o, "tool_use"))
        CHECK(need(c, MOCK_ID_TOOL_CALL, MOCK_V_TOOL_CALL, str_of(o, "id"), "tool_use id"));
    if (c->check_tools && type_is(o, "tool_result"))
        CHECK(
            need(c, MOCK_ID_TOOL_CALL, MOCK_V_TOOL_CALL, str_of(o, "tool_use_id"), "tool_use_id"));
    CHECK(need(c, MOCK_ID_REASONING, MOCK_V_REASONING, str_of(o, "encrypted_content"),
               "encrypted_content"));
    if (type_is(o, "redacted_thinking"))
        CHECK(need(c, MOCK_ID_REASONING, MOCK_V_REASONING, str_of(o, "data"),
                   "redacted_thinking data"));
    if (type_is(o, "thinking"))
        CHECK(need(c, MOCK_ID_SIGNATURE, MOCK_V_SIGNATURE, str_of(o, "signature"),
                   "thinking signature"));
    const cJSON *rd = cJSON_GetObjectItemCaseSensitive(o, "reasoning_details"), *d;
    for (d = cj_child((cJSON_IsArray(rd) ? rd : NULL)); d; d = d->next) {
        if (type_is(d, "reasoning.encrypted"))
            CHECK(need(c, MOCK_ID_REASONING, MOCK_V_REASONING, str_of(d, "data"),
                       "reasoning.encrypted data"));
        CHECK(need(c, MOCK_ID_SIGNATURE, MOCK_V_SIGNATURE, str_of(d, "signature"),
                   "reasoning signature"));
    }
    return MOCK_V_NONE;
}

/* An assistant turn that answered in plain text (no tool call in it). */
static bool is_plain_answer(const cJSON *m)
{
    const char *role = str_of(m, "role");
    bool assistant = (role && !strcmp(role, "assistant")) || type_is(m, "message");
    if (!assistant || (role && strcmp(role, "assistant"))) return false;
    const cJSON *tcs = cJSON_GetObjectItemCaseSensitive(m, "tool_calls");
    if (cJSON_IsArray(tcs) && cJSON_GetArraySize(tcs) > 0) return false;
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content"), *p;
    for (p = cj_child((cJSON_IsArray(content) ? content : NULL)); p; p = p->next)
        if (type_is(p, "tool_use") || type_is(p, "server_tool_use")) return false;
    return true;
}

/* Tool-call ids are provider-bound only while the tool loop is open: once an
 * assistant answered in plain text after the results, that exchange is
 * ordinary history any backend can read (as real providers accept it). So
 * tool ids are checked only after the last plain assistant answer;
 * reasoning items and signatures are checked everywhere. */
static mock_violation_t check_list(check_t *c, const cJSON *list)
{
    const cJSON *m;
    int last_plain = -1, i = 0;
    for (m = cj_child((cJSON_IsArray(list) ? list : NULL)); m; m = m->next, i++)
        if (is_plain_answer(m)) last_plain = i;
    i = 0;
    for (m = cj_child((cJSON_IsArray(list) ? list : NULL)); m; m = m->next, i++) {
        c->check_tools = i > last_plain;
        CHECK(check_item(c, m));
        const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content"), *p;
        for (p = cj_child((cJSON_IsArray(content) ? content : NULL)); p; p = p->next)
            CHECK(check_item(c, p));
    }
    return MOCK_V_NONE;
}

mock_violation_t mock_strict_check(mock_registry_t *r, const cJSON *root, char *detail,
                                   size_t detail_len)
{
    check_t c = {r, detail, detail_len, false};
    if (detail_len) detail[0] = 0;
    if (!cJSON_IsObject(root)) return MOCK_V_NONE;
    CHECK(need(&c, MOCK_ID_RESPONSE, MOCK_V_PREVIOUS_RESPONSE, str_of(root, "previous_response_id"),
               "previous_response_id"));
    CHECK(check_list(&c, cJSON_GetObjectItemCaseSensitive(root, "messages")));
    CHECK(check_list(&c, cJSON_GetObjectItemCaseSensitive(root, "input")));
    return MOCK_V_NONE;
}
