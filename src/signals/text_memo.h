/* text_memo.h - a small memo of results that depend on a text alone, kept
 * in a family's per-thread scratch (family.h) across requests. An agent
 * re-sends its whole conversation every turn, so the query and every
 * earlier tool result reach the signals again turn after turn; a family
 * whose result is a function of the text (the jailbreak pattern score,
 * the PII entities) looks the text up here before scanning it.
 *
 * Entries are keyed by a caller's tag (what was computed: a library, a
 * text form) and the text's bytes, compared in full (the hash picks the
 * set and filters the ways; equality is decided by the bytes), so a hit is
 * exactly the stored result. 16 sets of 4 ways; an
 * entry goes when its set needs room (least recently used) or when the
 * ring of SIG_MEMO_BYTES that holds the entries, allocated with the memo so
 * that a put never allocates, wraps over it. Texts over SIG_MEMO_MAX_TEXT
 * bytes are not kept. Not thread-safe (one scratch, one evaluation at a
 * time). */
#ifndef TETHER_SIGNALS_TEXT_MEMO_H
#define TETHER_SIGNALS_TEXT_MEMO_H
#include "signals/family.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SIG_MEMO_MAX_TEXT (32u << 10)
#define SIG_MEMO_BYTES    (256u << 10)

typedef struct sig_memo sig_memo_t;

sig_memo_t *sig_memo_new(void);
void sig_memo_free(sig_memo_t *m);

/* A key: the caller's tag and the text s[0..n) (not copied: it must stay
 * until the put), with its hash (the text's XXH3, the tag mixed in),
 * computed once for a get and the put that follows a miss. */
typedef struct {
    uint64_t tag, h;
    const char *s;
    size_t n;
} sig_memo_key_t;
sig_memo_key_t sig_memo_key(uint64_t tag, const char *s, size_t n);

/* The value stored for k: true with *val / *vlen pointing at its bytes
 * (valid until the next sig_memo_put on m), false when unknown. */
bool sig_memo_get(sig_memo_t *m, const sig_memo_key_t *k, const void **val, size_t *vlen);
/* Remember vlen bytes of val for k (a no-op when the text is too long). */
void sig_memo_put(sig_memo_t *m, const sig_memo_key_t *k, const void *val, size_t vlen);

/* The results of a family's rules on one text, for a family whose results
 * depend on that text and the rules alone (keyword on the query), kept per
 * rule id (the memo must be the family's own). get: true when every ref's
 * result is remembered, then written to refs[i].res (matched, score, value,
 * has_value); else false and nothing written. put: remember each result
 * that has no label, error, fallback or latency (so those four fields are
 * all of it). At most SIG_MEMO_MAX_REFS rules, else get misses and put
 * keeps nothing. */
#define SIG_MEMO_MAX_REFS 16
bool sig_memo_get_results(sig_memo_t *m, const sig_ref_t *refs, size_t n, const char *s,
                          size_t len);
void sig_memo_put_results(sig_memo_t *m, const sig_ref_t *refs, size_t n, const char *s,
                          size_t len);

/* Tests: while set, every get misses and put keeps nothing, process-wide
 * (the families then compute every result as before the memo). */
void sig_memo_bypass(bool on);
#endif
