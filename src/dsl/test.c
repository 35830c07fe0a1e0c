/* test.c - `tether dsl test` (SPEC §10.4): each TEST case becomes a
 * chat-completions request (WITH history, the query, a trailing tool call
 * and result, a provider-bound turn) with its headers and a seeded session
 * memory, and goes through route_eval: the real signals, decisions,
 * selection and session policy, with no upstream call. The effective
 * decision (after inheritance) is compared with the expected route, and
 * EXPECT {model, reason, phase} with the policy's outcome. */
#include "dsl/test.h"
#include "core/clock.h"
#include "route/eval.h"
#include "select/select.h"
#include "signals/embedder.h"
#include "signals/similarity.h"
#include <stdlib.h>
#include <string.h>

static void value_json(buf_t *b, const dsl_value_t *v)
{
    switch (v->kind) {
    case DSL_V_STR:
    case DSL_V_IDENT: buf_json_str(b, v->s, strlen(v->s)); break;
    case DSL_V_NUM: buf_puts(b, v->s); break;
    case DSL_V_BOOL: buf_puts(b, v->b ? "true" : "false"); break;
    case DSL_V_NULL: buf_puts(b, "null"); break;
    case DSL_V_LIST:
        buf_putc(b, '[');
        for (size_t i = 0; i < v->n; i++) {
            if (i) buf_putc(b, ',');
            value_json(b, v->items[i]);
        }
        buf_putc(b, ']');
        break;
    case DSL_V_BLOCK:
        buf_putc(b, '{');
        for (size_t i = 0; i < v->nf; i++) {
            if (i) buf_putc(b, ',');
            buf_json_str(b, v->fields[i].key, strlen(v->fields[i].key));
            buf_putc(b, ':');
            value_json(b, v->fields[i].val);
        }
        buf_putc(b, '}');
        break;
    }
}

int dsl_test_build_body(arena_t *a, const dsl_case_t *c, buf_t *b, char *err, size_t errlen)
{
    (void)a;
    const dsl_value_t *hist = dsl_block_get(c->with, "history"),
                      *ps = dsl_block_get(c->with, "provider_state"),
                      *etr = dsl_block_get(c->with, "end_with_tool_result");
    const char *state = ps ? ps->s : NULL;
    if (ps &&
        (!state || (strcmp(state, "previous_response_id") && strcmp(state, "encrypted_reasoning") &&
                    strcmp(state, "signed_thinking")))) {
        snprintf(
            err, errlen,
            "provider_state must be previous_response_id, encrypted_reasoning or signed_thinking");
        return -1;
    }
    if (hist && hist->kind != DSL_V_LIST) {
        snprintf(err, errlen, "history must be a list of {role, content} blocks");
        return -1;
    }
    buf_puts(b, "{\"model\":\"auto\",\"messages\":[");
    bool first = true;
    for (size_t i = 0; hist && i < hist->n; i++) {
        if (hist->items[i]->kind != DSL_V_BLOCK) {
            snprintf(err, errlen, "history[%zu] must be a {role, content} block", i);
            return -1;
        }
        if (!first) buf_putc(b, ',');
        value_json(b, hist->items[i]);
        first = false;
    }
    if (state && strcmp(state, "previous_response_id")) {
        if (!first) buf_putc(b, ',');
        first = false;
        if (!strcmp(state, "encrypted_reasoning"))
            buf_puts(
                b, "{\"role\":\"assistant\",\"content\":\"Earlier answer.\",\"reasoning_details\":"
                   "[{\"type\":\"reasoning.encrypted\",\"data\":\"gAAAAenc\"}]}");
        else
            buf_puts(
                b,
                "{\"role\":\"assistant\",\"content\":[{\"type\":\"thinking\",\"thinking\":\"...\","
                "\"signature\":\"sig-test\"},{\"type\":\"text\",\"text\":\"Earlier answer.\"}]}");
    }
    if (!first) buf_putc(b, ',');
    buf_puts(b, "{\"role\":\"user\",\"content\":");
    buf_json_str(b, c->query, strlen(c->query));
    buf_putc(b, '}');
    if (etr && etr->kind == DSL_V_BOOL && etr->b)
        buf_puts(
            b, ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"call_test_1\","
               "\"type\":\"function\",\"function\":{\"name\":\"run\",\"arguments\":\"{}\"}}]},"
               "{\"role\":\"tool\",\"tool_call_id\":\"call_test_1\",\"content\":\"ok\"}");
    buf_putc(b, ']');
    if (state && !strcmp(state, "previous_response_id"))
        buf_puts(b, ",\"previous_response_id\":\"resp_test_1\"");
    buf_putc(b, '}');
    return 0;
}

static int embed_adapter(void *ctx, const char *text, size_t len, float *out)
{
    return emb_embed(ctx, text, len, out) == EMB_OK ? 0 : -1;
}

static void row(buf_t *r, const char *what, const char *exp, const char *got, bool ok)
{
    buf_printf(r, "  %-7s expected %-22s got %-22s %s\n", what, exp, got && *got ? got : "(none)",
               ok ? "ok" : "MISMATCH");
}

static void matched_signals(buf_t *r, const route_plan_t *plan)
{
    buf_puts(r, "  signals:");
    size_t n = 0;
    for (size_t i = 0; i < plan->sig.n; i++) {
        const sig_result_t *s = &plan->sig.items[i];
        if (!s->matched || !s->rule) continue;
        buf_printf(r, " %s(\"%s\") %.2f", cfg_signal_family_name(s->rule->family), s->rule->name,
                   s->score);
        n++;
    }
    buf_puts(r, n ? "\n" : " none matched\n");
}

static void run_case(const cfg_t *cfg, const route_env_t *env, const dsl_decl_t *t, size_t idx,
                     buf_t *r, dsl_test_summary_t *sum)
{
    const dsl_case_t *c = &t->cases[idx];
    arena_t a;
    arena_init(&a, 16384);
    buf_t body = BUF_INIT;
    char err[256] = "";
    sum->cases++;
    const dsl_value_t *hv = dsl_block_get(c->with, "headers"),
                      *sv = dsl_block_get(c->with, "session");
    rq_header_t hs[32];
    size_t nh = 0;
    const char *sid = NULL;
    sess_state_t seed;
    route_plan_t plan;
    route_eval_in_t in = {.cfg = cfg, .env = env, .now_ms = clock_wall_ms()};
    if (dsl_test_build_body(&a, c, &body, err, sizeof err) != 0) goto fail_setup;
    if (hv && hv->kind != DSL_V_BLOCK) {
        snprintf(err, sizeof err, "headers must be a block");
        goto fail_setup;
    }
    for (size_t i = 0; hv && i < hv->nf && nh < 32; i++) {
        const dsl_value_t *v = hv->fields[i].val;
        if (!v->s) {
            snprintf(err, sizeof err, "header %s must be a string", hv->fields[i].key);
            goto fail_setup;
        }
        char *name = arena_strdup(&a, hv->fields[i].key);
        for (char *q = name; *q; q++)
            if (*q >= 'A' && *q <= 'Z') *q += 32;
        if (!strcmp(name, "x-session-id")) sid = v->s;
        hs[nh++] = (rq_header_t){name, strlen(name), v->s, strlen(v->s)};
    }
    in.headers = hs;
    in.n_headers = nh;
    in.body = body.data;
    in.body_len = body.len;
    if (sv) {
        buf_t j = BUF_INIT;
        if (sv->kind != DSL_V_BLOCK) {
            snprintf(err, sizeof err, "session must be a block");
            goto fail_setup;
        }
        /* value_json lives above; sessions are small blocks */
        buf_putc(&j, '{');
        for (size_t i = 0; i < sv->nf; i++) {
            if (i) buf_putc(&j, ',');
            buf_json_str(&j, sv->fields[i].key, strlen(sv->fields[i].key));
            buf_putc(&j, ':');
            value_json(&j, sv->fields[i].val);
        }
        buf_putc(&j, '}');
        int prc = route_eval_session_parse(j.data, j.len, in.now_ms, &seed, err, sizeof err);
        buf_free(&j);
        if (prc != 0) goto fail_setup;
        in.seed = &seed;
        in.seed_key = sid ? sid : arena_sprintf(&a, "test-%s-%zu", t->name, idx + 1);
    }
    if (route_eval(&in, &a, &plan, err, sizeof err) != 0) goto fail_setup;
    {
        const char *got_route = plan.decision_name ? plan.decision_name : "";
        const char *got_model = plan.model ? plan.model->name : "";
        const char *got_reason = plan.ran_policy ? sess_reason_name(plan.pol.reason) : "";
        const char *got_phase = plan.ran_policy ? sess_phase_name(plan.pol.phase) : "";
        /* the session setting mode, and under observe_only the policy's unenforced verdict */
        const char *got_mode = plan.ran_policy ? sess_mode_name(plan.pol.mode) : "";
        const char *got_verdict =
            plan.ran_policy && plan.pol.verdict_model ? plan.pol.verdict_model : "";
        const dsl_value_t *em = dsl_block_get(c->expect, "model"),
                          *er = dsl_block_get(c->expect, "reason"),
                          *ep = dsl_block_get(c->expect, "phase"),
                          *emo = dsl_block_get(c->expect, "mode"),
                          *ev = dsl_block_get(c->expect, "verdict_model");
        bool ok_route = !strcmp(got_route, c->route);
        bool ok_model = !em || (em->s && !strcmp(em->s, got_model));
        bool ok_reason = !er || (er->s && !strcmp(er->s, got_reason));
        bool ok_phase = !ep || (ep->s && !strcmp(ep->s, got_phase));
        bool ok_mode = !emo || (emo->s && !strcmp(emo->s, got_mode));
        bool ok_verdict = !ev || (ev->s && !strcmp(ev->s, got_verdict));
        if (ok_route && ok_model && ok_reason && ok_phase && ok_mode && ok_verdict) {
            sum->passed++;
            buf_printf(r, "PASS %s[%zu] ", t->name, idx + 1);
            dsl_fmt_string(r, c->query);
            buf_printf(r, " -> %s (%s, %s)\n", got_route, got_model, got_reason);
        } else {
            sum->failed++;
            buf_printf(r, "FAIL %s[%zu] ", t->name, idx + 1);
            dsl_fmt_string(r, c->query);
            buf_putc(r, '\n');
            row(r, "route:", c->route, got_route, ok_route);
            if (em)
                row(r, "model:", em->s ? em->s : "?", got_model, ok_model);
            else
                buf_printf(r, "  %-7s got %s\n", "model:", got_model);
            if (er)
                row(r, "reason:", er->s ? er->s : "?", got_reason, ok_reason);
            else
                buf_printf(r, "  %-7s got %s\n", "reason:", got_reason);
            if (ep) row(r, "phase:", ep->s ? ep->s : "?", got_phase, ok_phase);
            if (emo) row(r, "mode:", emo->s ? emo->s : "?", got_mode, ok_mode);
            if (ev) row(r, "verdict:", ev->s ? ev->s : "?", got_verdict, ok_verdict);
            if (plan.status != ROUTE_OK)
                buf_printf(r, "  error:  %s %s\n", plan.error_code ? plan.error_code : "",
                           plan.error_message);
            matched_signals(r, &plan);
        }
    }
    buf_free(&body);
    arena_deinit(&a);
    return;
fail_setup:
    sum->failed++;
    buf_printf(r, "FAIL %s[%zu] ", t->name, idx + 1);
    dsl_fmt_string(r, c->query);
    buf_printf(r, "\n  setup:  %s\n", err);
    buf_free(&body);
    arena_deinit(&a);
}

int dsl_test_run(const dsl_program_t *p, const cfg_t *cfg, buf_t *report, dsl_test_summary_t *sum)
{
    memset(sum, 0, sizeof *sum);
    cfg_diags_t d;
    cfg_diags_init(&d);
    sig_engine_t *sig = sig_engine_new(cfg, &d);
    if (!sig) {
        buf_puts(report, "dsl test: the signal engine could not be built:\n");
        for (size_t i = 0; i < d.n; i++) {
            cfg_diag_format(report, &d.items[i]);
            buf_putc(report, '\n');
        }
        cfg_diags_free(&d);
        return -1;
    }
    cfg_diags_free(&d);
    sel_state_t *sel = sel_state_new();
    sel_embedder_t emb = {0};
    route_env_t env = {.sig = sig, .sel = sel};
    const sig_sim_t *sim = sig_sim_of(sig);
    if (sim && sim->emb) {
        emb.embed = embed_adapter;
        emb.dim = (size_t)emb_dims(sim->emb);
        emb.ctx = sim->emb;
        env.embedder = &emb;
    }
    for (size_t i = 0; i < p->n; i++) {
        const dsl_decl_t *dc = p->decls[i];
        if (dc->kind == DSL_D_TEST)
            for (size_t k = 0; k < dc->n_cases; k++)
                run_case(cfg, &env, dc, k, report, sum);
    }
    buf_printf(report, "%zu cases: %zu passed, %zu failed\n", sum->cases, sum->passed, sum->failed);
    sel_state_free(sel);
    sig_engine_free(sig);
    return 0;
}
