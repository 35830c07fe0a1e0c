/* import_crd.c - `tether config import --from crd FILE...`: read Kubernetes
 * manifests holding IntelligentPool and IntelligentRoute objects (vllm.ai/
 * v1alpha1, the vLLM semantic router's CRD shapes; docs/kubernetes.md) and
 * merge them into a v0.3 config: the pool's models become providers.models[]
 * with their model cards and default model, the route's signals and
 * decisions become routing.signals and routing.decisions. The result is
 * validated by the real loader. */
#include "config/load.h"
#include "config/migrate.h"
#include "config/import_internal.h"
#include "config/yaml.h"
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CRD_API "vllm.ai/v1alpha1"

static bool is_seq(const cfg_node_t *n)
{
    return n && n->kind == CFG_NODE_SEQ;
}

static void keep(cfg_import_t *im, const char *src, cfg_node_t *obj)
{
    arena_t *a = im->mem;
    if (im->n_crd_docs == im->n_crd_cap) {
        size_t cap = im->n_crd_cap ? im->n_crd_cap * 2 : 8;
        cfg_node_t **nv = arena_calloc(a, cap * sizeof(*nv));
        const char **ns = arena_calloc(a, cap * sizeof(*ns));
        if (im->n_crd_docs) {
            memcpy(nv, im->crd_docs, im->n_crd_docs * sizeof(*nv));
            memcpy(ns, im->crd_srcs, im->n_crd_docs * sizeof(*ns));
        }
        im->crd_docs = nv;
        im->crd_srcs = ns;
        im->n_crd_cap = cap;
    }
    im->crd_srcs[im->n_crd_docs] = arena_strdup(a, src);
    im->crd_docs[im->n_crd_docs++] = obj;
}

/* One object: a pool or a route is kept, a List is walked, others noted. */
static void take_object(cfg_import_t *im, const char *src, cfg_node_t *o, int depth)
{
    if (!o || o->kind != CFG_NODE_MAP) return;
    const char *kind = cfg_node_text(cfg_node_get(o, "kind")),
               *api = cfg_node_text(cfg_node_get(o, "apiVersion"));
    if (kind && depth < 2 && is_seq(cfg_node_get(o, "items")) &&
        (!strcmp(kind, "List") || !strcmp(kind, "IntelligentPoolList") ||
         !strcmp(kind, "IntelligentRouteList"))) {
        const cfg_node_t *items = cfg_node_get(o, "items");
        for (size_t i = 0; i < items->n; i++)
            take_object(im, src, items->items[i], depth + 1);
        return;
    }
    if (kind && api && !strcmp(api, CRD_API) &&
        (!strcmp(kind, "IntelligentPool") || !strcmp(kind, "IntelligentRoute"))) {
        const cfg_node_t *spec = cfg_node_get(o, "spec");
        if (!spec || spec->kind != CFG_NODE_MAP) {
            cfg_import_note(im, CFG_DIAG_ERROR, src, o, kind, "%s without a spec mapping", kind);
            return;
        }
        keep(im, src, o);
        return;
    }
    cfg_import_note(im, CFG_DIAG_WARNING, src, o, kind ? kind : "",
                    "not an IntelligentPool or IntelligentRoute of %s (%s %s); skipped", CRD_API,
                    api ? api : "no apiVersion", kind ? kind : "no kind");
}

bool cfg_import_read_crd(cfg_import_t *im, const char *src, const char *text, size_t len)
{
    arena_t *a = im->mem;
    size_t before = im->n_crd_docs;
    /* split on "---" lines; each document is parsed with its line numbers kept
     * by padding it with the newlines that precede it */
    size_t start = 0, line = 1, start_line = 1;
    bool ok = true;
    for (size_t i = 0; i <= len; i++) {
        bool eol = i == len || text[i] == '\n';
        if (!eol) continue;
        size_t ls = i; /* find the start of this line */
        while (ls > start && text[ls - 1] != '\n')
            ls--;
        bool sep = i - ls >= 3 && !strncmp(text + ls, "---", 3) &&
                   (i - ls == 3 || text[ls + 3] == ' ' || text[ls + 3] == '\t' ||
                    text[ls + 3] == '#' || text[ls + 3] == '\r');
        if (sep || i == len) {
            size_t end = sep ? ls : len;
            if (end > start) {
                buf_t doc = BUF_INIT;
                for (size_t k = 1; k < start_line; k++)
                    buf_append(&doc, "\n", 1);
                buf_append(&doc, text + start, end - start);
                cfg_node_t *root =
                    cfg_yaml_parse(a, src, doc.data ? doc.data : "", doc.len, &im->notes);
                buf_free(&doc);
                if (!root)
                    ok = false;
                else if (root->kind == CFG_NODE_MAP && root->n)
                    take_object(im, src, root, 0);
            }
            start = i < len ? i + 1 : len;
            start_line = line + 1;
        }
        line++;
    }
    if (ok && im->n_crd_docs == before)
        cfg_import_note(im, CFG_DIAG_WARNING, src, NULL, "",
                        "no IntelligentPool or IntelligentRoute (%s) found", CRD_API);
    return ok;
}

/* ---- merge ---- */

typedef struct {
    cfg_import_t *im;
    arena_t *a;
    const char *target, *src; /* target file; file of the object being merged */
    bool replace;
    cfg_node_t *models, *cards, *defaults, *signals, *decisions;
} crd_merge_t;

/* Copy a scalar field src.from to dst.to when present. */
static void copy_field(arena_t *a, cfg_node_t *dst, const char *to, const cfg_node_t *src,
                       const char *from)
{
    const cfg_node_t *v = cfg_node_get(src, from);
    if (v && !cfg_node_is_null(v)) cfg_node_set(a, dst, to, cfg_node_copy(a, v));
}

/* Add item to seq (a named list); an existing name is skipped with a note,
 * or replaced with --force. */
static bool add_named(crd_merge_t *m, cfg_node_t *seq, cfg_node_t *item, const char *what,
                      const char *src, const cfg_node_t *at)
{
    const char *name = cfg_node_text(cfg_node_get(item, "name"));
    ssize_t i = cfg_node_find_named(seq, name);
    if (i >= 0 && !m->replace) {
        cfg_import_note(m->im, CFG_DIAG_WARNING, src, at, what,
                        "%s \"%s\" already exists in the target; skipped (--force replaces it)",
                        what, name);
        return false;
    }
    if (i >= 0) cfg_node_remove_at(seq, (size_t)i);
    cfg_node_append(m->a, seq, item);
    return true;
}

static cfg_node_t *backend_ref(arena_t *a, const cfg_node_t *b)
{
    cfg_node_t *r = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
    copy_field(a, r, "name", b, "name");
    copy_field(a, r, "endpoint", b, "endpoint");
    copy_field(a, r, "base_url", b, "baseUrl");
    copy_field(a, r, "provider", b, "provider");
    copy_field(a, r, "api_key_env", b, "apiKeyEnv");
    copy_field(a, r, "weight", b, "weight");
    return r;
}

static void merge_pool(crd_merge_t *m, const cfg_node_t *obj)
{
    arena_t *a = m->a;
    const cfg_node_t *spec = cfg_node_get(obj, "spec");
    const char *src = m->src;
    const cfg_node_t *ms = cfg_node_get(spec, "models");
    for (size_t i = 0; is_seq(ms) && i < ms->n; i++) {
        const cfg_node_t *cm = ms->items[i];
        const char *name = cfg_node_text(cfg_node_get(cm, "name"));
        if (!name) {
            cfg_import_note(m->im, CFG_DIAG_ERROR, src, cm, "IntelligentPool.spec.models",
                            "a model without a name");
            continue;
        }
        ssize_t at = cfg_node_find_named(m->models, name);
        const cfg_node_t *brs = cfg_node_get(cm, "backendRefs");
        cfg_node_t *mn;
        if (is_seq(brs) && brs->n) {
            mn = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            cfg_node_set_str(a, mn, "name", name);
            copy_field(a, mn, "provider_model_id", cm, "providerModelId");
            cfg_node_t *refs = cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
            for (size_t j = 0; j < brs->n; j++)
                cfg_node_append(a, refs, backend_ref(a, brs->items[j]));
            cfg_node_set(a, mn, "backend_refs", refs);
            if (at >= 0 && !m->replace) {
                cfg_import_note(
                    m->im, CFG_DIAG_WARNING, src, cm, "providers.models",
                    "model \"%s\" already exists in the target; skipped (--force replaces it)",
                    name);
                continue;
            }
            if (at >= 0) cfg_node_remove_at(m->models, (size_t)at);
            cfg_node_append(a, m->models, mn);
        } else if (at >= 0) {
            mn = m->models->items[at]; /* backends come from the target */
        } else {
            cfg_import_note(m->im, CFG_DIAG_ERROR, src, cm,
                            arena_sprintf(a, "providers.models[%s]", name),
                            "model \"%s\" has no backendRefs and is not in the target config: add "
                            "spec.models[].backendRefs or declare the model in the target first",
                            name);
            continue;
        }
        copy_field(a, mn, "reasoning_family", cm, "reasoningFamily");
        const cfg_node_t *pr = cfg_node_get(cm, "pricing");
        double in = 0, out = 0;
        const char *pin = cfg_node_text(cfg_node_get(pr, "inputTokenPrice")),
                   *pout = cfg_node_text(cfg_node_get(pr, "outputTokenPrice"));
        if ((pin && cfg_parse_double(pin, &in)) | (pout && cfg_parse_double(pout, &out))) {
            /* the CRD prices one token; tether prices a million */
            cfg_node_t *p = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            cfg_node_set_str(a, p, "currency", "USD");
            if (pin) cfg_node_set_str(a, p, "prompt_per_1m", arena_sprintf(a, "%.10g", in * 1e6));
            if (pout)
                cfg_node_set_str(a, p, "completion_per_1m", arena_sprintf(a, "%.10g", out * 1e6));
            cfg_node_set(a, mn, "pricing", p);
        }
        ssize_t ci = cfg_node_find_named(m->cards, name);
        cfg_node_t *card = ci >= 0 ? m->cards->items[ci] : cfg_node_new(a, CFG_NODE_MAP, 0, 0);
        if (ci < 0) {
            cfg_node_set_str(a, card, "name", name);
            cfg_node_append(a, m->cards, card);
        }
        const cfg_node_t *loras = cfg_node_get(cm, "loras");
        if (is_seq(loras) && loras->n) {
            cfg_node_t *ln = cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
            for (size_t j = 0; j < loras->n; j++) {
                const char *l = cfg_node_text(cfg_node_get(loras->items[j], "name"));
                if (l) cfg_node_append(a, ln, cfg_node_scalar(a, l, false));
            }
            cfg_node_set(a, card, "loras", ln);
        }
        m->im->n_added++;
    }
    const char *dm = cfg_node_text(cfg_node_get(spec, "defaultModel"));
    if (dm) {
        const char *old = cfg_node_text(cfg_node_get(m->defaults, "default_model"));
        if (old && strcmp(old, dm))
            cfg_import_note(m->im, CFG_DIAG_WARNING, src, cfg_node_get(spec, "defaultModel"),
                            "providers.defaults.default_model",
                            "default model \"%s\" replaced by \"%s\"", old, dm);
        cfg_node_set_str(a, m->defaults, "default_model", dm);
    }
}

/* signals.<crd family> -> routing.signals.<tether family>, with key renames */
static void merge_signals(crd_merge_t *m, const cfg_node_t *sig)
{
    static const struct {
        const char *crd, *family;
        const char *renames[4][2];
    } fams[] = {
        {"keywords", "keywords", {{"caseSensitive", "case_sensitive"}}},
        {"embeddings", "embeddings", {{"aggregationMethod", "aggregation_method"}}},
        {"domains", "domains", {{NULL, NULL}}},
    };
    arena_t *a = m->a;
    for (size_t f = 0; f < sizeof fams / sizeof fams[0]; f++) {
        const cfg_node_t *rules = cfg_node_get(sig, fams[f].crd);
        if (!is_seq(rules)) continue;
        bool bad = false;
        cfg_node_t *dst = cfg_node_child(a, m->signals, fams[f].family, CFG_NODE_SEQ, &bad);
        if (bad) continue;
        for (size_t i = 0; i < rules->n; i++) {
            const cfg_node_t *r = rules->items[i];
            if (r->kind != CFG_NODE_MAP) continue;
            cfg_node_t *n = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            for (size_t k = 0; k < r->n; k++) {
                const char *key = r->keys[k]->str;
                for (size_t j = 0; j < 4 && fams[f].renames[j][0]; j++)
                    if (!strcmp(key, fams[f].renames[j][0])) key = fams[f].renames[j][1];
                cfg_node_set(a, n, key, cfg_node_copy(a, r->items[k]));
            }
            if (cfg_node_text(cfg_node_get(n, "name")))
                add_named(m, dst, n, arena_sprintf(a, "routing.signals.%s", fams[f].family), m->src,
                          r);
        }
    }
}

static cfg_node_t *plugin(crd_merge_t *m, const cfg_node_t *p)
{
    arena_t *a = m->a;
    const char *type = cfg_node_text(cfg_node_get(p, "type"));
    const cfg_node_t *conf = cfg_node_get(p, "configuration");
    const char *en = cfg_node_text(cfg_node_get(conf, "enabled"));
    if (!type || (en && !strcmp(en, "false"))) return NULL;
    cfg_node_t *n = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
    if (!strcmp(type, "system_prompt") || !strcmp(type, "header_mutation")) {
        cfg_node_set_str(a, n, "type", type);
        if (conf && conf->kind == CFG_NODE_MAP) {
            cfg_node_t *c = cfg_node_copy(a, conf);
            cfg_node_del(c, "enabled");
            cfg_node_set(a, n, "configuration", c);
        }
        return n;
    }
    if (!strcmp(type, "semantic-cache")) {
        cfg_node_set_str(a, n, "type", "response_cache");
        cfg_node_t *c = cfg_node_new(a, CFG_NODE_MAP, 0, 0), *sem = NULL;
        cfg_node_set_str(a, c, "mode", "semantic");
        const cfg_node_t *th = cfg_node_get(conf, "similarity_threshold");
        if (th && !cfg_node_is_null(th)) {
            sem = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            cfg_node_set(a, sem, "similarity_threshold", cfg_node_copy(a, th));
            cfg_node_set(a, c, "semantic", sem);
        }
        cfg_node_set(a, n, "configuration", c);
        return n;
    }
    cfg_import_note(m->im, CFG_DIAG_WARNING, m->src, p, "plugins",
                    "plugin \"%s\" is not supported by tether; dropped", type);
    return NULL;
}

static void merge_route(crd_merge_t *m, const cfg_node_t *obj)
{
    arena_t *a = m->a;
    const cfg_node_t *spec = cfg_node_get(obj, "spec");
    merge_signals(m, cfg_node_get(spec, "signals"));
    const cfg_node_t *ds = cfg_node_get(spec, "decisions");
    for (size_t i = 0; is_seq(ds) && i < ds->n; i++) {
        const cfg_node_t *d = ds->items[i];
        const char *name = cfg_node_text(cfg_node_get(d, "name"));
        if (!name) continue;
        cfg_node_t *n = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
        cfg_node_set_str(a, n, "name", name);
        copy_field(a, n, "description", d, "description");
        copy_field(a, n, "priority", d, "priority");
        const cfg_node_t *sig = cfg_node_get(d, "signals");
        if (sig && sig->kind == CFG_NODE_MAP) {
            cfg_node_t *rules = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            copy_field(a, rules, "operator", sig, "operator");
            const cfg_node_t *cs = cfg_node_get(sig, "conditions");
            cfg_node_t *cn = cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
            for (size_t j = 0; is_seq(cs) && j < cs->n; j++) {
                cfg_node_t *leaf = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
                copy_field(a, leaf, "type", cs->items[j], "type");
                copy_field(a, leaf, "name", cs->items[j], "name");
                cfg_node_append(a, cn, leaf);
            }
            cfg_node_set(a, rules, "conditions", cn);
            cfg_node_set(a, n, "rules", rules);
        }
        const cfg_node_t *refs = cfg_node_get(d, "modelRefs");
        cfg_node_t *rn = cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
        for (size_t j = 0; is_seq(refs) && j < refs->n; j++) {
            const cfg_node_t *r = refs->items[j];
            cfg_node_t *x = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            copy_field(a, x, "model", r, "model");
            copy_field(a, x, "lora_name", r, "loraName");
            copy_field(a, x, "use_reasoning", r, "useReasoning");
            copy_field(a, x, "reasoning_effort", r, "reasoningEffort");
            cfg_node_append(a, rn, x);
        }
        cfg_node_set(a, n, "modelRefs", rn);
        const cfg_node_t *ps = cfg_node_get(d, "plugins");
        if (is_seq(ps) && ps->n) {
            cfg_node_t *pn = cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
            for (size_t j = 0; j < ps->n; j++) {
                cfg_node_t *p = plugin(m, ps->items[j]);
                if (p) cfg_node_append(a, pn, p);
            }
            if (pn->n) cfg_node_set(a, n, "plugins", pn);
        }
        add_named(m, m->decisions, n, "routing.decisions", m->src, d);
    }
}

bool cfg_import_merge_crd(cfg_import_t *im, const char *target, const char *text, size_t len,
                          bool replace)
{
    arena_t *a = im->mem;
    cfg_node_t *root = cfg_import_target(im, target, text, len);
    if (!root || !cfg_import_check_shape(im, target, root, true)) return false;
    crd_merge_t m = {.im = im, .a = a, .target = target, .replace = replace};
    bool bad = false;
    cfg_node_t *providers = cfg_node_child(a, root, "providers", CFG_NODE_MAP, &bad);
    m.defaults = bad ? NULL : cfg_node_child(a, providers, "defaults", CFG_NODE_MAP, &bad);
    m.models = bad ? NULL : cfg_node_child(a, providers, "models", CFG_NODE_SEQ, &bad);
    cfg_node_t *routing = bad ? NULL : cfg_node_child(a, root, "routing", CFG_NODE_MAP, &bad);
    m.cards = bad ? NULL : cfg_node_child(a, routing, "modelCards", CFG_NODE_SEQ, &bad);
    m.signals = bad ? NULL : cfg_node_child(a, routing, "signals", CFG_NODE_MAP, &bad);
    m.decisions = bad ? NULL : cfg_node_child(a, routing, "decisions", CFG_NODE_SEQ, &bad);
    if (bad) {
        cfg_diags_add(&im->diags, CFG_DIAG_ERROR, target, 0, 0, "providers",
                      "providers/routing in the target have the wrong shape; fix it with tether "
                      "validate first");
        return false;
    }
    /* pools first, so that routes may name their models */
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < im->n_crd_docs; i++) {
            const char *kind = cfg_node_text(cfg_node_get(im->crd_docs[i], "kind"));
            bool pool = kind && !strcmp(kind, "IntelligentPool");
            m.src = im->crd_srcs[i];
            if (pass == 0 && pool) merge_pool(&m, im->crd_docs[i]);
            if (pass == 1 && !pool) merge_route(&m, im->crd_docs[i]);
        }
    if (!m.defaults->n) cfg_node_del(providers, "defaults");
    if (!m.signals->n) cfg_node_del(routing, "signals");
    if (!m.decisions->n) cfg_node_del(routing, "decisions");
    im->valid = cfg_import_validate(im, target, root) &&
                im->notes.n_errors == 0; /* notes: unusable CR content */
    cfg_diags_sort(&im->notes);
    return im->valid;
}
