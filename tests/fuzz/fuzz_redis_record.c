/* fuzz_redis_record.c - libFuzzer harness for the Redis session store's
 * record decoder (src/session/store_redis_record.c; build and run with
 * scripts/fuzz.sh). The bytes are what a shared Redis hands back for
 * {prefix}s:{key}: anything another replica, an older version or an operator
 * wrote there.
 *
 * Besides "no crash, no sanitizer report" it checks that a record that
 * decodes encodes to JSON that decodes again to the same encoding (the
 * encoder never writes what the decoder cannot read back). */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "session/store_redis_internal.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_redis_record: check failed: %s (line %d)\n", #c, __LINE__);      \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    sess_state_t s, t;
    if (!sess_redis_rec_from_json((const char *)data, size, &s)) return 0;
    buf_t a = BUF_INIT, b = BUF_INIT;
    sess_redis_rec_to_json(&a, &s);
    CHECK(sess_redis_rec_from_json(a.data, a.len, &t));
    sess_redis_rec_to_json(&b, &t);
    CHECK(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    buf_free(&a);
    buf_free(&b);
    return 0;
}
