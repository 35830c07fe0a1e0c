/* saar_report.c - table, JSON, CSV and SVG output of `bench saar`. Skipped
 * policies are always named with their reason and never given figures. */
#include "bench/saar_report.h"
#include <string.h>

static void json_summary_fields(buf_t *b, const saar_summary_t *s)
{
    buf_printf(b,
               "\"turns\":%ld,\"switches\":%ld,\"unsafe_switches\":%ld,"
               "\"unsafe_tool_loop\":%ld,\"unsafe_provider_state\":%ld,"
               "\"switch_reduction_pct\":%.4f,\"reference_cost\":%.6f,"
               "\"reference_cost_cut_pct\":%.4f,\"fair_cost\":%.6f,\"fair_cost_cut_pct\":%.4f,"
               "\"under_served\":%ld,\"under_served_pct\":%.4f,\"mean_quality\":%.6f,"
               "\"quality_delta\":%.6f",
               s->turns, s->switches, s->unsafe, s->unsafe_tool_loop, s->unsafe_provider_state,
               s->switch_reduction_pct, s->reference_cost, s->reference_cost_cut_pct, s->fair_cost,
               s->fair_cost_cut_pct, s->under_served, s->under_served_pct, s->mean_quality,
               s->quality_delta);
}

static void json_name(buf_t *b, const char *key, const char *val)
{
    buf_printf(b, "\"%s\":", key);
    buf_json_str(b, val, strlen(val));
}

void saar_report_json(const saar_results_t *r, buf_t *b)
{
    buf_printf(b, "{\"turns\":%ld,\"sessions\":%d,\"turns_per_session\":%d,\"scenarios\":[",
               r->turns, r->sessions, r->turns_per_session);
    for (size_t i = 0; i < r->n_scenarios; i++) {
        if (i) buf_putc(b, ',');
        buf_json_str(b, r->scenario_names[i], strlen(r->scenario_names[i]));
    }
    buf_puts(b, "],\"seeds\":[");
    for (size_t i = 0; i < r->n_seeds; i++)
        buf_printf(b, "%s%u", i ? "," : "", r->seeds[i]);
    buf_puts(b, "],\"policies\":[");
    int first = 1;
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (!p->ran) continue;
        buf_puts(b, first ? "{" : ",{");
        first = 0;
        json_name(b, "policy", p->name);
        buf_putc(b, ',');
        json_summary_fields(b, &p->summary);
        if (p->tally.check_errors) buf_printf(b, ",\"checker_errors\":%ld", p->tally.check_errors);
        buf_puts(b, ",\"by_scenario\":[");
        for (size_t s = 0; s < r->n_scenarios; s++) {
            saar_summary_t ss;
            saar_summarize(&p->by_scenario[s], &r->baseline_by_scenario[s], &ss);
            buf_puts(b, s ? ",{" : "{");
            json_name(b, "scenario", r->scenario_names[s]);
            buf_putc(b, ',');
            json_summary_fields(b, &ss);
            buf_putc(b, '}');
        }
        buf_puts(b, "]}");
    }
    buf_puts(b, "],\"skipped\":[");
    first = 1;
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (p->ran) continue;
        buf_puts(b, first ? "{" : ",{");
        first = 0;
        json_name(b, "policy", p->name);
        buf_putc(b, ',');
        json_name(b, "reason", p->skip_reason);
        buf_putc(b, '}');
    }
    buf_puts(b, "]}\n");
}

void saar_report_csv(const saar_results_t *r, buf_t *b)
{
    buf_puts(b, "policy,status,turns,switches,switch_reduction_pct,unsafe_switches,"
                "unsafe_tool_loop,unsafe_provider_state,reference_cost,reference_cost_cut_pct,"
                "fair_cost,fair_cost_cut_pct,under_served,under_served_pct,quality_delta\n");
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (!p->ran) {
            buf_printf(b, "%s,not_registered,,,,,,,,,,,,,\n", p->name);
            continue;
        }
        const saar_summary_t *s = &p->summary;
        buf_printf(b, "%s,ok,%ld,%ld,%.4f,%ld,%ld,%ld,%.6f,%.4f,%.6f,%.4f,%ld,%.4f,%.6f\n", p->name,
                   s->turns, s->switches, s->switch_reduction_pct, s->unsafe, s->unsafe_tool_loop,
                   s->unsafe_provider_state, s->reference_cost, s->reference_cost_cut_pct,
                   s->fair_cost, s->fair_cost_cut_pct, s->under_served, s->under_served_pct,
                   s->quality_delta);
    }
}

void saar_report_table(const saar_results_t *r, buf_t *b)
{
    buf_printf(b,
               "bench saar: %ld turns per policy (%zu scenario%s x %zu seed%s x %d sessions x "
               "%d turns)\n\n",
               r->turns, r->n_scenarios, r->n_scenarios == 1 ? "" : "s", r->n_seeds,
               r->n_seeds == 1 ? "" : "s", r->sessions, r->turns_per_session);
    buf_printf(b, "%-27s %8s %8s %7s %6s %6s %10s %8s %10s %8s %13s %9s\n", "policy", "switches",
               "reduct%", "unsafe", "tool", "state", "ref cost", "ref cut", "fair cost", "fair cut",
               "under-served", "quality");
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (!p->ran) continue;
        const saar_summary_t *s = &p->summary;
        char us[32];
        snprintf(us, sizeof us, "%ld (%.1f%%)", s->under_served, s->under_served_pct);
        buf_printf(b,
                   "%-27s %8ld %7.2f%% %7ld %6ld %6ld %10.2f %7.2f%% %10.2f %7.2f%% %13s %+9.4f\n",
                   p->name, s->switches, s->switch_reduction_pct, s->unsafe, s->unsafe_tool_loop,
                   s->unsafe_provider_state, s->reference_cost, s->reference_cost_cut_pct,
                   s->fair_cost, s->fair_cost_cut_pct, us, s->quality_delta);
        if (p->tally.check_errors)
            buf_printf(b, "  (checker could not parse %ld request bodies)\n",
                       p->tally.check_errors);
    }
    int any = 0;
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (p->ran) continue;
        if (!any) buf_puts(b, "\nskipped:\n");
        any = 1;
        buf_printf(b, "  %-27s %s\n", p->name, p->skip_reason);
    }
    buf_puts(b, "\ncuts and quality are against the prompt-level router on the same turns; "
                "unsafe = tool + state as judged by the continuity checker.\n");
}

/* ---- SVG ---------------------------------------------------------------- */

static void svg_text_escaped(buf_t *b, const char *s)
{
    for (; *s; s++) {
        if (*s == '<')
            buf_puts(b, "&lt;");
        else if (*s == '>')
            buf_puts(b, "&gt;");
        else if (*s == '&')
            buf_puts(b, "&amp;");
        else
            buf_putc(b, *s);
    }
}

typedef struct panel {
    const char *title;
    const char *unit; /* "" for counts, "%" */
    int nseries;
    const char *series[2];
    const char *color[2];
} panel_t;

static double panel_value(int panel, int series, const saar_summary_t *s)
{
    switch (panel) {
    case 0: return (double)s->switches;
    case 1: return series ? (double)s->unsafe_provider_state : (double)s->unsafe_tool_loop;
    case 2: return series ? s->fair_cost_cut_pct : s->reference_cost_cut_pct;
    default: return s->under_served_pct;
    }
}

void saar_report_svg(const saar_results_t *r, buf_t *b)
{
    static const panel_t panels[4] = {
        {"switches", "", 1, {"switches", NULL}, {"#4c78a8", NULL}},
        {"unsafe switches", "", 2, {"tool loop", "provider state"}, {"#e45756", "#f58518"}},
        {"cost cut vs prompt-level", "%", 2, {"reference", "fair"}, {"#54a24b", "#88d27a"}},
        {"under-served turns", "%", 1, {"under-served", NULL}, {"#b279a2", NULL}},
    };
    int nran = 0;
    for (size_t i = 0; i < r->n; i++)
        nran += r->policy[i].ran;
    int nskip = (int)r->n - nran;
    const int label_w = 190, panel_w = 300, gap = 20, row_h = 22, top = 70;
    const int width = label_w + 4 * (panel_w + gap) + 10;
    const int height = top + (nran ? nran : 1) * row_h + 40 + nskip * 16 + 20;
    buf_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n"
               "<rect width=\"100%%\" height=\"100%%\" fill=\"white\"/>\n"
               "<text x=\"10\" y=\"20\" font-size=\"15\" font-weight=\"bold\">tether bench saar: "
               "%ld turns per policy</text>\n",
               width, height, width, height, r->turns);
    for (int pi = 0; pi < 4; pi++) {
        const panel_t *pn = &panels[pi];
        int x0 = label_w + pi * (panel_w + gap);
        double maxv = pn->unit[0] ? 100.0 : 0.0;
        for (size_t i = 0; i < r->n; i++) {
            if (!r->policy[i].ran) continue;
            double tot = 0;
            for (int s = 0; s < pn->nseries; s++) {
                double v = panel_value(pi, s, &r->policy[i].summary);
                if (pi == 1)
                    tot += v;
                else if (v > maxv)
                    maxv = v;
            }
            if (pi == 1 && tot > maxv) maxv = tot;
        }
        if (maxv <= 0) maxv = 1;
        buf_printf(b, "<text x=\"%d\" y=\"44\" font-weight=\"bold\">%s</text>\n", x0, pn->title);
        for (int s = 0; s < pn->nseries; s++)
            buf_printf(b,
                       "<rect x=\"%d\" y=\"52\" width=\"10\" height=\"10\" fill=\"%s\"/>"
                       "<text x=\"%d\" y=\"61\" font-size=\"10\">%s</text>\n",
                       x0 + s * 110, pn->color[s], x0 + s * 110 + 13, pn->series[s]);
        int row = 0;
        for (size_t i = 0; i < r->n; i++) {
            const saar_policy_result_t *p = &r->policy[i];
            if (!p->ran) continue;
            int y = top + row * row_h;
            double xoff = 0;
            for (int s = 0; s < pn->nseries; s++) {
                double v = panel_value(pi, s, &p->summary);
                double w = (v > 0 ? v : 0) / maxv * (panel_w - 70);
                /* unsafe: stacked; cost cuts: two thin bars */
                int stacked = pi == 1, thin = pn->nseries == 2 && !stacked;
                double bx = x0 + (stacked ? xoff : 0);
                double by = y + (thin ? s * 8 : 0), bh = thin ? 8 : 16;
                buf_printf(b,
                           "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" "
                           "fill=\"%s\"><title>%s %s: %.2f%s</title></rect>\n",
                           bx, by, w, bh, pn->color[s], p->name, pn->series[s], v, pn->unit);
                if (stacked) xoff += w;
            }
            char val[64];
            if (pi == 0)
                snprintf(val, sizeof val, "%ld", p->summary.switches);
            else if (pi == 1)
                snprintf(val, sizeof val, "%ld", p->summary.unsafe);
            else if (pi == 2)
                snprintf(val, sizeof val, "%.1f / %.1f%%", p->summary.reference_cost_cut_pct,
                         p->summary.fair_cost_cut_pct);
            else
                snprintf(val, sizeof val, "%.1f%%", p->summary.under_served_pct);
            double vmax = 0;
            for (int s = 0; s < pn->nseries; s++) {
                double v = panel_value(pi, s, &p->summary);
                v = (v > 0 ? v : 0) / maxv * (panel_w - 70);
                if (pi == 1)
                    vmax += v;
                else if (v > vmax)
                    vmax = v;
            }
            buf_printf(b, "<text x=\"%.1f\" y=\"%d\" font-size=\"10\">%s</text>\n", x0 + vmax + 4,
                       y + 12, val);
            row++;
        }
    }
    int row = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (!r->policy[i].ran) continue;
        buf_printf(b, "<text x=\"10\" y=\"%d\">", top + row * row_h + 12);
        svg_text_escaped(b, r->policy[i].name);
        buf_puts(b, "</text>\n");
        row++;
    }
    int y = top + (nran ? nran : 1) * row_h + 30;
    for (size_t i = 0; i < r->n; i++) {
        if (r->policy[i].ran) continue;
        buf_printf(b, "<text x=\"10\" y=\"%d\" fill=\"#777\">skipped ", y);
        svg_text_escaped(b, r->policy[i].name);
        buf_puts(b, ": ");
        svg_text_escaped(b, r->policy[i].skip_reason);
        buf_puts(b, "</text>\n");
        y += 16;
    }
    buf_puts(b, "</svg>\n");
}
