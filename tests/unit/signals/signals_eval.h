/* signals_eval.h - shared by the signal unit tests and tests/bench/bench_signals.c:
 * load the labelled sets under tests/data/signals/ and compute precision and
 * recall for the PII recognizers, the jailbreak pattern library and language
 * detection. Header-only (static functions); not thread-safe. */
#ifndef TETHER_TESTS_SIGNALS_EVAL_H
#define TETHER_TESTS_SIGNALS_EVAL_H
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals/jailbreak_patterns.h"
#include "signals/language_detect.h"
#include "signals/pii_recognizers.h"

typedef struct {
    size_t tp_pred, n_pred;   /* predictions that match a label / all predictions */
    size_t tp_label, n_label; /* labels found / all labels */
} sig_pr_t;

static inline double sig_precision(const sig_pr_t *p)
{
    return p->n_pred ? (double)p->tp_pred / (double)p->n_pred : 1.0;
}
static inline double sig_recall(const sig_pr_t *p)
{
    return p->n_label ? (double)p->tp_label / (double)p->n_label : 1.0;
}

typedef struct {
    cJSON **rows;
    size_t n;
} sig_set_t;

static inline void sig_set_free(sig_set_t *s)
{
    for (size_t k = 0; k < s->n; k++)
        cJSON_Delete(s->rows[k]);
    free(s->rows);
    s->rows = NULL;
    s->n = 0;
}

/* Load tests/data/signals/<name> (relative to $TETHER_SRC when set).
 * Returns 0, or -1 when the file is missing or a line is not a JSON object. */
static inline int sig_set_load(const char *name, sig_set_t *s)
{
    char path[1024];
    const char *root = getenv("TETHER_SRC");
    snprintf(path, sizeof path, "%s%stests/data/signals/%s", root ? root : "", root ? "/" : "",
             name);
    memset(s, 0, sizeof *s);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    char *line = NULL;
    size_t cap = 0, alloc = 0;
    ssize_t n;
    int rc = 0;
    while ((n = getline(&line, &cap, f)) > 0) {
        if (n <= 1) continue;
        cJSON *o = cJSON_Parse(line);
        if (!cJSON_IsObject(o)) {
            cJSON_Delete(o);
            rc = -1;
            break;
        }
        if (s->n == alloc) {
            alloc = alloc ? alloc * 2 : 256;
            s->rows = realloc(s->rows, alloc * sizeof *s->rows);
        }
        s->rows[s->n++] = o;
    }
    free(line);
    fclose(f);
    if (rc) sig_set_free(s);
    return rc;
}

static inline const char *sig_text(const cJSON *row)
{
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(row, "text");
    return cJSON_IsString(t) ? t->valuestring : "";
}

/* PII: a prediction (score >= threshold) is right when a labelled entity of
 * the same type overlaps it; a label is found when such a prediction
 * exists. pr has PII_TYPE_COUNT + 1 slots, the last one the total. */
static inline void sig_pii_eval(const sig_set_t *s, double threshold, sig_pr_t *pr, FILE *misses)
{
    memset(pr, 0, (PII_TYPE_COUNT + 1) * sizeof *pr);
    pii_entity_t ents[64];
    pii_opts_t opts = {0, threshold};
    for (size_t r = 0; r < s->n; r++) {
        const char *text = sig_text(s->rows[r]);
        size_t len = strlen(text);
        size_t ne = pii_scan(text, len, ents, 64, &opts);
        const cJSON *labels = cJSON_GetObjectItemCaseSensitive(s->rows[r], "entities");
        int nl = cJSON_GetArraySize(labels);
        size_t ls[16], ll[16];
        int lt[16];
        bool lfound[16] = {0};
        if (nl > 16) nl = 16;
        for (int k = 0; k < nl; k++) {
            const cJSON *e = cJSON_GetArrayItem(labels, k);
            const char *ty = cJSON_GetObjectItemCaseSensitive(e, "type")->valuestring;
            const char *v = cJSON_GetObjectItemCaseSensitive(e, "value")->valuestring;
            const char *at = strstr(text, v);
            lt[k] = pii_type_from_name(ty, strlen(ty));
            ls[k] = at ? (size_t)(at - text) : 0;
            ll[k] = strlen(v);
        }
        for (size_t j = 0; j < ne; j++) {
            bool ok = false;
            for (int k = 0; k < nl; k++) {
                if (lt[k] != (int)ents[j].type) continue;
                if (ents[j].start < ls[k] + ll[k] && ls[k] < ents[j].start + ents[j].len) {
                    ok = true;
                    lfound[k] = true;
                }
            }
            pr[ents[j].type].n_pred++;
            pr[ents[j].type].tp_pred += ok;
            if (!ok && misses)
                fprintf(misses, "FP %s %.2f [%.*s] in: %s\n", pii_type_name(ents[j].type),
                        ents[j].score, (int)ents[j].len, text + ents[j].start, text);
        }
        for (int k = 0; k < nl; k++) {
            if (lt[k] < 0) continue;
            pr[lt[k]].n_label++;
            pr[lt[k]].tp_label += lfound[k];
            if (!lfound[k] && misses)
                fprintf(misses, "FN %s [%.*s] in: %s\n", pii_type_name(lt[k]), (int)ll[k],
                        text + ls[k], text);
        }
    }
    for (int t = 0; t < PII_TYPE_COUNT; t++) {
        pr[PII_TYPE_COUNT].n_pred += pr[t].n_pred;
        pr[PII_TYPE_COUNT].tp_pred += pr[t].tp_pred;
        pr[PII_TYPE_COUNT].n_label += pr[t].n_label;
        pr[PII_TYPE_COUNT].tp_label += pr[t].tp_label;
    }
}

/* Jailbreak: positive when p >= threshold; labels "jailbreak" | "benign". */
static inline void sig_jb_eval(const sig_set_t *s, const jb_lib_t *lib, jb_scratch_t *scr,
                               double threshold, sig_pr_t *pr, FILE *misses)
{
    memset(pr, 0, sizeof *pr);
    for (size_t r = 0; r < s->n; r++) {
        const char *text = sig_text(s->rows[r]);
        const cJSON *l = cJSON_GetObjectItemCaseSensitive(s->rows[r], "label");
        bool is_jb = cJSON_IsString(l) && strcmp(l->valuestring, "jailbreak") == 0;
        jb_result_t res;
        jb_lib_score(lib, scr, text, strlen(text), &res);
        bool hit = res.p >= threshold;
        pr->n_pred += hit;
        pr->tp_pred += hit && is_jb;
        pr->n_label += is_jb;
        pr->tp_label += hit && is_jb;
        if (misses && hit != is_jb)
            fprintf(misses, "%s p=%.2f %s: %s\n", hit ? "FP" : "FN", res.p,
                    res.n_ids ? jb_lib_pattern_name(lib, res.ids[0]) : "-", text);
    }
}

/* Language: accuracy over rows {text, lang}; per-language counts optional. */
static inline void sig_lang_eval(const sig_set_t *s, size_t *correct, size_t *total, FILE *misses)
{
    *correct = *total = 0;
    for (size_t r = 0; r < s->n; r++) {
        const char *text = sig_text(s->rows[r]);
        const char *want = cJSON_GetObjectItemCaseSensitive(s->rows[r], "lang")->valuestring;
        char code[8];
        double conf;
        lang_detect(text, strlen(text), code, &conf);
        (*total)++;
        if (strcmp(code, want) == 0)
            (*correct)++;
        else if (misses)
            fprintf(misses, "want %s got %s (%.2f): %s\n", want, code, conf, text);
    }
}
#endif
