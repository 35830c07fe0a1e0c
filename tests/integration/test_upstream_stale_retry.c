/* test_upstream_stale_retry.c - a pooled upstream connection that the
 * backend closes after reading the next request (no response byte) is
 * retried once on a fresh connection, and the retry sends the same request
 * head as the first try. The head used to be freed right after the call
 * started, so the retry read freed memory (ASan: heap-use-after-free in the
 * router). The backend is a small HTTP/1.1 server in a thread of this test. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "http_client.h"
#include "proc.h"
#include "stack.h"
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_HEADS 8
static char *heads[MAX_HEADS]; /* every request head the backend read, in order */
static atomic_int n_heads;
static int lfd;

static const char REPLY[] =
    "{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion\",\"model\":\"m\",\"choices\":[{\"index\":"
    "0,\"message\":{\"role\":\"assistant\",\"content\":\"ok\"},\"finish_reason\":\"stop\"}],"
    "\"usage\":{\"prompt_tokens\":1,\"completion_tokens\":1,\"total_tokens\":2}}";

/* Serve one connection: answer each request, except the second request of
 * the whole run, on which the connection is closed without a byte. */
static void *serve_conn(void *arg)
{
    int fd = (int)(intptr_t)arg;
    char buf[65536];
    size_t have = 0;
    for (;;) {
        char *end = NULL;
        while (!(end = memmem(buf, have, "\r\n\r\n", 4))) {
            ssize_t k = read(fd, buf + have, sizeof buf - have);
            if (k <= 0) goto out;
            have += (size_t)k;
        }
        size_t head_len = (size_t)(end - buf) + 4;
        const char *cl = memmem(buf, head_len, "content-length:", 15);
        size_t body = cl ? (size_t)strtoul(cl + 15, NULL, 10) : 0;
        while (have < head_len + body) {
            ssize_t k = read(fd, buf + have, sizeof buf - have);
            if (k <= 0) goto out;
            have += (size_t)k;
        }
        int i = atomic_fetch_add(&n_heads, 1);
        if (i < MAX_HEADS) heads[i] = strndup(buf, head_len);
        memmove(buf, buf + head_len + body, have - head_len - body);
        have -= head_len + body;
        if (i == 1) break; /* the stale connection: closed, no response */
        char out[1024];
        int n = snprintf(out, sizeof out,
                         "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                         "content-length: %zu\r\n\r\n%s",
                         sizeof REPLY - 1, REPLY);
        if (write(fd, out, (size_t)n) != n) break;
    }
out:
    close(fd);
    return NULL;
}

static void *accept_loop(void *arg)
{
    for (;;) {
        int fd = accept(lfd, NULL, NULL);
        if (fd < 0) return NULL;
        pthread_t t;
        pthread_create(&t, NULL, serve_conn, (void *)(intptr_t)fd);
        pthread_detach(t);
    }
}

static void test_stale_pooled_connection_retry_sends_the_same_head(void **st)
{
    lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(lfd, 16), 0);
    socklen_t al = sizeof a;
    getsockname(lfd, (struct sockaddr *)&a, &al);
    int bport = ntohs(a.sin_port);
    pthread_t acc;
    pthread_create(&acc, NULL, accept_loop, NULL);
    pthread_detach(acc);

    int rport = tsupport_free_port();
    char cfg[256];
    snprintf(cfg, sizeof cfg, "/tmp/tether-test-stale-%d.yaml", (int)getpid());
    FILE *f = fopen(cfg, "w");
    assert_non_null(f);
    fprintf(f,
            "version: v0.3\n"
            "listeners: [{address: 127.0.0.1, port: %d}]\n"
            "providers:\n  defaults: {default_model: m}\n  models:\n"
            "    - name: m\n"
            "      backend_refs: [{name: b, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: m}]\n"
            "  decisions: [{name: all, modelRefs: [{model: m}]}]\n",
            rport, bport);
    fclose(f);
    tproc_t router;
    assert_true(tstack_serve_n(&router, cfg, 1, 10000) > 0);

    const char *body = "{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    for (int i = 0; i < 2; i++) {
        thttp_resp_t r;
        assert_int_equal(thttp_request("127.0.0.1", rport, "POST", "/v1/chat/completions",
                                       "content-type: application/json\r\n", body, strlen(body),
                                       &r),
                         0);
        assert_int_equal(r.status, 200);
        assert_non_null(strstr(r.body, "\"ok\""));
        thttp_resp_free(&r);
    }
    /* request 1, request 2 on the pooled connection (closed), its retry */
    assert_int_equal(atomic_load(&n_heads), 3);
    assert_non_null(heads[1]);
    assert_non_null(heads[2]);
    assert_memory_equal(heads[2], "POST ", 5);
    assert_string_equal(heads[2], heads[1]);
    assert_int_equal(tproc_stop(&router, 10000), 0);
    for (int i = 0; i < MAX_HEADS; i++)
        free(heads[i]);
    shutdown(lfd, SHUT_RDWR);
    close(lfd);
    unlink(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stale_pooled_connection_retry_sends_the_same_head),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
