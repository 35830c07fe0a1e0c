/* live_report.c - the live and overhead benchmarks' reports: a table (live
 * runs side by side, one column per run) and JSON. Pure formatting. */
#include "bench/live_run.h"
#include <stdio.h>
#include <string.h>

#define LABEL_W 36
#define COL_W   26

static void row(buf_t *out, const char *label, const char *const *vals, size_t n)
{
    buf_printf(out, "%-*s", LABEL_W, label);
    for (size_t i = 0; i < n; i++)
        buf_printf(out, "%*s", COL_W, vals[i]);
    buf_putc(out, '\n');
}

typedef void (*cell_fn)(const live_results_t *r, char *cell, size_t len);

static void row_fn(buf_t *out, const char *label, const live_results_t *r, size_t n, cell_fn fn)
{
    char cells[8][64];
    const char *vals[8];
    if (n > 8) n = 8;
    for (size_t i = 0; i < n; i++) {
        fn(&r[i], cells[i], sizeof cells[i]);
        vals[i] = cells[i];
    }
    row(out, label, vals, n);
}

static void lat3(const live_lat_t *l, char *c, size_t len)
{
    if (!l->n)
        snprintf(c, len, "-");
    else
        snprintf(c, len, "%.3f / %.3f / %.3f", l->p50 / 1000, l->p95 / 1000, l->p99 / 1000);
}

#define CELL(name, fmt, ...)                                                                       \
    static void name(const live_results_t *r, char *c, size_t len)                                 \
    {                                                                                              \
        snprintf(c, len, fmt, __VA_ARGS__);                                                        \
    }
CELL(c_setup, "%d replica%s (%s)", r->replicas, r->replicas > 1 ? "s" : "", r->store)
CELL(c_sessions, "%ld / %ld", r->sessions_with_header, r->sessions_prefix_chain)
CELL(c_turns, "%ld of %ld", r->turns_done, (long)r->sessions * r->turns)
CELL(c_requests, "%ld", r->requests)
CELL(c_errors, "%ld", r->errors)
CELL(c_violations, "%ld", r->violations)
CELL(c_switches, "%ld", r->switches)
CELL(c_phases, "%ld / %ld / %ld / %ld", r->tool_calls, r->state_turns, r->drift_turns,
     r->idle_turns)
CELL(c_cached, "%ld / %ld (%.1f%%)", r->cached_tokens, r->prompt_tokens,
     r->prompt_tokens ? 100.0 * (double)r->cached_tokens / (double)r->prompt_tokens : 0.0)
CELL(c_wall, "%.2f", r->wall_s)
static void c_by_model(const live_results_t *r, char *c, size_t len)
{
    snprintf(c, len, "%ld / %ld / %ld", r->backend[0].requests, r->backend[1].requests,
             r->backend[2].requests);
}
static void c_routed(const live_results_t *r, char *c, size_t len)
{
    lat3(&r->routed, c, len);
}
static void c_direct(const live_results_t *r, char *c, size_t len)
{
    lat3(&r->direct, c, len);
}
static void c_diff(const live_results_t *r, char *c, size_t len)
{
    lat3(&r->diff, c, len);
}
static void c_pdiff(const live_results_t *r, char *c, size_t len)
{
    if (!r->have_direct)
        snprintf(c, len, "-");
    else
        snprintf(c, len, "%.3f / %.3f / %.3f", (r->routed.p50 - r->direct.p50) / 1000,
                 (r->routed.p95 - r->direct.p95) / 1000, (r->routed.p99 - r->direct.p99) / 1000);
}

void live_report_table(const live_results_t *r, size_t n, buf_t *out)
{
    if (!n) return;
    buf_printf(out,
               "tether bench live: %d sessions x %d turns, concurrency %d, seed %u, idle pause "
               "%d ms\n\n",
               r[0].sessions, r[0].turns, r[0].concurrency, r[0].seed, r[0].idle_pause_ms);
    row_fn(out, "", r, n, c_setup);
    row_fn(out, "sessions (x-session-id / prefix)", r, n, c_sessions);
    row_fn(out, "turns completed", r, n, c_turns);
    row_fn(out, "requests", r, n, c_requests);
    row_fn(out, "errors", r, n, c_errors);
    row_fn(out, "violations (strict backends)", r, n, c_violations);
    row_fn(out, "switches", r, n, c_switches);
    row_fn(out, "tool calls / state / drift / idle", r, n, c_phases);
    row_fn(out, "requests 8b / 32b / frontier", r, n, c_by_model);
    row_fn(out, "cached / prompt tokens (backends)", r, n, c_cached);
    row_fn(out, "wall time, s", r, n, c_wall);
    row_fn(out, "routed p50/p95/p99, ms", r, n, c_routed);
    row_fn(out, "direct p50/p95/p99, ms", r, n, c_direct);
    row_fn(out, "overhead per request p50/p95/p99", r, n, c_diff);
    row_fn(out, "overhead routed-direct pXX", r, n, c_pdiff);
    /* session reasons, union over the runs */
    const char *seen[LIVE_MAX_REASONS * 8] = {0};
    size_t nseen = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t k = 0; k < r[i].n_reasons; k++) {
            size_t j = 0;
            while (j < nseen && strcmp(seen[j], r[i].reasons[k].reason))
                j++;
            if (j == nseen && nseen < sizeof seen / sizeof *seen)
                seen[nseen++] = r[i].reasons[k].reason;
        }
    for (size_t j = 0; j < nseen; j++) {
        char label[80], cells[8][32];
        const char *vals[8];
        snprintf(label, sizeof label, "  reason %s", seen[j]);
        size_t m = n > 8 ? 8 : n;
        for (size_t i = 0; i < m; i++) {
            long v = 0;
            for (size_t k = 0; k < r[i].n_reasons; k++)
                if (!strcmp(r[i].reasons[k].reason, seen[j])) v = r[i].reasons[k].n;
            snprintf(cells[i], sizeof cells[i], "%ld", v);
            vals[i] = cells[i];
        }
        row(out, label, vals, m);
    }
    for (size_t i = 0; i < n; i++)
        if (r[i].first_error[0])
            buf_printf(out, "first error (%d replica%s): %s\n", r[i].replicas,
                       r[i].replicas > 1 ? "s" : "", r[i].first_error);
}

static void lat_json(buf_t *out, const char *key, const live_lat_t *l)
{
    buf_printf(out,
               "\"%s\":{\"n\":%ld,\"p50_ms\":%.4f,\"p95_ms\":%.4f,\"p99_ms\":%.4f,"
               "\"mean_ms\":%.4f,\"max_ms\":%.4f}",
               key, l->n, l->p50 / 1000, l->p95 / 1000, l->p99 / 1000, l->mean / 1000,
               l->max / 1000);
}

void live_report_json(const live_results_t *r, size_t n, buf_t *out)
{
    buf_puts(out, "{\"runs\":[");
    for (size_t i = 0; i < n; i++) {
        const live_results_t *x = &r[i];
        if (i) buf_putc(out, ',');
        buf_printf(out,
                   "{\"sessions\":%d,\"turns\":%d,\"concurrency\":%d,\"replicas\":%d,"
                   "\"store\":\"%s\",\"seed\":%u,\"idle_pause_ms\":%d,"
                   "\"sessions_with_header\":%ld,\"sessions_prefix_chain\":%ld,"
                   "\"turns_completed\":%ld,\"requests\":%ld,\"errors\":%ld,"
                   "\"sessions_aborted\":%ld,\"violations\":%ld,\"rejected\":%ld,"
                   "\"switches\":%ld,\"tool_calls\":%ld,\"state_turns\":%ld,\"drift_turns\":%ld,"
                   "\"idle_turns\":%ld,\"cached_tokens\":%ld,\"prompt_tokens\":%ld,"
                   "\"wall_s\":%.3f,\"backends\":[",
                   x->sessions, x->turns, x->concurrency, x->replicas, x->store, x->seed,
                   x->idle_pause_ms, x->sessions_with_header, x->sessions_prefix_chain,
                   x->turns_done, x->requests, x->errors, x->sessions_aborted, x->violations,
                   x->rejected, x->switches, x->tool_calls, x->state_turns, x->drift_turns,
                   x->idle_turns, x->cached_tokens, x->prompt_tokens, x->wall_s);
        for (int m = 0; m < LIVE_N_BACKENDS; m++) {
            const live_backend_stats_t *b = &x->backend[m];
            if (m) buf_putc(out, ',');
            buf_printf(out,
                       "{\"model\":\"%s\",\"requests\":%ld,\"violations\":%ld,\"rejected\":%ld,"
                       "\"cached_tokens\":%ld,\"prompt_tokens\":%ld}",
                       b->model, b->requests, b->violations, b->rejected, b->cached_tokens,
                       b->prompt_tokens);
        }
        buf_puts(out, "],\"session_reasons\":{");
        for (size_t k = 0; k < x->n_reasons; k++) {
            if (k) buf_putc(out, ',');
            buf_json_str(out, x->reasons[k].reason, strlen(x->reasons[k].reason));
            buf_printf(out, ":%ld", x->reasons[k].n);
        }
        buf_putc(out, '}');
        if (x->have_direct) {
            buf_printf(out, ",\"direct_errors\":%ld,", x->direct_errors);
            lat_json(out, "routed", &x->routed);
            buf_putc(out, ',');
            lat_json(out, "direct", &x->direct);
            buf_putc(out, ',');
            lat_json(out, "overhead", &x->diff);
        }
        if (x->first_error[0]) {
            buf_puts(out, ",\"first_error\":");
            buf_json_str(out, x->first_error, strlen(x->first_error));
        }
        buf_putc(out, '}');
    }
    buf_puts(out, "]}\n");
}

void live_overhead_report_table(const live_overhead_results_t *r, buf_t *out)
{
    buf_printf(out,
               "tether bench overhead: %ld request pairs, %ld-byte bodies, concurrency %ld, "
               "%.2f s\n\n",
               r->requests, r->body_bytes, r->concurrency, r->wall_s);
    buf_printf(out, "CPU pinning: %s\n\n", r->pin.desc);
    buf_printf(out, "%-28s%12s%12s%12s%12s%12s\n", "ms", "p50", "p95", "p99", "mean", "max");
    const live_lat_t *l[3] = {&r->direct, &r->routed, &r->diff};
    const char *name[3] = {"direct to the backend", "through the router", "overhead (same pair)"};
    for (int i = 0; i < 3; i++)
        buf_printf(out, "%-28s%12.3f%12.3f%12.3f%12.3f%12.3f\n", name[i], l[i]->p50 / 1000,
                   l[i]->p95 / 1000, l[i]->p99 / 1000, l[i]->mean / 1000, l[i]->max / 1000);
    buf_printf(out, "%-28s%12.3f%12.3f%12.3f\n", "overhead (routed - direct)",
               (r->routed.p50 - r->direct.p50) / 1000, (r->routed.p95 - r->direct.p95) / 1000,
               (r->routed.p99 - r->direct.p99) / 1000);
    buf_printf(out, "errors: %ld%s%s\n", r->errors, r->first_error[0] ? ", first: " : "",
               r->first_error);
}

void live_overhead_report_json(const live_overhead_results_t *r, buf_t *out)
{
    buf_printf(out,
               "{\"requests\":%ld,\"body_bytes\":%ld,\"concurrency\":%ld,\"errors\":%ld,"
               "\"wall_s\":%.3f,",
               r->requests, r->body_bytes, r->concurrency, r->errors, r->wall_s);
    if (r->pin.on)
        buf_printf(out, "\"pin\":{\"client\":%d,\"mock\":%d,\"router\":%d},", r->pin.client,
                   r->pin.mock, r->pin.router);
    else
        buf_puts(out, "\"pin\":null,");
    lat_json(out, "routed", &r->routed);
    buf_putc(out, ',');
    lat_json(out, "direct", &r->direct);
    buf_putc(out, ',');
    lat_json(out, "overhead", &r->diff);
    buf_puts(out, "}\n");
}
