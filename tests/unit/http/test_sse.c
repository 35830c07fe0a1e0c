/* test_sse.c - SSE framing: line endings, fields, comments, dispatch rules,
 * the size guard, the writer, and a sample stream fed with every possible
 * split into two and three chunks (and byte by byte) giving the same events. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/buf.h"
#include "http/sse.h"

/* Events are logged as "event|data" records separated by 0x1e. */
static void logger(void *ud, const char *ev, size_t evl, const char *data, size_t dl)
{
    buf_t *log = ud;
    assert_int_equal(ev[evl], 0); /* both strings are NUL-terminated */
    assert_int_equal(data[dl], 0);
    buf_append(log, ev, evl);
    buf_putc(log, '|');
    buf_append(log, data, dl);
    buf_putc(log, 0x1e);
}

static void parse_chunks(const char *s, size_t n, const size_t *cuts, int ncuts, size_t max,
                         buf_t *log)
{
    sse_parser_t p;
    sse_parser_init(&p, logger, log);
    p.max_event_bytes = max;
    size_t prev = 0;
    for (int i = 0; i <= ncuts; i++) {
        size_t c = i < ncuts ? cuts[i] : n;
        sse_parser_feed(&p, s + prev, c - prev);
        prev = c;
    }
    sse_parser_deinit(&p);
}

static void parse(const char *s, buf_t *log)
{
    parse_chunks(s, strlen(s), NULL, 0, 0, log);
}

static void expect(const char *stream, const char *want)
{
    buf_t log = BUF_INIT;
    parse(stream, &log);
    assert_string_equal(log.len ? log.data : "", want);
    buf_free(&log);
}

static void test_basic_events_and_line_endings(void **state)
{
    expect("data: hello\n\n", "|hello\x1e");
    expect("data: a\r\n\r\ndata: b\r\rdata: c\n\n", "|a\x1e|b\x1e|c\x1e");
    expect("data:no-space\n\n", "|no-space\x1e");
    expect("data:  two spaces\n\n", "| two spaces\x1e");
    expect("data: x:y: z\n\n", "|x:y: z\x1e");
    expect("event: message_start\ndata: {\"a\":1}\n\n", "message_start|{\"a\":1}\x1e");
}

static void test_multiline_data_comments_and_fields(void **state)
{
    expect("data: one\ndata: two\r\ndata\rdata: four\n\n", "|one\ntwo\n\nfour\x1e");
    expect(": keep-alive\n\n: comment\ndata: x\n: another\n\n", "|x\x1e");
    expect("id: 7\nretry: 100\nfoo: bar\ndata: v\n\n", "|v\x1e");
    /* the event type belongs to one event only */
    expect("event: a\ndata: 1\n\ndata: 2\n\n", "a|1\x1e|2\x1e");
    /* last event: line wins */
    expect("event: a\nevent: b\ndata: 1\n\n", "b|1\x1e");
    /* no data line: nothing dispatched, and its event type does not leak */
    expect("event: ping\n\ndata: 2\n\n", "|2\x1e");
    /* empty data line counts as data */
    expect("data:\n\n", "|\x1e");
    /* incomplete final event is not dispatched */
    expect("data: 1\n\ndata: 2\n", "|1\x1e");
    /* a leading BOM is skipped on the first line only */
    expect("\xEF\xBB\xBF"
           "data: b\n\n\xEF\xBB\xBF"
           "data: c\n\n",
           "|b\x1e");
    /* field name "data " (space before colon) is not "data" */
    expect("data : x\n\n", "");
}

static const char sample[] =
    "\xEF\xBB\xBF: stream opened\r\n"
    "event: message_start\r\n"
    "data: {\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\r\n"
    "\r\n"
    "data: {\"choices\":[{\"delta\":{\"content\":\"a\\nb\"}}]}\n\n"
    "data: line1\rdata: line2\r\r"
    "event: x\n"
    "data\n"
    "data:\n"
    "data: tail\r\n\r\n"
    ": bye\n"
    "data: [DONE]\n\n";

static const char sample_want[] =
    "message_start|{\"type\":\"message_start\",\"message\":{\"usage\":{\"input_tokens\":3}}}\x1e"
    "|{\"choices\":[{\"delta\":{\"content\":\"a\\nb\"}}]}\x1e"
    "|line1\nline2\x1e"
    "x|\n\ntail\x1e"
    "|[DONE]\x1e";

static void test_every_split_point(void **state)
{
    size_t n = sizeof(sample) - 1;
    buf_t whole = BUF_INIT;
    parse_chunks(sample, n, NULL, 0, 0, &whole);
    assert_string_equal(whole.data, sample_want);
    for (size_t i = 0; i <= n; i++) {
        buf_t log = BUF_INIT;
        parse_chunks(sample, n, &i, 1, 0, &log);
        if (strcmp(log.data, sample_want) != 0) fail_msg("split at %zu differs", i);
        buf_free(&log);
    }
    for (size_t i = 0; i <= n; i++)
        for (size_t j = i; j <= n; j++) {
            size_t cuts[2] = {i, j};
            buf_t log = BUF_INIT;
            parse_chunks(sample, n, cuts, 2, 0, &log);
            if (strcmp(log.data, sample_want) != 0) fail_msg("split at %zu,%zu differs", i, j);
            buf_free(&log);
        }
    size_t bytes[sizeof(sample)];
    for (size_t i = 0; i < n; i++)
        bytes[i] = i + 1;
    buf_t log = BUF_INIT;
    parse_chunks(sample, n, bytes, (int)n - 1, 0, &log);
    assert_string_equal(log.data, sample_want);
    buf_free(&log);
    buf_free(&whole);
}

static void test_crlf_split_across_chunks_counts_once(void **state)
{
    /* "\r" ends one chunk and "\n" starts the next: one line break, not two */
    const char *s = "data: a\r\ndata: b\r\n\r\n";
    size_t cuts[] = {8, 9, 17, 18, 19};
    buf_t log = BUF_INIT;
    parse_chunks(s, strlen(s), cuts, 5, 0, &log);
    assert_string_equal(log.data, "|a\nb\x1e");
    buf_free(&log);
    /* a lone CR at a chunk end followed by another line */
    s = "data: a\rdata: b\r\r";
    size_t c2[] = {8};
    buf_t l2 = BUF_INIT;
    parse_chunks(s, strlen(s), c2, 1, 0, &l2);
    assert_string_equal(l2.data, "|a\nb\x1e");
    buf_free(&l2);
}

static void test_max_event_bytes_drops_big_events_only(void **state)
{
    buf_t s = BUF_INIT;
    buf_puts(&s, "data: small\n\n");
    buf_puts(&s, "event: big\ndata: ");
    for (int i = 0; i < 100; i++)
        buf_puts(&s, "0123456789");
    buf_puts(&s, "\n\n");
    buf_puts(&s, "data: 0123456789\ndata: 0123456789\ndata: 0123456789\n\n"); /* 32 bytes joined */
    buf_puts(&s, ": ");
    for (int i = 0; i < 100; i++)
        buf_puts(&s, "cccccccccc"); /* long comment: harmless */
    buf_puts(&s, "\nid: ");
    for (int i = 0; i < 100; i++)
        buf_puts(&s, "iiiiiiiiii"); /* long ignored field: harmless */
    buf_puts(&s, "\ndata: after\n\n");
    sse_parser_t p;
    buf_t log = BUF_INIT;
    sse_parser_init(&p, logger, &log);
    p.max_event_bytes = 40;
    sse_parser_feed(&p, s.data, s.len);
    assert_string_equal(log.data, "|small\x1e|0123456789\n0123456789\n0123456789\x1e|after\x1e");
    assert_int_equal(p.n_dropped, 1);
    sse_parser_deinit(&p);
    /* same stream byte by byte: the carried long line is bounded and dropped */
    buf_reset(&log);
    sse_parser_init(&p, logger, &log);
    p.max_event_bytes = 40;
    for (size_t i = 0; i < s.len; i++)
        sse_parser_feed(&p, s.data + i, 1);
    assert_string_equal(log.data, "|small\x1e|0123456789\n0123456789\n0123456789\x1e|after\x1e");
    assert_true(p.line.cap < 1024); /* never buffered the 1000-byte line */
    assert_int_equal(p.n_dropped, 1);
    sse_parser_deinit(&p);
    /* a limit of exactly the event size keeps it */
    buf_reset(&log);
    sse_parser_init(&p, logger, &log);
    p.max_event_bytes = 5 + 3;
    sse_parser_feed(&p, "event: abc\ndata: 12345\n\nevent: abc\ndata: 123456\n\n", 49);
    assert_string_equal(log.data, "abc|12345\x1e");
    sse_parser_deinit(&p);
    buf_free(&log);
    buf_free(&s);
}

static void test_writer_round_trip(void **state)
{
    buf_t out = BUF_INIT;
    sse_write_event(&out, "content_block_delta", "{\"a\":1}", 7);
    sse_write_event(&out, NULL, "l1\nl2\r\nl3\rl4", 12);
    sse_write_event(&out, "", "", 0);
    sse_write_event(&out, NULL, "trail\n", 6);
    assert_string_equal(out.data, "event: content_block_delta\ndata: {\"a\":1}\n\n"
                                  "data: l1\ndata: l2\ndata: l3\ndata: l4\n\n"
                                  "data:\n\n"
                                  "data: trail\ndata:\n\n");
    buf_t log = BUF_INIT;
    parse(out.data, &log);
    assert_string_equal(log.data,
                        "content_block_delta|{\"a\":1}\x1e|l1\nl2\nl3\nl4\x1e|\x1e|trail\n\x1e");
    buf_free(&log);
    buf_free(&out);
}

static void test_empty_feeds_and_reuse(void **state)
{
    sse_parser_t p;
    buf_t log = BUF_INIT;
    sse_parser_init(&p, logger, &log);
    sse_parser_feed(&p, "data: a\r", 8);
    sse_parser_feed(&p, NULL, 0); /* must not forget the pending CR */
    sse_parser_feed(&p, "\n\n", 2);
    assert_string_equal(log.data, "|a\x1e");
    sse_parser_deinit(&p);
    buf_free(&log);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_basic_events_and_line_endings),
        cmocka_unit_test(test_multiline_data_comments_and_fields),
        cmocka_unit_test(test_every_split_point),
        cmocka_unit_test(test_crlf_split_across_chunks_counts_once),
        cmocka_unit_test(test_max_event_bytes_drops_big_events_only),
        cmocka_unit_test(test_writer_round_trip),
        cmocka_unit_test(test_empty_feeds_and_reuse),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
