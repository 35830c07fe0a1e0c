/* limits.c - which counters a request meets, the verdict over them, and
 * counting (see limits.h). Counter names: "r" or "b" (rate rule or budget),
 * the rule's name, the subject and the kind letter, separated by 0x1f, so
 * no configured name can make two counters meet. */
#include "limits/limits.h"
#include "limits/redis.h"
#include "limits/window.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEP "\x1f"

static const char kind_letter[] = {'r', 't', 's'};
static const char *const kind_names[] = {"requests", "tokens", "spend"};

lim_t *lim_new(const cfg_t *cfg, char *err, size_t errlen)
{
    lim_t *l = calloc(1, sizeof *l);
    if (!l) abort();
    l->tab = lim_table_new(0);
    const cfg_global_ext_t *x = cfg ? cfg->global_ext : NULL;
    if (x && x->stores.limits.backend && !strcmp(x->stores.limits.backend, "redis")) {
        l->redis = lim_redis_new(&x->stores.limits.redis, err, errlen);
        if (!l->redis) {
            lim_free(l);
            return NULL;
        }
    }
    return l;
}

void lim_free(lim_t *l)
{
    if (!l) return;
    if (l->redis) lim_redis_free(l->redis);
    lim_table_free(l->tab);
    free(l);
}

void lim_loop_close(lim_t *l, struct event_base *evb)
{
    if (l && l->redis) lim_redis_loop_close(l->redis, evb);
}

bool lim_any(const cfg_t *cfg)
{
    const cfg_global_ext_t *x = cfg->global_ext;
    return x && (x->services.n_rate_limits || x->services.n_budgets);
}

static const char *subject_of(const lim_who_t *w, cfg_lim_scope_t s)
{
    switch (s) {
    case CFG_LIM_KEY: return w->key;
    case CFG_LIM_TEAM: return w->team;
    case CFG_LIM_MODEL: return w->model;
    case CFG_LIM_DECISION: return w->decision;
    default: return NULL;
    }
}

static bool matches(const char *match, const char *subject)
{
    return subject && *subject && (!match || !strcmp(match, "*") || !strcmp(match, subject));
}

static lim_check_t *add_check(lim_verdict_t *v, arena_t *a, char type, const char *rule,
                              const char *subject, lim_kind_t kind)
{
    lim_check_t *c = &v->checks[v->n++];
    c->rule = rule;
    c->subject = subject;
    c->kind = kind;
    /* type SEP rule SEP subject SEP kind, without printf (the request path) */
    size_t rl = strlen(rule), sl = strlen(subject), len = rl + sl + 5;
    char *n = arena_alloc(a, len + 1);
    n[0] = type;
    n[1] = SEP[0];
    memcpy(n + 2, rule, rl);
    n[2 + rl] = SEP[0];
    memcpy(n + 3 + rl, subject, sl);
    n[3 + rl + sl] = SEP[0];
    n[4 + rl + sl] = kind_letter[kind];
    n[len] = 0;
    c->key = (lim_key_t){n, len, lim_table_hash(n, len)};
    return c;
}

void lim_plan(const cfg_t *cfg, const lim_who_t *who, arena_t *a, uint64_t now_ms, lim_verdict_t *v)
{
    memset(v, 0, sizeof *v);
    v->denied = -1;
    const cfg_global_ext_t *x = cfg->global_ext;
    if (!x) return;
    const cfg_services_t *sv = &x->services;
    size_t cap = 2 * sv->n_rate_limits + sv->n_budgets;
    if (!cap) return;
    v->checks = arena_calloc(a, cap * sizeof *v->checks);
    for (size_t i = 0; i < sv->n_rate_limits; i++) {
        const cfg_rate_limit_t *r = &sv->rate_limits[i];
        const char *subj = subject_of(who, r->scope);
        if (!matches(r->match, subj)) continue;
        uint64_t ws = lim_window_start(now_ms, r->window_ms);
        uint64_t left = lim_window_left_ms(now_ms, r->window_ms);
        for (int k = LIM_REQUESTS; k <= LIM_TOKENS; k++) {
            uint64_t lim = k == LIM_REQUESTS ? r->requests : r->tokens;
            if (!lim) continue;
            lim_check_t *c = add_check(v, a, 'r', r->name, subj, (lim_kind_t)k);
            c->scope = r->scope;
            c->ws = ws;
            c->left_ms = left;
            c->limit = (int64_t)lim;
        }
    }
    for (size_t i = 0; i < sv->n_budgets; i++) {
        const cfg_budget_t *b = &sv->budgets[i];
        const char *subj = subject_of(who, b->scope);
        if (!matches(b->match, subj)) continue;
        lim_check_t *c = add_check(v, a, 'b', b->name, subj, LIM_SPEND);
        uint64_t start, end;
        lim_period_bounds(now_ms, b->period, &start, &end);
        c->scope = b->scope;
        c->budget = b;
        c->ws = start;
        c->left_ms = end > now_ms ? end - now_ms : 1;
        c->limit = lim_money_to_nano(b->max_spend);
    }
}

void lim_decide(lim_verdict_t *v)
{
    v->denied = -1;
    v->downgrade = NULL;
    for (size_t i = 0; i < v->n; i++) {
        const lim_check_t *c = &v->checks[i];
        if (c->used < c->limit) continue;
        if (c->kind == LIM_SPEND && c->budget->is_downgrade) {
            if (!v->downgrade) v->downgrade = c->budget;
        } else if (v->denied < 0) {
            v->denied = (int)i;
        }
    }
}

void lim_admit_local(lim_t *l, lim_verdict_t *v)
{
    for (size_t i = 0; i < v->n; i++) {
        lim_check_t *c = &v->checks[i];
        c->used = lim_table_get(l->tab, &c->key, c->ws);
    }
    lim_decide(v);
    v->shared = false;
    if (v->denied >= 0) return;
    for (size_t i = 0; i < v->n; i++) {
        lim_check_t *c = &v->checks[i];
        if (c->kind == LIM_REQUESTS) lim_table_add(l->tab, &c->key, c->ws, 1);
    }
}

void lim_admit_shared(lim_t *l, lim_verdict_t *v, const int64_t *vals)
{
    for (size_t i = 0; i < v->n; i++)
        v->checks[i].used = vals[i] < 0 ? 0 : vals[i];
    lim_decide(v);
    v->shared = true;
    for (size_t i = 0; i < v->n; i++) {
        lim_check_t *c = &v->checks[i];
        int64_t now = c->used + (v->denied < 0 && c->kind == LIM_REQUESTS ? 1 : 0);
        lim_table_raise(l->tab, &c->key, c->ws, now);
    }
}

void lim_record(lim_t *l, struct event_base *evb, const lim_verdict_t *v, int64_t tokens,
                double cost)
{
    if (tokens < 0) tokens = 0;
    int64_t nano = lim_money_to_nano(cost);
    if (!tokens && !nano) return;
    for (size_t i = 0; i < v->n; i++) {
        const lim_check_t *c = &v->checks[i];
        if (c->kind == LIM_TOKENS && tokens)
            lim_table_add(l->tab, &c->key, c->ws, tokens);
        else if (c->kind == LIM_SPEND && nano)
            lim_table_add(l->tab, &c->key, c->ws, nano);
    }
    if (l->redis && evb) lim_redis_add(l->redis, evb, v, tokens, nano);
}

const lim_check_t *lim_tightest(const lim_verdict_t *v, lim_kind_t kind)
{
    const lim_check_t *best = NULL;
    int64_t room = INT64_MAX;
    for (size_t i = 0; i < v->n; i++) {
        const lim_check_t *c = &v->checks[i];
        if (c->kind != kind) continue;
        int64_t r = c->limit - c->used;
        if (!best || r < room || (r == room && c->left_ms < best->left_ms)) {
            best = c;
            room = r;
        }
    }
    return best;
}

/* ------------------------------------------------------------- JSON */

typedef struct json_walk {
    buf_t *out;
    size_t plen;
    uint64_t ws;   /* the current window: counters of older ones are skipped */
    int64_t limit; /* of this kind */
    char letter;   /* the kind */
    bool first;
} json_walk_t;

static void subject_json(void *ud, const char *name, size_t len, uint64_t ws, int64_t value)
{
    json_walk_t *w = ud;
    if (ws != w->ws || len < w->plen + 2 || name[len - 1] != w->letter) return;
    buf_t *o = w->out;
    buf_puts(o, w->first ? "{\"subject\":" : ",{\"subject\":");
    w->first = false;
    buf_json_str(o, name + w->plen, len - w->plen - 2); /* without SEP and the letter */
    int64_t left = value < w->limit ? w->limit - value : 0;
    if (w->letter == 's') {
        buf_puts(o, ",\"spend\":");
        buf_num(o, lim_nano_to_money(value));
        buf_puts(o, ",\"remaining\":");
        buf_num(o, lim_nano_to_money(left));
    } else {
        buf_printf(o, ",\"used\":%lld,\"remaining\":%lld", (long long)value, (long long)left);
    }
    buf_putc(o, '}');
}

/* "kind":[subjects...] for one rule's counters of one kind. */
static void counters_json(lim_t *l, char type, const char *rule, lim_kind_t kind, uint64_t ws,
                          int64_t limit, buf_t *out)
{
    char prefix[512];
    int n = snprintf(prefix, sizeof prefix, "%c" SEP "%s" SEP, type, rule);
    buf_printf(out, ",\"%s\":[", kind == LIM_SPEND ? "subjects" : kind_names[kind]);
    if (n > 0 && (size_t)n < sizeof prefix) {
        json_walk_t w = {out, (size_t)n, ws, limit, kind_letter[kind], true};
        lim_table_each(l->tab, prefix, (size_t)n, subject_json, &w);
    }
    buf_putc(out, ']');
}

void lim_json(lim_t *l, const cfg_t *cfg, bool budgets, uint64_t now_ms, buf_t *out)
{
    const cfg_global_ext_t *x = cfg->global_ext;
    buf_printf(out, "{\"store\":\"%s\",\"shared\":%s,\"degraded\":%s,",
               l->redis ? "redis" : "memory", l->redis ? "true" : "false",
               l->redis && lim_redis_degraded(l->redis) ? "true" : "false");
    buf_puts(out, budgets ? "\"budgets\":[" : "\"rate_limits\":[");
    size_t n = !x ? 0 : budgets ? x->services.n_budgets : x->services.n_rate_limits;
    for (size_t i = 0; i < n; i++) {
        if (i) buf_putc(out, ',');
        if (budgets) {
            const cfg_budget_t *b = &x->services.budgets[i];
            uint64_t start, end;
            lim_period_bounds(now_ms, b->period, &start, &end);
            buf_puts(out, "{\"name\":");
            buf_json_str(out, b->name, strlen(b->name));
            buf_printf(out, ",\"scope\":\"%s\",\"match\":", b->scope_s);
            buf_json_str(out, b->match, strlen(b->match));
            buf_printf(out, ",\"period\":\"%s\",\"max_spend\":", b->period_s);
            buf_num(out, b->max_spend);
            buf_printf(out, ",\"policy\":\"%s\"", b->policy);
            if (b->downgrade_model) {
                buf_puts(out, ",\"downgrade_model\":");
                buf_json_str(out, b->downgrade_model, strlen(b->downgrade_model));
            }
            buf_printf(out, ",\"period_start_ms\":%llu,\"resets_in_seconds\":%llu",
                       (unsigned long long)start,
                       (unsigned long long)lim_retry_after_s(end - now_ms));
            counters_json(l, 'b', b->name, LIM_SPEND, start, lim_money_to_nano(b->max_spend), out);
        } else {
            const cfg_rate_limit_t *r = &x->services.rate_limits[i];
            uint64_t ws = lim_window_start(now_ms, r->window_ms);
            buf_puts(out, "{\"name\":");
            buf_json_str(out, r->name, strlen(r->name));
            buf_printf(out, ",\"scope\":\"%s\",\"match\":", r->scope_s);
            buf_json_str(out, r->match, strlen(r->match));
            buf_printf(
                out,
                ",\"window_seconds\":%llu,\"limit_requests\":%llu,\"limit_tokens\":%llu,"
                "\"resets_in_seconds\":%llu",
                (unsigned long long)(r->window_ms / 1000), (unsigned long long)r->requests,
                (unsigned long long)r->tokens,
                (unsigned long long)lim_retry_after_s(lim_window_left_ms(now_ms, r->window_ms)));
            counters_json(l, 'r', r->name, LIM_REQUESTS, ws, (int64_t)r->requests, out);
            counters_json(l, 'r', r->name, LIM_TOKENS, ws, (int64_t)r->tokens, out);
        }
        buf_putc(out, '}');
    }
    buf_printf(out, "],\"counters_dropped\":%llu}", (unsigned long long)lim_table_dropped(l->tab));
}
