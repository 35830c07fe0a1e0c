/* structure.c - the structure family (SPEC §5.4 structure): features of the
 * query text. Sources: regex (occurrences of PCRE2 patterns, JIT),
 * keyword_set (occurrences of phrases at word boundaries, case-folded),
 * sequence (phrases appearing in order; each complete run counts once) and
 * text_bytes (the query's size). Feature types: exists (0/1), count,
 * density (count per text unit: a CJK character or an alphanumeric run) and
 * sequence (0/1: the sequence appears). A predicate compares the value;
 * without one, the rule matches when the value is above 0. */
#include "config/family.h"
#include "signals/family.h"
#include "signals/regex.h"

#include <stdlib.h>
#include <string.h>

enum { SF_EXISTS = 0, SF_COUNT, SF_DENSITY, SF_SEQUENCE };
enum { SS_REGEX = 0, SS_KEYWORDS, SS_SEQUENCE, SS_BYTES };

typedef struct st_rule {
    int ftype, stype;
    pcre2_code **re;
    size_t n_re;
    char **kw; /* folded phrases */
    size_t *kw_len, n_kw;
    sig_pred_t pred;
    bool ok;
} st_rule_t;

static const char *scalar(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *v = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, key) : NULL;
    return v && v->kind == CFG_NODE_SCALAR ? v->str : NULL;
}

/* Position of name in the NULL-terminated names, -1 when absent or NULL. */
static int name_index(const char *name, const char *const *names)
{
    for (int i = 0; name && names[i]; i++)
        if (!strcmp(name, names[i])) return i;
    return -1;
}

/* A scalar or a sequence of scalars under key. */
static size_t strings(const cfg_node_t *map, const char *key, const char **out, size_t max)
{
    const cfg_node_t *v = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, key) : NULL;
    if (!v) return 0;
    if (v->kind == CFG_NODE_SCALAR) {
        out[0] = v->str;
        return 1;
    }
    size_t n = 0;
    for (size_t i = 0; v->kind == CFG_NODE_SEQ && i < v->n && n < max; i++)
        if (v->items[i]->kind == CFG_NODE_SCALAR) out[n++] = v->items[i]->str;
    return n;
}

static int st_rule(const sig_build_t *b, size_t r, void *rec, cfg_diags_t *d)
{
    const cfg_signal_t *sg = b->rules[r];
    st_rule_t *sr = rec;
    int rc = 0;
    const char *ft = scalar(sg->feature, "type");
    const cfg_node_t *src = sg->feature && sg->feature->kind == CFG_NODE_MAP
                                ? cfg_node_get(sg->feature, "source")
                                : NULL;
    const char *st = scalar(src, "type");
    static const char *const ftypes[] = {"exists", "count", "density", "sequence", NULL},
                             *const stypes[] = {"regex", "keyword_set", "sequence", "text_bytes",
                                                NULL};
    sr->ftype = name_index(ft, ftypes); /* order of SF_* */
    sr->stype = name_index(st, stypes); /* order of SS_* */
    if (sr->ftype < 0) {
        sig_rule_error(d, b->cfg, sg, "feature.type must be exists, count, density or sequence");
        return -1;
    }
    if (sr->stype < 0) {
        sig_rule_error(d, b->cfg, sg,
                       "feature.source.type must be regex, keyword_set, sequence or text_bytes");
        return -1;
    }
    const char *items[256];
    size_t ni = 0;
    if (sr->stype == SS_REGEX) {
        ni = strings(src, "pattern", items, 256);
        ni += strings(src, "patterns", items + ni, 256 - ni);
        const char *cs = scalar(src, "case_sensitive");
        bool caseless = !(cs && !strcmp(cs, "true"));
        sr->re = calloc(ni + 1, sizeof *sr->re);
        for (size_t i = 0; i < ni; i++) {
            pcre2_code *c = sig_regex_compile(items[i], PCRE2_ZERO_TERMINATED,
                                              (caseless ? PCRE2_CASELESS : 0) | PCRE2_MULTILINE, d,
                                              b->cfg, sg, "feature.source pattern", i);
            if (!c) {
                rc = -1;
                continue;
            }
            sr->re[sr->n_re++] = c;
        }
    } else if (sr->stype == SS_KEYWORDS || sr->stype == SS_SEQUENCE) {
        ni = strings(src, sr->stype == SS_KEYWORDS ? "keywords" : "sequence", items, 256);
        if (!ni)
            ni = strings(src, sr->stype == SS_KEYWORDS ? "keyword_set" : "keywords", items, 256);
        sr->kw = calloc(ni + 1, sizeof(char *));
        sr->kw_len = calloc(ni + 1, sizeof(size_t));
        for (size_t i = 0; i < ni; i++)
            if (items[i][0]) {
                sr->kw[sr->n_kw] = sig_fold_dup(items[i], strlen(items[i]), &sr->kw_len[sr->n_kw]);
                sr->n_kw++;
            }
    }
    if ((sr->stype == SS_REGEX && !sr->n_re && rc == 0) ||
        ((sr->stype == SS_KEYWORDS || sr->stype == SS_SEQUENCE) && !sr->n_kw)) {
        sig_rule_error(d, b->cfg, sg, "feature.source %s needs %s", st,
                       sr->stype == SS_REGEX      ? "pattern or patterns"
                       : sr->stype == SS_KEYWORDS ? "keywords"
                                                  : "sequence");
        return -1;
    }
    const char *why = NULL;
    if (sig_pred_parse(sg->predicate, &sr->pred, &why) != 0) {
        sig_rule_error(d, b->cfg, sg, "%s", why);
        return -1;
    }
    sr->ok = true;
    return rc;
}

static void st_rule_free(void *rec)
{
    st_rule_t *sr = rec;
    for (size_t i = 0; i < sr->n_re; i++)
        pcre2_code_free(sr->re[i]);
    free(sr->re);
    for (size_t i = 0; i < sr->n_kw; i++)
        free(sr->kw[i]);
    free(sr->kw);
    free(sr->kw_len);
}

static int st_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    return sig_rule_table_compile(b, state, d, sizeof(st_rule_t), st_rule, st_rule_free);
}

static void *st_scratch_new(const void *p)
{
    return pcre2_match_data_create(1, NULL);
}
static void st_scratch_free(void *x)
{
    pcre2_match_data_free(x);
}

/* Next boundary-respecting occurrence of kw in t at or after from; -1 none. */
static long find_phrase(sig_text_t t, size_t from, const char *kw, size_t kl)
{
    while (from + kl <= t.n) {
        const char *h = memmem(t.s + from, t.n - from, kw, kl);
        if (!h) return -1;
        size_t at = (size_t)(h - t.s);
        if (sig_at_word_boundary(t.s, t.n, at, at + kl)) return (long)at;
        from = at + 1;
    }
    return -1;
}

static double source_count(const st_rule_t *sr, sig_ctx_t *cx, pcre2_match_data *md)
{
    sig_text_t q = sig_ctx_query(cx);
    switch (sr->stype) {
    case SS_BYTES: return (double)q.n;
    case SS_REGEX: {
        size_t c = 0;
        for (size_t i = 0; i < sr->n_re && md; i++) {
            size_t off = 0;
            while (off <= q.n &&
                   pcre2_match(sr->re[i], (PCRE2_SPTR)q.s, q.n, off, 0, md, NULL) >= 0) {
                PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
                c++;
                off = ov[1] > ov[0] ? ov[1] : ov[0] + 1;
            }
        }
        return (double)c;
    }
    case SS_KEYWORDS: {
        sig_text_t f = sig_ctx_folded(cx);
        size_t c = 0;
        for (size_t i = 0; i < sr->n_kw; i++) {
            long at = 0;
            while ((at = find_phrase(f, (size_t)at, sr->kw[i], sr->kw_len[i])) >= 0) {
                c++;
                at += (long)sr->kw_len[i];
            }
        }
        return (double)c;
    }
    case SS_SEQUENCE: {
        sig_text_t f = sig_ctx_folded(cx);
        size_t c = 0, pos = 0;
        for (;;) {
            size_t k = 0;
            for (; k < sr->n_kw; k++) {
                long at = find_phrase(f, pos, sr->kw[k], sr->kw_len[k]);
                if (at < 0) break;
                pos = (size_t)at + sr->kw_len[k];
            }
            if (k < sr->n_kw) break;
            c++;
        }
        return (double)c;
    }
    }
    return 0;
}

static void st_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const sig_rule_table_t *s = p;
    pcre2_match_data *md = cx->scratch[CFG_SIG_STRUCTURE];
    for (size_t i = 0; i < n; i++) {
        const st_rule_t *sr = sig_rule_at(s, refs[i].id);
        sig_result_t *res = refs[i].res;
        if (!sr->ok) {
            res->error = "bad_feature";
            continue;
        }
        double c = source_count(sr, cx, md), v = c;
        if (sr->ftype == SF_EXISTS || sr->ftype == SF_SEQUENCE)
            v = c > 0 ? 1 : 0;
        else if (sr->ftype == SF_DENSITY) {
            sig_text_t q = sig_ctx_query(cx);
            size_t units = sig_text_units(q.s, q.n);
            v = units ? c / (double)units : 0;
        }
        sig_pred_result(&sr->pred, v, res);
    }
}

CFG_SIG_FAMILY(sig_structure_family, "structure", "structure", "structure rules",
               "Text structure features.",
               .fields = (const cfg_field_t[]){CFG_SIGF_FEATURE, CFG_SIGF_PREDICATE, {0}},
               .ops = &(const sig_family_ops_t){.compile = st_compile,
                                                .free = sig_rule_table_free,
                                                .scratch_new = st_scratch_new,
                                                .scratch_free = st_scratch_free,
                                                .eval = st_eval});
