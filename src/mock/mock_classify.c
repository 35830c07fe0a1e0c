/* mock_classify.c - keyword-table classifiers of `tether mock` (see
 * mock_classify.h): /classify, /pooling (task classify) and /score replies
 * in vLLM's shapes, and guard verdicts. */
#include "mock/mock_classify.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define MAX_RULES 64

typedef struct rule {
    char kw[64], label[64];
} rule_t;

/* "kw=label,kw2=label2" -> rules; returns the count. */
static size_t parse_table(const char *t, rule_t *r)
{
    size_t n = 0;
    while (t && *t && n < MAX_RULES) {
        size_t len = strcspn(t, ",");
        const char *eq = memchr(t, '=', len);
        if (eq && eq > t && (size_t)(eq - t) < sizeof r->kw && len - (size_t)(eq - t) - 1 > 0 &&
            len - (size_t)(eq - t) - 1 < sizeof r->label) {
            size_t kl = (size_t)(eq - t), ll = len - kl - 1;
            for (size_t i = 0; i < kl; i++)
                r[n].kw[i] = (char)tolower((unsigned char)t[i]);
            r[n].kw[kl] = 0;
            memcpy(r[n].label, eq + 1, ll);
            r[n].label[ll] = 0;
            n++;
        }
        t += len;
        if (*t == ',') t++;
    }
    return n;
}

static const char *label_of(const rule_t *r, size_t n, const char *text)
{
    size_t tl = strlen(text);
    char *low = malloc(tl + 1);
    for (size_t i = 0; i <= tl; i++)
        low[i] = (char)tolower((unsigned char)text[i]);
    const char *hit = NULL;
    for (size_t i = 0; i < n && !hit; i++)
        if (strstr(low, r[i].kw)) hit = r[i].label;
    free(low);
    return hit;
}

/* /classify (pooling false) or /pooling with task classify (pooling true),
 * of the parsed request body root. */
static int render(const char *table, const char *model, const cJSON *root, bool pooling, buf_t *out,
                  char *err, size_t errlen)
{
    rule_t rules[MAX_RULES];
    size_t n = parse_table(table, rules);
    /* labels: benign, then the table's in first-seen order */
    const char *labels[MAX_RULES + 1];
    size_t nl = 0;
    labels[nl++] = "benign";
    for (size_t i = 0; i < n; i++) {
        bool seen = false;
        for (size_t k = 0; k < nl; k++)
            if (!strcmp(labels[k], rules[i].label)) seen = true;
        if (!seen) labels[nl++] = rules[i].label;
    }
    const cJSON *in = cJSON_GetObjectItemCaseSensitive(root, "input");
    if (!cJSON_IsString(in) && !cJSON_IsArray(in)) {
        snprintf(err, errlen, "'input' must be a string or an array of strings");
        return -1;
    }
    /* the two probabilities' "%.4g" once per reply, not once per number */
    double rest = nl > 1 ? 0.1 / (double)(nl - 1) : 0;
    char s_hit[32], s_rest[32];
    snprintf(s_hit, sizeof s_hit, "%.4g", 0.9);
    snprintf(s_rest, sizeof s_rest, "%.4g", rest);
    buf_puts(out, "{\"id\":\"classify-mock\",\"object\":\"list\",\"created\":0,\"model\":");
    buf_json_cstr(out, model ? model : "mock-classifier");
    buf_puts(out, ",\"data\":[");
    int idx = 0;
    const cJSON *item = cJSON_IsString(in) ? in : in->child;
    for (; item; item = cJSON_IsString(in) ? NULL : item->next, idx++) {
        const char *text = cJSON_IsString(item) ? item->valuestring : "";
        const char *hit = label_of(rules, n, text);
        const char *label = hit ? hit : "benign";
        buf_puts(out, idx ? ",{\"index\":" : "{\"index\":");
        buf_int(out, idx);
        buf_putc(out, ',');
        if (pooling) {
            buf_puts(out, "\"object\":\"pooling\",\"data\":[");
        } else {
            buf_puts(out, "\"label\":");
            buf_json_cstr(out, label);
            buf_puts(out, ",\"probs\":[");
        }
        for (size_t k = 0; k < nl; k++) {
            if (k) buf_putc(out, ',');
            buf_puts(out, !strcmp(labels[k], label) ? s_hit : s_rest);
        }
        if (pooling) {
            buf_puts(out, "]}");
        } else {
            buf_puts(out, "],\"num_classes\":");
            buf_uint(out, nl);
            buf_putc(out, '}');
        }
    }
    buf_printf(out,
               "],\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d,"
               "\"completion_tokens\":0}}",
               idx, idx);
    return 0;
}

static int render_body(const char *table, const char *model, const char *body, size_t len,
                       bool pooling, buf_t *out, char *err, size_t errlen)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    int rc = render(table, model, root, pooling, out, err, errlen);
    cJSON_Delete(root);
    return rc;
}

int mock_classify_render(const char *table, const char *model, const char *body, size_t len,
                         buf_t *out, char *err, size_t errlen)
{
    return render_body(table, model, body, len, false, out, err, errlen);
}

int mock_classify_pooling(const char *table, const char *model, const char *body, size_t len,
                          buf_t *out, char *err, size_t errlen)
{
    return render_body(table, model, body, len, true, out, err, errlen);
}

int mock_classify_render_json(const char *table, const char *model, const cJSON *root, buf_t *out,
                              char *err, size_t errlen)
{
    return render(table, model, root, false, out, err, errlen);
}

int mock_classify_pooling_json(const char *table, const char *model, const cJSON *root, buf_t *out,
                               char *err, size_t errlen)
{
    return render(table, model, root, true, out, err, errlen);
}

/* Does lower-cased hay contain needle (case-insensitive)? */
static bool contains_ci(const char *hay, const char *needle)
{
    size_t nl = strlen(needle);
    if (!nl) return false;
    for (const char *h = hay; *h; h++)
        if (!strncasecmp(h, needle, nl)) return true;
    return false;
}

static double pair_score(const rule_t *r, size_t n, const char *t1, const char *t2)
{
    const char *hit = label_of(r, n, t1);
    return contains_ci(t2, hit ? hit : "benign") ? 0.9 : 0.1;
}

int mock_classify_score(const char *table, const char *model, const char *body, size_t len,
                        buf_t *out, char *err, size_t errlen)
{
    rule_t rules[MAX_RULES];
    size_t n = parse_table(table, rules);
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(root, "text_1");
    const cJSON *b = cJSON_GetObjectItemCaseSensitive(root, "text_2");
    int na = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : cJSON_IsString(a) ? 1 : -1;
    int nb = cJSON_IsArray(b) ? cJSON_GetArraySize(b) : cJSON_IsString(b) ? 1 : -1;
    /* vLLM: one to one, one to many, or as many on each side */
    if (na < 1 || nb < 1 || (na > 1 && na != nb)) {
        snprintf(err, errlen, "'text_1' and 'text_2' must be strings or lists (1:1, 1:N or N:N)");
        cJSON_Delete(root);
        return -1;
    }
    buf_puts(out, "{\"id\":\"score-mock\",\"object\":\"list\",\"created\":0,\"model\":");
    buf_json_cstr(out, model ? model : "mock-classifier");
    buf_puts(out, ",\"data\":[");
    for (int i = 0; i < nb; i++) {
        const cJSON *x = cJSON_IsArray(a) ? cJSON_GetArrayItem(a, na > 1 ? i : 0) : a;
        const cJSON *y = cJSON_IsArray(b) ? cJSON_GetArrayItem(b, i) : b;
        const char *t1 = cJSON_IsString(x) ? x->valuestring : "";
        const char *t2 = cJSON_IsString(y) ? y->valuestring : "";
        buf_printf(out, "%s{\"index\":%d,\"object\":\"score\",\"score\":%.4g}", i ? "," : "", i,
                   pair_score(rules, n, t1, t2));
    }
    buf_printf(out, "],\"usage\":{\"prompt_tokens\":%d,\"total_tokens\":%d}}", nb, nb);
    cJSON_Delete(root);
    return 0;
}

char *mock_classify_guard(const char *table, const char *text)
{
    rule_t rules[MAX_RULES];
    size_t n = parse_table(table, rules);
    const char *hit = label_of(rules, n, text ? text : "");
    size_t l = hit ? strlen(hit) : 0;
    char *v = malloc(l + 16);
    if (hit)
        snprintf(v, l + 16, "unsafe\n%s", hit);
    else
        snprintf(v, l + 16, "safe");
    return v;
}
