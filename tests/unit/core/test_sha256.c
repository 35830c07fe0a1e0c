/* test_sha256.c - the allocation-free SHA-256 and HMAC-SHA256 give the same
 * bytes as OpenSSL for every message and key length around the block
 * boundaries (binding tokens issued before the switch must still verify),
 * and the FIPS 180-2 "abc" vector. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/sha256.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <string.h>

static void test_abc_vector(void **st)
{
    static const unsigned char want[SHA256_BYTES] = {
        0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
        0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
        0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    sha256_t s;
    unsigned char out[SHA256_BYTES];
    sha256_init(&s);
    sha256_update(&s, "abc", 3);
    sha256_final(&s, out);
    assert_memory_equal(out, want, SHA256_BYTES);
}

static void test_sha256_matches_openssl_in_pieces(void **st)
{
    unsigned char msg[300];
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 7 + 3);
    for (size_t n = 0; n <= sizeof msg; n++) {
        unsigned char want[SHA256_BYTES], got[SHA256_BYTES];
        SHA256(msg, n, want);
        sha256_t s;
        sha256_init(&s);
        size_t cut = n / 3; /* updates that straddle block edges */
        sha256_update(&s, msg, cut);
        sha256_update(&s, msg + cut, n - cut);
        sha256_final(&s, got);
        assert_memory_equal(got, want, SHA256_BYTES);
    }
}

static void test_hmac_matches_openssl_for_every_key_length(void **st)
{
    unsigned char key[200], msg[150];
    for (size_t i = 0; i < sizeof key; i++)
        key[i] = (unsigned char)(i * 13 + 1);
    for (size_t i = 0; i < sizeof msg; i++)
        msg[i] = (unsigned char)(i * 5 + 9);
    for (size_t kl = 1; kl <= sizeof key; kl += 7)
        for (size_t n = 0; n <= sizeof msg; n += 11) {
            unsigned char want[EVP_MAX_MD_SIZE], got[SHA256_BYTES];
            unsigned int wl = 0;
            assert_non_null(HMAC(EVP_sha256(), key, (int)kl, msg, n, want, &wl));
            assert_int_equal(wl, SHA256_BYTES);
            hmac_sha256_key_t k;
            hmac_sha256_key_init(&k, key, kl);
            const void *parts[] = {msg, msg + n / 2};
            const size_t lens[] = {n / 2, n - n / 2};
            hmac_sha256_parts(&k, 2, parts, lens, got);
            assert_memory_equal(got, want, SHA256_BYTES);
            hmac_sha256(&k, msg, n, got); /* the key state is reusable */
            assert_memory_equal(got, want, SHA256_BYTES);
        }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abc_vector),
        cmocka_unit_test(test_sha256_matches_openssl_in_pieces),
        cmocka_unit_test(test_hmac_matches_openssl_for_every_key_length),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
