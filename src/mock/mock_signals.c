/* mock_signals.c - the signal-model APIs of `tether mock`: vLLM's
 * /classify, /score and /pooling (classification) answered from the
 * --classify keyword table (mock_classify.c), and /v1/embeddings and
 * /pooling (embeddings) with deterministic hashed vectors, `dimensions`
 * honoured, and the --embed-delay table's extra delays. */
#include "json/num.h"
#include "mock/mock_internal.h"
#include "mock/mock_classify.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* First element of an array/object (NULL for anything else or NULL). */
static const cJSON *cj_child(const cJSON *x)
{
    return x ? x->child : NULL;
}

/* ------------------------------------------------------------ classify */

void mock_handle_classify(mock_t *m, hsrv_req_t *req, cls_api_t api)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *model = cJSON_IsString(jm) ? jm->valuestring : NULL;
    mock_stats_request(m->stats, req->path, model);
    faults_t f;
    if (!cJSON_IsObject(root)) {
        mock_respond_error(req, 400, "invalid_request_error", "invalid_json",
                           "request body must be a JSON object");
    } else if (model && !mock_model_served(m, model)) {
        mock_respond_unknown_model(req, model);
    } else if (!mock_faults_apply(m, req, &f)) {
        buf_t b = BUF_INIT;
        char err[160];
        int rc = api == CLS_SCORE ? mock_classify_score(m->cfg.classify, model, req->body,
                                                        req->body_len, &b, err, sizeof err)
                 : api == CLS_POOLING
                     ? mock_classify_pooling_json(m->cfg.classify, model, root, &b, err, sizeof err)
                     : mock_classify_render_json(m->cfg.classify, model, root, &b, err, sizeof err);
        if (rc != 0) {
            mock_respond_error(req, 400, "invalid_request_error", "invalid_input", err);
            buf_free(&b);
        } else {
            mreq_t *r = mock_mreq_new(m, req, 200);
            r->body = b;
            mock_mreq_run(r, f.delay_ms);
        }
    }
    cJSON_Delete(root);
}

bool mock_pooling_classifies(const mock_t *m, const hsrv_req_t *req)
{
    if (!m->cfg.classify) return false;
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    const cJSON *t = cJSON_GetObjectItemCaseSensitive(root, "task");
    bool yes = cJSON_IsString(t) && !strcmp(t->valuestring, "classify");
    cJSON_Delete(root);
    return yes;
}

/* ------------------------------------------------------------ embeddings */

/* Extra delay of an embeddings input from the --embed-delay table
 * ("kw=ms,..."): the largest ms whose kw the text holds. */
static uint64_t embed_delay_of(const char *table, const char *text)
{
    uint64_t best = 0;
    for (const char *p = table; p && *p;) {
        const char *comma = strchr(p, ',');
        size_t n = comma ? (size_t)(comma - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        if (eq && eq > p && text) {
            char kw[128];
            size_t kl = (size_t)(eq - p) < sizeof kw - 1 ? (size_t)(eq - p) : sizeof kw - 1;
            memcpy(kw, p, kl);
            kw[kl] = 0;
            uint64_t ms = strtoull(eq + 1, NULL, 10);
            if (strstr(text, kw) && ms > best) best = ms;
        }
        p = comma ? comma + 1 : p + n;
    }
    return best;
}

/* pooling: vLLM's /pooling shape ({"object":"pooling","data":[..]} per
 * input) around the same deterministic vectors. */
void mock_handle_embeddings(mock_t *m, hsrv_req_t *req, bool pooling)
{
    cJSON *root = cJSON_ParseWithLength(req->body, req->body_len);
    if (!cJSON_IsObject(root)) {
        mock_stats_request(m->stats, req->path, NULL);
        mock_respond_error(req, 400, "invalid_request_error", "invalid_json",
                           "request body must be a JSON object");
        cJSON_Delete(root);
        return;
    }
    const cJSON *jm = cJSON_GetObjectItemCaseSensitive(root, "model");
    const char *model = cJSON_IsString(jm) ? jm->valuestring : NULL;
    mock_stats_request(m->stats, req->path, model);
    const cJSON *input = cJSON_GetObjectItemCaseSensitive(root, "input");
    const cJSON *jd = cJSON_GetObjectItemCaseSensitive(root, "dimensions");
    int dims =
        cJSON_IsNumber(jd) ? json_num_int(jd->valuedouble, m->cfg.embed_dims) : m->cfg.embed_dims;
    if (!model) {
        mock_respond_error(req, 400, "invalid_request_error", "missing_model",
                           "'model' is required and must be a string");
    } else if (!mock_model_served(m, model)) {
        mock_respond_unknown_model(req, model);
    } else if (dims < 1 || dims > 8192) {
        mock_respond_error(req, 400, "invalid_request_error", "invalid_dimensions",
                           "'dimensions' must be between 1 and 8192");
    } else if (!cJSON_IsString(input) && !cJSON_IsArray(input)) {
        mock_respond_error(req, 400, "invalid_request_error", "invalid_input",
                           "'input' must be a string or an array of strings");
    } else {
        buf_t b = BUF_INIT;
        float *vec = malloc(sizeof(float) * (size_t)dims);
        if (!vec) abort();
        uint64_t tokens = 0, extra = 0;
        buf_puts(&b, "{\"object\":\"list\",\"data\":[");
        int idx = 0;
        const cJSON *item = cJSON_IsString(input) ? input : input->child;
        for (; item; item = cJSON_IsString(input) ? NULL : item->next, idx++) {
            buf_t text = BUF_INIT;
            if (cJSON_IsString(item)) {
                buf_puts(&text, item->valuestring);
            } else if (cJSON_IsArray(item)) { /* token ids: embed their decimal text */
                const cJSON *t;
                for (t = cj_child(item); t; t = t->next)
                    buf_printf(&text, "%d ", json_num_int(t->valuedouble, 0));
            }
            tokens += mock_tokens(text.len);
            uint64_t dl = embed_delay_of(m->cfg.embed_delay, text.data);
            if (dl > extra) extra = dl;
            mock_embed(text.data ? text.data : "", text.len, m->cfg.seed, vec, dims);
            buf_free(&text);
            /* printf's bytes without printf ("%d", "%.6g": buf_int, buf_g6):
             * the mock shares the cores with the router under benchmark */
            buf_puts(&b, idx ? ",{\"object\":\"" : "{\"object\":\"");
            buf_puts(&b, pooling ? "pooling\",\"index\":" : "embedding\",\"index\":");
            buf_int(&b, idx);
            buf_puts(&b, pooling ? ",\"data\":[" : ",\"embedding\":[");
            buf_reserve(&b, (size_t)dims * 14);
            for (int i = 0; i < dims; i++) {
                if (i) buf_putc(&b, ',');
                buf_g6(&b, (double)vec[i]);
            }
            buf_puts(&b, "]}");
        }
        buf_puts(&b, "],\"model\":");
        buf_json_str(&b, model, strlen(model));
        buf_printf(&b, ",\"usage\":{\"prompt_tokens\":%llu,\"total_tokens\":%llu}}",
                   (unsigned long long)tokens, (unsigned long long)tokens);
        mock_stats_tokens(m->stats, tokens, 0, 0);
        free(vec);
        uint64_t delay = m->cfg.latency_ms + extra;
        mreq_t *r = mock_mreq_new(m, req, 200);
        r->body = b;
        mock_mreq_run(r, delay);
    }
    cJSON_Delete(root);
}
