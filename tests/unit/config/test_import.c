/* test_import.c - `config import`: an OpenClaw inventory merged into a new
 * and into an existing config (collisions, skips, --force, default_model,
 * catch-all, secrets never copied), the CLI's atomic write with .bak,
 * --dry-run and a source left byte-for-byte unchanged, and --from openai
 * against a real `tether mock`. */
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

#include "config/migrate.h"
#include "config/routing.h"
#include "core/hash.h"
#include "proc.h"

static const char *fixture(const char *name)
{
    static char p[1024];
    const char *src = getenv("TETHER_SRC");
    snprintf(p, sizeof p, "%s/tests/data/config/import/%s", src ? src : ".", name);
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

static cfg_t *load_out(const cfg_import_t *im)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", im->out.data, im->out.len, NULL, &d);
    if (!c) cfg_diags_print(stderr, &d);
    cfg_diags_free(&d);
    return c;
}

static void read_openclaw(cfg_import_t *im)
{
    buf_t b = BUF_INIT;
    assert_true(cfg_read_file(fixture("openclaw.json"), &b));
    assert_true(cfg_import_read_openclaw(im, "oc.json", b.data, b.len));
    buf_free(&b);
}

static void test_openclaw_into_new_config(void **st)
{
    cfg_import_t im;
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_int_equal(im.n_providers, 2); /* gemini's API is not supported */
    assert_true(has_diag(
        &im.notes, "models.providers.gemini.api: API \"google-generative-ai\" is not supported"));
    assert_true(cfg_import_merge(&im, "new.yaml", NULL, 0, false));
    assert_int_equal(im.n_added, 4);
    /* literal keys and secret headers are never copied */
    assert_null(strstr(im.out.data, "LITERAL-SECRET"));
    assert_null(strstr(im.out.data, "header-secret"));
    assert_true(has_diag(
        &im.notes, "oc.json:8:9: warning: models.providers.anthropic.apiKey: literal API key not "
                   "copied: set ANTHROPIC_API_KEY"));
    assert_true(has_diag(
        &im.notes, "models.providers.local-vllm.headers.X-Api-Key: secret header not copied"));
    assert_int_equal(im.n_env_to_set >= 1, 1);
    assert_string_equal(im.env_to_set[0], "ANTHROPIC_API_KEY");

    cfg_t *c = load_out(&im);
    assert_non_null(c);
    assert_int_equal(c->providers.n_models, 4);
    /* the first import is the default model; a catch-all decision is added */
    assert_string_equal(c->providers.default_model, "claude-sonnet-4-5");
    const cfg_recipe_t *r = &c->routing->recipes[0];
    assert_int_equal(r->n_decisions, 1);
    assert_string_equal(r->decisions[0].name, "imported-default");
    assert_true(r->decisions[0].is_catch_all);
    /* Anthropic: api_format, provider defaults, /v1 root, pricing from cost */
    const cfg_model_t *cl = cfg_find_model(c, "claude-sonnet-4-5", 17);
    assert_non_null(cl);
    assert_int_equal(cl->api_format, CFG_API_ANTHROPIC);
    assert_string_equal(cl->backend_refs[0].base_url, "https://api.anthropic.com/v1");
    assert_string_equal(cl->backend_refs[0].provider, "anthropic");
    assert_string_equal(cl->backend_refs[0].api_key_env, "ANTHROPIC_API_KEY");
    assert_true(cl->pricing.has_prompt && cl->pricing.prompt_per_1m == 3.0);
    assert_true(cl->pricing.has_cache_write && cl->pricing.cache_write_per_1m == 3.75);
    const cfg_model_card_t *card = cfg_find_card(c, "claude-sonnet-4-5");
    assert_int_equal(card->context_window_size, 200000);
    assert_int_equal(card->capabilities.n, 2); /* reasoning, vision */
    /* ${VAR} apiKey is a reference: kept as api_key_env; plain headers kept */
    const cfg_model_t *q = cfg_find_model(c, "Qwen/Qwen3-8B", 13);
    assert_non_null(q);
    assert_string_equal(q->backend_refs[0].api_key_env, "VLLM_TOKEN");
    assert_int_equal(q->backend_refs[0].n_extra_headers, 1);
    assert_string_equal(q->backend_refs[0].extra_headers[0].name, "X-Team");
    /* an id offered by two providers becomes <provider>/<id> in both */
    assert_null(cfg_find_model(c, "shared-model", 12));
    const cfg_model_t *s1 = cfg_find_model(c, "anthropic/shared-model", 22);
    const cfg_model_t *s2 = cfg_find_model(c, "local-vllm/shared-model", 23);
    assert_non_null(s1);
    assert_non_null(s2);
    assert_string_equal(s1->provider_model_id, "shared-model");
    assert_int_equal(s2->api_format, CFG_API_OPENAI);
    cfg_free(c);
    cfg_import_deinit(&im);
}

static const char existing[] = "# my config\n"
                               "version: v0.3\n"
                               "providers:\n"
                               "  defaults:\n"
                               "    default_model: mine  # keep me\n"
                               "  models:\n"
                               "    - name: mine\n"
                               "      backend_refs: [{endpoint: \"127.0.0.1:9\"}]\n"
                               "    - name: claude-sonnet-4-5\n"
                               "      backend_refs: [{endpoint: \"127.0.0.1:10\"}]\n"
                               "routing:\n"
                               "  modelCards: [{name: mine}, {name: claude-sonnet-4-5}]\n"
                               "  decisions:\n"
                               "    - {name: everything, modelRefs: [{model: mine}]}\n";

static void test_openclaw_into_existing_config(void **st)
{
    cfg_import_t im;
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_true(cfg_import_merge(&im, "cfg.yaml", existing, strlen(existing), false));
    assert_int_equal(im.n_added, 3);
    assert_true(has_diag(
        &im.notes, "cfg.yaml:9:7: warning: providers.models: model \"claude-sonnet-4-5\" already "
                   "exists; skipped"));
    /* comments of the target survive the merge */
    assert_non_null(strstr(im.out.data, "# my config\n"));
    assert_non_null(strstr(im.out.data, "default_model: mine  # keep me\n"));
    cfg_t *c = load_out(&im);
    assert_non_null(c);
    assert_string_equal(c->providers.default_model, "mine"); /* already set: kept */
    assert_int_equal(c->routing->recipes[0].n_decisions, 1); /* had decisions: no catch-all */
    assert_string_equal(c->routing->recipes[0].decisions[0].name, "everything");
    const cfg_model_t *kept = cfg_find_model(c, "claude-sonnet-4-5", 17);
    assert_string_equal(kept->backend_refs[0].endpoint, "127.0.0.1:10");
    assert_int_equal(c->providers.n_models, 5);
    cfg_free(c);
    cfg_import_deinit(&im);

    /* replace (--force): the existing entry is replaced, cards stay unique */
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_true(cfg_import_merge(&im, "cfg.yaml", existing, strlen(existing), true));
    assert_int_equal(im.n_added, 4);
    c = load_out(&im);
    assert_non_null(c);
    kept = cfg_find_model(c, "claude-sonnet-4-5", 17);
    assert_string_equal(kept->backend_refs[0].base_url, "https://api.anthropic.com/v1");
    assert_int_equal(c->providers.n_models, 5);
    cfg_free(c);
    cfg_import_deinit(&im);
}

static void test_bad_inputs(void **st)
{
    cfg_import_t im;
    cfg_import_init(&im);
    assert_false(cfg_import_read_openclaw(&im, "x.json", "{\"models\": {}}", 14));
    assert_true(has_diag(&im.notes, "not an OpenClaw inventory"));
    cfg_import_deinit(&im);
    cfg_import_init(&im);
    assert_false(
        cfg_import_read_openai(&im, "p", "http://h/v1", NULL, "{\"object\":\"list\"}", 17));
    cfg_import_deinit(&im);
    /* an old-layout target is refused (migrate first) */
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_false(cfg_import_merge(&im, "old.yaml", "default_model: x\n", 17, false));
    assert_true(has_diag(&im.diags, "not a v0.3 config; run: tether config migrate"));
    cfg_import_deinit(&im);
}

/* Diagnostics of the merged config point at the target's own lines (the
 * merged text has other ones), at the source for what the import adds, and
 * a target of the wrong shape at the offending key. */
static void test_diagnostics_point_at_the_right_file_and_line(void **st)
{
    static const char target[] = "version: v0.3\n"
                                 "listeners: [{name: m, address: 127.0.0.1, port: 8080}]\n"
                                 "providers:\n"
                                 "  models: []\n"
                                 "routing:\n"
                                 "  modelCards: []\n"
                                 "  decisions:\n"
                                 "    - name: d\n"
                                 "      modelRefs: [{model: ghost}]\n";
    cfg_import_t im;
    cfg_import_init(&im);
    static const char oc[] = "models:\n  providers:\n    acme:\n      baseUrl: http://h:1/v1\n"
                             "      api: openai-completions\n      models:\n        - {id: m1}\n";
    assert_true(cfg_import_read_openclaw(&im, "oc.yaml", oc, strlen(oc)));
    assert_false(cfg_import_merge(&im, "cfg.yaml", target, strlen(target), false));
    assert_true(has_diag(&im.diags, "cfg.yaml:9:27: routing.decisions[d].modelRefs[0].model"));
    cfg_import_deinit(&im);
    /* a bad value the import adds: the source's line */
    cfg_import_init(&im);
    static const char bad[] = "models:\n  providers:\n    acme:\n      baseUrl: \"ftp://h\"\n"
                              "      api: openai-completions\n      models:\n        - {id: m1}\n";
    assert_true(cfg_import_read_openclaw(&im, "bad.yaml", bad, strlen(bad)));
    assert_false(cfg_import_merge(&im, "new.yaml", NULL, 0, false));
    assert_true(has_diag(&im.diags, "bad.yaml:4:16: providers.models[m1].backend_refs[acme]"));
    cfg_import_deinit(&im);
    /* the target's shape and version */
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_false(cfg_import_merge(&im, "t.yaml", "version: v0.3\nproviders: [1]\n", 29, false));
    assert_true(has_diag(&im.diags, "t.yaml:2:12: providers: must be a mapping"));
    cfg_import_deinit(&im);
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_false(
        cfg_import_merge(&im, "t.yaml", "version: v0.3\nproviders: {models: 1}\n", 37, false));
    assert_true(has_diag(&im.diags, "t.yaml:2:21: providers.models: must be a list"));
    cfg_import_deinit(&im);
    cfg_import_init(&im);
    read_openclaw(&im);
    assert_false(cfg_import_merge(&im, "old.yaml", "version: v0.2\n", 14, false));
    assert_true(has_diag(&im.diags, "old.yaml:1:10: version: the target is not a v0.3 config"));
    cfg_import_deinit(&im);
}

/* ---- the CLI ---- */

static char tmpdir[64];

static int run(const char *fmt, ...)
{
    char cmd[4096], args[3800];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(args, sizeof args, fmt, ap);
    va_end(ap);
    snprintf(cmd, sizeof cmd, "%s %s >%s/out.txt 2>%s/err.txt", tproc_tether_bin(), args, tmpdir,
             tmpdir);
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static uint64_t file_hash(const char *path, size_t *len)
{
    buf_t b = BUF_INIT;
    assert_true(cfg_read_file(path, &b));
    uint64_t h = hash_xxh64(b.data, b.len, 0);
    *len = b.len;
    buf_free(&b);
    return h;
}

static char *slurp(const char *dir, const char *name)
{
    char p[512];
    snprintf(p, sizeof p, "%s/%s", dir, name);
    buf_t b = BUF_INIT;
    if (!cfg_read_file(p, &b)) return NULL;
    return buf_steal(&b);
}

static void test_cli_openclaw(void **st)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tether-import-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    char src[512], cmd[2048];
    snprintf(src, sizeof src, "%s/oc.json", tmpdir);
    snprintf(cmd, sizeof cmd, "cp %s %s", fixture("openclaw.json"), src);
    assert_int_equal(system(cmd), 0);
    size_t l0, l1;
    uint64_t h0 = file_hash(src, &l0);
    struct stat s0, s1;
    assert_int_equal(stat(src, &s0), 0);

    /* a missing target is created */
    assert_int_equal(
        run("config import --from openclaw --source %s --target %s/config.yaml", src, tmpdir), 0);
    char *out = slurp(tmpdir, "config.yaml");
    assert_non_null(out);
    assert_non_null(strstr(out, "name: imported-default"));
    assert_null(strstr(out, "LITERAL-SECRET"));
    free(out);
    char *err = slurp(tmpdir, "err.txt");
    assert_non_null(strstr(err, "export ANTHROPIC_API_KEY="));
    assert_null(strstr(err, "LITERAL-SECRET"));
    free(err);
    assert_null(slurp(tmpdir, "config.yaml.bak"));

    /* --dry-run prints and writes nothing */
    char *before = slurp(tmpdir, "config.yaml");
    assert_int_equal(
        run("config import --from openclaw --source %s --target %s/config.yaml --force --dry-run",
            src, tmpdir),
        0);
    char *printed = slurp(tmpdir, "out.txt");
    assert_non_null(strstr(printed, "version: v0.3"));
    char *after = slurp(tmpdir, "config.yaml");
    assert_string_equal(before, after);
    free(printed);
    free(after);

    /* a second import skips every existing name, keeps a .bak of the previous file */
    assert_int_equal(
        run("config import --from openclaw --source %s --target %s/config.yaml", src, tmpdir), 0);
    char *bak = slurp(tmpdir, "config.yaml.bak");
    assert_non_null(bak);
    assert_string_equal(bak, before);
    free(bak);
    free(before);
    err = slurp(tmpdir, "err.txt");
    assert_non_null(strstr(err, "already exists; skipped"));
    free(err);

    /* the source was only read */
    uint64_t h1 = file_hash(src, &l1);
    assert_int_equal(l0, l1);
    assert_true(h0 == h1);
    assert_int_equal(stat(src, &s1), 0);
    assert_true(s0.st_mtim.tv_sec == s1.st_mtim.tv_sec && s0.st_mtim.tv_nsec == s1.st_mtim.tv_nsec);

    /* invalid merge result: nothing written */
    snprintf(cmd, sizeof cmd, "printf 'version: v0.3\\nlisteners: 5\\n' > %s/broken.yaml", tmpdir);
    assert_int_equal(system(cmd), 0);
    char *b0 = slurp(tmpdir, "broken.yaml");
    assert_int_equal(
        run("config import --from openclaw --source %s --target %s/broken.yaml", src, tmpdir), 1);
    char *b1 = slurp(tmpdir, "broken.yaml");
    assert_string_equal(b0, b1);
    assert_null(slurp(tmpdir, "broken.yaml.bak"));
    free(b0);
    free(b1);
    assert_int_equal(run("config import --from openclaw"), 1);
    assert_int_equal(run("config import --from nowhere --source %s", src), 1);
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

static void test_cli_openai_against_mock(void **st)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tether-import-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    tproc_t p;
    const char *argv[] = {tproc_tether_bin(), "mock",       "--listen", "127.0.0.1:0",
                          "--models",         "alpha,beta", NULL};
    assert_int_equal(tproc_spawn(&p, argv, TPROC_QUIET), 0);
    int port = tproc_wait_listening(&p, 10000);
    assert_true(port > 0);

    /* the library path: GET /models, read, merge */
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    buf_t body = BUF_INIT, err = BUF_INIT;
    char murl[160];
    snprintf(murl, sizeof murl, "%s/models", url);
    assert_int_equal(cfg_http_get(murl, "tok", &body, &err), 200);
    cfg_import_t im;
    cfg_import_init(&im);
    assert_true(cfg_import_read_openai(&im, "mock", url, "MOCK_KEY", body.data, body.len));
    assert_int_equal(im.providers[0].n_models, 2);
    assert_true(cfg_import_merge(&im, "new.yaml", NULL, 0, false));
    cfg_t *c = load_out(&im);
    assert_non_null(c);
    const cfg_model_t *a = cfg_find_model(c, "alpha", 5);
    assert_non_null(a);
    assert_int_equal(a->backend_refs[0].port, port);
    assert_string_equal(a->backend_refs[0].path_prefix, "/v1");
    assert_string_equal(a->backend_refs[0].api_key_env, "MOCK_KEY");
    assert_non_null(cfg_find_model(c, "beta", 4));
    cfg_free(c);
    cfg_import_deinit(&im);
    buf_free(&body);
    buf_free(&err);

    /* the CLI */
    setenv("MOCK_KEY", "k", 1);
    assert_int_equal(run("config import --from openai --source %s --api-key-env MOCK_KEY "
                         "--provider mock --target "
                         "%s/config.yaml",
                         url, tmpdir),
                     0);
    unsetenv("MOCK_KEY");
    char path[256];
    snprintf(path, sizeof path, "%s/config.yaml", tmpdir);
    cfg_diags_t d;
    cfg_diags_init(&d);
    c = cfg_load_file(path, NULL, &d);
    assert_non_null(c);
    assert_int_equal(c->providers.n_models, 2);
    assert_string_equal(c->providers.default_model, "alpha");
    assert_string_equal(c->providers.models[1].backend_refs[0].name, "mock");
    cfg_free(c);
    cfg_diags_free(&d);
    /* a server that is not there: exit 1, nothing written */
    assert_int_equal(tproc_stop(&p, 5000) != -1, 1);
    assert_int_equal(
        run("config import --from openai --source %s --target %s/other.yaml", url, tmpdir), 1);
    assert_null(slurp(tmpdir, "other.yaml"));
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", tmpdir);
    assert_int_equal(system(cmd), 0);
}

/* A mistyped source names the valid ones; serve of a missing file says so
 * in one clean sentence (no ":0:0: :"). */
static void test_cli_unknown_source_and_missing_config(void **st)
{
    snprintf(tmpdir, sizeof tmpdir, "/tmp/tether-import-XXXXXX");
    assert_non_null(mkdtemp(tmpdir));
    assert_int_equal(run("config import --from opnai --source x"), 1);
    char *err = slurp(tmpdir, "err.txt");
    assert_non_null(err);
    assert_non_null(strstr(err, "unknown source 'opnai' (did you mean 'openai'?); --from takes "
                                "openclaw, openai or crd"));
    assert_null(strstr(err, "usage:"));
    free(err);
    assert_int_equal(run("serve --config %s/missing.yaml", tmpdir), 1);
    err = slurp(tmpdir, "err.txt");
    assert_non_null(err);
    char want[256];
    snprintf(want, sizeof want, "%s/missing.yaml: cannot open: No such file or directory\n",
             tmpdir);
    assert_non_null(strstr(err, want));
    assert_null(strstr(err, ":0:0"));
    assert_null(strstr(err, ": :"));
    free(err);
    char p[128];
    snprintf(p, sizeof p, "%s/out.txt", tmpdir);
    unlink(p);
    snprintf(p, sizeof p, "%s/err.txt", tmpdir);
    unlink(p);
    rmdir(tmpdir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_openclaw_into_new_config),
        cmocka_unit_test(test_openclaw_into_existing_config),
        cmocka_unit_test(test_bad_inputs),
        cmocka_unit_test(test_diagnostics_point_at_the_right_file_and_line),
        cmocka_unit_test(test_cli_openclaw),
        cmocka_unit_test(test_cli_openai_against_mock),
        cmocka_unit_test(test_cli_unknown_source_and_missing_config),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
