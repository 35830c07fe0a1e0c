/* fuzz_embed.c - libFuzzer harness for the /embeddings reply reader
 * (src/signals/embed_parse.c; build and run with scripts/fuzz.sh).
 *
 * Input: byte 0 picks the row count (1-4) and the dimensions (1-64); the
 * rest is the body. Checked: the reader and its version before the number
 * fast path (tests/unit/signals/embed_parse_ref.h) give the same verdict
 * and the same bytes in every row, bit for bit. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "signals/embedder.h"
#include "../unit/signals/embed_parse_ref.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t n = 1 + (data[0] & 3);
    int dims = 1 + (data[0] >> 2);
    const char *body = (const char *)data + 1;
    size_t len = size - 1;
    float a[4 * 64], r[4 * 64];
    memset(a, 0x5a, sizeof a);
    memset(r, 0x5a, sizeof r);
    bool fa = emb_parse_fast(body, len, n, dims, a);
    bool fr = emb_parse_ref(body, len, n, dims, r);
    if (fa != fr || memcmp(a, r, sizeof a)) {
        fprintf(stderr, "fuzz_embed: the reader and its reference differ (%d, %d)\n", fa, fr);
        abort();
    }
    return 0;
}
