/* plugins.c - the plugin pipeline (SPEC §8 order): the members of the
 * registry (registry.h) in its order, the PLG_PRE ones before selection
 * (fast_response, request_params: plg_run_pre), the PLG_POST ones after it
 * (system_prompt, reasoning, header_mutation, the retention echo:
 * plg_run_post). The response cache runs between the two and lives
 * elsewhere. */
#include "plugins/plugins.h"
#include "config/family.h"

static void applied(plg_out_t *o, const char *type)
{
    if (o->n_applied < sizeof o->applied / sizeof *o->applied) o->applied[o->n_applied++] = type;
}

/* Run member m when it applies to the decision. */
static void run(const plg_ctx_t *c, const cfg_plugin_kind_t *m, plg_out_t *o)
{
    const cfg_plugin_t *p = NULL;
    if (!(m->flags & CFG_PLG_IMPLICIT) && !(p = plg_find(c->decision, m->name))) return;
    if (m->ops->run(c, p ? p->configuration : NULL, o)) applied(o, m->name);
}

int plg_run_pre(const plg_ctx_t *c, plg_out_t *o)
{
    for (const cfg_plugin_kind_t *const *m = cfg_plg_registry; *m; m++) {
        if (!(*m)->ops || (*m)->ops->phase != PLG_PRE) continue;
        run(c, *m, o);
        if (o->fast || o->status == 400) return 1;
    }
    return 0;
}

int plg_run_post(const plg_ctx_t *c, plg_out_t *o)
{
    for (const cfg_plugin_kind_t *const *m = cfg_plg_registry; *m; m++)
        if ((*m)->ops && (*m)->ops->phase == PLG_POST) run(c, *m, o);
    plg_body_finish(c, o);
    return 0;
}
