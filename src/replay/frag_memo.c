/* frag_memo.c - the per-thread memory of checked routing fragments
 * (frag_memo.h): REPLAY_FRAG_MEMO_N slots in thread-local storage, looked up
 * by length then bytes, the least recently used slot replaced. A fragment
 * that differs from a remembered one only in digits (a signal's timing, a
 * score) counts as remembered when the change cannot have made it invalid
 * (see same_but_digits). */
#include "replay/frag_memo.h"

#include <stdint.h>
#include <string.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "replay/frag_check.h"

typedef struct {
    size_t len; /* 0: empty */
    uint64_t used;
    char text[REPLAY_FRAG_MEMO_MAX];
} slot_t;

static __thread slot_t memo[REPLAY_FRAG_MEMO_N];
static __thread uint64_t tick;

static inline bool is_digit(char c)
{
    return (unsigned char)(c - '0') < 10;
}

/* s[p] differs from the remembered text. Both must be digits, and a '0'
 * put where no digit was before it and a digit follows could be a number's
 * leading zero (invalid JSON): refused (also where it would be harmless, in
 * a string or a fraction; the full checks then run). */
static inline bool digit_swap_ok(const char *s, const char *t, size_t n, size_t p)
{
    if (!is_digit(s[p]) || !is_digit(t[p])) return false;
    return s[p] != '0' || p + 1 >= n || !is_digit(s[p + 1]) || (p && is_digit(s[p - 1]));
}

/* s[0..n) is t[0..n) with some digits replaced by other digits, and no new
 * leading zero. JSON's grammar puts digits only in strings (any digit
 * allowed) and numbers (any digit allowed but a leading zero), so such a
 * text is valid exactly when t is; and the credential pre-check
 * (frag_check.c) gives digits no role but as token bytes (a digit for a
 * digit keeps every run's length), so its answer is t's too. */
static bool same_but_digits(const char *s, const char *t, size_t n)
{
    size_t k = 0;
#ifdef __SSE2__
    const __m128i zero = _mm_set1_epi8('0'), nine = _mm_set1_epi8(9);
    for (; k + 16 <= n; k += 16) {
        __m128i a = _mm_loadu_si128((const __m128i *)(const void *)(s + k));
        __m128i b = _mm_loadu_si128((const __m128i *)(const void *)(t + k));
        unsigned ne = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, b)) ^ 0xFFFFu;
        if (!ne) continue;
        /* digits: (c - '0') as unsigned <= 9 */
        __m128i da = _mm_sub_epi8(a, zero), db = _mm_sub_epi8(b, zero);
        __m128i dig = _mm_and_si128(_mm_cmpeq_epi8(_mm_min_epu8(da, nine), da),
                                    _mm_cmpeq_epi8(_mm_min_epu8(db, nine), db));
        if (ne & ~(unsigned)_mm_movemask_epi8(dig)) return false;
        /* only a new '0' needs the look at its neighbours */
        unsigned z = ne & (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(a, zero));
        while (z) {
            size_t p = k + (unsigned)__builtin_ctz(z);
            z &= z - 1;
            if (!digit_swap_ok(s, t, n, p)) return false;
        }
    }
#endif
    for (; k < n; k++)
        if (s[k] != t[k] && !digit_swap_ok(s, t, n, k)) return false;
    return true;
}

bool replay_frag_memo_clean(const char *s, size_t n)
{
    if (!n || n > REPLAY_FRAG_MEMO_MAX) return false;
    bool digits = n >= REPLAY_FRAG_MEMO_DIGITS_MIN;
    for (size_t i = 0; i < REPLAY_FRAG_MEMO_N; i++)
        if (memo[i].len == n &&
            (!memcmp(s, memo[i].text, n) || (digits && same_but_digits(s, memo[i].text, n)))) {
            memo[i].used = ++tick;
            return true;
        }
    return false;
}

bool replay_frag_memo_learn(const char *s, size_t n)
{
    if (!n || n > REPLAY_FRAG_MEMO_MAX || replay_frag_may_hold_secret(s, n)) return false;
    size_t victim = 0;
    for (size_t i = 0; i < REPLAY_FRAG_MEMO_N; i++) {
        if (memo[i].len == n && !memcmp(memo[i].text, s, n)) return true; /* already */
        if (memo[i].used < memo[victim].used) victim = i;
    }
    memcpy(memo[victim].text, s, n);
    memo[victim].len = n;
    memo[victim].used = ++tick;
    return true;
}

void replay_frag_memo_reset(void)
{
    for (size_t i = 0; i < REPLAY_FRAG_MEMO_N; i++)
        memo[i].len = 0, memo[i].used = 0;
}
