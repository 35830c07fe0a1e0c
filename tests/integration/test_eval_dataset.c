/* test_eval_dataset.c - `tether eval --dataset FILE.jsonl --config F`:
 * per-rule confusion counts and per-family totals on a six-line dataset
 * using every line shape (expect with text and messages, the shipped sets'
 * label / entities / lang), in JSON and text, and a bad line's error. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "proc.h"

/* Run tether with args; stdout into out (NUL-terminated); exit status back. */
static int run_with(const char *config, const char *args, char *out, size_t cap)
{
    const char *src = getenv("TETHER_SRC");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s eval --config %s %s 2>&1", src ? src : ".",
             tproc_tether_bin(), config, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int run(const char *args, char *out, size_t cap)
{
    return run_with("tests/data/eval/signals.yaml", args, out, cap);
}

static const cJSON *find(const cJSON *arr, const char *key, const char *val)
{
    const cJSON *it;
    cJSON_ArrayForEach(it, arr)
    {
        const cJSON *v = cJSON_GetObjectItem(it, key);
        if (cJSON_IsString(v) && !strcmp(v->valuestring, val)) return it;
    }
    return NULL;
}

static void expect_counts(const cJSON *o, int tp, int fp, int fn, int tn)
{
    assert_non_null(o);
    assert_int_equal(cJSON_GetObjectItem(o, "tp")->valueint, tp);
    assert_int_equal(cJSON_GetObjectItem(o, "fp")->valueint, fp);
    assert_int_equal(cJSON_GetObjectItem(o, "fn")->valueint, fn);
    assert_int_equal(cJSON_GetObjectItem(o, "tn")->valueint, tn);
}

static const cJSON *rule(const cJSON *fams, const char *fam, const char *name)
{
    const cJSON *f = find(fams, "family", fam);
    assert_non_null(f);
    return find(cJSON_GetObjectItem(f, "rules"), "rule", name);
}

static void test_counts_per_rule_and_family(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(run("--dataset tests/data/eval/tiny.jsonl --json", out, sizeof out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "lines")->valueint, 6); /* the blank line skipped */
    const cJSON *fams = cJSON_GetObjectItem(j, "families");
    /* jailbreak: "label" lines, each label expects every jailbreak rule */
    expect_counts(find(fams, "family", "jailbreak"), 2, 0, 0, 2);
    expect_counts(rule(fams, "jailbreak", "injection"), 1, 0, 0, 1);
    expect_counts(rule(fams, "jailbreak", "patterns_only"), 1, 0, 0, 1);
    /* pii: an email in "messages" caught, a line expecting pii without any missed */
    const cJSON *pii = rule(fams, "pii", "sensitive");
    expect_counts(pii, 1, 0, 1, 0);
    assert_true(cJSON_GetObjectItem(pii, "precision")->valuedouble == 1.0);
    assert_true(cJSON_GetObjectItem(pii, "recall")->valuedouble == 0.5);
    assert_true(cJSON_GetObjectItem(pii, "f1")->valuedouble == 0.667);
    /* language: fr detected; an English line labelled de: de missed, en false */
    expect_counts(rule(fams, "language", "fr"), 1, 0, 0, 1);
    expect_counts(rule(fams, "language", "de"), 0, 0, 1, 1);
    const cJSON *en = rule(fams, "language", "en");
    expect_counts(en, 0, 1, 0, 1);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(en, "recall"))); /* no positives: undefined */
    expect_counts(find(fams, "family", "language"), 1, 1, 1, 3);
    /* families no line labels are not reported */
    assert_null(find(fams, "family", "keyword"));
    cJSON_Delete(j);
}

static void test_text_table(void **state)
{
    (void)state;
    static char out[65536];
    assert_int_equal(run("--dataset tests/data/eval/tiny.jsonl", out, sizeof out), 0);
    assert_non_null(strstr(out, "dataset tests/data/eval/tiny.jsonl: 6 lines"));
    assert_non_null(strstr(out, "precision"));
    assert_non_null(strstr(out, "pii            sensitive                 1      0      1      0"
                                "     1.000     0.500     0.667"));
}

static void test_bad_line_names_its_number(void **state)
{
    (void)state;
    static char out[4096];
    char path[] = "/tmp/tether-eval-ds-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"text\": \"hi\", \"label\": \"benign\"}\n{\"text\": \"x\"}\n", f);
    fclose(f);
    char args[256];
    snprintf(args, sizeof args, "--dataset %s", path);
    assert_int_equal(run(args, out, sizeof out), 1);
    assert_non_null(strstr(out, ":2: no labels"));
    snprintf(args, sizeof args, "--dataset %s.missing", path);
    assert_int_equal(run(args, out, sizeof out), 1);
    assert_non_null(strstr(out, "cannot read"));
    unlink(path);
}

/* A classifier rule is scored on what the served classifier said: the mock
 * labels "secret sauce" jailbreak, which no pattern knows. */
static void test_classifier_backend_is_called(void **state)
{
    (void)state;
    tproc_t mock;
    const char *argv[] = {tproc_tether_bin(),       "mock", "--listen", "127.0.0.1:0", "--classify",
                          "secret sauce=jailbreak", NULL};
    assert_int_equal(tproc_spawn(&mock, argv, TPROC_QUIET), 0);
    int port = tproc_wait_listening(&mock, 10000);
    assert_true(port > 0);
    char cfg[] = "/tmp/tether-eval-cfg-XXXXXX", ds[] = "/tmp/tether-eval-ds-XXXXXX";
    FILE *f = fdopen(mkstemp(cfg), "w");
    fprintf(f,
            "version: v0.3\n"
            "global:\n  router:\n    limits: {signal_timeout: 10s}\n"
            "  model_catalog:\n    classifiers:\n"
            "      - {name: jbc, type: http_classify, endpoint: \"http://127.0.0.1:%d/classify\", "
            "positive_labels: [jailbreak], timeout_ms: 10000}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - {name: m, backend_refs: [{name: m-1, endpoint: \"127.0.0.1:9\", weight: 1}]}\n"
            "routing:\n  modelCards: [{name: m}]\n  signals:\n    jailbreak:\n"
            "      - {name: by_model, method: classifier, classifier: jbc, threshold: 0.5}\n"
            "      - {name: by_patterns, method: patterns, threshold: 0.7}\n"
            "  decisions:\n    - name: d\n      rules:\n        operator: OR\n"
            "        conditions: [{type: jailbreak, name: by_model}, "
            "{type: jailbreak, name: by_patterns}]\n      modelRefs: [{model: m}]\n",
            port);
    fclose(f);
    f = fdopen(mkstemp(ds), "w");
    fputs("{\"text\": \"now tell me the secret sauce\", \"label\": \"jailbreak\"}\n"
          "{\"text\": \"how do I bake bread?\", \"label\": \"benign\"}\n",
          f);
    fclose(f);
    static char out[65536];
    char args[256];
    snprintf(args, sizeof args, "--dataset %s --json", ds);
    int rc = run_with(cfg, args, out, sizeof out);
    tproc_stop(&mock, 5000);
    unlink(cfg);
    unlink(ds);
    assert_int_equal(rc, 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    const cJSON *fams = cJSON_GetObjectItem(j, "families");
    expect_counts(rule(fams, "jailbreak", "by_model"), 1, 0, 0, 1);
    expect_counts(rule(fams, "jailbreak", "by_patterns"), 0, 0, 1, 1);
    cJSON_Delete(j);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_rule_and_family),
        cmocka_unit_test(test_text_table),
        cmocka_unit_test(test_bad_line_names_its_number),
        cmocka_unit_test(test_classifier_backend_is_called),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
