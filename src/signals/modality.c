/* modality.c - the modality family (SPEC §5.4 modality), keyword method.
 * Built-in phrases (an image-making verb near an image noun, named image
 * models) and text-request markers are one vectorscan database scanned once
 * over the query; a rule's keywords add image phrases and both_keywords add
 * phrases asking for text and image (case-folded, word boundaries). The
 * label is DIFFUSION (0.8) for an image request, BOTH (0.75) for an image
 * request that also asks for text, else AR (1.0). A rule named AR,
 * DIFFUSION or BOTH matches when the label is its name; any other rule
 * matches when an image is requested. A rule with `classifier:` takes the
 * external classifier's label instead (AR/DIFFUSION/BOTH, threshold 0.5)
 * and falls back to the keywords when it failed (md_classified). Method
 * hybrid, and a threshold without a classifier, are refused at load
 * (md_check). */
#include "config/family.h"
#include "signals/classify.h"
#include "signals/family.h"

#include <hs/hs.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

enum { MD_IMAGE = 0, MD_TEXT, MD_N };
static const char *const md_re[MD_N] = {
    "\\b((generate|create|make|draw|paint|render|design|produce|sketch|illustrate)( "
    "me)?\\b[^.?!\\n]{0,40}?"
    "\\b(image|picture|photo|illustration|drawing|painting|logo|icon|poster|wallpaper|portrait|"
    "artwork|sketch|"
    "render(ing)?)s?|draw me|text-to-image|dall-?e|midjourney|stable diffusion)\\b",
    "\\b(explain|describe|write|tell me|summari[sz]e|caption|story|essay|list|compare|why|how "
    "does)\\b",
};

typedef struct md_rule {
    char **kw, **both;
    size_t *kw_len, *both_len, n_kw, n_both;
} md_rule_t;

typedef struct md_state {
    hs_database_t *db;
    sig_rule_table_t rules; /* of md_rule_t */
} md_state_t;

static char **fold_list(const cfg_strlist_t *l, size_t **lens, size_t *n)
{
    char **v = calloc(l->n + 1, sizeof *v);
    *lens = calloc(l->n + 1, sizeof **lens);
    *n = 0;
    for (size_t i = 0; i < l->n; i++)
        if (l->v[i] && l->v[i][0]) {
            v[*n] = sig_fold_dup(l->v[i], strlen(l->v[i]), &(*lens)[*n]);
            (*n)++;
        }
    return v;
}

static int md_rule(const sig_build_t *b, size_t r, void *rec, cfg_diags_t *d)
{
    (void)d;
    md_rule_t *mr = rec;
    mr->kw = fold_list(&b->rules[r]->keywords, &mr->kw_len, &mr->n_kw);
    mr->both = fold_list(&b->rules[r]->both_keywords, &mr->both_len, &mr->n_both);
    return 0;
}

static void md_rule_free(void *rec)
{
    md_rule_t *mr = rec;
    for (size_t i = 0; i < mr->n_kw; i++)
        free(mr->kw[i]);
    for (size_t i = 0; i < mr->n_both; i++)
        free(mr->both[i]);
    free(mr->kw);
    free(mr->both);
    free(mr->kw_len);
    free(mr->both_len);
}

static int md_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    md_state_t *s = calloc(1, sizeof *s);
    *state = s;
    unsigned flags[MD_N] = {HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH,
                            HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH};
    unsigned ids[MD_N] = {0, 1};
    hs_compile_error_t *ce = NULL;
    if (hs_compile_multi(md_re, flags, ids, MD_N, HS_MODE_BLOCK, NULL, &s->db, &ce) != HS_SUCCESS) {
        if (b->n_rules)
            sig_rule_error(d, b->cfg, b->rules[0], "built-in modality patterns: %s",
                           ce ? ce->message : "?");
        if (ce) hs_free_compile_error(ce);
        return -1;
    }
    return sig_rule_table_init(&s->rules, b, sizeof(md_rule_t), md_rule, md_rule_free, d);
}

static void md_free(void *p)
{
    md_state_t *s = p;
    if (!s) return;
    sig_rule_table_deinit(&s->rules);
    if (s->db) hs_free_database(s->db);
    free(s);
}

static void *md_scratch_new(const void *p)
{
    const md_state_t *s = p;
    hs_scratch_t *x = NULL;
    if (s->db) hs_alloc_scratch(s->db, &x);
    return x;
}
static void md_scratch_free(void *x)
{
    hs_free_scratch(x);
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    *(unsigned *)ctx |= 1u << id;
    return 0;
}

static bool any_phrase(sig_text_t f, char *const *v, const size_t *lens, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t from = 0;
        while (from + lens[i] <= f.n) {
            const char *h = memmem(f.s + from, f.n - from, v[i], lens[i]);
            if (!h) break;
            size_t at = (size_t)(h - f.s);
            if (sig_at_word_boundary(f.s, f.n, at, at + lens[i])) return true;
            from = at + 1;
        }
    }
    return false;
}

static const char *label_of(unsigned seen, bool kw, bool both, double *score)
{
    if (both || ((seen & 1u << MD_IMAGE || kw) && (seen & 1u << MD_TEXT)))
        return *score = 0.75, "BOTH";
    if (seen & 1u << MD_IMAGE || kw) return *score = 0.8, "DIFFUSION";
    return *score = 1.0, "AR";
}

/* A rule with `classifier:` takes the classifier's label (AR, DIFFUSION or
 * BOTH, case-insensitive): a rule named like a label matches that label, any
 * other rule any label but AR, when the label's probability reaches the
 * threshold (0.5). True when settled (verdict, or closed-mode error); false
 * when the keyword method decides (no classifier, or it failed open). */
static bool md_classified(sig_ctx_t *cx, const cfg_signal_t *sg, sig_result_t *res, bool named,
                          const char **fam_label, double *fam_score)
{
    const sig_cls_out_t *o = sig_cls_rule(cx, sg, res);
    if (!o) return res->error != NULL;
    const char *lab = o->label ? o->label : "";
    double th = sg->has_threshold ? sg->threshold : 0.5;
    bool hit = named ? !strcasecmp(lab, sg->name) : strcasecmp(lab, "AR") != 0;
    res->label = lab;
    res->matched = hit && o->score >= th;
    res->score = res->matched ? o->score : 0.0;
    res->value = o->score;
    res->has_value = true;
    res->latency_us = o->latency_us;
    if (!*fam_label) {
        *fam_label = lab;
        *fam_score = o->score;
    }
    return true;
}

static void md_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const md_state_t *s = p;
    hs_scratch_t *x = cx->scratch[CFG_SIG_MODALITY];
    if (!s->db || !x) return;
    sig_text_t f = sig_ctx_folded(cx);
    unsigned seen = 0;
    if (f.n && hs_scan(s->db, f.s, (unsigned)f.n, 0, x, on_match, &seen) != HS_SUCCESS) {
        for (size_t i = 0; i < n; i++)
            refs[i].res->error = "scan_failed";
        return;
    }
    bool any_kw = false, any_both = false;
    const char *cls_label = NULL;
    double cls_score = 0;
    for (size_t i = 0; i < n; i++) {
        const md_rule_t *mr = sig_rule_at(&s->rules, refs[i].id);
        sig_result_t *res = refs[i].res;
        const char *nm = refs[i].rule->name ? refs[i].rule->name : "";
        bool named = !strcmp(nm, "AR") || !strcmp(nm, "DIFFUSION") || !strcmp(nm, "BOTH");
        if (md_classified(cx, refs[i].rule, res, named, &cls_label, &cls_score)) continue;
        bool kw = any_phrase(f, mr->kw, mr->kw_len, mr->n_kw);
        bool both = any_phrase(f, mr->both, mr->both_len, mr->n_both);
        any_kw |= kw, any_both |= both;
        double score;
        const char *lab = label_of(seen, kw, both, &score);
        res->label = lab;
        res->matched = named ? !strcmp(nm, lab) : strcmp(lab, "AR") != 0;
        res->score = res->matched ? score : 0.0;
        res->value = score;
        res->has_value = true;
    }
    double score;
    cx->out->family_label[CFG_SIG_MODALITY] = label_of(seen, any_kw, any_both, &score);
    cx->out->family_score[CFG_SIG_MODALITY] = score;
    if (cls_label) { /* a classifier answered: its verdict is the family's */
        cx->out->family_label[CFG_SIG_MODALITY] = cls_label;
        cx->out->family_score[CFG_SIG_MODALITY] = cls_score;
    }
}

/* What the keyword method cannot honour is refused, not ignored. */
static const char *md_check(const cfg_signal_t *r)
{
    if (r->method && !strcmp(r->method, "hybrid"))
        return "modality method hybrid is not supported (it needs embedding banks that are not "
               "built): use method keyword";
    if (r->has_threshold && !r->classifier)
        return "threshold is not supported on modality rules without a classifier: the keyword "
               "method has no score to compare (remove it)";
    return NULL;
}

CFG_SIG_FAMILY(
    sig_modality_family, "modality", "modality", "modality rules",
    "Output modality (rules AR, DIFFUSION, BOTH).", .threshold = CFG_SIG_THRESHOLD_UNSET,
    .check = md_check,
    .fields = (const cfg_field_t[]){CFG_FENUM(cfg_signal_t, "method", method, "keyword",
                                              "keyword|hybrid",
                                              "detection method (hybrid: not supported)"),
                                    CFG_FLIST(cfg_signal_t, "keywords", keywords, NULL,
                                              "image-generation phrases"),
                                    CFG_FLIST(cfg_signal_t, "both_keywords", both_keywords, NULL,
                                              "phrases asking for text and image"),
                                    CFG_SIGF_CLASSIFIER,
                                    {0}},
    .flags = CFG_SIGFAM_LABELS | CFG_SIGFAM_CLASSIFIER,
    .builtin_leaves = (const char *const[]){"AR", "DIFFUSION", "BOTH", NULL},
    .ops = &(const sig_family_ops_t){.compile = md_compile,
                                     .free = md_free,
                                     .scratch_new = md_scratch_new,
                                     .scratch_free = md_scratch_free,
                                     .eval = md_eval});
