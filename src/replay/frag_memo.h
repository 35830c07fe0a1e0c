/* frag_memo.h - the replay writer's memory of routing fragments it has
 * already checked: a fragment byte for byte equal to one that was valid JSON
 * and gave the credential pre-check nothing (frag_check.h) needs neither
 * check again. A router renders the same decision trace and candidates for
 * most of its requests, so most records repeat two of their three large
 * fragments (docs/PERFORMANCE.md "Replay writer, fourth pass").
 *
 * A fragment that differs from a remembered one only in digits swapped for
 * digits (the signals' timings and scores change on every request) counts
 * as remembered unless a swap could have made a number's leading zero: in
 * JSON a digit is a string's byte or a number's, so such a text is valid
 * exactly when the remembered one is, and the credential pre-check treats
 * a digit only as a token byte, so its answer is the same too.
 *
 * Per thread (the writer's), a few fragments of at most
 * REPLAY_FRAG_MEMO_MAX bytes each, kept in thread-local storage (no
 * allocation), the least recently used replaced. A fragment is remembered
 * only by replay_frag_memo_learn, which record.c calls only for text its
 * validation accepted and which runs the credential pre-check itself, so a
 * hit answers exactly what both checks would. */
#ifndef TETHER_REPLAY_FRAG_MEMO_H
#define TETHER_REPLAY_FRAG_MEMO_H
#include <stdbool.h>
#include <stddef.h>

#define REPLAY_FRAG_MEMO_N   8    /* fragments remembered per thread */
#define REPLAY_FRAG_MEMO_MAX 4096 /* bytes, at most, of one */
/* The digit rule applies from this length: a shorter fragment is cheap to
 * check, and stays byte for byte. */
#define REPLAY_FRAG_MEMO_DIGITS_MIN 128

/* True when s[0..n) equals a fragment this thread remembers as valid JSON
 * holding nothing the credential scan could mask, or (from
 * REPLAY_FRAG_MEMO_DIGITS_MIN bytes) differs from one only in digits as
 * above. */
bool replay_frag_memo_clean(const char *s, size_t n);
/* s[0..n) was just found valid JSON (by any of record.c's checks): run the
 * credential pre-check and remember it when that finds nothing. True when
 * it is remembered (the pre-check found nothing); false when the pre-check
 * may find something or did not run (empty, longer than
 * REPLAY_FRAG_MEMO_MAX). */
bool replay_frag_memo_learn(const char *s, size_t n);
/* Forget everything this thread remembers (tests). */
void replay_frag_memo_reset(void);
#endif
