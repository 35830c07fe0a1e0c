/* conversation.c - the conversation family (SPEC §5.4 conversation):
 * count|exists features over the request facts (messages by role, user
 * turns, tool definitions, assistant tool calls and completed tool cycles,
 * the active tool loop, images) and router memory (session turns, switches,
 * idle seconds, from sig_env_t), compared with a predicate. Nothing here
 * reads message text. */
#include "config/family.h"
#include "signals/family.h"

#include <stdlib.h>
#include <string.h>

enum {
    CV_MESSAGE = 0,
    CV_USER_TURN,
    CV_TOOL_DEFINITION,
    CV_ASSISTANT_TOOL_CALL,
    CV_ASSISTANT_TOOL_CYCLE,
    CV_ACTIVE_TOOL_LOOP,
    CV_IMAGE_CONTENT,
    CV_SESSION_TURNS,
    CV_SESSION_SWITCHES,
    CV_SESSION_IDLE,
};
static const char *const cv_sources[] = {"message",
                                         "user_turn",
                                         "tool_definition",
                                         "assistant_tool_call",
                                         "assistant_tool_cycle",
                                         "active_tool_loop",
                                         "image_content",
                                         "session_turns",
                                         "session_switches",
                                         "session_idle_seconds",
                                         NULL};

typedef struct cv_rule {
    bool exists;
    int source;
    int role; /* jrole_t, -1 any */
    sig_pred_t pred;
} cv_rule_t;

static const char *scalar(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *v = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, key) : NULL;
    return v && v->kind == CFG_NODE_SCALAR ? v->str : NULL;
}

static int cv_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    cv_rule_t *rules = calloc(b->n_rules + 1, sizeof *rules);
    *state = rules;
    int rc = 0;
    for (size_t r = 0; r < b->n_rules; r++) {
        const cfg_signal_t *sg = b->rules[r];
        cv_rule_t *cr = &rules[r];
        cr->role = -1;
        const char *ft = scalar(sg->feature, "type");
        const cfg_node_t *src = sg->feature && sg->feature->kind == CFG_NODE_MAP
                                    ? cfg_node_get(sg->feature, "source")
                                    : NULL;
        const char *st = scalar(src, "type");
        if (!ft || (strcmp(ft, "count") && strcmp(ft, "exists"))) {
            sig_rule_error(d, b->cfg, sg, "feature.type must be count or exists");
            rc = -1;
            continue;
        }
        cr->exists = !strcmp(ft, "exists");
        cr->source = -1;
        for (int i = 0; st && cv_sources[i]; i++)
            if (!strcmp(st, cv_sources[i])) cr->source = i;
        if (cr->source < 0) {
            sig_rule_error(
                d, b->cfg, sg,
                "feature.source.type \"%s\" is not one of message, user_turn, tool_definition, "
                "assistant_tool_call, assistant_tool_cycle, active_tool_loop, image_content, "
                "session_turns, "
                "session_switches, session_idle_seconds",
                st ? st : "");
            rc = -1;
            continue;
        }
        const char *role = scalar(src, "role");
        if (role) {
            cr->role = !strcmp(role, "user")                                   ? JROLE_USER
                       : !strcmp(role, "assistant")                            ? JROLE_ASSISTANT
                       : !strcmp(role, "system") || !strcmp(role, "developer") ? JROLE_SYSTEM
                       : !strcmp(role, "tool") || !strcmp(role, "function")    ? JROLE_TOOL
                                                                               : -2;
            if (cr->role == -2) {
                sig_rule_error(
                    d, b->cfg, sg,
                    "feature.source.role \"%s\" is not user, assistant, system, developer or tool",
                    role);
                rc = -1;
            }
        }
        const char *why = NULL;
        if (sig_pred_parse(sg->predicate, &cr->pred, &why) != 0) {
            sig_rule_error(d, b->cfg, sg, "%s", why);
            rc = -1;
        }
    }
    return rc;
}

static bool role_is(jrole_t have, int want)
{
    if (want == JROLE_SYSTEM) return have == JROLE_SYSTEM || have == JROLE_DEVELOPER;
    if (want == JROLE_TOOL) return have == JROLE_TOOL || have == JROLE_FUNCTION;
    return (int)have == want;
}

static double feature_count(const cv_rule_t *cr, const rq_t *rq, const sig_env_t *env)
{
    switch (cr->source) {
    case CV_MESSAGE: {
        if (cr->role < 0) return (double)rq->n_msgs;
        size_t c = 0;
        for (size_t i = 0; i < rq->n_msgs; i++)
            c += role_is(rq->msgs[i].role, cr->role);
        return (double)c;
    }
    case CV_USER_TURN: return (double)rq->n_user;
    case CV_TOOL_DEFINITION: return (double)rq->n_tools;
    case CV_ASSISTANT_TOOL_CALL: return (double)rq->n_tool_calls;
    case CV_ASSISTANT_TOOL_CYCLE: {
        /* an assistant message with tool calls answered by a tool result */
        size_t c = 0;
        for (size_t i = 0; i + 1 < rq->n_msgs; i++)
            if (rq->msgs[i].role == JROLE_ASSISTANT && rq->msgs[i].n_calls &&
                (rq->msgs[i + 1].role == JROLE_TOOL || rq->msgs[i + 1].role == JROLE_FUNCTION))
                c++;
        return (double)c;
    }
    case CV_ACTIVE_TOOL_LOOP: return rq->active_tool_loop ? 1 : 0;
    case CV_IMAGE_CONTENT: return (double)rq->n_images;
    case CV_SESSION_TURNS: return env->has_session ? (double)env->session_turns : 0;
    case CV_SESSION_SWITCHES: return env->has_session ? (double)env->session_switches : 0;
    case CV_SESSION_IDLE: return env->has_session ? (double)env->session_idle_seconds : 0;
    }
    return 0;
}

static void cv_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const cv_rule_t *rules = p;
    for (size_t i = 0; i < n; i++) {
        const cv_rule_t *cr = &rules[refs[i].id];
        sig_result_t *res = refs[i].res;
        if (cr->source < 0) {
            res->error = "bad_feature";
            continue;
        }
        double v = cx->rq ? feature_count(cr, cx->rq, cx->env) : 0;
        if (cr->exists) v = v > 0 ? 1 : 0;
        sig_pred_result(&cr->pred, v, res);
    }
}

CFG_SIG_FAMILY(sig_conversation_family, "conversation", "conversation", "conversation rules",
               "Conversation shape (counts of messages, tools, ...).",
               .fields = (const cfg_field_t[]){CFG_SIGF_FEATURE, CFG_SIGF_PREDICATE, {0}},
               .ops = &(const sig_family_ops_t){
                   .compile = cv_compile, .free = free, .eval = cv_eval});
