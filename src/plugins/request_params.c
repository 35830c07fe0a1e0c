/* request_params.c - the request_params plugin (SPEC §8): {max_tokens_limit,
 * max_n, blocked_params[], on_blocked: strip|reject}. Caps max_tokens,
 * max_completion_tokens (and Responses max_output_tokens) and n by replacing
 * their values; strips blocked top-level params, or rejects the request
 * with a 400 naming the first one found. */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "plugins/plugins.h"
#include <string.h>

static const char *const never_blocked[] = {"model", "messages", "input", "stream"};

static bool cap(const plg_ctx_t *c, plg_out_t *o, const char *key, double limit, bool track)
{
    jspan_t v;
    int64_t x;
    if (!plg_body_get(c, o, key, &v) || !jscan_int(c->body, v, &x)) return false;
    if (track && (o->max_tokens < 0 || x < o->max_tokens)) o->max_tokens = x;
    if ((double)x <= limit) return false;
    int64_t lim = (int64_t)limit;
    char *s = arena_sprintf(c->arena, "%lld", (long long)lim);
    plg_edit(c, o, v.off, v.len, s, strlen(s));
    if (track) o->max_tokens = lim;
    return true;
}

int plg_request_params(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    bool changed = false;
    const cfg_node_t *blocked = dec_cfg_seq(conf, "blocked_params");
    bool reject = !strcmp(dec_cfg_str(conf, "on_blocked", "strip"), "reject");
    for (size_t i = 0; blocked && i < blocked->n; i++) {
        const cfg_node_t *it = blocked->items[i];
        if (it->kind != CFG_NODE_SCALAR) continue;
        bool protected_ = false;
        for (size_t k = 0; k < sizeof never_blocked / sizeof *never_blocked; k++)
            protected_ |= !strcmp(it->str, never_blocked[k]);
        if (protected_) {
            plg_warn(o, arena_sprintf(c->arena, "request_params: %s cannot be blocked", it->str));
            continue;
        }
        jspan_t v;
        if (!plg_body_get(c, o, it->str, &v)) continue;
        if (reject) {
            o->status = 400;
            o->error =
                arena_sprintf(c->arena, "parameter \"%s\" is not allowed on this route", it->str);
            return 1;
        }
        plg_body_del(o, it->str);
        changed = true;
    }
    double lim;
    static const char *const tok_keys[] = {"max_tokens", "max_completion_tokens",
                                           "max_output_tokens"};
    bool has_lim = dec_cfg_has_num(conf, "max_tokens_limit", &lim) && lim >= 0;
    for (int k = 0; k < 3; k++)
        changed |= cap(c, o, tok_keys[k], has_lim ? lim : 1e300, true);
    if (dec_cfg_has_num(conf, "max_n", &lim) && lim >= 0) changed |= cap(c, o, "n", lim, false);
    return changed;
}

const cfg_plugin_kind_t plg_request_params_plugin = {
    .name = "request_params",
    .ops = &(const plg_ops_t){.phase = PLG_PRE, .run = plg_request_params}};
