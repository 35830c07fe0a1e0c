/* regex.h - compiling a rule's PCRE2 pattern with its error reported at the
 * rule (keyword.c regex keywords, structure.c feature.source patterns). */
#ifndef TETHER_SIGNALS_REGEX_H
#define TETHER_SIGNALS_REGEX_H
#include "signals/family.h"
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

/* pat (len bytes, or PCRE2_ZERO_TERMINATED) compiled with opts and JIT
 * compiled; NULL after adding the error "<what> <idx> does not compile at
 * offset <n>: <pcre2's message>" at rule sg. */
pcre2_code *sig_regex_compile(const char *pat, size_t len, uint32_t opts, cfg_diags_t *d,
                              const cfg_t *cfg, const cfg_signal_t *sg, const char *what,
                              size_t idx);
#endif
