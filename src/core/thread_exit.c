/* thread_exit.c - core_thread_exit_arm (thread_exit.h): one pthread key per
 * user, created on first use under a process-wide lock. */
#include "core/thread_exit.h"

static pthread_mutex_t key_lock = PTHREAD_MUTEX_INITIALIZER;

void core_thread_exit_arm(core_thread_exit_t *t, void *arg)
{
    if (!atomic_load_explicit(&t->ready, memory_order_acquire)) {
        pthread_mutex_lock(&key_lock);
        if (!atomic_load_explicit(&t->ready, memory_order_relaxed)) {
            pthread_key_create(&t->key, t->fn);
            atomic_store_explicit(&t->ready, 1, memory_order_release);
        }
        pthread_mutex_unlock(&key_lock);
    }
    pthread_setspecific(t->key, arg);
}
