/* classify_parse.c - what route/fetch_classify.c sends and reads, without I/O:
 * vLLM classification replies (data[i].label, data[i].probs), vLLM pooling
 * replies (data[i].data: a classification model's pooled probabilities or
 * logits), vLLM score replies (data[i].score per label text), guard-model
 * chat replies ("safe" / "unsafe\nS1"), and the input window of a long text
 * (head, middle and tail samples). Pure functions, fuzzed by
 * tests/fuzz/fuzz_classify.c. A /classify reply is first offered to the
 * one-pass reader (classify_fast.c); this file's cJSON parse decides what
 * it declines. */
#include "json/num.h"
#include "signals/classify.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static bool in_list(const cfg_strlist_t *l, const char *s, size_t n)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == n && !strncasecmp(l->v[i], s, n)) return true;
    return false;
}

static size_t utf8_back(const char *s, size_t i)
{
    while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
        i--;
    return i;
}

size_t sig_cls_window(const char *s, size_t n, size_t max_chars, char *out)
{
    if (n <= max_chars) {
        memcpy(out, s, n);
        return n;
    }
    /* three samples of a third each, separated by a newline */
    size_t part = max_chars > 6 ? (max_chars - 2) / 3 : 1, o = 0;
    size_t starts[3] = {0, n / 2 - part / 2, n - part};
    for (int k = 0; k < 3; k++) {
        size_t a = utf8_back(s, starts[k]), b = a + part;
        if (b >= n)
            b = n;
        else
            b = utf8_back(s, b);
        if (b < a) b = a;
        if (k) out[o++] = '\n';
        memcpy(out + o, s + a, b - a);
        o += b - a;
    }
    return o;
}

/* One data[] entry: its label and the probabilities; positive is the sum
 * over positive_labels (by position in labels[] when probs line up, else by
 * the label alone). */
static int one_entry(const cfg_classifier_t *k, const cJSON *d, const char **label, double *score,
                     double *positive)
{
    const cJSON *jl = cJSON_GetObjectItemCaseSensitive(d, "label");
    const cJSON *jp = cJSON_GetObjectItemCaseSensitive(d, "probs");
    int np = cJSON_IsArray(jp) ? cJSON_GetArraySize(jp) : 0;
    double best = -1;
    int besti = -1, i = 0;
    for (const cJSON *p = jp ? jp->child : NULL; p; p = p->next, i++) {
        if (!cJSON_IsNumber(p) || p->valuedouble < 0 || p->valuedouble > 1) return -1;
        if (p->valuedouble > best) {
            best = p->valuedouble;
            besti = i;
        }
    }
    /* labels[] lined up with probs names the classes (so operators may
     * rename a model's id2label); else the reply's label */
    if (besti >= 0 && np > 0 && (size_t)np == k->labels.n)
        *label = k->labels.v[besti];
    else if (cJSON_IsString(jl))
        *label = jl->valuestring;
    else
        return -1;
    *score = best >= 0 ? best : 1.0;
    bool lined_up = np > 0 && (size_t)np == k->labels.n;
    double pos = 0;
    if (lined_up && k->positive_labels.n) {
        i = 0;
        for (const cJSON *p = jp->child; p; p = p->next, i++)
            if (in_list(&k->positive_labels, k->labels.v[i], strlen(k->labels.v[i])))
                pos += p->valuedouble;
    } else {
        bool is_pos = in_list(&k->positive_labels, *label, strlen(*label));
        pos = is_pos ? *score : 1.0 - *score;
    }
    *positive = pos < 0 ? 0 : pos > 1 ? 1 : pos;
    return 0;
}

int sig_cls_parse_classify(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                           sig_cls_out_t *out)
{
    if (sig_cls_classify_fast(k, body, len, a, out)) return 0;
    return sig_cls_parse_classify_tree(k, body, len, a, out);
}

int sig_cls_parse_classify_tree(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                                sig_cls_out_t *out)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    int rc = -1;
    if (!cJSON_IsArray(data) || !data->child) goto out;
    /* several inputs (chunks): the most positive one speaks for the text */
    double best_pos = -1;
    for (const cJSON *d = data->child; d; d = d->next) {
        const char *label;
        double score, pos;
        if (!cJSON_IsObject(d) || one_entry(k, d, &label, &score, &pos) != 0) goto out;
        if (pos > best_pos) {
            best_pos = pos;
            out->label = arena_strdup(a, label);
            out->score = score;
            out->positive = pos;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int sig_cls_parse_guard(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                        sig_cls_out_t *out)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *ch = cJSON_GetObjectItemCaseSensitive(root, "choices");
    const cJSON *msg = cJSON_IsArray(ch) && ch->child
                           ? cJSON_GetObjectItemCaseSensitive(ch->child, "message")
                           : NULL;
    const cJSON *ct = cJSON_GetObjectItemCaseSensitive(msg, "content");
    int rc = -1;
    if (!cJSON_IsString(ct)) goto out;
    /* first line: the verdict; second line: categories ("S1,S3") */
    const char *s = ct->valuestring;
    while (isspace((unsigned char)*s))
        s++;
    size_t l1 = strcspn(s, "\r\n");
    while (l1 && isspace((unsigned char)s[l1 - 1]))
        l1--;
    if (!l1) goto out;
    const char *s2 = s + strcspn(s, "\r\n");
    while (isspace((unsigned char)*s2))
        s2++;
    size_t l2 = strcspn(s2, "\r\n,");
    while (l2 && isspace((unsigned char)s2[l2 - 1]))
        l2--;
    bool unsafe = l1 == 6 && !strncasecmp(s, "unsafe", 6);
    bool safe = l1 == 4 && !strncasecmp(s, "safe", 4);
    bool pos;
    if (unsafe || safe) {
        pos = unsafe;
        out->label = unsafe && l2 ? arena_strndup(a, s2, l2) : arena_strndup(a, s, l1);
    } else if (k->labels.n && in_list(&k->labels, s, l1)) {
        pos = in_list(&k->positive_labels, s, l1);
        out->label = arena_strndup(a, s, l1);
    } else {
        goto out; /* neither a verdict nor a known label */
    }
    if (!pos && k->positive_labels.n && out->label)
        pos = in_list(&k->positive_labels, out->label, strlen(out->label));
    out->score = 1.0;
    out->positive = pos ? 1.0 : 0.0;
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- vLLM /pooling and /score ---- */

#define POOL_MAX 256

/* The class of index i: labels[i] when labels line up with n classes, else
 * negative/positive for one score, else vLLM's default LABEL_i. */
static const char *class_name(const cfg_classifier_t *k, int i, int n, arena_t *a)
{
    if ((size_t)n == k->labels.n) return k->labels.v[i];
    if (n == 2 && k->labels.n == 0) return i ? "positive" : "negative";
    return arena_sprintf(a, "LABEL_%d", i);
}

/* Label, score and positive probability of one probability vector. */
static void from_probs(const cfg_classifier_t *k, const double *p, int n, arena_t *a,
                       const char **label, double *score, double *positive)
{
    int best = 0;
    for (int i = 1; i < n; i++)
        if (p[i] > p[best]) best = i;
    *label = class_name(k, best, n, a);
    *score = p[best];
    double pos = 0;
    bool any = false;
    for (int i = 0; i < n && k->positive_labels.n; i++) {
        const char *c = class_name(k, i, n, a);
        if (in_list(&k->positive_labels, c, strlen(c))) {
            pos += p[i];
            any = true;
        }
    }
    if (!any) /* no positive class named: binary models, as http_classify */
        pos = n == 2 && k->labels.n == 0 ? p[1] : 1.0 - p[best];
    *positive = pos < 0 ? 0 : pos > 1 ? 1 : pos;
}

/* One pooled vector as probabilities: kept when every value lies in [0, 1]
 * and they sum to 1 (a classification pooler's softmax), one value is a
 * binary score (sigmoid when outside [0, 1]), anything else is read as
 * logits (softmax). A per-token matrix (reward-style poolers) uses its last
 * row. Returns the class count, or -1. */
static int pooled_probs(const cJSON *v, double *p)
{
    if (cJSON_IsArray(v) && v->child && cJSON_IsArray(v->child)) {
        const cJSON *last = v->child;
        while (last->next)
            last = last->next;
        v = last;
    }
    if (!cJSON_IsArray(v)) return -1;
    int n = 0;
    double sum = 0, mx = -INFINITY;
    bool unit = true;
    for (const cJSON *x = v->child; x; x = x->next) {
        if (!cJSON_IsNumber(x) || n == POOL_MAX || !isfinite(x->valuedouble)) return -1;
        double d = x->valuedouble;
        p[n++] = d;
        sum += d;
        if (d < 0 || d > 1) unit = false;
        if (d > mx) mx = d;
    }
    if (n == 0) return -1;
    if (n == 1) {
        double s = unit ? p[0] : 1.0 / (1.0 + exp(-p[0]));
        p[0] = 1.0 - s;
        p[1] = s;
        return 2;
    }
    if (unit && fabs(sum - 1.0) <= 0.01) return n;
    double z = 0;
    for (int i = 0; i < n; i++)
        z += p[i] = exp(p[i] - mx);
    for (int i = 0; i < n; i++)
        p[i] /= z;
    return n;
}

int sig_cls_parse_pooling(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                          sig_cls_out_t *out)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    int rc = -1;
    double p[POOL_MAX + 1];
    if (!cJSON_IsArray(data) || !data->child) goto out;
    double best_pos = -1; /* several inputs (chunks): the most positive speaks */
    for (const cJSON *d = data->child; d; d = d->next) {
        int n = pooled_probs(cJSON_GetObjectItemCaseSensitive(d, "data"), p);
        if (n < 0) goto out;
        const char *label;
        double score, pos;
        from_probs(k, p, n, a, &label, &score, &pos);
        if (pos > best_pos) {
            best_pos = pos;
            out->label = arena_strdup(a, label);
            out->score = score;
            out->positive = pos;
        }
    }
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

int sig_cls_parse_score(const cfg_classifier_t *k, const char *body, size_t len, arena_t *a,
                        sig_cls_out_t *out)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    int rc = -1, n = (int)k->labels.n;
    if (!cJSON_IsArray(data) || n <= 0 || n > POOL_MAX || cJSON_GetArraySize(data) != n) goto out;
    double s[POOL_MAX] = {0};
    bool seen[POOL_MAX] = {0};
    int pos_i = 0;
    for (const cJSON *d = data->child; d; d = d->next, pos_i++) {
        const cJSON *js = cJSON_GetObjectItemCaseSensitive(d, "score");
        const cJSON *ji = cJSON_GetObjectItemCaseSensitive(d, "index");
        int i = cJSON_IsNumber(ji) ? json_num_int(ji->valuedouble, pos_i) : pos_i;
        if (!cJSON_IsNumber(js) || !isfinite(js->valuedouble) || i < 0 || i >= n || seen[i])
            goto out;
        seen[i] = true;
        /* cross-encoders answer in [0, 1]; embedding models a cosine */
        s[i] = js->valuedouble < 0 ? 0 : js->valuedouble > 1 ? 1 : js->valuedouble;
    }
    int best = 0;
    for (int i = 1; i < n; i++)
        if (s[i] > s[best]) best = i;
    out->label = arena_strdup(a, k->labels.v[best]);
    out->score = s[best];
    double pos = -1;
    for (int i = 0; i < n; i++)
        if (in_list(&k->positive_labels, k->labels.v[i], strlen(k->labels.v[i])) && s[i] > pos)
            pos = s[i];
    out->positive = pos >= 0 ? pos : 1.0 - s[best];
    rc = 0;
out:
    cJSON_Delete(root);
    return rc;
}

/* ---- a batched call's reply ---- */

/* The cJSON path: each entry read as its request's own reply reads it
 * (one_entry; pooled_probs and from_probs), combined per request in the
 * reply's order as those readers combine a reply's entries. */
void sig_cls_parse_batch(const cfg_classifier_t *k, bool pooling, const char *body, size_t len,
                         sig_cls_part_t *parts, size_t n)
{
    if (!n || (!pooling && sig_cls_batch_fast(k, body, len, parts, n))) return;
    sig_cls_parse_batch_tree(k, pooling, body, len, parts, n);
}

void sig_cls_parse_batch_tree(const cfg_classifier_t *k, bool pooling, const char *body, size_t len,
                              sig_cls_part_t *parts, size_t n)
{
    if (!n) return;
    for (size_t i = 0; i < n; i++)
        parts[i].rc = -1;
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    if (!cJSON_IsArray(data)) {
        cJSON_Delete(root);
        return;
    }
    typedef struct {
        double best_pos;
        bool any, bad;
    } acc_t;
    acc_t stack[32], *acc = n <= 32 ? stack : malloc(n * sizeof *acc);
    if (!acc) abort();
    for (size_t i = 0; i < n; i++)
        acc[i] = (acc_t){.best_pos = -1};
    double total = (double)parts[n - 1].first + parts[n - 1].count, p[POOL_MAX + 1];
    int pos = 0;
    for (const cJSON *d = data->child; d; d = d->next, pos++) {
        const cJSON *ji = cJSON_IsObject(d) ? cJSON_GetObjectItemCaseSensitive(d, "index") : NULL;
        double at = pos;
        if (cJSON_IsNumber(ji) && ji->valuedouble == floor(ji->valuedouble)) at = ji->valuedouble;
        if (!(at >= 0 && at < total)) continue; /* no request's input */
        size_t lo = 0, hi = n;
        while (hi - lo > 1) { /* the last part starting at or before at */
            size_t m = lo + (hi - lo) / 2;
            if ((double)parts[m].first <= at)
                lo = m;
            else
                hi = m;
        }
        sig_cls_part_t *q = &parts[lo];
        if (at >= (double)q->first + q->count || acc[lo].bad) continue;
        const char *label;
        double score, positive;
        if (pooling) {
            int np = pooled_probs(cJSON_GetObjectItemCaseSensitive(d, "data"), p);
            if (np < 0) {
                acc[lo].bad = true;
                continue;
            }
            from_probs(k, p, np, q->a, &label, &score, &positive);
        } else if (!cJSON_IsObject(d) || one_entry(k, d, &label, &score, &positive) != 0) {
            acc[lo].bad = true;
            continue;
        }
        acc[lo].any = true;
        if (positive > acc[lo].best_pos) { /* the most positive entry speaks */
            acc[lo].best_pos = positive;
            q->out->label = arena_strdup(q->a, label);
            q->out->score = score;
            q->out->positive = positive;
        }
    }
    for (size_t i = 0; i < n; i++)
        parts[i].rc = acc[i].any && !acc[i].bad ? 0 : -1;
    if (acc != stack) free(acc);
    cJSON_Delete(root);
}
