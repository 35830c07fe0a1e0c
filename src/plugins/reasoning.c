/* reasoning.c - reasoning toggles (SPEC §8): the chosen modelRef's
 * use_reasoning / reasoning_effort applied through the model's
 * reasoning_family (providers.defaults.reasoning_families):
 *   chat_template_kwargs  chat_template_kwargs.<parameter> = true|false
 *   reasoning_effort      top-level <parameter> (reasoning_effort) = effort | removed
 *   reasoning_object      reasoning = {effort} | removed
 *   anthropic_thinking    thinking = {type: enabled, budget_tokens} | removed
 * Budgets: low 2048, medium 8192, high 24576, capped at max_tokens/2;
 * thinking stays off when that cap is below 1024. With use_reasoning unset
 * the client's fields pass through. */
#include "config/family.h"
#include "plugins/plugins.h"
#include <string.h>

static const cfg_reasoning_family_t *family(const plg_ctx_t *c)
{
    const char *name = c->model ? c->model->reasoning_family : NULL;
    for (size_t i = 0; name && c->cfg && i < c->cfg->providers.n_reasoning_families; i++) {
        const cfg_reasoning_family_t *f = &c->cfg->providers.reasoning_families[i];
        if (f->name && !strcmp(f->name, name)) return f;
    }
    return NULL;
}

static int64_t budget_for(const char *effort)
{
    if (!strcmp(effort, "high") || !strcmp(effort, "xhigh")) return 24576;
    if (!strcmp(effort, "medium")) return 8192;
    return 2048; /* low, minimal */
}

static int64_t max_tokens(const plg_ctx_t *c, const plg_out_t *o)
{
    if (o->max_tokens >= 0) return o->max_tokens;
    int64_t best = -1, x;
    jspan_t v;
    static const char *const keys[] = {"max_tokens", "max_completion_tokens", "max_output_tokens"};
    for (int k = 0; k < 3; k++)
        if (plg_body_get(c, o, keys[k], &v) && jscan_int(c->body, v, &x) && (best < 0 || x < best))
            best = x;
    return best;
}

int plg_reasoning(const plg_ctx_t *c, plg_out_t *o)
{
    const cfg_model_ref_t *r = c->ref;
    const cfg_reasoning_family_t *f = family(c);
    if (!r || !r->has_use_reasoning || !f || !f->type) return 0;
    bool on = r->use_reasoning;
    const char *effort = r->reasoning_effort ? r->reasoning_effort
                         : c->cfg && c->cfg->providers.default_reasoning_effort
                             ? c->cfg->providers.default_reasoning_effort
                             : "medium";
    if (!strcmp(effort, "none")) on = false;
    size_t n;
    if (!strcmp(f->type, "chat_template_kwargs")) {
        const char *param = f->parameter ? f->parameter : "enable_thinking";
        const char *val = on ? "true" : "false";
        jspan_t obj, pv;
        if (plg_body_get(c, o, "chat_template_kwargs", &obj) && jscan_type(c->body, obj) == '{') {
            if (jscan_obj_get(c->body, obj, param, &pv)) {
                plg_edit(c, o, pv.off, pv.len, val, strlen(val));
            } else {
                uint32_t cur = 0;
                jspan_t k, v;
                bool nonempty = jscan_obj_next(c->body, obj, &cur, &k, &v);
                char *m = arena_sprintf(c->arena, "%s:%s%s", plg_json_str(c->arena, param, &n), val,
                                        nonempty ? "," : "");
                plg_edit(c, o, obj.off + 1, 0, m, strlen(m));
            }
        } else {
            plg_body_set(
                c, o, "chat_template_kwargs",
                arena_sprintf(c->arena, "{%s:%s}", plg_json_str(c->arena, param, &n), val));
        }
    } else if (!strcmp(f->type, "reasoning_effort")) {
        const char *param = f->parameter ? f->parameter : "reasoning_effort";
        if (on)
            plg_body_set(c, o, param, plg_json_str(c->arena, effort, &n));
        else
            plg_body_del(o, param);
    } else if (!strcmp(f->type, "reasoning_object")) {
        if (on)
            plg_body_set(
                c, o, "reasoning",
                arena_sprintf(c->arena, "{\"effort\":%s}", plg_json_str(c->arena, effort, &n)));
        else
            plg_body_del(o, "reasoning");
    } else if (!strcmp(f->type, "anthropic_thinking")) {
        int64_t budget = budget_for(effort), mt = max_tokens(c, o);
        if (mt >= 0 && budget > mt / 2) budget = mt / 2;
        if (on && budget >= 1024)
            plg_body_set(c, o, "thinking",
                         arena_sprintf(c->arena, "{\"type\":\"enabled\",\"budget_tokens\":%lld}",
                                       (long long)budget));
        else
            plg_body_del(o, "thinking");
    } else {
        return 0;
    }
    return 1;
}

static int reasoning_run(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    return plg_reasoning(c, o);
}

const cfg_plugin_kind_t plg_reasoning_plugin = {
    .name = "reasoning",
    .flags = CFG_PLG_IMPLICIT,
    .ops = &(const plg_ops_t){.phase = PLG_POST, .run = reasoning_run}};
