/* test_response_id.c - the Responses side of api/response_id.h: a native
 * reply's id is wrapped in the whole body and in every stream event that
 * carries response.id (and nowhere else); an emulated id is minted with the
 * serving model's binding; a previous_response_id that comes back is
 * unwrapped for the store and the upstream, a valid native binding skips
 * the store, a forged one is unbound and counted; GET/DELETE keys strip the
 * suffix. No configuration: the per-process key. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/response_id.h"
#include "metrics/metrics.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static double bindings_counted(const char *result)
{
    buf_t b = BUF_INIT;
    met_expose(&b);
    char pat[96];
    snprintf(pat, sizeof pat, "tether_session_bindings_total{result=\"%s\"} ", result);
    const char *m = b.data ? strstr(b.data, pat) : NULL;
    double v = m ? atof(m + strlen(pat)) : 0;
    buf_free(&b);
    return v;
}

static void test_native_body_and_events_carry_the_binding(void **st)
{
    (void)st;
    rid_resp_t r = {0};
    assert_null(rid_resp_bind(&r, NULL, true, "resp_minted", "big", "b1"));
    const char body[] = " {\"id\":\"resp_abc\",\"object\":\"response\",\"output\":[]}";
    buf_t out = BUF_INIT;
    assert_true(rid_resp_wrap_body(&r, body, sizeof body - 1, &out));
    assert_non_null(strstr(out.data, "\"id\":\"resp_abc.tb1."));
    assert_non_null(strstr(out.data, "\"object\":\"response\",\"output\":[]}"));
    char wrapped[SESS_BINDING_ID_MAX + 1];
    const char *q = strstr(out.data, "resp_abc.tb1.");
    snprintf(wrapped, sizeof wrapped, "%.*s", (int)(strchr(q, '"') - q), q);
    buf_free(&out);

    const char created[] = "{\"type\":\"response.created\",\"sequence_number\":0,\"response\":"
                           "{\"id\":\"resp_abc\",\"status\":\"in_progress\"}}";
    assert_true(rid_resp_wrap_event(&r, created, sizeof created - 1, &out));
    assert_non_null(strstr(out.data, wrapped)); /* the same id in every event */
    assert_non_null(strstr(out.data, "\"type\":\"response.created\""));
    buf_free(&out);
    /* events without a response object pass unchanged */
    const char delta[] = "{\"type\":\"response.output_text.delta\",\"item_id\":\"msg_1\",\"delta\":"
                         "\"hi\"}";
    assert_false(rid_resp_wrap_event(&r, delta, sizeof delta - 1, &out));
    assert_int_equal(out.len, 0);

    /* the wrapped id comes back: unwrapped, valid, native, bound to big */
    arena_t a;
    arena_init(&a, 4096);
    double valid0 = bindings_counted("valid");
    rid_prev_t p;
    rid_parse_prev(NULL, wrapped, &a, "req-1", &p);
    assert_true(p.wrapped && p.valid);
    assert_true(rid_prev_is_native(&p));
    assert_string_equal(p.upstream, "resp_abc");
    assert_string_equal(p.model, "big");
    assert_string_equal(p.backend, "b1");
    assert_true(bindings_counted("valid") == valid0 + 1);
    assert_int_equal(rid_store_key(wrapped, strlen(wrapped)), strlen("resp_abc"));
    assert_int_equal(rid_store_key("resp_abc", 8), 8);
    arena_deinit(&a);
}

static void test_emulated_id_is_minted_with_the_served_model(void **st)
{
    (void)st;
    rid_resp_t r = {0};
    const char *id = rid_resp_bind(&r, NULL, false, "resp_0123456789abcdef01234567", "small", "s1");
    assert_non_null(id);
    assert_int_equal(strncmp(id, "resp_0123456789abcdef01234567.tb1.", 34), 0);
    /* emulate: the relayed bytes are tether's own, never rewritten */
    buf_t out = BUF_INIT;
    assert_false(rid_resp_wrap_body(&r, "{\"id\":\"x\"}", 10, &out));
    arena_t a;
    arena_init(&a, 4096);
    rid_prev_t p;
    rid_parse_prev(NULL, id, &a, "req-2", &p);
    assert_true(p.valid);
    assert_false(rid_prev_is_native(&p)); /* the chain is in the store */
    assert_int_equal(p.kind, SESS_BINDING_EMULATED);
    assert_string_equal(p.upstream, "resp_0123456789abcdef01234567");
    assert_string_equal(p.model, "small");
    arena_deinit(&a);
}

static void test_forged_id_is_unbound_and_counted(void **st)
{
    (void)st;
    rid_resp_t big = {0}, small = {0};
    rid_resp_bind(&big, NULL, true, NULL, "big", "b1");
    rid_resp_bind(&small, NULL, true, NULL, "small", "s1");
    const char *wb = rid_wrap(&big.w, "resp_x", 6);
    char idb[SESS_BINDING_ID_MAX + 1], ids[SESS_BINDING_ID_MAX + 1], forged[1100];
    snprintf(idb, sizeof idb, "%s", wb);
    snprintf(ids, sizeof ids, "%s", rid_wrap(&small.w, "resp_x", 6));
    /* small's payload with big's tag */
    const char *ms = strstr(ids, ".tb1."), *ts = strrchr(ids, '.'), *tb = strrchr(idb, '.');
    snprintf(forged, sizeof forged, "resp_x%.*s%s", (int)(ts - ms), ms, tb);
    arena_t a;
    arena_init(&a, 4096);
    double invalid0 = bindings_counted("invalid");
    rid_prev_t p;
    rid_parse_prev(NULL, forged, &a, "req-3", &p);
    assert_true(p.wrapped);
    assert_false(p.valid);
    assert_false(rid_prev_is_native(&p)); /* the store decides, as for a plain id */
    assert_null(p.model);
    assert_string_equal(p.upstream, "resp_x");
    assert_true(bindings_counted("invalid") == invalid0 + 1);
    rq_t rq = {0};
    rid_apply_prev(&rq, &p);
    assert_string_equal(rq.previous_response_upstream, "resp_x");
    assert_null(rq.bound_model);
    /* a plain id: nothing counted, nothing bound */
    rid_parse_prev(NULL, "resp_plain", &a, "req-4", &p);
    assert_false(p.wrapped);
    assert_string_equal(p.upstream, "resp_plain");
    assert_true(bindings_counted("invalid") == invalid0 + 1);
    arena_deinit(&a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_native_body_and_events_carry_the_binding),
        cmocka_unit_test(test_emulated_id_is_minted_with_the_served_model),
        cmocka_unit_test(test_forged_id_is_unbound_and_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
