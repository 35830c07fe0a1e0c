/* language.c - the language family (SPEC §5.4 language): one detection of
 * the query per request (language_detect.h: CLD2 with script shortcuts);
 * a rule named by an ISO 639-1 code matches when that is the detected
 * language at or above its threshold. The detected code is also the
 * family label, for leaves that name a language without a declared rule. */
#include "config/family.h"
#include "signals/family.h"
#include "signals/language_detect.h"

#include <strings.h>

static void lang_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    sig_text_t q = sig_ctx_query(cx);
    char code[8];
    double conf = 0;
    lang_detect(q.s, q.n, code, &conf);
    const char *lab = arena_strdup(cx->a, code);
    cx->out->family_label[CFG_SIG_LANGUAGE] = lab;
    cx->out->family_score[CFG_SIG_LANGUAGE] = conf;
    for (size_t i = 0; i < n; i++) {
        const cfg_signal_t *sg = refs[i].rule;
        sig_result_t *res = refs[i].res;
        double thr = sg->has_threshold ? sg->threshold : LANG_MIN_CONFIDENCE;
        res->label = lab;
        res->value = conf;
        res->has_value = true;
        res->matched = sg->name && !strcasecmp(sg->name, code) && conf >= thr;
        res->score = res->matched ? conf : 0.0;
    }
}

CFG_SIG_FAMILY(sig_language_family, "language", "language", "language rules",
               "Language of the query (name is the ISO 639-1 code).", .threshold = "0.3",
               .flags = CFG_SIGFAM_LABELS | CFG_SIGFAM_ANY_LEAF,
               .ops = &(const sig_family_ops_t){.eval = lang_eval});
