/* state_pack.c - packing session records for the memory store (see
 * state_pack.h): LEB128 varints, times as deltas, doubles and hashes as raw
 * bytes only when non-zero, trace ids "rr_" + 24 hex as 12 bytes, and names
 * as ids of an append-only dictionary. The dictionary is read without a
 * lock (slots and name pointers are published with release stores and never
 * change); adding a name takes a mutex. */
#include "session/state_pack.h"
#include "core/hash.h"
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* ---- the name dictionary ---- */

#define SLOTS 8192 /* open addressing, > 2x SESS_PACK_NAMES */

static _Atomic(const char *) names[SESS_PACK_NAMES + 1]; /* id -> name; id 0 is "" */
static _Atomic uint16_t slots[SLOTS];                    /* hash -> id, 0 = empty */
static unsigned n_names;
static pthread_mutex_t names_mu = PTHREAD_MUTEX_INITIALIZER;

/* Probe for name; returns its id, 0 when absent (*slot: the empty slot). */
static unsigned probe(const char *name, size_t len, uint64_t h, size_t *slot)
{
    for (size_t i = 0; i < SLOTS; i++) {
        size_t at = (h + i) & (SLOTS - 1);
        unsigned id = atomic_load_explicit(&slots[at], memory_order_acquire);
        if (!id) {
            *slot = at;
            return 0;
        }
        const char *s = atomic_load_explicit(&names[id], memory_order_acquire);
        if (strncmp(s, name, len) == 0 && s[len] == 0) return id;
    }
    *slot = SLOTS;
    return 0;
}

/* The ids this thread packed last (a record names a few models, a backend,
 * a decision and a reason): the dictionary's own copy of the name, which
 * never changes or goes, so a byte match is that name's id. */
#define NAME_MEMO 8
static __thread struct {
    const char *name;
    size_t len;
    unsigned id;
} name_memo[NAME_MEMO];
static __thread unsigned name_memo_next;

/* Id of name (len bytes, len > 0), added when new; 0 when the dictionary is
 * full (the caller stores the name inline). */
static unsigned name_id_lookup(const char *name, size_t len);
static unsigned name_id(const char *name, size_t len)
{
    for (unsigned i = 0; i < NAME_MEMO; i++)
        if (name_memo[i].len == len && name_memo[i].name &&
            memcmp(name_memo[i].name, name, len) == 0)
            return name_memo[i].id;
    unsigned id = name_id_lookup(name, len);
    if (id) {
        unsigned at = name_memo_next++ % NAME_MEMO;
        name_memo[at].name = atomic_load_explicit(&names[id], memory_order_acquire);
        name_memo[at].len = len;
        name_memo[at].id = id;
    }
    return id;
}

static unsigned name_id_lookup(const char *name, size_t len)
{
    uint64_t h = hash_xxh64(name, len, 0x6e616d65);
    size_t slot;
    unsigned id = probe(name, len, h, &slot);
    if (id) return id;
    pthread_mutex_lock(&names_mu);
    id = probe(name, len, h, &slot); /* another thread may have added it */
    if (!id && n_names < SESS_PACK_NAMES && slot < SLOTS) {
        char *copy = malloc(len + 1);
        if (!copy) abort();
        memcpy(copy, name, len);
        copy[len] = 0;
        id = ++n_names;
        atomic_store_explicit(&names[id], copy, memory_order_release);
        atomic_store_explicit(&slots[slot], (uint16_t)id, memory_order_release);
    }
    pthread_mutex_unlock(&names_mu);
    return id;
}

/* ---- writing ---- */

typedef struct {
    unsigned char *p;
} wr_t;

static void put_u(wr_t *w, uint64_t v)
{
    while (v >= 0x80) {
        *w->p++ = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    *w->p++ = (unsigned char)v;
}

static void put_s(wr_t *w, int64_t v) /* zigzag */
{
    uint64_t u = (uint64_t)v;
    put_u(w, (u << 1) ^ (0 - (u >> 63)));
}

static void put_raw(wr_t *w, const void *p, size_t n)
{
    memcpy(w->p, p, n);
    w->p += n;
}

/* Even: 2 * dictionary id (0: ""); odd: 2 * length + 1, then the bytes. */
static void put_name(wr_t *w, const char *s, size_t cap)
{
    size_t len = strnlen(s, cap - 1);
    unsigned id = len ? name_id(s, len) : 0;
    if (id || !len) {
        put_u(w, (uint64_t)id << 1);
        return;
    }
    put_u(w, (uint64_t)len << 1 | 1);
    put_raw(w, s, len);
}

static int hexv(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* "rr_" + 24 lowercase hex: 0 then 12 bytes; anything else: 1 + a string. */
static void put_trace(wr_t *w, const char *s, size_t cap)
{
    size_t len = strnlen(s, cap - 1);
    bool compact = len == 27 && memcmp(s, "rr_", 3) == 0;
    for (size_t i = 3; compact && i < 27; i++)
        compact = hexv(s[i]) >= 0;
    if (compact) {
        *w->p++ = 0;
        for (size_t i = 0; i < 12; i++)
            *w->p++ = (unsigned char)(hexv(s[3 + 2 * i]) << 4 | hexv(s[4 + 2 * i]));
        return;
    }
    *w->p++ = 1;
    put_u(w, len);
    put_raw(w, s, len);
}

static void put_double(wr_t *w, double d)
{
    uint64_t bits;
    memcpy(&bits, &d, sizeof bits);
    put_u(w, bits != 0);
    if (bits) put_raw(w, &bits, sizeof bits);
}

static bool model_used(const sess_model_stats_t *m)
{
    static const sess_model_stats_t zero;
    return m->model[0] ||
           memcmp(&m->turns, &zero.turns, sizeof *m - offsetof(sess_model_stats_t, turns)) != 0;
}

size_t sess_state_pack(const sess_state_t *s, unsigned char out[SESS_PACK_MAX])
{
    wr_t w = {out};
    put_u(&w, s->version);
    put_u(&w, s->created_at_ms);
    put_s(&w, (int64_t)(s->last_seen_ms - s->created_at_ms));
    put_s(&w, (int64_t)(s->last_started_at_ms - s->last_seen_ms));
    put_name(&w, s->last_model, sizeof s->last_model);
    put_name(&w, s->last_backend, sizeof s->last_backend);
    put_name(&w, s->last_decision, sizeof s->last_decision);
    put_name(&w, s->last_reasoning, sizeof s->last_reasoning);
    put_u(&w, s->turn_count);
    put_u(&w, s->switch_count);
    put_u(&w, s->prompt_tokens);
    put_u(&w, s->cached_tokens);
    put_u(&w, s->completion_tokens);
    put_double(&w, s->cost);
    size_t n = SESS_MAX_MODELS;
    while (n && !model_used(&s->models[n - 1]))
        n--;
    put_u(&w, n);
    for (size_t i = 0; i < n; i++) {
        const sess_model_stats_t *m = &s->models[i];
        put_name(&w, m->model, sizeof m->model);
        put_u(&w, m->turns);
        put_u(&w, m->responses_with_usage);
        put_u(&w, m->responses_with_cached);
        put_u(&w, m->prompt_tokens);
        put_u(&w, m->cached_tokens);
        put_u(&w, m->completion_tokens);
        put_u(&w, m->last_prompt_tokens);
        put_double(&w, m->cost);
    }
    put_u(&w, (uint64_t)s->lock_kind);
    put_u(&w, s->lock_bindings);
    put_u(&w, s->lock_since_turn);
    put_u(&w, s->opener != 0);
    if (s->opener) put_raw(&w, &s->opener, sizeof s->opener);
    put_trace(&w, s->last_trace_id, sizeof s->last_trace_id);
    put_name(&w, s->last_reason, sizeof s->last_reason);
    put_u(&w, s->lock_episodes);
    put_u(&w, s->lock_episode_turn);
    put_u(&w, s->lock_episode_period);
    put_double(&w, s->lock_required_quality);
    return (size_t)(w.p - out);
}

/* ---- reading ---- */

typedef struct {
    const unsigned char *p, *end;
    bool bad;
} rd_t;

static uint64_t get_u(rd_t *r)
{
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (r->p >= r->end) break;
        unsigned char b = *r->p++;
        v |= (uint64_t)(b & 0x7f) << shift;
        if (!(b & 0x80)) return v;
    }
    r->bad = true;
    return 0;
}

static int64_t get_s(rd_t *r)
{
    uint64_t u = get_u(r);
    return (int64_t)(u >> 1) ^ -(int64_t)(u & 1);
}

static void get_raw(rd_t *r, void *p, size_t n)
{
    if ((size_t)(r->end - r->p) < n) {
        r->bad = true;
        memset(p, 0, n);
        return;
    }
    memcpy(p, r->p, n);
    r->p += n;
}

static void get_name(rd_t *r, char *dst, size_t cap)
{
    uint64_t v = get_u(r);
    if (!(v & 1)) {
        uint64_t id = v >> 1;
        const char *s = id && id <= SESS_PACK_NAMES
                            ? atomic_load_explicit(&names[id], memory_order_acquire)
                            : "";
        if (!s) {
            r->bad = true;
            return;
        }
        strncpy(dst, s, cap - 1);
        return;
    }
    uint64_t len = v >> 1;
    if (len >= cap) {
        r->bad = true;
        return;
    }
    get_raw(r, dst, (size_t)len);
}

static void get_trace(rd_t *r, char *dst, size_t cap)
{
    unsigned char mode = 1;
    get_raw(r, &mode, 1);
    if (mode == 0) {
        static const char hex[] = "0123456789abcdef";
        unsigned char b[12];
        get_raw(r, b, sizeof b);
        memcpy(dst, "rr_", 3);
        for (size_t i = 0; i < 12; i++) {
            dst[3 + 2 * i] = hex[b[i] >> 4];
            dst[4 + 2 * i] = hex[b[i] & 15];
        }
        return;
    }
    uint64_t len = get_u(r);
    if (len >= cap) {
        r->bad = true;
        return;
    }
    get_raw(r, dst, (size_t)len);
}

static double get_double(rd_t *r)
{
    uint64_t bits = 0;
    if (get_u(r)) get_raw(r, &bits, sizeof bits);
    double d;
    memcpy(&d, &bits, sizeof d);
    return d;
}

bool sess_state_unpack(const unsigned char *in, size_t n, sess_state_t *s)
{
    rd_t r = {in, in + n, false};
    memset(s, 0, sizeof *s);
    s->version = get_u(&r);
    s->created_at_ms = get_u(&r);
    s->last_seen_ms = s->created_at_ms + (uint64_t)get_s(&r);
    s->last_started_at_ms = s->last_seen_ms + (uint64_t)get_s(&r);
    get_name(&r, s->last_model, sizeof s->last_model);
    get_name(&r, s->last_backend, sizeof s->last_backend);
    get_name(&r, s->last_decision, sizeof s->last_decision);
    get_name(&r, s->last_reasoning, sizeof s->last_reasoning);
    s->turn_count = (uint32_t)get_u(&r);
    s->switch_count = (uint32_t)get_u(&r);
    s->prompt_tokens = get_u(&r);
    s->cached_tokens = get_u(&r);
    s->completion_tokens = get_u(&r);
    s->cost = get_double(&r);
    uint64_t nm = get_u(&r);
    if (nm > SESS_MAX_MODELS) return false;
    for (size_t i = 0; i < nm && !r.bad; i++) {
        sess_model_stats_t *m = &s->models[i];
        get_name(&r, m->model, sizeof m->model);
        m->turns = (uint32_t)get_u(&r);
        m->responses_with_usage = (uint32_t)get_u(&r);
        m->responses_with_cached = (uint32_t)get_u(&r);
        m->prompt_tokens = get_u(&r);
        m->cached_tokens = get_u(&r);
        m->completion_tokens = get_u(&r);
        m->last_prompt_tokens = get_u(&r);
        m->cost = get_double(&r);
    }
    s->lock_kind = (sess_lock_kind_t)get_u(&r);
    s->lock_bindings = (uint32_t)get_u(&r);
    s->lock_since_turn = (uint32_t)get_u(&r);
    if (get_u(&r)) get_raw(&r, &s->opener, sizeof s->opener);
    get_trace(&r, s->last_trace_id, sizeof s->last_trace_id);
    get_name(&r, s->last_reason, sizeof s->last_reason);
    s->lock_episodes = (uint32_t)get_u(&r);
    s->lock_episode_turn = (uint32_t)get_u(&r);
    s->lock_episode_period = (uint32_t)get_u(&r);
    s->lock_required_quality = get_double(&r);
    return !r.bad && r.p == r.end;
}

/* ---- the canonical form ---- */

/* get_name's bytes for what put_name wrote of src: at most cap - 1 bytes,
 * the rest of dst (cleared by the caller) left zero. */
static void canon_name(char *dst, const char *src, size_t cap)
{
    memcpy(dst, src, strnlen(src, cap - 1));
}

void sess_state_canon(const sess_state_t *s, sess_state_t *o)
{
    memset(o, 0, sizeof *o);
    o->version = s->version;
    o->created_at_ms = s->created_at_ms;
    o->last_seen_ms = s->last_seen_ms;
    o->last_started_at_ms = s->last_started_at_ms;
    canon_name(o->last_model, s->last_model, sizeof o->last_model);
    canon_name(o->last_backend, s->last_backend, sizeof o->last_backend);
    canon_name(o->last_decision, s->last_decision, sizeof o->last_decision);
    canon_name(o->last_reasoning, s->last_reasoning, sizeof o->last_reasoning);
    o->turn_count = s->turn_count;
    o->switch_count = s->switch_count;
    o->prompt_tokens = s->prompt_tokens;
    o->cached_tokens = s->cached_tokens;
    o->completion_tokens = s->completion_tokens;
    o->cost = s->cost;
    size_t n = SESS_MAX_MODELS;
    while (n && !model_used(&s->models[n - 1]))
        n--;
    for (size_t i = 0; i < n; i++) {
        const sess_model_stats_t *m = &s->models[i];
        sess_model_stats_t *d = &o->models[i];
        canon_name(d->model, m->model, sizeof d->model);
        d->turns = m->turns;
        d->responses_with_usage = m->responses_with_usage;
        d->responses_with_cached = m->responses_with_cached;
        d->prompt_tokens = m->prompt_tokens;
        d->cached_tokens = m->cached_tokens;
        d->completion_tokens = m->completion_tokens;
        d->last_prompt_tokens = m->last_prompt_tokens;
        d->cost = m->cost;
    }
    o->lock_kind = s->lock_kind;
    o->lock_bindings = s->lock_bindings;
    o->lock_since_turn = s->lock_since_turn;
    o->opener = s->opener;
    canon_name(o->last_trace_id, s->last_trace_id, sizeof o->last_trace_id);
    canon_name(o->last_reason, s->last_reason, sizeof o->last_reason);
    o->lock_episodes = s->lock_episodes;
    o->lock_episode_turn = s->lock_episode_turn;
    o->lock_episode_period = s->lock_episode_period;
    o->lock_required_quality = s->lock_required_quality;
}

/* ---- the per-thread memory of recent records ---- */

#define KEPT_N   4   /* records remembered per thread */
#define KEPT_MAX 256 /* packed bytes, at most, of one (a typical record: about 100) */

typedef struct {
    uint32_t len; /* 0: empty */
    bool canon;   /* st is already in the canonical form */
    uint64_t used;
    unsigned char packed[KEPT_MAX];
    sess_state_t st;
} kept_t;

static __thread kept_t kept[KEPT_N];
static __thread uint64_t kept_tick;
static __thread uint64_t kept_hits;

/* The slot holding exactly bytes[0..n) (*hit), else the least recently
 * used one. */
static kept_t *kept_slot(const unsigned char *bytes, size_t n, bool *hit)
{
    kept_t *victim = &kept[0];
    for (size_t i = 0; i < KEPT_N; i++) {
        if (kept[i].len == n && memcmp(kept[i].packed, bytes, n) == 0) {
            *hit = true;
            return &kept[i];
        }
        if (kept[i].used < victim->used) victim = &kept[i];
    }
    *hit = false;
    return victim;
}

static void kept_store(kept_t *k, const unsigned char *bytes, size_t n, const sess_state_t *s,
                       bool canon)
{
    memcpy(k->packed, bytes, n);
    k->len = (uint32_t)n;
    k->st = *s;
    k->canon = canon;
    k->used = ++kept_tick;
}

size_t sess_state_pack_keep(const sess_state_t *s, unsigned char out[SESS_PACK_MAX])
{
    size_t n = sess_state_pack(s, out);
    bool hit;
    if (n && n <= KEPT_MAX) kept_store(kept_slot(out, n, &hit), out, n, s, false);
    return n;
}

bool sess_state_unpack_kept(const unsigned char *in, size_t n, sess_state_t *s)
{
    if (!n || n > KEPT_MAX) return sess_state_unpack(in, n, s);
    bool hit;
    kept_t *k = kept_slot(in, n, &hit);
    if (hit) {
        if (!k->canon) {
            sess_state_canon(&k->st, s);
            k->st = *s;
            k->canon = true;
        } else {
            *s = k->st;
        }
        k->used = ++kept_tick;
        kept_hits++;
        return true;
    }
    if (!sess_state_unpack(in, n, s)) return false;
    kept_store(k, in, n, s, true);
    return true;
}

uint64_t sess_state_kept_hits(void)
{
    return kept_hits;
}

void sess_state_kept_reset(void)
{
    memset(kept, 0, sizeof kept);
    kept_tick = kept_hits = 0;
}
