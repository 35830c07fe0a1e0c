/* test_client_keys.c - virtual client keys on the real tether binary with a
 * `tether mock` backend: keys from a keys_file (as SHA-256 digests) and
 * from env; a model or a decision the key may not use gets 403 in the
 * endpoint's shape and never reaches the backend, and GET /v1/models lists
 * only the models the key may ask for; authz sees the key's
 * team and metadata (decisions chosen by kind Team / Metadata); replay
 * records carry the key's name, owner, team and metadata; malformed
 * credentials get a 401 with their reason in tether_auth_failures_total
 * and a log line without the key; GET /v1/keys lists keys without
 * secrets or digests; a rewritten keys_file rotates the keys on SIGHUP,
 * on POST /config/reload and through the file watch, the old key refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define KEY_A  "sk-tck-alice-0123456789"
#define KEY_A2 "sk-tck-alice-rotated-1"
#define KEY_A3 "sk-tck-alice-rotated-2"
#define KEY_A4 "sk-tck-alice-rotated-3"
#define KEY_B  "sk-tck-bob-0123456789"
#define KEY_C  "sk-tck-carol-0123456789"
#define KEY_D  "sk-tck-dave-0123456789"
#define KEY_E  "sk-tck-erin-0123456789"

static tproc_t mock, router;
static int mport, kport, gport;
static char dir[128], cfg_path[256], keys_path[256], log_path[256];

static const char *CHAT_AUTO =
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void sha_hex(const char *s, char out[65])
{
    unsigned char d[32];
    unsigned int n = 0;
    EVP_Digest(s, strlen(s), d, &n, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

/* The keys file, alice's secret being alice_key; written whole, then
 * renamed over the old one (as an operator or a ConfigMap would). */
static int write_keys(const char *alice_key)
{
    char a[65], b[65], d[65], tmp[300];
    sha_hex(alice_key, a);
    sha_hex(KEY_B, b);
    sha_hex(KEY_D, d);
    snprintf(tmp, sizeof tmp, "%s.tmp", keys_path);
    FILE *f = fopen(tmp, "w");
    if (!f) return -1;
    fprintf(f,
            "- name: alice\n  key_sha256: \"%s\"\n  owner: ann@example.com\n  team: research\n"
            "  models: [auto, plain]\n  decisions: [research, gold]\n"
            "  metadata: {tier: silver, cost_center: \"4711\"}\n"
            "- {name: bob, key_sha256: \"%s\", team: ops, decisions: [research]}\n"
            "- {name: dave, key_sha256: \"%s\", metadata: {tier: gold}}\n",
            a, b, d);
    fclose(f);
    return rename(tmp, keys_path);
}

static int setup(void **state)
{
    mport = tstack_mock(&mock, NULL);
    if (mport <= 0) return -1;
    kport = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(dir, sizeof dir, "/tmp/tether-test-keys-%d", (int)getpid());
    if (mkdir(dir, 0700) != 0) return -1;
    snprintf(cfg_path, sizeof cfg_path, "%s/config.yaml", dir);
    snprintf(keys_path, sizeof keys_path, "%s/keys.yaml", dir);
    snprintf(log_path, sizeof log_path, "%s/tether.log", dir);
    if (write_keys(KEY_A) != 0) return -1;
    char esha[65];
    sha_hex(KEY_E, esha);
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n"
            "  - name: main\n    address: 127.0.0.1\n    port: %d\n"
            "    keys_file: keys.yaml\n" /* relative to the config */
            "    max_key_bytes: 64\n"
            "    api_keys:\n"
            "      - {name: carol, key_env: TCK_KEY_CAROL, models: [plain, claude], owner: cat}\n"
            "      - {name: erin, key_sha256: \"%s\"}\n"
            "providers:\n  defaults: {default_model: plain}\n  models:\n"
            "    - name: plain\n      backend_refs: [{name: p1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: fwd\n      backend_refs: [{name: f1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: claude\n      api_format: anthropic\n"
            "      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: plain}, {name: fwd}, {name: claude}]\n"
            "  signals:\n    role_bindings:\n"
            "      - {name: research-team, role: research, subjects: [{kind: Team, name: "
            "research}], fail_open: true}\n"
            "      - {name: gold-tier, role: gold, subjects: [{kind: Metadata, name: "
            "\"tier=gold\"}], fail_open: true}\n"
            "  decisions:\n"
            "    - {name: research, priority: 100, rules: {type: authz, name: research}, "
            "modelRefs: [{model: fwd}]}\n"
            "    - {name: gold, priority: 90, rules: {type: authz, name: gold}, "
            "modelRefs: [{model: fwd}]}\n"
            "    - {name: everyone, modelRefs: [{model: plain}]}\n"
            "global:\n  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n",
            kport, esha, mport, mport, mport, gport);
    fclose(f);
    setenv("TCK_KEY_CAROL", KEY_C, 1);
    if (tstack_serve_logged(&router, cfg_path, 1, log_path) != 0) return -1;
    return tproc_wait_listening(&router, 10000) > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    int st = tproc_stop(&router, 10000);
    int ms = tproc_stop(&mock, 10000);
    unlink(cfg_path);
    unlink(keys_path);
    unlink(log_path);
    rmdir(dir);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 && WIFEXITED(ms) && WEXITSTATUS(ms) == 0 ? 0 : -1;
}

static int req(int port, const char *method, const char *path, const char *headers,
               const char *body, thttp_resp_t *r)
{
    return thttp_request("127.0.0.1", port, method, path, headers, body, body ? strlen(body) : 0,
                         r);
}

static int mock_requests(void)
{
    return tstack_mock_requests(mport);
}

/* The status of a chat request with key (as a Bearer token) and body. */
static int chat_status(const char *key, const char *body)
{
    char h[256];
    snprintf(h, sizeof h, "Authorization: Bearer %s\r\n", key);
    thttp_resp_t r;
    if (req(kport, "POST", "/v1/chat/completions", h, body, &r) != 0) return -1;
    int st = r.status;
    thttp_resp_free(&r);
    return st;
}

static void assert_openai_403(const thttp_resp_t *r, const char *code)
{
    assert_int_equal(r->status, 403);
    cJSON *j = cJSON_Parse(r->body);
    assert_non_null(j);
    cJSON *e = cJSON_GetObjectItem(j, "error");
    assert_non_null(e);
    assert_string_equal(cJSON_GetObjectItem(e, "type")->valuestring, "permission_error");
    assert_string_equal(cJSON_GetObjectItem(e, "code")->valuestring, code);
    cJSON_Delete(j);
}

static void test_model_the_key_may_not_use_gets_403(void **state)
{
    int before = mock_requests();
    thttp_resp_t r;
    const char *fwd = "{\"model\":\"fwd\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(
        req(kport, "POST", "/v1/chat/completions", "x-api-key: " KEY_C "\r\n", fwd, &r), 0);
    assert_openai_403(&r, "model_not_allowed");
    assert_non_null(strstr(r.body, "fwd"));
    thttp_resp_free(&r);
    assert_int_equal(mock_requests(), before);
    /* Messages: the Anthropic shape */
    const char *claude = "{\"model\":\"fwd\",\"max_tokens\":8,"
                         "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(req(kport, "POST", "/v1/messages", "x-api-key: " KEY_C "\r\n", claude, &r), 0);
    assert_int_equal(r.status, 403);
    cJSON *j = cJSON_Parse(r.body);
    assert_string_equal(cJSON_GetObjectItem(j, "type")->valuestring, "error");
    assert_string_equal(cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "type")->valuestring,
                        "permission_error");
    cJSON_Delete(j);
    thttp_resp_free(&r);
    /* a listed model passes */
    const char *plain =
        "{\"model\":\"plain\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    assert_int_equal(chat_status(KEY_C, plain), 200);
    assert_int_equal(chat_status(KEY_C, CHAT_AUTO), 403); /* auto is not in carol's list */
    assert_int_equal(mock_requests(), before + 1);
    /* GET /v1/models lists what the key may ask for */
    assert_int_equal(req(kport, "GET", "/v1/models", "x-api-key: " KEY_C "\r\n", NULL, &r), 0);
    assert_int_equal(r.status, 200);
    j = cJSON_Parse(r.body);
    cJSON *data = cJSON_GetObjectItem(j, "data"), *m;
    int listed = 0;
    cJSON_ArrayForEach(m, data)
    {
        const char *id = cJSON_GetObjectItem(m, "id")->valuestring;
        assert_true(!strcmp(id, "plain") || !strcmp(id, "claude"));
        listed++;
    }
    assert_int_equal(listed, 2);
    cJSON_Delete(j);
    thttp_resp_free(&r);
    /* a key without a list sees everything */
    assert_int_equal(req(kport, "GET", "/v1/models", "x-api-key: " KEY_B "\r\n", NULL, &r), 0);
    assert_non_null(strstr(r.body, "\"fwd\""));
    assert_non_null(strstr(r.body, "\"auto\""));
    thttp_resp_free(&r);
}

static void test_decision_the_key_may_not_use_gets_403(void **state)
{
    int before = mock_requests();
    /* bob (team ops) routes to "everyone", his list has only "research" */
    thttp_resp_t r;
    assert_int_equal(req(kport, "POST", "/v1/chat/completions",
                         "Authorization: Bearer " KEY_B "\r\n", CHAT_AUTO, &r),
                     0);
    assert_openai_403(&r, "decision_not_allowed");
    assert_non_null(strstr(r.body, "everyone"));
    thttp_resp_free(&r);
    assert_int_equal(mock_requests(), before);
    /* alice's team routes to "research" (authz kind Team), which she may use */
    assert_int_equal(chat_status(KEY_A, CHAT_AUTO), 200);
    /* dave's metadata tier=gold routes to "gold" (authz kind Metadata) */
    assert_int_equal(chat_status(KEY_D, CHAT_AUTO), 200);
    assert_int_equal(mock_requests(), before + 2);
}

/* The replay record of the latest request by key name. */
static cJSON *replay_of(const char *key_name)
{
    thttp_resp_t r;
    assert_int_equal(req(gport, "GET", "/v1/router_replay?limit=50", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    thttp_resp_free(&r);
    assert_non_null(j);
    cJSON *items = cJSON_GetObjectItem(j, "data");
    if (!items) items = cJSON_GetObjectItem(j, "records");
    assert_non_null(items);
    cJSON *it, *hit = NULL;
    cJSON_ArrayForEach(it, items)
    {
        cJSON *ck = cJSON_GetObjectItem(it, "client_key");
        cJSON *nm = ck ? cJSON_GetObjectItem(ck, "name") : NULL;
        if (cJSON_IsString(nm) && !strcmp(nm->valuestring, key_name)) {
            hit = cJSON_Duplicate(it, true);
            break;
        }
    }
    cJSON_Delete(j);
    return hit;
}

static void test_replay_and_authz_see_the_key(void **state)
{
    assert_int_equal(chat_status(KEY_A, CHAT_AUTO), 200);
    cJSON *rec = NULL;
    for (int i = 0; i < 200 && !rec; i++) { /* the writer thread stores it shortly */
        rec = replay_of("alice");
        if (!rec) usleep(100000);
    }
    assert_non_null(rec);
    cJSON *ck = cJSON_GetObjectItem(rec, "client_key");
    assert_string_equal(cJSON_GetObjectItem(ck, "owner")->valuestring, "ann@example.com");
    assert_string_equal(cJSON_GetObjectItem(ck, "team")->valuestring, "research");
    cJSON *md = cJSON_GetObjectItem(ck, "metadata");
    assert_string_equal(cJSON_GetObjectItem(md, "cost_center")->valuestring, "4711");
    assert_string_equal(cJSON_GetObjectItem(rec, "decision")->valuestring, "research");
    char *txt = cJSON_PrintUnformatted(rec);
    char sha[65];
    sha_hex(KEY_A, sha);
    assert_null(strstr(txt, KEY_A));
    assert_null(strstr(txt, sha));
    free(txt);
    cJSON_Delete(rec);
}

static void test_malformed_credentials_get_401_with_reason(void **state)
{
    char longkey[200];
    memset(longkey, 'k', sizeof longkey - 1);
    longkey[sizeof longkey - 1] = 0;
    char longh[256];
    snprintf(longh, sizeof longh, "x-api-key: %s\r\n", longkey);
    struct {
        const char *headers, *reason;
    } cases[] = {
        {"Authorization: " KEY_A "\r\n", "malformed"},            /* no Bearer */
        {"Authorization: Basic " KEY_A "\r\n", "malformed"},      /* another scheme */
        {"Authorization: Bearer \r\n", "malformed"},              /* empty */
        {"Authorization:\r\n", "malformed"},                      /* empty header */
        {"x-api-key: sk-tck-\xc3\xa9t\xc3\xa9\r\n", "malformed"}, /* non-ASCII */
        {longh, "too_long"},
        {"Authorization: Bearer " KEY_A "\r\nx-api-key: " KEY_B "\r\n", "conflicting"},
        {"Authorization: Bearer sk-tck-nobody\r\n", "invalid"},
        {"X-Other: " KEY_A "\r\n", "missing"},
    };
    int before = mock_requests();
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        thttp_resp_t r;
        assert_int_equal(
            req(kport, "POST", "/v1/chat/completions", cases[i].headers, CHAT_AUTO, &r), 0);
        assert_int_equal(r.status, 401);
        cJSON *j = cJSON_Parse(r.body);
        assert_non_null(j);
        assert_string_equal(
            cJSON_GetObjectItem(cJSON_GetObjectItem(j, "error"), "code")->valuestring,
            "invalid_api_key");
        cJSON_Delete(j);
        assert_null(strstr(r.body, KEY_A));
        thttp_resp_free(&r);
    }
    /* the Anthropic shape on /v1/messages */
    thttp_resp_t r;
    assert_int_equal(req(kport, "POST", "/v1/messages", "Authorization: Basic x\r\n", "{}", &r), 0);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "authentication_error"));
    thttp_resp_free(&r);
    assert_int_equal(mock_requests(), before);
    assert_int_equal(req(gport, "GET", "/metrics", NULL, NULL, &r), 0);
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        char want[128];
        snprintf(want, sizeof want, "tether_auth_failures_total{listener=\"main\",reason=\"%s\"}",
                 cases[i].reason);
        if (!strstr(r.body, want)) fail_msg("no %s in the metrics", want);
    }
    assert_non_null(strstr(r.body, "reason=\"model_not_allowed\"}"));
    assert_non_null(strstr(r.body, "reason=\"decision_not_allowed\"}"));
    thttp_resp_free(&r);
    FILE *f = fopen(log_path, "r");
    assert_non_null(f);
    char line[8192];
    int n_failed = 0, n_forbidden = 0;
    while (fgets(line, sizeof line, f)) {
        if (strstr(line, "\"event\":\"client_auth_failed\"")) n_failed++;
        if (strstr(line, "\"event\":\"client_auth_forbidden\"")) n_forbidden++;
        assert_null(strstr(line, KEY_A));
        assert_null(strstr(line, KEY_B));
        assert_null(strstr(line, longkey));
    }
    fclose(f);
    assert_true(n_failed >= (int)(sizeof cases / sizeof *cases));
    assert_true(n_forbidden >= 2);
}

static void test_keys_are_listed_without_secrets(void **state)
{
    thttp_resp_t r;
    assert_int_equal(req(gport, "GET", "/v1/keys", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    cJSON *j = cJSON_Parse(r.body);
    assert_non_null(j);
    cJSON *keys = cJSON_GetObjectItem(j, "keys");
    assert_int_equal(cJSON_GetArraySize(keys), 5);
    cJSON *carol = cJSON_GetArrayItem(keys, 0); /* inline keys first */
    assert_string_equal(cJSON_GetObjectItem(carol, "name")->valuestring, "carol");
    assert_string_equal(cJSON_GetObjectItem(carol, "source")->valuestring, "config");
    assert_true(cJSON_IsTrue(cJSON_GetObjectItem(carol, "enabled")));
    cJSON *alice = cJSON_GetArrayItem(keys, 2);
    assert_string_equal(cJSON_GetObjectItem(alice, "name")->valuestring, "alice");
    assert_string_equal(cJSON_GetObjectItem(alice, "owner")->valuestring, "ann@example.com");
    assert_string_equal(cJSON_GetObjectItem(alice, "team")->valuestring, "research");
    assert_string_equal(cJSON_GetObjectItem(alice, "listener")->valuestring, "main");
    cJSON_Delete(j);
    const char *secrets[] = {KEY_A, KEY_B, KEY_C, KEY_D, KEY_E};
    for (size_t i = 0; i < 5; i++) {
        char sha[65];
        sha_hex(secrets[i], sha);
        assert_null(strstr(r.body, secrets[i]));
        assert_null(strstr(r.body, sha));
    }
    thttp_resp_free(&r);
    /* nor does GET /config show a digest written in the config */
    assert_int_equal(req(gport, "GET", "/config", NULL, NULL, &r), 0);
    assert_int_equal(r.status, 200);
    char sha[65];
    sha_hex(KEY_E, sha);
    assert_non_null(strstr(r.body, "erin"));
    assert_null(strstr(r.body, sha));
    thttp_resp_free(&r);
}

/* Wait until old gets 401 and fresh 200 (the reload is asynchronous). */
static void assert_rotated(const char *old, const char *fresh)
{
    int so = 0, sf = 0;
    for (int i = 0; i < 200; i++) {
        so = chat_status(old, CHAT_AUTO);
        sf = chat_status(fresh, CHAT_AUTO);
        if (so == 401 && sf == 200) break;
        usleep(100000);
    }
    assert_int_equal(so, 401);
    assert_int_equal(sf, 200);
}

static void test_rewritten_keys_file_rotates_on_reload(void **state)
{
    assert_int_equal(chat_status(KEY_A, CHAT_AUTO), 200);
    /* SIGHUP: the config's own bytes are unchanged, the keys file is not */
    assert_int_equal(write_keys(KEY_A2), 0);
    assert_int_equal(tproc_signal(&router, SIGHUP), 0);
    assert_rotated(KEY_A, KEY_A2);
    /* the reload API */
    assert_int_equal(write_keys(KEY_A3), 0);
    thttp_resp_t r;
    assert_int_equal(req(gport, "POST", "/config/reload", NULL, "", &r), 0);
    assert_int_equal(r.status, 200);
    thttp_resp_free(&r);
    assert_rotated(KEY_A2, KEY_A3);
    /* the file watch alone */
    assert_int_equal(write_keys(KEY_A4), 0);
    assert_rotated(KEY_A3, KEY_A4);
    /* the other keys kept working throughout */
    assert_int_equal(chat_status(KEY_D, CHAT_AUTO), 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_model_the_key_may_not_use_gets_403),
        cmocka_unit_test(test_decision_the_key_may_not_use_gets_403),
        cmocka_unit_test(test_replay_and_authz_see_the_key),
        cmocka_unit_test(test_malformed_credentials_get_401_with_reason),
        cmocka_unit_test(test_keys_are_listed_without_secrets),
        cmocka_unit_test(test_rewritten_keys_file_rotates_on_reload),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
