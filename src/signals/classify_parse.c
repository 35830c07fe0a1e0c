/* classify_parse.c - what route/fetch_classify.c sends and reads, without I/O:
 * vLLM classification replies (data[i].label, data[i].probs), guard-model
 * chat replies ("safe" / "unsafe\nS1"), and the input window of a long text
 * (head, middle and tail samples). Pure functions, fuzzed by
 * tests/fuzz/fuzz_classify.c. */
#include "signals/classify.h"

#include <cjson/cJSON.h>
#include <ctype.h>
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
