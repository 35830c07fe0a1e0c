/* frag_memo.h - the replay writer's memory of routing fragments it has
 * already checked: a fragment byte for byte equal to one that was valid JSON
 * and gave the credential pre-check nothing (frag_check.h) needs neither
 * check again. A router renders the same decision trace and candidates for
 * most of its requests, so most records repeat two of their three large
 * fragments (docs/PERFORMANCE.md "Replay writer, fourth pass").
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

/* True when s[0..n) equals a fragment this thread remembers as valid JSON
 * holding nothing the credential scan could mask. */
bool replay_frag_memo_clean(const char *s, size_t n);
/* s[0..n) was just found valid JSON (by any of record.c's checks): run the
 * credential pre-check and remember it when that finds nothing. */
void replay_frag_memo_learn(const char *s, size_t n);
/* Forget everything this thread remembers (tests). */
void replay_frag_memo_reset(void);
#endif
