/* thread_exit.h - run a function when a thread that used something exits
 * (a per-thread cache's drain), without a pthread_once and key per user. */
#ifndef TETHER_CORE_THREAD_EXIT_H
#define TETHER_CORE_THREAD_EXIT_H
#include <pthread.h>
#include <stdatomic.h>

typedef struct core_thread_exit {
    void (*fn)(void *arg); /* run at the exit of a thread that armed it */
    pthread_key_t key;
    atomic_int ready; /* key created */
} core_thread_exit_t;

#define CORE_THREAD_EXIT_INIT(f)                                                                   \
    {                                                                                              \
        .fn = (f)                                                                                  \
    }

/* Have t->fn(arg) run when the calling thread exits (arg non-NULL; arming
 * again replaces arg). Thread-safe. */
void core_thread_exit_arm(core_thread_exit_t *t, void *arg);
#endif
