/* registry.h - the signal families tether is built with, one line each, in
 * SPEC 5.4 order: the order of routing.signals in the reference, and each
 * family's id (cfg_signal_family_t; the first eighteen are the built-in ids
 * of config/routing.h, so new families go at the end).
 *
 * SIG_FAMILIES(X) calls X(name) per family; family `name` is the
 * cfg_sig_family_t `sig_<name>_family` (config/family.h) that its file,
 * signals/<name>.c, defines next to its operations. Adding a family is that
 * one file and one line here. registry.c turns the list into the array the
 * config reads; a test binary may build its own array from the same list
 * plus a test-only member (tests/unit/config/test_members.c). */
#ifndef TETHER_SIGNALS_REGISTRY_H
#define TETHER_SIGNALS_REGISTRY_H
#include "config/family.h"

#define SIG_FAMILIES(X)                                                                            \
    X(keyword)                                                                                     \
    X(pii)                                                                                         \
    X(jailbreak)                                                                                   \
    X(language)                                                                                    \
    X(context)                                                                                     \
    X(conversation)                                                                                \
    X(structure)                                                                                   \
    X(event)                                                                                       \
    X(modality)                                                                                    \
    X(authz)                                                                                       \
    X(embedding)                                                                                   \
    X(domain)                                                                                      \
    X(complexity)                                                                                  \
    X(kb)                                                                                          \
    X(preference)                                                                                  \
    X(reask)                                                                                       \
    X(fact_check)                                                                                  \
    X(user_feedback)                                                                               \
    X(classifier)

#define SIG_FAMILY_DECLARE(name) extern const cfg_sig_family_t sig_##name##_family;
#define SIG_FAMILY_ENTRY(name)   &sig_##name##_family,
SIG_FAMILIES(SIG_FAMILY_DECLARE)
#endif
