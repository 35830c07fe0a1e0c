/* sha256.c - SHA-256 and HMAC-SHA256 over caller-owned state (see
 * sha256.h). Written from FIPS 180-4 section 6.2 and RFC 2104; checked
 * against OpenSSL in tests/unit/core/test_sha256.c. */
#include "core/sha256.h"
#include <stdbool.h>
#include <string.h>

static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4, 0xab1c5ed5,
    0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe, 0x9bdc06a7, 0xc19bf174,
    0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f, 0x4a7484aa, 0x5cb0a9dc, 0x76f988da,
    0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7, 0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967,
    0x27b70a85, 0x2e1b2138, 0x4d2c6dfc, 0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85,
    0xa2bfe8a1, 0xa81a664b, 0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070,
    0x19a4c116, 0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7, 0xc67178f2,
};

static inline uint32_t ror(uint32_t x, int n)
{
    return (x >> n) | (x << (32 - n));
}

/* The sigmas as nested rotations, ror(ror(ror(x, a) ^ x, b) ^ x, c) =
 * ror(x, a+b+c) ^ ror(x, b+c) ^ ror(x, c): one copy of x instead of three. */
#define BSIG0(x)    ror(ror(ror(x, 9) ^ (x), 11) ^ (x), 2)
#define BSIG1(x)    ror(ror(ror(x, 14) ^ (x), 5) ^ (x), 6)
#define SSIG0(x)    (ror(ror(x, 11) ^ (x), 7) ^ ((x) >> 3))
#define SSIG1(x)    (ror(ror(x, 2) ^ (x), 17) ^ ((x) >> 10))
#define CH(e, f, g) ((g) ^ ((e) & ((f) ^ (g))))
/* One round; the eight working variables rotate by renaming, not by moves.
 * MAJ(a, b, c) = b ^ ((a ^ b) & (b ^ c)), and this round's b ^ c is the
 * last round's a ^ b: BC holds it, AB receives this round's (the two swap
 * roles every round). */
#define ROUND(a, b, c, d, e, f, g, h, i, wi, AB, BC)                                               \
    do {                                                                                           \
        uint32_t t1 = (h) + BSIG1(e) + CH(e, f, g) + K[i] + (wi);                                  \
        (d) += t1;                                                                                 \
        AB = (a) ^ (b);                                                                            \
        (h) = t1 + BSIG0(a) + ((b) ^ (AB & BC));                                                   \
    } while (0)
#define EIGHT(i, W)                                                                                \
    do {                                                                                           \
        ROUND(a, b, c, d, e, f, g, h, (i) + 0, W((i) + 0), x, y);                                  \
        ROUND(h, a, b, c, d, e, f, g, (i) + 1, W((i) + 1), y, x);                                  \
        ROUND(g, h, a, b, c, d, e, f, (i) + 2, W((i) + 2), x, y);                                  \
        ROUND(f, g, h, a, b, c, d, e, (i) + 3, W((i) + 3), y, x);                                  \
        ROUND(e, f, g, h, a, b, c, d, (i) + 4, W((i) + 4), x, y);                                  \
        ROUND(d, e, f, g, h, a, b, c, (i) + 5, W((i) + 5), y, x);                                  \
        ROUND(c, d, e, f, g, h, a, b, (i) + 6, W((i) + 6), x, y);                                  \
        ROUND(b, c, d, e, f, g, h, a, (i) + 7, W((i) + 7), y, x);                                  \
    } while (0)

#ifdef __SSE2__
#include <emmintrin.h>
#define VROR(x, n) _mm_or_si128(_mm_srli_epi32(x, n), _mm_slli_epi32(x, 32 - (n)))

static inline __m128i vssig1(__m128i x)
{
    return _mm_xor_si128(_mm_xor_si128(VROR(x, 17), VROR(x, 19)), _mm_srli_epi32(x, 10));
}

/* Schedule words 16..63 four at a time. Word t+j takes SSIG1 of word
 * t+j-2: for j = 0, 1 those are known, for j = 2, 3 they are the first two
 * just computed, so SSIG1 goes in two halves (SSIG1(0) = 0 leaves the other
 * lanes alone). */
static void schedule(uint32_t w[64])
{
    for (int t = 16; t < 64; t += 4) {
        __m128i w15 = _mm_loadu_si128((const __m128i *)(const void *)(w + t - 15));
        __m128i s0 =
            _mm_xor_si128(_mm_xor_si128(VROR(w15, 7), VROR(w15, 18)), _mm_srli_epi32(w15, 3));
        __m128i x = _mm_add_epi32(_mm_loadu_si128((const __m128i *)(const void *)(w + t - 16)),
                                  _mm_loadu_si128((const __m128i *)(const void *)(w + t - 7)));
        x = _mm_add_epi32(x, s0);
        x = _mm_add_epi32(x, vssig1(_mm_loadl_epi64((const __m128i *)(const void *)(w + t - 2))));
        x = _mm_add_epi32(x, vssig1(_mm_slli_si128(x, 8)));
        _mm_storeu_si128((__m128i *)(void *)(w + t), x);
    }
}
#else
static void schedule(uint32_t w[64])
{
    for (int t = 16; t < 64; t++)
        w[t] = SSIG1(w[t - 2]) + w[t - 7] + SSIG0(w[t - 15]) + w[t - 16];
}
#endif
#define WSCHED(i) w[i]

/* FIPS 180-4 6.2.2 in portable C (the schedule in SSE2 where present). */
static void compress_c(uint32_t hs[8], const unsigned char *blk)
{
    uint32_t w[64];
    for (int i = 0; i < 16; i++) {
        uint32_t v;
        memcpy(&v, blk + 4 * i, 4);
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        v = __builtin_bswap32(v); /* the words are big-endian */
#endif
        w[i] = v;
    }
    schedule(w);
    uint32_t a = hs[0], b = hs[1], c = hs[2], d = hs[3], e = hs[4], f = hs[5], g = hs[6], h = hs[7];
    uint32_t x, y = b ^ c;
    EIGHT(0, WSCHED);
    EIGHT(8, WSCHED);
    EIGHT(16, WSCHED);
    EIGHT(24, WSCHED);
    EIGHT(32, WSCHED);
    EIGHT(40, WSCHED);
    EIGHT(48, WSCHED);
    EIGHT(56, WSCHED);
    hs[0] += a;
    hs[1] += b;
    hs[2] += c;
    hs[3] += d;
    hs[4] += e;
    hs[5] += f;
    hs[6] += g;
    hs[7] += h;
}

#if defined(__x86_64__) && defined(__GNUC__)
#include <cpuid.h>
#include <immintrin.h>
#define HAVE_SHA_NI 1

/* The same with the x86 SHA extensions (four rounds per two instructions),
 * written from Intel's description of SHA256RNDS2/MSG1/MSG2: the state is
 * held as ABEF and CDGH, and 4-word groups of the schedule are
 * W_g = MSG2(MSG1(W_g-4, W_g-3) + (W_g-1:W_g-2 >> 1 word), W_g-1). */
__attribute__((target("sha,sse4.1,ssse3"))) static void compress_ni(uint32_t hs[8],
                                                                    const unsigned char *blk)
{
    const __m128i bswap = _mm_setr_epi8(3, 2, 1, 0, 7, 6, 5, 4, 11, 10, 9, 8, 15, 14, 13, 12);
    __m128i t = _mm_loadu_si128((const __m128i *)(const void *)hs);        /* a b c d */
    __m128i s1 = _mm_loadu_si128((const __m128i *)(const void *)(hs + 4)); /* e f g h */
    t = _mm_shuffle_epi32(t, 0xB1);                                        /* b a d c */
    s1 = _mm_shuffle_epi32(s1, 0x1B);                                      /* h g f e */
    __m128i s0 = _mm_alignr_epi8(t, s1, 8);                                /* ABEF */
    s1 = _mm_blend_epi16(s1, t, 0xF0);                                     /* CDGH */
    const __m128i abef = s0, cdgh = s1;
    __m128i w[4];
    for (int g = 0; g < 16; g++) {
        __m128i m;
        if (g < 4) {
            m = _mm_shuffle_epi8(_mm_loadu_si128((const __m128i *)(const void *)(blk + 16 * g)),
                                 bswap);
        } else {
            m = _mm_sha256msg1_epu32(w[g & 3], w[(g - 3) & 3]);
            m = _mm_add_epi32(m, _mm_alignr_epi8(w[(g - 1) & 3], w[(g - 2) & 3], 4));
            m = _mm_sha256msg2_epu32(m, w[(g - 1) & 3]);
        }
        w[g & 3] = m;
        __m128i k = _mm_add_epi32(m, _mm_loadu_si128((const __m128i *)(const void *)(K + 4 * g)));
        s1 = _mm_sha256rnds2_epu32(s1, s0, k);
        s0 = _mm_sha256rnds2_epu32(s0, s1, _mm_shuffle_epi32(k, 0x0E));
    }
    s0 = _mm_add_epi32(s0, abef);
    s1 = _mm_add_epi32(s1, cdgh);
    t = _mm_shuffle_epi32(s0, 0x1B);  /* a b e f */
    s1 = _mm_shuffle_epi32(s1, 0xB1); /* g h c d */
    _mm_storeu_si128((__m128i *)(void *)hs, _mm_blend_epi16(t, s1, 0xF0));
    _mm_storeu_si128((__m128i *)(void *)(hs + 4), _mm_alignr_epi8(s1, t, 8));
}

static bool cpu_has_sha_ni(void)
{
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d) || !(c & bit_SSE4_1) || !(c & bit_SSSE3)) return false;
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return false;
    return (b & (1u << 29)) != 0; /* CPUID.7.0:EBX.SHA */
}
#endif

/* -1 unknown, 0 portable, 1 SHA extensions (the same answer from every
 * thread, so a racing first use only repeats the detection) */
static int g_accel = -1;

static void compress(uint32_t h[8], const unsigned char *b)
{
#ifdef HAVE_SHA_NI
    int ac = __atomic_load_n(&g_accel, __ATOMIC_RELAXED);
    if (ac < 0) {
        ac = cpu_has_sha_ni() ? 1 : 0;
        __atomic_store_n(&g_accel, ac, __ATOMIC_RELAXED);
    }
    if (ac) {
        compress_ni(h, b);
        return;
    }
#endif
    compress_c(h, b);
}

bool sha256_use_accel(bool on)
{
#ifdef HAVE_SHA_NI
    int ac = on && cpu_has_sha_ni() ? 1 : 0;
    __atomic_store_n(&g_accel, ac, __ATOMIC_RELAXED);
    return ac == 1;
#else
    (void)on;
    return false;
#endif
}

void sha256_init(sha256_t *s)
{
    static const uint32_t iv[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
    memcpy(s->h, iv, sizeof iv);
    s->len = 0;
    s->fill = 0;
}

void sha256_update(sha256_t *s, const void *p, size_t n)
{
    const unsigned char *b = p;
    s->len += n;
    if (s->fill) {
        size_t k = 64 - s->fill < n ? 64 - s->fill : n;
        memcpy(s->block + s->fill, b, k);
        s->fill += k;
        b += k;
        n -= k;
        if (s->fill < 64) return;
        compress(s->h, s->block);
        s->fill = 0;
    }
    for (; n >= 64; b += 64, n -= 64)
        compress(s->h, b);
    memcpy(s->block, b, n);
    s->fill = n;
}

void sha256_final(sha256_t *s, unsigned char out[SHA256_BYTES])
{
    uint64_t bits = s->len * 8;
    s->block[s->fill++] = 0x80;
    if (s->fill > 56) {
        memset(s->block + s->fill, 0, 64 - s->fill);
        compress(s->h, s->block);
        s->fill = 0;
    }
    memset(s->block + s->fill, 0, 56 - s->fill);
    for (int i = 0; i < 8; i++)
        s->block[56 + i] = (unsigned char)(bits >> (56 - 8 * i));
    compress(s->h, s->block);
    for (int i = 0; i < 8; i++) {
        out[4 * i] = (unsigned char)(s->h[i] >> 24);
        out[4 * i + 1] = (unsigned char)(s->h[i] >> 16);
        out[4 * i + 2] = (unsigned char)(s->h[i] >> 8);
        out[4 * i + 3] = (unsigned char)s->h[i];
    }
}

void hmac_sha256_key_init(hmac_sha256_key_t *k, const void *key, size_t key_len)
{
    unsigned char kb[64] = {0}, pad[64];
    if (key_len > 64) {
        sha256_t t;
        sha256_init(&t);
        sha256_update(&t, key, key_len);
        sha256_final(&t, kb);
    } else if (key_len) {
        memcpy(kb, key, key_len);
    }
    for (int i = 0; i < 64; i++)
        pad[i] = kb[i] ^ 0x36;
    sha256_init(&k->inner);
    sha256_update(&k->inner, pad, 64);
    for (int i = 0; i < 64; i++)
        pad[i] = kb[i] ^ 0x5c;
    sha256_init(&k->outer);
    sha256_update(&k->outer, pad, 64);
}

void hmac_sha256_parts(const hmac_sha256_key_t *k, size_t n, const void *const *ptrs,
                       const size_t *lens, unsigned char out[SHA256_BYTES])
{
    sha256_t s = k->inner;
    for (size_t i = 0; i < n; i++)
        sha256_update(&s, ptrs[i], lens[i]);
    unsigned char ih[SHA256_BYTES];
    sha256_final(&s, ih);
    s = k->outer;
    sha256_update(&s, ih, sizeof ih);
    sha256_final(&s, out);
}

void hmac_sha256(const hmac_sha256_key_t *k, const void *msg, size_t len,
                 unsigned char out[SHA256_BYTES])
{
    hmac_sha256_parts(k, 1, &msg, &len, out);
}
