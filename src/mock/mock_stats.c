/* mock_stats.c - counters of `tether mock` (requests by model and path,
 * continuity violations by code, injected faults, token totals, the last
 * API request's headers) and their JSON rendering for GET /mock/stats. A handful of distinct models
 * and paths is expected, so the per-name counters are small linear lists. */
#include "mock/mock_stats.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct named {
    char *name;
    uint64_t n;
} named_t;

typedef struct {
    named_t *v;
    size_t n, cap;
} named_list_t;

struct mock_stats {
    pthread_mutex_t mu;
    uint64_t requests, violations, rejected, failures, resets;
    uint64_t by_code[MOCK_V__COUNT];
    uint64_t prompt_tokens, completion_tokens, cached_tokens;
    named_list_t by_model, by_path;
    buf_t last_headers; /* JSON array of [name, value] pairs */
};

static void named_bump(named_list_t *l, const char *name)
{
    for (size_t i = 0; i < l->n; i++)
        if (!strcmp(l->v[i].name, name)) {
            l->v[i].n++;
            return;
        }
    if (l->n == l->cap) {
        l->cap = l->cap ? l->cap * 2 : 8;
        l->v = realloc(l->v, l->cap * sizeof *l->v);
        if (!l->v) abort();
    }
    l->v[l->n].name = strdup(name);
    if (!l->v[l->n].name) abort();
    l->v[l->n++].n = 1;
}

static void named_clear(named_list_t *l)
{
    for (size_t i = 0; i < l->n; i++)
        free(l->v[i].name);
    free(l->v);
    memset(l, 0, sizeof *l);
}

static void named_json(const named_list_t *l, buf_t *out)
{
    buf_putc(out, '{');
    for (size_t i = 0; i < l->n; i++) {
        if (i) buf_putc(out, ',');
        buf_json_str(out, l->v[i].name, strlen(l->v[i].name));
        buf_printf(out, ":%llu", (unsigned long long)l->v[i].n);
    }
    buf_putc(out, '}');
}

mock_stats_t *mock_stats_new(void)
{
    mock_stats_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void mock_stats_free(mock_stats_t *s)
{
    if (!s) return;
    named_clear(&s->by_model);
    named_clear(&s->by_path);
    buf_free(&s->last_headers);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

void mock_stats_clear(mock_stats_t *s)
{
    pthread_mutex_lock(&s->mu);
    named_clear(&s->by_model);
    named_clear(&s->by_path);
    s->requests = s->violations = s->rejected = s->failures = s->resets = 0;
    s->prompt_tokens = s->completion_tokens = s->cached_tokens = 0;
    memset(s->by_code, 0, sizeof s->by_code);
    buf_reset(&s->last_headers);
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_request(mock_stats_t *s, const char *path, const char *model)
{
    pthread_mutex_lock(&s->mu);
    s->requests++;
    named_bump(&s->by_path, path);
    if (model) named_bump(&s->by_model, model);
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_headers(mock_stats_t *s, const hsrv_header_t *h, size_t n)
{
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (size_t i = 0; i < n; i++) {
        buf_puts(&b, i ? ",[" : "[");
        buf_json_str(&b, h[i].name, h[i].name_len);
        buf_putc(&b, ',');
        buf_json_str(&b, h[i].value ? h[i].value : "", h[i].value_len);
        buf_putc(&b, ']');
    }
    buf_putc(&b, ']');
    pthread_mutex_lock(&s->mu);
    buf_free(&s->last_headers);
    s->last_headers = b;
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_violation(mock_stats_t *s, mock_violation_t v, bool rejected)
{
    if (v == MOCK_V_NONE || (unsigned)v >= MOCK_V__COUNT) return;
    pthread_mutex_lock(&s->mu);
    s->violations++;
    s->by_code[v]++;
    if (rejected) s->rejected++;
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_failure(mock_stats_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->failures++;
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_reset(mock_stats_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->resets++;
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_tokens(mock_stats_t *s, uint64_t prompt, uint64_t completion, uint64_t cached)
{
    pthread_mutex_lock(&s->mu);
    s->prompt_tokens += prompt;
    s->completion_tokens += completion;
    s->cached_tokens += cached;
    pthread_mutex_unlock(&s->mu);
}

void mock_stats_json(mock_stats_t *s, buf_t *out)
{
    pthread_mutex_lock(&s->mu);
    buf_printf(out, "{\"requests\":%llu,\"by_model\":", (unsigned long long)s->requests);
    named_json(&s->by_model, out);
    buf_puts(out, ",\"by_path\":");
    named_json(&s->by_path, out);
    buf_printf(out, ",\"violations\":%llu,\"violations_by_code\":{",
               (unsigned long long)s->violations);
    for (int v = 1; v < MOCK_V__COUNT; v++)
        buf_printf(out, "%s\"%s\":%llu", v > 1 ? "," : "", mock_violation_code(v),
                   (unsigned long long)s->by_code[v]);
    buf_printf(out,
               "},\"rejected\":%llu,\"failures_injected\":%llu,\"resets_injected\":%llu,"
               "\"cached_tokens_total\":%llu,\"prompt_tokens_total\":%llu,"
               "\"completion_tokens_total\":%llu,\"last_headers\":%s}",
               (unsigned long long)s->rejected, (unsigned long long)s->failures,
               (unsigned long long)s->resets, (unsigned long long)s->cached_tokens,
               (unsigned long long)s->prompt_tokens, (unsigned long long)s->completion_tokens,
               s->last_headers.len ? s->last_headers.data : "[]");
    pthread_mutex_unlock(&s->mu);
}
