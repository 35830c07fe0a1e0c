/* trajectory.c - GET /v1/router_replay/trajectory?session_id= (query.h):
 * a session's conversation as one OpenAI chat message list, rebuilt from
 * the bodies its turns captured, on whichever replicas served them (one
 * store scan). OpenAI chat bodies are taken as they are; Anthropic
 * Messages bodies are turned into the same shape (system, text, tool_use
 * as tool_calls, tool_result as role "tool"). */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "replay/query.h"

static char *dup0(const char *s)
{
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

/* A turn's extra (replay_turns_t): its hard lock. */
static char *tj_lock(const char *json)
{
    cJSON *doc = cJSON_Parse(json);
    const cJSON *lk = cJSON_GetObjectItemCaseSensitive(
        cJSON_GetObjectItemCaseSensitive(doc, "session"), "hard_lock");
    char *v = dup0(cJSON_IsString(lk) ? lk->valuestring : NULL);
    cJSON_Delete(doc);
    return v;
}

static char *blocks_text(const cJSON *content)
{
    if (cJSON_IsString(content)) return dup0(content->valuestring);
    buf_t b = BUF_INIT;
    const cJSON *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(blk, "text");
        if (cJSON_IsString(t)) buf_puts(&b, t->valuestring);
    }
    return b.data ? buf_steal(&b) : NULL;
}

/* Append the OpenAI form of one Anthropic message to list. */
static void add_anthropic(cJSON *list, const cJSON *m)
{
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *content = cJSON_GetObjectItemCaseSensitive(m, "content");
    if (!cJSON_IsString(role)) return;
    cJSON *calls = NULL, *blk;
    cJSON_ArrayForEach(blk, content)
    {
        const cJSON *type = cJSON_GetObjectItemCaseSensitive(blk, "type");
        if (!cJSON_IsString(type)) continue;
        if (!strcmp(type->valuestring, "tool_use")) {
            if (!calls) calls = cJSON_CreateArray();
            cJSON *call = cJSON_CreateObject(), *fn = cJSON_CreateObject();
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(blk, "id");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(blk, "name");
            char *args = cJSON_PrintUnformatted(cJSON_GetObjectItemCaseSensitive(blk, "input"));
            cJSON_AddStringToObject(call, "id", cJSON_IsString(id) ? id->valuestring : "");
            cJSON_AddStringToObject(call, "type", "function");
            cJSON_AddStringToObject(fn, "name", cJSON_IsString(nm) ? nm->valuestring : "");
            cJSON_AddStringToObject(fn, "arguments", args ? args : "{}");
            cJSON_free(args);
            cJSON_AddItemToObject(call, "function", fn);
            cJSON_AddItemToArray(calls, call);
        } else if (!strcmp(type->valuestring, "tool_result")) {
            cJSON *t = cJSON_CreateObject();
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(blk, "tool_use_id");
            char *txt = blocks_text(cJSON_GetObjectItemCaseSensitive(blk, "content"));
            cJSON_AddStringToObject(t, "role", "tool");
            cJSON_AddStringToObject(t, "tool_call_id", cJSON_IsString(id) ? id->valuestring : "");
            cJSON_AddStringToObject(t, "content", txt ? txt : "");
            free(txt);
            cJSON_AddItemToArray(list, t);
        }
    }
    char *txt = blocks_text(content);
    if (txt || calls) {
        cJSON *o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "role", role->valuestring);
        if (txt)
            cJSON_AddStringToObject(o, "content", txt);
        else
            cJSON_AddNullToObject(o, "content");
        if (calls) cJSON_AddItemToObject(o, "tool_calls", calls);
        cJSON_AddItemToArray(list, o);
    }
    free(txt);
}

/* The request's messages in OpenAI form (a new array; empty when none). */
static cJSON *request_messages(const char *body)
{
    cJSON *out = cJSON_CreateArray(), *req = body ? cJSON_Parse(body) : NULL;
    const cJSON *msgs = cJSON_GetObjectItemCaseSensitive(req, "messages");
    const cJSON *sys = cJSON_GetObjectItemCaseSensitive(req, "system");
    if (!cJSON_IsArray(msgs)) msgs = NULL; /* an object's members are not messages */
    bool anthropic = sys != NULL;
    const cJSON *m;
    cJSON_ArrayForEach(m, msgs)
    {
        const cJSON *c = cJSON_GetObjectItemCaseSensitive(m, "content");
        if (cJSON_IsArray(c) && cJSON_GetArraySize(c) > 0) {
            const cJSON *t = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(c, 0), "type");
            if (cJSON_IsString(t) &&
                (!strcmp(t->valuestring, "tool_use") || !strcmp(t->valuestring, "tool_result")))
                anthropic = true;
        }
    }
    if (anthropic) {
        char *st = sys ? blocks_text(sys) : NULL;
        if (st) {
            cJSON *o = cJSON_CreateObject();
            cJSON_AddStringToObject(o, "role", "system");
            cJSON_AddStringToObject(o, "content", st);
            cJSON_AddItemToArray(out, o);
        }
        free(st);
        cJSON_ArrayForEach(m, msgs) add_anthropic(out, m);
    } else {
        cJSON_ArrayForEach(m, msgs)
        {
            if (cJSON_IsObject(m)) cJSON_AddItemToArray(out, cJSON_Duplicate(m, true));
        }
    }
    cJSON_Delete(req);
    return out;
}

/* The response's assistant message (OpenAI chat or Anthropic), or NULL
 * (a streamed or missing body). */
static cJSON *response_message(const char *body)
{
    cJSON *res = body ? cJSON_Parse(body) : NULL, *out = NULL;
    const cJSON *choices = cJSON_GetObjectItemCaseSensitive(res, "choices");
    const cJSON *msg = cJSON_GetObjectItemCaseSensitive(cJSON_GetArrayItem(choices, 0), "message");
    if (cJSON_IsObject(msg)) {
        out = cJSON_Duplicate(msg, true);
    } else if (cJSON_IsArray(cJSON_GetObjectItemCaseSensitive(res, "content"))) {
        cJSON *tmp = cJSON_CreateArray();
        cJSON *m = cJSON_CreateObject();
        cJSON_AddStringToObject(m, "role", "assistant");
        cJSON_AddItemToObject(m, "content",
                              cJSON_Duplicate(cJSON_GetObjectItemCaseSensitive(res, "content"), 1));
        add_anthropic(tmp, m);
        cJSON_Delete(m);
        out = cJSON_DetachItemFromArray(tmp, 0);
        cJSON_Delete(tmp);
    }
    cJSON_Delete(res);
    return out;
}

/* The message without its text: role, tool call ids and names kept, every
 * other member dropped (whatever the client put there), content and
 * arguments "[redacted]". A new object. */
static cJSON *redacted_message(const cJSON *m)
{
    cJSON *o = cJSON_CreateObject();
    const cJSON *role = cJSON_GetObjectItemCaseSensitive(m, "role");
    const cJSON *tcid = cJSON_GetObjectItemCaseSensitive(m, "tool_call_id");
    cJSON_AddStringToObject(o, "role", cJSON_IsString(role) ? role->valuestring : "unknown");
    cJSON_AddStringToObject(o, "content", "[redacted]");
    if (cJSON_IsString(tcid)) cJSON_AddStringToObject(o, "tool_call_id", tcid->valuestring);
    const cJSON *calls = cJSON_GetObjectItemCaseSensitive(m, "tool_calls"), *call;
    if (cJSON_IsArray(calls)) {
        cJSON *out = cJSON_AddArrayToObject(o, "tool_calls");
        cJSON_ArrayForEach(call, calls)
        {
            const cJSON *id = cJSON_GetObjectItemCaseSensitive(call, "id");
            const cJSON *fn = cJSON_GetObjectItemCaseSensitive(call, "function");
            const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fn, "name");
            cJSON *c = cJSON_CreateObject(), *f = cJSON_CreateObject();
            cJSON_AddStringToObject(c, "id", cJSON_IsString(id) ? id->valuestring : "");
            cJSON_AddStringToObject(c, "type", "function");
            cJSON_AddStringToObject(f, "name", cJSON_IsString(nm) ? nm->valuestring : "");
            cJSON_AddStringToObject(f, "arguments", "[redacted]");
            cJSON_AddItemToObject(c, "function", f);
            cJSON_AddItemToArray(out, c);
        }
    }
    return o;
}

static void add_str(cJSON *o, const char *k, const char *v)
{
    if (v)
        cJSON_AddStringToObject(o, k, v);
    else
        cJSON_AddNullToObject(o, k);
}

int replay_query_trajectory(replay_store_t *s, const char *session_id, bool with_bodies, buf_t *out,
                            buf_t *err)
{
    if (!session_id || !*session_id) {
        if (err) {
            buf_reset(err);
            buf_puts(err, "session_id is required (?session_id=...)");
        }
        return REPLAY_EINVAL;
    }
    replay_turns_t c = {.bodies = true, .extra = tj_lock};
    int rc = replay_turns_collect(s, session_id, &c, err);
    if (rc == REPLAY_OK) {
        cJSON *doc = cJSON_CreateObject(), *conv = cJSON_CreateArray(), *idx = cJSON_CreateArray();
        size_t missing = 0;
        for (size_t i = 0; i < c.n; i++) {
            const replay_turn_t *t = &c.v[i];
            cJSON *b = t->bodies ? cJSON_Parse(t->bodies) : NULL;
            const cJSON *rq = cJSON_GetObjectItemCaseSensitive(b, "request");
            const cJSON *rs = cJSON_GetObjectItemCaseSensitive(b, "response");
            int first = cJSON_GetArraySize(conv);
            if (!cJSON_IsString(rq)) missing++;
            cJSON *msgs = request_messages(cJSON_IsString(rq) ? rq->valuestring : NULL);
            int have = cJSON_GetArraySize(conv), n = cJSON_GetArraySize(msgs);
            /* the client resends the history: its new messages follow what the
             * conversation already holds; a shortened history (compaction)
             * adds its last message only */
            for (int k = n > have ? have : n ? n - 1 : 0; k < n; k++)
                cJSON_AddItemToArray(conv, cJSON_Duplicate(cJSON_GetArrayItem(msgs, k), true));
            cJSON_Delete(msgs);
            cJSON *am = response_message(cJSON_IsString(rs) ? rs->valuestring : NULL);
            if (am) cJSON_AddItemToArray(conv, am);
            cJSON_Delete(b);
            cJSON *e = cJSON_CreateObject();
            cJSON_AddNumberToObject(e, "turn", (double)t->turn);
            add_str(e, "replay_id", t->id);
            add_str(e, "model", t->model);
            add_str(e, "decision", t->decision);
            add_str(e, "reason", t->reason);
            add_str(e, "lock", t->extra);
            cJSON_AddNumberToObject(e, "first_message", first);
            cJSON_AddNumberToObject(e, "last_message", cJSON_GetArraySize(conv) - 1);
            cJSON_AddItemToArray(idx, e);
        }
        if (!with_bodies) {
            cJSON *red = cJSON_CreateArray(), *m;
            cJSON_ArrayForEach(m, conv) cJSON_AddItemToArray(red, redacted_message(m));
            cJSON_Delete(conv);
            conv = red;
        }
        cJSON_AddStringToObject(doc, "session_id", session_id);
        cJSON_AddNumberToObject(doc, "turns", (double)c.n);
        cJSON_AddItemToObject(doc, "messages", conv);
        cJSON_AddItemToObject(doc, "turn_index", idx);
        cJSON_AddNumberToObject(doc, "missing_bodies", (double)missing);
        cJSON_AddBoolToObject(doc, "redacted", !with_bodies);
        char *txt = cJSON_PrintUnformatted(doc);
        buf_puts(out, txt ? txt : "{}");
        cJSON_free(txt);
        cJSON_Delete(doc);
    }
    replay_turns_free(&c);
    return rc;
}
