/* test_addr_limit.c - open connections per client address (http/addr_limit.h):
 * the limit holds per address, an IPv4 address and its IPv4-mapped IPv6
 * form are one address, a release makes room and the last one removes the
 * entry, limit 0 counts without refusing, and what is not an IP socket is
 * never counted. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <sys/un.h>

#include "http/addr_limit.h"

static srv_addr_t v4(const char *ip)
{
    struct sockaddr_in a = {.sin_family = AF_INET};
    inet_pton(AF_INET, ip, &a.sin_addr);
    return srv_addr_of((struct sockaddr *)&a, sizeof a);
}

static srv_addr_t v6(const char *ip)
{
    struct sockaddr_in6 a = {.sin6_family = AF_INET6};
    inet_pton(AF_INET6, ip, &a.sin6_addr);
    return srv_addr_of((struct sockaddr *)&a, sizeof a);
}

static void test_limit_per_address(void **state)
{
    (void)state;
    srv_addr_table_t *t = srv_addr_table_new();
    srv_addr_t a = v4("10.0.0.1"), mapped = v6("::ffff:10.0.0.1"), b = v4("10.0.0.2");
    assert_true(srv_addr_acquire(t, &a, 2));
    assert_true(srv_addr_acquire(t, &mapped, 2)); /* the same address */
    assert_false(srv_addr_acquire(t, &a, 2));
    assert_false(srv_addr_acquire(t, &mapped, 2));
    assert_int_equal(srv_addr_count(t, &a), 2);
    assert_true(srv_addr_acquire(t, &b, 2)); /* another address is not affected */
    srv_addr_release(t, &a);
    assert_true(srv_addr_acquire(t, &a, 2));
    srv_addr_release(t, &a);
    srv_addr_release(t, &mapped);
    assert_int_equal(srv_addr_count(t, &a), 0);
    srv_addr_t c = v6("2001:db8::1");
    for (int i = 0; i < 1000; i++)
        assert_true(srv_addr_acquire(t, &c, 0)); /* 0: no limit, still counted */
    assert_int_equal(srv_addr_count(t, &c), 1000);
    for (int i = 0; i < 1000; i++)
        srv_addr_release(t, &c);
    assert_int_equal(srv_addr_count(t, &c), 0);
    char s[64];
    srv_addr_format(&mapped, s, sizeof s);
    assert_string_equal(s, "10.0.0.1");
    srv_addr_format(&c, s, sizeof s);
    assert_string_equal(s, "2001:db8::1");
    srv_addr_release(t, &b);
    srv_addr_table_free(t);
}

static void test_other_sockets_are_not_counted(void **state)
{
    (void)state;
    srv_addr_table_t *t = srv_addr_table_new();
    struct sockaddr_un u = {.sun_family = AF_UNIX};
    srv_addr_t a = srv_addr_of((struct sockaddr *)&u, sizeof u);
    assert_int_equal(a.family, 0);
    assert_true(srv_addr_acquire(t, &a, 1));
    assert_true(srv_addr_acquire(t, &a, 1));
    srv_addr_t n = srv_addr_of(NULL, 0);
    assert_int_equal(n.family, 0);
    srv_addr_table_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limit_per_address),
        cmocka_unit_test(test_other_sockets_are_not_counted),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
