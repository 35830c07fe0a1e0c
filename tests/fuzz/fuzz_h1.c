/* fuzz_h1.c - libFuzzer harness comparing the fast head reader
 * (src/http/h1_head.c, through the server's request parser) with
 * http-parser: the same byte stream goes through srv_parse twice, once with
 * the fast path and once with every byte through http-parser (fast_off), in
 * the same reads, and the two logs must be identical: every feed's return
 * and event, every hook call, every request's method, target, version,
 * keep-alive, flags, header buffer and offsets, Expect and body, every
 * rejection's status and code. Build and run with scripts/fuzz.sh.
 *
 * With bit 3 of the second byte set, the rest is a backend response instead:
 * h1_read_response with upstream.c's rules against http-parser with
 * upstream.c's callbacks (tests/support/h1_resp_diff.h).
 *
 * The first two input bytes choose the limits and the read size; the rest is
 * the connection's byte stream. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/buf.h"
#include "../support/h1_resp_diff.h"
#include "../support/h1_req_diff.h"

/* The stream in reads of step bytes (0: one read). */
static void run_steps(const uint8_t *data, size_t size, size_t step, int fast, size_t max_hdr,
                      size_t max_body, size_t max_empty, buf_t *log)
{
    size_t n_cuts = step ? size / step + 1 : 0;
    size_t *cuts = n_cuts ? malloc(n_cuts * sizeof *cuts) : NULL;
    for (size_t i = 0; i < n_cuts; i++)
        cuts[i] = (i + 1) * step;
    *log = (buf_t)BUF_INIT;
    h1q_run_stream((const char *)data, size, cuts, n_cuts, fast, max_hdr, max_body, max_empty, log);
    free(cuts);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2) return 0;
    size_t step = data[0] & 0x80 ? 0 : (size_t)data[0] % 97 + 1;
    size_t max_hdr = data[1] & 1 ? 64 + data[1] : 64 * 1024;
    size_t max_body = data[1] & 2 ? 16 : 1 << 20;
    size_t max_empty = data[1] & 4 ? 1 : 4;
    int response = data[1] & 8;
    data += 2;
    size -= 2;
    buf_t fast, slow;
    if (response) {
        fast = (buf_t)BUF_INIT;
        slow = (buf_t)BUF_INIT;
        if (h1_resp_diff((const char *)data, size, &fast, &slow) < 0) {
            fprintf(stderr, "fuzz_h1: response heads differ\n-- fast:\n%s\n-- slow:\n%s\n",
                    fast.data, slow.data);
            abort();
        }
        buf_free(&fast);
        buf_free(&slow);
        return 0;
    }
    run_steps(data, size, step, 1, max_hdr, max_body, max_empty, &fast);
    run_steps(data, size, step, 0, max_hdr, max_body, max_empty, &slow);
    if (fast.len != slow.len || (fast.len && memcmp(fast.data, slow.data, fast.len) != 0)) {
        fprintf(stderr,
                "fuzz_h1: the fast path and http-parser differ\n-- fast:\n%s\n-- slow:\n%s\n",
                fast.data, slow.data);
        abort();
    }
    buf_free(&fast);
    buf_free(&slow);
    return 0;
}
