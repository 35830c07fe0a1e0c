/* sig_fixture.h - shared by the signal family tests and bench_pipeline:
 * load a config from YAML snippets (signals plus one OR decision over the
 * given leaves), build the signal engine, turn a chat body into request
 * facts and evaluate. Header-only; not thread-safe. */
#ifndef TETHER_TESTS_SIG_FIXTURE_H
#define TETHER_TESTS_SIG_FIXTURE_H
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/routing.h"
#include "core/buf.h"
#include "json/scan.h"
#include "request/request.h"
#include "signals/signal.h"

typedef struct sigt {
    cfg_t *cfg;
    sig_engine_t *e;
    cfg_diags_t diags;
    arena_t a;
    rq_t *rq;
    sig_results_t res;
    char err[2048];
} sigt_t;

/* extra: appended at top level (e.g. a global: block); may be NULL. */
static inline sigt_t *sigt_load_ex(const char *signals, const char *conditions, const char *extra)
{
    sigt_t *t = calloc(1, sizeof *t);
    buf_t y = BUF_INIT;
    buf_printf(&y,
               "version: v0.3\n"
               "providers:\n"
               "  defaults: {default_model: small}\n"
               "  models:\n"
               "    - {name: small, backend_refs: [{endpoint: 'h:1'}]}\n"
               "routing:\n"
               "  modelCards: [{name: small}]\n"
               "  signals:\n%s"
               "  decisions:\n"
               "    - name: d\n"
               "      rules: {operator: OR, conditions: %s}\n"
               "      modelRefs: [{model: small}]\n%s",
               signals, conditions, extra ? extra : "");
    cfg_diags_init(&t->diags);
    t->cfg = cfg_load_string("t.yaml", y.data, y.len, NULL, &t->diags);
    buf_free(&y);
    if (t->cfg) t->e = sig_engine_new(t->cfg, &t->diags);
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < t->diags.n; i++) {
        cfg_diag_format(&b, &t->diags.items[i]);
        buf_putc(&b, '\n');
    }
    snprintf(t->err, sizeof t->err, "%s", b.data ? b.data : "");
    buf_free(&b);
    arena_init(&t->a, 1 << 16);
    return t;
}

static inline sigt_t *sigt_load(const char *signals, const char *conditions)
{
    return sigt_load_ex(signals, conditions, NULL);
}

static inline void sigt_free(sigt_t *t)
{
    if (!t) return;
    sig_engine_free(t->e);
    cfg_free(t->cfg);
    cfg_diags_free(&t->diags);
    arena_deinit(&t->a);
    free(t);
}

/* Evaluate a chat body (JSON) with env (may be NULL). Returns 0. */
static inline int sigt_eval_body(sigt_t *t, const char *body, size_t len, const sig_env_t *env,
                                 const rq_header_t *h, size_t nh)
{
    arena_reset(&t->a);
    jreq_t *jr = arena_calloc(&t->a, sizeof *jr);
    jscan_err_t e;
    if (jscan_request(body, len, &t->a, jr, &e) != 0) return -1;
    t->rq = rq_from_chat(&t->a, body, len, jr, h, nh);
    if (!t->rq) return -1;
    return sig_eval(t->e, &t->cfg->routing->recipes[0], t->rq, env, &t->a, &t->res);
}

/* Evaluate a single user prompt (escaped into JSON). */
static inline int sigt_eval_prompt(sigt_t *t, const char *prompt, const sig_env_t *env)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":");
    buf_json_str(&b, prompt, strlen(prompt));
    buf_puts(&b, "}]}");
    int rc = sigt_eval_body(t, b.data, b.len, env, NULL, 0);
    buf_free(&b);
    return rc;
}

static inline const sig_result_t *sigt_get(const sigt_t *t, cfg_signal_family_t f, const char *name)
{
    return sig_results_find(&t->res, f, name);
}

static inline bool sigt_matched(const sigt_t *t, cfg_signal_family_t f, const char *name)
{
    const sig_result_t *r = sigt_get(t, f, name);
    return r && r->matched;
}
#endif
