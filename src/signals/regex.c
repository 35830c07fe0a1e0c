/* regex.c - sig_regex_compile (regex.h): PCRE2 compile, JIT and the compile
 * error at the rule. */
#include "signals/regex.h"

pcre2_code *sig_regex_compile(const char *pat, size_t len, uint32_t opts, cfg_diags_t *d,
                              const cfg_t *cfg, const cfg_signal_t *sg, const char *what,
                              size_t idx)
{
    int err;
    PCRE2_SIZE off;
    pcre2_code *c = pcre2_compile((PCRE2_SPTR)pat, len, opts, &err, &off, NULL);
    if (!c) {
        PCRE2_UCHAR msg[160];
        pcre2_get_error_message(err, msg, sizeof msg);
        sig_rule_error(d, cfg, sg, "%s %zu does not compile at offset %zu: %s", what, idx,
                       (size_t)off, (const char *)msg);
        return NULL;
    }
    pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
    return c;
}
