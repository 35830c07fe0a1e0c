/* replay_record.h - test support (cmocka tests): read one request's replay
 * record back from a router's management port and look into it.
 *
 * Typical use:
 *   const char *id = thttp_resp_header(&r, "x-tether-replay-id");
 *   cJSON *rec = trec_fetch(mgmt_port, id);      // asserts it arrives
 *   const cJSON *s = trec_signal(rec, "jb_ok");  // fails the test when absent
 *   assert_string_equal(trec_str(s, "label"), "jailbreak");
 *   cJSON_Delete(rec);
 *
 * The failures are cmocka failures of the calling test. */
#ifndef TETHER_TEST_REPLAY_RECORD_H
#define TETHER_TEST_REPLAY_RECORD_H
#include <cjson/cJSON.h>

/* GET /v1/router_replay/ID until it answers 200 (the replay queue writes
 * shortly after the response; polled up to TPOLL_MS, poll_until.h). Asserts every
 * request completes and that the record came; the caller frees it. */
cJSON *trec_fetch(int mgmt_port, const char *id);
/* The signal `name` in the record's "signals"; fails the test when there
 * is none. */
const cJSON *trec_signal(const cJSON *rec, const char *name);
/* The string member k of o, or "" when it is absent or not a string. */
const char *trec_str(const cJSON *o, const char *k);
#endif
