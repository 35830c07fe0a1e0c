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
static int run(const char *args, char *out, size_t cap)
{
    const char *src = getenv("TETHER_SRC");
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "cd %s && %s eval --config tests/data/eval/signals.yaml %s 2>&1",
             src ? src : ".", tproc_tether_bin(), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, cap - 1, p);
    out[n] = 0;
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_counts_per_rule_and_family),
        cmocka_unit_test(test_text_table),
        cmocka_unit_test(test_bad_line_names_its_number),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
