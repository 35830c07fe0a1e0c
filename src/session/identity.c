/* identity.c - session identity (SPEC §9.1): explicit sources in order of
 * precedence, tenant scoping, and the prefix-chain fingerprint with its
 * chain and opener lookups through the session store (store.h).
 *
 * The chain: each non-system message is normalised (role, whitespace-
 * collapsed text, tool-call ids and names, the id a tool result answers;
 * reasoning is never part of the text) and hashed; p_i = H(p_{i-1} || h_i),
 * with p_0 over the tenant, the system text and the minified tools JSON.
 * After a turn succeeds, H(p_n || h(reply)) is indexed, which is exactly
 * p_{n+1} of the next request that continues the conversation; so a
 * continuing conversation is found with no header, and two conversations
 * that only share a system prompt (or even a first message) stay apart
 * because each new session gets its own id. The chain itself (normalising,
 * hashing, the per-thread memo) is identity_chain.c. */
#include "session/identity.h"
#include "config/config.h"
#include "config/global.h"
#include "core/hash.h"
#include "session/identity_chain.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>

/* ---- key components ---- */

static bool printable_ascii(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e) return false;
    return true;
}

size_t sess_identity_component(char *out, size_t cap, const char *part, size_t len,
                               size_t max_bytes)
{
    if (len <= max_bytes && printable_ascii(part, len)) {
        if (len + 1 > cap) len = cap ? cap - 1 : 0;
        memcpy(out, part, len);
        if (cap) out[len] = 0;
        return len;
    }
    char hex[17];
    hash_hex16(hash_xxh64(part, len, 0), hex);
    return (size_t)snprintf(out, cap, "h:%s", hex);
}

static size_t max_id_bytes(const cfg_session_t *c)
{
    return c && c->identity.max_id_bytes > 0 ? (size_t)c->identity.max_id_bytes : 256;
}

static const char *skip_bearer(const char *v, size_t *len)
{
    if (*len > 7 && strncasecmp(v, "bearer ", 7) == 0) {
        v += 7;
        *len -= 7;
        while (*len && *v == ' ')
            v++, (*len)--;
    }
    return v;
}

void sess_identity_tenant(const sess_tenant_in_t *t, const rq_t *r, char out[260])
{
    size_t n = 0;
    const char *v;
    if (t && t->key_tenant && *t->key_tenant) {
        sess_identity_component(out, 260, t->key_tenant, strlen(t->key_tenant), 256);
        return;
    }
    if (t && t->trust_identity_headers && (v = rq_header(r, "x-authz-tenant-id", &n)) && n) {
        sess_identity_component(out, 260, v, n, 256);
        return;
    }
    if (((v = rq_header(r, "authorization", &n)) && n) ||
        ((v = rq_header(r, "x-api-key", &n)) && n)) {
        v = skip_bearer(v, &n);
        hash_hex16(hash_xxh64(v, n, 0), out);
        return;
    }
    snprintf(out, 260, "anon");
}

static void make_key(sess_identity_t *id, const char *source, const char *val, size_t len,
                     size_t max_bytes)
{
    id->found = true;
    id->source = source;
    /* tenant SEP source SEP, cut to the key's size as snprintf would */
    const char *part[2] = {id->tenant, source};
    size_t o = 0;
    const size_t cap = sizeof id->key - 1;
    for (int i = 0; i < 2; i++) {
        size_t n = strlen(part[i]);
        if (n > cap - o) n = cap - o;
        memcpy(id->key + o, part[i], n);
        o += n;
        if (o < cap) id->key[o++] = SESS_KEY_SEP;
    }
    id->key[o] = 0;
    sess_identity_component(id->key + o, sizeof id->key - o, val, len, max_bytes);
}

/* ---- resolution ---- */

typedef struct resolve {
    sess_identity_t id;
    sess_identity_in_t in;
    rq_t *r;
    sess_identity_cb cb;
    void *ud;
    uint64_t hashes[SESS_CHAIN_LOOKBACK + 1];
    size_t nh;
} resolve_t;

static bool tenant_matches(const resolve_t *x, const char *key)
{
    size_t tl = strlen(x->id.tenant);
    return key && strncmp(key, x->id.tenant, tl) == 0 && key[tl] == SESS_KEY_SEP;
}

static void finish(resolve_t *x)
{
    x->cb(x->ud, &x->id);
}

static void adopt_key(resolve_t *x, const char *source, const char *key)
{
    x->id.found = true;
    x->id.source = source;
    snprintf(x->id.key, sizeof x->id.key, "%s", key);
}

static void new_session(resolve_t *x)
{
    char rid[17];
    const char *req = x->in.request_id;
    if (!req || !*req) {
        hash_random_hex(rid, 16);
        rid[16] = 0;
        req = rid;
    }
    char hex[20] = "fp:";
    hash_hex16(sess_identity_new_hash(x->id.opener, req), hex + 3);
    make_key(&x->id, "fingerprint", hex, strlen(hex), 256);
    x->id.is_new = true;
    finish(x);
}

static void on_opener(void *ud, int status, int index, const char *key)
{
    resolve_t *x = ud;
    if (status == SESS_OK && tenant_matches(x, key)) {
        adopt_key(x, "fingerprint", key);
        x->id.low_confidence = true;
        finish(x);
        return;
    }
    new_session(x);
}

static void on_chain(void *ud, int status, int index, const char *key)
{
    resolve_t *x = ud;
    if (status == SESS_OK && tenant_matches(x, key)) {
        adopt_key(x, "fingerprint", key);
        finish(x);
        return;
    }
    if (x->id.has_assistant && x->in.store) {
        sess_store_opener_get(x->in.store, x->id.opener, on_opener, x);
        return;
    }
    new_session(x);
}

static void fingerprint(resolve_t *x)
{
    const cfg_session_t *c = x->in.cfg;
    if (c && !c->identity.fingerprint) {
        finish(x); /* no identity */
        return;
    }
    if (x->in.store && x->nh) {
        sess_store_chain_find(x->in.store, x->hashes, x->nh, on_chain, x);
        return;
    }
    on_chain(x, SESS_NOT_FOUND, -1, NULL);
}

static void on_prev(void *ud, const char *key)
{
    resolve_t *x = ud;
    if (key && *key && tenant_matches(x, key)) {
        adopt_key(x, "previous_response_id", key);
        finish(x);
        return;
    }
    fingerprint(x);
}

/* session_id in the JSON value of the codex metadata header. */
static bool codex_session(const char *v, size_t n, char *out, size_t cap)
{
    cJSON *j = cJSON_ParseWithLength(v, n);
    if (!j) return false;
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(j, "session_id");
    bool ok = cJSON_IsString(s) && s->valuestring[0];
    if (ok) snprintf(out, cap, "%s", s->valuestring);
    cJSON_Delete(j);
    return ok;
}

static const char *const default_headers[] = {"x-session-id", "x-conversation-id",
                                              "x-claude-code-session-id"};
static const char *const default_fields[] = {"prompt_cache_key", "metadata.session_id",
                                             "metadata.user_id"};

static const char *body_field(const rq_t *r, const char *name)
{
    if (strcmp(name, "prompt_cache_key") == 0) return r->prompt_cache_key;
    if (strcmp(name, "metadata.session_id") == 0) return r->metadata_session_id;
    if (strcmp(name, "metadata.user_id") == 0) return r->metadata_user_id;
    return NULL;
}

/* Explicit sources 1-5a; true when one gave the key. */
static bool explicit_source(resolve_t *x)
{
    const cfg_session_t *c = x->in.cfg;
    rq_t *r = x->r;
    size_t maxb = max_id_bytes(c);
    size_t nh = c ? c->identity.headers.n : 3;
    for (size_t i = 0; i < nh; i++) {
        const char *name = c ? c->identity.headers.v[i] : default_headers[i];
        char lname[128];
        size_t k = 0;
        for (; name[k] && k + 1 < sizeof lname; k++)
            lname[k] = (char)((name[k] >= 'A' && name[k] <= 'Z') ? name[k] + 32 : name[k]);
        lname[k] = 0;
        size_t n = 0;
        const char *v = rq_header(r, lname, &n);
        if (v && n) {
            make_key(&x->id, name, v, n, maxb);
            return true;
        }
    }
    const char *codex = c ? c->identity.codex_metadata_header : "x-codex-turn-metadata";
    size_t n = 0;
    const char *v = codex && *codex ? rq_header(r, codex, &n) : NULL;
    char sid[1024];
    if (v && n && codex_session(v, n, sid, sizeof sid)) {
        make_key(&x->id, codex, sid, strlen(sid), maxb);
        return true;
    }
    size_t nf = c ? c->identity.body_fields.n : 3;
    for (size_t i = 0; i < nf; i++) {
        const char *name = c ? c->identity.body_fields.v[i] : default_fields[i];
        const char *val = body_field(r, name);
        if (val && *val) {
            make_key(&x->id, name, val, strlen(val), maxb);
            return true;
        }
    }
    if (r->conversation && *r->conversation) {
        make_key(&x->id, "conversation", r->conversation, strlen(r->conversation), maxb);
        return true;
    }
    return false;
}

void sess_identity_resolve(const sess_identity_in_t *in, rq_t *r, sess_identity_cb cb, void *ud)
{
    resolve_t *x = arena_calloc(r->arena, sizeof *x);
    x->in = *in;
    x->r = r;
    x->cb = cb;
    x->ud = ud;
    sess_identity_tenant(&in->tenant, r, x->id.tenant);
    const cfg_session_t *c = in->cfg;
    bool fp = !c || c->identity.fingerprint;
    if (explicit_source(x)) {
        /* the chain is still wanted for sess_identity_index_turn (and the
         * session record's opener), which only ever writes to a store */
        if (fp && in->store) sess_identity_chain_facts(r, x->id.tenant, &x->id, NULL, true);
        finish(x);
        return;
    }
    if (fp) x->nh = sess_identity_chain_facts(r, x->id.tenant, &x->id, x->hashes, true);
    if (in->prev_lookup && r->previous_response_id && *r->previous_response_id) {
        in->prev_lookup(in->prev_ud, r->previous_response_id, on_prev, x);
        return;
    }
    fingerprint(x);
}

void sess_identity_index_turn(sess_store_t *store, const sess_identity_t *id,
                              const char *reply_text, size_t reply_len, const rq_tool_call_t *calls,
                              size_t n_calls, sess_done_cb cb, void *ud)
{
    if (!store || !id->found || !id->has_chain) {
        if (cb) cb(ud, SESS_OK);
        return;
    }
    uint64_t reply = sess_identity_msg_hash(JROLE_ASSISTANT, reply_text ? reply_text : "",
                                            reply_text ? reply_len : 0, calls, n_calls, NULL);
    uint64_t hs[2] = {sess_identity_chain_step(id->pn, reply), id->pn};
    size_t n = id->has_assistant && id->n ? 2 : 1;
    sess_store_opener_put(store, id->opener, id->key, NULL, NULL);
    sess_store_chain_put(store, hs, n, id->key, cb, ud);
}
