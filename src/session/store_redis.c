/* store_redis.c - the Redis session store (SPEC §9.8), shared by replicas:
 * the sess_store_t operations, their Lua scripts, the local mirror that
 * serves them while Redis is away, and the write-back push of one record
 * (store_redis_writeback.c paces the recovery).
 *
 * Sessions live at {prefix}s:{key} as a small JSON document (encoded by
 * store_redis_record.c), the chain index at {prefix}c:{hex16} and openers
 * at {prefix}o:{hex16}, all with TTLs. A commit is ONE Lua script that
 * reads, applies the §9.8 rule (the same rule as sess_state_apply_commit in
 * state.c) and writes back, so two replicas committing to one session never
 * lose an update. Late usage is a second script (a commutative increment).
 *
 * The connection, per-call timers and the circuit breaker are the Redis
 * layer's (kv/client.h); store_redis_transport.c runs operations over it. Any call that fails, or
 * arrives while the circuit is open, is served here by the local memory store (opts.fallback), so
 * no request fails because of Redis. After recovery the local records are pushed back with a "later
 * last_seen wins" script, and reads consult the local copy too until it has been pushed. What Redis
 * acknowledged (records and index entries) is mirrored locally, so an
 * outage, or a Redis that comes back empty, still finds the session.
 *
 * One instance per event loop (worker); not thread-safe. The fallback
 * memory store is thread-safe and may be shared by all instances. */
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "session/store_redis_internal.h"
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- Lua: keep in step with state.c ---- */

#define LUA_COMMON                                                                                 \
    "local MAX=4\n"                                                                                \
    "local function touch(s,name)\n"                                                               \
    "  local at=nil\n"                                                                             \
    "  for i,e in ipairs(s.m) do if e.n==name then at=i break end end\n"                           \
    "  local e\n"                                                                                  \
    "  if at then e=table.remove(s.m,at) else\n"                                                   \
    "    e={n=name,t=0,ru=0,rc=0,pt=0,ct=0,cpt=0,lpt=0,cost=0}\n"                                  \
    "    while #s.m>=MAX do table.remove(s.m) end\n"                                               \
    "  end\n"                                                                                      \
    "  table.insert(s.m,1,e)\n"                                                                    \
    "  return e\n"                                                                                 \
    "end\n"                                                                                        \
    "local function usage(s,e,u)\n"                                                                \
    "  s.pt=s.pt+u.pt s.ct=s.ct+u.ct s.cpt=s.cpt+u.cpt s.cost=s.cost+u.cost\n"                     \
    "  if e then\n"                                                                                \
    "    e.pt=e.pt+u.pt e.ct=e.ct+u.ct e.cpt=e.cpt+u.cpt e.cost=e.cost+u.cost\n"                   \
    "    e.ru=e.ru+1 if u.ct>0 then e.rc=e.rc+1 end e.lpt=u.pt\n"                                  \
    "  end\n"                                                                                      \
    "end\n"

/* KEYS[1] session; ARGV[1] outcome JSON, ARGV[2] ttl ms.
 * Returns {created, applied, switched, version, record}. */
static const char LUA_COMMIT[] = LUA_COMMON
    "local raw=redis.call('GET',KEYS[1])\n"
    "local o=cjson.decode(ARGV[1])\n"
    "local s local created=0\n"
    "if raw then s=cjson.decode(raw) else\n"
    "  s={v=0,ca=o.now,ls=0,lsa=0,lm='',lb='',ld='',lr='',tc=0,sc=0,pt=0,ct=0,cpt=0,cost=0,\n"
    "     m={},lk=0,lkb=0,lks=0,op='',tid='',rsn=''}\n"
    "  created=1\n"
    "end\n"
    "if type(s.m)~='table' then s.m={} end\n"
    "s.tc=s.tc+1\n"
    "local switched=0\n"
    "if s.lm~='' and o.m~='' and s.lm~=o.m then s.sc=s.sc+1 switched=1 end\n"
    "local e=nil\n"
    "if o.m~='' then e=touch(s,o.m) e.t=e.t+1 end\n"
    "if o.u==1 then usage(s,e,o) end\n"
    "if o.now>s.ls then s.ls=o.now end\n"
    "local applied=0\n"
    "if s.v==o.ev or o.sa>=s.lsa then\n"
    "  if o.lk~=0 then\n"
    "    if (s.lk or 0)==0 then\n"
    "      if (s.le or 0)>0 then local d=(s.tc-1)-(s.let or 0) if d<0 then d=0 end s.lep=d end\n"
    "      s.let=s.tc-1 s.le=(s.le or 0)+1\n"
    "    end\n"
    "    if (o.rq or 0)>0 then\n"
    "      if (s.lrq or 0)>0 then s.lrq=0.5*(s.lrq+o.rq) else s.lrq=o.rq end\n"
    "    end\n"
    "  end\n"
    "  s.lm=o.m s.lb=o.b s.ld=o.d s.lr=o.r s.lk=o.lk s.lkb=o.lkb s.lks=o.lks\n"
    "  if o.op~='' then s.op=o.op end\n"
    "  s.tid=o.tid s.rsn=o.rsn\n"
    "  if o.sa>s.lsa then s.lsa=o.sa end\n"
    "  s.v=s.v+1 applied=1\n"
    "end\n"
    "local enc=cjson.encode(s)\n"
    "redis.call('SET',KEYS[1],enc,'PX',ARGV[2])\n"
    "return {created,applied,switched,s.v,enc}\n";

/* KEYS[1] session; ARGV[1] usage JSON {m,pt,ct,cpt,cost,now}, ARGV[2] ttl ms.
 * Returns 1, or 0 when the record is missing. */
static const char LUA_USAGE[] =
    LUA_COMMON "local raw=redis.call('GET',KEYS[1])\n"
               "if not raw then return 0 end\n"
               "local s=cjson.decode(raw)\n"
               "if type(s.m)~='table' then s.m={} end\n"
               "local u=cjson.decode(ARGV[1])\n"
               "local e=nil\n"
               "if u.m~='' then\n"
               "  for _,x in ipairs(s.m) do if x.n==u.m then e=x break end end\n"
               "  if not e then e=touch(s,u.m) end\n"
               "end\n"
               "usage(s,e,u)\n"
               "if u.now>s.ls then s.ls=u.now end\n"
               "redis.call('SET',KEYS[1],cjson.encode(s),'PX',ARGV[2])\n"
               "return 1\n";

/* KEYS[1] session; ARGV[1] record JSON, ARGV[2] ttl ms, ARGV[3] its last_seen.
 * Writes unless the stored copy was seen later. Returns 1 when written, else
 * the stored record (which the local mirror then takes). */
static const char LUA_PUT_NEWER[] =
    "local raw=redis.call('GET',KEYS[1])\n"
    "if raw then local s=cjson.decode(raw)\n"
    "  if s.ls and s.ls>=tonumber(ARGV[3]) then return raw end end\n"
    "redis.call('SET',KEYS[1],ARGV[1],'PX',ARGV[2])\n"
    "return 1\n";

/* KEYS: index keys; ARGV[1] session key, ARGV[2] ttl ms. */
static const char LUA_INDEX_PUT[] =
    "for _,k in ipairs(KEYS) do redis.call('SET',k,ARGV[1],'PX',ARGV[2]) end\n"
    "return 1\n";

/* The Redis layer loads the scripts on every new connection (SCRIPT LOAD
 * is pipelined ahead of any other command, so it is in place before the
 * first EVALSHA) and calls them by SHA1, so a commit does not resend the
 * script text (EVAL once after a NOSCRIPT). */
const char *const sess_redis_scripts[SCR_N] = {LUA_COMMIT, LUA_USAGE, LUA_PUT_NEWER, LUA_INDEX_PUT};

/* ---- local mirror and fallback ---- */

/* Mirror entries: copies of what Redis acknowledged, kept in the local store
 * under a prefixed key. They are never pushed back on recovery (Redis has
 * them) and only serve reads and commits while the circuit is open. */
#define MIRROR_PREFIX         "\x1emirror\x1e"
#define SESS_KEY_BYTES_MIRROR 1024

bool sess_redis_is_mirror_key(const char *key)
{
    return strncmp(key, MIRROR_PREFIX, 8) == 0;
}

static void mirror_key(char *out, size_t cap, const char *key)
{
    snprintf(out, cap, "%s%s", MIRROR_PREFIX, key);
}

static void mirror_put(sess_redis_t *rs, const char *key, const sess_state_t *st)
{
    char mk[SESS_KEY_BYTES_MIRROR];
    mirror_key(mk, sizeof mk, key);
    sess_store_memory_put(rs->fb, mk, st);
}

/* While degraded: the outage copy or the last acknowledged mirror copy,
 * whichever was seen later (a sibling worker that recovered first may have
 * committed newer turns to Redis, mirrored here, while an older outage copy
 * waits for its write-back). *outage tells which one won. */
static int local_get(sess_redis_t *rs, const char *key, sess_state_t *st, bool *outage)
{
    sess_state_t m;
    char mk[SESS_KEY_BYTES_MIRROR];
    mirror_key(mk, sizeof mk, key);
    bool has_o = sess_store_get_wait(rs->fb, key, st) == SESS_OK;
    bool has_m = sess_store_get_wait(rs->fb, mk, &m) == SESS_OK;
    if (has_m && (!has_o || m.last_seen_ms > st->last_seen_ms)) {
        *st = m;
        has_o = false;
    }
    if (outage) *outage = has_o;
    return has_o || has_m ? SESS_OK : SESS_NOT_FOUND;
}

/* Serve op from the local store (inline) and complete it. */
void sess_redis_op_fallback(sess_redis_op_t *op)
{
    sess_redis_t *rs = op->rs;
    sess_store_t *fb = rs->fb;
    op->completed = true;
    if (op->kind != OP_PUT_NEWER) rs->fallbacks++;
    switch (op->kind) {
    case OP_GET: {
        sess_state_t st;
        int rc = local_get(rs, op->key, &st, NULL);
        if (op->cb.get) op->cb.get(op->ud, rc, rc == SESS_OK ? &st : NULL);
        break;
    }
    case OP_COMMIT: {
        /* the outage copy starts from the mirror copy when that is newer */
        sess_state_t st;
        bool outage = false;
        if (local_get(rs, op->key, &st, &outage) == SESS_OK && !outage)
            sess_store_memory_put(fb, op->key, &st);
        sess_store_commit(fb, op->key, &op->o, op->cb.commit, op->ud);
        break;
    }
    case OP_USAGE:
        sess_store_add_usage(fb, op->key, op->model, &op->usage, op->now_ms, op->cb.done, op->ud);
        break;
    case OP_CHAIN_PUT:
        sess_store_chain_put(fb, op->hashes, op->n, op->key, op->cb.done, op->ud);
        break;
    case OP_CHAIN_FIND: sess_store_chain_find(fb, op->hashes, op->n, op->cb.lookup, op->ud); break;
    case OP_OPENER_PUT: sess_store_opener_put(fb, op->opener, op->key, op->cb.done, op->ud); break;
    case OP_OPENER_GET: sess_store_opener_get(fb, op->opener, op->cb.lookup, op->ud); break;
    case OP_PUT_NEWER: break; /* the local copy stays; pushed again on the next recovery */
    }
}

/* The local copy when it is newer than `remote`. With nothing in Redis
 * (NULL: it restarted empty, or lost the key), the last acknowledged mirror
 * copy counts too, so a session survives a Redis that lost its data. */
static bool local_newer(sess_redis_t *rs, const char *key, const sess_state_t *remote,
                        sess_state_t *local)
{
    if (sess_store_get_wait(rs->fb, key, local) == SESS_OK)
        return !remote || local->last_seen_ms > remote->last_seen_ms;
    /* a mirror copy older than Redis' TTL: Redis expired it, not lost it */
    return !remote && local_get(rs, key, local, NULL) == SESS_OK &&
           local->last_seen_ms + rs->ttl_ms > clock_wall_ms();
}

static void reply_get(sess_redis_op_t *op, redisReply *r)
{
    sess_redis_t *rs = op->rs;
    sess_state_t st, local;
    bool found = false;
    if (r->type == REDIS_REPLY_STRING) found = sess_redis_rec_from_json(r->str, r->len, &st);
    if (local_newer(rs, op->key, found ? &st : NULL, &local)) {
        sess_redis_push_local(rs, op->key, &local, false);
        st = local;
        found = true;
    }
    if (found) {
        rs->hits++;
        mirror_put(rs, op->key, &st); /* read-through copy for outages */
    }
    if (op->cb.get) op->cb.get(op->ud, found ? SESS_OK : SESS_NOT_FOUND, found ? &st : NULL);
}

static bool reply_commit(sess_redis_op_t *op, redisReply *r)
{
    if (r->type != REDIS_REPLY_ARRAY || r->elements != 5 ||
        r->element[4]->type != REDIS_REPLY_STRING)
        return false;
    sess_state_t st;
    if (!sess_redis_rec_from_json(r->element[4]->str, r->element[4]->len, &st)) return false;
    sess_commit_result_t res = {
        .created = r->element[0]->integer == 1,
        .applied = r->element[1]->integer == 1,
        .switched = r->element[2]->integer == 1,
        .version = (uint64_t)r->element[3]->integer,
    };
    res.conflict = !res.applied;
    if (res.conflict) op->rs->conflicts++;
    /* write-through: keep the committed record locally too (as a mirror
     * entry), so a Redis outage right after this turn still finds the
     * session's model and locks on this replica */
    mirror_put(op->rs, op->key, &st);
    if (op->cb.commit) op->cb.commit(op->ud, SESS_OK, &res, &st);
    return true;
}

static void lookup_local(sess_redis_op_t *op)
{
    /* entries indexed while degraded live only locally */
    if (op->kind == OP_CHAIN_FIND)
        sess_store_chain_find(op->rs->fb, op->hashes, op->n, op->cb.lookup, op->ud);
    else
        sess_store_opener_get(op->rs->fb, op->opener, op->cb.lookup, op->ud);
}

/* A reply that is not an error: complete op. False when the reply is
 * malformed (the caller counts a failure and falls back). */
bool sess_redis_reply(sess_redis_op_t *op, redisReply *r)
{
    sess_redis_t *rs = op->rs;
    bool ok = true;
    switch (op->kind) {
    case OP_GET:
        op->completed = true;
        reply_get(op, r);
        break;
    case OP_COMMIT:
        ok = reply_commit(op, r);
        if (ok) {
            op->completed = true;
        }
        break;
    case OP_CHAIN_PUT:
    case OP_OPENER_PUT:
        /* write-through: the local index answers while Redis is away */
        if (op->kind == OP_CHAIN_PUT)
            sess_store_chain_put(rs->fb, op->hashes, op->n, op->key, NULL, NULL);
        else
            sess_store_opener_put(rs->fb, op->opener, op->key, NULL, NULL);
        /* fall through */
    case OP_USAGE:
        op->completed = true;
        if (op->cb.done)
            op->cb.done(op->ud,
                        op->kind == OP_USAGE && r->type == REDIS_REPLY_INTEGER && r->integer == 0
                            ? SESS_NOT_FOUND
                            : SESS_OK);
        break;
    case OP_PUT_NEWER: {
        op->completed = true;
        /* Redis holds this record now (ours, or a later one): it becomes the
         * mirror copy before the outage copy goes, so a worker of this
         * process that is still degraded reads it rather than a stale one */
        sess_state_t st;
        bool have = r->type == REDIS_REPLY_STRING
                        ? sess_redis_rec_from_json(r->str, r->len, &st)
                        : sess_store_get_wait(rs->fb, op->key, &st) == SESS_OK &&
                              st.last_seen_ms == op->put_last_seen;
        if (have) mirror_put(rs, op->key, &st);
        sess_store_memory_remove_if(rs->fb, op->key, op->put_last_seen);
        rs->wb_pushed++;
        break;
    }
    case OP_CHAIN_FIND: {
        op->completed = true;
        int hit = -1;
        if (r->type == REDIS_REPLY_ARRAY)
            for (size_t i = 0; i < r->elements && hit < 0; i++)
                if (r->element[i]->type == REDIS_REPLY_STRING) hit = (int)i;
        if (hit >= 0) {
            if (op->cb.lookup) op->cb.lookup(op->ud, SESS_OK, hit, r->element[hit]->str);
        } else {
            lookup_local(op);
        }
        break;
    }
    case OP_OPENER_GET:
        op->completed = true;
        if (r->type == REDIS_REPLY_STRING) {
            if (op->cb.lookup) op->cb.lookup(op->ud, SESS_OK, 0, r->str);
        } else {
            lookup_local(op);
        }
        break;
    }
    return ok;
}

static void key_s(sess_redis_t *rs, buf_t *b, const char *key)
{
    buf_printf(b, "%ss:%s", rs->prefix, key);
}
static void key_h(sess_redis_t *rs, buf_t *b, char kind, uint64_t h)
{
    char hex[17];
    hash_hex16(h, hex);
    buf_printf(b, "%s%c:%s", rs->prefix, kind, hex);
}

void sess_redis_push_local(sess_redis_t *rs, const char *key, const sess_state_t *st,
                           bool writeback)
{
    sess_redis_op_t *op = sess_redis_op_new(rs, OP_PUT_NEWER, key, NULL);
    op->put_last_seen = st->last_seen_ms;
    op->is_writeback = writeback;
    if (writeback) rs->wb_inflight++;
    buf_t k = BUF_INIT, rec = BUF_INIT;
    key_s(rs, &k, key);
    sess_redis_rec_to_json(&rec, st);
    char ttl[24], ls[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)rs->ttl_ms);
    snprintf(ls, sizeof ls, "%llu", (unsigned long long)st->last_seen_ms);
    const char *argv[] = {"1", k.data, rec.data, ttl, ls};
    size_t lens[] = {1, k.len, rec.len, strlen(ttl), strlen(ls)};
    sess_redis_op_send(op, SCR_PUT_NEWER, 5, argv, lens);
    buf_free(&k);
    buf_free(&rec);
}

/* ---- interface ---- */

static void r_get(sess_store_t *s, const char *key, sess_get_cb cb, void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    rs->gets++;
    sess_redis_op_t *op = sess_redis_op_new(rs, OP_GET, key, ud);
    op->cb.get = cb;
    buf_t k = BUF_INIT;
    key_s(rs, &k, key);
    const char *argv[] = {"GET", k.data};
    size_t lens[] = {3, k.len};
    sess_redis_op_send(op, -1, 2, argv, lens);
    buf_free(&k);
}

static void copy_name(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

/* EVALSHA script with the session key k, the JSON argument j and the store's
 * TTL; frees k and j. */
static void send_with_ttl(sess_redis_t *rs, sess_redis_op_t *op, int script, buf_t *k, buf_t *j)
{
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)rs->ttl_ms);
    const char *argv[] = {"1", k->data, j->data, ttl};
    size_t lens[] = {1, k->len, j->len, strlen(ttl)};
    sess_redis_op_send(op, script, 4, argv, lens);
    buf_free(k);
    buf_free(j);
}

static void r_commit(sess_store_t *s, const char *key, const sess_outcome_t *o, sess_commit_cb cb,
                     void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    rs->commits++;
    sess_redis_op_t *op = sess_redis_op_new(rs, OP_COMMIT, key, ud);
    op->cb.commit = cb;
    op->o = *o;
    /* the names live in op (the caller's strings may not outlive the call) */
    struct {
        char *copy;
        size_t cap;
        const char **name;
    } names[] = {{op->o_model, sizeof op->o_model, &op->o.model},
                 {op->o_backend, sizeof op->o_backend, &op->o.backend},
                 {op->o_decision, sizeof op->o_decision, &op->o.decision},
                 {op->o_reasoning, sizeof op->o_reasoning, &op->o.reasoning},
                 {op->o_trace, sizeof op->o_trace, &op->o.trace_id},
                 {op->o_reason, sizeof op->o_reason, &op->o.reason}};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        copy_name(names[i].copy, names[i].cap, *names[i].name);
        *names[i].name = names[i].copy;
    }

    buf_t k = BUF_INIT, j = BUF_INIT;
    key_s(rs, &k, key);
    char op_hex[17];
    hash_hex16(o->opener, op_hex);
    buf_printf(
        &j,
        "{\"ev\":%llu,\"sa\":%llu,\"now\":%llu,\"lk\":%d,\"lkb\":%u,\"lks\":%u,"
        "\"rq\":%.17g,\"op\":\"%s\",\"u\":%d,\"pt\":%llu,\"ct\":%llu,\"cpt\":%llu,\"cost\":%.17g",
        (unsigned long long)o->expected_version, (unsigned long long)o->started_at_ms,
        (unsigned long long)o->now_ms, (int)o->lock_kind, o->lock_bindings, o->lock_since_turn,
        o->required_quality > 0 ? o->required_quality : 0.0, o->opener ? op_hex : "",
        o->usage.has_usage ? 1 : 0, (unsigned long long)o->usage.prompt_tokens,
        (unsigned long long)o->usage.cached_tokens, (unsigned long long)o->usage.completion_tokens,
        o->usage.cost);
    static const char *const keys[] = {"m", "b", "d", "r", "tid", "rsn"};
    const char *vals[] = {op->o_model,     op->o_backend, op->o_decision,
                          op->o_reasoning, op->o_trace,   op->o_reason};
    sess_redis_json_strs(&j, keys, vals, sizeof keys / sizeof keys[0]);
    buf_putc(&j, '}');
    send_with_ttl(rs, op, SCR_COMMIT, &k, &j);
}

static void r_add_usage(sess_store_t *s, const char *key, const char *model, const sess_usage_t *u,
                        uint64_t now_ms, sess_done_cb cb, void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    rs->usage_adds++;
    sess_redis_op_t *op = sess_redis_op_new(rs, OP_USAGE, key, ud);
    op->cb.done = cb;
    char name[SESS_NAME_MAX];
    copy_name(name, sizeof name, model);
    op->model = strdup(name);
    op->usage = *u;
    op->now_ms = now_ms;
    buf_t k = BUF_INIT, j = BUF_INIT;
    key_s(rs, &k, key);
    buf_printf(&j, "{\"pt\":%llu,\"ct\":%llu,\"cpt\":%llu,\"cost\":%.17g,\"now\":%llu,\"m\":",
               (unsigned long long)u->prompt_tokens, (unsigned long long)u->cached_tokens,
               (unsigned long long)u->completion_tokens, u->cost, (unsigned long long)now_ms);
    buf_json_str(&j, name, strlen(name));
    buf_putc(&j, '}');
    send_with_ttl(rs, op, SCR_USAGE, &k, &j);
}

/* EVALSHA (script >= 0) or a command over index keys: argv = head...,
 * keys..., tail... */
static void send_index(sess_redis_t *rs, sess_redis_op_t *op, int script, char kind,
                       const char *const *head, size_t nhead, const char *const *tail, size_t ntail)
{
    size_t nk = op->n; /* op may be freed by sess_redis_op_send */
    size_t argc = nhead + nk + ntail;
    const char **argv = calloc(argc, sizeof *argv);
    size_t *lens = calloc(argc, sizeof *lens);
    buf_t *keys = calloc(nk ? nk : 1, sizeof *keys);
    if (!argv || !lens || !keys) abort();
    size_t a = 0;
    for (size_t i = 0; i < nhead; i++, a++) {
        argv[a] = head[i];
        lens[a] = strlen(head[i]);
    }
    for (size_t i = 0; i < nk; i++, a++) {
        key_h(rs, &keys[i], kind, op->hashes[i]);
        argv[a] = keys[i].data;
        lens[a] = keys[i].len;
    }
    for (size_t i = 0; i < ntail; i++, a++) {
        argv[a] = tail[i];
        lens[a] = strlen(tail[i]);
    }
    sess_redis_op_send(op, script, (int)argc, argv, lens);
    for (size_t i = 0; i < nk; i++)
        buf_free(&keys[i]);
    free(keys);
    free(argv);
    free(lens);
}

static sess_redis_op_t *index_op(sess_redis_t *rs, sess_redis_op_kind_t kind,
                                 const uint64_t *hashes, size_t n, const char *key, void *ud)
{
    sess_redis_op_t *op = sess_redis_op_new(rs, kind, key, ud);
    op->n = n;
    op->hashes = malloc((n ? n : 1) * sizeof *hashes);
    if (!op->hashes) abort();
    if (n) memcpy(op->hashes, hashes, n * sizeof *hashes);
    if (n) op->opener = hashes[0];
    return op;
}

static void r_chain_put(sess_store_t *s, const uint64_t *hashes, size_t n, const char *key,
                        sess_done_cb cb, void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    if (!n) {
        if (cb) cb(ud, SESS_OK);
        return;
    }
    sess_redis_op_t *op = index_op(rs, OP_CHAIN_PUT, hashes, n, key, ud);
    op->cb.done = cb;
    char nk[24], ttl[24];
    snprintf(nk, sizeof nk, "%zu", n);
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)rs->ttl_ms);
    const char *head[] = {nk};
    const char *tail[] = {key, ttl};
    send_index(rs, op, SCR_INDEX_PUT, 'c', head, 1, tail, 2);
}

static void r_chain_find(sess_store_t *s, const uint64_t *hashes, size_t n, sess_lookup_cb cb,
                         void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    if (!n) {
        if (cb) cb(ud, SESS_NOT_FOUND, -1, NULL);
        return;
    }
    sess_redis_op_t *op = index_op(rs, OP_CHAIN_FIND, hashes, n, NULL, ud);
    op->cb.lookup = cb;
    const char *head[] = {"MGET"};
    send_index(rs, op, -1, 'c', head, 1, NULL, 0);
}

static void r_opener_put(sess_store_t *s, uint64_t opener, const char *key, sess_done_cb cb,
                         void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    sess_redis_op_t *op = index_op(rs, OP_OPENER_PUT, &opener, 1, key, ud);
    op->cb.done = cb;
    char ttl[24];
    snprintf(ttl, sizeof ttl, "%llu", (unsigned long long)rs->ttl_ms);
    const char *head[] = {"SET"};
    const char *tail[] = {key, "PX", ttl};
    send_index(rs, op, -1, 'o', head, 1, tail, 3);
}

static void r_opener_get(sess_store_t *s, uint64_t opener, sess_lookup_cb cb, void *ud)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    sess_redis_op_t *op = index_op(rs, OP_OPENER_GET, &opener, 1, NULL, ud);
    op->cb.lookup = cb;
    const char *head[] = {"GET"};
    send_index(rs, op, -1, 'o', head, 1, NULL, 0);
}

static void r_stats(sess_store_t *s, sess_store_stats_t *o)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    o->gets = rs->gets;
    o->hits = rs->hits;
    o->commits = rs->commits;
    o->conflicts = rs->conflicts;
    o->usage_adds = rs->usage_adds;
    o->errors = kv_failures(rs->kv);
    o->fallbacks = rs->fallbacks;
    o->transitions = kv_transitions(rs->kv);
    o->degraded = kv_is_degraded(rs->kv);
    o->writeback_pushed = rs->wb_pushed;
    o->writeback_pending = sess_redis_wb_pending(rs);
}

static struct event_base *r_wait_base(sess_store_t *s)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    return rs->own_base ? rs->evb : NULL;
}

static void r_free(sess_store_t *s)
{
    sess_redis_t *rs = (sess_redis_t *)s;
    /* operations still pending are dropped without their callbacks */
    for (sess_redis_op_t *op = rs->pending; op; op = op->next)
        op->completed = true;
    sess_redis_wb_stop(rs);
    kv_free(rs->kv); /* abandons what is in flight, without callbacks */
    while (rs->pending)
        sess_redis_op_free(rs->pending);
    if (rs->own_base) event_base_free(rs->evb);
    free(rs->prefix);
    free(rs);
}

bool sess_store_redis_is_degraded(sess_store_t *s)
{
    return kv_is_degraded(((sess_redis_t *)s)->kv);
}

static const sess_store_ops_t redis_ops = {
    .name = "redis",
    .get = r_get,
    .commit = r_commit,
    .add_usage = r_add_usage,
    .chain_put = r_chain_put,
    .chain_find = r_chain_find,
    .opener_put = r_opener_put,
    .opener_get = r_opener_get,
    .stats = r_stats,
    .wait_base = r_wait_base,
    .free = r_free,
};

sess_store_t *sess_store_redis_new(struct event_base *base, const sess_redis_opts_t *opts,
                                   char *err, size_t errlen)
{
    if (!opts || !opts->fallback || !base) {
        snprintf(err, errlen, "redis session store needs an event base and a fallback store");
        return NULL;
    }
    sess_redis_t *rs = calloc(1, sizeof *rs);
    if (!rs) abort();
    rs->base.ops = &redis_ops;
    rs->evb = base;
    rs->kv = sess_redis_kv_new(rs, opts, err, errlen);
    if (!rs->kv) {
        free(rs);
        return NULL;
    }
    rs->prefix = strdup(opts->key_prefix ? opts->key_prefix : "");
    rs->ttl_ms = opts->ttl_ms ? opts->ttl_ms : 86400ull * 1000;
    rs->fb = opts->fallback;
    rs->wb_token = opts->writeback;
    return &rs->base;
}

sess_store_t *sess_store_redis_open_sync(const sess_redis_opts_t *opts, char *err, size_t errlen)
{
    struct event_base *b = event_base_new();
    if (!b) {
        snprintf(err, errlen, "event_base_new failed");
        return NULL;
    }
    sess_store_t *s = sess_store_redis_new(b, opts, err, errlen);
    if (!s) {
        event_base_free(b);
        return NULL;
    }
    ((sess_redis_t *)s)->own_base = true;
    return s;
}
