/* jailbreak_patterns.h - the curated jailbreak / prompt-injection pattern
 * library (SPEC §5.4 jailbreak, score p) plus user-added jailbreak_patterns
 * and benign_patterns, compiled once into one vectorscan database (user
 * patterns vectorscan cannot take fall back to PCRE2 with JIT).
 *
 * Thread-safety: a jb_lib_t is immutable after jb_lib_new and may be shared
 * by any number of threads; a jb_scratch_t belongs to one thread at a time. */
#ifndef TETHER_SIGNALS_JAILBREAK_PATTERNS_H
#define TETHER_SIGNALS_JAILBREAK_PATTERNS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    JB_CAT_OVERRIDE = 0, /* "ignore previous instructions" and friends */
    JB_CAT_EXTRACTION,   /* system-prompt extraction */
    JB_CAT_PERSONA,      /* DAN / developer mode / unfiltered-AI personas */
    JB_CAT_ROLE_TAG,     /* "<|im_start|>system", "### System:", [INST] */
    JB_CAT_DECODE,       /* decode-this (base64, rot13) requests */
    JB_CAT_ROLEPLAY,     /* role-play and hypothetical-framing jailbreaks */
    JB_CAT_USER,         /* user-added jailbreak_patterns */
    JB_CAT_BENIGN,       /* user-added benign_patterns */
} jb_category_t;

/* User jailbreak patterns weigh this much (SPEC: override, extraction and
 * user patterns weigh 0.9). */
#define JB_USER_WEIGHT 0.9
#define JB_MAX_IDS     16

typedef struct {
    double p;                 /* largest weight among counted matches; 0 = none */
    unsigned n_ids;           /* counted matches (curated and user jailbreak) */
    uint16_t ids[JB_MAX_IDS]; /* their pattern ids, ascending; capped at JB_MAX_IDS */
    bool benign;              /* a benign pattern matched (curated matches vetoed) */
    uint16_t benign_id;       /* first benign pattern id when benign */
} jb_result_t;

typedef struct jb_lib jb_lib_t;
typedef struct jb_scratch jb_scratch_t;

/* Compile the curated library plus user patterns (PCRE2 syntax, matched
 * case-insensitively, '.' matching newlines, '^'/'$' at line ends). A benign
 * pattern match vetoes the curated library's matches for that text; user
 * jailbreak patterns still count. Returns NULL and fills err (naming the
 * failing pattern and why) when a user pattern does not compile. Either
 * list may be NULL/0. The caller owns the result: jb_lib_free. */
jb_lib_t *jb_lib_new(const char *const *jailbreak_patterns, size_t n_jailbreak,
                     const char *const *benign_patterns, size_t n_benign, char *err, size_t errlen);
void jb_lib_free(jb_lib_t *lib);

/* Per-thread scratch space sized for lib (and usable with any lib built
 * before it that it was grown for via jb_scratch_grow). Caller owns it. */
jb_scratch_t *jb_scratch_new(const jb_lib_t *lib);
/* Make s usable with lib too; returns 0, or -1 on allocation failure. */
int jb_scratch_grow(jb_scratch_t *s, const jb_lib_t *lib);
void jb_scratch_free(jb_scratch_t *s);

/* Score text. scratch may be NULL (a temporary one is allocated: slow).
 * Returns 0, or -1 on a scan error (out then holds p = 0). A library of the
 * curated patterns alone first asks the prefilter (jailbreak_prefilter.h)
 * and skips the scan of a text no pattern can match. */
int jb_lib_score(const jb_lib_t *lib, jb_scratch_t *scratch, const char *text, size_t len,
                 jb_result_t *out);
/* The same, always scanning (the reference the prefilter is tested against). */
int jb_lib_score_full(const jb_lib_t *lib, jb_scratch_t *scratch, const char *text, size_t len,
                      jb_result_t *out);
/* Whether lib has the prefilter (curated-only libraries), and its answer:
 * false only when no pattern of lib can match text (true without one). */
bool jb_lib_has_prefilter(const jb_lib_t *lib);
bool jb_lib_may_match(const jb_lib_t *lib, const char *text, size_t len);

/* Introspection: ids run 0..count-1; curated first, then user jailbreak,
 * then benign patterns. */
unsigned jb_lib_pattern_count(const jb_lib_t *lib);
const char *jb_lib_pattern_name(const jb_lib_t *lib, unsigned id);
double jb_lib_pattern_weight(const jb_lib_t *lib, unsigned id);
jb_category_t jb_lib_pattern_category(const jb_lib_t *lib, unsigned id);
/* How many user patterns fell back to PCRE2. */
unsigned jb_lib_pcre_count(const jb_lib_t *lib);

/* The curated library alone, built once per process (thread-safe), with a
 * per-thread scratch managed internally. Returns 0 or -1. */
int jb_patterns_score(const char *text, size_t len, jb_result_t *out);
/* Number of curated patterns, and the regex of one (ids 0..count-1). */
unsigned jb_curated_count(void);
const char *jb_curated_regex(unsigned id);
#endif
