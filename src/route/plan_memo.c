/* plan_memo.c - the routing parts' JSON through a per-thread memo
 * (plan_memo.h): SLOTS renderings per part, found by their key (length,
 * then bytes), the least recently used replaced. A key is the plan's
 * inputs of that part written field by field: strings as their length
 * (SIZE_MAX for NULL) then their bytes, numbers as their bits, flags as a
 * byte; a key that would outgrow KEY_MAX, or a rendering OUT_MAX, is not
 * remembered (the part is rendered as it always was). */
#include "route/plan_memo.h"
#include "decision/decision.h"
#include "route/plan_render.h"
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS    8     /* renderings remembered per part and thread */
#define KEY_MAX  8192  /* bytes of a key, at most */
#define OUT_MAX  16384 /* bytes of a remembered rendering, at most */
#define CUTS_MAX 64    /* signals of a remembered signals part, at most */
#define KEY_ROOM 1024  /* bytes each slot's key and rendering get at the start */
#define OUT_ROOM 4096

typedef struct {
    bool full;
    uint64_t used;
    buf_t key, out; /* out: the signals' template (no latencies) or the part's bytes */
    size_t cuts[CUTS_MAX];
} slot_t;

typedef struct {
    slot_t slots[ROUTE_PART__N][SLOTS];
    buf_t key; /* the request's key is written in its bytes (kw_t) */
    uint64_t tick, hits;
} memo_t;

static __thread memo_t *memo;
static pthread_key_t memo_key; /* its destructor frees a thread's memo at exit */
static pthread_once_t memo_once = PTHREAD_ONCE_INIT;

static void memo_free(void *p)
{
    memo_t *m = p;
    if (!m) return;
    for (int part = 0; part < ROUTE_PART__N; part++)
        for (int i = 0; i < SLOTS; i++) {
            buf_free(&m->slots[part][i].key);
            buf_free(&m->slots[part][i].out);
        }
    buf_free(&m->key);
    free(m);
}

static void memo_key_init(void)
{
    pthread_key_create(&memo_key, memo_free);
}

static memo_t *memo_get(void)
{
    if (!memo) {
        pthread_once(&memo_once, memo_key_init);
        memo = calloc(1, sizeof *memo);
        if (!memo) abort();
        /* every slot's room at once, for the usual part (a few hundred
         * bytes to 2 KiB): a warm worker renders into them without
         * allocating (the requests' allocation count, issue 12) */
        for (int part = 0; part < ROUTE_PART__N; part++)
            for (int i = 0; i < SLOTS; i++) {
                buf_reserve(&memo->slots[part][i].key, KEY_ROOM);
                buf_reserve(&memo->slots[part][i].out, OUT_ROOM);
            }
        pthread_setspecific(memo_key, memo);
    }
    return memo;
}

/* ---- keys ---- */

/* The request's key, written into m->key's bytes (KEY_MAX reserved): a
 * group of fields (a node, a signal, a candidate) checks its room once and
 * is then written without checks (fixed fields fold to moves); over when
 * a group would not fit (not remembered then). */
typedef struct {
    unsigned char *p, *end;
    bool over;
} kw_t;

/* Room for n more bytes; else the key is over. */
static inline bool k_room(kw_t *k, size_t n)
{
    if (k->over || (size_t)(k->end - k->p) < n) k->over = true;
    return !k->over;
}
static inline void k_raw(kw_t *k, const void *p, size_t n)
{
    memcpy(k->p, p, n);
    k->p += n;
}
static inline void k_size(kw_t *k, size_t v)
{
    k_raw(k, &v, sizeof v);
}
static inline void k_int(kw_t *k, int v)
{
    k_raw(k, &v, sizeof v);
}
static inline void k_dbl(kw_t *k, double v)
{
    k_raw(k, &v, sizeof v); /* the bits: -0.0 and NaNs stay apart */
}
static inline void k_flag(kw_t *k, bool v)
{
    *k->p++ = v ? 1 : 0;
}
/* A string's key bytes: its length (SIZE_MAX for NULL) then its bytes. */
static inline size_t k_len(const char *s)
{
    return s ? strlen(s) : SIZE_MAX;
}
static inline size_t k_need(size_t len)
{
    return sizeof(size_t) + (len == SIZE_MAX ? 0 : len);
}
static inline void k_strn(kw_t *k, const char *s, size_t len)
{
    k_size(k, len);
    if (len != SIZE_MAX) k_raw(k, s, len);
}
static inline void k_str(kw_t *k, const char *s)
{
    size_t n = k_len(s);
    if (k_room(k, k_need(n))) k_strn(k, s, n);
}

/* What dec_node_json reads. */
static void key_node(kw_t *k, const dec_node_t *n)
{
    size_t ls = k_len(n->signal), ll = k_len(n->label), le = k_len(n->error),
           lf = k_len(n->fallback);
    if (!k_room(k, sizeof(int) + 2 + sizeof(double) + sizeof(size_t) + k_need(ls) + k_need(ll) +
                       k_need(le) + k_need(lf)))
        return;
    k_int(k, (int)n->kind);
    k_strn(k, n->signal, ls);
    k_strn(k, n->label, ll);
    k_flag(k, n->matched);
    k_flag(k, n->skipped);
    k_dbl(k, n->confidence);
    k_strn(k, n->error, le);
    k_strn(k, n->fallback, lf);
    k_size(k, n->n_children);
    for (size_t i = 0; i < n->n_children && !k->over; i++)
        key_node(k, &n->children[i]);
}

/* What dec_result_json reads. */
static void key_trace(kw_t *k, const dec_result_t *r)
{
    size_t ln = k_len(r->name), la = k_len(r->algorithm), ld = k_len(r->default_model),
           lf = k_len(r->failed_leaf);
    if (!k_room(k, 2 * sizeof(int) + sizeof(double) + k_need(ln) + k_need(la) + k_need(ld) +
                       k_need(lf) + (r->n_ranking + 2) * sizeof(size_t)))
        return;
    k_int(k, (int)r->outcome);
    k_strn(k, r->name, ln);
    k_dbl(k, r->confidence);
    k_strn(k, r->algorithm, la);
    k_int(k, (int)r->strategy);
    k_strn(k, r->default_model, ld);
    k_strn(k, r->failed_leaf, lf);
    k_size(k, r->n_ranking);
    for (size_t i = 0; i < r->n_ranking; i++)
        k_size(k, r->ranking[i].index); /* the name is the trace's, keyed below */
    k_size(k, r->n_traces);
    for (size_t i = 0; i < r->n_traces && !k->over; i++) {
        const dec_trace_t *t = &r->traces[i];
        k_str(k, t->name);
        if (!k_room(k, 2 + sizeof(double))) return;
        k_flag(k, t->matched);
        k_flag(k, t->is_catch_all);
        k_dbl(k, t->confidence);
        key_node(k, &t->root);
    }
}

/* What route_signals_json reads, but the latencies. */
static void key_signals(kw_t *k, const sig_results_t *s)
{
    if (!k_room(k, sizeof(size_t))) return;
    k_size(k, s->n);
    for (size_t i = 0; i < s->n && !k->over; i++) {
        const sig_result_t *x = &s->items[i];
        size_t ln = k_len(x->rule->name), ll = k_len(x->label), le = k_len(x->error),
               lf = k_len(x->fallback);
        if (!k_room(k, sizeof(int) + 2 + 2 * sizeof(double) + k_need(ln) + k_need(ll) + k_need(le) +
                           k_need(lf)))
            return;
        k_int(k, (int)x->rule->family);
        k_strn(k, x->rule->name, ln);
        k_flag(k, x->matched);
        k_dbl(k, x->score);
        k_strn(k, x->label, ll);
        k_flag(k, x->has_value);
        k_dbl(k, x->value);
        k_strn(k, x->error, le);
        k_strn(k, x->fallback, lf);
    }
}

/* What route_candidates_json reads. */
static void key_candidates(kw_t *k, const route_plan_t *p)
{
    if (!k_room(k, sizeof(size_t))) return;
    k_size(k, p->n_cands);
    for (size_t i = 0; i < p->n_cands && !k->over; i++) {
        const sess_candidate_t *c = &p->cands[i];
        const sess_terms_t *t = &p->terms[i];
        const double v[] = {t->base,
                            t->quality_gap,
                            t->downgrade_credit,
                            t->handoff_penalty,
                            t->prefix_benefit,
                            t->prefix_penalty,
                            t->history_penalty,
                            t->switch_margin,
                            t->stay_bias,
                            t->tool_loop_term,
                            t->checkout_multiplier,
                            t->final,
                            t->net_switch_advantage};
        size_t lm = k_len(c->model), le = k_len(c->excluded_reason);
        if (!k_room(k, k_need(lm) + 2 + k_need(le) + sizeof(double) + sizeof v)) return;
        k_strn(k, c->model, lm);
        k_flag(k, c->admissible);
        k_flag(k, c->available);
        k_strn(k, c->excluded_reason, le);
        k_dbl(k, c->learned_quality);
        k_raw(k, v, sizeof v);
    }
}

/* ---- rendering ---- */

/* The part as it always was rendered, into b; cuts non-NULL: the signals'
 * template (route_signals_json_cut). */
static void render(buf_t *b, const route_plan_t *p, route_part_t part, size_t *cuts)
{
    switch (part) {
    case ROUTE_PART_TRACE: dec_result_json(b, &p->dec); break;
    case ROUTE_PART_SIGNALS:
        if (cuts)
            route_signals_json_cut(b, p, cuts);
        else
            route_signals_json(b, p);
        break;
    default: route_candidates_json(b, p);
    }
}

/* A remembered part's bytes for p. */
static const char *emit(const slot_t *s, const route_plan_t *p, route_part_t part, buf_t *scratch,
                        size_t *len)
{
    if (part != ROUTE_PART_SIGNALS) {
        *len = s->out.len;
        return s->out.data;
    }
    buf_reset(scratch);
    route_signals_json_fill(scratch, s->out.data, s->out.len, s->cuts, p);
    *len = scratch->len;
    return scratch->data;
}

const char *route_part_json(const route_plan_t *p, route_part_t part, buf_t *scratch, size_t *len)
{
    memo_t *m = memo_get();
    if (m->key.cap < KEY_MAX + 1) buf_reserve(&m->key, KEY_MAX + 1);
    kw_t kw = {(unsigned char *)m->key.data, (unsigned char *)m->key.data + KEY_MAX, false};
    kw_t *k = &kw;
    const sig_results_t *sig = route_plan_signals(p);
    switch (part) {
    case ROUTE_PART_TRACE: key_trace(k, &p->dec); break;
    case ROUTE_PART_SIGNALS:
        k->over = sig->n > CUTS_MAX;
        if (!k->over) key_signals(k, sig);
        break;
    default: key_candidates(k, p);
    }
    if (k->over) {
        buf_reset(scratch);
        render(scratch, p, part, NULL);
        *len = scratch->len;
        return scratch->data;
    }
    const char *key = m->key.data;
    size_t klen = (size_t)(k->p - (unsigned char *)m->key.data);
    slot_t *slots = m->slots[part], *victim = &slots[0];
    for (int i = 0; i < SLOTS; i++) {
        slot_t *s = &slots[i];
        if (s->full && s->key.len == klen && memcmp(s->key.data, key, klen) == 0) {
            s->used = ++m->tick;
            m->hits++;
            return emit(s, p, part, scratch, len);
        }
        if (!s->full || (victim->full && s->used < victim->used)) victim = s;
    }
    /* not remembered: render into the least recently used slot */
    buf_reset(&victim->out);
    render(&victim->out, p, part, part == ROUTE_PART_SIGNALS ? victim->cuts : NULL);
    buf_reset(&victim->key);
    buf_append(&victim->key, key, klen);
    victim->full = true;
    victim->used = ++m->tick;
    if (victim->out.len <= OUT_MAX) return emit(victim, p, part, scratch, len);
    /* too large to keep: hand it over in scratch and forget it */
    if (part == ROUTE_PART_SIGNALS) {
        emit(victim, p, part, scratch, len);
    } else {
        buf_reset(scratch);
        buf_append(scratch, victim->out.data, victim->out.len);
        *len = scratch->len;
    }
    victim->full = false;
    buf_free(&victim->out);
    buf_free(&victim->key);
    return scratch->data;
}

uint64_t route_part_memo_hits(void)
{
    return memo ? memo->hits : 0;
}

void route_part_memo_reset(void)
{
    if (!memo) return;
    for (int part = 0; part < ROUTE_PART__N; part++)
        for (int i = 0; i < SLOTS; i++) {
            slot_t *s = &memo->slots[part][i];
            s->full = false;
            s->used = 0;
            buf_reset(&s->key);
            buf_reset(&s->out);
        }
    memo->tick = memo->hits = 0;
}
