/* test_log.c - the logger's field formatter (log_format.c) and tlog itself:
 * string arguments are JSON-escaped inside strings (quotes, control bytes,
 * invalid UTF-8, NULL, precision), numbers go through snprintf, values
 * outside strings are raw only when they are one JSON value, and a hostile
 * argument yields exactly one valid JSON line with the raw text in its field. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/log.h"
#include <cjson/cJSON.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define INJECT "\",\"level\":\"error\",\"x\":\""

/* tlog_format(fmt, ...) into a static string. */
static const char *fmt(const char *f, ...) __attribute__((format(printf, 1, 2)));
static const char *fmt(const char *f, ...)
{
    static char s[8192];
    buf_t b = BUF_INIT;
    va_list ap;
    va_start(ap, f);
    tlog_vformat(&b, f, ap);
    va_end(ap);
    snprintf(s, sizeof s, "%s", b.data ? b.data : "");
    buf_free(&b);
    return s;
}

/* Valid UTF-8 and no raw control byte: what a JSON line must be. */
static void assert_clean_utf8(const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    while (*p) {
        assert_true(*p >= 0x20);
        if (*p < 0x80) {
            p++;
            continue;
        }
        int n = *p >= 0xf0 ? 4 : *p >= 0xe0 ? 3 : 2;
        assert_true(*p >= 0xc2 && *p <= 0xf4);
        for (int i = 1; i < n; i++)
            assert_int_equal(p[i] & 0xc0, 0x80);
        p += n;
    }
}

/* {fields} parsed; the caller frees. */
static cJSON *parse_fields(const char *fields)
{
    char obj[8300];
    snprintf(obj, sizeof obj, "{%s}", fields);
    assert_clean_utf8(obj);
    cJSON *j = cJSON_Parse(obj);
    if (!j) fprintf(stderr, "not JSON: %s\n", obj);
    assert_non_null(j);
    return j;
}

static void test_string_inside_quotes_is_escaped(void **state)
{
    const char *s = fmt("\"path\":\"%s\",\"n\":1", "/a" INJECT "\\");
    assert_string_equal(
        s, "\"path\":\"/a\\\",\\\"level\\\":\\\"error\\\",\\\"x\\\":\\\"\\\\\",\"n\":1");
    cJSON *j = parse_fields(s);
    assert_string_equal(cJSON_GetObjectItem(j, "path")->valuestring, "/a" INJECT "\\");
    assert_int_equal(cJSON_GetArraySize(j), 2);
    assert_null(cJSON_GetObjectItem(j, "level"));
    cJSON_Delete(j);
}

static void test_control_bytes_are_escaped(void **state)
{
    assert_string_equal(fmt("\"v\":\"%s\"", "a\nb\rc\td\x01\x1f\x7f"),
                        "\"v\":\"a\\nb\\rc\\td\\u0001\\u001f\\u007f\"");
    cJSON *j = parse_fields(fmt("\"v\":\"%s\"", "x\x02y\x1b[31m"));
    assert_string_equal(cJSON_GetObjectItem(j, "v")->valuestring, "x\x02y\x1b[31m");
    cJSON_Delete(j);
}

static void test_invalid_utf8_becomes_replacement_characters(void **state)
{
    /* valid multibyte text passes through unchanged */
    assert_string_equal(fmt("\"v\":\"%s\"", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"),
                        "\"v\":\"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80\"");
    /* a stray byte, a cut sequence, an overlong form, a surrogate, > U+10FFFF */
    assert_string_equal(fmt("\"v\":\"%s\"", "a\xff"
                                            "b\xe2\x82"
                                            "c\xc0\xaf"
                                            "d\xed\xa0\x80"
                                            "e\xf4\x90\x80\x80"),
                        "\"v\":"
                        "\"a\\ufffdb\\ufffd\\ufffdc\\ufffd\\ufffdd\\ufffd\\ufffd\\ufffde\\ufffd\\uf"
                        "ffd\\ufffd\\ufffd\"");
    cJSON_Delete(parse_fields(fmt("\"v\":\"%s\"", "\x80\xbf\xfe")));
}

static void test_precision_strings(void **state)
{
    assert_string_equal(fmt("\"v\":\"%.*s\"", 3, "ab\"cdef"), "\"v\":\"ab\\\"\"");
    assert_string_equal(fmt("\"v\":\"%.2s\"", "xyz"), "\"v\":\"xy\"");
    /* a precision that cuts a character leaves no broken UTF-8 */
    assert_string_equal(fmt("\"v\":\"%.*s\"", 1, "\xc3\xa9"), "\"v\":\"\\ufffd\"");
    /* precision longer than the string, and a string without a NUL in range */
    char raw[4] = {'a', '"', 'b', 'c'};
    assert_string_equal(fmt("\"v\":\"%.*s\"", 3, raw), "\"v\":\"a\\\"b\"");
    assert_string_equal(fmt("\"v\":\"%.*s\"", 10, "ok"), "\"v\":\"ok\"");
}

static void test_null_strings(void **state)
{
    const char *nul = NULL;
    assert_string_equal(fmt("\"a\":\"%s\",\"b\":%s", nul, nul), "\"a\":\"\",\"b\":null");
    assert_string_equal(fmt("\"a\":\"%.*s\"", 4, nul), "\"a\":\"\"");
}

static void test_numbers_go_through_snprintf(void **state)
{
    assert_string_equal(fmt("\"d\":%d,\"neg\":%d,\"zu\":%zu,\"llu\":%llu,\"ld\":%ld", 42, -7,
                            (size_t)SIZE_MAX, 18446744073709551615ull, -123456789L),
                        "\"d\":42,\"neg\":-7,\"zu\":18446744073709551615,"
                        "\"llu\":18446744073709551615,\"ld\":-123456789");
    assert_string_equal(fmt("\"g\":%g,\"f\":%.3f,\"e\":%e", 0.25, 1.0 / 3, 1e21),
                        "\"g\":0.25,\"f\":0.333,\"e\":1.000000e+21");
    assert_string_equal(
        fmt("\"u\":%u,\"hh\":%hhd,\"h\":%hu", 7u, (signed char)-3, (unsigned short)65535),
        "\"u\":7,\"hh\":-3,\"h\":65535");
    assert_string_equal(fmt("\"pct\":\"100%%\",\"w\":\"%5d|%-3d|\"", 42, 7),
                        "\"pct\":\"100%\",\"w\":\"   42|7  |\"");
    assert_string_equal(fmt("\"star\":\"%*d\"", 4, 9), "\"star\":\"   9\"");
    /* inside a string a number is text; outside, a non-JSON number becomes a string */
    assert_string_equal(fmt("\"x\":%x,\"s\":\"%x\"", 255u, 255u), "\"x\":\"ff\",\"s\":\"ff\"");
    assert_string_equal(fmt("\"p\":%+d,\"z\":%03d", 5, 7), "\"p\":\"+5\",\"z\":\"007\"");
    cJSON_Delete(parse_fields(fmt("\"x\":%x,\"p\":%+d,\"z\":%03d", 255u, 5, 7)));
}

static void test_non_finite_floats(void **state)
{
    assert_string_equal(fmt("\"a\":%g,\"b\":%f,\"c\":%.2f", NAN, INFINITY, -INFINITY),
                        "\"a\":null,\"b\":null,\"c\":null");
    assert_string_equal(fmt("\"a\":\"%g\"", INFINITY), "\"a\":\"inf\"");
}

static void test_values_outside_strings_are_raw_only_when_json(void **state)
{
    assert_string_equal(fmt("\"s\":%s,\"t\":%s", "true", "false"), "\"s\":true,\"t\":false");
    assert_string_equal(fmt("\"a\":%s", "[\"x\",{\"k\":1.5e3}]"), "\"a\":[\"x\",{\"k\":1.5e3}]");
    assert_string_equal(fmt("\"a\":%s", "\"pre-escaped\\n\""), "\"a\":\"pre-escaped\\n\"");
    /* not one JSON value: written as a string */
    assert_string_equal(fmt("\"a\":%s", "1,\"level\":\"error\""),
                        "\"a\":\"1,\\\"level\\\":\\\"error\\\"\"");
    assert_string_equal(fmt("\"a\":%s", "[1,2"), "\"a\":\"[1,2\"");
    assert_string_equal(fmt("\"a\":%s", "\"x\" \"y\""), "\"a\":\"\\\"x\\\" \\\"y\\\"\"");
    assert_string_equal(fmt("\"a\":%s", ""), "\"a\":\"\"");
    assert_string_equal(fmt("\"a\":%s", "01"), "\"a\":\"01\"");
    /* valid JSON, but a raw newline would split the line */
    assert_string_equal(fmt("\"a\":%s", "[1,\n2]"), "\"a\":\"[1,\\n2]\"");
    assert_string_equal(fmt("\"a\":%s", "\"\xff\""), "\"a\":\"\\\"\\ufffd\\\"\"");
    {
        const char *v = " {\"a\":[true,null,-0.5E-2]} ";
        assert_true(tlog_is_json_value(v, strlen(v)));
    }
    assert_false(tlog_is_json_value("{\"a\":}", 6));
    assert_false(tlog_is_json_value("nul", 3));
    assert_false(tlog_is_json_value("\"a\x01\"", 4));
    /* surrogate escapes only as a pair */
    assert_true(tlog_is_json_value("\"\\ud83d\\ude00\"", 14));
    assert_false(tlog_is_json_value("\"\\ud800\"", 8));
    assert_false(tlog_is_json_value("\"\\udc00x\"", 9));
    assert_false(tlog_is_json_value("\"\\ud83dx\"", 9));
    /* deep nesting is refused, not recursed into */
    char deep[200];
    memset(deep, '[', 100);
    memset(deep + 100, ']', 100);
    assert_false(tlog_is_json_value(deep, sizeof deep));
    /* the character %c is escaped like a string */
    assert_string_equal(fmt("\"c\":\"%c\",\"d\":%c", '"', '7'), "\"c\":\"\\\"\",\"d\":7");
}

static void test_long_values_are_cut_on_a_character(void **state)
{
    char big[3000];
    memset(big, 'a', sizeof big - 1);
    big[sizeof big - 1] = 0;
    big[TLOG_VALUE_MAX - 1] = '\xc3'; /* a 2-byte character across the limit */
    big[TLOG_VALUE_MAX] = '\xa9';
    const char *s = fmt("\"v\":\"%s\"", big);
    cJSON *j = parse_fields(s);
    const char *v = cJSON_GetObjectItem(j, "v")->valuestring;
    assert_int_equal(strlen(v), TLOG_VALUE_MAX - 1 + 3);
    assert_string_equal(v + TLOG_VALUE_MAX - 1, "...");
    cJSON_Delete(j);
}

/* tlog's line on a captured stderr. */
static char *capture(void (*emit)(void))
{
    char tmpl[] = "/tmp/tether-log-XXXXXX";
    int fd = mkstemp(tmpl);
    assert_true(fd >= 0);
    unlink(tmpl);
    fflush(stderr);
    int saved = dup(2);
    dup2(fd, 2);
    emit();
    dup2(saved, 2);
    close(saved);
    off_t n = lseek(fd, 0, SEEK_END);
    char *s = calloc(1, (size_t)n + 1);
    assert_int_equal(pread(fd, s, (size_t)n, 0), n);
    close(fd);
    return s;
}

static void emit_hostile(void)
{
    tlog(TLOG_WARN, "mgmt_denied", "\"path\":\"%s\",\"needs\":\"%s\"",
         "/v1/x" INJECT "\x01\n{\"level\":\"error\"}\xff", "viewer");
}

static void test_tlog_writes_one_valid_line_whatever_the_arguments(void **state)
{
    char *s = capture(emit_hostile);
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0); /* exactly one line */
    *nl = 0;
    assert_clean_utf8(s);
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_string_equal(cJSON_GetObjectItem(j, "level")->valuestring, "warn");
    assert_string_equal(cJSON_GetObjectItem(j, "event")->valuestring, "mgmt_denied");
    assert_string_equal(cJSON_GetObjectItem(j, "path")->valuestring,
                        "/v1/x" INJECT "\x01\n{\"level\":\"error\"}\xef\xbf\xbd");
    assert_null(cJSON_GetObjectItem(j, "x"));
    assert_int_equal(cJSON_GetArraySize(j), 5); /* ts, level, event, path, needs */
    cJSON_Delete(j);
    free(s);
}

static void emit_long(void)
{
    char big[3000];
    memset(big, '"', sizeof big - 1);
    big[sizeof big - 1] = 0;
    tlog(TLOG_ERROR, "long", "\"a\":\"%s\",\"b\":\"%s\",\"list\":%s,\"n\":%d", big, big,
         "[\"one\",\"two\"]", 5);
}

static void test_long_lines_stay_below_pipe_buf_and_valid(void **state)
{
    char *s = capture(emit_long);
    size_t n = strlen(s);
    assert_true(n < 4096);
    assert_int_equal(s[n - 1], '\n');
    cJSON *j = cJSON_Parse(s);
    assert_non_null(j);
    assert_int_equal(cJSON_GetObjectItem(j, "n")->valueint, 5);
    assert_true(cJSON_IsArray(cJSON_GetObjectItem(j, "list")));
    cJSON_Delete(j);
    free(s);
}

static void emit_text(void)
{
    tlog_set_format(TLOG_FMT_TEXT);
    tlog(TLOG_WARN, "upstream_error", "\"model\":\"%s\",\"status\":%d,\"path\":\"%s\",\"list\":%s",
         "cloud/gpt", 502, "/v1/x y\nlevel=error", "[\"a\",\"b\"]");
    tlog_set_format(TLOG_FMT_JSON);
}

static void test_text_format_is_key_value_on_one_line(void **state)
{
    char *s = capture(emit_text);
    char *nl = strchr(s, '\n');
    assert_non_null(nl);
    assert_int_equal(nl[1], 0); /* exactly one line: the newline in a value stays escaped */
    *nl = 0;
    assert_int_equal(s[0], '2'); /* the timestamp first */
    const char *rest = strstr(s, "Z WARN upstream_error model=cloud/gpt status=502 ");
    assert_non_null(rest);
    /* a value with a space, quote or '=' is a JSON string: it cannot fake a field */
    assert_non_null(strstr(s, " path=\"/v1/x y\\nlevel=error\" list=[\"a\",\"b\"]"));
    assert_null(strchr(s, '{'));
    assert_int_equal(tlog_format_parse("text"), TLOG_FMT_TEXT);
    assert_int_equal(tlog_format_parse("json"), TLOG_FMT_JSON);
    assert_int_equal(tlog_format_parse("xml"), -1);
    free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_string_inside_quotes_is_escaped),
        cmocka_unit_test(test_control_bytes_are_escaped),
        cmocka_unit_test(test_invalid_utf8_becomes_replacement_characters),
        cmocka_unit_test(test_precision_strings),
        cmocka_unit_test(test_null_strings),
        cmocka_unit_test(test_numbers_go_through_snprintf),
        cmocka_unit_test(test_non_finite_floats),
        cmocka_unit_test(test_values_outside_strings_are_raw_only_when_json),
        cmocka_unit_test(test_long_values_are_cut_on_a_character),
        cmocka_unit_test(test_tlog_writes_one_valid_line_whatever_the_arguments),
        cmocka_unit_test(test_long_lines_stay_below_pipe_buf_and_valid),
        cmocka_unit_test(test_text_format_is_key_value_on_one_line),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
