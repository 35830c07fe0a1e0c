/* registry.c - the array of signal families (config/family.h's
 * cfg_sig_registry) built from the list in registry.h. It defines nothing
 * else, so that a test binary can link its own array instead. */
#include "signals/registry.h"

const cfg_sig_family_t *const cfg_sig_registry[] = {SIG_FAMILIES(SIG_FAMILY_ENTRY) NULL};
