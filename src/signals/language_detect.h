/* language_detect.h - language identification for the language signal
 * (SPEC §5.4 language): libcld2 with script shortcuts for very short texts.
 * Thread-safe (CLD2 keeps no mutable state); no allocation. */
#ifndef TETHER_SIGNALS_LANGUAGE_DETECT_H
#define TETHER_SIGNALS_LANGUAGE_DETECT_H
#include <stddef.h>

/* Texts longer than this are judged on their first LANG_MAX_BYTES bytes. */
#define LANG_MAX_BYTES 2048
/* Below this confidence the answer is "en" at LANG_FALLBACK_CONFIDENCE. */
#define LANG_MIN_CONFIDENCE      0.3
#define LANG_FALLBACK_CONFIDENCE 0.5

/* Detect the language of text (UTF-8; invalid bytes end the judged part).
 * Writes an ISO 639-1 code ("en", "zh", ...; a longer code only for the
 * few languages without one) to code and a confidence in [0, 1]. Always
 * produces an answer: empty or undecidable text gives "en" at 0.5. */
void lang_detect(const char *text, size_t len, char code[8], double *confidence);

/* The raw CLD2 call (language_cld2.cc): returns 0, or -1 when CLD2 says
 * unknown. percent: share of the text in the top language; reliable: CLD2's
 * own flag. */
int lang_cld2_detect(const char *text, int len, char code[8], int *percent, int *reliable);
#endif
