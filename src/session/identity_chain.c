/* identity_chain.c - the prefix-chain fingerprint of a request (SPEC
 * §9.1, identity.h): message normalisation and hashing, the chain p_0..p_n
 * and the per-thread memo that lets a conversation's next turn normalise
 * only its new messages. identity.c resolves identities with these facts.
 *
 * The chain: each non-system message is normalised (role, whitespace-
 * collapsed text, tool-call ids and names, the id a tool result answers;
 * reasoning is never part of the text) and hashed; p_i = H(p_{i-1} || h_i),
 * with p_0 over the tenant, the system text and the minified tools JSON. */
#include "session/identity_chain.h"
#include "core/hash.h"
#include <assert.h>
#include <stdio.h>
#include <string.h>
#define XXH_STATIC_LINKING_ONLY
#include <xxhash.h>
#if defined(__x86_64__) && __has_include(<xxh_x86dispatch.h>)
/* XXH3 through libxxhash's dispatcher: the same hashes, with AVX2 where the
 * CPU has it (about a third of the instructions per byte of the SSE2 code
 * the plain entry points run) */
#include <xxh_x86dispatch.h>
#endif
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#define SEED_MSG    0x6d7367ull
#define SEED_CHAIN  0x636861ull
#define SEED_OPENER 0x6f706eull
#define SEED_P0     0x703030ull
#define SEED_NEW    0x6e6577ull

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
 * with the bytes those messages were sent as (from the first message's
 * start to the last one's end), the tenant and the tools' bytes. A
 * message's normalised hash depends on its JSON bytes only, and p_0 on the
 * tenant, the system messages' bytes and the tools' bytes; so when a
 * request's messages start with exactly the bytes of an entry (ending at
 * one of its own message ends, no system message after them, same tenant
 * and tools), the entry's chain state is the request's after that many
 * messages: it resumes there and normalises only the messages after it.
 *
 * The bytes are compared through two XXH3 hashes, each over its bytes in
 * one call (which runs at vector speed; hashing each message apart cost a
 * call per message): the head, the first min(n, CHAIN_HEAD) messages, which
 * a conversation keeps from turn to turn and which also choose the entry's
 * set; and the rest. A request looks in the set of its own head, and only
 * when nothing there matches, in those of its first 2 and 1 messages, for
 * entries that short (a conversation's first turn). A request that
 * continues an entry replaces it (a conversation keeps one entry);
 * otherwise the set's least recently stored entry makes room. Fixed size
 * per thread, no allocation. */
#define CHAIN_MEMO_SETS 64 /* power of two */
#define CHAIN_MEMO_WAYS 8
#define CHAIN_RING      (SESS_CHAIN_LOOKBACK + 1)
#define CHAIN_HEAD      3 /* messages (any role) in the head */

typedef struct chain_memo {
    uint64_t ctx;             /* the tenant and the tools' bytes */
    uint64_t head, rest;      /* XXH3 of the head's bytes and of the rest's (0: none) */
    uint64_t p0, opener;      /* chain facts after the last message */
    uint64_t stamp;           /* when it was stored (the set's replacement order) */
    uint64_t all[CHAIN_RING]; /* p_k at k % CHAIN_RING for the last CHAIN_RING k */
    uint32_t len;             /* bytes from the first message's start to the last one's end */
    uint32_t n_msgs;          /* messages (all roles) in them */
    uint32_t n;               /* non-system messages covered */
    bool has_assistant, opener_set;
} chain_memo_t;

/* tags apart from the entries: a set's probe reads one cache line */
static __thread uint64_t tl_chain_tag[CHAIN_MEMO_SETS][CHAIN_MEMO_WAYS]; /* 0: empty */
static __thread chain_memo_t tl_chain_memo[CHAIN_MEMO_SETS][CHAIN_MEMO_WAYS];
static __thread uint64_t tl_chain_stamp;
static __thread size_t tl_chain_normalised; /* messages normalised (tests) */

size_t sess_identity_chain_normalised(void)
{
    return tl_chain_normalised;
}

static inline unsigned memo_set(uint64_t tag)
{
    return (unsigned)((tag ^ tag >> 29) & (CHAIN_MEMO_SETS - 1));
}

/* The way of set s that makes room: an empty one, else the least recently
 * stored. */
static unsigned memo_victim(unsigned s)
{
    unsigned v = 0;
    for (unsigned w = 0; w < CHAIN_MEMO_WAYS; w++) {
        if (!tl_chain_tag[s][w]) return w;
        if (tl_chain_memo[s][w].stamp < tl_chain_memo[s][v].stamp) v = w;
    }
    return v;
}

static inline size_t msg_end(const rq_t *r, size_t i)
{
    return (size_t)r->msgs[i].value.off + r->msgs[i].value.len;
}

/* The messages lie in the body one after the other, none empty (what
 * makes the bytes from the first one's start to the k-th one's end hold
 * exactly messages 0..k-1, and each message end a different length), within
 * 4 GiB. */
static bool msgs_in_order(const rq_t *r)
{
    if (!r->n_msgs || !r->body) return false;
    size_t prev = r->msgs[0].value.off;
    for (size_t i = 0; i < r->n_msgs; i++) {
        if (r->msgs[i].value.off < prev || !r->msgs[i].value.len) return false;
        prev = msg_end(r, i);
    }
    return prev <= r->body_len && prev - r->msgs[0].value.off <= UINT32_MAX;
}

static inline uint64_t mix3(uint64_t a, uint64_t b, uint64_t c)
{
    uint64_t v[3] = {a, b, c};
    return hash_xxh64(v, sizeof v, SEED_CHAIN);
}

/* The request's side of a memo lookup. */
typedef struct chain_scan {
    uint64_t ctx, head, tag; /* of the request's own head */
    size_t n_head;           /* min(n_msgs, CHAIN_HEAD) */
    const char *head_end;    /* in the body: where the head ends, the rest starts */
    const char *end;         /* the last message's end */
    uint64_t rest;           /* XXH3 of [head_end, end), once known */
    bool has_rest;
    bool streaming; /* st holds [head_end, head_end + at) */
    size_t at;
    XXH3_state_t st;
} chain_scan_t;

static inline uint64_t head_tag(uint64_t head, uint64_t ctx, size_t n_head)
{
    uint64_t t = mix3(head, ctx, n_head);
    return t ? t : 1; /* 0 marks an empty way */
}

/* XXH3 of the rest's first n bytes (n >= those hashed so far), through the
 * streaming state: several candidates' digests in one pass. */
static uint64_t rest_digest(chain_scan_t *s, size_t n)
{
    if (!s->streaming) {
        XXH3_INITSTATE(&s->st);
        XXH3_64bits_reset(&s->st);
        s->streaming = true;
        s->at = 0;
    }
    assert(n >= s->at);
    if (n > s->at) {
        XXH3_64bits_update(&s->st, s->head_end + s->at, n - s->at);
        s->at = n;
    }
    return XXH3_64bits_digest(&s->st);
}

/* The request's rest hash (for its own entry). */
static uint64_t rest_of_request(chain_scan_t *s)
{
    if (!s->has_rest) {
        size_t n = (size_t)(s->end - s->head_end);
        s->rest = !n ? 0 : s->streaming ? rest_digest(s, n) : XXH3_64bits(s->head_end, n);
        s->has_rest = true;
    }
    return s->rest;
}

/* Among set's entries tagged tag with these head bytes and ctx, the longest
 * the request starts with; only entries of exactly n_head messages when
 * `exact`. */
static chain_memo_t *memo_probe(const rq_t *r, chain_scan_t *s, uint64_t tag, uint64_t head,
                                size_t n_head, bool exact)
{
    unsigned set = memo_set(tag);
    size_t a = r->msgs[0].value.off;
    chain_memo_t *cand[CHAIN_MEMO_WAYS];
    int nc = 0;
    for (unsigned w = 0; w < CHAIN_MEMO_WAYS; w++) {
        if (tl_chain_tag[set][w] != tag) continue;
        chain_memo_t *e = &tl_chain_memo[set][w];
        if (e->head != head || e->ctx != s->ctx || e->n_msgs < n_head ||
            (exact && e->n_msgs != n_head) || e->n_msgs > r->n_msgs ||
            msg_end(r, e->n_msgs - 1) - a != e->len)
            continue;
        int k = nc++; /* in order of length: the rest is hashed once */
        for (; k > 0 && cand[k - 1]->len > e->len; k--)
            cand[k] = cand[k - 1];
        cand[k] = e;
    }
    chain_memo_t *hit = NULL;
    size_t rest_total = (size_t)(s->end - s->head_end);
    for (int k = 0; k < nc; k++) {
        const chain_memo_t *e = cand[k];
        size_t n = (size_t)(r->body + a + e->len - s->head_end);
        uint64_t d;
        if (e->n_msgs == n_head) {
            d = 0; /* no rest */
        } else if (n == rest_total && (s->has_rest || (k == nc - 1 && !s->streaming))) {
            d = rest_of_request(s); /* the whole request: one call */
        } else {
            d = rest_digest(s, n);
            if (n == rest_total) {
                s->rest = d;
                s->has_rest = true;
            }
        }
        if (d == e->rest) hit = cand[k];
    }
    return hit;
}

/* The longest entry whose bytes, tenant and tools the request starts with
 * (and which no system message follows), or NULL. */
static chain_memo_t *memo_lookup(const rq_t *r, const char *tenant, chain_scan_t *s)
{
    const char *tools = r->tools.len ? r->body + r->tools.off : "";
    s->ctx =
        mix3(XXH3_64bits(tenant, strlen(tenant)), XXH3_64bits(tools, r->tools.len), r->tools.len);
    const char *a = r->body + r->msgs[0].value.off;
    s->n_head = r->n_msgs < CHAIN_HEAD ? r->n_msgs : CHAIN_HEAD;
    s->head_end = r->body + msg_end(r, s->n_head - 1);
    s->end = r->body + msg_end(r, r->n_msgs - 1);
    s->has_rest = s->streaming = false;
    s->head = XXH3_64bits(a, (size_t)(s->head_end - a));
    s->tag = head_tag(s->head, s->ctx, s->n_head);
    chain_memo_t *hit = memo_probe(r, s, s->tag, s->head, s->n_head, false);
    /* a conversation's first turn, filed under its shorter head */
    for (size_t j = s->n_head - 1; !hit && j >= 1; j--) {
        uint64_t h = XXH3_64bits(a, msg_end(r, j - 1) - r->msgs[0].value.off);
        hit = memo_probe(r, s, head_tag(h, s->ctx, j), h, j, true);
    }
    for (size_t i = hit ? hit->n_msgs : r->n_msgs; i < r->n_msgs; i++)
        if (r->msgs[i].role == JROLE_SYSTEM) return NULL; /* p_0 would differ */
    return hit;
}

/* Fills the chain facts and, when ring is given, the last
 * SESS_CHAIN_LOOKBACK+1 chain hashes p_n, p_{n-1}, ... (k >= 1) into ring. */
size_t sess_identity_chain_facts(rq_t *r, const char *tenant, sess_identity_t *id, uint64_t *ring,
                                 bool use_memo)
{
    bool memo = use_memo && msgs_in_order(r);
    chain_scan_t scan;
    chain_memo_t *hit = memo ? memo_lookup(r, tenant, &scan) : NULL;

    uint64_t p;
    size_t n = 0, from = 0;
    const size_t R = CHAIN_RING;
    uint64_t all[CHAIN_RING] = {0};
    bool opener_set = false;
    id->has_assistant = false;
    if (hit) {
        id->p0 = hit->p0;
        memcpy(all, hit->all, sizeof all);
        n = hit->n;
        p = n ? all[n % R] : id->p0;
        id->has_assistant = hit->has_assistant;
        opener_set = hit->opener_set;
        id->opener = hit->opener;
        from = hit->n_msgs;
    } else {
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
        p = id->p0;
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
    if (memo) {
        size_t len = msg_end(r, r->n_msgs - 1) - r->msgs[0].value.off;
        /* a request continuing an entry takes its place (filed under a
         * shorter head, the entry is dropped and the request filed anew) */
        unsigned set = memo_set(scan.tag), way;
        size_t at = hit ? (size_t)(hit - &tl_chain_memo[0][0]) : 0;
        chain_memo_t *e;
        if (hit && at / CHAIN_MEMO_WAYS == set) {
            way = (unsigned)(at % CHAIN_MEMO_WAYS);
            e = hit;
        } else {
            if (hit) {
                tl_chain_tag[at / CHAIN_MEMO_WAYS][at % CHAIN_MEMO_WAYS] = 0;
                hit->stamp = 0;
            }
            way = memo_victim(set);
            e = &tl_chain_memo[set][way];
        }
        if (e != hit || hit->len != len) {
            tl_chain_tag[set][way] = scan.tag;
            e->head = scan.head;
            e->rest = rest_of_request(&scan);
            e->len = (uint32_t)len;
            e->n_msgs = (uint32_t)r->n_msgs;
            e->ctx = scan.ctx;
            e->p0 = id->p0;
            e->opener = id->opener;
            memcpy(e->all, all, sizeof all);
            e->n = (uint32_t)n;
            e->has_assistant = id->has_assistant;
            e->opener_set = opener_set;
        }
        e->stamp = ++tl_chain_stamp;
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
    sess_identity_chain_facts(r, id->tenant, id, NULL, true);
}

size_t sess_identity_chain_ring(rq_t *r, sess_identity_t *id, bool use_memo,
                                uint64_t ring[SESS_CHAIN_LOOKBACK + 1])
{
    if (!id->tenant[0]) snprintf(id->tenant, sizeof id->tenant, "anon");
    return sess_identity_chain_facts(r, id->tenant, id, ring, use_memo);
}

uint64_t sess_identity_new_hash(uint64_t opener, const char *request_id)
{
    hstream_t h;
    hs_init(&h, SEED_NEW);
    hs_put(&h, &opener, sizeof opener);
    hs_put(&h, request_id, strlen(request_id));
    return hs_final(&h);
}
