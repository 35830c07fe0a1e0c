/* live_pin.c - the CPU layout of `tether bench overhead` (live_pin.h). */
#include "bench/live_pin.h"
#include <pthread.h>
#include <stdio.h>
#include <string.h>

void live_pin_plan(const cpu_set_t *allowed, bool want, live_pin_t *out)
{
    memset(out, 0, sizeof *out);
    out->client = out->mock = out->router = -1;
    int cpu[3], n = 0;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, allowed)) {
            if (n < 3) cpu[n] = c;
            n++;
        }
    out->ncpus = n;
    if (!want) {
        snprintf(out->desc, sizeof out->desc,
                 "off (--pin off): client, mock and router run on any of the %d CPU(s)", n);
    } else if (n < 2) {
        snprintf(out->desc, sizeof out->desc, "none: one CPU is all this process may use");
    } else if (n == 2) {
        out->on = true;
        out->client = out->mock = cpu[0];
        out->router = cpu[1];
        snprintf(out->desc, sizeof out->desc,
                 "2 CPUs: the router on CPU %d, the client threads and the mock share CPU %d",
                 out->router, out->client);
    } else {
        out->on = true;
        out->client = cpu[0];
        out->mock = cpu[1];
        out->router = cpu[2];
        snprintf(out->desc, sizeof out->desc,
                 "%d CPUs: the client threads on CPU %d, the mock on CPU %d, the router on CPU %d",
                 n, out->client, out->mock, out->router);
    }
}

void live_pin_plan_self(bool want, live_pin_t *out)
{
    cpu_set_t s;
    CPU_ZERO(&s);
    if (sched_getaffinity(0, sizeof s, &s) != 0) {
        live_pin_plan(&s, false, out);
        snprintf(out->desc, sizeof out->desc, "none: this process's CPU mask cannot be read");
        return;
    }
    live_pin_plan(&s, want, out);
}

int live_pin_thread(int cpu)
{
    if (cpu < 0) return 0;
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    return pthread_setaffinity_np(pthread_self(), sizeof s, &s);
}
