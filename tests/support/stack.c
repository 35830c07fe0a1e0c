/* stack.c - see stack.h. */
#include "stack.h"
#include "http_client.h"
#include <arpa/inet.h>
#include <fcntl.h>
#include <cjson/cJSON.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

int tstack_mock(tproc_t *p, const char *const extra[])
{
    const char *argv[24];
    int n = 0;
    argv[n++] = tproc_tether_bin();
    argv[n++] = "mock";
    argv[n++] = "--listen";
    argv[n++] = "127.0.0.1:0";
    for (int k = 0; extra && extra[k] && n < 23; k++)
        argv[n++] = extra[k];
    argv[n] = NULL;
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

int tstack_mock_strict(tproc_t *p, const char *seed)
{
    const char *argv[] = {tproc_tether_bin(), "mock",   "--listen", "127.0.0.1:0",
                          "--strict",         "--seed", seed,       NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

int tstack_serve(tproc_t *p, const char *cfg)
{
    return tstack_serve_n(p, cfg, 2, 10000);
}

int tstack_serve_n(tproc_t *p, const char *cfg, int workers, int timeout_ms)
{
    char w[16];
    snprintf(w, sizeof w, "%d", workers);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg, "--workers", w, NULL};
    if (tproc_spawn(p, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, timeout_ms);
}

int tstack_serve_logged(tproc_t *p, const char *cfg, int workers, const char *log_path)
{
    char w[16];
    snprintf(w, sizeof w, "%d", workers);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg, "--workers", w, NULL};
    int lf = open(log_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (lf < 0) return -1;
    fflush(stderr);
    int saved = dup(2);
    if (saved < 0) {
        close(lf);
        return -1;
    }
    dup2(lf, 2);
    close(lf);
    int rc = tproc_spawn(p, argv, 0);
    dup2(saved, 2);
    close(saved);
    return rc;
}

void tstack_two_ports(int *a, int *b)
{
    *a = tsupport_free_port();
    *b = tsupport_free_port();
    for (int i = 0; i < 20 && *b == *a; i++)
        *b = tsupport_free_port();
}

void tstack_yaml_ab_head(FILE *f, int port, int llm_port)
{
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d, timeout: 30s}\n"
            "providers:\n  defaults: {default_model: model-a}\n  models:\n"
            "    - name: model-a\n      backend_refs: [{name: a1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: model-b\n      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: model-a}, {name: model-b}]\n",
            port, llm_port, llm_port);
}

void tstack_yaml_signal_global(FILE *f, const char *signal_timeout, int mgmt_port)
{
    fprintf(f,
            "global:\n"
            "  router:\n    limits: {signal_timeout: %s}\n"
            "  services:\n    management_api: {listen: \"127.0.0.1:%d\"}\n"
            "    router_replay: {store: memory}\n"
            "  model_catalog:\n",
            signal_timeout, mgmt_port);
}

int tstack_closed_port(int *fd)
{
    *fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    socklen_t sl = sizeof a;
    if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(*fd, (struct sockaddr *)&a, &sl) != 0)
        return -1;
    return ntohs(a.sin_port);
}

int tstack_stop_clean(tproc_t *p, const char *what, int timeout_ms)
{
    int st = tproc_stop(p, timeout_ms);
    if (WIFEXITED(st) && WEXITSTATUS(st) == 0) return 0;
    fprintf(stderr, "%s exit status %d\n", what, st);
    return -1;
}

int tstack_mock_violations(int port)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", port, "GET", "/mock/stats", NULL, NULL, 0, &r) != 0) return -1;
    cJSON *j = cJSON_Parse(r.body);
    int v = j ? cJSON_GetObjectItem(j, "violations")->valueint : -1;
    if (v > 0) {
        char *by = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "violations_by_code"));
        fprintf(stderr, "mock %d violations: %s\n", port, by);
        free(by);
    }
    cJSON_Delete(j);
    thttp_resp_free(&r);
    return v;
}

int tstack_mock_stat(int port, const char *key)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", port, "GET", "/mock/stats", NULL, NULL, 0, &r) != 0) return -1;
    cJSON *j = cJSON_Parse(r.body);
    cJSON *v = j ? cJSON_GetObjectItem(j, key) : NULL;
    int n = cJSON_IsNumber(v) ? v->valueint : -1;
    cJSON_Delete(j);
    thttp_resp_free(&r);
    return n;
}

int tstack_mock_requests(int port)
{
    return tstack_mock_stat(port, "requests");
}

int tstack_workdir(char *dir, size_t n, const char *name)
{
    snprintf(dir, n, "/tmp/tether-%s-%d", name, (int)getpid());
    char cmd[300];
    snprintf(cmd, sizeof cmd, "mkdir -p %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int tstack_workdir_remove(const char *dir)
{
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    return system(cmd) == 0 ? 0 : -1;
}

int tstack_store_degraded(int mport)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mport, "GET", "/metrics", NULL, NULL, 0, &r) != 0) return -1;
    const char *m = strstr(r.body, "\ntether_session_store_degraded ");
    int d = m ? atoi(m + strlen("\ntether_session_store_degraded ")) : -1;
    thttp_resp_free(&r);
    return d;
}
