/* aggregate.c - GET /v1/router_replay/aggregate (query.h): the matching
 * records summed per decision and per model - turns, switches, locks and
 * policy reasons, tokens, cost against a baseline. One store scan (every
 * backend, so on a shared store it answers for the fleet); groups are
 * few (decisions and models come from the config), kept in small arrays. */
#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "replay/query.h"

#define MAX_KEYS 32 /* distinct locks / reasons per group */

typedef struct {
    char *k[MAX_KEYS];
    uint64_t n[MAX_KEYS];
    size_t len;
} agg_counts_t;

typedef struct {
    char *name; /* decision or model; NULL for the totals */
    uint64_t turns, switches;
    int64_t prompt, cached, completion;
    double cost, baseline;
    char currency[8];
    agg_counts_t locks, reasons;
} agg_group_t;

typedef struct {
    agg_group_t total;
    agg_group_t *dec, *mod;
    size_t n_dec, n_mod;
    size_t records;
    bool truncated;
    const replay_baseline_t *base;
} agg_ctx_t;

static void count_key(agg_counts_t *c, const char *k)
{
    if (!k) return;
    for (size_t i = 0; i < c->len; i++)
        if (!strcmp(c->k[i], k)) {
            c->n[i]++;
            return;
        }
    if (c->len == MAX_KEYS) return;
    c->k[c->len] = strdup(k);
    if (!c->k[c->len]) abort();
    c->n[c->len++] = 1;
}

static agg_group_t *group(agg_group_t **v, size_t *n, const char *name)
{
    const char *key = name ? name : "";
    for (size_t i = 0; i < *n; i++)
        if (!strcmp((*v)[i].name, key)) return &(*v)[i];
    *v = realloc(*v, (*n + 1) * sizeof **v);
    if (!*v) abort();
    agg_group_t *g = &(*v)[(*n)++];
    memset(g, 0, sizeof *g);
    g->name = strdup(key);
    if (!g->name) abort();
    return g;
}

static const cJSON *get(const cJSON *o, const char *k)
{
    return cJSON_GetObjectItemCaseSensitive(o, k);
}

static double num(const cJSON *o, const char *k)
{
    const cJSON *v = get(o, k);
    return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

typedef struct {
    bool switched;
    const char *lock, *reason, *currency;
    int64_t prompt, cached, completion;
    double cost, baseline;
} agg_turn_t;

static void add(agg_group_t *g, const agg_turn_t *t)
{
    g->turns++;
    g->switches += t->switched;
    if (t->lock && strcmp(t->lock, "none")) count_key(&g->locks, t->lock);
    count_key(&g->reasons, t->reason);
    g->prompt += t->prompt > 0 ? t->prompt : 0;
    g->cached += t->cached > 0 ? t->cached : 0;
    g->completion += t->completion > 0 ? t->completion : 0;
    g->cost += t->cost;
    g->baseline += t->baseline;
    if (t->currency && !g->currency[0])
        snprintf(g->currency, sizeof g->currency, "%s", t->currency);
}

static bool agg_cb(void *p, const replay_row_t *r)
{
    agg_ctx_t *c = p;
    if (c->records == REPLAY_AGGREGATE_MAX) {
        c->truncated = true;
        return false;
    }
    c->records++;
    cJSON *doc = cJSON_Parse(r->json);
    const cJSON *ss = get(doc, "session"), *usage = get(doc, "usage"), *cost = get(doc, "cost");
    const cJSON *lock = get(ss, "hard_lock"), *cur = get(cost, "currency");
    agg_turn_t t = {.switched = r->switched,
                    .lock = cJSON_IsString(lock) ? lock->valuestring : NULL,
                    .reason = r->reason,
                    .currency = cJSON_IsString(cur) ? cur->valuestring : NULL,
                    .prompt = (int64_t)num(usage, "prompt"),
                    .cached = (int64_t)num(usage, "cached"),
                    .completion = (int64_t)num(usage, "completion"),
                    .cost = num(cost, "actual"),
                    .baseline = num(cost, "baseline")};
    if (c->base) /* what the same tokens cost at the baseline model's prices */
        t.baseline = ((double)(t.prompt > 0 ? t.prompt : 0) * c->base->prompt_per_1m +
                      (double)(t.completion > 0 ? t.completion : 0) * c->base->completion_per_1m) /
                     1e6;
    add(&c->total, &t);
    add(group(&c->dec, &c->n_dec, r->decision), &t);
    add(group(&c->mod, &c->n_mod, r->model), &t);
    cJSON_Delete(doc);
    return true;
}

static void put_counts(buf_t *b, const char *k, const agg_counts_t *c)
{
    buf_printf(b, ",\"%s\":{", k);
    for (size_t i = 0; i < c->len; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, c->k[i], strlen(c->k[i]));
        buf_printf(b, ":%llu", (unsigned long long)c->n[i]);
    }
    buf_putc(b, '}');
}

static void put_group(buf_t *b, const char *label, const agg_group_t *g)
{
    buf_putc(b, '{');
    if (label) {
        buf_printf(b, "\"%s\":", label);
        if (g->name && *g->name)
            buf_json_str(b, g->name, strlen(g->name));
        else
            buf_puts(b, "null");
        buf_putc(b, ',');
    }
    buf_printf(b, "\"turns\":%llu,\"switches\":%llu", (unsigned long long)g->turns,
               (unsigned long long)g->switches);
    put_counts(b, "locks", &g->locks);
    put_counts(b, "reasons", &g->reasons);
    buf_printf(b, ",\"tokens\":{\"prompt\":%lld,\"cached\":%lld,\"completion\":%lld}",
               (long long)g->prompt, (long long)g->cached, (long long)g->completion);
    buf_puts(b, ",\"cost\":");
    buf_num(b, g->cost);
    buf_puts(b, ",\"baseline_cost\":");
    buf_num(b, g->baseline);
    buf_puts(b, ",\"savings\":");
    buf_num(b, g->baseline - g->cost);
    buf_puts(b, ",\"currency\":");
    buf_json_str(b, g->currency[0] ? g->currency : "USD",
                 strlen(g->currency[0] ? g->currency : "USD"));
    buf_putc(b, '}');
}

static void group_free(agg_group_t *g)
{
    free(g->name);
    for (size_t i = 0; i < g->locks.len; i++)
        free(g->locks.k[i]);
    for (size_t i = 0; i < g->reasons.len; i++)
        free(g->reasons.k[i]);
}

static int by_turns_desc(const void *a, const void *b)
{
    const agg_group_t *x = a, *y = b;
    if (x->turns != y->turns) return x->turns < y->turns ? 1 : -1;
    return strcmp(x->name, y->name);
}

int replay_query_aggregate(replay_store_t *s, const replay_query_t *q,
                           const replay_baseline_t *baseline, buf_t *out, buf_t *err)
{
    replay_query_t all = *q;
    all.cursor = NULL;
    all.limit = SIZE_MAX; /* every matching row: replay_query_rows' export mode */
    agg_ctx_t c = {.base = baseline};
    int rc = replay_query_rows(s, &all, agg_cb, &c, err);
    if (rc == REPLAY_OK) {
        /* no rows: the arrays are NULL, which qsort must not be given */
        if (c.n_dec) qsort(c.dec, c.n_dec, sizeof *c.dec, by_turns_desc);
        if (c.n_mod) qsort(c.mod, c.n_mod, sizeof *c.mod, by_turns_desc);
        buf_printf(out, "{\"records\":%zu,\"truncated\":%s,\"since\":", c.records,
                   c.truncated ? "true" : "false");
        if (q->since_ms)
            buf_printf(out, "%llu", (unsigned long long)q->since_ms);
        else
            buf_puts(out, "null");
        buf_puts(out, ",\"until\":");
        if (q->until_ms)
            buf_printf(out, "%llu", (unsigned long long)q->until_ms);
        else
            buf_puts(out, "null");
        buf_puts(out, ",\"baseline\":{\"model\":");
        if (baseline && baseline->model)
            buf_json_str(out, baseline->model, strlen(baseline->model));
        else
            buf_puts(out, "null");
        buf_printf(out, ",\"source\":\"%s\"},\"totals\":", baseline ? "model" : "recorded");
        put_group(out, NULL, &c.total);
        buf_puts(out, ",\"by_decision\":[");
        for (size_t i = 0; i < c.n_dec; i++) {
            if (i) buf_putc(out, ',');
            put_group(out, "decision", &c.dec[i]);
        }
        buf_puts(out, "],\"by_model\":[");
        for (size_t i = 0; i < c.n_mod; i++) {
            if (i) buf_putc(out, ',');
            put_group(out, "model", &c.mod[i]);
        }
        buf_puts(out, "]}");
    }
    group_free(&c.total);
    for (size_t i = 0; i < c.n_dec; i++)
        group_free(&c.dec[i]);
    for (size_t i = 0; i < c.n_mod; i++)
        group_free(&c.mod[i]);
    free(c.dec);
    free(c.mod);
    return rc;
}
