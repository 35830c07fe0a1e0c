/* fuzz_cred.c - libFuzzer harness for the credential a request presents to
 * a keyed listener (src/api/client_cred.c; build and run with
 * scripts/fuzz.sh).
 *
 * Input: byte 0 = the listener's max_key_bytes (1..256), then records
 * [kind][len][value bytes]: kind & 3 names the header (authorization,
 * x-api-key, Authorization in mixed case, or an unrelated name); values
 * are arbitrary bytes (NUL, CR, UTF-8, tabs, "Bearer" in any case).
 *
 * Checked against the rules restated here independently:
 *  - the result is one of OK, MISSING, MALFORMED, TOO_LONG, CONFLICT;
 *  - MISSING exactly when no header has a credential name;
 *  - OK: the credential is 1..max printable ASCII bytes inside one header
 *    value, and every credential header, read the reference way, yields
 *    those same bytes;
 *  - otherwise some credential header is unusable or two disagree. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/client_cred.h"

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_cred: check failed: %s (line %d)\n", #c, __LINE__);              \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_H 32

static bool blank(char c)
{
    return c == ' ' || c == '\t';
}

/* The reference reading of one credential header: 1 usable (*o, *ol set),
 * 0 unusable. */
static int reference(const hsrv_header_t *h, size_t max, const char **o, size_t *ol)
{
    const char *v = h->value;
    size_t b = 0, e = h->value_len;
    while (b < e && blank(v[b]))
        b++;
    while (e > b && blank(v[e - 1]))
        e--;
    if (h->name_len == 13) { /* authorization: "bearer" + blank + key */
        if (e - b < 7 || strncasecmp(v + b, "bearer", 6) || !blank(v[b + 6])) return 0;
        b += 7;
        while (b < e && blank(v[b]))
            b++;
    }
    if (e == b || e - b > max) return 0;
    for (size_t i = b; i < e; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) return 0;
    *o = v + b;
    *ol = e - b;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1) return 0;
    size_t max = (size_t)data[0] + 1;
    static const char *names[] = {"authorization", "x-api-key", "AuthoRIZATION", "x-api-keys"};
    hsrv_header_t h[MAX_H];
    char *vals[MAX_H];
    size_t n = 0, at = 1;
    while (n < MAX_H && at + 2 <= size) {
        unsigned kind = data[at] & 3;
        size_t len = data[at + 1];
        at += 2;
        if (len > size - at) len = size - at;
        vals[n] = malloc(len ? len : 1); /* exact size: ASan sees any over-read */
        memcpy(vals[n], data + at, len);
        at += len;
        h[n] = (hsrv_header_t){names[kind], strlen(names[kind]), vals[n], len};
        n++;
    }
    const char *cred = (const char *)1;
    size_t clen = 99;
    client_auth_result_t r = client_cred_get(h, n, max, &cred, &clen);
    CHECK(r == CLIENT_AUTH_OK || r == CLIENT_AUTH_MISSING || r == CLIENT_AUTH_MALFORMED ||
          r == CLIENT_AUTH_TOO_LONG || r == CLIENT_AUTH_CONFLICT);
    size_t n_cred = 0, n_usable = 0;
    bool agree = true;
    const char *first = NULL;
    size_t first_len = 0;
    for (size_t i = 0; i < n; i++) {
        if (h[i].name_len == 10) continue; /* x-api-keys: not a credential header */
        n_cred++;
        const char *o;
        size_t ol;
        if (!reference(&h[i], max, &o, &ol)) continue;
        n_usable++;
        if (!first) {
            first = o;
            first_len = ol;
        } else if (ol != first_len || memcmp(o, first, ol)) {
            agree = false;
        }
    }
    CHECK((r == CLIENT_AUTH_MISSING) == (n_cred == 0));
    if (r == CLIENT_AUTH_OK) {
        CHECK(n_usable == n_cred && agree);
        CHECK(clen == first_len && !memcmp(cred, first, clen));
        CHECK(clen >= 1 && clen <= max);
        bool inside = false;
        for (size_t i = 0; i < n && !inside; i++)
            inside = cred >= vals[i] && cred + clen <= vals[i] + h[i].value_len;
        CHECK(inside);
    } else if (r != CLIENT_AUTH_MISSING) {
        CHECK(n_usable < n_cred || !agree);
        CHECK(cred == NULL || r == CLIENT_AUTH_CONFLICT || r == CLIENT_AUTH_MALFORMED ||
              r == CLIENT_AUTH_TOO_LONG);
    }
    for (size_t i = 0; i < n; i++)
        free(vals[i]);
    return 0;
}
