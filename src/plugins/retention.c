/* retention.c - EMIT retention (SPEC §8): every field the decision's
 * retention block sets is echoed to the client as
 * x-tether-retention-<field>. The session policy, cache and replay read the
 * same block from the decision for their effects. */
#include "config/family.h"
#include "plugins/plugins.h"

static void echo(const plg_ctx_t *c, plg_out_t *o, const char *field, const char *value)
{
    if (o->n_resp_headers >= PLG_MAX_HDR) return;
    o->resp_headers[o->n_resp_headers++] =
        (plg_hdr_op_t){PLG_HDR_ADD, arena_sprintf(c->arena, "x-tether-retention-%s", field), value};
}

int plg_retention(const plg_ctx_t *c, plg_out_t *o)
{
    const cfg_decision_t *d = c->decision;
    if (!d || !d->has_retention) return 0;
    const cfg_retention_t *r = &d->retention;
    size_t before = o->n_resp_headers;
    if (r->has_drop) echo(c, o, "drop", r->drop ? "true" : "false");
    if (r->has_ttl_turns)
        echo(c, o, "ttl_turns", arena_sprintf(c->arena, "%lld", (long long)r->ttl_turns));
    if (r->has_keep_current_model)
        echo(c, o, "keep_current_model", r->keep_current_model ? "true" : "false");
    if (r->has_prefer_prefix_retention)
        echo(c, o, "prefer_prefix_retention", r->prefer_prefix_retention ? "true" : "false");
    return o->n_resp_headers > before;
}

static int retention_run(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    return plg_retention(c, o);
}

const cfg_plugin_kind_t plg_retention_plugin = {
    .name = "retention",
    .flags = CFG_PLG_IMPLICIT,
    .ops = &(const plg_ops_t){.phase = PLG_POST, .run = retention_run}};
