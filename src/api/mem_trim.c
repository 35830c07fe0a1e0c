/* mem_trim.c - hand memory back to the system after large requests. A
 * request's arena, body and translation buffers are freed when it ends, but
 * glibc keeps freed heap pages mapped unless they sit at the top of a heap,
 * so one 30 MB request used to leave the router hundreds of MB larger for
 * good (issue 20 item 6). Requests with a body of 1 MiB or more are noted;
 * worker 0 then calls malloc_trim(0) (which returns free pages from every
 * malloc arena) on its next two ticks, 2 s apart, so the pages come back
 * once the request has finished. Small requests never pay for it. */
#include "api/app.h"
#include "core/log.h"

#include <event2/event.h>
#include <malloc.h>
#include <stdatomic.h>
#include <stdlib.h>

#define TRIM_BIG_BODY (1u << 20)
#define TRIM_TICK_MS  2000

static _Atomic uint64_t g_big_seq; /* large requests seen so far */

void api_mem_note_body(size_t body_len)
{
    if (body_len >= TRIM_BIG_BODY) atomic_fetch_add(&g_big_seq, 1);
}

typedef struct trim_state {
    struct event *ev;
    uint64_t seen;
    int pending; /* ticks left that trim */
} trim_state_t;

static void trim_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    trim_state_t *t = arg;
    uint64_t seq = atomic_load(&g_big_seq);
    if (seq != t->seen) {
        t->seen = seq;
        t->pending = 2;
    }
    if (t->pending > 0) {
        t->pending--;
        malloc_trim(0);
    }
}

void *api_mem_trim_start(struct event_base *base)
{
    trim_state_t *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->ev = event_new(base, -1, EV_PERSIST, trim_tick, t);
    struct timeval tv = {TRIM_TICK_MS / 1000, (TRIM_TICK_MS % 1000) * 1000};
    if (!t->ev || event_add(t->ev, &tv) != 0) {
        if (t->ev) event_free(t->ev);
        free(t);
        return NULL;
    }
    return t;
}

void api_mem_trim_stop(void *state)
{
    trim_state_t *t = state;
    if (!t) return;
    event_free(t->ev);
    free(t);
}
