/* frag_memo.c - the per-thread memory of checked routing fragments
 * (frag_memo.h): REPLAY_FRAG_MEMO_N slots in thread-local storage, looked up
 * by length then bytes, the least recently used slot replaced. */
#include "replay/frag_memo.h"

#include <stdint.h>
#include <string.h>

#include "replay/frag_check.h"

typedef struct {
    size_t len; /* 0: empty */
    uint64_t used;
    char text[REPLAY_FRAG_MEMO_MAX];
} slot_t;

static __thread slot_t memo[REPLAY_FRAG_MEMO_N];
static __thread uint64_t tick;

bool replay_frag_memo_clean(const char *s, size_t n)
{
    if (!n || n > REPLAY_FRAG_MEMO_MAX) return false;
    for (size_t i = 0; i < REPLAY_FRAG_MEMO_N; i++)
        if (memo[i].len == n && !memcmp(memo[i].text, s, n)) {
            memo[i].used = ++tick;
            return true;
        }
    return false;
}

void replay_frag_memo_learn(const char *s, size_t n)
{
    if (!n || n > REPLAY_FRAG_MEMO_MAX || replay_frag_may_hold_secret(s, n)) return;
    size_t victim = 0;
    for (size_t i = 0; i < REPLAY_FRAG_MEMO_N; i++) {
        if (memo[i].len == n && !memcmp(memo[i].text, s, n)) return; /* already */
        if (memo[i].used < memo[victim].used) victim = i;
    }
    memcpy(memo[victim].text, s, n);
    memo[victim].len = n;
    memo[victim].used = ++tick;
}

void replay_frag_memo_reset(void)
{
    for (size_t i = 0; i < REPLAY_FRAG_MEMO_N; i++)
        memo[i].len = 0, memo[i].used = 0;
}
