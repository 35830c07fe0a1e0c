/* replay_record.c - test support: fetch a replay record from the
 * management API and read its signals (see replay_record.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "replay_record.h"
#include "http_client.h"
#include "poll_until.h"
#include <stdio.h>
#include <string.h>

cJSON *trec_fetch(int mgmt_port, const char *id)
{
    char path[160];
    snprintf(path, sizeof path, "/v1/router_replay/%s", id);
    cJSON *j = NULL;
    uint64_t end = tpoll_now_ms() + TPOLL_MS;
    for (;;) {
        thttp_resp_t g;
        assert_int_equal(thttp_request("127.0.0.1", mgmt_port, "GET", path, NULL, NULL, 0, &g), 0);
        if (g.status == 200) j = cJSON_Parse(g.body);
        thttp_resp_free(&g);
        if (j || tpoll_now_ms() >= end) break;
        tpoll_nap();
    }
    if (!j) fail_msg("replay record %s not there after %d ms", id, TPOLL_MS);
    return j;
}

const cJSON *trec_signal(const cJSON *rec, const char *name)
{
    const cJSON *s, *sigs = cJSON_GetObjectItem(rec, "signals");
    cJSON_ArrayForEach(s, sigs)
    {
        const cJSON *n = cJSON_GetObjectItem(s, "name");
        if (cJSON_IsString(n) && !strcmp(n->valuestring, name)) return s;
    }
    fail_msg("no signal %s in the record", name);
    return NULL;
}

const char *trec_str(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItem(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}
