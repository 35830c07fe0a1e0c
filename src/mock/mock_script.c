/* mock_script.c - loads the JSON-lines fault script of `tether mock` and
 * hands out one step per request, in order (see mock_script.h). */
#include "json/num.h"
#include "mock/mock_script.h"
#include <cjson/cJSON.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct mock_script {
    pthread_mutex_t mu;
    mock_step_t *steps;
    size_t n, next;
};

void mock_script_free(mock_script_t *s)
{
    if (!s) return;
    for (size_t i = 0; i < s->n; i++)
        free(s->steps[i].body);
    free(s->steps);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

static int parse_line(mock_step_t *st, const char *line, size_t len, char *why, size_t whylen)
{
    memset(st, 0, sizeof *st);
    st->reset_after_bytes = -1;
    cJSON *o = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(o)) {
        snprintf(why, whylen, "not a JSON object");
        cJSON_Delete(o);
        return -1;
    }
    const cJSON *v;
    int rc = -1;
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "status"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 100 || v->valuedouble > 599) {
            snprintf(why, whylen, "\"status\" must be a number in 100..599");
            goto out;
        }
        st->status = json_num_int(v->valuedouble, 0);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "delay_ms"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
            snprintf(why, whylen, "\"delay_ms\" must be a number >= 0");
            goto out;
        }
        st->delay_ms = json_num_u64(v->valuedouble, 0);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "reset_after_bytes"))) {
        if (!cJSON_IsNumber(v) || v->valuedouble < 0) {
            snprintf(why, whylen, "\"reset_after_bytes\" must be a number >= 0");
            goto out;
        }
        st->reset_after_bytes = (long long)v->valuedouble;
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "stream"))) {
        if (!cJSON_IsBool(v)) {
            snprintf(why, whylen, "\"stream\" must be true or false");
            goto out;
        }
        st->force_stream = cJSON_IsTrue(v);
    }
    if ((v = cJSON_GetObjectItemCaseSensitive(o, "body"))) {
        st->body = cJSON_IsString(v) ? strdup(v->valuestring) : cJSON_PrintUnformatted(v);
        if (!st->body) abort();
    }
    rc = 0;
out:
    cJSON_Delete(o);
    return rc;
}

mock_script_t *mock_script_parse(const char *text, size_t len, const char *name, char *err,
                                 size_t errlen)
{
    mock_script_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    pthread_mutex_init(&s->mu, NULL);
    size_t cap = 0, lineno = 0, pos = 0;
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t ll = nl ? (size_t)(nl - line) : len - pos;
        pos += ll + (nl ? 1 : 0);
        lineno++;
        size_t a = 0;
        while (a < ll && (line[a] == ' ' || line[a] == '\t' || line[a] == '\r'))
            a++;
        if (a == ll || line[a] == '#') continue;
        if (s->n == cap) {
            cap = cap ? cap * 2 : 16;
            s->steps = realloc(s->steps, cap * sizeof *s->steps);
            if (!s->steps) abort();
        }
        char why[128];
        if (parse_line(&s->steps[s->n], line + a, ll - a, why, sizeof why) < 0) {
            snprintf(err, errlen, "%s:%zu: %s", name, lineno, why);
            mock_script_free(s);
            return NULL;
        }
        s->n++;
    }
    return s;
}

mock_script_t *mock_script_load(const char *path, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open", path);
        return NULL;
    }
    char *data = NULL;
    size_t len = 0, cap = 0, got;
    char chunk[8192];
    while ((got = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (len + got > cap) {
            cap = (len + got) * 2;
            data = realloc(data, cap);
            if (!data) abort();
        }
        memcpy(data + len, chunk, got);
        len += got;
    }
    fclose(f);
    mock_script_t *s = mock_script_parse(data ? data : "", len, path, err, errlen);
    free(data);
    return s;
}

const mock_step_t *mock_script_next(mock_script_t *s)
{
    pthread_mutex_lock(&s->mu);
    const mock_step_t *st = s->next < s->n ? &s->steps[s->next++] : NULL;
    pthread_mutex_unlock(&s->mu);
    return st;
}

void mock_script_rewind(mock_script_t *s)
{
    pthread_mutex_lock(&s->mu);
    s->next = 0;
    pthread_mutex_unlock(&s->mu);
}

size_t mock_script_len(const mock_script_t *s)
{
    return s->n;
}
