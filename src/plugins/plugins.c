/* plugins.c - the plugin pipeline (SPEC §8 order): fast_response and
 * request_params before selection (plg_run_pre); system_prompt, reasoning,
 * header_mutation and the retention echo after it (plg_run_post). The
 * response cache runs between the two and lives elsewhere. */
#include "plugins/plugins.h"

static void applied(plg_out_t *o, const char *type)
{
    if (o->n_applied < sizeof o->applied / sizeof *o->applied) o->applied[o->n_applied++] = type;
}

int plg_run_pre(const plg_ctx_t *c, plg_out_t *o)
{
    const cfg_plugin_t *p;
    if ((p = plg_find(c->decision, "fast_response"))) {
        plg_fast_response(c, p->configuration, o);
        applied(o, "fast_response");
        return 1;
    }
    if ((p = plg_find(c->decision, "request_params"))) {
        int rc = plg_request_params(c, p->configuration, o);
        if (rc) applied(o, "request_params");
        if (o->status == 400) return 1;
    }
    return 0;
}

int plg_run_post(const plg_ctx_t *c, plg_out_t *o)
{
    const cfg_plugin_t *p;
    if ((p = plg_find(c->decision, "system_prompt")) && plg_system_prompt(c, p->configuration, o))
        applied(o, "system_prompt");
    if (plg_reasoning(c, o)) applied(o, "reasoning");
    if ((p = plg_find(c->decision, "header_mutation")) &&
        plg_header_mutation(c, p->configuration, o))
        applied(o, "header_mutation");
    if (plg_retention(c, o)) applied(o, "retention");
    plg_body_finish(c, o);
    return 0;
}
