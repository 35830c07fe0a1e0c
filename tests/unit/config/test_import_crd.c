/* test_import_crd.c - `config import --from crd`: IntelligentPool and
 * IntelligentRoute objects (vllm.ai/v1alpha1) merged into a config and
 * validated by the loader: the shipped example, List objects and foreign
 * kinds, models taken from the target, pricing per token -> per 1M,
 * unsupported plugins, name collisions and --force, positions of notes in
 * later documents, a route naming an unknown model, and the CLI with two
 * files whose output `tether validate` accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "config/migrate.h"
#include "proc.h"

static const char *src_path(const char *rel)
{
    static char p[1024];
    const char *src = getenv("TETHER_SRC");
    snprintf(p, sizeof p, "%s/%s", src ? src : ".", rel);
    return p;
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

static const char *BASE = "version: v0.3\n"
                          "providers:\n"
                          "  defaults:\n"
                          "    reasoning_families:\n"
                          "      qwen3: {type: chat_template_kwargs, parameter: enable_thinking}\n";

/* import text (as crd.yaml) into target (NULL: a new config) */
static bool import(cfg_import_t *im, const char *text, const char *target, bool force)
{
    cfg_import_init(im);
    if (!cfg_import_read_crd(im, "crd.yaml", text, strlen(text))) return false;
    bool ok = cfg_import_merge_crd(im, "t.yaml", target, target ? strlen(target) : 0, force);
    if (!ok) {
        cfg_diags_print(stderr, &im->notes);
        cfg_diags_print(stderr, &im->diags);
    }
    return ok;
}

static void test_example_file(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_true(cfg_read_file(src_path("deploy/examples/intelligent-route.yaml"), &b));
    cfg_import_t im;
    assert_true(import(&im, b.data, BASE, false));
    assert_int_equal(im.n_crd_docs, 2);
    assert_int_equal(im.n_added, 2);
    const char *o = im.out.data;
    assert_non_null(strstr(o, "default_model: llama-8b"));
    assert_non_null(strstr(o, "provider_model_id: meta-llama/Llama-3.1-8B-Instruct"));
    assert_non_null(strstr(o, "endpoint: http://vllm-small:8000"));
    assert_non_null(strstr(o, "reasoning_family: qwen3"));
    /* 1e-7 per token = 0.1 per million */
    assert_non_null(strstr(o, "prompt_per_1m: 0.1\n"));
    assert_non_null(strstr(o, "completion_per_1m: 0.2\n"));
    assert_non_null(strstr(o, "loras:\n    - sql-expert"));
    assert_non_null(strstr(o, "case_sensitive: false"));
    assert_non_null(strstr(o, "aggregation_method: max"));
    assert_non_null(strstr(o,
                           "rules:\n      operator: OR\n      conditions:\n      - type: keyword\n"
                           "        name: sql"));
    assert_non_null(strstr(o, "lora_name: sql-expert"));
    assert_non_null(strstr(o, "use_reasoning: true\n      reasoning_effort: high"));
    assert_non_null(strstr(o, "- type: system_prompt\n      configuration:"));
    assert_int_equal(im.notes.n, 0);
    cfg_import_deinit(&im);
    buf_free(&b);
}

static void test_lists_foreign_kinds_and_positions(void **state)
{
    (void)state;
    const char *text =
        "apiVersion: v1\n"
        "kind: ConfigMap\n"
        "metadata: {name: x}\n"
        "---\n"
        "apiVersion: v1\n"
        "kind: List\n"
        "items:\n"
        "  - apiVersion: vllm.ai/v1alpha1\n"
        "    kind: IntelligentPool\n"
        "    metadata: {name: p}\n"
        "    spec:\n"
        "      defaultModel: m1\n"
        "      models:\n"
        "        - name: m1\n"
        "          backendRefs: [{name: b, baseUrl: 'https://api.example.com/v1',"
        " apiKeyEnv: EX_KEY}]\n"
        "--- # a route\n"
        "apiVersion: vllm.ai/v1alpha1\n"
        "kind: IntelligentRoute\n"
        "metadata: {name: r}\n"
        "spec:\n"
        "  decisions:\n"
        "    - name: all\n"
        "      signals: {operator: OR, conditions: [{type: keyword, name: k}]}\n"
        "      modelRefs: [{model: m1}]\n"
        "      plugins:\n"
        "        - {type: pii, configuration: {enabled: true}}\n"
        "        - {type: semantic-cache, configuration: {similarity_threshold: 0.9}}\n"
        "  signals:\n"
        "    keywords: [{name: k, operator: OR, keywords: [hello]}]\n";
    cfg_import_t im;
    assert_true(import(&im, text, NULL, false));
    assert_int_equal(im.n_crd_docs, 2);
    assert_true(has_diag(&im.notes, "crd.yaml:1:1: warning: ConfigMap: not an IntelligentPool"));
    /* the note on the pii plugin points into the third document */
    assert_true(
        has_diag(&im.notes, "crd.yaml:26:11: warning: plugins: plugin \"pii\" is not supported"));
    const char *o = im.out.data;
    assert_non_null(strstr(o, "base_url: https://api.example.com/v1"));
    assert_non_null(strstr(o, "api_key_env: EX_KEY"));
    assert_non_null(strstr(o, "type: response_cache"));
    assert_non_null(strstr(o, "similarity_threshold: 0.9"));
    assert_null(strstr(o, "pii"));
    cfg_import_deinit(&im);
}

static void test_models_from_the_target(void **state)
{
    (void)state;
    const char *pool = "apiVersion: vllm.ai/v1alpha1\nkind: IntelligentPool\nmetadata: {name: p}\n"
                       "spec:\n  defaultModel: gpt\n  models:\n"
                       "    - name: gpt\n      pricing: {inputTokenPrice: 0.000002, "
                       "outputTokenPrice: 0.000008}\n";
    /* not in a new config and no backendRefs: an error, nothing valid */
    cfg_import_t im;
    assert_false(import(&im, pool, NULL, false));
    assert_true(has_diag(&im.notes, "model \"gpt\" has no backendRefs and is not in the target"));
    cfg_import_deinit(&im);
    /* declared in the target: its backends stay, the pool adds the price */
    const char *target = "version: v0.3\nproviders:\n  models:\n"
                         "    - name: gpt\n      backend_refs: [{name: o, endpoint: "
                         "\"127.0.0.1:9\"}]\nrouting:\n  modelCards: [{name: gpt}]\n";
    assert_true(import(&im, pool, target, false));
    assert_non_null(strstr(im.out.data, "endpoint: 127.0.0.1:9"));
    assert_non_null(strstr(im.out.data, "prompt_per_1m: 2\n"));
    assert_non_null(strstr(im.out.data, "completion_per_1m: 8\n"));
    assert_non_null(strstr(im.out.data, "default_model: gpt"));
    cfg_import_deinit(&im);
}

static const char *ROUTE = "apiVersion: vllm.ai/v1alpha1\nkind: IntelligentRoute\n"
                           "metadata: {name: r}\nspec:\n  decisions:\n"
                           "    - name: d\n      priority: 7\n"
                           "      signals: {operator: AND, conditions: [{type: domain, name: "
                           "math}]}\n      modelRefs: [{model: %s}]\n"
                           "  signals:\n    domains: [{name: math}]\n";

static void test_collisions_and_unknown_models(void **state)
{
    (void)state;
    char text[1024];
    const char *target =
        "version: v0.3\nproviders:\n  defaults: {default_model: a}\n  models:\n"
        "    - name: a\n      backend_refs: [{name: x, endpoint: \"127.0.0.1:9\"}]\n"
        "routing:\n  modelCards: [{name: a}]\n"
        "  decisions: [{name: d, priority: 1, modelRefs: [{model: a}]}]\n";
    snprintf(text, sizeof text, ROUTE, "a");
    cfg_import_t im;
    /* an existing decision name is kept and reported */
    assert_true(import(&im, text, target, false));
    assert_true(has_diag(&im.notes, "routing.decisions \"d\" already exists in the target"));
    assert_non_null(strstr(im.out.data, "priority: 1\n"));
    cfg_import_deinit(&im);
    /* --force replaces it */
    assert_true(import(&im, text, target, true));
    assert_non_null(strstr(im.out.data, "priority: 7\n"));
    assert_null(strstr(im.out.data, "priority: 1\n"));
    cfg_import_deinit(&im);
    /* a route naming a model nobody declares: the loader refuses the result */
    snprintf(text, sizeof text, ROUTE, "ghost");
    assert_false(import(&im, text, target, true));
    assert_true(has_diag(&im.diags, "\"ghost\""));
    cfg_import_deinit(&im);
}

static void test_bad_input(void **state)
{
    (void)state;
    cfg_import_t im;
    cfg_import_init(&im);
    const char *bad = "apiVersion: vllm.ai/v1alpha1\nkind: IntelligentPool\nspec: [unclosed\n";
    assert_false(cfg_import_read_crd(&im, "bad.yaml", bad, strlen(bad)));
    cfg_import_deinit(&im);
    cfg_import_init(&im);
    const char *nospec = "apiVersion: vllm.ai/v1alpha1\nkind: IntelligentRoute\nspec: 3\n";
    assert_true(cfg_import_read_crd(&im, "n.yaml", nospec, strlen(nospec)));
    assert_int_equal(im.n_crd_docs, 0);
    assert_true(has_diag(&im.notes, "IntelligentRoute without a spec mapping"));
    assert_false(cfg_import_merge_crd(&im, "t.yaml", NULL, 0, false));
    cfg_import_deinit(&im);
    /* a file of another kind only: a warning, nothing imported */
    cfg_import_init(&im);
    const char *other = "apiVersion: apps/v1\nkind: Deployment\n";
    assert_true(cfg_import_read_crd(&im, "o.yaml", other, strlen(other)));
    assert_true(has_diag(&im.notes, "no IntelligentPool or IntelligentRoute"));
    cfg_import_deinit(&im);
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static void test_cli_two_files(void **state)
{
    (void)state;
    char dir[] = "/tmp/tether-crd-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char cmd[4096], path[512];
    snprintf(path, sizeof path, "%s/route.yaml", dir);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fprintf(f, ROUTE, "llama-8b");
    fclose(f);
    snprintf(path, sizeof path, "%s/config.yaml", dir);
    f = fopen(path, "w");
    assert_non_null(f);
    fputs(BASE, f);
    fclose(f);
    /* the pool from the example (its route too), then a second route file */
    snprintf(cmd, sizeof cmd,
             "%s config import --from crd %s %s/route.yaml --target %s/config.yaml --force "
             ">%s/out.txt 2>%s/err.txt",
             tproc_tether_bin(), src_path("deploy/examples/intelligent-route.yaml"), dir, dir, dir,
             dir);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd,
             "grep -q 'imported 3 custom resources (2 models) from 2 files' %s/out.txt", dir);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s validate --strict --config %s/config.yaml >/dev/null",
             tproc_tether_bin(), dir);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "test -f %s/config.yaml.bak", dir);
    assert_int_equal(run(cmd), 0);
    /* without files: usage, exit 1 */
    snprintf(cmd, sizeof cmd, "%s config import --from crd 2>/dev/null", tproc_tether_bin());
    assert_int_equal(run(cmd), 1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(run(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_example_file),
        cmocka_unit_test(test_lists_foreign_kinds_and_positions),
        cmocka_unit_test(test_models_from_the_target),
        cmocka_unit_test(test_collisions_and_unknown_models),
        cmocka_unit_test(test_bad_input),
        cmocka_unit_test(test_cli_two_files),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
