/* test_sha256.c - the allocation-free SHA-256 and HMAC-SHA256 give the same
 * bytes as OpenSSL for every message and key length around the block
 * boundaries (binding tokens issued before the switch must still verify),
 * the FIPS 180-2 "abc" vector and RFC 4231, on both compressions; and the
 * SHA extensions give the portable rounds' bytes on generated input. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/sha256.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>
#include <stdio.h>
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

static void sha256_pieces_pass(void)
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

static void hmac_lengths_pass(void)
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

/* Both compressions (the CPU's SHA extensions where present, and the
 * portable code) give OpenSSL's bytes. */
static void test_sha256_matches_openssl_in_pieces(void **st)
{
    for (int pass = 0; pass < 2; pass++) {
        sha256_use_accel(pass == 0);
        sha256_pieces_pass();
    }
    sha256_use_accel(true);
}

static void test_hmac_matches_openssl_for_every_key_length(void **st)
{
    for (int pass = 0; pass < 2; pass++) {
        sha256_use_accel(pass == 0);
        hmac_lengths_pass();
    }
    sha256_use_accel(true);
}

/* RFC 4231 section 4: HMAC-SHA-256 test cases 1-4, 6 and 7 (case 5's
 * output is truncated), on both compressions. */
static size_t unhex(const char *h, unsigned char *out)
{
    size_t n = 0;
    for (; h[0] && h[1]; h += 2) {
        unsigned v;
        sscanf(h, "%2x", &v);
        out[n++] = (unsigned char)v;
    }
    return n;
}

static void test_hmac_rfc4231_vectors(void **st)
{
    static const struct {
        const char *key, *data, *mac;
    } tc[] = {
        {"0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b", "4869205468657265",
         "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
        {"4a656665", "7768617420646f2079612077616e7420666f72206e6f7468696e673f",
         "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
         "dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd"
         "dddddddddddddddd",
         "773ea91e36800e46854db8ebd09181a72959098b3ef8c122d9635514ced565fe"},
        {"0102030405060708090a0b0c0d0e0f10111213141516171819",
         "cdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcdcd"
         "cdcdcdcdcdcdcdcd",
         "82558a389a443c0ea4cc819899f2083a85f0faa3e578f8077a2e3ff46729665b"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaa",
         "54657374205573696e67204c6172676572205468616e20426c6f636b2d53697a65204b6579202d2048"
         "617368204b6579204669727374",
         "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"},
        {"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
         "aaaaaaaaaa",
         "5468697320697320612074657374207573696e672061206c6172676572207468616e20626c6f636b2d"
         "73697a65206b657920616e642061206c6172676572207468616e20626c6f636b2d73697a6520646174"
         "612e20546865206b6579206e6565647320746f20626520686173686564206265666f7265206265696e"
         "6720757365642062792074686520484d414320616c676f726974686d2e",
         "9b09ffa71b942fcb27635fbcd5b0e944bfdc63644f0713938a7f51535c3a35e2"},
    };
    for (int pass = 0; pass < 2; pass++) {
        sha256_use_accel(pass == 0);
        for (size_t i = 0; i < sizeof tc / sizeof tc[0]; i++) {
            unsigned char key[200], data[200], want[SHA256_BYTES], got[SHA256_BYTES];
            size_t kl = unhex(tc[i].key, key), dl = unhex(tc[i].data, data);
            assert_int_equal(unhex(tc[i].mac, want), SHA256_BYTES);
            hmac_sha256_key_t k;
            hmac_sha256_key_init(&k, key, kl);
            hmac_sha256(&k, data, dl, got);
            assert_memory_equal(got, want, SHA256_BYTES);
        }
    }
    sha256_use_accel(true);
}

/* The SHA extensions against the portable rounds on generated input: for
 * every length 0..300, four messages as plain SHA-256 and four keys of
 * that length each MACing a message of a generated length (cut in two
 * parts), i.e. thousands of compressions with every block fill. Where the
 * CPU lacks the extensions (or under valgrind, which hides them) both
 * passes run the portable code and the OpenSSL tests above carry the check. */
static uint64_t rng = 0x9e3779b97f4a7c15u;

static uint8_t next_byte(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (uint8_t)(rng >> 24);
}

static void test_accelerated_matches_portable_on_generated_input(void **st)
{
    bool accel = sha256_use_accel(true);
    if (!accel) print_message("no SHA extensions here: portable code only\n");
    unsigned char buf[301], key[301];
    size_t checked = 0;
    for (size_t n = 0; n <= 300; n++)
        for (int rep = 0; rep < 4; rep++) {
            for (size_t i = 0; i < n; i++) {
                buf[i] = next_byte();
                key[i] = next_byte();
            }
            size_t ml = next_byte() % 301;
            unsigned char msg[301];
            for (size_t i = 0; i < ml; i++)
                msg[i] = next_byte();
            unsigned char h[2][SHA256_BYTES], m[2][SHA256_BYTES];
            for (int pass = 0; pass < 2; pass++) {
                sha256_use_accel(pass == 0);
                sha256_t s;
                sha256_init(&s);
                sha256_update(&s, buf, n);
                sha256_final(&s, h[pass]);
                hmac_sha256_key_t k;
                hmac_sha256_key_init(&k, key, n);
                const void *parts[] = {msg, msg + ml / 3};
                const size_t lens[] = {ml / 3, ml - ml / 3};
                hmac_sha256_parts(&k, 2, parts, lens, m[pass]);
            }
            assert_memory_equal(h[0], h[1], SHA256_BYTES);
            assert_memory_equal(m[0], m[1], SHA256_BYTES);
            if (n == 100 && rep == 0) { /* and one of them against OpenSSL */
                unsigned char want[SHA256_BYTES];
                SHA256(buf, n, want);
                assert_memory_equal(h[1], want, SHA256_BYTES);
            }
            checked++;
        }
    assert_int_equal(checked, 301 * 4);
    sha256_use_accel(true);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_abc_vector),
        cmocka_unit_test(test_sha256_matches_openssl_in_pieces),
        cmocka_unit_test(test_hmac_matches_openssl_for_every_key_length),
        cmocka_unit_test(test_hmac_rfc4231_vectors),
        cmocka_unit_test(test_accelerated_matches_portable_on_generated_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
