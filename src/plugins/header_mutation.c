/* header_mutation.c - the header_mutation plugin (SPEC §8): {add[{name,
 * value}], update[{name, value}], delete[name | {name}]} on the upstream
 * request's headers, as ops the proxy applies in order. Host,
 * Content-Length, hop-by-hop headers and credentials are never touched
 * (skipped with a warning). */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "plugins/plugins.h"
#include <ctype.h>
#include <string.h>
#include <strings.h>

bool plg_header_is_protected(const char *name)
{
    static const char *const never[] = {"host",
                                        "content-length",
                                        "connection",
                                        "keep-alive",
                                        "proxy-connection",
                                        "proxy-authenticate",
                                        "proxy-authorization",
                                        "te",
                                        "trailer",
                                        "trailers",
                                        "transfer-encoding",
                                        "upgrade",
                                        "authorization",
                                        "x-api-key",
                                        "api-key",
                                        "cookie",
                                        "set-cookie",
                                        "x-goog-api-key"};
    for (size_t i = 0; i < sizeof never / sizeof *never; i++)
        if (!strcasecmp(name, never[i])) return true;
    return false;
}

static bool valid_name(const char *s)
{
    if (!*s) return false;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s)) return false;
    return true;
}

static bool valid_value(const char *s)
{
    for (; *s; s++)
        if (*s == '\r' || *s == '\n' || *s == '\0') return false;
    return true;
}

static void add_op(const plg_ctx_t *c, plg_out_t *o, plg_hdr_kind_t k, const char *name,
                   const char *value)
{
    if (!name || !valid_name(name) || (k != PLG_HDR_DEL && (!value || !valid_value(value)))) {
        plg_warn(o, "header_mutation: invalid header skipped");
        return;
    }
    if (plg_header_is_protected(name)) {
        plg_warn(o, arena_sprintf(c->arena, "header_mutation: %s is protected and was not changed",
                                  name));
        return;
    }
    if (o->n_hdr_ops >= PLG_MAX_HDR) return;
    char *lower = arena_strdup(c->arena, name);
    for (char *p = lower; *p; p++)
        *p = (char)tolower((unsigned char)*p);
    o->hdr_ops[o->n_hdr_ops++] = (plg_hdr_op_t){k, lower, k == PLG_HDR_DEL ? NULL : value};
}

int plg_header_mutation(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    size_t before = o->n_hdr_ops;
    static const char *const keys[] = {"add", "update", "delete"};
    static const plg_hdr_kind_t kinds[] = {PLG_HDR_ADD, PLG_HDR_SET, PLG_HDR_DEL};
    for (int k = 0; k < 3; k++) {
        const cfg_node_t *list = dec_cfg_seq(conf, keys[k]);
        for (size_t i = 0; list && i < list->n; i++) {
            const cfg_node_t *it = list->items[i];
            const char *name =
                it->kind == CFG_NODE_SCALAR ? it->str : dec_cfg_str(it, "name", NULL);
            const char *value = it->kind == CFG_NODE_MAP ? dec_cfg_str(it, "value", NULL) : NULL;
            add_op(c, o, kinds[k], name, value);
        }
    }
    return o->n_hdr_ops > before;
}

const cfg_plugin_kind_t plg_header_mutation_plugin = {
    .name = "header_mutation",
    .ops = &(const plg_ops_t){.phase = PLG_POST, .run = plg_header_mutation}};
