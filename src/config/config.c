/* config.c - cfg_load_file/cfg_load_string: the five loading steps of SPEC
 * 3.1 (parse, reject old layouts, expand env, check keys, collect errors),
 * the root table, cfg_free and the lookups the request path uses. Section
 * loaders live in listeners.c, providers.c, global.c and routing*.c. */
#include "config/load.h"
#include <errno.h>
#include <stdlib.h>
#include <string.h>

CFG_SCHEMA(
    cfg_schema_root, "(top level)", "The top-level keys of config.yaml.",
    {.key = "version", .type = CFG_F_CUSTOM, .flags = CFG_FF_REQUIRED, .doc = "must be v0.3"},
    CFG_FCUSTOM("listeners", NULL, "see listeners[]"),
    CFG_FCUSTOM("providers", NULL, "see providers"),
    CFG_FCUSTOM("routing", NULL, "see routing (the recipe `default`)"),
    CFG_FCUSTOM("entrypoints", NULL, "see entrypoints[]"),
    CFG_FCUSTOM("recipes", NULL, "see recipes[]"), CFG_FCUSTOM("global", NULL, "see global"));

/* Old flat-layout keys: their presence means the file predates v0.3. */
static bool is_old_layout_key(const char *k)
{
    size_t l = strlen(k);
    return !strcmp(k, "signals") || !strcmp(k, "decisions") || !strcmp(k, "model_config") ||
           !strcmp(k, "vllm_endpoints") || (l > 6 && !strcmp(k + l - 6, "_rules"));
}

/* Step 2: reject layouts that are not v0.3. Returns false when the file
 * should not be read further. */
static bool check_version(ld_t *l, const cfg_node_t *root, cfg_t *c, const char *display)
{
    cfg_node_t *vk = NULL;
    const cfg_node_t *v = cfg_node_get_pair(root, "version", &vk);
    bool old_keys = false;
    for (size_t i = 0; i < root->n; i++)
        if (is_old_layout_key(root->keys[i]->str)) {
            size_t s = ld_push_key(l, root->keys[i]->str);
            ld_err(l, root->keys[i],
                   "top-level \"%s\" belongs to the old flat layout; run: tether config migrate "
                   "--config %s",
                   root->keys[i]->str, display);
            ld_pop(l, s);
            old_keys = true;
        }
    if (!v) {
        ld_err(
            l, root,
            "missing \"version: v0.3\" (an older layout?); run: tether config migrate --config %s",
            display);
        return false;
    }
    size_t s = ld_push_key(l, "version");
    bool ok = v->kind == CFG_NODE_SCALAR && !strcmp(v->str, "v0.3");
    if (!ok)
        ld_err(l, v,
               "version \"%s\" is not supported (expected v0.3); run: tether config migrate "
               "--config %s",
               v->kind == CFG_NODE_SCALAR ? v->str : "?", display);
    else
        c->version = arena_strdup(l->a, v->str);
    ld_pop(l, s);
    return ok && !old_keys;
}

static cfg_t *load_tree(ld_t *l, cfg_t *c, cfg_node_t *root, const char *display)
{
    if (root->kind != CFG_NODE_MAP) {
        ld_err(l, root, "the configuration must be a mapping, got %s", ld_kind_name(root));
        return c;
    }
    if (!check_version(l, root, c, display)) return c;
    cfg_env_expand_tree(l, root);
    c->tree = root;
    ld_check_keys(l, root, &cfg_schema_root);
    cfg_load_listeners(l, cfg_node_get(root, "listeners"), c);
    cfg_load_providers(l, cfg_node_get(root, "providers"), c);
    cfg_load_global(l, cfg_node_get(root, "global"), c);
    cfg_load_routing_all(l, root, c);
    cfg_validate_refs(l, root, c);
    cfg_validate_limits(l, root, c);
    cfg_validate_api_keys(l, c);
    return c;
}

cfg_t *cfg_load_string(const char *name, const char *yaml, size_t len, const cfg_load_opts_t *opts,
                       cfg_diags_t *diags)
{
    cfg_t *c = calloc(1, sizeof(*c));
    arena_t *a = malloc(sizeof(*a));
    if (!c || !a) abort();
    arena_init(a, 16384);
    c->mem = a;
    c->path = arena_strdup(a, name ? name : "<string>");
    ld_t l = {.a = a, .file = c->path, .d = diags, .seal_env = opts && opts->seal_env};
    size_t before = diags->n_errors;
    cfg_node_t *root = cfg_yaml_parse(a, c->path, yaml, len, diags);
    if (root) load_tree(&l, c, root, c->path);
    if (opts && opts->strict) cfg_diags_promote_warnings(diags);
    cfg_diags_sort(diags);
    if (!root || diags->n_errors > before) {
        cfg_free(c);
        return NULL;
    }
    return c;
}

cfg_t *cfg_load_file(const char *path, const cfg_load_opts_t *opts, cfg_diags_t *diags)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        cfg_diags_add(diags, CFG_DIAG_ERROR, path, 0, 0, "", "cannot open: %s", strerror(errno));
        return NULL;
    }
    buf_t b = BUF_INIT;
    bool err = !buf_read_stream(&b, f);
    fclose(f);
    if (err) {
        cfg_diags_add(diags, CFG_DIAG_ERROR, path, 0, 0, "", "read error");
        buf_free(&b);
        return NULL;
    }
    cfg_t *c = cfg_load_string(path, b.data ? b.data : "", b.len, opts, diags);
    buf_free(&b);
    return c;
}

void cfg_free(cfg_t *c)
{
    if (!c) return;
    if (c->mem) {
        arena_deinit(c->mem);
        free(c->mem);
    }
    free(c);
}

const cfg_model_t *cfg_find_model(const cfg_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->providers.n_models; i++) {
        const char *m = c->providers.models[i].name;
        if (m && strlen(m) == len && !memcmp(m, name, len)) return &c->providers.models[i];
    }
    return NULL;
}

bool cfg_is_auto_name(const cfg_t *c, const char *name, size_t len)
{
    for (size_t i = 0; i < c->router.n_auto_model_names; i++) {
        const char *m = c->router.auto_model_names[i];
        if (m && strlen(m) == len && !memcmp(m, name, len)) return true;
    }
    return false;
}
