/* eval_dataset.c - `tether eval --dataset FILE.jsonl --config F [--json]`:
 * run every line of a labelled dataset through the routing pipeline
 * (route_eval, the code `serve` runs, offline) and score the signal rules
 * that fired against the labels: TP/FP/FN/TN, precision, recall and F1 per
 * rule, and micro-averaged per family. Line shapes (docs/signals.md
 * "Evaluating signals"): {"text" | "messages", "expect": {family: [rule..]}}
 * and the shipped sets' {"label": "jailbreak"|..}, {"entities": [..]},
 * {"lang": "xx"}. A line scores only the families it labels. */
#include "route/fetch.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/log.h"
#include "http/upstream.h"
#include "route/eval.h"
#include "select/select.h"
#include <cjson/cJSON.h>
#include <event2/event.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct ds_rule {
    int family;
    char *name;
    long tp, fp, fn;
} ds_rule_t;

typedef struct ds_score {
    ds_rule_t *rules;
    size_t n, cap;
    long lines_of[CFG_SIG_MAX]; /* lines that label each family */
} ds_score_t;

#define DS_MAX_NAMES 64

typedef struct ds_names {
    const char *v[DS_MAX_NAMES];
    size_t n;
} ds_names_t;

static void names_add(ds_names_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name)) return;
    if (s->n < DS_MAX_NAMES) s->v[s->n++] = name;
}

static bool names_has(const ds_names_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->v[i], name)) return true;
    return false;
}

static ds_rule_t *rule_of(ds_score_t *sc, int fam, const char *name)
{
    for (size_t i = 0; i < sc->n; i++)
        if (sc->rules[i].family == fam && !strcmp(sc->rules[i].name, name)) return &sc->rules[i];
    if (sc->n == sc->cap) {
        sc->cap = sc->cap ? sc->cap * 2 : 16;
        sc->rules = realloc(sc->rules, sc->cap * sizeof *sc->rules);
    }
    ds_rule_t *r = &sc->rules[sc->n++];
    *r = (ds_rule_t){.family = fam, .name = strdup(name)};
    return r;
}

/* The labels of one line: expected rule names per family it labels. */
typedef struct ds_expect {
    bool labels[CFG_SIG_MAX];
    ds_names_t want[CFG_SIG_MAX];
} ds_expect_t;

static int parse_expect(const cJSON *j, ds_expect_t *e, char *err, size_t errlen)
{
    memset(e, 0, sizeof *e);
    const cJSON *ex = cJSON_GetObjectItem(j, "expect");
    if (ex) {
        if (!cJSON_IsObject(ex)) {
            snprintf(err, errlen, "\"expect\" must be an object {family: [rule, ...]}");
            return -1;
        }
        const cJSON *f;
        cJSON_ArrayForEach(f, ex)
        {
            int fam = cfg_signal_family_by_name(f->string);
            if (fam < 0 || fam >= CFG_SIG_MAX) {
                snprintf(err, errlen, "unknown signal family \"%s\"", f->string);
                return -1;
            }
            if (!cJSON_IsArray(f)) {
                snprintf(err, errlen, "expect.%s must be an array of rule names", f->string);
                return -1;
            }
            e->labels[fam] = true;
            const cJSON *r;
            cJSON_ArrayForEach(r, f)
            {
                if (cJSON_IsString(r)) names_add(&e->want[fam], r->valuestring);
            }
        }
        return 0;
    }
    /* the shipped sets' shapes */
    const cJSON *label = cJSON_GetObjectItem(j, "label"),
                *ents = cJSON_GetObjectItem(j, "entities"), *lang = cJSON_GetObjectItem(j, "lang");
    if (cJSON_IsString(label)) e->labels[CFG_SIG_JAILBREAK] = true; /* "*": every rule */
    if (cJSON_IsString(label) && !strcmp(label->valuestring, "jailbreak"))
        names_add(&e->want[CFG_SIG_JAILBREAK], "*");
    if (cJSON_IsArray(ents)) {
        e->labels[CFG_SIG_PII] = true;
        if (cJSON_GetArraySize(ents) > 0) names_add(&e->want[CFG_SIG_PII], "*");
    }
    if (cJSON_IsString(lang)) {
        e->labels[CFG_SIG_LANGUAGE] = true;
        names_add(&e->want[CFG_SIG_LANGUAGE], lang->valuestring);
    }
    for (int f = 0; f < CFG_SIG_MAX; f++)
        if (e->labels[f]) return 0;
    snprintf(err, errlen, "no labels (\"expect\", \"label\", \"entities\" or \"lang\")");
    return -1;
}

static const char *line_body(const cJSON *j, arena_t *a)
{
    const cJSON *text = cJSON_GetObjectItem(j, "text"), *msgs = cJSON_GetObjectItem(j, "messages");
    if (cJSON_IsString(text)) return route_eval_build_prompt(a, text->valuestring, "auto");
    if (!cJSON_IsArray(msgs)) return NULL;
    char *m = cJSON_PrintUnformatted(msgs);
    if (!m) return NULL;
    const char *body = arena_sprintf(a, "{\"model\":\"auto\",\"messages\":%s}", m);
    cJSON_free(m);
    return body;
}

/* Score one routed line: for every family it labels, the rules that fired
 * (language: also the detected code) against the expected ones. */
static void score_line(ds_score_t *sc, const ds_expect_t *e, const route_plan_t *p)
{
    for (int f = 0; f < CFG_SIG_MAX; f++) {
        if (!e->labels[f]) continue;
        sc->lines_of[f]++;
        ds_names_t got = {0}, all = {0};
        for (size_t i = 0; p->ran_signals && i < p->sig.n; i++) {
            const sig_result_t *r = &p->sig.items[i];
            if (!r->rule || (int)r->rule->family != f || !r->rule->name) continue;
            names_add(&all, r->rule->name);
            if (r->matched) names_add(&got, r->rule->name);
        }
        if (f == CFG_SIG_LANGUAGE && p->ran_signals && p->sig.family_label[f]) {
            names_add(&got, p->sig.family_label[f]);
            names_add(&all, p->sig.family_label[f]);
        }
        ds_names_t want = {0};
        for (size_t i = 0; i < e->want[f].n; i++) {
            if (!strcmp(e->want[f].v[i], "*")) {
                for (size_t k = 0; k < all.n; k++)
                    names_add(&want, all.v[k]);
            } else {
                names_add(&want, e->want[f].v[i]);
                names_add(&all, e->want[f].v[i]);
            }
        }
        for (size_t k = 0; k < all.n; k++) {
            ds_rule_t *r = rule_of(sc, f, all.v[k]);
            bool w = names_has(&want, all.v[k]), g = names_has(&got, all.v[k]);
            if (w && g)
                r->tp++;
            else if (g)
                r->fp++;
            else if (w)
                r->fn++;
        }
    }
}

static double ratio(long a, long b)
{
    return b ? (double)a / (double)b : -1;
}

static void put_metric(buf_t *o, bool json, double v)
{
    if (json)
        v < 0 ? buf_puts(o, "null") : buf_printf(o, "%.3f", v);
    else
        v < 0 ? buf_printf(o, " %9s", "-") : buf_printf(o, " %9.3f", v);
}

static void put_row(buf_t *o, bool json, const char *fam, const char *rule, long tp, long fp,
                    long fn, long tn)
{
    double pr = ratio(tp, tp + fp), rc = ratio(tp, tp + fn);
    double f1 = (pr < 0 || rc < 0) ? -1 : (pr + rc > 0 ? 2 * pr * rc / (pr + rc) : 0);
    if (json) {
        buf_puts(o, "{\"family\":");
        buf_json_str(o, fam, strlen(fam));
        if (rule) {
            buf_puts(o, ",\"rule\":");
            buf_json_str(o, rule, strlen(rule));
        }
        buf_printf(o, ",\"tp\":%ld,\"fp\":%ld,\"fn\":%ld,\"tn\":%ld,\"precision\":", tp, fp, fn,
                   tn);
        put_metric(o, true, pr);
        buf_puts(o, ",\"recall\":");
        put_metric(o, true, rc);
        buf_puts(o, ",\"f1\":");
        put_metric(o, true, f1);
        buf_putc(o, '}');
        return;
    }
    buf_printf(o, "%-14s %-20s %6ld %6ld %6ld %6ld", fam, rule ? rule : "(all rules)", tp, fp, fn,
               tn);
    put_metric(o, false, pr);
    put_metric(o, false, rc);
    put_metric(o, false, f1);
    buf_putc(o, '\n');
}

static void report(buf_t *o, const ds_score_t *sc, const char *path, long lines, bool json)
{
    if (json) {
        buf_puts(o, "{\"dataset\":");
        buf_json_str(o, path, strlen(path));
        buf_printf(o, ",\"lines\":%ld,\"families\":[", lines);
    } else {
        buf_printf(o, "dataset %s: %ld lines\n", path, lines);
        buf_printf(o, "%-14s %-20s %6s %6s %6s %6s %9s %9s %9s\n", "family", "rule", "TP", "FP",
                   "FN", "TN", "precision", "recall", "F1");
    }
    bool first_fam = true;
    for (int f = 0; f < CFG_SIG_MAX; f++) {
        if (!sc->lines_of[f]) continue;
        long n = sc->lines_of[f], tp = 0, fp = 0, fn = 0, tn = 0;
        for (size_t i = 0; i < sc->n; i++) {
            const ds_rule_t *r = &sc->rules[i];
            if (r->family != f) continue;
            tp += r->tp, fp += r->fp, fn += r->fn, tn += n - r->tp - r->fp - r->fn;
        }
        const char *fam = cfg_signal_family_name((cfg_signal_family_t)f);
        if (json) buf_puts(o, first_fam ? "" : ",");
        first_fam = false;
        put_row(o, json, fam, NULL, tp, fp, fn, tn);
        if (json) {
            o->len--; /* reopen the family object for its rules */
            buf_printf(o, ",\"lines\":%ld,\"rules\":[", n);
        }
        bool first = true;
        for (size_t i = 0; i < sc->n; i++) {
            const ds_rule_t *r = &sc->rules[i];
            if (r->family != f) continue;
            if (json) buf_puts(o, first ? "" : ",");
            first = false;
            put_row(o, json, fam, r->name, r->tp, r->fp, r->fn, n - r->tp - r->fp - r->fn);
        }
        if (json) buf_puts(o, "]}");
    }
    if (json) buf_puts(o, "]}\n");
}

int cli_eval_dataset(const char *config, const char *path, bool json)
{
    tlog_set_level(TLOG_WARN);
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "tether eval: cannot read %s\n", path);
        return 1;
    }
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_load_opts_t lo = {0};
    cfg_t *cfg = cfg_load_file(config, &lo, &d);
    cfg_diags_sort(&d);
    cfg_diags_print(stderr, &d);
    cfg_diags_free(&d);
    if (!cfg) {
        fclose(in);
        return 1;
    }
    cfg_diags_init(&d);
    sig_engine_t *sig = sig_engine_new(cfg, &d);
    cfg_diags_print(stderr, &d);
    cfg_diags_free(&d);
    if (!sig) {
        fclose(in);
        cfg_free(cfg);
        return 1;
    }
    sel_state_t *sel = sel_state_new();
    sel_embedder_t emb = {0};
    route_env_t env = {.sig = sig, .sel = sel};
    if (route_embedder_of(sig, &emb)) env.embedder = &emb;
    /* external classifiers and the remote embedder are called as serve
     * calls them, on a loop of our own (unreachable: the rule falls back) */
    struct event_base *base = event_base_new();
    hup_pools_t *pools = base ? hup_pools_new(base, true) : NULL;
    env.cls = pools ? fetch_cls_client_new(base, pools) : NULL;
    ds_score_t sc = {0};
    arena_t a;
    arena_init(&a, 65536);
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    long lineno = 0, lines = 0;
    int rc = 0;
    while ((len = getline(&line, &cap, in)) != -1) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' '))
            line[--len] = 0;
        if (len == 0) continue;
        arena_reset(&a);
        char err[256] = "";
        cJSON *j = cJSON_ParseWithLength(line, (size_t)len);
        ds_expect_t e;
        const char *body = NULL;
        if (!cJSON_IsObject(j))
            snprintf(err, sizeof err, "not a JSON object");
        else if (parse_expect(j, &e, err, sizeof err) == 0 && !(body = line_body(j, &a)))
            snprintf(err, sizeof err, "needs \"text\" (a string) or \"messages\" (an array)");
        route_plan_t plan;
        route_eval_in_t ri = {.cfg = cfg, .env = &env, .body = body, .base = env.cls ? base : NULL};
        if (body) {
            ri.body_len = strlen(body);
            route_eval(&ri, &a, &plan, err, sizeof err);
        }
        if (!err[0]) score_line(&sc, &e, &plan); /* e points into j */
        cJSON_Delete(j);
        if (err[0]) {
            fprintf(stderr, "tether eval: %s:%ld: %s\n", path, lineno, err);
            rc = 1;
            break;
        }
        lines++;
    }
    free(line);
    fclose(in);
    if (rc == 0) {
        buf_t o = BUF_INIT;
        report(&o, &sc, path, lines, json);
        fwrite(o.data, 1, o.len, stdout);
        buf_free(&o);
    }
    for (size_t i = 0; i < sc.n; i++)
        free(sc.rules[i].name);
    free(sc.rules);
    arena_deinit(&a);
    if (env.cls) fetch_cls_client_free(env.cls);
    if (pools) hup_pools_free(pools);
    if (base) event_base_free(base);
    sel_state_free(sel);
    sig_engine_free(sig);
    cfg_free(cfg);
    return rc;
}
