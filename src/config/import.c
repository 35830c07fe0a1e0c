/* import.c - `tether config import`: read a provider inventory (an OpenClaw
 * models.providers file, or an OpenAI-compatible GET /models listing) and
 * merge it into a v0.3 config as providers.models[] with backend_refs plus
 * routing.modelCards (SPEC 3.6). Literal API keys are never copied: the
 * backend gets api_key_env and the caller prints the variable to set. */
#include "json/num.h"
#include "config/load.h"
#include "config/migrate.h"
#include "config/import_internal.h"
#include "config/yaml.h"
#include <cjson/cJSON.h>
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* largest context window an inventory may report (tokens); above: unknown */
#define CFG_IMPORT_MAX_WINDOW 1e12

static arena_t *mem(cfg_import_t *im)
{
    return im->mem;
}

void cfg_import_init(cfg_import_t *im)
{
    memset(im, 0, sizeof(*im));
    arena_t *a = malloc(sizeof(*a));
    if (!a) abort();
    arena_init(a, 16384);
    im->mem = a;
    cfg_diags_init(&im->notes);
    cfg_diags_init(&im->diags);
}

void cfg_import_deinit(cfg_import_t *im)
{
    buf_free(&im->out);
    cfg_diags_free(&im->notes);
    cfg_diags_free(&im->diags);
    if (im->mem) {
        arena_deinit(im->mem);
        free(im->mem);
    }
    memset(im, 0, sizeof(*im));
}

void cfg_import_note(cfg_import_t *im, cfg_diag_severity_t sev, const char *file,
                     const cfg_node_t *at, const char *path, const char *fmt, ...)
{
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, fmt);
    buf_vprintf(&b, fmt, ap);
    va_end(ap);
    cfg_diags_add(&im->notes, sev, file, at ? at->line : 0, at ? at->col : 0, path, "%s",
                  b.data ? b.data : "");
    buf_free(&b);
}

/* PROVIDER_API_KEY from a provider key: upper case, other bytes -> '_'. */
static char *env_var_for(arena_t *a, const char *key)
{
    char *s = arena_sprintf(a, "%s_API_KEY", key);
    for (char *p = s; *p; p++)
        *p = isalnum((unsigned char)*p) ? (char)toupper((unsigned char)*p) : '_';
    if (isdigit((unsigned char)s[0])) s = arena_sprintf(a, "P_%s", s);
    return s;
}

/* "${VAR}" -> VAR (a reference, not a secret); NULL otherwise. */
static char *env_ref(arena_t *a, const char *v)
{
    size_t l = v ? strlen(v) : 0;
    if (l < 4 || v[0] != '$' || v[1] != '{' || v[l - 1] != '}') return NULL;
    for (size_t i = 2; i + 1 < l; i++)
        if (!isalnum((unsigned char)v[i]) && v[i] != '_') return NULL;
    return arena_strndup(a, v + 2, l - 3);
}

static cfg_import_provider_t *add_provider(cfg_import_t *im)
{
    cfg_import_provider_t *np = arena_calloc(mem(im), (im->n_providers + 1) * sizeof(*np));
    if (im->n_providers) memcpy(np, im->providers, im->n_providers * sizeof(*np));
    im->providers = np;
    return &im->providers[im->n_providers++];
}

static bool num(const cfg_node_t *n, double *out)
{
    return cfg_node_text(n) && cfg_parse_double(n->str, out);
}

bool cfg_import_read_openclaw(cfg_import_t *im, const char *src, const char *text, size_t len)
{
    arena_t *a = mem(im);
    cfg_node_t *root = cfg_yaml_parse(a, src, text, len, &im->notes);
    if (!root) return false;
    const cfg_node_t *provs = cfg_node_get(cfg_node_get(root, "models"), "providers");
    if (!provs || provs->kind != CFG_NODE_MAP) {
        cfg_import_note(im, CFG_DIAG_ERROR, src, root, "models.providers",
                        "not an OpenClaw inventory: expected a models.providers mapping");
        return false;
    }
    for (size_t i = 0; i < provs->n; i++) {
        const char *key = provs->keys[i]->str;
        const cfg_node_t *p = provs->items[i];
        const char *pp = arena_sprintf(a, "models.providers.%s", key);
        if (p->kind != CFG_NODE_MAP) {
            cfg_import_note(im, CFG_DIAG_WARNING, src, p, pp, "expected a mapping; skipped");
            continue;
        }
        const char *api = cfg_node_text(cfg_node_get(p, "api"));
        bool anthropic = api && !strcmp(api, "anthropic-messages");
        if (api && !anthropic && strncmp(api, "openai-", 7)) {
            cfg_import_note(
                im, CFG_DIAG_WARNING, src, cfg_node_get(p, "api"), arena_sprintf(a, "%s.api", pp),
                "API \"%s\" is not supported (openai-* or anthropic-messages); provider skipped",
                api);
            continue;
        }
        const char *base = cfg_node_text(cfg_node_get(p, "baseUrl"));
        if (!base) {
            cfg_import_note(im, CFG_DIAG_WARNING, src, p, pp, "no baseUrl; provider skipped");
            continue;
        }
        cfg_import_provider_t *ip = add_provider(im);
        ip->key = arena_strdup(a, key);
        ip->anthropic = anthropic;
        size_t bl = strlen(base);
        while (bl > 1 && base[bl - 1] == '/')
            bl--;
        ip->base_url = arena_strndup(a, base, bl);
        ip->src = arena_strdup(a, src);
        ip->line = cfg_node_get(p, "baseUrl")->line;
        ip->col = cfg_node_get(p, "baseUrl")->col;
        /* tether appends /messages to an Anthropic base_url: it must name the /v1 root */
        if (anthropic && (bl < 3 || strcmp(ip->base_url + bl - 3, "/v1"))) {
            const char *scheme = strstr(ip->base_url, "://");
            const char *path = scheme ? strchr(scheme + 3, '/') : NULL;
            if (!path) ip->base_url = arena_sprintf(a, "%s/v1", ip->base_url);
        }
        cfg_node_t *kn = NULL;
        const cfg_node_t *key_node = cfg_node_get_pair(p, "apiKey", &kn);
        if (cfg_node_text(key_node)) {
            ip->api_key_env = env_ref(a, key_node->str);
            if (!ip->api_key_env) {
                ip->has_secret = true;
                ip->api_key_env = env_var_for(a, key);
                cfg_import_note(im, CFG_DIAG_WARNING, src, kn, arena_sprintf(a, "%s.apiKey", pp),
                                "literal API key not copied: set %s in the environment",
                                ip->api_key_env);
            }
        }
        const cfg_node_t *h = cfg_node_get(p, "headers");
        if (h && h->kind == CFG_NODE_MAP) {
            ip->headers = arena_calloc(a, (h->n + 1) * sizeof(cfg_kv_t));
            for (size_t j = 0; j < h->n; j++) {
                const char *hn = h->keys[j]->str, *hv = cfg_node_text(h->items[j]);
                if (!hv) continue;
                if (cfg_key_is_secret(hn, true) && !env_ref(a, hv)) {
                    cfg_import_note(
                        im, CFG_DIAG_WARNING, src, h->keys[j],
                        arena_sprintf(a, "%s.headers.%s", pp, hn),
                        "secret header not copied: add it to extra_headers with a ${VAR} value "
                        "yourself");
                    continue;
                }
                ip->headers[ip->n_headers++] = (cfg_kv_t){arena_strdup(a, hn), arena_strdup(a, hv)};
            }
        }
        const cfg_node_t *ms = cfg_node_get(p, "models");
        if (!ms || ms->kind != CFG_NODE_SEQ) {
            cfg_import_note(im, CFG_DIAG_WARNING, src, p, pp,
                            "no models[] list; nothing to import from this provider");
            continue;
        }
        ip->models = arena_calloc(a, (ms->n + 1) * sizeof(cfg_import_model_t));
        for (size_t j = 0; j < ms->n; j++) {
            const cfg_node_t *m = ms->items[j];
            const char *id = cfg_node_text(cfg_node_get(m, "id"));
            if (!id) {
                cfg_import_note(im, CFG_DIAG_WARNING, src, m,
                                arena_sprintf(a, "%s.models[%zu]", pp, j),
                                "a model without an id; skipped");
                continue;
            }
            cfg_import_model_t *im_m = &ip->models[ip->n_models++];
            im_m->id = arena_strdup(a, id);
            im_m->line = m->line;
            im_m->col = m->col;
            double d;
            /* an absurd window (1e65) is unknown: converting it is undefined */
            if (num(cfg_node_get(m, "contextWindow"), &d) && d > 0 && d <= CFG_IMPORT_MAX_WINDOW)
                im_m->context_window = (uint64_t)d;
            const char *r = cfg_node_text(cfg_node_get(m, "reasoning"));
            im_m->reasoning = r && !strcmp(r, "true");
            const cfg_node_t *in = cfg_node_get(m, "input");
            for (size_t k = 0; in && in->kind == CFG_NODE_SEQ && k < in->n; k++)
                if (cfg_node_text(in->items[k]) && !strcmp(in->items[k]->str, "image"))
                    im_m->image_input = true;
            const cfg_node_t *cost = cfg_node_get(m, "cost");
            if (cost && cost->kind == CFG_NODE_MAP) {
                im_m->has_cost = num(cfg_node_get(cost, "input"), &im_m->cost_in) &&
                                 num(cfg_node_get(cost, "output"), &im_m->cost_out) &&
                                 im_m->cost_in >= 0 && im_m->cost_out >= 0;
                im_m->has_cache_read =
                    num(cfg_node_get(cost, "cacheRead"), &im_m->cost_cache_read) &&
                    im_m->cost_cache_read >= 0;
                im_m->has_cache_write =
                    num(cfg_node_get(cost, "cacheWrite"), &im_m->cost_cache_write) &&
                    im_m->cost_cache_write >= 0;
            }
        }
    }
    return true;
}

bool cfg_import_read_openai(cfg_import_t *im, const char *key, const char *base_url,
                            const char *api_key_env, const char *body, size_t len)
{
    arena_t *a = mem(im);
    cJSON *j = cJSON_ParseWithLength(body, len);
    const cJSON *data = j ? cJSON_GetObjectItemCaseSensitive(j, "data") : NULL;
    if (!cJSON_IsArray(data)) {
        cfg_import_note(im, CFG_DIAG_ERROR, base_url, NULL, "",
                        "not an OpenAI /models response (no data[] list)");
        cJSON_Delete(j);
        return false;
    }
    cfg_import_provider_t *ip = add_provider(im);
    ip->key = arena_strdup(a, key);
    size_t bl = strlen(base_url);
    while (bl > 1 && base_url[bl - 1] == '/')
        bl--;
    ip->base_url = arena_strndup(a, base_url, bl);
    ip->api_key_env = api_key_env ? arena_strdup(a, api_key_env) : NULL;
    ip->models =
        arena_calloc(a, ((size_t)cJSON_GetArraySize(data) + 1) * sizeof(cfg_import_model_t));
    const cJSON *it;
    cJSON_ArrayForEach(it, data)
    {
        const cJSON *id = cJSON_GetObjectItemCaseSensitive(it, "id");
        if (!cJSON_IsString(id) || !id->valuestring[0]) continue;
        cfg_import_model_t *m = &ip->models[ip->n_models++];
        m->id = arena_strdup(a, id->valuestring);
        /* some servers (vLLM) report the context window as max_model_len */
        const cJSON *ml = cJSON_GetObjectItemCaseSensitive(it, "max_model_len");
        if (cJSON_IsNumber(ml) && ml->valuedouble > 0 && ml->valuedouble <= CFG_IMPORT_MAX_WINDOW)
            m->context_window = json_num_u64(ml->valuedouble, 0);
    }
    cJSON_Delete(j);
    if (!ip->n_models)
        cfg_import_note(im, CFG_DIAG_WARNING, base_url, NULL, "", "the server lists no models");
    return true;
}

/* ---- merge ---- */

static void set_num(arena_t *a, cfg_node_t *map, const char *k, double v)
{
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%.10g", v);
    cfg_node_set_str(a, map, k, tmp);
}

static void add_env(cfg_import_t *im, const char *var)
{
    for (size_t i = 0; i < im->n_env_to_set; i++)
        if (!strcmp(im->env_to_set[i], var)) return;
    char **nv = arena_alloc(mem(im), (im->n_env_to_set + 1) * sizeof(char *));
    if (im->n_env_to_set) memcpy(nv, im->env_to_set, im->n_env_to_set * sizeof(char *));
    nv[im->n_env_to_set++] = arena_strdup(mem(im), var);
    im->env_to_set = nv;
}

cfg_node_t *cfg_import_target(cfg_import_t *im, const char *target, const char *text, size_t len)
{
    arena_t *a = mem(im);
    if (!text) {
        cfg_node_t *root = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
        cfg_node_set_str(a, root, "version", "v0.3");
        return root;
    }
    cfg_node_t *root = cfg_yaml_parse_comments(a, target, text, len, &im->diags);
    if (!root) return NULL;
    const cfg_node_t *vn = cfg_node_get(root, "version");
    const char *v = cfg_node_text(vn);
    if (root->kind != CFG_NODE_MAP || !v || strcmp(v, "v0.3")) {
        const cfg_node_t *at = vn ? vn : root;
        cfg_diags_add(&im->diags, CFG_DIAG_ERROR, target, at->line, at->col, "version",
                      "the target is not a v0.3 config; run: tether config migrate --config %s",
                      target);
        return NULL;
    }
    return root;
}

bool cfg_import_check_shape(cfg_import_t *im, const char *target, const cfg_node_t *root, bool crd)
{
    static const struct {
        const char *parent, *key;
        cfg_node_kind_t kind;
        bool crd_only;
    } want[] = {
        {NULL, "providers", CFG_NODE_MAP, false},
        {"providers", "defaults", CFG_NODE_MAP, false},
        {"providers", "models", CFG_NODE_SEQ, false},
        {NULL, "routing", CFG_NODE_MAP, false},
        {"routing", "modelCards", CFG_NODE_SEQ, false},
        {"routing", "signals", CFG_NODE_MAP, true},
        {"routing", "decisions", CFG_NODE_SEQ, true},
    };
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        if (want[i].crd_only && !crd) continue;
        const cfg_node_t *p = want[i].parent ? cfg_node_get(root, want[i].parent) : root;
        const cfg_node_t *n = p && p->kind == CFG_NODE_MAP ? cfg_node_get(p, want[i].key) : NULL;
        if (!n || cfg_node_is_null(n) || n->kind == want[i].kind) continue;
        const char *path = want[i].parent
                               ? arena_sprintf(mem(im), "%s.%s", want[i].parent, want[i].key)
                               : want[i].key;
        cfg_diags_add(&im->diags, CFG_DIAG_ERROR, target, n->line, n->col, path,
                      "must be a %s to import into; fix the target (tether config validate %s)",
                      want[i].kind == CFG_NODE_MAP ? "mapping" : "list", target);
        return false;
    }
    return true;
}

void cfg_import_origin(cfg_import_t *im, const cfg_node_t *node, const char *file, int line,
                       int col)
{
    if (!file || line <= 0) return;
    cfg_import_origin_t *v = arena_alloc(mem(im), (im->n_origins + 1) * sizeof(*v));
    if (im->n_origins) memcpy(v, im->origins, im->n_origins * sizeof(*v));
    v[im->n_origins++] = (cfg_import_origin_t){node, file, line, col};
    im->origins = v;
}

#define TWIN_DEPTH 64

/* The path of nodes of r, a tree of the same shape as m, down to where m
 * has a node (key or value) starting at line:col: its length (0: none). */
static int twin_path(const cfg_node_t *m, const cfg_node_t *r, int line, int col,
                     const cfg_node_t **path, int depth)
{
    if (!m || !r || depth >= TWIN_DEPTH) return 0;
    path[depth] = r;
    if (m->line == line && m->col == col) return depth + 1;
    if (m->kind != r->kind || m->n != r->n) return 0;
    for (size_t i = 0; i < m->n; i++) {
        int k = m->kind == CFG_NODE_MAP
                    ? twin_path(m->keys[i], r->keys[i], line, col, path, depth + 1)
                    : 0;
        if (!k) k = twin_path(m->items[i], r->items[i], line, col, path, depth + 1);
        if (k) return k;
    }
    return 0;
}

/* d's position in the emitted text, back to the target file (a node the
 * target had), the source file (a node the import added from a known
 * place), or no line. */
static void remap_diag(cfg_import_t *im, cfg_diag_t *d, const cfg_node_t *m, const cfg_node_t *root)
{
    const cfg_node_t *path[TWIN_DEPTH];
    int n = d->line ? twin_path(m, root, d->line, d->col, path, 0) : 0;
    if (n && path[n - 1]->line > 0) {
        d->line = path[n - 1]->line;
        d->col = path[n - 1]->col;
        return;
    }
    d->line = d->col = 0;
    for (int i = n - 1; i >= 0; i--) /* the nearest node that came from a known place */
        for (size_t k = 0; k < im->n_origins; k++)
            if (im->origins[k].node == path[i]) {
                const cfg_import_origin_t *o = &im->origins[k];
                free(d->file);
                d->file = strdup(o->file);
                d->line = o->line;
                d->col = o->col;
                return;
            }
    char *msg = NULL;
    if (asprintf(&msg, "%s (in what the import adds)", d->message) < 0) abort();
    free(d->message);
    d->message = msg;
}

bool cfg_import_validate(cfg_import_t *im, const char *target, const cfg_node_t *root)
{
    cfg_yaml_emit(&im->out, root, NULL);
    const char *text = im->out.data ? im->out.data : "";
    size_t n0 = im->diags.n;
    cfg_t *c = cfg_load_string(target, text, im->out.len, NULL, &im->diags);
    bool ok = c != NULL;
    cfg_free(c);
    if (im->diags.n == n0) return ok;
    /* the emitted text's positions, back to the target's */
    cfg_diags_t scratch;
    cfg_diags_init(&scratch);
    const cfg_node_t *m = cfg_yaml_parse(mem(im), target, text, im->out.len, &scratch);
    cfg_diags_free(&scratch);
    for (size_t i = n0; i < im->diags.n; i++)
        if (im->diags.items[i].line) remap_diag(im, &im->diags.items[i], m, root);
    return ok;
}

bool cfg_import_merge(cfg_import_t *im, const char *target, const char *text, size_t len,
                      bool replace)
{
    arena_t *a = mem(im);
    cfg_node_t *root = cfg_import_target(im, target, text, len);
    if (!root || !cfg_import_check_shape(im, target, root, false)) return false;
    bool bad = false;
    cfg_node_t *providers = cfg_node_child(a, root, "providers", CFG_NODE_MAP, &bad);
    cfg_node_t *defaults =
        bad ? NULL : cfg_node_child(a, providers, "defaults", CFG_NODE_MAP, &bad);
    cfg_node_t *models = bad ? NULL : cfg_node_child(a, providers, "models", CFG_NODE_SEQ, &bad);
    cfg_node_t *routing = bad ? NULL : cfg_node_child(a, root, "routing", CFG_NODE_MAP, &bad);
    cfg_node_t *cards = bad ? NULL : cfg_node_child(a, routing, "modelCards", CFG_NODE_SEQ, &bad);
    if (bad) {
        cfg_diags_add(&im->diags, CFG_DIAG_ERROR, target, 0, 0, "providers",
                      "providers/routing in the target have the wrong shape; fix it with tether "
                      "validate first");
        return false;
    }
    /* ids offered by more than one provider become <provider>/<id> */
    const char *first = NULL;
    for (size_t p = 0; p < im->n_providers; p++) {
        const cfg_import_provider_t *ip = &im->providers[p];
        bool used_env = false;
        for (size_t i = 0; i < ip->n_models; i++) {
            const cfg_import_model_t *m = &ip->models[i];
            if (!m->id[0]) continue;
            bool collides = false;
            for (size_t q = 0; q < im->n_providers && !collides; q++)
                for (size_t j = 0; q != p && j < im->providers[q].n_models; j++)
                    if (!strcmp(im->providers[q].models[j].id, m->id)) collides = true;
            const char *name = collides ? arena_sprintf(a, "%s/%s", ip->key, m->id) : m->id;
            bool dup_here = false;
            for (size_t j = 0; j < i; j++)
                dup_here |= !strcmp(ip->models[j].id, m->id);
            if (dup_here) continue;
            ssize_t at = cfg_node_find_named(models, name);
            if (at >= 0 && !replace) {
                cfg_import_note(im, CFG_DIAG_WARNING, target, models->items[at], "providers.models",
                                "model \"%s\" already exists; skipped (--force replaces it)", name);
                continue;
            }
            if (at >= 0) cfg_node_remove_at(models, (size_t)at);
            ssize_t cat = cfg_node_find_named(cards, name);
            if (cat >= 0 && replace) cfg_node_remove_at(cards, (size_t)cat);
            cfg_node_t *mn = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            cfg_import_origin(im, mn, ip->src, m->line, m->col);
            cfg_node_set_str(a, mn, "name", name);
            if (strcmp(name, m->id)) cfg_node_set_str(a, mn, "provider_model_id", m->id);
            if (ip->anthropic) cfg_node_set_str(a, mn, "api_format", "anthropic");
            if (m->has_cost) {
                cfg_node_t *pr = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
                cfg_node_set_str(a, pr, "currency", "USD");
                set_num(a, pr, "prompt_per_1m", m->cost_in);
                if (m->has_cache_read) set_num(a, pr, "cached_input_per_1m", m->cost_cache_read);
                if (m->has_cache_write) set_num(a, pr, "cache_write_per_1m", m->cost_cache_write);
                set_num(a, pr, "completion_per_1m", m->cost_out);
                cfg_node_set(a, mn, "pricing", pr);
            }
            cfg_node_t *brs = cfg_node_new(a, CFG_NODE_SEQ, 0, 0),
                       *br = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
            cfg_import_origin(im, br, ip->src, ip->line, ip->col);
            cfg_node_set_str(a, br, "name", ip->key);
            cfg_node_set_str(a, br, "base_url", ip->base_url);
            cfg_node_set_str(a, br, "provider", ip->anthropic ? "anthropic" : "openai");
            if (ip->api_key_env) {
                cfg_node_set_str(a, br, "api_key_env", ip->api_key_env);
                used_env = true;
            }
            if (ip->n_headers) {
                cfg_node_t *eh = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
                for (size_t h = 0; h < ip->n_headers; h++)
                    cfg_node_set(a, eh, ip->headers[h].name,
                                 cfg_node_scalar(a, ip->headers[h].value, true));
                cfg_node_set(a, br, "extra_headers", eh);
            }
            cfg_node_append(a, brs, br);
            cfg_node_set(a, mn, "backend_refs", brs);
            cfg_node_append(a, models, mn);
            if (cfg_node_find_named(cards, name) < 0) {
                cfg_node_t *cn = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
                cfg_import_origin(im, cn, ip->src, m->line, m->col);
                cfg_node_set_str(a, cn, "name", name);
                cfg_node_set_str(a, cn, "description",
                                 arena_sprintf(a, "imported from %s", ip->key));
                if (m->context_window)
                    cfg_node_set_str(
                        a, cn, "context_window_size",
                        arena_sprintf(a, "%llu", (unsigned long long)m->context_window));
                if (m->reasoning || m->image_input) {
                    cfg_node_t *caps = cfg_node_new(a, CFG_NODE_SEQ, 0, 0);
                    if (m->reasoning)
                        cfg_node_append(a, caps, cfg_node_scalar(a, "reasoning", false));
                    if (m->image_input)
                        cfg_node_append(a, caps, cfg_node_scalar(a, "vision", false));
                    cfg_node_set(a, cn, "capabilities", caps);
                }
                cfg_node_set_str(a, cn, "modality", m->image_input ? "text+image" : "text");
                cfg_node_append(a, cards, cn);
            }
            im->n_added++;
            if (!first) first = name;
        }
        if (used_env && (ip->has_secret || !getenv(ip->api_key_env))) add_env(im, ip->api_key_env);
    }
    const char *dm = cfg_node_text(cfg_node_get(defaults, "default_model"));
    if (!dm && first) {
        cfg_node_set_str(a, defaults, "default_model", first);
        dm = first;
    }
    const cfg_node_t *ds = cfg_node_get(routing, "decisions");
    if ((!ds || cfg_node_is_null(ds) || (ds->kind == CFG_NODE_SEQ && !ds->n)) && dm) {
        cfg_node_t *seq = cfg_node_new(a, CFG_NODE_SEQ, 0, 0),
                   *d = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
        cfg_node_set_str(a, d, "name", "imported-default");
        cfg_node_set_str(a, d, "description", "catch-all added by tether config import");
        cfg_node_t *refs = cfg_node_new(a, CFG_NODE_SEQ, 0, 0),
                   *r = cfg_node_new(a, CFG_NODE_MAP, 0, 0);
        cfg_node_set_str(a, r, "model", dm);
        cfg_node_append(a, refs, r);
        cfg_node_set(a, d, "modelRefs", refs);
        cfg_node_append(a, seq, d);
        cfg_node_set(a, routing, "decisions", seq);
    }
    if (!defaults->n) cfg_node_del(providers, "defaults");
    im->valid = cfg_import_validate(im, target, root);
    cfg_diags_sort(&im->notes);
    return im->valid;
}
