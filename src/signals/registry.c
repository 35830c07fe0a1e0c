/* registry.c - the list of signal family implementations (family.h).
 * Adding a family is one file exporting a sig_family_ops_t and one line
 * here. Families without an entry report "family_not_available" errors for
 * their rules instead of running. */
#include "signals/family.h"

extern const sig_family_ops_t sig_keyword_ops;
extern const sig_family_ops_t sig_pii_ops;
extern const sig_family_ops_t sig_jailbreak_ops;
extern const sig_family_ops_t sig_language_ops;
extern const sig_family_ops_t sig_context_ops;
extern const sig_family_ops_t sig_conversation_ops;
extern const sig_family_ops_t sig_structure_ops;
extern const sig_family_ops_t sig_event_ops;
extern const sig_family_ops_t sig_modality_ops;
extern const sig_family_ops_t sig_authz_ops;
extern const sig_family_ops_t sig_embedding_ops;
extern const sig_family_ops_t sig_domain_ops;
extern const sig_family_ops_t sig_complexity_ops;
extern const sig_family_ops_t sig_kb_ops;
extern const sig_family_ops_t sig_preference_ops;
extern const sig_family_ops_t sig_reask_ops;
extern const sig_family_ops_t sig_fact_check_ops;
extern const sig_family_ops_t sig_user_feedback_ops;

static const sig_family_ops_t *const registry[] = {
    &sig_keyword_ops,    &sig_pii_ops,        &sig_jailbreak_ops,
    &sig_language_ops,   &sig_context_ops,    &sig_conversation_ops,
    &sig_structure_ops,  &sig_event_ops,      &sig_modality_ops,
    &sig_authz_ops,      &sig_embedding_ops,  &sig_domain_ops,
    &sig_complexity_ops, &sig_kb_ops,         &sig_preference_ops,
    &sig_reask_ops,      &sig_fact_check_ops, &sig_user_feedback_ops,
};

const sig_family_ops_t *sig_registry_get(cfg_signal_family_t f)
{
    for (size_t i = 0; i < sizeof registry / sizeof registry[0]; i++)
        if (registry[i]->family == f) return registry[i];
    return NULL;
}
