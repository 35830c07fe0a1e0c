/* saar_heldout.c - `bench saar --held-out`: the held-out workload list, the
 * runs (tether, tether-defaults and the reference rows through saar_run),
 * the domination verdicts and their table / JSON. See saar_heldout.h. */
#include "bench/saar_heldout.h"
#include "bench/saar_run.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const saar_heldout_policies[SAAR_HO_POLICIES] = {
    "tether", "tether-defaults", "reference-session", "reference-drift-vs-previous"};

/* Equal within rounding noise of a percentage. */
#define PCT_EPS 1e-9

/* b's advantage over a per column: 1 better, 0 equal, -1 worse. */
static void advantages(const saar_summary_t *a, const saar_summary_t *b, int out[4])
{
    double adv[4] = {
        (double)(a->under_served - b->under_served),
        b->fair_cost_cut_pct - a->fair_cost_cut_pct,
        (double)(a->unsafe - b->unsafe),
        (double)(a->switches - b->switches),
    };
    for (int i = 0; i < 4; i++) {
        double eps = i == 1 ? PCT_EPS : 0;
        out[i] = adv[i] > eps ? 1 : adv[i] < -eps ? -1 : 0;
    }
}

int saar_dominated(const saar_summary_t *a, const saar_summary_t *b)
{
    int adv[4], strictly = 0;
    advantages(a, b, adv);
    for (int i = 0; i < 4; i++) {
        if (adv[i] < 0) return 0;
        if (adv[i] > 0) strictly = 1;
    }
    return strictly;
}

int saar_tied(const saar_summary_t *a, const saar_summary_t *b)
{
    int adv[4];
    advantages(a, b, adv);
    return !adv[0] && !adv[1] && !adv[2] && !adv[3];
}

/* Our scenario files: tests/data/bench/scenario_mixed.json and the three of
 * docs/benchmarks.md ("Our scenarios"). */
static const char own_mixed[] =
    "{\"name\": \"mixed-agent\", \"base_demand\": 0.50, \"progress_weight\": 0.25, "
    "\"phase_bonus\": 0.20, \"wave_amplitude\": 0.15, \"noise\": 0.10, \"tool_cycle\": 7, "
    "\"tool_slots\": [2, 3, 5], \"history_min\": 256, \"history_max\": 4096, "
    "\"idle_mode\": \"frequent\", \"remaining_turn_prior\": 5, \"token_growth\": 1.05, "
    "\"state_cycle\": 9, \"state_slots\": [4], \"drift_cycle\": 8, \"drift_slots\": [6]}";
static const char own_three[] =
    "{\"scenarios\": ["
    "{\"name\": \"long-agent\", \"base_demand\": 0.50, \"progress_weight\": 0.20, "
    "\"phase_bonus\": 0.22, \"wave_amplitude\": 0.12, \"noise\": 0.10, \"tool_cycle\": 4, "
    "\"tool_slots\": [1, 2], \"history_min\": 1024, \"history_max\": 8192, "
    "\"idle_mode\": \"single\", \"remaining_turn_prior\": 8, \"token_growth\": 1.10, "
    "\"state_cycle\": 7, \"state_slots\": [3], \"drift_cycle\": 9, \"drift_slots\": [5]},"
    "{\"name\": \"cheap-chat\", \"base_demand\": 0.35, \"progress_weight\": 0.15, "
    "\"phase_bonus\": 0.10, \"wave_amplitude\": 0.20, \"noise\": 0.12, \"tool_cycle\": 7, "
    "\"tool_slots\": [3], \"history_min\": 256, \"history_max\": 1024, "
    "\"idle_mode\": \"frequent\", \"remaining_turn_prior\": 3, \"token_growth\": 1.0},"
    "{\"name\": \"hard-reasoning\", \"base_demand\": 0.66, \"progress_weight\": 0.18, "
    "\"phase_bonus\": 0.12, \"wave_amplitude\": 0.10, \"noise\": 0.06, \"tool_cycle\": 5, "
    "\"tool_slots\": [1, 2, 3], \"history_min\": 2048, \"history_max\": 8192, "
    "\"idle_mode\": \"rare\", \"remaining_turn_prior\": 12, \"token_growth\": 1.15, "
    "\"state_cycle\": 4, \"state_slots\": [0]}]}";

static saar_scenario_t *builtin_copy(double demand_shift, size_t *n)
{
    saar_scenario_t *s = malloc(sizeof saar_builtin_scenarios);
    if (!s) abort();
    memcpy(s, saar_builtin_scenarios, sizeof saar_builtin_scenarios);
    for (size_t i = 0; demand_shift != 0 && i < SAAR_N_BUILTIN; i++) {
        char name[SAAR_NAME_MAX];
        snprintf(name, sizeof name, "%s%+.2f", s[i].name, demand_shift);
        memcpy(s[i].name, name, sizeof name);
        s[i].base_demand += demand_shift;
    }
    *n = SAAR_N_BUILTIN;
    return s;
}

static saar_scenario_t *parsed(const char *json, size_t *n)
{
    saar_scenario_t *s = NULL;
    char err[200];
    if (saar_scenarios_parse(json, strlen(json), &s, n, err, sizeof err)) abort(); /* built in */
    return s;
}

static void add(saar_heldout_workload_t *w, size_t *k, const char *name, saar_scenario_t *sc,
                size_t nsc, const uint32_t *seeds, size_t nseeds, int sessions, int turns)
{
    saar_heldout_workload_t *x = &w[(*k)++];
    memset(x, 0, sizeof *x);
    snprintf(x->name, sizeof x->name, "%s", name);
    x->scenarios = sc;
    x->n_scenarios = nsc;
    memcpy(x->seeds, seeds, nseeds * sizeof *seeds);
    x->n_seeds = nseeds;
    x->sessions = sessions;
    x->turns = turns;
}

saar_heldout_workload_t *saar_heldout_default_list(size_t *n, int sessions, int turns)
{
    static const uint32_t other[] = {1, 2, 3};
    static const uint32_t next[] = {20260535u, 20260536u, 20260537u, 20260538u, 20260539u};
    static const uint32_t tuned[] = {20260530u, 20260531u, 20260532u, 20260533u, 20260534u};
    enum { N = 10 };
    saar_heldout_workload_t *w = calloc(N, sizeof *w);
    if (!w) abort();
    size_t k = 0, m;
    saar_scenario_t *s;
    s = builtin_copy(0, &m);
    add(w, &k, "six scenarios, seeds 1,2,3", s, m, other, 3, sessions, turns);
    s = builtin_copy(0, &m);
    add(w, &k, "six scenarios, seeds 20260535..39", s, m, next, 5, sessions, turns);
    s = parsed(own_mixed, &m);
    add(w, &k, "mixed-agent, seeds 1,2,3", s, m, other, 3, sessions, turns);
    s = parsed(own_mixed, &m);
    add(w, &k, "mixed-agent, seeds 20260530..34", s, m, tuned, 5, sessions, turns);
    s = parsed(own_three, &m);
    add(w, &k, "our three, seeds 20260530..34", s, m, tuned, 5, sessions, turns);
    s = parsed(own_three, &m);
    add(w, &k, "our three, seeds 1,2,3", s, m, other, 3, sessions, turns);
    s = builtin_copy(0.08, &m);
    add(w, &k, "six, demand +0.08, seeds 1,2,3", s, m, other, 3, sessions, turns);
    s = builtin_copy(-0.08, &m);
    add(w, &k, "six, demand -0.08, seeds 1,2,3", s, m, other, 3, sessions, turns);
    s = builtin_copy(0, &m);
    add(w, &k, "six, 30-turn sessions, seeds 1,2,3", s, m, other, 3, sessions,
        turns > 0 ? turns : 30);
    s = builtin_copy(0, &m);
    add(w, &k, "six, 100 sessions, seed 4", s, m, (const uint32_t[]){4}, 1,
        sessions > 0 ? sessions : 100, turns);
    *n = k;
    return w;
}

void saar_heldout_list_free(saar_heldout_workload_t *w, size_t n)
{
    for (size_t i = 0; w && i < n; i++)
        free(w[i].scenarios);
    free(w);
}

void saar_heldout_free(saar_heldout_results_t *r)
{
    if (!r) return;
    free(r->rows);
    memset(r, 0, sizeof *r);
}

static void verdicts(saar_heldout_row_t *row)
{
    for (int a = 0; a < SAAR_HO_SUBJECTS; a++)
        for (int b = 0; b < SAAR_HO_REFERENCES; b++) {
            row->dominated[a][b] = saar_dominated(&row->s[a], &row->s[SAAR_HO_SUBJECTS + b]);
            row->tied[a][b] = saar_tied(&row->s[a], &row->s[SAAR_HO_SUBJECTS + b]);
        }
}

int saar_heldout_run(const saar_heldout_workload_t *w, size_t n, saar_heldout_results_t *out,
                     char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    size_t cap = 0;
    for (size_t i = 0; i < n; i++)
        cap += 1 + (w[i].n_scenarios > 1 ? w[i].n_scenarios : 0);
    out->rows = calloc(cap ? cap : 1, sizeof *out->rows);
    if (!out->rows) abort();
    for (size_t i = 0; i < n; i++) {
        saar_options_t o = {.scenarios = w[i].scenarios,
                            .n_scenarios = w[i].n_scenarios,
                            .seeds = w[i].seeds,
                            .n_seeds = w[i].n_seeds,
                            .sessions = w[i].sessions,
                            .turns = w[i].turns,
                            .policies = saar_heldout_policies,
                            .n_policies = SAAR_HO_POLICIES};
        saar_results_t r;
        char e[300];
        if (saar_run(&o, &r, e, sizeof e)) {
            saar_heldout_free(out);
            return saar_err(err, errlen, "workload '%s': %s", w[i].name, e);
        }
        saar_heldout_row_t *row = &out->rows[out->n++];
        snprintf(row->workload, sizeof row->workload, "%s", w[i].name);
        row->turns = r.turns;
        for (int p = 0; p < SAAR_HO_POLICIES; p++)
            row->s[p] = r.policy[p].summary;
        verdicts(row);
        for (size_t sc = 0; w[i].n_scenarios > 1 && sc < r.n_scenarios; sc++) {
            saar_heldout_row_t *sr = &out->rows[out->n++];
            snprintf(sr->workload, sizeof sr->workload, "%s", w[i].name);
            snprintf(sr->scenario, sizeof sr->scenario, "%s", r.scenario_names[sc]);
            for (int p = 0; p < SAAR_HO_POLICIES; p++)
                saar_summarize(&r.policy[p].by_scenario[sc], &r.baseline_by_scenario[sc],
                               &sr->s[p]);
            sr->turns = sr->s[0].turns;
            verdicts(sr);
        }
        saar_results_free(&r);
    }
    return 0;
}

static const char *verdict_word(const saar_heldout_row_t *row, int subject, int ref)
{
    return row->dominated[subject][ref] ? "DOMINATED" : row->tied[subject][ref] ? "tie" : "ok";
}

/* "ok", "tie" or "DOMINATED" against each reference, e.g. "ok / ok". */
static void verdict_text(const saar_heldout_row_t *row, int subject, char *out, size_t n)
{
    snprintf(out, n, "%s / %s", verdict_word(row, subject, 0), verdict_word(row, subject, 1));
}

static void table_rows(const saar_heldout_results_t *r, buf_t *b, int scenarios)
{
    for (size_t i = 0; i < r->n; i++) {
        const saar_heldout_row_t *row = &r->rows[i];
        if (!!row->scenario[0] != scenarios) continue;
        char label[200];
        if (scenarios)
            snprintf(label, sizeof label, "%s", row->scenario);
        else
            snprintf(label, sizeof label, "%s (%ld turns)", row->workload, row->turns);
        if (scenarios && (i == 0 || strcmp(r->rows[i - 1].workload, row->workload) ||
                          !r->rows[i - 1].scenario[0]))
            buf_printf(b, "%s:\n", row->workload);
        buf_printf(b, "%s%s\n", scenarios ? "  " : "", label);
        for (int p = 0; p < SAAR_HO_POLICIES; p++) {
            const saar_summary_t *s = &row->s[p];
            char us[32], v[40] = "";
            snprintf(us, sizeof us, "%ld (%.1f%%)", s->under_served, s->under_served_pct);
            if (p < SAAR_HO_SUBJECTS) verdict_text(row, p, v, sizeof v);
            buf_printf(b, "    %-28s %8ld %7ld %7.2f%% %7.2f%% %15s  %s\n",
                       saar_heldout_policies[p], s->switches, s->unsafe, s->reference_cost_cut_pct,
                       s->fair_cost_cut_pct, us, v);
        }
    }
}

void saar_heldout_table(const saar_heldout_results_t *r, buf_t *b)
{
    buf_puts(b, "bench saar --held-out: tether rows against the reference session policy on "
                "workloads the policy was not tuned on\n"
                "dominated = the reference is at least as good on under-served, fair cost cut, "
                "unsafe and switches, and strictly better on one;\n"
                "verdict: against reference-session / against reference-drift-vs-previous\n\n");
    const char *hdr = "    %-28s %8s %7s %8s %8s %15s  %s\n";
    buf_printf(b, "Per workload\n");
    buf_printf(b, hdr, "policy", "switches", "unsafe", "ref cut", "fair cut", "under-served",
               "dominated?");
    table_rows(r, b, 0);
    buf_printf(b, "\nPer scenario\n");
    buf_printf(b, hdr, "policy", "switches", "unsafe", "ref cut", "fair cut", "under-served",
               "dominated?");
    table_rows(r, b, 1);
    int count[SAAR_HO_SUBJECTS][SAAR_HO_REFERENCES] = {{0}};
    int nw = 0, ns = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (r->rows[i].scenario[0]) {
            ns++;
            continue;
        }
        nw++;
        for (int a = 0; a < SAAR_HO_SUBJECTS; a++)
            for (int c = 0; c < SAAR_HO_REFERENCES; c++)
                count[a][c] += r->rows[i].dominated[a][c];
    }
    buf_printf(b, "\nSummary over %d workloads (%d scenario rows above):\n", nw, ns);
    for (int a = 0; a < SAAR_HO_SUBJECTS; a++)
        for (int c = 0; c < SAAR_HO_REFERENCES; c++) {
            int sc = 0, ties = 0;
            for (size_t i = 0; i < r->n; i++) {
                sc += r->rows[i].scenario[0] && r->rows[i].dominated[a][c];
                ties += r->rows[i].tied[a][c];
            }
            buf_printf(b,
                       "  %-16s dominated by %-28s on %d of %d workloads, %d of %d scenarios "
                       "(%d rows tied)\n",
                       saar_heldout_policies[a], saar_heldout_policies[SAAR_HO_SUBJECTS + c],
                       count[a][c], nw, sc, ns, ties);
        }
}

static void json_summary(buf_t *b, const saar_summary_t *s)
{
    buf_printf(b,
               "{\"switches\":%ld,\"unsafe_switches\":%ld,\"reference_cost_cut_pct\":%.4f,"
               "\"fair_cost_cut_pct\":%.4f,\"under_served\":%ld,\"under_served_pct\":%.4f,"
               "\"quality_delta\":%.6f}",
               s->switches, s->unsafe, s->reference_cost_cut_pct, s->fair_cost_cut_pct,
               s->under_served, s->under_served_pct, s->quality_delta);
}

void saar_heldout_json(const saar_heldout_results_t *r, buf_t *b)
{
    buf_puts(b, "{\"rows\":[");
    for (size_t i = 0; i < r->n; i++) {
        const saar_heldout_row_t *row = &r->rows[i];
        buf_puts(b, i ? ",{\"workload\":" : "{\"workload\":");
        buf_json_str(b, row->workload, strlen(row->workload));
        buf_puts(b, ",\"scenario\":");
        if (row->scenario[0])
            buf_json_str(b, row->scenario, strlen(row->scenario));
        else
            buf_puts(b, "null");
        buf_printf(b, ",\"turns\":%ld,\"policies\":{", row->turns);
        for (int p = 0; p < SAAR_HO_POLICIES; p++) {
            buf_printf(b, "%s\"%s\":", p ? "," : "", saar_heldout_policies[p]);
            json_summary(b, &row->s[p]);
        }
        buf_puts(b, "},\"dominated\":{");
        for (int a = 0; a < SAAR_HO_SUBJECTS; a++) {
            buf_printf(b, "%s\"%s\":{", a ? "," : "", saar_heldout_policies[a]);
            for (int c = 0; c < SAAR_HO_REFERENCES; c++)
                buf_printf(b, "%s\"%s\":%s", c ? "," : "",
                           saar_heldout_policies[SAAR_HO_SUBJECTS + c],
                           row->dominated[a][c] ? "true" : "false");
            buf_putc(b, '}');
        }
        buf_puts(b, "},\"tied\":{");
        for (int a = 0; a < SAAR_HO_SUBJECTS; a++) {
            buf_printf(b, "%s\"%s\":{", a ? "," : "", saar_heldout_policies[a]);
            for (int c = 0; c < SAAR_HO_REFERENCES; c++)
                buf_printf(b, "%s\"%s\":%s", c ? "," : "",
                           saar_heldout_policies[SAAR_HO_SUBJECTS + c],
                           row->tied[a][c] ? "true" : "false");
            buf_putc(b, '}');
        }
        buf_puts(b, "}}");
    }
    buf_puts(b, "]}\n");
}
