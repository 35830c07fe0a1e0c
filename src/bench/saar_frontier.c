/* saar_frontier.c - `bench saar --frontier`: the settings list, the extra
 * policies that run tether-defaults under each, and the frontier's CSV and
 * SVG. See saar_frontier.h. */
#include "bench/saar_frontier.h"
#include "bench/saar_tether.h"
#include <stdio.h>
#include <string.h>

/* card_gap_price_discount, card_gap_keep_weight, card_quality_gap_weight,
 * lock_escalation_weight; the first is the SPEC 1.0 behaviour (no derived
 * gaps), frontier-08 the first issue-19 default, frontier-12 the second's.
 * Rows 00-20 run with "start high, step down" off (OLD), as they were
 * measured; rows 21-30 are today's default (21) and one setting changed
 * from it each (its parts off, the step-down turn, the upgrade age). */
#define OLD "cold_start_step_up: false, upgrade_age_turns: 0, step_down_after_turns: 0, "
static const char *const settings[] = {
    OLD "quality_gaps_from_cards: false",
    /* issue 19, first pass: the gaps alone (no lock trajectory) */
    OLD "card_gap_price_discount: 0, card_gap_keep_weight: 0, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.2, card_gap_keep_weight: 1, card_quality_gap_weight: 6, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.2, card_gap_keep_weight: 1, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.3, card_gap_keep_weight: 2, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.4, card_gap_keep_weight: 2, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.5, card_gap_keep_weight: 1, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 2, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 1, card_quality_gap_weight: 6, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.8, card_gap_keep_weight: 1, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 1, card_gap_keep_weight: 0, card_quality_gap_weight: 4, "
        "lock_escalation_weight: 0",
    /* second pass: the lock trajectory (the default is frontier-12) */
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 0, lock_escalation_weight: 0",
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 0, lock_escalation_weight: 0.5",
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 0, lock_escalation_weight: 1",
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 0.3, lock_escalation_weight: 0.5",
    OLD "card_gap_price_discount: 0.6, card_gap_keep_weight: 1, lock_escalation_weight: 0.5",
    OLD "card_gap_price_discount: 0.56, card_gap_keep_weight: 0, lock_escalation_weight: 0.5",
    OLD "card_gap_price_discount: 0.54, card_gap_keep_weight: 0, lock_escalation_weight: 0.5",
    OLD "card_gap_price_discount: 0.54, card_gap_keep_weight: 0, lock_escalation_weight: 1",
    OLD "card_gap_price_discount: 0.5, card_gap_keep_weight: 0, lock_escalation_weight: 0.5",
    OLD "card_gap_price_discount: 0.7, card_gap_keep_weight: 0, lock_escalation_weight: 0.5",
    /* third pass: start high, step down (the default is frontier-21) */
    "",
    "step_down_after_turns: 7",
    "step_down_after_turns: 8",
    "step_down_after_turns: 10",
    "step_down_after_turns: 12",
    "upgrade_age_turns: 0.5",
    "upgrade_age_turns: 4",
    "cold_start_step_up: false",
    "upgrade_age_turns: 0",
    "step_down_after_turns: 0",
};
#define N_SETTINGS (sizeof settings / sizeof settings[0])

static const char *const names[N_SETTINGS] = {
    "frontier-00", "frontier-01", "frontier-02", "frontier-03", "frontier-04", "frontier-05",
    "frontier-06", "frontier-07", "frontier-08", "frontier-09", "frontier-10", "frontier-11",
    "frontier-12", "frontier-13", "frontier-14", "frontier-15", "frontier-16", "frontier-17",
    "frontier-18", "frontier-19", "frontier-20", "frontier-21", "frontier-22", "frontier-23",
    "frontier-24", "frontier-25", "frontier-26", "frontier-27", "frontier-28", "frontier-29",
    "frontier-30",
};

size_t saar_frontier_count(void)
{
    return N_SETTINGS;
}

const char *saar_frontier_setting(size_t i)
{
    return i < N_SETTINGS ? settings[i] : NULL;
}

static int frontier_new(saar_policy_t *out, unsigned variant, char *err, size_t errlen)
{
    if (variant >= N_SETTINGS) {
        if (err && errlen) snprintf(err, errlen, "no frontier setting %u", variant);
        return -1;
    }
    if (saar_tether_policy_new_with(out, SAAR_TETHER_DEFAULTS, settings[variant], err, errlen))
        return -1;
    out->name = names[variant];
    return 0;
}

static saar_policy_entry_t entries[N_SETTINGS];

const saar_policy_entry_t *saar_frontier_entries(size_t *n)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        entries[i] = (saar_policy_entry_t){names[i], settings[i], frontier_new, (unsigned)i};
    *n = N_SETTINGS;
    return entries;
}

static const char *setting_of(const char *policy)
{
    for (size_t i = 0; i < N_SETTINGS; i++)
        if (!strcmp(policy, names[i])) return settings[i];
    return "";
}

/* The published reference session policy (BENCH_SAAR.md) and the goal. */
#define REF_SWITCHES 2011
#define REF_FAIR     72.76
#define REF_UNDER    39.9
#define REF_REFCUT   78.71
#define GOAL_FAIR    74.0
#define GOAL_UNDER   35.0

void saar_frontier_csv(const saar_results_t *r, buf_t *b)
{
    buf_puts(b, "policy,settings,switches,unsafe,fair_cost_cut_pct,under_served_pct,"
                "reference_cost_cut_pct\n");
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (!p->ran) continue;
        buf_printf(b, "%s,\"%s\",%ld,%ld,%.4f,%.4f,%.4f\n", p->name, setting_of(p->name),
                   p->summary.switches, p->summary.unsafe, p->summary.fair_cost_cut_pct,
                   p->summary.under_served_pct, p->summary.reference_cost_cut_pct);
    }
    buf_printf(b, "reference (published),\"\",%d,0,%.4f,%.4f,%.4f\n", REF_SWITCHES, REF_FAIR,
               REF_UNDER, REF_REFCUT);
}

/* plot area: x under-served 0..80 %, y fair cut 0..100 % */
#define W  720
#define H  480
#define L  70
#define R  30
#define T  40
#define B  60
#define XM 80.0
#define YM 100.0

static double px(double under)
{
    return L + (W - L - R) * (under < 0 ? 0 : under > XM ? XM : under) / XM;
}

static double py(double fair)
{
    double f = fair < 0 ? 0 : fair > YM ? YM : fair;
    return T + (H - T - B) * (1 - f / YM);
}

static void point(buf_t *b, double u, double f, const char *color, const char *label, int dy)
{
    buf_printf(b, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"4\" fill=\"%s\"/>\n", px(u), py(f), color);
    buf_printf(b,
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"%s\">%s (%.1f%%, "
               "%.1f%%)</text>\n",
               px(u) + 6, py(f) + dy, color, label, u, f);
}

void saar_frontier_svg(const saar_results_t *r, buf_t *b)
{
    buf_printf(b,
               "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
               "font-family=\"sans-serif\">\n<rect width=\"100%%\" height=\"100%%\" "
               "fill=\"white\"/>\n",
               W, H);
    buf_printf(b,
               "<text x=\"%d\" y=\"22\" font-size=\"14\">bench saar: under-served vs fair cost "
               "cut (%ld turns per policy)</text>\n",
               L, r->turns);
    /* axes and grid */
    for (int g = 0; g <= 100; g += 20) {
        buf_printf(b,
                   "<line x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"#ddd\"/>"
                   "<text x=\"%d\" y=\"%.1f\" font-size=\"10\" text-anchor=\"end\">%d%%</text>\n",
                   L, py(g), W - R, py(g), L - 6, py(g) + 3, g);
    }
    for (int g = 0; g <= 80; g += 10) {
        buf_printf(
            b,
            "<line x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" stroke=\"#ddd\"/>"
            "<text x=\"%.1f\" y=\"%d\" font-size=\"10\" text-anchor=\"middle\">%d%%</text>\n",
            px(g), T, px(g), H - B, px(g), H - B + 14, g);
    }
    buf_printf(b,
               "<text x=\"%d\" y=\"%d\" font-size=\"12\" text-anchor=\"middle\">under-served "
               "turns (lower is better)</text>\n",
               (L + W - R) / 2, H - 20);
    buf_printf(b,
               "<text x=\"16\" y=\"%d\" font-size=\"12\" transform=\"rotate(-90 16 %d)\" "
               "text-anchor=\"middle\">fair cost cut (higher is better)</text>\n",
               (T + H - B) / 2, (T + H - B) / 2);
    /* the goal corner: under-served <= 35 %, fair cut >= 74 % */
    buf_printf(b,
               "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"#2a2\" "
               "fill-opacity=\"0.08\" stroke=\"#2a2\" stroke-dasharray=\"4 3\"/>\n"
               "<text x=\"%.1f\" y=\"%.1f\" font-size=\"10\" fill=\"#2a2\">goal</text>\n",
               px(0), py(YM), px(GOAL_UNDER) - px(0), py(GOAL_FAIR) - py(YM), px(0) + 4,
               py(YM) + 12);
    for (size_t i = 0; i < r->n; i++) {
        const saar_policy_result_t *p = &r->policy[i];
        if (!p->ran || !strcmp(p->name, "prompt-level")) continue;
        bool fr = !strncmp(p->name, "frontier-", 9);
        point(b, p->summary.under_served_pct, p->summary.fair_cost_cut_pct, fr ? "#36c" : "#333",
              p->name, fr && (i % 2) ? 12 : -4);
    }
    point(b, REF_UNDER, REF_FAIR, "#c33", "reference (published)", 14);
    buf_puts(b, "</svg>\n");
}
