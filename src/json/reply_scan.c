/* reply_scan.c - one walk over an upstream reply for the relay (see
 * reply_scan.h). The walk validates the reply with the scanner's lexers
 * (scan_lex.h, as the span helpers do: lone surrogates tolerated) and, as
 * it goes, records the values of the few members the relay reads: the
 * top-level "id", "usage", "message", "response" and "choices", and inside
 * them the objects of a small tree of paths (rnode_t below: usage and its
 * details, message.usage, response.usage, choices[0] and its message or
 * delta). Each object of the tree keeps the last value of each of its keys,
 * as jscan_obj_get would give, so the nested objects are never walked a
 * second time (they used to be, once to validate and once to pick). The
 * walk recurses only along the tree (four levels at most); every other
 * value goes to the iterative skip_value.
 * The usage mapping is jscan_usage's (scan_span.c), rule for rule;
 * tests/unit/json/test_reply_scan.c and tests/fuzz/fuzz_reply.c compare it
 * with jscan_usage and with the former validate-then-pick walk
 * (tests/support/reply_scan_ref.h) on generated and mutated replies. */
#include "json/reply_scan.h"
#include "json/num.h"
#include "json/scan_lex.h"
#include <string.h>

/* ---- the tree of paths ------------------------------------------------ */

enum { T_ID, T_USAGE, T_MESSAGE, T_RESPONSE, T_CHOICES, T_N };

/* The nodes: an object whose members named keys[0..nk) keep their last
 * value in slots [slot, slot + nk). The value of key k is walked as node
 * sub[k] when it is an object (sub[k] & SUB_ARR: when it is an array, its
 * first element, when that is an object); 0 means only recorded. */
enum {
    N_TOP,
    N_U0, /* usage at the top, in "message", in "response" */
    N_U1,
    N_U2,
    N_D0, /* the four details objects of each usage: N_D0 + 4 * usage + k */
    N_HMSG = N_D0 + 12,
    N_HRESP,
    N_C0, /* choices[0] */
    N_CMSG,
    N_CDELTA,
    N_NODES
};
#define SUB_ARR  0x80
#define MAX_KEYS JU_N

typedef struct rnode {
    const char *const *keys;
    const uint8_t *lens;
    uint8_t nk, slot;
    uint8_t sub[MAX_KEYS];
} rnode_t;

static const char *const top_keys[T_N] = {"id", "usage", "message", "response", "choices"};
static const uint8_t top_lens[T_N] = {2, 5, 7, 8, 7};
/* the lengths of jusage_keys (json/scan.h) */
static const uint8_t usage_lens[JU_N] = {13, 17, 12, 13, 23, 27, 21, 25, 20, 21};
static const char *const cached_key[1] = {"cached_tokens"};
static const char *const reasoning_key[1] = {"reasoning_tokens"};
static const uint8_t cached_len[1] = {13}, reasoning_len[1] = {16};
static const char *const usage_key[1] = {"usage"}, *const content_key[1] = {"content"};
static const uint8_t usage_len[1] = {5}, content_len[1] = {7};
static const char *const choice_keys[2] = {"message", "delta"};
static const uint8_t choice_lens[2] = {7, 5};

/* slots: 5 top, 3 x 10 usage, 12 details, 2 holders, 2 choices[0], 2 contents */
enum { S_TOP = 0, S_U0 = 5, S_D0 = 35, S_HMSG = 47, S_HRESP, S_C0, S_CMSG = 51, S_CDELTA, S_N };

#define USAGE(u)                                                                                   \
    {                                                                                              \
        jusage_keys, usage_lens, JU_N, S_U0 + 10 * (u),                                            \
        {                                                                                          \
            [JU_PTD] = N_D0 + 4 * (u), [JU_CTD] = N_D0 + 4 * (u) + 1,                              \
            [JU_ITD] = N_D0 + 4 * (u) + 2, [JU_OTD] = N_D0 + 4 * (u) + 3                           \
        }                                                                                          \
    }
#define DETAILS(u)                                                                                 \
    [N_D0 + 4 * (u)] = {cached_key, cached_len, 1, S_D0 + 4 * (u), {0}},                           \
                [N_D0 + 4 * (u) + 1] = {reasoning_key, reasoning_len, 1, S_D0 + 4 * (u) + 1, {0}}, \
                [N_D0 + 4 * (u) + 2] = {cached_key, cached_len, 1, S_D0 + 4 * (u) + 2, {0}},       \
                [N_D0 + 4 * (u) + 3] = {reasoning_key, reasoning_len, 1, S_D0 + 4 * (u) + 3, {0}}

static const rnode_t nodes[N_NODES] = {
    [N_TOP] = {top_keys,
               top_lens,
               T_N,
               S_TOP,
               {[T_USAGE] = N_U0,
                [T_MESSAGE] = N_HMSG,
                [T_RESPONSE] = N_HRESP,
                [T_CHOICES] = N_C0 | SUB_ARR}},
    [N_U0] = USAGE(0),
    [N_U1] = USAGE(1),
    [N_U2] = USAGE(2),
    DETAILS(0),
    DETAILS(1),
    DETAILS(2),
    [N_HMSG] = {usage_key, usage_len, 1, S_HMSG, {N_U1}},
    [N_HRESP] = {usage_key, usage_len, 1, S_HRESP, {N_U2}},
    [N_C0] = {choice_keys, choice_lens, 2, S_C0, {N_CMSG, N_CDELTA}},
    [N_CMSG] = {content_key, content_len, 1, S_CMSG, {0}},
    [N_CDELTA] = {content_key, content_len, 1, S_CDELTA, {0}},
};

/* What the walk recorded. A node's slots and esc hold what its last walk
 * found (walked: it was walked since its parent's member last changed). */
typedef struct rwalk {
    jspan_t slot[S_N];
    bool esc[N_NODES];    /* a member matched one of the node's keys through an escape */
    bool walked[N_NODES]; /* the value now in the parent's slot was walked as this node */
} rwalk_t;

/* ---- the walk ----------------------------------------------------------- */

static int walk_obj(scanner_t *s, size_t i, int depth, uint8_t node, rwalk_t *w, size_t *end);

/* The array at p[i] (depth containers around it); its first element, when
 * an object, is walked as node. */
static int walk_first(scanner_t *s, size_t i, int depth, uint8_t node, rwalk_t *w, size_t *end)
{
    const uint8_t *p = s->p;
    if (depth >= JSCAN_MAX_DEPTH) return fail(s, i, E_DEEP);
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == ']') {
        *end = i + 1;
        return 0;
    }
    bool first = true;
    for (;;) {
        if (first && i < s->n && p[i] == '{') {
            if (walk_obj(s, i, depth + 1, node, w, &i)) return -1;
        } else if (skip_value(s, i, depth + 1, &i))
            return -1;
        first = false;
        int r = scan_sep(s, &i, ']');
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *end = i;
    return 0;
}

/* Which of the node's keys the key string p[ks..ke) is (-1: none); esc: it
 * holds an escape, then it is compared after unescaping (jscan_str_eq's). */
static int key_of(const rnode_t *nd, const uint8_t *p, size_t ks, size_t ke, bool esc)
{
    size_t kl = ke - ks - 2;
    for (int j = 0; j < nd->nk; j++) {
        if (esc) {
            if (str_eq_raw(p, ks + 1, ke - 1, true, nd->keys[j], nd->lens[j])) return j;
        } else if (kl == nd->lens[j] && bytes_eq(p + ks + 1, (const uint8_t *)nd->keys[j], kl))
            return j;
    }
    return -1;
}

/* The object at p[i] (depth containers around it), walked as node: the
 * same checks as skip_value, and the last value of each key recorded. */
static int walk_obj(scanner_t *s, size_t i, int depth, uint8_t node, rwalk_t *w, size_t *end)
{
    const rnode_t *nd = &nodes[node];
    const uint8_t *p = s->p;
    const size_t n = s->n;
    if (depth >= JSCAN_MAX_DEPTH) return fail(s, i, E_DEEP);
    memset(&w->slot[nd->slot], 0, nd->nk * sizeof w->slot[0]);
    w->esc[node] = false;
    w->walked[node] = true;
    i = skip_ws(p, i + 1, n);
    if (i < n && p[i] == '}') {
        *end = i + 1;
        return 0;
    }
    for (;;) {
        size_t ks = i, ke;
        bool esc;
        if (ks >= n) return fail(s, n, E_EOF);
        if (p[ks] != '"') return fail(s, ks, p[ks] == '}' ? E_OCOMMA : E_KEY);
        if (scan_str(s, ks, &ke, &esc)) return -1;
        i = skip_ws(p, ke, n);
        if (i >= n) return fail(s, n, E_EOF);
        if (p[i] != ':') return fail(s, i, E_COLON);
        i = skip_ws(p, i + 1, n);
        if (i >= n) return fail(s, n, E_EOF);
        int k = key_of(nd, p, ks, ke, esc);
        size_t vs = i;
        uint8_t sub = k >= 0 ? nd->sub[k] : 0;
        if (sub) w->walked[sub & ~SUB_ARR] = false; /* this value replaces the last */
        if (sub && !(sub & SUB_ARR) && p[i] == '{') {
            if (walk_obj(s, i, depth + 1, sub, w, &i)) return -1;
        } else if ((sub & SUB_ARR) && p[i] == '[') {
            if (walk_first(s, i, depth + 1, sub & ~SUB_ARR, w, &i)) return -1;
        } else if (skip_value(s, i, depth + 1, &i))
            return -1;
        if (k >= 0) {
            w->slot[nd->slot + k] = span(vs, i);
            if (esc) w->esc[node] = true;
        }
        int r = scan_sep(s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *end = i;
    return 0;
}

/* ---- usage (jscan_usage's rules) -------------------------------------- */

static int64_t int_of(const char *doc, jspan_t v)
{
    int64_t x;
    return v.len && jscan_int(doc, v, &x) ? x : -1;
}

/* The k-th details object of usage u, when its value is an object. */
static int64_t detail(const char *doc, const rwalk_t *w, int u, int k, bool *esc)
{
    jspan_t d = w->slot[S_U0 + 10 * u + JU_PTD + k];
    if (!d.len || doc[d.off] != '{') return -1;
    *esc |= w->esc[N_D0 + 4 * u + k];
    return int_of(doc, w->slot[S_D0 + 4 * u + k]);
}

static void usage_read(const char *doc, const rwalk_t *w, int u, jusage_t *us, bool *esc)
{
    const jspan_t *v = &w->slot[S_U0 + 10 * u];
    *esc |= w->esc[N_U0 + u];
    int64_t n[JU_CC + 1];
    for (int k = 0; k <= JU_CC; k++)
        n[k] = int_of(doc, v[k]);
    int d = jusage_from_counts(us, n, v[JU_CR].len || v[JU_CC].len);
    if (d >= 0) {
        us->cached_tokens = detail(doc, w, u, d, esc);
        us->reasoning_tokens = detail(doc, w, u, d + 1, esc);
    }
}

static bool is_obj(const char *doc, jspan_t v)
{
    return v.len && doc[v.off] == '{';
}

/* The holder ("message" or "response") is an object whose last "usage" is
 * one: usage u is its usage. */
static bool usage_in(const char *doc, const rwalk_t *w, int top, int holder, bool *esc)
{
    if (!is_obj(doc, w->slot[S_TOP + top])) return false;
    *esc |= w->esc[holder];
    return is_obj(doc, w->slot[nodes[holder].slot]);
}

/* ---- the reply -------------------------------------------------------- */

void jreply_scan(const char *doc, size_t len, bool delta, jreply_t *out)
{
    memset(out, 0, sizeof *out);
    jusage_t *u = &out->usage;
    u->prompt_tokens = u->completion_tokens = u->cached_tokens = -1;
    u->cache_creation_tokens = u->reasoning_tokens = -1;
    if (len >= UINT32_MAX) return;
    scanner_t s = {(const uint8_t *)doc, len, NULL, false, false, 0};
    size_t i = skip_ws(s.p, 0, len), e;
    if (i >= len || doc[i] != '{') return;
    rwalk_t w;
    w.walked[N_C0] = false;
    /* valid: one object with only whitespace after it */
    if (walk_obj(&s, i, 0, N_TOP, &w, &e) || skip_ws(s.p, e, len) != len) return;
    out->valid = true;
    out->id = w.slot[S_TOP + T_ID];
    bool esc = w.esc[N_TOP];
    if (is_obj(doc, w.slot[S_TOP + T_USAGE]))
        usage_read(doc, &w, 0, u, &esc);
    else if (usage_in(doc, &w, T_MESSAGE, N_HMSG, &esc))
        usage_read(doc, &w, 1, u, &esc);
    else if (usage_in(doc, &w, T_RESPONSE, N_HRESP, &esc))
        usage_read(doc, &w, 2, u, &esc);
    /* choices[0].<message|delta>.content when a string */
    if (i == 0 && w.walked[N_C0]) {
        esc |= w.esc[N_C0];
        jspan_t m = w.slot[S_C0 + (delta ? 1 : 0)];
        if (is_obj(doc, m)) {
            uint8_t cn = delta ? N_CDELTA : N_CMSG;
            jspan_t ct = w.slot[nodes[cn].slot];
            esc |= w.esc[cn];
            if (ct.len && doc[ct.off] == '"') out->text = ct;
        }
    }
    out->escaped_key = esc;
}
