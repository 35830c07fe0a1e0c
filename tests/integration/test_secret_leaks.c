/* test_secret_leaks.c - no secret in any output (issue 17, docs/security.md).
 * Secrets are planted where tether holds them: a backend API key
 * (api_key_env), a client key on the listener (key_env), a management
 * token (token_env), plus a wrong client key and a wrong management token
 * that clients send. Traffic then runs through every path that writes
 * something: chat (plain and streamed, with a session), a failed backend
 * (connection refused: a 502 body), refused keys (401 bodies), the
 * management API's every GET (config, metrics, backends, keys, status,
 * replay list and records with bodies, history, the dashboard), eval with
 * the caller's Authorization header in it, config validate with a bad
 * body. Then every output is searched for every secret: the router's log
 * (debug level, access log on) and stdout, each answer body and head, the
 * replay store file (capture_bodies on), and the OTLP export received by a
 * collector thread in this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "http_client.h"
#include "poll_until.h"
#include "proc.h"
#include <arpa/inet.h>
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#define BACKEND_KEY "sk-planted-backend-5f1e9c"
#define CLIENT_KEY  "tk-planted-client-8a2d41"
#define WRONG_KEY   "tk-planted-wrong-3c7b20"
#define ADMIN_TOKEN "mg-planted-admin-91ab77"
#define WRONG_TOKEN "mg-planted-wrong-0d4e6f"

static const char *const SECRETS[] = {BACKEND_KEY, CLIENT_KEY, WRONG_KEY, ADMIN_TOKEN, WRONG_TOKEN};

static tproc_t router, mock;
static int rport, gport, mport;
static char dir[128], cfg_path[256], err_path[256], out_path[256], replay_path[256];

/* ------------------------------------------------- an OTLP collector */

static int col_fd = -1, col_port;
static pthread_t col_th;
static volatile int col_stop;
static pthread_mutex_t col_mu = PTHREAD_MUTEX_INITIALIZER;
static buf_t col_raw; /* every request received, head and body */

static void *col_main(void *arg)
{
    (void)arg;
    while (!col_stop) {
        struct pollfd pf = {.fd = col_fd, .events = POLLIN};
        if (poll(&pf, 1, 100) <= 0) continue;
        int c = accept(col_fd, NULL, NULL);
        if (c < 0) continue;
        char tmp[8192];
        size_t got = 0, need = 0;
        buf_t in = BUF_INIT;
        for (;;) {
            struct pollfd p = {.fd = c, .events = POLLIN};
            if (poll(&p, 1, 2000) <= 0) break;
            ssize_t r = recv(c, tmp, sizeof tmp, 0);
            if (r <= 0) break;
            buf_append(&in, tmp, (size_t)r);
            got = in.len;
            buf_putc(&in, 0);
            in.len--;
            char *e = strstr(in.data, "\r\n\r\n");
            if (e && !need) {
                const char *cl = strcasestr(in.data, "content-length:");
                need = (size_t)(e - in.data) + 4 + (cl && cl < e ? strtoul(cl + 15, NULL, 10) : 0);
            }
            if (need && got >= need) break;
        }
        pthread_mutex_lock(&col_mu);
        buf_append(&col_raw, in.data ? in.data : "", in.len);
        pthread_mutex_unlock(&col_mu);
        buf_free(&in);
        const char *ok = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                         "Content-Length: 2\r\nConnection: close\r\n\r\n{}";
        ssize_t w = send(c, ok, strlen(ok), MSG_NOSIGNAL);
        (void)w;
        close(c);
    }
    return NULL;
}

static int col_start(void)
{
    col_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t al = sizeof a;
    if (bind(col_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(col_fd, 64) != 0 ||
        getsockname(col_fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    col_port = ntohs(a.sin_port);
    return pthread_create(&col_th, NULL, col_main, NULL);
}

/* ------------------------------------------------------------ setup */

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/tether-leaks-%d", (int)getpid());
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    if (system(cmd) != 0 || col_start() != 0) return -1;
    const char *ma[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0", NULL};
    if (tproc_spawn(&mock, ma, TPROC_QUIET) != 0) return -1;
    mport = tproc_wait_listening(&mock, 10000);
    int lport = tsupport_free_port(), dead = tsupport_free_port();
    gport = tsupport_free_port();
    snprintf(cfg_path, sizeof cfg_path, "%s/leaks.yaml", dir);
    snprintf(err_path, sizeof err_path, "%s/stderr.log", dir);
    snprintf(out_path, sizeof out_path, "%s/stdout.log", dir);
    snprintf(replay_path, sizeof replay_path, "%s/replay.jsonl", dir);
    FILE *f = fopen(cfg_path, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n"
            "  - name: main\n    address: 127.0.0.1\n    port: %d\n"
            "    api_keys:\n      - {name: alice, key_env: LEAK_CLIENT_KEY}\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\", "
            "api_key_env: LEAK_BACKEND_KEY}]\n"
            "    - name: down\n      backend_refs: [{name: d1, endpoint: \"127.0.0.1:%d\", "
            "api_key_env: LEAK_BACKEND_KEY}]\n"
            "routing:\n  modelCards: [{name: m}, {name: down}]\n"
            "global:\n  services:\n"
            "    logging: {level: debug, access_log: true}\n"
            "    management_api:\n      listen: \"127.0.0.1:%d\"\n"
            "      tokens:\n        - {name: root, token_env: LEAK_ADMIN_TOKEN, role: admin}\n"
            "    router_replay: {store: jsonl, path: \"%s\", capture_bodies: true}\n"
            "    tracing: {enabled: true, endpoint: \"http://127.0.0.1:%d\", sample_ratio: 1, "
            "flush_interval: 50ms}\n",
            lport, mport, dead, gport, replay_path, col_port);
    fclose(f);
    setenv("LEAK_CLIENT_KEY", CLIENT_KEY, 1);
    setenv("LEAK_BACKEND_KEY", BACKEND_KEY, 1);
    setenv("LEAK_ADMIN_TOKEN", ADMIN_TOKEN, 1);
    snprintf(cmd, sizeof cmd, "exec '%s' serve --config '%s' --workers 2 2>'%s'",
             tproc_tether_bin(), cfg_path, err_path);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    if (tproc_spawn(&router, argv, 0) != 0) return -1;
    rport =
        tproc_wait_listening(&router, 30000); /* slow under the sanitizers on a loaded machine */
    return rport > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tproc_stop(&router, 10000);
    tproc_stop(&mock, 5000);
    col_stop = 1;
    pthread_join(col_th, NULL);
    close(col_fd);
    buf_free(&col_raw);
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) != 0 ? -1 : 0;
}

/* ------------------------------------------------------------ checks */

static void assert_clean(const char *what, const char *s, size_t n)
{
    for (size_t i = 0; i < sizeof SECRETS / sizeof *SECRETS; i++)
        if (s && memmem(s, n, SECRETS[i], strlen(SECRETS[i])))
            fail_msg("%s shows the planted secret \"%s\":\n%.*s", what, SECRETS[i],
                     (int)(n > 4000 ? 4000 : n), s);
}

static int outputs; /* outputs searched */

/* One request; its head and body are searched. Returns the status. */
static int call(int port, const char *method, const char *path, const char *hdrs, const char *body,
                char **keep)
{
    thttp_resp_t r = {0};
    int rc =
        thttp_request("127.0.0.1", port, method, path, hdrs, body, body ? strlen(body) : 0, &r);
    int st = rc == 0 ? r.status : -1;
    char what[300];
    snprintf(what, sizeof what, "%s %s (%d)", method, path, st);
    assert_clean(what, r.body, r.body_len);
    for (size_t i = 0; i < r.n_headers; i++) {
        assert_clean(what, r.headers[i].name, strlen(r.headers[i].name));
        assert_clean(what, r.headers[i].value, strlen(r.headers[i].value));
    }
    outputs++;
    if (keep) *keep = r.body ? strndup(r.body, r.body_len) : NULL;
    thttp_resp_free(&r);
    return st;
}

static void assert_file_clean(const char *what, const char *path)
{
    FILE *f = fopen(path, "rb");
    assert_non_null(f);
    buf_t b = BUF_INIT;
    char tmp[65536];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    assert_true(b.len > 0);
    assert_clean(what, b.data, b.len);
    outputs++;
    buf_free(&b);
}

static const char CHAT[] =
    "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char STREAM[] =
    "{\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
static const char DOWN[] =
    "{\"model\":\"down\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

#define CLIENT_AUTH "Authorization: Bearer " CLIENT_KEY "\r\nx-session-id: leak-s1\r\n"
#define ADMIN_AUTH  "Authorization: Bearer " ADMIN_TOKEN "\r\n"

static void test_no_planted_secret_in_any_output(void **state)
{
    (void)state;
    /* the data plane */
    assert_int_equal(call(rport, "POST", "/v1/chat/completions", CLIENT_AUTH, CHAT, NULL), 200);
    assert_int_equal(call(rport, "POST", "/v1/chat/completions", CLIENT_AUTH, STREAM, NULL), 200);
    assert_int_equal(call(rport, "POST", "/v1/chat/completions",
                          "Authorization: Bearer " CLIENT_KEY "\r\nx-api-key: " CLIENT_KEY "\r\n",
                          CHAT, NULL),
                     200);
    int st = call(rport, "POST", "/v1/chat/completions", CLIENT_AUTH, DOWN, NULL);
    assert_true(st >= 500);
    assert_int_equal(call(rport, "POST", "/v1/chat/completions",
                          "Authorization: Bearer " WRONG_KEY "\r\n", CHAT, NULL),
                     401);
    assert_int_equal(call(rport, "POST", "/v1/messages", "x-api-key: " WRONG_KEY "\r\n",
                          "{\"model\":\"m\",\"max_tokens\":5,\"messages\":[]}", NULL),
                     401);
    assert_int_equal(
        call(rport, "GET", "/v1/models", "Authorization: Bearer " WRONG_KEY "\r\n", NULL, NULL),
        401);
    assert_int_equal(call(rport, "GET", "/v1/models", CLIENT_AUTH, NULL, NULL), 200);
    /* the management API: a wrong token, then every GET as admin */
    assert_int_equal(
        call(gport, "GET", "/config", "Authorization: Bearer " WRONG_TOKEN "\r\n", NULL, NULL),
        401);
    static const char *const gets[] = {"/health",
                                       "/ready",
                                       "/config",
                                       "/metrics",
                                       "/backends",
                                       "/v1/rate_limits",
                                       "/v1/budgets",
                                       "/v1/keys",
                                       "/api/v1/history",
                                       "/api/v1/whoami",
                                       "/api/v1/status",
                                       "/api/v1/config/audit",
                                       "/api/v1/config/source",
                                       "/api/v1/config/dsl",
                                       "/dashboard/",
                                       "/v1/router_replay/timeline/leak-s1",
                                       "/v1/router_replay/trajectory?session_id=leak-s1",
                                       "/v1/router_replay/aggregate?by=model"};
    for (size_t i = 0; i < sizeof gets / sizeof *gets; i++)
        call(gport, "GET", gets[i], ADMIN_AUTH, NULL, NULL);
    call(gport, "POST", "/api/v1/eval", ADMIN_AUTH,
         "{\"request\":{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]},"
         "\"headers\":{\"Authorization\":\"Bearer " CLIENT_KEY "\"}}",
         NULL);
    call(gport, "POST", "/config/validate", ADMIN_AUTH, "version: v0.3\nlisteners: [7]\n", NULL);
    /* the replay records, each with its bodies (the records reach the store
     * a little after the answers) */
    char *list = NULL;
    cJSON *items = NULL;
    TPOLL_UNTIL(({
                    free(list);
                    list = NULL;
                    call(gport, "GET", "/v1/router_replay?limit=50", ADMIN_AUTH, NULL, &list);
                    cJSON_Delete(items);
                    items = cJSON_Parse(list ? list : "");
                    cJSON_GetArraySize(cJSON_GetObjectItem(items, "records")) >= 4;
                }),
                TPOLL_MS);
    cJSON *it;
    int records = 0;
    cJSON_ArrayForEach(it, cJSON_GetObjectItem(items, "records"))
    {
        const cJSON *id = cJSON_GetObjectItem(it, "id");
        if (!cJSON_IsString(id)) continue;
        char p[200];
        snprintf(p, sizeof p, "/v1/router_replay/%s?include_bodies=true", id->valuestring);
        assert_int_equal(call(gport, "GET", p, ADMIN_AUTH, NULL, NULL), 200);
        records++;
    }
    cJSON_Delete(items);
    free(list);
    assert_true(records >= 4);
    /* the trace export: wait for spans to arrive */
    TPOLL_UNTIL(({
                    pthread_mutex_lock(&col_mu);
                    bool got = col_raw.len && memmem(col_raw.data, col_raw.len, "\"spans\"", 7);
                    pthread_mutex_unlock(&col_mu);
                    got;
                }),
                TPOLL_MS);
    /* stop the router: its log and replay file are complete */
    int rst = tproc_stop(&router, 10000);
    assert_true(WIFEXITED(rst));
    pthread_mutex_lock(&col_mu);
    assert_true(col_raw.len > 0);
    assert_clean("the OTLP export", col_raw.data, col_raw.len);
    outputs++;
    size_t traces = col_raw.len;
    pthread_mutex_unlock(&col_mu);
    assert_file_clean("the router's log (stderr)", err_path);
    assert_file_clean("the replay store file", replay_path);
    /* the log did record the traffic (the search is not vacuous) */
    FILE *f = fopen(err_path, "r");
    char line[8192];
    int access = 0;
    while (f && fgets(line, sizeof line, f))
        access += strstr(line, "/v1/chat/completions") != NULL;
    if (f) fclose(f);
    assert_true(access >= 4);
    if (getenv("TETHER_TEST_VERBOSE"))
        fprintf(stderr,
                "leaks: %d outputs searched (answers, log, replay file, %zu bytes of OTLP), %d "
                "replay records with bodies, %d access lines: no planted secret\n",
                outputs, traces, records, access);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_planted_secret_in_any_output),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
