/* similarity.h - what the similarity families share (internal to
 * src/signals/): the engine's embedder, the per-request query vector, the
 * shipped prototype banks and the jailbreak contrastive score.
 *
 * The first similarity family to compile creates one sig_sim_t from
 * global.model_catalog.embeddings and hands it to the engine
 * (sig_engine_set_embedder: sig_engine_embedder() returns a sig_sim_t *).
 * It also installs the jailbreak family's contrastive hook when a jailbreak
 * rule uses method contrastive or hybrid. Immutable after compile apart
 * from bank rebuilds (bank.h); thread-safe. */
#ifndef TETHER_SIGNALS_SIMILARITY_H
#define TETHER_SIGNALS_SIMILARITY_H
#include "signals/bank.h"
#include "signals/embedder.h"
#include "signals/family.h"

typedef struct sig_sim {
    emb_t *emb;
    bool has_contrastive;
    sig_bank_t jb, benign; /* contrastive exemplars */
    uint64_t gen;          /* unique per sig_sim_t ever made: keys the per-thread memos */
} sig_sim_t;

/* The engine's sig_sim_t, created on first call (NULL after adding a diag
 * when the embedder config is unusable). */
sig_sim_t *sig_sim_get(const sig_build_t *b, cfg_diags_t *diags);
/* NULL when no similarity family compiled. */
const sig_sim_t *sig_sim_of(const sig_engine_t *e);

/* The query's vector (its §5.1 window), computed once per thread and text:
 * valid until the next sig_sim_query on this thread. NULL with *err set
 * ("embedding_unavailable", "timeout") when the embedder fails. */
const float *sig_sim_query(const sig_sim_t *s, sig_ctx_t *cx, const char **err);
/* Vector of any text (windowed) into the arena; NULL with *err on failure. */
const float *sig_sim_embed(const sig_sim_t *s, arena_t *a, const char *text, size_t n,
                           const char **err);
/* The same for a request: with vectors fetched on the worker's loop
 * (cx->env->emb, embed_async.h) a remote embedder is never called here; a
 * missing vector reports its fetch's failure (embedding_timeout, ...). */
const float *sig_sim_embed_cx(const sig_sim_t *s, sig_ctx_t *cx, const char *text, size_t n,
                              const char **err);
/* Make sure a bank is built (retry after remote failures); false with *err. */
bool sig_sim_bank_ok(sig_bank_t *b, const char **err);

/* Build a bank from a list plus optional extra texts (NULL-terminated). */
emb_status_t sig_sim_bank_from(sig_bank_t *b, const sig_sim_t *s, const cfg_strlist_t *list,
                               const char *const *extra, size_t n_extra);

/* A similarity family's compiled state begins with the engine's sig_sim_t
 * (its first member, `sig_sim_t *sim`). Returns a zeroed state of size
 * bytes with sim set, or NULL after adding a diag when the embedder config
 * is unusable. Free it with free() after the family's own members. */
void *sig_sim_state_new(const sig_build_t *b, cfg_diags_t *diags, size_t size);

/* A state of n banks (one per rule, two per rule, a fixed set: the family
 * says), empty until the family fills them; the state of domain,
 * preference, complexity, fact_check, user_feedback and reask. */
typedef struct sig_sim_rules {
    sig_sim_t *sim;
    sig_bank_t *bank;
    size_t n;
    double def_thr;  /* best-of-rules: threshold of a rule without one */
    bool with_label; /* best-of-rules: the match's label is the rule's name */
} sig_sim_rules_t;
/* NULL after adding a diag when the embedder config is unusable. */
sig_sim_rules_t *sig_sim_rules_new(const sig_build_t *b, cfg_diags_t *diags, size_t n_banks);
/* Frees the banks and the state; usable as a family's .free. */
void sig_sim_rules_free(void *p);

/* The best-of-rules families (domain, preference): one bank per rule, each
 * filled by bank_fn (0, or -1 after adding a diag at the rule). */
typedef int (*sig_sim_bank_fn)(const sig_build_t *b, size_t i, sig_bank_t *bank,
                               const sig_sim_t *sim, cfg_diags_t *diags);
int sig_sim_rules_compile(const sig_build_t *b, void **state, cfg_diags_t *diags, double def_thr,
                          bool with_label, sig_sim_bank_fn bank_fn);
/* Their evaluation, usable as a family's .eval: every rule gets the max
 * cosine of the query to its bank as score and value; only the best rule
 * can match, when it clears its threshold (def_thr when unset) and leads
 * the runner-up by its margin; with_label names the match's label after
 * the rule (domain does, preference does not). */
void sig_sim_rules_eval_best(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n);
/* A family's evaluation when its rules may name an external classifier:
 * those take its verdict (classify.h sig_cls_verdict, def_thr the family's
 * default threshold); the others, and those whose classifier failed, go to
 * banks (the family's own evaluation; also called when n is 0). */
void sig_sim_eval_cls_first(const void *state, sig_ctx_t *cx, sig_ref_t *refs, size_t n,
                            double def_thr,
                            void (*banks)(const void *state, sig_ctx_t *cx, sig_ref_t *refs,
                                          size_t n));

/* Jailbreak contrastive mode (SPEC §5.4 jailbreak c): clamp01((max cos to
 * jailbreak exemplars − max cos to benign exemplars)/0.15) of text.
 * Returns c in [0, 1], or -1 with *err set. */
double sig_jailbreak_contrastive_text(const sig_sim_t *s, const float *q);
/* How many texts the calling thread scored against the contrastive banks
 * (sig_jailbreak_contrastive_text). The query's score is memoised with its
 * vector, so a query repeated by the next request is not scored again
 * (tests read this to pin that). */
size_t sig_sim_contrastive_scans(void);
/* The hook installed in sig_engine_jb_hooks(e)->contrastive: scores the
 * query (and, with include_history, the earlier user turns: the maximum). */
double sig_jailbreak_contrastive_score(const sig_engine_t *e, sig_ctx_t *cx,
                                       const cfg_signal_t *rule, const char **err);

/* Shipped banks (sim_banks.c). */
#define SIG_MMLU_N 14
extern const char *const sig_mmlu_categories[SIG_MMLU_N];
/* Exemplars of an MMLU-Pro category ("computer science" or
 * "computer_science"), NULL when unknown; *n set. */
const char *const *sig_mmlu_bank(const char *category, size_t *n);
extern const char *const sig_bank_fact_needed[], *const sig_bank_fact_not_needed[];
extern const char *const sig_bank_fb_need_clarification[], *const sig_bank_fb_wrong_answer[],
                                                               *const sig_bank_fb_want_different[],
                                                                   *const sig_bank_fb_satisfied[];
extern const char *const sig_bank_jailbreak[], *const sig_bank_benign[];
/* Number of entries of a NULL-terminated shipped bank. */
size_t sig_bank_count(const char *const *v);

/* Threshold of a rule (its own or def). */
static inline double sig_rule_thr(const cfg_signal_t *r, double def)
{
    return r->has_threshold ? r->threshold : def;
}
#endif
