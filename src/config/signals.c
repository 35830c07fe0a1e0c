/* signals.c - routing.modelCards and routing.signals: one field table per
 * signal family (SPEC 5.4), all loading into cfg_signal_t, so unknown-key
 * checks, defaults and docs come from the same place. */
#include "config/load.h"
#include "config/routing.h"
#include <stddef.h>
#include <string.h>

#define G cfg_signal_t
#define F_NAME                                                                                     \
    {                                                                                              \
        .key = "name", .type = CFG_F_STR, .off = offsetof(G, name), .flags = CFG_FF_REQUIRED,      \
        .doc = "rule name (leaves refer to it)"                                                    \
    }
#define F_DESC CFG_FSTR(G, "description", description, NULL, "free text")
#define F_THR(d)                                                                                   \
    {                                                                                              \
        .key = "threshold", .type = CFG_F_DOUBLE, .off = offsetof(G, threshold),                   \
        .off2 = offsetof(G, has_threshold), .def = d, .flags = CFG_FF_UNIT | CFG_FF_HAS,           \
        .doc = "match threshold in [0, 1]"                                                         \
    }
#define F_HIST                                                                                     \
    CFG_FBOOL(G, "include_history", include_history, "false", "also read earlier user messages")
#define F_CLS       CFG_FSTR(G, "classifier", classifier, NULL, "a model_catalog.classifiers[] name")
#define F_EXAMPLES  CFG_FLIST(G, "examples", examples, NULL, "prototype texts")
#define F_MARGIN(d) CFG_FNUM(G, "margin", margin, d, "lead over the runner-up")
#define F_FEATURE   CFG_FNODE(G, "feature", feature, "{type, source{type, ...}}")
#define F_PRED      CFG_FNODE(G, "predicate", predicate, "{gt|gte|lt|lte|eq: number}")
#define END                                                                                        \
    {                                                                                              \
        0                                                                                          \
    }

const cfg_schema_t cfg_signal_family_schemas[CFG_SIG_N] = {
    [CFG_SIG_KEYWORD] =
        {"routing.signals.keywords[]",
         (const cfg_field_t[]){
             F_NAME, F_DESC,
             CFG_FENUM(G, "operator", op, "OR", "AND|OR|NOR", "how keywords combine"),
             CFG_FLIST(G, "keywords", keywords, NULL, "keywords or patterns"),
             CFG_FBOOL(G, "case_sensitive", case_sensitive, "false", "match case"),
             CFG_FENUM(G, "method", method, "literal", "literal|regex|bm25|ngram",
                       "matching method"),
             CFG_FBOOL(G, "fuzzy_match", fuzzy_match, "false", "Levenshtein token matching"),
             CFG_FINT(G, "fuzzy_threshold", fuzzy_threshold, "2", 0, 10, "max edit distance"),
             CFG_FUNIT(G, "bm25_threshold", bm25_threshold, "0.1", "BM25 score to match"),
             CFG_FUNIT(G, "ngram_threshold", ngram_threshold, "0.4", "n-gram Jaccard to match"),
             CFG_FINT(G, "ngram_arity", ngram_arity, "3", 1, 10, "n of the n-grams"), END},
         "Keyword rules (YAML key keywords, leaf type keyword)."},
    [CFG_SIG_PII] = {"routing.signals.pii[]",
                     (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.8"),
                                           CFG_FLIST(G, "pii_types_allowed", pii_types_allowed,
                                                     NULL, "entity types that do not match"),
                                           F_HIST, END},
                     "PII detection."},
    [CFG_SIG_JAILBREAK] =
        {"routing.signals.jailbreak[]",
         (const cfg_field_t[]){
             F_NAME, F_DESC, F_THR("0.7"),
             CFG_FENUM(G, "method", method, "hybrid", "patterns|contrastive|classifier|hybrid",
                       "scoring method"),
             CFG_FLIST(G, "jailbreak_patterns", jailbreak_patterns, NULL,
                       "extra regexes (weight 0.9)"),
             CFG_FLIST(G, "benign_patterns", benign_patterns, NULL, "extra benign exemplars"),
             F_HIST,
             CFG_FBOOL(G, "include_tool_results", include_tool_results, "false",
                       "scan tool results too"),
             F_CLS, END},
         "Prompt injection and jailbreak."},
    [CFG_SIG_LANGUAGE] = {"routing.signals.language[]",
                          (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.3"), END},
                          "Language of the query (name is the ISO 639-1 code)."},
    [CFG_SIG_CONTEXT] = {"routing.signals.context[]",
                         (const cfg_field_t[]){F_NAME,
                                               F_DESC,
                                               {.key = "min_tokens",
                                                .type = CFG_F_TOKENS,
                                                .off = offsetof(G, min_tokens),
                                                .off2 = offsetof(G, has_min_tokens),
                                                .flags = CFG_FF_HAS,
                                                .doc = "at least this many tokens (48K, 1M)"},
                                               {.key = "max_tokens",
                                                .type = CFG_F_TOKENS,
                                                .off = offsetof(G, max_tokens),
                                                .off2 = offsetof(G, has_max_tokens),
                                                .flags = CFG_FF_HAS,
                                                .doc = "at most this many tokens"},
                                               END},
                         "Estimated prompt size."},
    [CFG_SIG_CONVERSATION] = {"routing.signals.conversation[]",
                              (const cfg_field_t[]){F_NAME, F_DESC, F_FEATURE, F_PRED, END},
                              "Conversation shape (counts of messages, tools, ...)."},
    [CFG_SIG_STRUCTURE] = {"routing.signals.structure[]",
                           (const cfg_field_t[]){F_NAME, F_DESC, F_FEATURE, F_PRED, END},
                           "Text structure features."},
    [CFG_SIG_EVENT] = {"routing.signals.events[]",
                       (const cfg_field_t[]){
                           F_NAME, F_DESC,
                           CFG_FLIST(G, "event_types", event_types, NULL,
                                     "outage|incident|security|deadline|billing|data_loss"),
                           CFG_FLIST(G, "severities", severities, NULL, "severity words"),
                           CFG_FLIST(G, "action_codes", action_codes, NULL, "regexes"),
                           CFG_FNODE(G, "temporal", temporal, "temporal criteria"),
                           CFG_FNODE(G, "patterns", patterns, "{type: [regex]}"), END},
                       "Operational events (YAML key events, leaf type event)."},
    [CFG_SIG_MODALITY] = {"routing.signals.modality[]",
                          (const cfg_field_t[]){F_NAME, F_DESC, F_THR(NULL),
                                                CFG_FENUM(G, "method", method, "keyword",
                                                          "keyword|hybrid", "detection method"),
                                                CFG_FLIST(G, "keywords", keywords, NULL,
                                                          "image-generation phrases"),
                                                CFG_FLIST(G, "both_keywords", both_keywords, NULL,
                                                          "phrases asking for text and image"),
                                                F_CLS, END},
                          "Output modality (rules AR, DIFFUSION, BOTH)."},
    [CFG_SIG_AUTHZ] =
        {"routing.signals.role_bindings[]",
         (const cfg_field_t[]){
             F_NAME,
             F_DESC,
             {.key = "role",
              .type = CFG_F_STR,
              .off = offsetof(G, role),
              .flags = CFG_FF_REQUIRED,
              .doc = "the role leaves name"},
             CFG_FNODE(G, "subjects", subjects, "[{kind: User|Group, name}]"),
             CFG_FBOOL(G, "fail_open", fail_open, "false",
                       "without an identity the rule does not match (instead of an error)"),
             END},
         "Role bindings (YAML key role_bindings, leaf type authz)."},
    [CFG_SIG_EMBEDDING] =
        {"routing.signals.embeddings[]",
         (const cfg_field_t[]){
             F_NAME, F_DESC, F_THR("0.45"),
             CFG_FLIST(G, "candidates", candidates, NULL, "prototype texts"),
             CFG_FENUM(G, "aggregation_method", aggregation_method, "max", "max|mean|any",
                       "bank aggregation"),
             CFG_FINT(G, "top_k", top_k, "0", 0, 1000, "0 = all"),
             CFG_FUNIT(G, "min_score_threshold", min_score_threshold, NULL, "soft matching floor"),
             END},
         "Similarity to prototype texts (YAML key embeddings, leaf type embedding)."},
    [CFG_SIG_DOMAIN] = {"routing.signals.domains[]",
                        (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.30"), F_EXAMPLES,
                                              CFG_FLIST(G, "mmlu_categories", mmlu_categories, NULL,
                                                        "shipped MMLU-Pro banks to use"),
                                              CFG_FNODE(G, "model_scores", model_scores,
                                                        "{model: score} for static selection"),
                                              F_MARGIN("0.02"), F_CLS, END},
                        "Subject domain (YAML key domains, leaf type domain)."},
    [CFG_SIG_COMPLEXITY] = {"routing.signals.complexity[]",
                            (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.05"),
                                                  CFG_FNODE(G, "hard", hard, "{candidates[]}"),
                                                  CFG_FNODE(G, "easy", easy, "{candidates[]}"),
                                                  CFG_FNODE(G, "composer", composer,
                                                            "rule tree that must also match"),
                                                  F_CLS, END},
                            "Task difficulty (labels easy, medium, hard)."},
    [CFG_SIG_KB] = {"routing.signals.kb[]",
                    (const cfg_field_t[]){
                        F_NAME,
                        F_DESC,
                        F_THR(NULL),
                        {.key = "kb",
                         .type = CFG_F_STR,
                         .off = offsetof(G, kb),
                         .flags = CFG_FF_REQUIRED,
                         .doc = "a model_catalog.kbs[] name"},
                        CFG_FNODE(G, "target", target, "{kind: label|group, value}"),
                        CFG_FENUM(G, "match", match, "best", "best|threshold",
                                  "how the target must match"),
                        END},
                    "Knowledge-base bindings."},
    [CFG_SIG_PREFERENCE] = {"routing.signals.preferences[]",
                            (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.40"), F_EXAMPLES,
                                                  F_MARGIN("0.03"), F_CLS, END},
                            "User preference (YAML key preferences, leaf type preference)."},
    [CFG_SIG_REASK] = {"routing.signals.reasks[]",
                       (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.80"),
                                             CFG_FINT(G, "lookback_turns", lookback_turns, "1", 1,
                                                      100, "earlier user turns compared"),
                                             END},
                       "Repeated questions (YAML key reasks, leaf type reask)."},
    [CFG_SIG_FACT_CHECK] = {"routing.signals.fact_check[]",
                            (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.35"), F_EXAMPLES,
                                                  CFG_FLIST(G, "counter_examples", counter_examples,
                                                            NULL, "texts that need no fact check"),
                                                  F_CLS, END},
                            "Needs a fact check (rules needs_fact_check, no_fact_check_needed)."},
    [CFG_SIG_USER_FEEDBACK] =
        {"routing.signals.user_feedbacks[]",
         (const cfg_field_t[]){F_NAME, F_DESC, F_THR("0.40"), F_EXAMPLES, F_CLS, END},
         "Feedback on the last answer (YAML key user_feedbacks, leaf type user_feedback)."},
};
#undef G

static const char *const fam_names[CFG_SIG_N] = {
    "keyword",    "pii",   "jailbreak",  "language", "context",    "conversation",
    "structure",  "event", "modality",   "authz",    "embedding",  "domain",
    "complexity", "kb",    "preference", "reask",    "fact_check", "user_feedback"};
static const char *const fam_keys[CFG_SIG_N] = {
    "keywords",   "pii",    "jailbreak",   "language",      "context",    "conversation",
    "structure",  "events", "modality",    "role_bindings", "embeddings", "domains",
    "complexity", "kb",     "preferences", "reasks",        "fact_check", "user_feedbacks"};

const char *cfg_signal_family_name(cfg_signal_family_t f)
{
    return f < CFG_SIG_N ? fam_names[f] : "?";
}
const char *cfg_signal_family_key(cfg_signal_family_t f)
{
    return f < CFG_SIG_N ? fam_keys[f] : "?";
}
const cfg_schema_t *cfg_signal_schema(cfg_signal_family_t f)
{
    return &cfg_signal_family_schemas[f];
}

int cfg_signal_family_by_name(const char *s)
{
    for (int i = 0; i < CFG_SIG_N; i++)
        if (!strcmp(fam_names[i], s)) return i;
    return -1;
}

/* Families whose rules carry labels (leaf `label:` allowed). */
bool cfg_signal_family_has_labels(cfg_signal_family_t f)
{
    return f == CFG_SIG_COMPLEXITY || f == CFG_SIG_MODALITY || f == CFG_SIG_KB ||
           f == CFG_SIG_LANGUAGE || f == CFG_SIG_DOMAIN;
}

const cfg_schema_t cfg_schema_signals = {
    "routing.signals",
    (const cfg_field_t[]){
        CFG_FCUSTOM("keywords", &cfg_signal_family_schemas[0], "keyword rules"),
        CFG_FCUSTOM("pii", &cfg_signal_family_schemas[1], "PII rules"),
        CFG_FCUSTOM("jailbreak", &cfg_signal_family_schemas[2], "jailbreak rules"),
        CFG_FCUSTOM("language", &cfg_signal_family_schemas[3], "language rules"),
        CFG_FCUSTOM("context", &cfg_signal_family_schemas[4], "context-size rules"),
        CFG_FCUSTOM("conversation", &cfg_signal_family_schemas[5], "conversation rules"),
        CFG_FCUSTOM("structure", &cfg_signal_family_schemas[6], "structure rules"),
        CFG_FCUSTOM("events", &cfg_signal_family_schemas[7], "event rules"),
        CFG_FCUSTOM("modality", &cfg_signal_family_schemas[8], "modality rules"),
        CFG_FCUSTOM("role_bindings", &cfg_signal_family_schemas[9], "authz role bindings"),
        CFG_FCUSTOM("embeddings", &cfg_signal_family_schemas[10], "embedding rules"),
        CFG_FCUSTOM("domains", &cfg_signal_family_schemas[11], "domain rules"),
        CFG_FCUSTOM("complexity", &cfg_signal_family_schemas[12], "complexity rules"),
        CFG_FCUSTOM("kb", &cfg_signal_family_schemas[13], "knowledge-base bindings"),
        CFG_FCUSTOM("preferences", &cfg_signal_family_schemas[14], "preference rules"),
        CFG_FCUSTOM("reasks", &cfg_signal_family_schemas[15], "re-ask rules"),
        CFG_FCUSTOM("fact_check", &cfg_signal_family_schemas[16], "fact-check rules"),
        CFG_FCUSTOM("user_feedbacks", &cfg_signal_family_schemas[17], "user-feedback rules"),
        {0}},
    "Signal rules by family (SPEC 5.4).",
};

#define M cfg_model_card_t
const cfg_schema_t cfg_schema_model_card = {
    "routing.modelCards[]",
    (const cfg_field_t[]){
        {.key = "name",
         .type = CFG_F_STR,
         .off = offsetof(M, name),
         .flags = CFG_FF_REQUIRED,
         .doc = "a providers.models[] name"},
        CFG_FSTR(M, "description", description, NULL,
                 "what the model is good at (router_dc embeds it)"),
        CFG_FLIST(M, "capabilities", capabilities, NULL, "capability words"),
        CFG_FUNIT(M, "quality_score", quality_score, "0.5", "quality in [0, 1]"),
        CFG_FTOK(M, "context_window_size", context_window_size, "context window in tokens"),
        CFG_FSTR(M, "param_size", param_size, NULL, "parameter count, e.g. 8B"),
        CFG_FSTR(M, "modality", modality, NULL, "text|image|..."),
        CFG_FLIST(M, "tags", tags, NULL, "free tags"),
        CFG_FLIST(M, "loras", loras, NULL, "LoRA adapter names"),
        {0}},
    "What the router knows about each model.",
};
#undef M

void cfg_load_cards(ld_t *l, const cfg_node_t *n, cfg_routing_t *r)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "modelCards");
    if (ld_expect_seq(l, n)) {
        r->cards = arena_calloc(l->a, (n->n + 1) * sizeof(cfg_model_card_t));
        for (size_t i = 0; i < n->n; i++) {
            size_t s = ld_push_item(l, n->items[i], i);
            cfg_model_card_t *c = &r->cards[r->n_cards++];
            ld_section(l, n->items[i], &cfg_schema_model_card, c);
            for (size_t j = 0; j + 1 < r->n_cards && c->name; j++)
                if (r->cards[j].name && !strcmp(r->cards[j].name, c->name))
                    ld_err(l, cfg_node_get(n->items[i], "name"), "duplicate model card \"%s\"",
                           c->name);
            ld_pop(l, s);
        }
    }
    ld_pop(l, s0);
}

void cfg_load_signals(ld_t *l, const cfg_node_t *n, cfg_recipe_t *rc)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "signals");
    if (!ld_expect_map(l, n)) {
        ld_pop(l, s0);
        return;
    }
    ld_check_keys(l, n, &cfg_schema_signals);
    size_t total = 0;
    for (size_t i = 0; i < n->n; i++)
        if (n->items[i]->kind == CFG_NODE_SEQ) total += n->items[i]->n;
    rc->signals = arena_calloc(l->a, (total + 1) * sizeof(cfg_signal_t));
    for (int f = 0; f < CFG_SIG_N; f++) {
        const cfg_node_t *list = cfg_node_get(n, fam_keys[f]);
        if (!list || cfg_node_is_null(list)) continue;
        size_t s1 = ld_push_key(l, fam_keys[f]);
        if (ld_expect_seq(l, list)) {
            size_t first = rc->n_signals;
            for (size_t i = 0; i < list->n; i++) {
                size_t s = ld_push_item(l, list->items[i], i);
                cfg_signal_t *sg = &rc->signals[rc->n_signals++];
                sg->family = (cfg_signal_family_t)f;
                sg->line = list->items[i]->line;
                sg->col = list->items[i]->col;
                ld_section(l, list->items[i], &cfg_signal_family_schemas[f], sg);
                if (f == CFG_SIG_KEYWORD && sg->keywords.n == 0 &&
                    list->items[i]->kind == CFG_NODE_MAP)
                    ld_err(l, list->items[i], "a keyword rule needs keywords");
                for (size_t j = first; j + 1 < rc->n_signals && sg->name; j++)
                    if (rc->signals[j].name && !strcmp(rc->signals[j].name, sg->name))
                        ld_err(l, cfg_node_get(list->items[i], "name"),
                               "duplicate %s signal \"%s\"", fam_names[f], sg->name);
                rc->n_per_family[f]++;
                ld_pop(l, s);
            }
        }
        ld_pop(l, s1);
    }
    ld_pop(l, s0);
}
