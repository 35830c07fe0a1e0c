/* test_embed_parse.c - the fast /embeddings reply parse (embed_parse.c)
 * against a cJSON reference of the slow path's rules: numbers of every form
 * read as (float)strtod reads them, replies in any key order and spacing
 * accepted, replies it does not fully understand refused (so the cJSON
 * parse decides), and on thousands of mutated replies: whatever the fast
 * path accepts, the reference accepts with the same rows. And the reader
 * against its version before the number fast path (embed_parse_ref.h) on
 * generated replies of every number form: same verdict, same bits. No I/O. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "core/buf.h"
#include "signals/embedder.h"
#include "embed_parse_ref.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The slow path's rules (embed_openai.c parse_reply), unnormalised: true
 * and rows in out when the reply holds n rows of dims numbers. */
static bool reference(const char *body, size_t len, size_t n, int dims, float *out)
{
    cJSON *root = cJSON_ParseWithLength(body, len);
    const cJSON *data = cJSON_GetObjectItemCaseSensitive(root, "data");
    bool ok = cJSON_IsArray(data);
    size_t seen = 0, pos = 0;
    const cJSON *d;
    if (ok) cJSON_ArrayForEach(d, data)
        {
            const cJSON *ji = cJSON_GetObjectItemCaseSensitive(d, "index");
            const cJSON *jv = cJSON_GetObjectItemCaseSensitive(d, "embedding");
            size_t idx = cJSON_IsNumber(ji) ? (size_t)ji->valuedouble : pos;
            pos++;
            if (!cJSON_IsArray(jv) || idx >= n || cJSON_GetArraySize(jv) != dims) {
                ok = false;
                break;
            }
            int i = 0;
            const cJSON *x;
            cJSON_ArrayForEach(x, jv)
            {
                out[idx * (size_t)dims + (size_t)i++] =
                    cJSON_IsNumber(x) ? (float)x->valuedouble : 0.0f;
            }
            seen++;
        }
    cJSON_Delete(root);
    return ok && seen == n;
}

static void test_numbers_read_as_strtod(void **st)
{
    (void)st;
    srand(7);
    const char *fmts[] = {"%.6g", "%.9g", "%.17g", "%.3e", "%.20f", "%.1f", "%g", "%.12E"};
    buf_t b = BUF_INIT;
    enum { DIMS = 256 };
    float fast[DIMS], ref[DIMS];
    for (int round = 0; round < 400; round++) {
        buf_reset(&b);
        buf_puts(&b, "{\"data\":[{\"embedding\":[");
        for (int i = 0; i < DIMS; i++) {
            double m = (double)rand() / RAND_MAX - 0.5;
            int e = rand() % 61 - 30;
            double v = m * pow(10, round % 3 ? e % 4 : e);
            if (i % 97 == 5) v = 0;
            if (i % 89 == 7) v = (double)(rand() % 100000);
            char tmp[80];
            snprintf(tmp, sizeof tmp, fmts[(round + i) % 8], v);
            if (i) buf_putc(&b, ',');
            buf_puts(&b, tmp);
        }
        buf_puts(&b, "],\"index\":0}]}");
        assert_true(emb_parse_fast(b.data, b.len, 1, DIMS, fast));
        assert_true(reference(b.data, b.len, 1, DIMS, ref));
        for (int i = 0; i < DIMS; i++)
            if (memcmp(&fast[i], &ref[i], sizeof(float))) fail_msg("dim %d of %.200s", i, b.data);
    }
    /* the forms that leave the fast arithmetic: huge/tiny exponents, many digits, -0 */
    const char *odd = "{\"data\":[{\"embedding\":[1e300,-2.5e-300,123456789012345678901234567890,"
                      "0.000000000000000000000000001234,-0,-0.0e5,1E+2,4.9e-324]}]}";
    float f2[8], r2[8];
    assert_true(emb_parse_fast(odd, strlen(odd), 1, 8, f2));
    assert_true(reference(odd, strlen(odd), 1, 8, r2));
    assert_memory_equal(f2, r2, sizeof f2);
    buf_free(&b);
}

static void test_reply_shapes(void **st)
{
    (void)st;
    float out[3 * 2], ref[3 * 2];
    /* vLLM / OpenAI shape, rows out of order, spacing, extra keys of every kind */
    const char *ok = " {\"id\":\"embd-1\",\"object\":\"list\",\"created\":1,\"model\":"
                     "\"m\\u00e9\\ud83d\\ude00\","
                     "\n\"data\":[ {\"index\":2,\"object\":\"embedding\",\"embedding\":[0.5 ,-1]},"
                     "{\"object\":\"embedding\",\"embedding\":[1,2],\"index\":0,\"x\":{\"a\":[true,"
                     "false,null,{}]}},"
                     "{\"index\":1.0,\"embedding\":[3e0,4]}],\"usage\":{\"prompt_tokens\":3}}\r\n";
    assert_true(emb_parse_fast(ok, strlen(ok), 3, 2, out));
    assert_true(reference(ok, strlen(ok), 3, 2, ref));
    assert_memory_equal(out, ref, sizeof out);
    assert_true(out[0] == 1 && out[1] == 2 && out[2] == 3 && out[4] == 0.5f && out[5] == -1);
    /* no index: position */
    const char *pos = "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}";
    assert_true(emb_parse_fast(pos, strlen(pos), 2, 2, out));
    assert_true(out[2] == 3);
    /* refused: left to the cJSON parse */
    const char *bad[] = {
        "",
        "[]",
        "{}",
        "{\"data\":{}}",
        "{\"data\":[{\"embedding\":[1,2]}]}",                         /* one row of two */
        "{\"data\":[{\"embedding\":[1,2,3]},{\"embedding\":[3,4]}]}", /* three numbers */
        "{\"data\":[{\"embedding\":[1]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"index\":0,\"embedding\":[1,2]},{\"index\":0,\"embedding\":[3,4]}]}",
        "{\"data\":[{\"index\":2,\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"index\":-1,\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"index\":\"0\",\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1,\"2\"]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1,null]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1,2],\"embedding\":[5,6]},{\"embedding\":[3,4]}]}",
        "{\"d\\u0061ta\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]} x",
        "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}],}",
        "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]},]}",
        "{\"data\":[{\"embedding\":[01,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1.,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[+1,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1e,2]},{\"embedding\":[3,4]}]}",
        "{\"m\":\"\\ud800\",\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"m\":\"\\udc00\",\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"m\":\"\\x\",\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"m\":\"a\tb\",\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"m\":tru,\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]}",
        "{\"data\":[{\"embedding\":[1,2]},{\"embedding\":[3,4]}]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        if (emb_parse_fast(bad[i], strlen(bad[i]), 2, 2, out)) fail_msg("accepted %s", bad[i]);
    /* deep nesting is refused, not a stack overflow */
    buf_t deep = BUF_INIT;
    buf_puts(&deep, "{\"x\":");
    for (int i = 0; i < 100000; i++)
        buf_putc(&deep, '[');
    assert_false(emb_parse_fast(deep.data, deep.len, 1, 2, out));
    buf_free(&deep);
}

/* Mutated replies: every one the fast path accepts, the reference accepts
 * with the same rows. */
static void test_mutations_agree(void **st)
{
    (void)st;
    const char *base = "{\"object\":\"list\",\"data\":[{\"object\":\"embedding\",\"index\":0,"
                       "\"embedding\":[0.125,-2.5e-3,7]},{\"object\":\"embedding\",\"index\":1,"
                       "\"embedding\":[1,2.75,-0.5]}],\"model\":\"emb\\\"x\",\"usage\":"
                       "{\"prompt_tokens\":4,\"total_tokens\":4}}";
    const char alphabet[] = "{}[],:\"\\0123456789.eE+-ntrufals u";
    size_t bl = strlen(base);
    char m[512];
    float fast[6], ref[6];
    int accepted = 0;
    srand(11);
    for (int round = 0; round < 20000; round++) {
        memcpy(m, base, bl);
        size_t ml = bl;
        for (int k = 0, nk = 1 + rand() % 3; k < nk; k++) {
            size_t at = (size_t)rand() % ml;
            switch (rand() % 3) {
            case 0: m[at] = alphabet[rand() % (int)(sizeof alphabet - 1)]; break;
            case 1: /* delete */
                memmove(m + at, m + at + 1, ml - at - 1);
                ml--;
                break;
            default: /* insert */
                if (ml + 1 >= sizeof m) break;
                memmove(m + at + 1, m + at, ml - at);
                m[at] = alphabet[rand() % (int)(sizeof alphabet - 1)];
                ml++;
            }
        }
        if (!emb_parse_fast(m, ml, 2, 3, fast)) continue;
        accepted++;
        if (!reference(m, ml, 2, 3, ref)) fail_msg("fast accepted, cJSON not: %.*s", (int)ml, m);
        if (memcmp(fast, ref, sizeof fast)) fail_msg("rows differ: %.*s", (int)ml, m);
    }
    assert_true(accepted > 100); /* the harmless mutations (spaces, digits) */
}

/* One number of a form chosen by r: the fast path's short decimals and
 * everything it leaves to the general reader. */
static void gen_num(buf_t *b, unsigned r)
{
    static const char *const odd[] = {"-0",
                                      "-0.0",
                                      "0e99999",
                                      "-0.0e-400",
                                      "4.9e-324",
                                      "-4.9e-324",
                                      "2.2250738585072011e-308",
                                      "1e-310",
                                      "1.5e-45",
                                      "1.4e-45",
                                      "3.4028235e38",
                                      "3.5e38",
                                      "1e400",
                                      "-1e400",
                                      "1e-400",
                                      "12345678901234567890",
                                      "1234567890.1234567890",
                                      "0.00000000000000000000000012345",
                                      "9007199254740993",
                                      "9007199254740993e-5",
                                      "1e0000005",
                                      "1E+22",
                                      "1e23",
                                      "1e-22",
                                      "1e-23",
                                      "123456789012345678",
                                      "1234567890123456789",
                                      "0.1234567890123456789",
                                      "1e99999999",
                                      "00",
                                      "01",
                                      "1.",
                                      ".5",
                                      "+1",
                                      "1e",
                                      "1e+",
                                      "-",
                                      "--1",
                                      "1.e5",
                                      "0x10",
                                      "1e5.5",
                                      "NaN"};
    char tmp[96];
    double m = (double)rand() / RAND_MAX - 0.5;
    switch (r % 8) {
    case 0: snprintf(tmp, sizeof tmp, "%.6g", (double)(float)m); break;
    case 1: snprintf(tmp, sizeof tmp, "%.6g", m * pow(10, rand() % 12 - 8)); break;
    case 2: snprintf(tmp, sizeof tmp, "%.9g", m * pow(10, rand() % 50 - 25)); break;
    case 3: snprintf(tmp, sizeof tmp, "%.17g", m * pow(10, rand() % 80 - 40)); break;
    case 4: snprintf(tmp, sizeof tmp, "%.*e", rand() % 20, m * pow(10, rand() % 700 - 350)); break;
    case 5: snprintf(tmp, sizeof tmp, "%.*f", rand() % 25, m * pow(10, rand() % 8)); break;
    case 6: snprintf(tmp, sizeof tmp, "%d", rand() % 2000000 - 1000000); break;
    default: snprintf(tmp, sizeof tmp, "%s", odd[(r / 8) % (sizeof odd / sizeof *odd)]); break;
    }
    buf_puts(b, tmp);
}

/* A reply of n rows of dims numbers: fields reordered, extra members with
 * escaped strings, spacing, sometimes a bad number. */
static void gen_reply(buf_t *b, unsigned seed, size_t n, int dims, bool only_good)
{
    const char *sp = seed % 5 == 0 ? " " : "";
    buf_puts(b, seed % 3 ? "{\"object\":\"list\"," : "{\"model\":\"e\\\"m\\u00e9\\ud83d\\ude00\",");
    buf_puts(b, "\"data\":[");
    for (size_t i = 0; i < n; i++) {
        size_t at = seed % 4 == 1 ? n - 1 - i : i; /* rows out of order */
        char ix[32];
        snprintf(ix, sizeof ix, "\"index\":%s%zu", sp, at);
        if (i) buf_puts(b, ",");
        buf_puts(b, "{");
        bool idx_first = (seed >> 2) % 2 == 0;
        if (idx_first) buf_puts(b, ix), buf_puts(b, ",");
        if (seed % 7 == 3) buf_puts(b, "\"o\\/bj\\n\":\"emb\\\\edding\",");
        buf_puts(b, "\"embedding\":[");
        buf_puts(b, sp);
        for (int k = 0; k < dims; k++) {
            if (k) buf_puts(b, seed % 6 == 2 ? " , " : ",");
            unsigned r = (unsigned)rand();
            if (only_good && r % 8 == 7) r &= ~7u;
            gen_num(b, r);
        }
        buf_puts(b, sp);
        buf_puts(b, "]");
        if (!idx_first) buf_puts(b, ","), buf_puts(b, ix);
        buf_puts(b, ",\"x\":{\"a\":[true,false,null,-1.5e3]}}");
    }
    buf_puts(b, "],\"usage\":{\"prompt_tokens\":3,\"total_tokens\":3}}");
}

static void check_same(const char *body, size_t len, size_t n, int dims)
{
    float a[4 * 64], r[4 * 64];
    memset(a, 0x5a, sizeof a);
    memset(r, 0x5a, sizeof r);
    bool fa = emb_parse_fast(body, len, n, dims, a);
    bool fr = emb_parse_ref(body, len, n, dims, r);
    if (fa != fr) fail_msg("verdict %d, reference %d: %.*s", fa, fr, (int)len, body);
    if (memcmp(a, r, sizeof a)) fail_msg("rows differ: %.*s", (int)len, body);
}

/* The reader against its version before the number fast path: generated
 * replies, each also truncated and mutated. */
static void test_same_as_before_fast_numbers(void **st)
{
    (void)st;
    srand(1818);
    buf_t b = BUF_INIT;
    int good = 0;
    for (unsigned seed = 0; seed < 6000; seed++) {
        size_t n = 1 + seed % 3;
        int dims = seed % 2 ? 64 : 1 + (int)(seed % 17);
        buf_reset(&b);
        gen_reply(&b, seed, n, dims, seed % 4 != 0);
        check_same(b.data, b.len, n, dims);
        float tmp[4 * 64];
        good += emb_parse_fast(b.data, b.len, n, dims, tmp);
        if (seed % 16 == 0)
            for (size_t cut = 0; cut < b.len; cut += 1 + b.len / 64)
                check_same(b.data, cut, n, dims);
        if (seed % 4 == 1) {
            char *m = malloc(b.len + 1);
            for (int k = 0; k < 8; k++) {
                memcpy(m, b.data, b.len);
                size_t at = (size_t)rand() % b.len;
                m[at] = "0123456789.eE+- ,]x\"-"[rand() % 21];
                check_same(m, b.len, n, dims);
            }
            free(m);
        }
    }
    assert_true(good > 2000); /* most generated replies are read whole */
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_numbers_read_as_strtod),
        cmocka_unit_test(test_reply_shapes),
        cmocka_unit_test(test_mutations_agree),
        cmocka_unit_test(test_same_as_before_fast_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
