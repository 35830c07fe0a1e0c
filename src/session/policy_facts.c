/* policy_facts.c - the session policy's request facts (SPEC §9.3): the
 * token estimates H and C, the tool loop, bindings and the bound model,
 * taken from a request view (sess_facts_from_rq, declared in policy.h). */
#include "request/request.h"
#include "session/policy.h"

double sess_estimate_tokens(size_t bytes)
{
    return (double)((bytes + 3) / 4);
}

void sess_facts_from_rq(const struct rq *r, sess_facts_t *f)
{
    f->active_tool_loop = r->active_tool_loop;
    f->bindings = r->bindings;
    if (r->bound_model && *r->bound_model) {
        f->bound_model = r->bound_model;
        f->bound_model_signed = true;
        f->bound_by_tool_calls = r->tool_calls_bound;
    }
    f->n_assistant = (uint32_t)r->n_assistant;
    /* The final block: the trailing tool results, else the last user message. */
    size_t start = r->n_msgs;
    if (r->ends_with_tool_results) {
        start = r->n_msgs;
        while (start > 0 && r->msgs[start - 1].role == JROLE_TOOL)
            start--;
    } else if (r->last_user_msg >= 0) {
        start = (size_t)r->last_user_msg;
    }
    double tools = r->tools.len ? sess_estimate_tokens(r->tools.len) : 0;
    double h = tools, c = tools;
    for (size_t i = 0; i < r->n_msgs; i++) {
        double t = sess_estimate_tokens(r->msgs[i].text_bytes) + 4;
        c += t;
        if (i < start) h += t;
    }
    f->H = h;
    f->C = c;
}
