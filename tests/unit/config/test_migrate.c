/* test_migrate.c - `config migrate`: realistic flat-layout fixtures migrate
 * to configs that load clean with the expected structure; dropped keys are
 * reported at their old positions; comments survive; loader errors on the
 * output point back at the old key; the CLI's output naming, --force,
 * --allow-invalid and write-nothing-on-error rules. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/global.h"
#include "config/migrate.h"
#include "config/routing.h"
#include "config/yaml.h"
#include "proc.h"

static const char *fixture(const char *name)
{
    static char p[1024];
    const char *src = getenv("TETHER_SRC");
    snprintf(p, sizeof p, "%s/tests/data/config/migrate/%s", src ? src : ".", name);
    return p;
}

static void read_fixture(const char *name, buf_t *b)
{
    assert_true(cfg_read_file(fixture(name), b));
}

static bool has_diag(const cfg_diags_t *d, const char *needle)
{
    buf_t b = BUF_INIT;
    bool found = false;
    for (size_t i = 0; i < d->n && !found; i++) {
        buf_reset(&b);
        cfg_diag_format(&b, &d->items[i]);
        found = strstr(b.data, needle) != NULL;
    }
    buf_free(&b);
    if (!found) {
        fprintf(stderr, "missing diagnostic containing: %s\n", needle);
        cfg_diags_print(stderr, d);
    }
    return found;
}

static const cfg_decision_t *decision(const cfg_t *c, const char *name)
{
    const cfg_recipe_t *r = &c->routing->recipes[0];
    for (size_t i = 0; i < r->n_decisions; i++)
        if (!strcmp(r->decisions[i].name, name)) return &r->decisions[i];
    return NULL;
}

static const cfg_signal_t *signal_of(const cfg_t *c, cfg_signal_family_t f, const char *name)
{
    const cfg_recipe_t *r = &c->routing->recipes[0];
    for (size_t i = 0; i < r->n_signals; i++)
        if (r->signals[i].family == f && !strcmp(r->signals[i].name, name)) return &r->signals[i];
    return NULL;
}

static const cfg_plugin_t *plugin_of(const cfg_decision_t *d, const char *type)
{
    for (size_t i = 0; i < d->n_plugins; i++)
        if (!strcmp(d->plugins[i].type, type)) return &d->plugins[i];
    return NULL;
}

/* The vLLM semantic-router style file: endpoints, profiles, categories... */
static void test_vsr_flat_round_trip(void **st)
{
    buf_t in = BUF_INIT;
    read_fixture("vsr_flat.yaml", &in);
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    bool ok = cfg_migrate_run(&m, "old.yaml", in.data, in.len, "new.yaml");
    if (!ok) cfg_diags_print(stderr, &m.diags);
    assert_true(ok);
    assert_int_equal(m.diags.n_errors, 0);

    /* the literal key of the profile is never copied; the variable is named */
    assert_null(strstr(m.out.data, "sk-ant-literal"));
    assert_true(has_diag(&m.notes,
                         "old.yaml:49:5: warning: provider_profiles.anthropic-prod.api_key: "
                         "literal API key not copied: set ANTHROPIC_PROD_API_KEY"));
    /* unsupported keys are reported where they were */
    assert_true(
        has_diag(&m.notes, "old.yaml:16:1: warning: tools: not supported by tether; dropped"));
    assert_true(has_diag(&m.notes, "old.yaml:143:1: warning: clear_route_cache: not supported"));
    assert_true(has_diag(
        &m.notes, "old.yaml:56:5: warning: model_config[\"qwen3-8b\"].pii_policy: not supported"));
    assert_true(has_diag(&m.notes, "semantic_cache.eviction_policy: not supported"));
    /* comments survive: the file header and a line comment */
    assert_non_null(
        strstr(m.out.data, "# Semantic router configuration (pre-v0.3 flat layout).\n"));
    assert_non_null(strstr(m.out.data, "default_model: qwen3-8b  # cheapest\n"));
    assert_non_null(strstr(m.out.data, "endpoint: 10.0.0.11:8000  # first box\n"));

    /* load the output and check its structure */
    setenv("ANTHROPIC_PROD_API_KEY", "test-key", 1);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("new.yaml", m.out.data, m.out.len, NULL, &d);
    assert_non_null(c);
    assert_string_equal(c->providers.default_model, "qwen3-8b");
    assert_string_equal(c->providers.default_reasoning_effort, "high");
    assert_int_equal(c->providers.n_reasoning_families, 3);
    assert_int_equal(c->providers.n_models, 3);
    const cfg_model_t *m8 = cfg_find_model(c, "qwen3-8b", 8);
    assert_non_null(m8);
    assert_string_equal(m8->provider_model_id, "Qwen/Qwen3-8B");
    assert_int_equal(m8->n_backend_refs, 2);
    assert_string_equal(m8->backend_refs[0].name, "gpu-a");
    assert_string_equal(m8->backend_refs[0].host, "10.0.0.11");
    assert_int_equal(m8->backend_refs[0].port, 8000);
    assert_int_equal(m8->backend_refs[0].weight, 2);
    assert_true(m8->pricing.has_prompt);
    assert_true(m8->pricing.prompt_per_1m > 0.049 && m8->pricing.prompt_per_1m < 0.051);
    const cfg_model_t *cl = cfg_find_model(c, "claude-sonnet", 13);
    assert_non_null(cl);
    assert_int_equal(cl->api_format, CFG_API_ANTHROPIC);
    assert_string_equal(cl->backend_refs[0].provider, "anthropic");
    assert_string_equal(cl->backend_refs[0].api_key_env, "ANTHROPIC_PROD_API_KEY");
    assert_true(cl->backend_refs[0].tls);
    /* cards: card fields moved out of model_config, loras by name */
    assert_int_equal(c->routing->n_cards, 3);
    const cfg_model_card_t *k8 = cfg_find_card(c, "qwen3-8b");
    assert_string_equal(k8->description, "Fast chat and small edits");
    assert_true(k8->quality_score > 0.63 && k8->quality_score < 0.65);
    const cfg_model_card_t *k32 = cfg_find_card(c, "qwen3-32b");
    assert_int_equal(k32->loras.n, 1);
    assert_string_equal(k32->loras.v[0], "sql-expert");
    /* signals: keyword_rules -> keywords, categories -> domains (classifier threshold) */
    const cfg_recipe_t *r = &c->routing->recipes[0];
    assert_int_equal(r->n_per_family[CFG_SIG_KEYWORD], 1);
    assert_int_equal(r->n_per_family[CFG_SIG_DOMAIN], 3);
    assert_int_equal(r->n_per_family[CFG_SIG_JAILBREAK], 1);
    const cfg_signal_t *cs = signal_of(c, CFG_SIG_DOMAIN, "computer science");
    assert_non_null(cs);
    assert_true(cs->threshold > 0.59 && cs->threshold < 0.61);
    assert_int_equal(cs->mmlu_categories.n, 1);
    /* decisions: the prompt guard first, then one per category */
    assert_string_equal(r->strategy, "confidence");
    assert_int_equal(r->n_decisions, 4);
    assert_string_equal(r->decisions[0].name, "block_jailbreak");
    assert_non_null(plugin_of(&r->decisions[0], "fast_response"));
    const cfg_decision_t *dcs = decision(c, "computer science");
    assert_non_null(dcs);
    assert_int_equal(dcs->n_model_refs, 2);
    assert_string_equal(dcs->model_refs[0].model, "qwen3-32b"); /* best score first */
    assert_true(dcs->model_refs[0].has_use_reasoning && dcs->model_refs[0].use_reasoning);
    assert_string_equal(dcs->algorithm, "static");
    assert_non_null(plugin_of(dcs, "system_prompt"));
    assert_non_null(plugin_of(dcs, "response_cache")); /* semantic_cache.enabled */
    /* semantic_cache_enabled: false on a category keeps the cache off there */
    assert_null(plugin_of(decision(c, "other"), "response_cache"));
    /* global: the semantic cache store, loose router keys */
    assert_int_equal(c->global_ext->stores.response_cache.max_entries, 1000);
    assert_int_equal(c->global_ext->stores.response_cache.ttl_seconds, 3600);
    assert_false(c->router.include_config_models_in_list);
    assert_true(cfg_is_auto_name(c, "MoM", 3));
    assert_true(cfg_is_auto_name(c, "auto", 4));
    cfg_free(c);
    cfg_diags_free(&d);
    unsetenv("ANTHROPIC_PROD_API_KEY");

    /* migrating the output again is refused: it is v0.3 already */
    cfg_migrate_t m2;
    cfg_migrate_init(&m2);
    assert_false(cfg_migrate_run(&m2, "new.yaml", m.out.data, m.out.len, "new2.yaml"));
    assert_false(m2.converted);
    assert_true(has_diag(&m2.notes, "already in the v0.3 layout"));
    cfg_migrate_deinit(&m2);
    cfg_migrate_deinit(&m);
    buf_free(&in);
}

/* The "signals + decisions" flat layout with list-style model_config. */
static void test_signals_decisions_round_trip(void **st)
{
    buf_t in = BUF_INIT;
    read_fixture("signals_decisions.yaml", &in);
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    setenv("OPENAI_API_KEY", "x", 1);
    assert_true(cfg_migrate_run(&m, "old.yaml", in.data, in.len, "new.yaml"));
    assert_int_equal(m.diags.n, 0); /* with the key set: not even a warning */
    assert_true(
        has_diag(&m.notes, "old.yaml:2:10: warning: version: version \"v0.2\" replaced by v0.3"));
    assert_true(has_diag(
        &m.notes, "old.yaml:37:7: warning: signals.keywords[code_words].weight: not supported"));
    assert_true(has_diag(
        &m.notes, "old.yaml:61:15: warning: decisions[coding].plugins[1].type: plugin \"pii\""));
    assert_true(has_diag(&m.notes, "vllm_endpoints[coder-box].health_check_path: not supported"));
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("new.yaml", m.out.data, m.out.len, NULL, &d);
    assert_non_null(c);
    const cfg_model_t *g = cfg_find_model(c, "gpt-4o-mini", 11);
    assert_non_null(g);
    assert_string_equal(g->backend_refs[0].base_url, "https://api.openai.com/v1");
    assert_string_equal(g->backend_refs[0].api_key_env, "OPENAI_API_KEY");
    assert_int_equal(g->backend_refs[0].n_extra_headers, 1);
    const cfg_model_t *lc = cfg_find_model(c, "local-coder", 11);
    assert_non_null(lc);
    assert_string_equal(lc->backend_refs[0].endpoint, "127.0.0.1:8001");
    assert_string_equal(lc->reasoning_family, "qwen3");
    assert_int_equal(cfg_find_card(c, "gpt-4o-mini")->context_window_size, 128000);
    const cfg_recipe_t *r = &c->routing->recipes[0];
    assert_int_equal(r->n_per_family[CFG_SIG_CONTEXT], 1); /* context_rules */
    assert_int_equal(r->n_per_family[CFG_SIG_EMBEDDING], 1);
    const cfg_decision_t *cd = decision(c, "coding");
    assert_non_null(cd);
    assert_int_equal(cd->priority, 50);
    assert_int_equal(cd->rules.kind, CFG_RULE_OR);
    assert_int_equal(cd->n_plugins, 2); /* semantic-cache renamed, pii dropped */
    assert_non_null(plugin_of(cd, "response_cache"));
    assert_non_null(plugin_of(cd, "system_prompt"));
    assert_null(cfg_node_get(plugin_of(cd, "system_prompt")->configuration, "enabled"));
    assert_string_equal(c->logging.level, "debug");
    assert_int_equal(c->global_ext->stores.responses.ttl_seconds, 86400);
    assert_string_equal(c->global_ext->services.router_replay.store, "memory");
    cfg_free(c);
    cfg_diags_free(&d);
    unsetenv("OPENAI_API_KEY");
    cfg_migrate_deinit(&m);
    buf_free(&in);
}

static void test_invalid_output_points_at_old_key(void **st)
{
    buf_t in = BUF_INIT;
    read_fixture("broken_ref.yaml", &in);
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    assert_false(cfg_migrate_run(&m, "old.yaml", in.data, in.len, "new.yaml"));
    assert_true(m.converted);
    assert_false(m.valid);
    assert_int_equal(m.diags.n_errors, 1);
    assert_true(has_diag(
        &m.diags, "routing.decisions[code].modelRefs[0].model: model \"smal\" is not a declared "
                  "model (did you mean \"small\"?) (migrated from "
                  "`decisions[code].modelRefs[0].model` at old.yaml:10:16)"));
    cfg_migrate_deinit(&m);
    buf_free(&in);
}

static void test_not_yaml_and_not_a_map(void **st)
{
    cfg_migrate_t m;
    cfg_migrate_init(&m);
    assert_false(cfg_migrate_run(&m, "old.yaml", "a: [1, 2\n", 9, "new.yaml"));
    assert_false(m.converted);
    assert_true(m.notes.n_errors >= 1);
    cfg_migrate_deinit(&m);
    cfg_migrate_init(&m);
    assert_false(cfg_migrate_run(&m, "old.yaml", "- a\n- b\n", 8, "new.yaml"));
    assert_true(has_diag(&m.notes, "must be a mapping"));
    cfg_migrate_deinit(&m);
}

/* Comments read back next to the nodes: above keys and list items, at line
 * ends (also after flow collections), never from quoted text or block-scalar
 * content, none from the end of the file; NUL bytes are a syntax error. */
static void test_comments_kept(void **st)
{
    static const char in[] = "# head\n"
                             "a: 1  # right of a\n"
                             "# above b\n"
                             "b:  # right of b\n"
                             "  # above item\n"
                             "  - x # item x\n"
                             "  - 'y # not a comment'\n"
                             "c: [1, 2]  # after flow\n"
                             "d: |\n"
                             "  text\n"
                             "  # block text, not a comment\n"
                             "e: \"q # no\"  # yes\n"
                             "list:\n"
                             "  # first\n"
                             "  - name: n1  # named\n"
                             "    v: 2\n"
                             "# trailing, dropped\n";
    arena_t a;
    arena_init(&a, 4096);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_node_t *root = cfg_yaml_parse_comments(&a, "c.yaml", in, sizeof in - 1, &d);
    assert_non_null(root);
    buf_t out = BUF_INIT;
    cfg_yaml_emit(&out, root, NULL);
    const char *want = "# head\n"
                       "a: 1  # right of a\n"
                       "# above b\n"
                       "b:  # right of b\n"
                       "# above item\n"
                       "- x  # item x\n"
                       "- \"y # not a comment\"\n"
                       "c:  # after flow\n"
                       "- 1\n"
                       "- 2\n"
                       "d: \"text\\n# block text, not a comment\\n\"\n"
                       "e: \"q # no\"  # yes\n"
                       "list:\n"
                       "# first\n"
                       "- name: n1  # named\n"
                       "  v: 2\n";
    if (strcmp(out.data, want)) fprintf(stderr, "got:\n%s", out.data);
    assert_string_equal(out.data, want);
    /* and the emitted text reads back to the same tree shape */
    cfg_node_t *again = cfg_yaml_parse(&a, "o.yaml", out.data, out.len, &d);
    assert_non_null(again);
    assert_int_equal(d.n, 0);
    assert_int_equal(again->n, root->n);
    buf_free(&out);
    /* a NUL byte stops nothing silently */
    assert_null(cfg_yaml_parse_comments(&a, "n.yaml", "a: 1\nb: \0x\n", 11, &d));
    assert_true(has_diag(&d, "n.yaml:2:4: YAML syntax error: NUL byte in the input"));
    /* malformed UTF-8 is refused up front (libfyaml 0.7 loops forever on it
     * inside a directive: this input used to hang the loader) */
    static const char hang[] = "# x\n%sio\xe4ns:\n  - a: 1\n";
    assert_null(cfg_yaml_parse(&a, "u.yaml", hang, sizeof hang - 1, &d));
    assert_true(has_diag(&d, "u.yaml:2:5: YAML syntax error: invalid UTF-8"));
    assert_null(cfg_yaml_parse(&a, "o.yaml", "a: \xc0\xaf\n", 6, &d)); /* overlong '/' */
    assert_true(has_diag(&d, "o.yaml:1:4: YAML syntax error: invalid UTF-8"));
    assert_non_null(
        cfg_yaml_parse(&a, "ok.yaml", "a: \xc3\xa4\xe2\x82\xac\xf0\x9f\x98\x80\n", 13, &d));
    cfg_diags_free(&d);
    arena_deinit(&a);
}

/* ---- the CLI ---- */

static char tmpdir[64];

static int run(const char *cmd_fmt, ...)
{
    char cmd[4096], args[3800];
    va_list ap;
    va_start(ap, cmd_fmt);
    vsnprintf(args, sizeof args, cmd_fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s >%s/out.txt 2>%s/err.txt", tproc_tether_bin(), args, tmpdir,
             tmpdir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static bool file_exists(const char *fmt, const char *a)
{
    char p[1024];
    snprintf(p, sizeof p, fmt, a);
    struct stat s;
    return stat(p, &s) == 0;
}

static void test_cli(void **st)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tether-migrate-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cp %s %s/old.yaml", fixture("signals_decisions.yaml"), tmpdir);
    assert_int_equal(system(cmd), 0);
    snprintf(cmd, sizeof cmd, "cp %s %s/bad.yaml", fixture("broken_ref.yaml"), tmpdir);
    assert_int_equal(system(cmd), 0);
    setenv("OPENAI_API_KEY", "x", 1);
    /* default output name <stem>.migrated.yaml */
    assert_int_equal(run("config migrate --config %s/old.yaml", tmpdir), 0);
    assert_true(file_exists("%s/old.migrated.yaml", tmpdir));
    char p[256];
    snprintf(p, sizeof p, "%s/old.migrated.yaml", tmpdir);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_file(p, NULL, &d);
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    cfg_free(c);
    cfg_diags_free(&d);
    /* refuses to overwrite without --force, and leaves the file alone */
    snprintf(cmd, sizeof cmd, "echo keep > %s/old.migrated.yaml", tmpdir);
    assert_int_equal(system(cmd), 0);
    assert_int_equal(run("config migrate --config %s/old.yaml", tmpdir), 1);
    buf_t b = BUF_INIT;
    assert_true(cfg_read_file(p, &b));
    assert_string_equal(b.data, "keep\n");
    assert_int_equal(run("config migrate --config %s/old.yaml --force", tmpdir), 0);
    buf_reset(&b);
    assert_true(cfg_read_file(p, &b));
    assert_non_null(strstr(b.data, "version: v0.3"));
    /* invalid result: hints on stderr, nothing written, exit 1 */
    assert_int_equal(
        run("config migrate --config %s/bad.yaml --output %s/bad.out.yaml", tmpdir, tmpdir), 1);
    assert_false(file_exists("%s/bad.out.yaml", tmpdir));
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    buf_reset(&b);
    assert_true(cfg_read_file(p, &b));
    assert_non_null(strstr(b.data, "(migrated from `decisions[code].modelRefs[0].model`"));
    /* --allow-invalid writes it anyway */
    assert_int_equal(
        run("config migrate --config %s/bad.yaml --output %s/bad.out.yaml --allow-invalid", tmpdir,
            tmpdir),
        0);
    assert_true(file_exists("%s/bad.out.yaml", tmpdir));
    /* usage errors */
    assert_int_equal(run("config migrate"), 1);
    assert_int_equal(run("config migrate --config %s/missing.yaml", tmpdir), 1);
    buf_free(&b);
    unsetenv("OPENAI_API_KEY");
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_vsr_flat_round_trip),
        cmocka_unit_test(test_signals_decisions_round_trip),
        cmocka_unit_test(test_invalid_output_points_at_old_key),
        cmocka_unit_test(test_not_yaml_and_not_a_map),
        cmocka_unit_test(test_comments_kept),
        cmocka_unit_test(test_cli),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
