/* state_elo.c - elo ratings per (decision, model) and their update from
 * POST /v1/router/feedback (good/bad against the field, win/loss/tie
 * against another candidate), and the hooks that persist and share them
 * (sel_elo_each, sel_elo_restore, the deltas of a verdict). */
#include "select/state_internal.h"
#include "decision/cfgnode.h"
#include <math.h>

/* Caller holds mu. */
static elo_ent_t *elo_get(sel_state_t *st, const char *decision, const char *model, double initial)
{
    for (size_t i = 0; i < st->n_elo; i++)
        if (!strcmp(st->elo[i].decision, decision) && !strcmp(st->elo[i].model, model))
            return &st->elo[i];
    st->elo = sel_grow(st->elo, &st->cap_elo, st->n_elo + 1, sizeof *st->elo);
    elo_ent_t *e = &st->elo[st->n_elo++];
    e->decision = sel_xstrdup(decision);
    e->model = sel_xstrdup(model);
    e->rating = initial;
    return e;
}

double sel_elo_rating(sel_state_t *st, const char *decision, const char *model, double initial)
{
    if (!st || !decision || !model) return initial;
    pthread_mutex_lock(&st->mu);
    double r = initial;
    for (size_t i = 0; i < st->n_elo; i++)
        if (!strcmp(st->elo[i].decision, decision) && !strcmp(st->elo[i].model, model)) {
            r = st->elo[i].rating;
            break;
        }
    pthread_mutex_unlock(&st->mu);
    return r;
}

void sel_elo_set(sel_state_t *st, const char *decision, const char *model, double rating)
{
    if (!st || !decision || !model) return;
    pthread_mutex_lock(&st->mu);
    elo_get(st, decision, model, rating)->rating = rating;
    pthread_mutex_unlock(&st->mu);
}

bool sel_elo_restore(sel_state_t *st, const char *decision, const char *model, double rating)
{
    if (!st || !decision || !*decision || !model || !*model || !isfinite(rating)) return false;
    pthread_mutex_lock(&st->mu);
    bool ok = st->n_elo < SEL_ELO_MAX;
    for (size_t i = 0; !ok && i < st->n_elo; i++)
        ok = !strcmp(st->elo[i].decision, decision) && !strcmp(st->elo[i].model, model);
    if (ok) elo_get(st, decision, model, rating)->rating = rating;
    pthread_mutex_unlock(&st->mu);
    return ok;
}

void sel_elo_each(sel_state_t *st, sel_elo_each_fn cb, void *ud)
{
    if (!st || !cb) return;
    pthread_mutex_lock(&st->mu);
    for (size_t i = 0; i < st->n_elo; i++)
        cb(ud, st->elo[i].decision, st->elo[i].model, st->elo[i].rating);
    pthread_mutex_unlock(&st->mu);
}

bool sel_feedback_parse(const char *s, sel_feedback_t *out)
{
    static const char *const names[] = {"good", "bad", "win", "loss", "tie"};
    for (int i = 0; s && i < 5; i++)
        if (!strcmp(s, names[i])) {
            *out = (sel_feedback_t)i;
            return true;
        }
    return false;
}

static bool is_candidate(const cfg_decision_t *d, const char *model)
{
    for (size_t i = 0; model && i < d->n_model_refs; i++)
        if (d->model_refs[i].model && !strcmp(d->model_refs[i].model, model)) return true;
    return false;
}

static double expected(double r, double opp)
{
    return 1.0 / (1.0 + pow(10.0, (opp - r) / 400.0));
}

int sel_elo_feedback(sel_state_t *st, const cfg_t *cfg, const cfg_decision_t *d, const char *model,
                     sel_feedback_t v, const char *other, const char **err)
{
    return sel_elo_feedback_deltas(st, cfg, d, model, v, other, err, NULL, NULL);
}

int sel_elo_feedback_deltas(sel_state_t *st, const cfg_t *cfg, const cfg_decision_t *d,
                            const char *model, sel_feedback_t v, const char *other,
                            const char **err, sel_elo_delta_t out[2], size_t *n_out)
{
    if (n_out) *n_out = 0;
    static const char *e_model = "model is not a candidate of the decision";
    static const char *e_other = "other is not another candidate of the decision";
    if (!st || !d || !is_candidate(d, model)) {
        if (err) *err = e_model;
        return -1;
    }
    bool pairwise = v == SEL_FB_WIN || v == SEL_FB_LOSS || v == SEL_FB_TIE;
    if (pairwise && (!is_candidate(d, other) || !strcmp(other, model))) {
        if (err) *err = e_other;
        return -1;
    }
    double k = dec_cfg_num(d->algorithm_block, "k_factor", 32.0);
    double init = sel_elo_initial(cfg, d, model);
    pthread_mutex_lock(&st->mu);
    elo_ent_t *me = elo_get(st, d->name, model, init);
    if (pairwise) {
        elo_ent_t *op = elo_get(st, d->name, other, sel_elo_initial(cfg, d, other));
        me = elo_get(st, d->name, model, init); /* the table may have moved */
        double s = v == SEL_FB_WIN ? 1.0 : v == SEL_FB_LOSS ? 0.0 : 0.5;
        double ea = expected(me->rating, op->rating);
        double dm = k * (s - ea), dop = k * ((1.0 - s) - (1.0 - ea));
        me->rating += dm;
        op->rating += dop;
        if (out && n_out) {
            out[0] = (sel_elo_delta_t){model, dm, init};
            out[1] = (sel_elo_delta_t){other, dop, sel_elo_initial(cfg, d, other)};
            *n_out = 2;
        }
    } else {
        double sum = 0;
        size_t n = 0;
        for (size_t i = 0; i < d->n_model_refs; i++) {
            const char *m = d->model_refs[i].model;
            if (!m || !strcmp(m, model)) continue;
            sum += elo_get(st, d->name, m, sel_elo_initial(cfg, d, m))->rating;
            n++;
        }
        me = elo_get(st, d->name, model, init);
        if (n) {
            double s = v == SEL_FB_GOOD ? 1.0 : 0.0;
            double dm = k * (s - expected(me->rating, sum / (double)n));
            me->rating += dm;
            if (out && n_out) {
                out[0] = (sel_elo_delta_t){model, dm, init};
                *n_out = 1;
            }
        }
    }
    pthread_mutex_unlock(&st->mu);
    return 0;
}
