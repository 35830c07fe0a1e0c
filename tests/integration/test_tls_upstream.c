/* test_tls_upstream.c - https backends through OpenSSL bufferevents: the
 * router verifies the backend certificate (a self-signed one trusted through
 * SSL_CERT_FILE succeeds; untrusted fails with 502), sends the base_url path,
 * injects the backend credential from api_key_env with auth_prefix, adds
 * extra_headers, and strips the client's own Authorization. The backend is a
 * small OpenSSL server in a thread of this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static char dir[128], cert[200], key[200], cfg[200];
static int tls_fd = -1, tls_port;
static SSL_CTX *sctx;
static pthread_t tls_thread;
static atomic_int stop_flag;
static pthread_mutex_t seen_lock = PTHREAD_MUTEX_INITIALIZER;
static char seen[8192]; /* last request head + body the backend received */
static atomic_int handshakes_ok;

static const char REPLY[] =
    "{\"id\":\"chatcmpl-tls\",\"object\":\"chat.completion\",\"model\":\"m\","
    "\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":\"over tls\"},"
    "\"finish_reason\":\"stop\"}],\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":2}}";

static void serve_conn(int fd)
{
    SSL *ssl = SSL_new(sctx);
    SSL_set_fd(ssl, fd);
    if (SSL_accept(ssl) != 1) {
        SSL_free(ssl);
        close(fd);
        return;
    }
    atomic_fetch_add(&handshakes_ok, 1);
    char buf[16384];
    size_t len = 0;
    for (;;) {
        int n = SSL_read(ssl, buf + len, (int)(sizeof buf - 1 - len));
        if (n <= 0) break;
        len += (size_t)n;
        buf[len] = 0;
        char *end = strstr(buf, "\r\n\r\n");
        if (!end) continue;
        size_t head = (size_t)(end + 4 - buf);
        char *cl = strcasestr(buf, "content-length:");
        size_t body = cl ? (size_t)atol(cl + 15) : 0;
        if (len < head + body) continue;
        pthread_mutex_lock(&seen_lock);
        memcpy(seen, buf, head + body < sizeof seen ? head + body : sizeof seen - 1);
        seen[head + body < sizeof seen ? head + body : sizeof seen - 1] = 0;
        pthread_mutex_unlock(&seen_lock);
        char resp[1024];
        int m = snprintf(
            resp, sizeof resp,
            "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: %zu\r\n\r\n%s",
            sizeof REPLY - 1, REPLY);
        SSL_write(ssl, resp, m);
        memmove(buf, buf + head + body, len - head - body);
        len -= head + body;
    }
    SSL_shutdown(ssl);
    SSL_free(ssl);
    close(fd);
}

static void *tls_main(void *arg)
{
    while (!atomic_load(&stop_flag)) {
        int fd = accept(tls_fd, NULL, NULL);
        if (fd < 0) continue;
        struct timeval tv = {2, 0};
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        serve_conn(fd);
    }
    return NULL;
}

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

/* A loopback port that was free a moment ago. */
static int setup(void **state)
{
    snprintf(dir, sizeof dir, "/tmp/tether-tls-%d", (int)getpid());
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cfg, sizeof cfg, "%s/config.yaml", dir);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "mkdir -p %s && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 "
             "-nodes -keyout %s -out %s -days 2 -subj /CN=127.0.0.1 "
             "-addext subjectAltName=IP:127.0.0.1 >/dev/null 2>&1",
             dir, key, cert);
    if (run(cmd) != 0) return -1;
    sctx = SSL_CTX_new(TLS_server_method());
    if (SSL_CTX_use_certificate_file(sctx, cert, SSL_FILETYPE_PEM) != 1 ||
        SSL_CTX_use_PrivateKey_file(sctx, key, SSL_FILETYPE_PEM) != 1)
        return -1;
    tls_fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, "127.0.0.1", &a.sin_addr);
    if (bind(tls_fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(tls_fd, 16) != 0) return -1;
    socklen_t sl = sizeof a;
    getsockname(tls_fd, (struct sockaddr *)&a, &sl);
    tls_port = ntohs(a.sin_port);
    struct timeval tv = {0, 200000};
    setsockopt(tls_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    pthread_create(&tls_thread, NULL, tls_main, NULL);
    FILE *f = fopen(cfg, "w");
    if (!f) return -1;
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: secure}\n  models:\n"
            "    - name: secure\n      provider_model_id: remote-model\n"
            "      backend_refs:\n"
            "        - name: tls-1\n"
            "          base_url: \"https://127.0.0.1:%d/api/v1\"\n"
            "          api_key_env: TETHER_TLS_TEST_KEY\n"
            "          extra_headers: {x-org: acme}\n"
            "routing:\n  modelCards: [{name: secure}]\n",
            tsupport_free_port(), tls_port);
    fclose(f);
    setenv("TETHER_TLS_TEST_KEY", "sk-test-123", 1);
    return 0;
}

static int teardown(void **state)
{
    atomic_store(&stop_flag, 1);
    pthread_join(tls_thread, NULL);
    close(tls_fd);
    SSL_CTX_free(sctx);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    run(cmd);
    return 0;
}

static int start_router(tproc_t *p, int trust)
{
    if (trust)
        setenv("SSL_CERT_FILE", cert, 1);
    else
        setenv("SSL_CERT_FILE", "/nonexistent-ca.pem", 1);
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg, "--workers", "1", NULL};
    int rc = tproc_spawn(p, argv, TPROC_QUIET);
    unsetenv("SSL_CERT_FILE");
    if (rc != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

static const char BODY[] =
    "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";

static void test_trusted_tls_backend_gets_path_credentials_and_headers(void **state)
{
    tproc_t p;
    int port = start_router(&p, 1);
    assert_true(port > 0);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions",
                                   "Authorization: Bearer client-secret\r\n", BODY, strlen(BODY),
                                   &r),
                     0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "over tls"));
    assert_string_equal(thttp_resp_header(&r, "x-tether-backend"), "tls-1");
    thttp_resp_free(&r);
    pthread_mutex_lock(&seen_lock);
    assert_non_null(strstr(seen, "POST /api/v1/chat/completions HTTP/1.1"));
    assert_non_null(strcasestr(seen, "authorization: Bearer sk-test-123"));
    assert_null(strstr(seen, "client-secret"));
    assert_non_null(strcasestr(seen, "x-org: acme"));
    assert_non_null(strstr(seen, "\"model\":\"remote-model\""));
    pthread_mutex_unlock(&seen_lock);
    int st = tproc_stop(&p, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static void test_untrusted_certificate_is_rejected_with_502(void **state)
{
    tproc_t p;
    int port = start_router(&p, 0);
    assert_true(port > 0);
    thttp_resp_t r;
    assert_int_equal(thttp_request("127.0.0.1", port, "POST", "/v1/chat/completions", NULL, BODY,
                                   strlen(BODY), &r),
                     0);
    assert_int_equal(r.status, 502);
    assert_non_null(strstr(r.body, "bad_upstream_response"));
    thttp_resp_free(&r);
    int st = tproc_stop(&p, 10000);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

int main(void)
{
    signal(SIGPIPE, SIG_IGN);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_trusted_tls_backend_gets_path_credentials_and_headers),
        cmocka_unit_test(test_untrusted_certificate_is_rejected_with_502),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
