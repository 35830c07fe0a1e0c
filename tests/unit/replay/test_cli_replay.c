/* test_cli_replay.c - `tether replay` through the real binary ($TETHER_BIN,
 * else ./build/tether) on a temp SQLite store written by the library: list
 * (table, json, filters, paging), show, session, export (jsonl, csv, --out),
 * the store named by --config, and exit codes for mistakes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <sys/wait.h>

#include "replay_fixture.h"

static char bin[1024], dir[256], db[320];
static char ids[6][REPLAY_ID_LEN + 1];

static int run(const char *args, char **out)
{
    char cmd[4096];
    snprintf(cmd, sizeof cmd, "'%s' %s 2>/dev/null", bin, args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t cap = 1 << 16, len = 0, got;
    char *buf = malloc(cap);
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
    const char *b = getenv("TETHER_BIN");
    if (b)
        snprintf(bin, sizeof bin, "%s", b);
    else if (!realpath("build/tether", bin))
        return -1;
    if (access(bin, X_OK)) return -1;
    fx_tmpdir(dir, sizeof dir);
    snprintf(db, sizeof db, "%s/replay.db", dir);
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = db;
    replay_store_t *s = replay_store_open(&c, NULL);
    if (!s) return -1;
    /* session agent-7: cold start on small, stay, switch to big, tool-loop lock;
     * plus two records of another session */
    static const char *reason[] = {"cold_start",          "stay_best_adjusted", "switch_allowed",
                                   "hard_lock_tool_loop", "cold_start",         "no_session"};
    for (int i = 0; i < 6; i++) {
        bool mine = i < 4;
        replay_record_t *r = fx_record(
            1714564800000ull + (uint64_t)i * 1000, mine ? "agent-7" : "other", mine ? i + 1 : i - 3,
            i < 2 ? "chat" : "coding", i < 2 ? "small" : "big", reason[i]);
        r->session.switched = i == 2;
        replay_record_set(&r->tenant, "team, \"quoted\""); /* CSV escaping */
        if (i == 0) replay_record_set_body(r, 0, "{\"messages\":[]}", 15, 0);
        memcpy(ids[i], r->id, sizeof ids[i]);
        if (replay_store_write(s, &r, 1, NULL) != REPLAY_OK) return -1;
        replay_record_free(r);
    }
    replay_store_close(s);
    return 0;
}

static int teardown(void **st)
{
    fx_rmdir(dir);
    return 0;
}

static void test_list_table_and_json(void **st)
{
    char args[1024], *out;
    snprintf(args, sizeof args, "replay list --db '%s'", db);
    assert_int_equal(run(args, &out), 0);
    assert_non_null(strstr(out, "TIME"));
    assert_non_null(strstr(out, ids[5]));
    assert_non_null(strstr(out, "hard_lock_tool_loop"));
    /* newest first */
    assert_true(strstr(out, ids[5]) < strstr(out, ids[0]));
    free(out);

    snprintf(args, sizeof args,
             "replay list --db '%s' --session agent-7 --model big --format json --limit 1", db);
    assert_int_equal(run(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    cJSON *recs = cJSON_GetObjectItem(j, "records");
    assert_int_equal(cJSON_GetArraySize(recs), 1);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "id")), ids[3]);
    const char *cur = cJSON_GetStringValue(cJSON_GetObjectItem(j, "next_cursor"));
    assert_non_null(cur);
    char page2[1024];
    snprintf(
        page2, sizeof page2,
        "replay list --db '%s' --session agent-7 --model big --format json --limit 1 --cursor '%s'",
        db, cur);
    free(out);
    cJSON_Delete(j);
    assert_int_equal(run(page2, &out), 0);
    j = cJSON_Parse(out);
    recs = cJSON_GetObjectItem(j, "records");
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(recs, 0), "id")), ids[2]);
    assert_true(cJSON_IsNull(cJSON_GetObjectItem(j, "next_cursor")));
    cJSON_Delete(j);
    free(out);

    snprintf(args, sizeof args, "replay list --db '%s' --reason switch_allowed --format json", db);
    assert_int_equal(run(args, &out), 0);
    j = cJSON_Parse(out);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 1);
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "replay list --db '%s' --since 2024-05-01T12:00:04Z --format json",
             db);
    assert_int_equal(run(args, &out), 0);
    j = cJSON_Parse(out);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 2);
    cJSON_Delete(j);
    free(out);
}

static void test_show_and_session(void **st)
{
    char args[1024], *out;
    snprintf(args, sizeof args, "replay show %s --db '%s'", ids[0], db);
    assert_int_equal(run(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_non_null(j);
    assert_string_equal(cJSON_GetStringValue(cJSON_GetObjectItem(j, "id")), ids[0]);
    assert_non_null(cJSON_GetObjectItem(j, "bodies")); /* offline reader holds the file */
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "replay show %s --db '%s' --no-bodies", ids[0], db);
    assert_int_equal(run(args, &out), 0);
    assert_null(strstr(out, "\"bodies\""));
    free(out);
    snprintf(args, sizeof args, "replay show rr_000000000000000000000000 --db '%s'", db);
    assert_int_equal(run(args, NULL), 1);

    snprintf(args, sizeof args, "replay session agent-7 --db '%s' --format json", db);
    assert_int_equal(run(args, &out), 0);
    j = cJSON_Parse(out);
    cJSON *tl = cJSON_GetObjectItem(j, "timeline");
    assert_int_equal(cJSON_GetArraySize(tl), 4);
    assert_string_equal(
        cJSON_GetStringValue(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, 0), "reason")),
        "cold_start");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetArrayItem(tl, 2), "switched")));
    cJSON_Delete(j);
    free(out);
    snprintf(args, sizeof args, "replay session agent-7 --db '%s'", db);
    assert_int_equal(run(args, &out), 0);
    assert_non_null(strstr(out, "switch_allowed"));
    assert_true(strstr(out, ids[0]) < strstr(out, ids[3])); /* oldest first */
    free(out);
}

static void test_export_jsonl_and_csv(void **st)
{
    char args[1024], *out;
    snprintf(args, sizeof args, "replay export --format jsonl --db '%s'", db);
    assert_int_equal(run(args, &out), 0);
    int lines = 0;
    for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
        cJSON *j = cJSON_Parse(line);
        assert_non_null(j);
        assert_null(cJSON_GetObjectItem(j, "bodies")); /* only with --bodies */
        cJSON_Delete(j);
        lines++;
    }
    assert_int_equal(lines, 6);
    free(out);

    char csv[400];
    snprintf(csv, sizeof csv, "%s/out.csv", dir);
    snprintf(args, sizeof args, "replay export --format csv --out '%s' --db '%s' --session agent-7",
             csv, db);
    assert_int_equal(run(args, NULL), 0);
    FILE *f = fopen(csv, "r");
    assert_non_null(f);
    char line[4096];
    assert_non_null(fgets(line, sizeof line, f));
    assert_memory_equal(line, "id,created_at,request_id,", 25);
    int rows = 0;
    while (fgets(line, sizeof line, f)) {
        assert_non_null(strstr(line, "\"team, \"\"quoted\"\"\""));
        assert_non_null(strstr(line, "agent-7"));
        rows++;
    }
    fclose(f);
    assert_int_equal(rows, 4);
}

static void test_config_names_the_store(void **st)
{
    char cfg[400], args[1024], *out;
    snprintf(cfg, sizeof cfg, "%s/config.yaml", dir);
    FILE *f = fopen(cfg, "w");
    fprintf(f,
            "version: v0.3\nlisteners:\n  - name: main\n    port: 8899\nproviders:\n  models:\n"
            "    - name: m-a\n      backend_refs:\n        - endpoint: 127.0.0.1:9000\n"
            "  defaults:\n    default_model: m-a\nrouting:\n  modelCards:\n    - name: m-a\n"
            "global:\n  services:\n    router_replay:\n      store: sqlite\n      path: %s\n",
            db);
    fclose(f);
    snprintf(args, sizeof args, "replay list --config '%s' --format json", cfg);
    assert_int_equal(run(args, &out), 0);
    cJSON *j = cJSON_Parse(out);
    assert_int_equal((int)cJSON_GetNumberValue(cJSON_GetObjectItem(j, "count")), 6);
    cJSON_Delete(j);
    free(out);
}

static void test_mistakes_exit_codes(void **st)
{
    char args[1024];
    assert_int_equal(run("replay", NULL), 1);
    assert_int_equal(run("replay frobnicate", NULL), 1);
    snprintf(args, sizeof args, "replay list --db '%s' --reason sticky", db);
    assert_int_equal(run(args, NULL), 1);
    snprintf(args, sizeof args, "replay list --db '%s' --since soon", db);
    assert_int_equal(run(args, NULL), 1);
    snprintf(args, sizeof args, "replay list --db '%s' --cursor junk --format json", db);
    assert_int_equal(run(args, NULL), 1);
    snprintf(args, sizeof args, "replay export --format xml --db '%s'", db);
    assert_int_equal(run(args, NULL), 1);
    snprintf(args, sizeof args, "replay show --db '%s'", db);
    assert_int_equal(run(args, NULL), 1);
    snprintf(args, sizeof args, "replay list --db '%s/missing.db'", dir);
    assert_int_equal(run(args, NULL), 2);
    assert_int_equal(run("replay --help", NULL), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_list_table_and_json),  cmocka_unit_test(test_show_and_session),
        cmocka_unit_test(test_export_jsonl_and_csv), cmocka_unit_test(test_config_names_the_store),
        cmocka_unit_test(test_mistakes_exit_codes),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
