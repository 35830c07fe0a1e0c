/* dec_fixture.h - shared by the decision tests: load a config from YAML
 * (errors printed, warnings ignored) and build signal results by hand. */
#ifndef TESTS_DEC_FIXTURE_H
#define TESTS_DEC_FIXTURE_H
#include <stdio.h>
#include <string.h>
#include "config/routing.h"
#include "decision/decision.h"

#define HEAD                                                                                       \
    "version: v0.3\n"                                                                              \
    "providers:\n"                                                                                 \
    "  defaults: {default_model: small}\n"                                                         \
    "  models:\n"                                                                                  \
    "    - {name: small, backend_refs: [{endpoint: 'h:1'}]}\n"                                     \
    "    - {name: large, backend_refs: [{endpoint: 'h:2'}]}\n"                                     \
    "routing:\n"                                                                                   \
    "  modelCards: [{name: small}, {name: large}]\n"                                               \
    "  signals:\n"                                                                                 \
    "    keywords: [{name: kw_a, keywords: [a]}, {name: kw_b, keywords: [b]},\n"                   \
    "               {name: kw_c, keywords: [c]}]\n"                                                \
    "    context: [{name: ctx, min_tokens: 1K}]\n"                                                 \
    "    complexity: [{name: cx}]\n"

static cfg_t *load(const char *yaml)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, &d);
    for (size_t i = 0; i < d.n; i++) {
        if (d.items[i].severity != CFG_DIAG_ERROR) continue;
        buf_t b = BUF_INIT;
        cfg_diag_format(&b, &d.items[i]);
        fprintf(stderr, "diag: %s\n", b.data);
        buf_free(&b);
    }
    cfg_diags_free(&d);
    assert_non_null(c);
    return c;
}

static const cfg_recipe_t *recipe(const cfg_t *c)
{
    return &c->routing->recipes[0];
}

static sig_results_t results(arena_t *a, const cfg_recipe_t *rc)
{
    sig_results_t s = {0};
    s.n = rc->n_signals;
    s.items = arena_calloc(a, (s.n + 1) * sizeof(sig_result_t));
    for (size_t i = 0; i < s.n; i++)
        s.items[i].rule = &rc->signals[i];
    return s;
}

__attribute__((unused)) static sig_result_t *res(sig_results_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->items[i].rule->name, name)) return &s->items[i];
    fail_msg("no signal %s", name);
    return NULL;
}

__attribute__((unused)) static void hit(sig_results_t *s, const char *name, double score)
{
    sig_result_t *r = res(s, name);
    r->matched = true;
    r->score = score;
}

/* One decision "d" with the given rules (YAML flow). */
__attribute__((unused)) static cfg_t *one(const char *rules)
{
    char y[4096];
    snprintf(y, sizeof y,
             HEAD "  decisions:\n    - name: d\n      rules: %s\n"
                  "      modelRefs: [{model: small}]\n",
             rules);
    return load(y);
}

#endif
