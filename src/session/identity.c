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
 * because each new session gets its own id. */
#include "session/identity.h"
#include "config/config.h"
#include "config/global.h"
#include "core/hash.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SEED_MSG    0x6d7367ull
#define SEED_CHAIN  0x636861ull
#define SEED_OPENER 0x6f706eull
#define SEED_P0     0x703030ull
#define SEED_NEW    0x6e6577ull

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
    int o = snprintf(id->key, sizeof id->key, "%s%c%s%c", id->tenant, SESS_KEY_SEP, source,
                     SESS_KEY_SEP);
    if (o < 0 || (size_t)o >= sizeof id->key) o = (int)sizeof id->key - 1;
    sess_identity_component(id->key + o, sizeof id->key - (size_t)o, val, len, max_bytes);
}

/* ---- normalisation and chain hashes ---- */

/* The hashed byte stream is built from pieces: short ones are copied into
 * buf, long ones (and whatever is buffered before them) go to XXH3 in bulk.
 * The digest depends only on the concatenated bytes, never on how they were
 * split. */
typedef struct hstream {
    XXH3_state_t st;
    size_t n;
    char buf[1024];
} hstream_t;

#define HS_DIRECT 256 /* pieces at least this long bypass buf */

static void hs_init(hstream_t *h, uint64_t seed)
{
    /* a state on the stack must be XXH3_INITSTATE'd: reset_withSeed keeps
     * the derived secret when the (garbage) seed field already equals seed,
     * which made digests over 240 bytes depend on stack contents */
    XXH3_INITSTATE(&h->st);
    XXH3_64bits_reset_withSeed(&h->st, seed);
    h->n = 0;
}
static void hs_flush(hstream_t *h)
{
    if (h->n) XXH3_64bits_update(&h->st, h->buf, h->n);
    h->n = 0;
}
static inline void hs_putc(hstream_t *h, char c)
{
    if (h->n == sizeof h->buf) hs_flush(h);
    h->buf[h->n++] = c;
}
static inline void hs_put(hstream_t *h, const void *p, size_t n)
{
    if (n >= HS_DIRECT) {
        hs_flush(h);
        XXH3_64bits_update(&h->st, p, n);
        return;
    }
    if (h->n + n > sizeof h->buf) hs_flush(h);
    memcpy(h->buf + h->n, p, n);
    h->n += n;
}
static uint64_t hs_final(hstream_t *h)
{
    hs_flush(h);
    return XXH3_64bits_digest(&h->st);
}

static bool is_ws(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

/* Whitespace (bit i: p[i] is ' ' or \t..\r) and space masks of 64 bytes. */
static inline void ws_masks64(const unsigned char *p, uint64_t *w, uint64_t *sp)
{
#ifdef __SSE2__
    const __m128i space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'), four = _mm_set1_epi8(4);
    uint64_t W = 0, S = 0;
#pragma GCC unroll 4
    for (int k = 0; k < 4; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(p + 16 * k));
        __m128i s = _mm_cmpeq_epi8(x, space);
        __m128i t = _mm_sub_epi8(x, tab); /* \t..\r -> 0..4 (unsigned) */
        __m128i c = _mm_cmpeq_epi8(_mm_min_epu8(t, four), t);
        W |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_or_si128(s, c)) << (16 * k);
        S |= (uint64_t)(uint16_t)_mm_movemask_epi8(s) << (16 * k);
    }
    *w = W;
    *sp = S;
#else
    uint64_t W = 0, S = 0;
    for (int i = 0; i < 64; i++) {
        W |= (uint64_t)is_ws(p[i]) << i;
        S |= (uint64_t)(p[i] == ' ') << i;
    }
    *w = W;
    *sp = S;
#endif
}

/* Masks of the 64-byte chunk at base of s[0..n), where position n counts as
 * whitespace (so trailing whitespace is trimmed) and later positions as
 * neither. base <= n. */
static inline void chunk_masks(const char *s, size_t n, size_t base, uint64_t *w, uint64_t *sp)
{
    if (base + 64 <= n) {
        ws_masks64((const unsigned char *)s + base, w, sp);
        return;
    }
    unsigned char tmp[64];
    memset(tmp, 'x', sizeof tmp);
    memcpy(tmp, s + base, n - base);
    ws_masks64(tmp, w, sp);
    *w |= 1ull << (n - base);
}

/* Text with every whitespace run collapsed to one space, trimmed: the same
 * bytes as emitting word after word with one space between them. A space
 * with a non-space on both sides is already its own collapse, so only the
 * other whitespace runs ("breaks": longer runs, single \t..\r, leading or
 * trailing ones) cut the text; the clean spans between breaks are hashed
 * in bulk, joined by one space. Breaks are found 64 bytes at a time from
 * whitespace bitmasks. */
static void hs_collapsed(hstream_t *h, const char *s, size_t n)
{
    uint64_t W, S, Wn = 0, Sn = 0;
    uint64_t wcarry = 1; /* position -1 counts as whitespace: leading runs are breaks */
    uint64_t bcarry = 0; /* position -1 is inside a break */
    size_t span = 0;     /* start of the current clean span */
    bool any = false;
    chunk_masks(s, n, 0, &W, &S);
    for (size_t base = 0; base <= n; base += 64) {
        bool more = base + 64 <= n;
        if (more) chunk_masks(s, n, base + 64, &Wn, &Sn);
        uint64_t prev = (W << 1) | wcarry;
        uint64_t next = (W >> 1) | ((more ? Wn & 1 : 0) << 63);
        uint64_t brk = W & ~(S & ~prev & ~next);
        if (!more) brk &= n - base == 63 ? ~0ull : (2ull << (n - base)) - 1;
        uint64_t before = (brk << 1) | bcarry;
        uint64_t tr = (brk & ~before) | (~brk & before);
        if (!more) tr &= n - base == 63 ? ~0ull : (2ull << (n - base)) - 1;
        while (tr) {
            unsigned i = (unsigned)__builtin_ctzll(tr);
            tr &= tr - 1;
            size_t at = base + i;
            if (brk >> i & 1) { /* a break starts: the span before it is complete */
                size_t len = at - span;
                if (!len) continue;
                if (len <= 32 && span + 32 <= n && h->n + 33 <= sizeof h->buf) {
                    /* short span (a line of code): one fixed-size copy */
                    h->buf[h->n] = ' ';
                    h->n += any;
                    memcpy(h->buf + h->n, s + span, 32);
                    h->n += len;
                } else {
                    if (any) hs_putc(h, ' ');
                    hs_put(h, s + span, len);
                }
                any = true;
            } else {
                span = at; /* a break ended */
            }
        }
        wcarry = W >> 63;
        bcarry = brk >> 63;
        W = Wn;
        S = Sn;
    }
}

/* First index >= i in s[0..n) whose byte is a or b, or n. */
static inline size_t find2(const char *s, size_t i, size_t n, char a, char b)
{
#ifdef __SSE2__
    const __m128i va = _mm_set1_epi8(a), vb = _mm_set1_epi8(b);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        unsigned m =
            (unsigned)_mm_movemask_epi8(_mm_or_si128(_mm_cmpeq_epi8(x, va), _mm_cmpeq_epi8(x, vb)));
        if (m) return i + (size_t)__builtin_ctz(m);
    }
#endif
    for (; i < n; i++)
        if (s[i] == a || s[i] == b) return i;
    return n;
}

/* First index >= i in s[0..n) that is '"' or whitespace, or n. */
static inline size_t find_quote_or_ws(const char *s, size_t i, size_t n)
{
#ifdef __SSE2__
    const __m128i q = _mm_set1_epi8('"'), space = _mm_set1_epi8(' '), tab = _mm_set1_epi8('\t'),
                  four = _mm_set1_epi8(4);
    for (; i + 16 <= n; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(const void *)(s + i));
        __m128i t = _mm_sub_epi8(x, tab);
        __m128i m = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, q), _mm_cmpeq_epi8(x, space)),
                                 _mm_cmpeq_epi8(_mm_min_epu8(t, four), t));
        unsigned b = (unsigned)_mm_movemask_epi8(m);
        if (b) return i + (size_t)__builtin_ctz(b);
    }
#endif
    for (; i < n; i++)
        if (s[i] == '"' || is_ws((unsigned char)s[i])) return i;
    return n;
}

/* JSON with whitespace outside strings removed: the same tools array sent
 * pretty-printed or compact hashes alike. Strings are copied verbatim (an
 * escaped quote does not end one); only whitespace outside them cuts the
 * text into spans hashed in bulk. */
static void hs_minified_json(hstream_t *h, const char *s, size_t n)
{
    size_t span = 0, i = 0;
    while (i < n) {
        i = find_quote_or_ws(s, i, n);
        if (i == n) break;
        if (s[i] == '"') { /* skip the string */
            i++;
            for (;;) {
                i = find2(s, i, n, '"', '\\');
                if (i >= n) break;
                if (s[i] == '"') {
                    i++;
                    break;
                }
                i += 2; /* backslash and the byte it escapes */
            }
            if (i > n) i = n;
            continue;
        }
        if (i > span) hs_put(h, s + span, i - span);
        while (i < n && is_ws((unsigned char)s[i]))
            i++;
        span = i;
    }
    if (n > span) hs_put(h, s + span, n - span);
}

uint64_t sess_identity_msg_hash(jrole_t role, const char *text, size_t len,
                                const rq_tool_call_t *calls, size_t n_calls,
                                const char *tool_call_id)
{
    hstream_t h;
    hs_init(&h, SEED_MSG);
    if (role == JROLE_DEVELOPER) role = JROLE_SYSTEM;
    if (role == JROLE_FUNCTION) role = JROLE_TOOL;
    hs_putc(&h, (char)('0' + role));
    hs_putc(&h, '\x1e');
    if (text) hs_collapsed(&h, text, len);
    for (size_t i = 0; i < n_calls; i++) {
        hs_putc(&h, '\x1f');
        if (calls[i].id) hs_put(&h, calls[i].id, strlen(calls[i].id));
        hs_putc(&h, '\x1f');
        if (calls[i].name) hs_put(&h, calls[i].name, strlen(calls[i].name));
    }
    if (tool_call_id && *tool_call_id) {
        hs_putc(&h, '\x1d');
        hs_put(&h, tool_call_id, strlen(tool_call_id));
    }
    return hs_final(&h);
}

uint64_t sess_identity_chain_step(uint64_t prev, uint64_t msg_hash)
{
    uint64_t b[2] = {prev, msg_hash};
    return hash_xxh64(b, sizeof b, SEED_CHAIN);
}

static uint64_t rq_msg_hash(rq_t *r, size_t i)
{
    size_t len = 0;
    const char *t = rq_msg_text(r, i, &len);
    const rq_msg_t *m = &r->msgs[i];
    return sess_identity_msg_hash(m->role, t, len, m->calls, m->n_calls, m->tool_call_id);
}

/* ---- the chain memo ----
 *
 * An agent resends its whole conversation every turn, and turn n+1 is turn
 * n plus the reply and what followed it: normalising and hashing every
 * message again would cost the whole body each turn. Each worker thread
 * keeps the chain state after the last message of the requests it saw,
 * keyed by a raw chain over the messages' bytes (r_0 = p_0, r_i =
 * H(r_{i-1} || XXH3(message i's JSON)) over the non-system messages): a
 * message's normalised hash depends on its JSON bytes only, so equal raw
 * chains mean equal chain hashes. A request hashes the raw bytes (a fraction
 * of the normalising cost), resumes from the longest prefix the memo knows
 * and normalises only the messages after it. Fixed size per thread, no
 * allocation; a set's least recently stored entry makes room. */
#define CHAIN_MEMO_SETS 128 /* power of two */
#define CHAIN_MEMO_WAYS 4   /* a set's least recently stored entry is replaced */
#define CHAIN_RING      (SESS_CHAIN_LOOKBACK + 1)

typedef struct chain_memo {
    uint64_t key; /* r_n (0: empty slot) */
    uint64_t p0, opener;
    uint64_t stamp;           /* when it was stored (the set's replacement order) */
    uint64_t all[CHAIN_RING]; /* p_k at k % CHAIN_RING for the last CHAIN_RING k */
    uint32_t n;               /* non-system messages covered */
    bool has_assistant, opener_set;
} chain_memo_t;

static __thread chain_memo_t tl_chain_memo[CHAIN_MEMO_SETS][CHAIN_MEMO_WAYS];
static __thread uint64_t tl_chain_stamp;
static __thread size_t tl_chain_normalised; /* messages normalised (tests) */

size_t sess_identity_chain_normalised(void)
{
    return tl_chain_normalised;
}

static inline uint64_t memo_key(uint64_t k)
{
    return k ? k : 1; /* 0 marks an empty slot */
}

static inline chain_memo_t *memo_set(uint64_t key)
{
    return tl_chain_memo[(key ^ key >> 29) & (CHAIN_MEMO_SETS - 1)];
}

static const chain_memo_t *memo_find(uint64_t key, uint64_t p0)
{
    const chain_memo_t *set = memo_set(key);
    for (int w = 0; w < CHAIN_MEMO_WAYS; w++)
        if (set[w].key == key && set[w].p0 == p0) return &set[w];
    return NULL;
}

/* The slot to store key in: its own entry, else the set's oldest. */
static chain_memo_t *memo_victim(uint64_t key)
{
    chain_memo_t *set = memo_set(key), *v = &set[0];
    for (int w = 0; w < CHAIN_MEMO_WAYS; w++) {
        if (set[w].key == key) return &set[w];
        if (set[w].stamp < v->stamp) v = &set[w];
    }
    return v;
}

/* Fills the chain facts and, when ring is given, the last
 * SESS_CHAIN_LOOKBACK+1 chain hashes p_n, p_{n-1}, ... (k >= 1) into ring. */
static size_t chain_facts(rq_t *r, const char *tenant, sess_identity_t *id, uint64_t *ring)
{
    hstream_t h;
    hs_init(&h, SEED_P0);
    hs_put(&h, tenant, strlen(tenant) + 1);
    for (size_t i = 0; i < r->n_msgs; i++)
        if (r->msgs[i].role == JROLE_SYSTEM) {
            size_t len = 0;
            const char *t = rq_msg_text(r, i, &len);
            hs_collapsed(&h, t, len);
            hs_putc(&h, '\x1e');
        }
    hs_putc(&h, '\x1d');
    if (r->tools.len) hs_minified_json(&h, r->body + r->tools.off, r->tools.len);
    id->p0 = hs_final(&h);

    /* the longest prefix the memo knows: resume after message `from` */
    uint64_t raw = id->p0, key_n = 0;
    const chain_memo_t *hit = NULL;
    size_t from = 0;
    for (size_t i = 0; i < r->n_msgs; i++) {
        const rq_msg_t *m = &r->msgs[i];
        if (m->role == JROLE_SYSTEM) continue;
        /* unseeded XXH3 of the bytes (a seed costs a derived secret per
         * call over 240 bytes), chained like p_i */
        raw = sess_identity_chain_step(raw, XXH3_64bits(r->body + m->value.off, m->value.len));
        key_n = memo_key(raw);
        const chain_memo_t *e = memo_find(key_n, id->p0);
        if (e) {
            hit = e;
            from = i + 1;
        }
    }

    uint64_t p = id->p0;
    size_t n = 0;
    const size_t R = CHAIN_RING;
    uint64_t all[CHAIN_RING] = {0};
    bool opener_set = false;
    id->has_assistant = false;
    if (hit) {
        memcpy(all, hit->all, sizeof all);
        n = hit->n;
        p = all[n % R];
        id->has_assistant = hit->has_assistant;
        opener_set = hit->opener_set;
        id->opener = hit->opener;
    }
    for (size_t i = from; i < r->n_msgs; i++) {
        const rq_msg_t *m = &r->msgs[i];
        if (m->role == JROLE_SYSTEM) continue;
        uint64_t mh = rq_msg_hash(r, i);
        tl_chain_normalised++;
        if (m->role == JROLE_ASSISTANT) id->has_assistant = true;
        if (m->role == JROLE_USER && !opener_set) {
            uint64_t b[2] = {id->p0, mh};
            id->opener = hash_xxh64(b, sizeof b, SEED_OPENER);
            opener_set = true;
        }
        p = sess_identity_chain_step(p, mh);
        n++;
        all[n % R] = p;
    }
    if (n && key_n) {
        chain_memo_t *e = memo_victim(key_n);
        e->key = key_n;
        e->stamp = ++tl_chain_stamp;
        e->p0 = id->p0;
        e->opener = id->opener;
        memcpy(e->all, all, sizeof all);
        e->n = (uint32_t)n;
        e->has_assistant = id->has_assistant;
        e->opener_set = opener_set;
    }
    if (!opener_set) {
        uint64_t b[2] = {id->p0, 0};
        id->opener = hash_xxh64(b, sizeof b, SEED_OPENER);
    }
    id->pn = p;
    id->n = n;
    id->has_chain = true;
    size_t cnt = 0;
    if (ring) {
        size_t lo = n > SESS_CHAIN_LOOKBACK ? n - SESS_CHAIN_LOOKBACK : 1;
        for (size_t k = n; k >= lo && k >= 1; k--)
            ring[cnt++] = all[k % R];
    }
    return cnt;
}

void sess_identity_chain(rq_t *r, sess_identity_t *id)
{
    if (!id->tenant[0]) snprintf(id->tenant, sizeof id->tenant, "anon");
    chain_facts(r, id->tenant, id, NULL);
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
    hstream_t h;
    hs_init(&h, SEED_NEW);
    hs_put(&h, &x->id.opener, sizeof x->id.opener);
    hs_put(&h, req, strlen(req));
    char hex[20] = "fp:";
    hash_hex16(hs_final(&h), hex + 3);
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
        if (fp && in->store) chain_facts(r, x->id.tenant, &x->id, NULL);
        finish(x);
        return;
    }
    if (fp) x->nh = chain_facts(r, x->id.tenant, &x->id, x->hashes);
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
