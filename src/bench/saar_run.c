/* saar_run.c - runs the `bench saar` matrix: for every (scenario, seed) it
 * generates the turns once, then replays them through each policy in order,
 * building each turn's real request (provider state is issued by the model
 * that policy put on the session), asking the policy, judging the choice
 * with the independent checker and tallying the metrics. The prompt-level
 * router always runs, as the baseline every cut is measured against. */
#include "bench/saar_run.h"
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const char saar_per_turn_csv_header[] =
    "scenario,seed,session,turn,phase,idle,demand,prompt_tokens,completion_tokens,base_model,"
    "policy,model,switched,verdict,reference_cost,fair_cost\n";

static const uint32_t default_seeds[SAAR_DEFAULT_N_SEEDS] = {20260530u, 20260531u, 20260532u,
                                                             20260533u, 20260534u};

void saar_results_free(saar_results_t *r)
{
    if (!r) return;
    for (size_t i = 0; i < r->n; i++)
        free(r->policy[i].by_scenario);
    free(r->policy);
    free(r->scenario_names);
    free(r->seeds);
    free(r->baseline_by_scenario);
    memset(r, 0, sizeof *r);
}

typedef struct live_policy {
    saar_policy_t p;
    int has_policy;
    saar_tally_t *tally;       /* whole matrix */
    saar_tally_t *by_scenario; /* [n_scenarios] */
} live_policy_t;

/* Requests of one session, built and scanned at most once per (turn, state
 * owner): only provider-state turns differ between policies, so most bodies
 * are shared by every policy, and the checker parses each body once. */
typedef struct session_cache {
    int T;
    saar_request_t *req; /* [T * SAAR_N_MODELS] */
    saar_check_t *facts; /* [T * SAAR_N_MODELS] */
    signed char *state;  /* 0 unbuilt, 1 built, -1 built but unparseable */
    uint64_t *clock;     /* [T] */
} session_cache_t;

static void cache_init(session_cache_t *c, int T)
{
    size_t n = (size_t)T * SAAR_N_MODELS;
    c->T = T;
    c->req = calloc(n, sizeof *c->req);
    c->facts = calloc(n, sizeof *c->facts);
    c->state = calloc(n, 1);
    c->clock = calloc((size_t)T, sizeof *c->clock);
    if (!c->req || !c->facts || !c->state || !c->clock) abort();
}

static void cache_deinit(session_cache_t *c)
{
    for (size_t i = 0; c->req && i < (size_t)c->T * SAAR_N_MODELS; i++)
        saar_request_deinit(&c->req[i]);
    free(c->req);
    free(c->facts);
    free(c->state);
    free(c->clock);
}

/* Start a session: forget its predecessor's bodies, lay out the clock. */
static void cache_begin(session_cache_t *c, const saar_turn_t *st)
{
    memset(c->state, 0, (size_t)c->T * SAAR_N_MODELS);
    uint64_t clock = 0;
    for (int t = 0; t < c->T; t++)
        c->clock[t] = clock = saar_turn_clock_ms(&st[t], clock);
}

static size_t cache_get(session_cache_t *c, const saar_turn_t *st, int t, int owner)
{
    size_t k = (size_t)t * SAAR_N_MODELS + (size_t)owner;
    if (!c->state[k]) {
        saar_request_build(&c->req[k], &st[t], t ? &st[t - 1] : NULL, owner, c->clock[t]);
        c->state[k] =
            saar_check_scan(c->req[k].body.data, c->req[k].body.len, &c->facts[k]) ? -1 : 1;
    }
    return k;
}

/* One session under one policy. */
static int run_session(live_policy_t *lp, int is_baseline, const saar_scenario_t *sc,
                       size_t sc_index, uint32_t seed, int s, const saar_turn_t *st,
                       session_cache_t *cache, FILE *csv, char *err, size_t errlen)
{
    saar_policy_t *p = &lp->p;
    int served = SAAR_QWEN3_8B; /* spec: every session starts as if on qwen3-8b */
    int ctx_prev = -1, prev_P = -1;
    for (int t = 0; t < cache->T; t++) {
        const saar_turn_t *turn = &st[t];
        size_t k = cache_get(cache, st, t, served);
        const saar_request_t *req = &cache->req[k];
        saar_turn_ctx_t ctx = {req->body.data,   req->body.len, req->headers,  req->n_headers,
                               req->base_scores, saar_models,   SAAR_N_MODELS, req->clock_ms,
                               ctx_prev,         turn->history};
        int m = p->choose(p->state, &ctx);
        if (m < 0 || m >= SAAR_N_MODELS)
            return saar_err(err, errlen, "policy '%s' returned %d at %s/%u sess-%03d turn %d",
                            p->name, m, sc->name, seed, s, t);
        saar_check_t chk = cache->facts[k];
        saar_check_judge(&chk, saar_models[served].name, saar_models[m].name);
        if (cache->state[k] < 0) chk.verdict = SAAR_SAFE;
        saar_outcome_t o = {m, served, prev_P, chk.verdict, is_baseline};
        saar_tally_add(lp->tally, turn, &o);
        saar_tally_add(&lp->by_scenario[sc_index], turn, &o);
        if (cache->state[k] < 0) {
            lp->tally->check_errors++;
            lp->by_scenario[sc_index].check_errors++;
        }
        if (csv)
            fprintf(csv, "%s,%u,sess-%03d,%d,%s,%d,%.6f,%d,%d,%s,%s,%s,%d,%s,%.8f,%.8f\n", sc->name,
                    seed, s, t, saar_phase_name(turn->phase), turn->is_idle, turn->demand,
                    turn->prompt_tokens, turn->completion_tokens,
                    saar_models[turn->base_model].name, p->name, saar_models[m].name, m != served,
                    saar_verdict_name(chk.verdict), saar_reference_cost(turn, &o),
                    saar_fair_cost(turn, &o));
        served = m;
        ctx_prev = m;
        prev_P = turn->prompt_tokens;
    }
    return 0;
}

int saar_run(const saar_options_t *o, saar_results_t *out, char *err, size_t errlen)
{
    memset(out, 0, sizeof *out);
    const saar_scenario_t *scs = o->scenarios ? o->scenarios : saar_builtin_scenarios;
    size_t nsc = o->scenarios ? o->n_scenarios : SAAR_N_BUILTIN;
    const uint32_t *seeds = o->seeds ? o->seeds : default_seeds;
    size_t nseeds = o->seeds ? o->n_seeds : SAAR_DEFAULT_N_SEEDS;
    int sessions = o->sessions > 0 ? o->sessions : SAAR_DEFAULT_SESSIONS;
    int T = o->turns > 0 ? o->turns : SAAR_DEFAULT_TURNS;
    if (nsc == 0 || nseeds == 0) return saar_err(err, errlen, "no scenario or no seed to run");
    if (sessions > 100000 || T > 10000 || (long)sessions * T > 5000000L)
        return saar_err(err, errlen,
                        "too large: at most 100000 sessions, 10000 turns per session "
                        "and 5000000 turns per (scenario, seed)");
    for (size_t i = 0; i < nsc; i++)
        if (saar_scenario_validate(&scs[i], err, errlen)) return -1;

    /* Resolve the policy list: the registry, with extra entries replacing
     * same-named ones or appended. */
    size_t nreg;
    const saar_policy_entry_t *reg = saar_policy_registry(&nreg);
    size_t nall = nreg + o->n_extra_policies;
    const saar_policy_entry_t **all = calloc(nall ? nall : 1, sizeof *all);
    if (!all) abort();
    size_t na = 0;
    for (size_t i = 0; i < nreg; i++)
        all[na++] = &reg[i];
    for (size_t i = 0; i < o->n_extra_policies; i++) {
        const saar_policy_entry_t *x = &o->extra_policies[i];
        size_t k = 0;
        while (k < na && strcmp(all[k]->name, x->name))
            k++;
        if (k == na) na++;
        all[k] = x;
    }
    size_t np = o->policies ? o->n_policies : na;
    if (np == 0) {
        free(all);
        return saar_err(err, errlen, "no policy to run");
    }
    const saar_policy_entry_t **entries = calloc(np, sizeof *entries);
    if (!entries) abort();
    for (size_t i = 0; i < np; i++) {
        entries[i] = NULL;
        if (!o->policies) entries[i] = all[i];
        for (size_t k = 0; o->policies && k < na && !entries[i]; k++)
            if (o->policies[i] && !strcmp(all[k]->name, o->policies[i])) entries[i] = all[k];
        if (!entries[i]) {
            char known[512] = "";
            for (size_t k = 0; k < na; k++)
                snprintf(known + strlen(known), sizeof known - strlen(known), "%s%s", k ? ", " : "",
                         all[k]->name);
            saar_err(err, errlen, "unknown policy '%s' (known: %s)",
                     o->policies[i] ? o->policies[i] : "(null)", known);
            free(entries);
            free(all);
            return -1;
        }
        for (size_t k = 0; k < i; k++)
            if (entries[k] == entries[i]) {
                saar_err(err, errlen, "policy '%s' listed twice", entries[i]->name);
                free(entries);
                free(all);
                return -1;
            }
    }
    free(all);

    out->n_scenarios = nsc;
    out->scenario_names = calloc(nsc, sizeof *out->scenario_names);
    out->n_seeds = nseeds;
    out->seeds = calloc(nseeds, sizeof *out->seeds);
    out->baseline_by_scenario = calloc(nsc, sizeof *out->baseline_by_scenario);
    out->n = np;
    out->policy = calloc(np, sizeof *out->policy);
    if (!out->scenario_names || !out->seeds || !out->baseline_by_scenario || !out->policy) abort();
    for (size_t i = 0; i < nsc; i++) {
        memcpy(out->scenario_names[i], scs[i].name, SAAR_NAME_MAX);
        out->scenario_names[i][SAAR_NAME_MAX - 1] = 0;
    }
    memcpy(out->seeds, seeds, nseeds * sizeof *seeds);
    out->sessions = sessions;
    out->turns_per_session = T;

    /* live[0] is the baseline; live[1 + i] is the i-th listed policy. A listed
     * prompt-level shares the baseline's tallies (and its per-turn rows)
     * instead of running twice. */
    live_policy_t *live = calloc(np + 1, sizeof *live);
    if (!live) abort();
    int rc = 0, baseline_listed = 0;
    live[0].tally = &out->baseline;
    live[0].by_scenario = out->baseline_by_scenario;
    saar_policy_prompt_level_new(&live[0].p, 0, err, errlen);
    live[0].has_policy = 1;
    for (size_t i = 0; i < np && !rc; i++) {
        saar_policy_result_t *pr = &out->policy[i];
        snprintf(pr->name, sizeof pr->name, "%s", entries[i]->name);
        pr->by_scenario = calloc(nsc, sizeof *pr->by_scenario);
        if (!pr->by_scenario) abort();
        live[1 + i].tally = &pr->tally;
        live[1 + i].by_scenario = pr->by_scenario;
        if (!strcmp(entries[i]->name, "prompt-level")) {
            pr->ran = 1;
            baseline_listed = 1;
            continue;
        }
        if (!entries[i]->factory) {
            snprintf(pr->skip_reason, sizeof pr->skip_reason,
                     "not registered: %s is not built yet (issue 5); no figures reported",
                     entries[i]->about);
            continue;
        }
        char perr_buf[200] = "";
        if (entries[i]->factory(&live[1 + i].p, entries[i]->variant, perr_buf, sizeof perr_buf)) {
            rc = saar_err(err, errlen, "policy '%s': %s", entries[i]->name, perr_buf);
            break;
        }
        live[1 + i].has_policy = 1;
        pr->ran = 1;
    }
    free(entries);

    long per_policy = (long)nsc * (long)nseeds * sessions * T;
    int nrunning = 0;
    for (size_t i = 0; i <= np; i++)
        nrunning += live[i].has_policy;
    long total = per_policy * nrunning, done = 0;
    out->turns = per_policy;

    saar_turn_t *turns = rc ? NULL : malloc((size_t)sessions * T * sizeof *turns);
    if (!rc && !turns) abort();
    session_cache_t cache;
    cache_init(&cache, T);
    if (o->per_turn_csv && !rc) fputs(saar_per_turn_csv_header, o->per_turn_csv);
    for (size_t sc = 0; sc < nsc && !rc; sc++) {
        for (size_t k = 0; k < nseeds && !rc; k++) {
            saar_generate(&scs[sc], seeds[k], sessions, T, turns);
            saar_run_info_t info = {
                scs[sc].name,       seeds[k], sessions, T, scs[sc].remaining_turn_prior,
                SAAR_IDLE_TIMEOUT_S};
            for (size_t i = 0; i <= np && !rc; i++) {
                saar_policy_t *p = &live[i].p;
                if (live[i].has_policy && p->begin_run && p->begin_run(p->state, &info))
                    rc = saar_err(err, errlen, "policy '%s' failed to start run %s/%u", p->name,
                                  scs[sc].name, seeds[k]);
            }
            for (int s = 0; s < sessions && !rc; s++) {
                const saar_turn_t *st = &turns[(size_t)s * T];
                cache_begin(&cache, st);
                for (size_t i = 0; i <= np && !rc; i++) {
                    if (!live[i].has_policy) continue;
                    FILE *csv = i || baseline_listed ? o->per_turn_csv : NULL;
                    rc = run_session(&live[i], i == 0, &scs[sc], sc, seeds[k], s, st, &cache, csv,
                                     err, errlen);
                    done += T;
                }
                if (o->progress && !rc) o->progress(o->progress_ud, done, total);
            }
        }
    }
    cache_deinit(&cache);
    free(turns);
    for (size_t i = 0; i <= np; i++)
        if (live[i].has_policy && live[i].p.free) live[i].p.free(live[i].p.state);
    free(live);
    if (rc) {
        saar_results_free(out);
        return -1;
    }
    for (size_t i = 0; i < np; i++) {
        saar_policy_result_t *pr = &out->policy[i];
        if (!strcmp(pr->name, "prompt-level")) {
            pr->tally = out->baseline;
            memcpy(pr->by_scenario, out->baseline_by_scenario, nsc * sizeof *pr->by_scenario);
        }
        if (pr->ran) saar_summarize(&pr->tally, &out->baseline, &pr->summary);
    }
    return 0;
}
