/* sig_echo.c - a test-only signal family, written exactly as a member in
 * src/signals/ would be: rules `routing.signals.echoes[]` ({name, word,
 * weight}), leaf type `echo`. A rule matches when the query contains its
 * word; its score is its weight. Its own options live in its own struct
 * (echo_opts_t, CFG_FF_OPT fields), so cfg_signal_t needed no edit. */
#include "config/family.h"
#include "signals/family.h"
#include <string.h>

typedef struct echo_opts {
    char *word;
    double weight;
} echo_opts_t;

static void echo_eval(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    sig_text_t q = sig_ctx_query(cx);
    for (size_t i = 0; i < n; i++) {
        const echo_opts_t *o = refs[i].rule->opts;
        bool hit = o->word && q.n && memmem(q.s, q.n, o->word, strlen(o->word));
        refs[i].res->matched = hit;
        refs[i].res->score = hit ? o->weight : 0.0;
    }
}

const cfg_sig_family_t sig_echo_family = {
    .name = "echo",
    .key = "echoes",
    .list_doc = "echo rules",
    .doc = "Test-only: the query contains a word.",
    .fields = (const cfg_field_t[]){{.key = "word",
                                     .type = CFG_F_STR,
                                     .off = offsetof(echo_opts_t, word),
                                     .flags = CFG_FF_REQUIRED | CFG_FF_OPT,
                                     .doc = "the word to find"},
                                    {.key = "weight",
                                     .type = CFG_F_DOUBLE,
                                     .off = offsetof(echo_opts_t, weight),
                                     .def = "0.5",
                                     .flags = CFG_FF_UNIT | CFG_FF_OPT,
                                     .doc = "score of a match"},
                                    {0}},
    .opts_size = sizeof(echo_opts_t),
    .ops = &(const sig_family_ops_t){.eval = echo_eval},
};
