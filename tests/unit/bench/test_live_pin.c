/* test_live_pin.c - where `tether bench overhead --pin auto` runs its
 * processes (bench/live_pin.h): the layout for 1, 2, 3 and more allowed
 * CPUs, CPUs that are not numbered from 0, --pin off; and that a child
 * started with a CPU (live_proc_spawn) runs there, and a client thread
 * pinned with live_pin_thread too. */
#include "bench/live_pin.h"
#include "bench/live_proc.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <string.h>

static void plan(const int *cpus, int n, bool want, live_pin_t *out)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    for (int i = 0; i < n; i++)
        CPU_SET(cpus[i], &s);
    live_pin_plan(&s, want, out);
}

static void test_one_cpu_pins_nothing(void **st)
{
    (void)st;
    live_pin_t p;
    plan((int[]){0}, 1, true, &p);
    assert_false(p.on);
    assert_int_equal(p.client, -1);
    assert_int_equal(p.mock, -1);
    assert_int_equal(p.router, -1);
    assert_int_equal(p.ncpus, 1);
    assert_string_equal(p.desc, "none: one CPU is all this process may use");
}

static void test_two_cpus_give_the_router_its_own(void **st)
{
    (void)st;
    live_pin_t p;
    plan((int[]){0, 1}, 2, true, &p);
    assert_true(p.on);
    assert_int_equal(p.client, 0);
    assert_int_equal(p.mock, 0);
    assert_int_equal(p.router, 1);
    assert_string_equal(p.desc,
                        "2 CPUs: the router on CPU 1, the client threads and the mock share CPU 0");
    plan((int[]){3, 9}, 2, true, &p); /* allowed CPUs in order, not 0 and 1 */
    assert_int_equal(p.client, 3);
    assert_int_equal(p.mock, 3);
    assert_int_equal(p.router, 9);
}

static void test_three_or_more_cpus_one_each(void **st)
{
    (void)st;
    live_pin_t p;
    plan((int[]){0, 1, 2}, 3, true, &p);
    assert_true(p.on);
    assert_int_equal(p.client, 0);
    assert_int_equal(p.mock, 1);
    assert_int_equal(p.router, 2);
    plan((int[]){2, 5, 6, 7, 40}, 5, true, &p);
    assert_int_equal(p.client, 2);
    assert_int_equal(p.mock, 5);
    assert_int_equal(p.router, 6);
    assert_int_equal(p.ncpus, 5);
    assert_string_equal(
        p.desc, "5 CPUs: the client threads on CPU 2, the mock on CPU 5, the router on CPU 6");
}

static void test_pin_off_pins_nothing(void **st)
{
    (void)st;
    live_pin_t p;
    plan((int[]){0, 1, 2, 3}, 4, false, &p);
    assert_false(p.on);
    assert_int_equal(p.router, -1);
    assert_string_equal(p.desc,
                        "off (--pin off): client, mock and router run on any of the 4 CPU(s)");
}

/* The CPU this process may use last: pinning there is visible (CPU 0 would
 * pass by luck on a one-CPU machine too, so prefer another). */
static int last_allowed_cpu(void)
{
    cpu_set_t s;
    assert_int_equal(sched_getaffinity(0, sizeof s, &s), 0);
    int last = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &s)) last = c;
    return last;
}

static void test_spawned_child_runs_on_its_cpu(void **st)
{
    (void)st;
    int cpu = last_allowed_cpu();
    assert_true(cpu >= 0);
    /* the child reports its own allowed list as the "port": CPU k -> k+100
     * (a list such as 0-1 would give 99) */
    const char *argv[] = {"/bin/sh", "-c",
                          "c=$(awk '/^Cpus_allowed_list:/ {print $2}' /proc/self/status); "
                          "echo \"listening on 127.0.0.1:$((c + 100))\"; sleep 5",
                          NULL};
    live_proc_t p;
    char err[200];
    assert_int_equal(live_proc_spawn(&p, argv, 0, cpu, err, sizeof err), 0);
    assert_int_equal(live_proc_wait_listening(&p, 5000), cpu + 100);
    live_proc_stop(&p, 1000);
}

static void *report_cpu(void *arg)
{
    int *cpu = arg;
    assert_int_equal(live_pin_thread(*cpu), 0);
    cpu_set_t s;
    assert_int_equal(pthread_getaffinity_np(pthread_self(), sizeof s, &s), 0);
    *cpu = CPU_COUNT(&s) == 1 && CPU_ISSET(*cpu, &s) ? 1 : 0;
    return NULL;
}

static void test_client_thread_runs_on_its_cpu(void **st)
{
    (void)st;
    int v = last_allowed_cpu();
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, report_cpu, &v), 0);
    pthread_join(t, NULL);
    assert_int_equal(v, 1);
    assert_int_equal(live_pin_thread(-1), 0); /* not pinned: nothing to do */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_cpu_pins_nothing),
        cmocka_unit_test(test_two_cpus_give_the_router_its_own),
        cmocka_unit_test(test_three_or_more_cpus_one_each),
        cmocka_unit_test(test_pin_off_pins_nothing),
        cmocka_unit_test(test_spawned_child_runs_on_its_cpu),
        cmocka_unit_test(test_client_thread_runs_on_its_cpu),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
