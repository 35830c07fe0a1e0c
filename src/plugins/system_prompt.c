/* system_prompt.c - the system_prompt plugin (SPEC §8): {system_prompt,
 * mode: insert|replace}. insert puts the text (and a blank line) before the
 * existing system content; replace swaps the content; with no system content
 * a system message (chat), `system` (Anthropic) or `instructions`
 * (Responses) is added. All by splicing into the original body. */
#include "decision/cfgnode.h"
#include "config/family.h"
#include "plugins/plugins.h"
#include <string.h>

/* Prefix or replace a content value (string or array of text parts). */
static void edit_content(const plg_ctx_t *c, plg_out_t *o, jspan_t v, const char *text,
                         bool replace)
{
    char t = jscan_type(c->body, v);
    size_t n;
    if (replace || (t != '"' && t != '[')) {
        char *s = plg_json_str(c->arena, text, &n);
        plg_edit(c, o, v.off, v.len, s, n);
    } else if (t == '"') {
        char *with = arena_sprintf(c->arena, "%s\n\n", text);
        char *s = plg_json_str(c->arena, with, &n);
        plg_edit(c, o, v.off + 1, 0, s + 1, n - 2); /* inside the opening quote */
    } else {
        uint32_t cur = 0;
        jspan_t first;
        bool nonempty = jscan_arr_next(c->body, v, &cur, &first);
        char *s = plg_json_str(c->arena, text, &n);
        char *part =
            arena_sprintf(c->arena, "{\"type\":\"text\",\"text\":%s}%s", s, nonempty ? "," : "");
        plg_edit(c, o, v.off + 1, 0, part, strlen(part));
    }
}

int plg_system_prompt(const plg_ctx_t *c, const cfg_node_t *conf, plg_out_t *o)
{
    const char *text = dec_cfg_str(conf, "system_prompt", NULL);
    if (!text) return 0;
    bool replace = !strcmp(dec_cfg_str(conf, "mode", "insert"), "replace");
    const jreq_t *jr = c->jr;
    size_t n;
    if (c->proto == RQ_PROTO_ANTHROPIC || c->proto == RQ_PROTO_RESPONSES) {
        const char *key = c->proto == RQ_PROTO_ANTHROPIC ? "system" : "instructions";
        jspan_t v;
        if (plg_body_get(c, o, key, &v) && jscan_type(c->body, v) != 'n')
            edit_content(c, o, v, text, replace);
        else
            plg_body_set(c, o, key, plg_json_str(c->arena, text, &n));
        return 1;
    }
    if (!jr->has_messages) return 0;
    for (uint32_t i = 0; i < jr->n_msgs; i++) {
        const jmsg_t *m = &jr->msgs[i];
        if (m->role != JROLE_SYSTEM && m->role != JROLE_DEVELOPER) continue;
        if (!m->content.len) break; /* no content member: add a message instead */
        edit_content(c, o, m->content, text, replace);
        return 1;
    }
    char *s = plg_json_str(c->arena, text, &n);
    char *msg =
        arena_sprintf(c->arena, "{\"role\":\"system\",\"content\":%s}%s", s, jr->n_msgs ? "," : "");
    plg_edit(c, o, jr->messages.off + 1, 0, msg, strlen(msg));
    return 1;
}

const cfg_plugin_kind_t plg_system_prompt_plugin = {
    .name = "system_prompt",
    .ops = &(const plg_ops_t){.phase = PLG_POST, .run = plg_system_prompt}};
