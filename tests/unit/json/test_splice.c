/* test_splice.c - the splice writer: replacements longer and shorter than the
 * original, insertions, several edits out of order, iovec output equal to the
 * buffer output, and the result re-scanned as the proxy would send it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "core/arena.h"
#include "core/buf.h"
#include "json/scan.h"
#include "json/splice.h"

/* Output through both paths; checks they agree with jsplice_len. */
static void render(const jsplice_t *s, const char *body, buf_t *out)
{
    size_t len = strlen(body);
    buf_reset(out);
    jsplice_to_buf(s, body, len, out);
    assert_int_equal(out->len, jsplice_len(s, len));
    struct iovec iov[32];
    int n = jsplice_iov(s, body, len, iov, 32);
    assert_true(n >= 0);
    buf_t cat = BUF_INIT;
    for (int i = 0; i < n; i++) {
        assert_true(iov[i].iov_len > 0); /* no empty pieces */
        buf_append(&cat, iov[i].iov_base, iov[i].iov_len);
    }
    assert_int_equal(cat.len, out->len);
    if (cat.len) assert_memory_equal(cat.data, out->data, cat.len);
    buf_free(&cat);
}

static void test_replace_model_longer_and_shorter(void **state)
{
    const char *b = "{\"model\":\"auto\",\"messages\":[]}";
    jreq_t r;
    assert_int_equal(jscan_request(b, strlen(b), NULL, &r, NULL), 0);
    jsplice_t s;
    buf_t out = BUF_INIT;
    const char *longer = "\"gpt-4o-mini-2024-07-18\"";
    jsplice_init(&s);
    jsplice_add(&s, r.model.off, r.model.len, longer, (uint32_t)strlen(longer));
    jsplice_sort(&s);
    render(&s, b, &out);
    assert_string_equal(out.data, "{\"model\":\"gpt-4o-mini-2024-07-18\",\"messages\":[]}");
    jsplice_free(&s);

    jsplice_init(&s);
    jsplice_add(&s, r.model.off, r.model.len, "\"x\"", 3);
    render(&s, b, &out);
    assert_string_equal(out.data, "{\"model\":\"x\",\"messages\":[]}");
    jsplice_free(&s);
    buf_free(&out);
}

static void test_insert_stream_options_after_open_brace(void **state)
{
    const char *b =
        "  {\"model\":\"m\",\"stream\":true,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}";
    jreq_t r;
    assert_int_equal(jscan_request(b, strlen(b), NULL, &r, NULL), 0);
    assert_int_equal(r.stream_options.len, 0);
    const char ins[] = "\"stream_options\":{\"include_usage\":true},";
    jsplice_t s;
    jsplice_init(&s);
    jsplice_add(&s, r.obj_open + 1, 0, ins, sizeof(ins) - 1);
    buf_t out = BUF_INIT;
    render(&s, b, &out);
    assert_string_equal(
        out.data, "  {\"stream_options\":{\"include_usage\":true},\"model\":\"m\",\"stream\":true,"
                  "\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}");
    jreq_t r2;
    arena_t a;
    arena_init(&a, 0);
    assert_int_equal(jscan_request(out.data, out.len, &a, &r2, NULL), 0);
    assert_true(jscan_str_eq(out.data, r2.model, "m"));
    assert_int_equal(out.data[r2.stream_options.off], '{');
    assert_int_equal(r2.n_msgs, 1);
    assert_int_equal(r2.n_top_keys, 4);
    arena_deinit(&a);
    jsplice_free(&s);
    buf_free(&out);
}

static void test_every_model_occurrence_replaced_out_of_order(void **state)
{
    const char *b = "{\"model\":\"a\",\"metadata\":{\"model\":\"keep\"},\"model\":\"bb\",\"x\":1,"
                    "\"model\":\"ccc\"}";
    jreq_t r;
    assert_int_equal(jscan_request(b, strlen(b), NULL, &r, NULL), 0);
    assert_int_equal(r.n_model, 3);
    jsplice_t s;
    jsplice_init(&s);
    const char *nm = "\"provider/model-id\"";
    for (int i = (int)r.n_model - 1; i >= 0; i--) /* added backwards on purpose */
        jsplice_add(&s, r.model_all[i].off, r.model_all[i].len, nm, (uint32_t)strlen(nm));
    const char tail[] = ",\"user\":\"t\"";
    jsplice_add(&s, r.obj_close, 0, tail, sizeof(tail) - 1);
    jsplice_sort(&s);
    for (size_t i = 1; i < s.n; i++)
        assert_true(s.edits[i - 1].off <= s.edits[i].off);
    buf_t out = BUF_INIT;
    render(&s, b, &out);
    assert_string_equal(out.data,
                        "{\"model\":\"provider/model-id\",\"metadata\":{\"model\":\"keep\"},"
                        "\"model\":\"provider/model-id\",\"x\":1,\"model\":\"provider/model-id\","
                        "\"user\":\"t\"}");
    jreq_t r2;
    assert_int_equal(jscan_request(out.data, out.len, NULL, &r2, NULL), 0);
    assert_int_equal(r2.n_model, 3);
    for (uint32_t i = 0; i < r2.n_model; i++)
        assert_true(jscan_str_eq(out.data, r2.model_all[i], "provider/model-id"));
    jsplice_free(&s);
    buf_free(&out);
}

static void test_insertions_at_same_offset_keep_order(void **state)
{
    const char *b = "{}";
    jsplice_t s;
    jsplice_init(&s);
    jsplice_add(&s, 1, 0, "\"c\":3", 5);
    jsplice_add(&s, 1, 0, "\"a\":1,", 6);
    jsplice_add(&s, 0, 0, "", 0); /* empty insert: no piece */
    jsplice_add(&s, 1, 0, "\"b\":2,", 6);
    /* sort must be stable: c, a, b stay in that order at offset 1 */
    jsplice_sort(&s);
    buf_t out = BUF_INIT;
    render(&s, b, &out);
    assert_string_equal(out.data, "{\"c\":3\"a\":1,\"b\":2,}");
    jsplice_free(&s);
    jsplice_init(&s);
    jsplice_add(&s, 1, 0, "\"a\":1,", 6);
    jsplice_add(&s, 1, 0, "\"b\":2", 5);
    render(&s, b, &out);
    assert_string_equal(out.data, "{\"a\":1,\"b\":2}");
    jsplice_free(&s);
    buf_free(&out);
}

static void test_edges_no_edits_whole_body_and_end(void **state)
{
    const char *b = "{\"k\":1}";
    jsplice_t s;
    jsplice_init(&s);
    buf_t out = BUF_INIT;
    render(&s, b, &out);
    assert_string_equal(out.data, b);
    struct iovec iov[1];
    assert_int_equal(jsplice_iov(&s, b, strlen(b), iov, 1), 1);
    assert_ptr_equal(iov[0].iov_base, b); /* zero copy */
    jsplice_add(&s, 0, (uint32_t)strlen(b), "[]", 2);
    render(&s, b, &out);
    assert_string_equal(out.data, "[]");
    jsplice_free(&s);
    jsplice_init(&s);
    jsplice_add(&s, (uint32_t)strlen(b), 0, "\n", 1);
    jsplice_add(&s, 5, 1, "", 0); /* deletion of "1" */
    jsplice_sort(&s);
    render(&s, b, &out);
    assert_string_equal(out.data, "{\"k\":}\n");
    jsplice_free(&s);
    buf_free(&out);
}

static void test_iov_too_small_and_pointers_into_original(void **state)
{
    const char *b = "{\"model\":\"a\",\"x\":2}";
    jsplice_t s;
    jsplice_init(&s);
    jsplice_add(&s, 9, 3, "\"bb\"", 4);
    struct iovec iov[3];
    assert_int_equal(jsplice_iov(&s, b, strlen(b), iov, 2), -1);
    assert_int_equal(jsplice_iov(&s, b, strlen(b), iov, 3), 3);
    assert_ptr_equal(iov[0].iov_base, b);
    assert_int_equal(iov[0].iov_len, 9);
    assert_int_equal(iov[1].iov_len, 4);
    assert_ptr_equal(iov[2].iov_base, b + 12);
    assert_int_equal(iov[2].iov_len, strlen(b) - 12);
    jsplice_free(&s);
}

static void test_many_edits_grow(void **state)
{
    /* 100 one-byte replacements of "0" in "[0,0,...]" */
    buf_t b = BUF_INIT;
    buf_putc(&b, '[');
    for (int i = 0; i < 100; i++)
        buf_puts(&b, i ? ",0" : "0");
    buf_putc(&b, ']');
    jsplice_t s;
    jsplice_init(&s);
    for (int i = 99; i >= 0; i--)
        jsplice_add(&s, 1 + 2 * (uint32_t)i, 1, "11", 2);
    jsplice_sort(&s);
    buf_t out = BUF_INIT;
    jsplice_to_buf(&s, b.data, b.len, &out);
    assert_int_equal(out.len, b.len + 100);
    assert_int_equal(jscan_validate(out.data, out.len, NULL), 0);
    assert_memory_equal(out.data, "[11,11,", 7);
    struct iovec iov[256];
    assert_int_equal(jsplice_iov(&s, b.data, b.len, iov, 256), 201);
    jsplice_free(&s);
    buf_free(&out);
    buf_free(&b);
}

/* The edit list in an arena (the request path): the same output as on the
 * heap, however many edits. */
static void test_edits_in_an_arena_match_the_heap(void **state)
{
    (void)state;
    const char *body = "[0,0,0,0,0,0,0,0,0,0,0,0]";
    arena_t a;
    arena_init(&a, 512);
    jsplice_t h, s;
    jsplice_init(&h);
    jsplice_init_arena(&s, &a);
    for (int i = 11; i >= 0; i--) {
        jsplice_add(&h, 1 + 2 * (uint32_t)i, 1, "22", 2);
        jsplice_add(&s, 1 + 2 * (uint32_t)i, 1, "22", 2);
        (void)arena_alloc(&a, 24); /* something else between the growths */
    }
    jsplice_sort(&h);
    jsplice_sort(&s);
    buf_t oh = BUF_INIT, os = BUF_INIT;
    render(&h, body, &oh);
    render(&s, body, &os);
    assert_int_equal(os.len, strlen(body) + 12);
    assert_string_equal(oh.data, os.data);
    jsplice_free(&s); /* forgets the list; the arena owns it */
    assert_null(s.edits);
    jsplice_free(&h);
    buf_free(&oh);
    buf_free(&os);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_replace_model_longer_and_shorter),
        cmocka_unit_test(test_insert_stream_options_after_open_brace),
        cmocka_unit_test(test_every_model_occurrence_replaced_out_of_order),
        cmocka_unit_test(test_edits_in_an_arena_match_the_heap),
        cmocka_unit_test(test_insertions_at_same_offset_keep_order),
        cmocka_unit_test(test_edges_no_edits_whole_body_and_end),
        cmocka_unit_test(test_iov_too_small_and_pointers_into_original),
        cmocka_unit_test(test_many_edits_grow),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
