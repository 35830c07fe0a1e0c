/* stack.c - see stack.h. */
#include "stack.h"
#include "http_client.h"
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int tstack_mock_strict(tproc_t *p, const char *seed)
{
    const char *argv[] = {tproc_tether_bin(), "mock",   "--listen", "127.0.0.1:0",
                          "--strict",         "--seed", seed,       NULL};
    if (tproc_spawn(p, argv, TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
}

int tstack_serve(tproc_t *p, const char *cfg)
{
    const char *argv[] = {tproc_tether_bin(), "serve", "--config", cfg, "--workers", "2", NULL};
    if (tproc_spawn(p, argv, getenv("TETHER_TEST_VERBOSE") ? 0 : TPROC_QUIET) != 0) return -1;
    return tproc_wait_listening(p, 10000);
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

int tstack_store_degraded(int mport)
{
    thttp_resp_t r;
    if (thttp_request("127.0.0.1", mport, "GET", "/metrics", NULL, NULL, 0, &r) != 0) return -1;
    const char *m = strstr(r.body, "\ntether_session_store_degraded ");
    int d = m ? atoi(m + strlen("\ntether_session_store_degraded ")) : -1;
    thttp_resp_free(&r);
    return d;
}
