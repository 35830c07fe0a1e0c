/* test_bench_cli.c - `tether bench` as a user runs it: JSON on stdout, the
 * --out files, scenario files and selections, exit codes. Uses the binary in
 * $TETHER_BIN (set by the test runner), else ./build/tether. */
#include <cjson/cJSON.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static char bin[1024], src[1024];

static int run(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "cd '%s' && '%s' %s 2>/dev/null", src, bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += got;
        if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
    }
    buf[len] = 0;
    int st = pclose(p);
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int setup(void **st)
{
    (void)st;
    const char *b = getenv("TETHER_BIN"), *s = getenv("TETHER_SRC");
    snprintf(src, sizeof src, "%s", s ? s : ".");
    if (b)
        snprintf(bin, sizeof bin, "%s", b);
    else if (!realpath("build/tether", bin))
        return -1;
    return access(bin, X_OK);
}

static void test_json_on_stdout(void **st)
{
    (void)st;
    char *out;
    assert_int_equal(run("bench saar --format json --policies prompt-level,sticky,tether", &out),
                     0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "turns")->valueint, 21600);
    cJSON *p = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "policies"), 0);
    assert_string_equal(cJSON_GetObjectItem(p, "policy")->valuestring, "prompt-level");
    assert_int_equal(cJSON_GetObjectItem(p, "switches")->valueint, 9709);
    assert_int_equal(cJSON_GetObjectItem(p, "unsafe_switches")->valueint, 3836);
    cJSON *t = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "policies"), 2);
    assert_string_equal(cJSON_GetObjectItem(t, "policy")->valuestring, "tether");
    assert_int_equal(cJSON_GetObjectItem(t, "unsafe_switches")->valueint, 0);
    cJSON_Delete(j);
    free(out);
}

static void test_out_dir_and_scenario_file(void **st)
{
    (void)st;
    char dir[] = "/tmp/tether-bench-cli-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[2048], *out;
    snprintf(args, sizeof args,
             "bench saar --scenario-file tests/data/bench/scenario_mixed.json --seeds 1,2,3 "
             "--sessions 10 --turns 30 --policies prompt-level,sticky --format csv --out %s/r",
             dir);
    assert_int_equal(run(args, &out), 0);
    assert_non_null(strstr(out, "prompt-level,ok,900,427,"));
    free(out);
    const char *files[] = {"summary.json", "turns.csv", "chart.svg"};
    for (int i = 0; i < 3; i++) {
        char path[2100];
        struct stat sb;
        snprintf(path, sizeof path, "%s/r/%s", dir, files[i]);
        assert_int_equal(stat(path, &sb), 0);
        assert_true(sb.st_size > 100);
        unlink(path);
    }
    char path[2100];
    snprintf(path, sizeof path, "%s/r", dir);
    rmdir(path);
    rmdir(dir);
}

static void test_selection_and_exit_codes(void **st)
{
    (void)st;
    char *out;
    assert_int_equal(run("bench saar --scenario tool-heavy,drift-heavy --seeds 20260530 "
                         "--policies sticky --format csv",
                         &out),
                     0);
    assert_non_null(strstr(out, "sticky,ok,1440,"));
    free(out);
    assert_int_equal(run("bench saar --scenario nope", NULL), 1);
    assert_int_equal(run("bench saar --policies nope", NULL), 1);
    assert_int_equal(run("bench saar --format xml", NULL), 1);
    assert_int_equal(run("bench saar --turns 0", NULL), 1);
    assert_int_equal(run("bench saar --seeds x", NULL), 1);
    assert_int_equal(run("bench saar --bogus", NULL), 1);
    assert_int_equal(run("bench saar --scenario-file /nonexistent.json", NULL), 1);
    /* live and overhead are implemented (tests/integration/test_bench_live.c
     * runs them); here only their usage errors */
    assert_int_equal(run("bench live --sessions 0", NULL), 1);
    assert_int_equal(run("bench overhead --requests 0", NULL), 1);
    assert_int_equal(run("bench overhead --pin sometimes", NULL), 1);
    assert_int_equal(run("bench overhead --pin", NULL), 1);
    assert_int_equal(run("bench saar --help", NULL), 0);
}

/* issue 19: --held-out on one named workload, JSON and errors */
static void test_held_out(void **st)
{
    (void)st;
    char *out;
    assert_int_equal(
        run("bench saar --held-out --scenario balanced --seeds 1,2 --sessions 5 --format json",
            &out),
        0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *rows = cJSON_GetObjectItem(j, "rows");
    assert_int_equal(cJSON_GetArraySize(rows), 1); /* one scenario: no per-scenario rows */
    cJSON *row = cJSON_GetArrayItem(rows, 0);
    assert_int_equal(cJSON_GetObjectItem(row, "turns")->valueint, 2 * 5 * 18);
    cJSON *pol = cJSON_GetObjectItem(row, "policies");
    assert_non_null(cJSON_GetObjectItem(pol, "tether"));
    assert_non_null(cJSON_GetObjectItem(pol, "tether-defaults"));
    assert_non_null(cJSON_GetObjectItem(pol, "reference-session"));
    cJSON_Delete(j);
    free(out);
    assert_int_equal(run("bench saar --held-out --policies tether", NULL), 1);
    assert_int_equal(run("bench saar --held-out --format csv", NULL), 1);
}

/* issue 19: --frontier runs the tuning settings and writes the frontier */
static void test_frontier_files(void **st)
{
    (void)st;
    assert_int_equal(run("bench saar --frontier", NULL), 1); /* needs --out */
    char dir[] = "/tmp/tether-bench-frontier-XXXXXX";
    assert_non_null(mkdtemp(dir));
    char args[2048];
    snprintf(args, sizeof args,
             "bench saar --scenario balanced --seeds 1 --sessions 6 --turns 8 --policies "
             "tether-defaults --frontier --format csv --out %s",
             dir);
    char *out;
    assert_int_equal(run(args, &out), 0);
    assert_non_null(strstr(out, "frontier-08,ok,"));
    free(out);
    char path[2100];
    snprintf(path, sizeof path, "%s/frontier.csv", dir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[512];
    int rows = 0, frontier_rows = 0, reference = 0;
    while (fgets(line, sizeof line, f)) {
        rows++;
        if (!strncmp(line, "frontier-", 9)) frontier_rows++;
        if (!strncmp(line, "reference (published),", 22)) reference++;
    }
    fclose(f);
    assert_int_equal(frontier_rows, 31);
    assert_int_equal(reference, 1);
    assert_int_equal(rows, 1 + 1 + 31 + 1); /* header, tether-defaults, frontier, reference */
    unlink(path);
    snprintf(path, sizeof path, "%s/frontier.svg", dir);
    f = fopen(path, "r");
    assert_non_null(f);
    char svg[65536];
    size_t n = fread(svg, 1, sizeof svg - 1, f);
    svg[n] = 0;
    fclose(f);
    assert_non_null(strstr(svg, "<svg "));
    assert_non_null(strstr(svg, "frontier-10"));
    assert_non_null(strstr(svg, "reference (published)"));
    assert_non_null(strstr(svg, "</svg>"));
    unlink(path);
    const char *rest[] = {"summary.json", "turns.csv", "chart.svg"};
    for (int i = 0; i < 3; i++) {
        snprintf(path, sizeof path, "%s/%s", dir, rest[i]);
        unlink(path);
    }
    rmdir(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_on_stdout),
        cmocka_unit_test(test_out_dir_and_scenario_file),
        cmocka_unit_test(test_selection_and_exit_codes),
        cmocka_unit_test(test_held_out),
        cmocka_unit_test(test_frontier_files),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
