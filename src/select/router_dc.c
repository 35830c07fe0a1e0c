/* router_dc.c - the `router_dc` algorithm (SPEC §7): B = softmax(cos(q, e_m)/T)
 * with q the query embedding and e_m the embedding of the card's description
 * (plus its capabilities when use_capabilities, the default). T is
 * `temperature` (0.07). Falls back to static without an embedder, without
 * query text, or when the best cosine is below min_similarity (0.10). Card
 * vectors are cached in sel_state_t by model and text. On a worker the
 * embedder never blocks: the route pipeline fetched the query's and the
 * cards' vectors before (route/fetch_embed.c), and a vector it lacks makes
 * the algorithm fall back to static. */
#include "core/buf.h"
#include "decision/cfgnode.h"
#include "config/family.h"
#include "select/select.h"
#include <math.h>
#include <string.h>

static char *card_text_of(arena_t *a, const cfg_model_card_t *c, bool caps)
{
    buf_t b = BUF_INIT;
    if (c->description) buf_puts(&b, c->description);
    if (caps && c->capabilities.n) {
        if (b.len) buf_puts(&b, ". ");
        for (size_t i = 0; i < c->capabilities.n; i++) {
            if (i) buf_puts(&b, ", ");
            buf_puts(&b, c->capabilities.v[i]);
        }
    }
    char *s = b.len ? arena_strndup(a, b.data, b.len) : NULL;
    buf_free(&b);
    return s;
}

char *sel_router_dc_card_text(arena_t *a, const cfg_t *cfg, const cfg_decision_t *d,
                              const char *model)
{
    const cfg_model_card_t *c = cfg && model ? cfg_find_card(cfg, model) : NULL;
    bool caps = dec_cfg_bool(d ? d->algorithm_block : NULL, "use_capabilities", true);
    return c ? card_text_of(a, c, caps) : NULL;
}

static int sel_router_dc(const sel_input_t *in, arena_t *a, sel_result_t *r, const char **why)
{
    const cfg_node_t *b = in->decision->algorithm_block;
    const sel_embedder_t *e = in->embedder;
    if (!e || !e->embed || !e->dim) {
        *why = "no embedder";
        return -1;
    }
    if (!in->query || !in->query_len) {
        *why = "no query text";
        return -1;
    }
    double temp = dec_cfg_num(b, "temperature", 0.07);
    if (temp <= 0) temp = 0.07;
    double min_sim = dec_cfg_num(b, "min_similarity", 0.10);
    float *q = arena_alloc(a, e->dim * sizeof(float)), *v = arena_alloc(a, e->dim * sizeof(float));
    if (e->embed(e->ctx, in->query, in->query_len, q)) {
        *why = "query embedding failed";
        return -1;
    }
    double *cos = arena_calloc(a, r->n * sizeof(double)), best = -2;
    for (size_t i = 0; i < r->n; i++) {
        char *text = sel_router_dc_card_text(a, in->cfg, in->decision, r->models[i]);
        if (!text) continue; /* nothing to compare: cosine 0 */
        char *key = arena_sprintf(a, "dc\x1f%s\x1f%s", r->models[i], text);
        if (!sel_state_vec_get(in->state, key, v, e->dim)) {
            if (e->embed(e->ctx, text, strlen(text), v)) {
                *why = "card embedding failed";
                return -1;
            }
            sel_state_vec_put(in->state, key, v, e->dim);
        }
        double dot = 0;
        for (size_t k = 0; k < e->dim; k++)
            dot += (double)q[k] * (double)v[k];
        cos[i] = dot;
        if (dot > best) best = dot;
    }
    for (size_t i = 0; i < r->n; i++)
        if (cos[i] > best) best = cos[i];
    if (best < min_sim) {
        *why = arena_sprintf(a, "best similarity %.3f is below min_similarity %.3f", best, min_sim);
        return -1;
    }
    double sum = 0;
    for (size_t i = 0; i < r->n; i++)
        sum += r->scores[i] = exp((cos[i] - best) / temp);
    for (size_t i = 0; i < r->n; i++)
        r->scores[i] /= sum;
    return 0;
}

CFG_SELECTOR(sel_router_dc_algo, "router_dc", "Query/card similarity.",
             .fields = (const cfg_field_t[]){CFG_FCUSTOM("temperature", NULL, "0.07"),
                                             CFG_FCUSTOM("min_similarity", NULL, "0.10"),
                                             CFG_FCUSTOM("use_capabilities", NULL, "true"),
                                             {0}},
             .ops = &(const sel_algo_ops_t){.run = sel_router_dc});
