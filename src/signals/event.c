/* event.c - the event family (SPEC §5.4 event). Built-in regex families
 * (event types outage, incident, security, deadline, billing, data_loss;
 * severities critical/high/medium/low; urgency; temporal expressions) are
 * compiled into one vectorscan database and scanned once over the query per
 * request. Each configured criterion of a rule is one test: event_types
 * (any listed type seen), severities (any listed severity seen),
 * action_codes (any regex matches), temporal (true: a temporal or urgency
 * expression; or a map whose true keys urgency / expressions / deadline are
 * tests of their own), patterns {type: [regex]} (one test per type). Any
 * passing test matches, score = 0.5 + 0.5·passed/configured. A rule with no
 * criteria matches any built-in event type. */
#include "config/family.h"
#include "signals/family.h"

#include <hs/hs.h>
#include <stdlib.h>
#include <string.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

enum {
    EV_OUTAGE = 0,
    EV_INCIDENT,
    EV_SECURITY,
    EV_DEADLINE,
    EV_BILLING,
    EV_DATA_LOSS,
    EV_SEV_CRITICAL,
    EV_SEV_HIGH,
    EV_SEV_MEDIUM,
    EV_SEV_LOW,
    EV_URGENCY,
    EV_TEMPORAL,
    EV_N
};
static const char *const ev_names[EV_N] = {"outage",  "incident",  "security", "deadline",
                                           "billing", "data_loss", "critical", "high",
                                           "medium",  "low",       "urgency",  "temporal"};
static const char *const ev_re[EV_N] = {
    "\\b(outages?|downtime|(is|are|went|goes|was) down|not responding|unreachable|service "
    "unavailable|"
    "5(02|03|04) errors?|degraded (service|performance))\\b",
    "\\b(incidents?|post-?mortems?|sev "
    "?[0-4]|on-?call|pagerduty|paged|escalat(e|ed|ion)|rollback|roll back|hotfix)\\b",
    "\\b(breach(ed)?|vulnerabilit(y|ies)|cve-\\d{4}-\\d+|exploit(s|ed)?|malware|ransomware|"
    "phishing|leaked|"
    "compromised|unauthori[sz]ed access|intrusion|zero-day|sql injection)\\b",
    "\\b(deadlines?|due (by|on|today|tomorrow)|by (eod|eow|end of (the "
    ")?(day|week)|tomorrow|tonight|monday|"
    "tuesday|wednesday|thursday|friday)|before the release)\\b",
    "\\b(invoices?|billing|billed|charged|refunds?|payments?|overcharged|subscriptions?|receipts?|"
    "chargebacks?)\\b",
    "\\b(data loss|lost (all |my |our |the )?(data|files|records|database)|deleted "
    "(all|everything|the database|prod)|"
    "corrupted|wiped|dropped (the )?(table|database)|unrecoverable|backups? (failed|missing))\\b",
    "\\b(critical|sev ?[01]|p0|blocker|emergency|catastrophic)\\b",
    "\\b(high (severity|priority)|major|severe|sev ?2|p1)\\b",
    "\\b(medium (severity|priority)|moderate|sev ?3|p2)\\b",
    "\\b(low (severity|priority)|minor|trivial|sev ?4|p3|cosmetic)\\b",
    "\\b(urgent(ly)?|asap|immediately|right (now|away)|time[- ]sensitive|as soon as possible)\\b",
    "\\b(today|tonight|tomorrow|yesterday|this (morning|afternoon|evening|week)|in \\d+ "
    "(minutes?|hours?|days?)|"
    "\\d{1,2}:\\d{2}|(mon|tues|wednes|thurs|fri|satur|sun)day|\\d{4}-\\d{2}-\\d{2}|by "
    "(eod|noon|midnight))\\b",
};

typedef struct ev_test {
    int kind;      /* 0 builtin mask, 1 regex list */
    uint32_t mask; /* builtin bits that pass */
    pcre2_code **re;
    size_t n_re;
    const char *label;
} ev_test_t;

typedef struct ev_rule {
    ev_test_t *tests;
    size_t n;
} ev_rule_t;

typedef struct ev_state {
    hs_database_t *db;
    ev_rule_t *rules;
    size_t n;
    bool has_re;
} ev_state_t;

typedef struct ev_scratch {
    hs_scratch_t *hs;
    pcre2_match_data *md;
} ev_scratch_t;

static int add_regexes(const sig_build_t *b, const cfg_signal_t *sg, ev_test_t *t,
                       const char *const *v, size_t n, cfg_diags_t *d)
{
    t->kind = 1;
    t->re = calloc(n + 1, sizeof *t->re);
    for (size_t i = 0; i < n; i++) {
        int err;
        PCRE2_SIZE off;
        pcre2_code *c = pcre2_compile((PCRE2_SPTR)v[i], PCRE2_ZERO_TERMINATED, PCRE2_CASELESS, &err,
                                      &off, NULL);
        if (!c) {
            PCRE2_UCHAR msg[160];
            pcre2_get_error_message(err, msg, sizeof msg);
            sig_rule_error(d, b->cfg, sg, "event regex \"%s\" does not compile at offset %zu: %s",
                           v[i], (size_t)off, (const char *)msg);
            return -1;
        }
        pcre2_jit_compile(c, PCRE2_JIT_COMPLETE);
        t->re[t->n_re++] = c;
    }
    return 0;
}

static int builtin_bit(const char *name, int lo, int hi)
{
    for (int i = lo; i <= hi; i++)
        if (!strcasecmp(name, ev_names[i])) return i;
    return -1;
}

/* A rule key naming built-in ids lo..hi (event_types, severities). */
typedef struct ev_names {
    const char *label, *what, *known;
    int lo, hi;
} ev_names_t;
static const ev_names_t ev_types = {"event_types", "event type",
                                    "outage, incident, security, deadline, billing, data_loss",
                                    EV_OUTAGE, EV_DATA_LOSS},
                        ev_severities = {"severities", "severity", "critical, high, medium, low",
                                         EV_SEV_CRITICAL, EV_SEV_LOW};

/* A test that one of names (of kind k) was seen; -1 after a diag per
 * unknown name. */
static int add_mask(const sig_build_t *b, const cfg_signal_t *sg, ev_test_t *t,
                    const cfg_strlist_t *names, const ev_names_t *k, cfg_diags_t *d)
{
    int rc = 0;
    for (size_t i = 0; i < names->n; i++) {
        int bit = builtin_bit(names->v[i], k->lo, k->hi);
        if (bit < 0) {
            sig_rule_error(d, b->cfg, sg, "unknown %s \"%s\" (%s)", k->what, names->v[i], k->known);
            rc = -1;
        } else
            t->mask |= 1u << bit;
    }
    t->label = k->label;
    return rc;
}

static int ev_compile(const sig_build_t *b, void **state, cfg_diags_t *d)
{
    ev_state_t *s = calloc(1, sizeof *s);
    *state = s;
    if (!b->n_rules) return 0;
    unsigned flags[EV_N], ids[EV_N];
    for (int i = 0; i < EV_N; i++)
        flags[i] = HS_FLAG_CASELESS | HS_FLAG_SINGLEMATCH, ids[i] = (unsigned)i;
    hs_compile_error_t *ce = NULL;
    if (hs_compile_multi(ev_re, flags, ids, EV_N, HS_MODE_BLOCK, NULL, &s->db, &ce) != HS_SUCCESS) {
        sig_rule_error(d, b->cfg, b->rules[0], "built-in event patterns: %s",
                       ce ? ce->message : "compile failed");
        if (ce) hs_free_compile_error(ce);
        return -1;
    }
    s->n = b->n_rules;
    s->rules = calloc(b->n_rules + 1, sizeof *s->rules);
    int rc = 0;
    for (size_t r = 0; r < b->n_rules; r++) {
        const cfg_signal_t *sg = b->rules[r];
        ev_rule_t *er = &s->rules[r];
        size_t pn = sg->patterns && sg->patterns->kind == CFG_NODE_MAP ? sg->patterns->n : 0;
        er->tests = calloc(8 + pn, sizeof *er->tests);
        if (sg->event_types.n &&
            add_mask(b, sg, &er->tests[er->n++], &sg->event_types, &ev_types, d))
            rc = -1;
        if (sg->severities.n &&
            add_mask(b, sg, &er->tests[er->n++], &sg->severities, &ev_severities, d))
            rc = -1;
        if (sg->action_codes.n) {
            ev_test_t *t = &er->tests[er->n++];
            if (add_regexes(b, sg, t, (const char *const *)sg->action_codes.v, sg->action_codes.n,
                            d))
                rc = -1;
            t->label = "action_codes";
            s->has_re = true;
        }
        const cfg_node_t *tp = sg->temporal;
        if (tp && tp->kind == CFG_NODE_SCALAR && !strcmp(tp->str, "true")) {
            ev_test_t *t = &er->tests[er->n++];
            t->mask = 1u << EV_TEMPORAL | 1u << EV_URGENCY;
            t->label = "temporal";
        } else if (tp && tp->kind == CFG_NODE_MAP) {
            for (size_t i = 0; i < tp->n; i++) {
                const char *k = tp->keys[i]->str;
                const cfg_node_t *v = tp->items[i];
                bool on = v->kind == CFG_NODE_SCALAR && !strcmp(v->str, "true");
                uint32_t m = !strcmp(k, "urgency") || !strcmp(k, "urgent") ? 1u << EV_URGENCY
                             : !strcmp(k, "expressions")                   ? 1u << EV_TEMPORAL
                             : !strcmp(k, "deadline")                      ? 1u << EV_DEADLINE
                                                                           : 0;
                if (!m) {
                    sig_rule_error(d, b->cfg, sg,
                                   "temporal.%s is not urgency, expressions or deadline", k);
                    rc = -1;
                } else if (on) {
                    ev_test_t *t = &er->tests[er->n++];
                    t->mask = m;
                    t->label = "temporal";
                }
            }
        } else if (tp && !(tp->kind == CFG_NODE_SCALAR && !strcmp(tp->str, "false"))) {
            sig_rule_error(
                d, b->cfg, sg,
                "temporal must be true, false or {urgency, expressions, deadline: bool}");
            rc = -1;
        }
        for (size_t i = 0; i < pn; i++) {
            const cfg_node_t *v = sg->patterns->items[i];
            const char *one[1];
            const char **list = one;
            size_t nl = 0;
            if (v->kind == CFG_NODE_SCALAR)
                one[0] = v->str, nl = 1;
            else if (v->kind == CFG_NODE_SEQ) {
                list = calloc(v->n + 1, sizeof *list);
                for (size_t j = 0; j < v->n; j++)
                    if (v->items[j]->kind == CFG_NODE_SCALAR) list[nl++] = v->items[j]->str;
            }
            ev_test_t *t = &er->tests[er->n++];
            if (add_regexes(b, sg, t, list, nl, d)) rc = -1;
            t->label = sg->patterns->keys[i]->str;
            s->has_re = true;
            if (list != one) free(list);
        }
    }
    return rc;
}

static void ev_free(void *p)
{
    ev_state_t *s = p;
    if (!s) return;
    for (size_t r = 0; r < s->n; r++) {
        for (size_t i = 0; i < s->rules[r].n; i++) {
            for (size_t j = 0; j < s->rules[r].tests[i].n_re; j++)
                pcre2_code_free(s->rules[r].tests[i].re[j]);
            free(s->rules[r].tests[i].re);
        }
        free(s->rules[r].tests);
    }
    free(s->rules);
    if (s->db) hs_free_database(s->db);
    free(s);
}

static void *ev_scratch_new(const void *p)
{
    const ev_state_t *s = p;
    ev_scratch_t *x = calloc(1, sizeof *x);
    if (!x) abort();
    if (s->db) hs_alloc_scratch(s->db, &x->hs);
    x->md = pcre2_match_data_create(1, NULL);
    return x;
}

static void ev_scratch_free(void *p)
{
    ev_scratch_t *x = p;
    if (x->hs) hs_free_scratch(x->hs);
    pcre2_match_data_free(x->md);
    free(x);
}

static int on_match(unsigned int id, unsigned long long from, unsigned long long to,
                    unsigned int flags, void *ctx)
{
    *(uint32_t *)ctx |= 1u << id;
    return 0;
}

static void ev_eval(const void *p, sig_ctx_t *cx, sig_ref_t *refs, size_t n)
{
    const ev_state_t *s = p;
    ev_scratch_t *x = cx->scratch[CFG_SIG_EVENT];
    if (!n || !s->db || !x) return;
    sig_text_t q = sig_ctx_query(cx);
    uint32_t seen = 0;
    if (q.n && hs_scan(s->db, q.s, (unsigned)q.n, 0, x->hs, on_match, &seen) != HS_SUCCESS) {
        for (size_t i = 0; i < n; i++)
            refs[i].res->error = "scan_failed";
        return;
    }
    for (size_t i = 0; i < n; i++) {
        const ev_rule_t *er = &s->rules[refs[i].id];
        sig_result_t *res = refs[i].res;
        size_t passed = 0;
        const char *label = NULL;
        if (!er->n) {
            uint32_t any = seen & ((1u << (EV_DATA_LOSS + 1)) - 1);
            passed = any != 0;
            for (int b = 0; any && b <= EV_DATA_LOSS && !label; b++)
                if (any >> b & 1u) label = ev_names[b];
        }
        for (size_t t = 0; t < er->n; t++) {
            const ev_test_t *et = &er->tests[t];
            bool ok = false;
            if (et->kind == 0) ok = (seen & et->mask) != 0;
            for (size_t j = 0; !ok && j < et->n_re; j++)
                ok = pcre2_match(et->re[j], (PCRE2_SPTR)q.s, q.n, 0, 0, x->md, NULL) >= 0;
            if (ok) {
                passed++;
                if (!label) label = et->label;
            }
        }
        size_t configured = er->n ? er->n : 1;
        res->matched = passed > 0;
        res->score = passed ? 0.5 + 0.5 * (double)passed / (double)configured : 0.0;
        res->value = (double)passed;
        res->has_value = true;
        res->label = label;
    }
}

CFG_SIG_FAMILY(sig_event_family, "event", "events", "event rules",
               "Operational events (YAML key events, leaf type event).",
               .fields =
                   (const cfg_field_t[]){
                       CFG_FLIST(cfg_signal_t, "event_types", event_types, NULL,
                                 "outage|incident|security|deadline|billing|data_loss"),
                       CFG_FLIST(cfg_signal_t, "severities", severities, NULL, "severity words"),
                       CFG_FLIST(cfg_signal_t, "action_codes", action_codes, NULL, "regexes"),
                       CFG_FNODE(cfg_signal_t, "temporal", temporal, "temporal criteria"),
                       CFG_FNODE(cfg_signal_t, "patterns", patterns, "{type: [regex]}"),
                       {0}},
               .ops = &(const sig_family_ops_t){.compile = ev_compile,
                                                .free = ev_free,
                                                .scratch_new = ev_scratch_new,
                                                .scratch_free = ev_scratch_free,
                                                .eval = ev_eval});
