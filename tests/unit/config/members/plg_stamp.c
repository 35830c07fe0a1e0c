/* plg_stamp.c - a test-only plugin, written exactly as a member in
 * src/plugins/ would be: `{type: stamp, configuration: {value}}` adds
 * `x-tether-stamp: <value>` to the client's response, after selection. It
 * declares its configuration keys, so they are checked and documented. */
#include "config/family.h"
#include "decision/cfgnode.h"
#include "plugins/plugins.h"

static int stamp_run(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    const char *v = dec_cfg_str(conf, "value", NULL);
    if (!v || o->n_resp_headers >= PLG_MAX_HDR) return 0;
    o->resp_headers[o->n_resp_headers++] = (plg_hdr_op_t){PLG_HDR_ADD, "x-tether-stamp", v};
    return 1;
}

const cfg_plugin_kind_t plg_stamp_plugin = {
    .name = "stamp",
    .fields = (const cfg_field_t[]){CFG_FCUSTOM("value", NULL, "the header's value"), {0}},
    .doc = "Test-only: a response header.",
    .ops = &(const plg_ops_t){.phase = PLG_POST, .run = stamp_run},
};
