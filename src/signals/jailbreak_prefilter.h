/* jailbreak_prefilter.h - a cheap "can this text match?" test run before
 * the jailbreak pattern database (jailbreak_patterns.c). Each pattern names
 * the words any match of it must contain, as groups: the pattern can only
 * match when every one of its groups has a word in the text. A word here is
 * a case-insensitive (ASCII) prefix of a text word that starts at an ASCII
 * letter not preceded by one; every such position of the regex (after \b,
 * \s or a non-letter literal) is one. The filter finds word starts, looks
 * each up in a small table and ticks the groups it belongs to; when no
 * pattern has all its groups ticked, no pattern can match and the database
 * scan is skipped. A wrong word list would change results: the anchors are
 * pinned against the full scan by tests/unit/signals/test_jailbreak_prefilter.c.
 *
 * Thread-safety: immutable after jb_pf_new; any number of threads. */
#ifndef TETHER_SIGNALS_JAILBREAK_PREFILTER_H
#define TETHER_SIGNALS_JAILBREAK_PREFILTER_H
#include <stdbool.h>
#include <stddef.h>

typedef struct jb_pf jb_pf_t;

/* anchors[k]: pattern k's groups, separated by ',', each a list of words
 * separated by spaces (lower case; each at least two letters, starting with
 * two ASCII letters; later bytes may be '_' or letters). A NULL or empty
 * entry means "no anchors": the filter then always says maybe. Returns
 * NULL when the list cannot be held (the caller then always scans). */
jb_pf_t *jb_pf_new(const char *const *anchors, size_t n_patterns);
void jb_pf_free(jb_pf_t *pf);

/* False only when no pattern can match text[0..len). */
bool jb_pf_may_match(const jb_pf_t *pf, const char *text, size_t len);
#endif
