/* limits_gate.c - rate limits and budgets around the upstream call
 * (limits/limits.h): after routing picked the model and decision, before
 * the first attempt, the request's counters are read (this process's, or
 * Redis's without blocking the loop: the request waits for the answer, and
 * an unanswered one decides on the local counters); a refusal is a 429 in
 * the client's own shape with retry-after; a spent budget with policy
 * downgrade switches to its cheaper model. Every reply carries the
 * x-ratelimit-* headers of the tightest rule (and, for Messages clients,
 * Anthropic's anthropic-ratelimit-* with an RFC 3339 reset). At the end, the reply's usage
 * (prompt + completion tokens, the cost from the model's pricing) is
 * counted. Cache hits and fast responses never reach here: they cost
 * nothing upstream and are not counted. Worker-thread only. */
#include "core/clock.h"
#include "core/log.h"
#include "limits/limits.h"
#include "limits/redis.h"
#include "limits/window.h"
#include "metrics/catalog.h"
#include "upstream/proxy.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A Redis wait outlives nothing: the request's end clears p. */
typedef struct gate_ticket {
    up_proxy_t *p;
} gate_ticket_t;

typedef struct up_limits {
    lim_verdict_t v;
    gate_ticket_t *ticket; /* waiting for Redis */
    bool decided, recorded, downgraded;
    char val[11][32]; /* header values */
} up_limits_t;

static const char *reason_of(const lim_check_t *c)
{
    return c->kind == LIM_REQUESTS ? "requests" : c->kind == LIM_TOKENS ? "tokens" : "budget";
}

static void deny(up_proxy_t *p)
{
    const lim_check_t *c = &p->lim->v.checks[p->lim->v.denied];
    const char *reason = reason_of(c);
    met_inc(tmet.rate_limited_total, 1, cfg_lim_scope_name(c->scope), reason);
    char msg[512];
    if (c->kind == LIM_SPEND)
        snprintf(msg, sizeof msg,
                 "budget %.100s of %.100s %.100s is spent for this %s (%.4f of %.4f); it resets "
                 "in %llus",
                 c->rule, cfg_lim_scope_name(c->scope), c->subject, c->budget->period_s,
                 lim_nano_to_money(c->used), c->budget->max_spend,
                 (unsigned long long)lim_retry_after_s(c->left_ms));
    else
        snprintf(msg, sizeof msg,
                 "rate limit %.100s reached for %.100s %.100s on %s: limit %lld, used %lld; "
                 "retry after %llus",
                 c->rule, cfg_lim_scope_name(c->scope), c->subject, reason, (long long)c->limit,
                 (long long)c->used, (unsigned long long)lim_retry_after_s(c->left_ms));
    tlog(TLOG_WARN, "rate_limited",
         "\"request_id\":\"%s\",\"rule\":\"%s\",\"scope\":\"%s\",\"reason\":\"%s\",\"shared\":%s",
         p->req->request_id, c->rule, cfg_lim_scope_name(c->scope), reason,
         p->lim->v.shared ? "true" : "false");
    if (c->kind == LIM_SPEND)
        up_fail(p, 429, "insufficient_quota", "insufficient_quota", msg);
    else
        up_fail(p, 429, reason, "rate_limit_exceeded", msg);
}

/* The budget's cheaper model, when it speaks the same API as the routed
 * one (the adapter built for the request serves it); false: refused. */
static bool downgrade(up_proxy_t *p)
{
    const cfg_budget_t *b = p->lim->v.downgrade;
    const cfg_model_t *dm = cfg_find_model(p->cfg, b->downgrade_model, strlen(b->downgrade_model));
    if (!dm || dm == p->model) return true;
    if (dm->api_format != p->model->api_format) {
        /* cannot serve this request: refuse as a spent reject budget would */
        for (size_t i = 0; i < p->lim->v.n; i++)
            if (p->lim->v.checks[i].budget == b) p->lim->v.denied = (int)i;
        tlog(TLOG_WARN, "budget_downgrade_impossible",
             "\"request_id\":\"%s\",\"budget\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
             p->req->request_id, b->name, p->model->name, dm->name);
        deny(p);
        return false;
    }
    size_t idx = (size_t)(dm - p->cfg->providers.models);
    tlog(TLOG_INFO, "budget_downgrade",
         "\"request_id\":\"%s\",\"budget\":\"%s\",\"from\":\"%s\",\"to\":\"%s\"",
         p->req->request_id, b->name, p->model->name, dm->name);
    met_inc(tmet.budget_downgrades_total, 1, b->name);
    up_set_model(p, dm, idx);
    p->lim->downgraded = true;
    return true;
}

/* After the counts are known: refuse, downgrade or go on. */
static bool verdict(up_proxy_t *p)
{
    p->lim->decided = true;
    if (p->lim->v.denied >= 0) {
        deny(p);
        return false;
    }
    if (p->lim->v.downgrade) return downgrade(p);
    return true;
}

static void shared_answer(void *ud, const int64_t *vals)
{
    gate_ticket_t *t = ud;
    up_proxy_t *p = t->p;
    free(t);
    if (!p) return; /* the request ended while Redis was asked */
    p->lim->ticket = NULL;
    lim_t *l = p->host.limits;
    if (vals)
        lim_admit_shared(l, &p->lim->v, vals);
    else
        lim_admit_local(l, &p->lim->v); /* Redis did not answer: this process's counters */
    if (verdict(p)) up_start_admitted(p);
}

bool up_limits_admit(up_proxy_t *p)
{
    lim_t *l = p->host.limits;
    if (!l || !p->model || !lim_any(p->cfg)) return true;
    lim_who_t who = {.key = p->client_key,
                     .team = p->client_team,
                     .model = p->model->name,
                     .decision = p->plan.decision ? p->plan.decision->name : NULL};
    up_limits_t *s = arena_calloc(&p->req->arena, sizeof *s);
    lim_plan(p->cfg, &who, &p->req->arena, clock_wall_ms(), &s->v);
    if (!s->v.n) return true;
    p->lim = s;
    if (l->redis) {
        gate_ticket_t *t = malloc(sizeof *t);
        if (!t) abort();
        t->p = p;
        s->ticket = t;
        lim_redis_admit(l->redis, hsrv_req_base(p->req), &s->v, shared_answer, t);
        return false; /* shared_answer goes on (perhaps already did) */
    }
    lim_admit_local(l, &s->v);
    return verdict(p);
}

/* limit, remaining and reset of check c into val[slot..slot+2] (reset as
 * OpenAI writes it: a duration), and the reset as Anthropic writes it (an
 * RFC 3339 time) into val[rfc]. */
static void fill_values(up_limits_t *s, const lim_check_t *c, int slot, int rfc)
{
    int64_t used = c->used + (c->kind == LIM_REQUESTS && s->v.denied < 0 ? 1 : 0);
    int64_t left = c->limit > used ? c->limit - used : 0;
    snprintf(s->val[slot], sizeof s->val[slot], "%lld", (long long)c->limit);
    snprintf(s->val[slot + 1], sizeof s->val[slot + 1], "%lld", (long long)left);
    lim_fmt_reset(c->left_ms, s->val[slot + 2], sizeof s->val[slot + 2]);
    time_t at = (time_t)((clock_wall_ms() + c->left_ms + 999) / 1000);
    struct tm tm;
    gmtime_r(&at, &tm);
    strftime(s->val[rfc], sizeof s->val[rfc], "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The headers of one check: x-ratelimit-<limit|remaining|reset>-<kind>,
 * and for a Messages client anthropic-ratelimit-<kind>-<...> too. */
static int add_kind(up_proxy_t *p, hsrv_header_t *h, int n, const lim_check_t *c, int slot, int rfc)
{
    up_limits_t *s = p->lim;
    fill_values(s, c, slot, rfc);
    bool req = c->kind == LIM_REQUESTS;
    n = up_add_h(h, n, req ? "x-ratelimit-limit-requests" : "x-ratelimit-limit-tokens",
                 s->val[slot]);
    n = up_add_h(h, n, req ? "x-ratelimit-remaining-requests" : "x-ratelimit-remaining-tokens",
                 s->val[slot + 1]);
    n = up_add_h(h, n, req ? "x-ratelimit-reset-requests" : "x-ratelimit-reset-tokens",
                 s->val[slot + 2]);
    if (p->client != RQ_PROTO_ANTHROPIC) return n;
    n = up_add_h(h, n,
                 req ? "anthropic-ratelimit-requests-limit" : "anthropic-ratelimit-tokens-limit",
                 s->val[slot]);
    n = up_add_h(h, n,
                 req ? "anthropic-ratelimit-requests-remaining"
                     : "anthropic-ratelimit-tokens-remaining",
                 s->val[slot + 1]);
    return up_add_h(h, n,
                    req ? "anthropic-ratelimit-requests-reset" : "anthropic-ratelimit-tokens-reset",
                    s->val[rfc]);
}

int up_limits_headers(up_proxy_t *p, hsrv_header_t *h, int n)
{
    up_limits_t *s = p->lim;
    if (!s || !s->decided) return n;
    const lim_check_t *rq = lim_tightest(&s->v, LIM_REQUESTS);
    const lim_check_t *tk = lim_tightest(&s->v, LIM_TOKENS);
    if (rq) n = add_kind(p, h, n, rq, 0, 6);
    if (tk) n = add_kind(p, h, n, tk, 3, 7);
    if (s->v.denied >= 0) {
        snprintf(s->val[8], sizeof s->val[8], "%llu",
                 (unsigned long long)lim_retry_after_s(s->v.checks[s->v.denied].left_ms));
        n = up_add_h(h, n, "retry-after", s->val[8]);
    }
    if (s->downgraded) n = up_add_h(h, n, "x-tether-budget", "downgraded");
    return n;
}

void up_limits_end(up_proxy_t *p)
{
    up_limits_t *s = p->lim;
    if (!s) return;
    if (s->ticket) { /* still waiting for Redis: the answer finds no request */
        s->ticket->p = NULL;
        s->ticket = NULL;
    }
    up_limits_usage(p);
}

void up_limits_usage(up_proxy_t *p)
{
    up_limits_t *s = p->lim;
    if (!s || s->recorded || !s->decided || s->v.denied >= 0 || !p->usage.found || !p->model)
        return;
    s->recorded = true;
    int64_t pt = p->usage.prompt_tokens > 0 ? p->usage.prompt_tokens : 0;
    int64_t ct = p->usage.completion_tokens > 0 ? p->usage.completion_tokens : 0;
    double cost = up_usage_cost(p->model, &p->usage);
    lim_record(p->host.limits, hsrv_req_base(p->req), &s->v, lim_add_sat(pt, ct), cost);
    for (size_t i = 0; i < s->v.n; i++) {
        const lim_check_t *c = &s->v.checks[i];
        if (c->kind != LIM_SPEND) continue;
        int64_t now = lim_table_get(p->host.limits->tab, &c->key, c->ws);
        met_set(tmet.budget_spend, lim_nano_to_money(now), c->rule, c->subject);
    }
}
