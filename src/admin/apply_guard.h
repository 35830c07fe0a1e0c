/* apply_guard.h - what a config apply below the admin role may not change
 * (POST /api/v1/config/apply, config_apply.c). An applied config is loaded
 * with the router's environment and may read files, so whoever applies one
 * could otherwise read any environment variable (the admin token lives
 * there) or file: put ${ADMIN_TOKEN} in a model name and list the models,
 * send api_key_env to a backend of their own, or add a management token
 * whose token_env names a variable with a known value and so make
 * themselves admin. An operator's apply may therefore change anything
 * except:
 *   - global.services.management_api (listener, tokens, roles), and
 *   - any mapping that names the environment or a file: a scalar holding
 *     ${...}, or a key ending in _env or _file, or `path` (directly, or in
 *     a list of scalars under it). Such a mapping must be one that the
 *     running config file holds, identical.
 * Pure; thread-safe. */
#ifndef TETHER_ADMIN_APPLY_GUARD_H
#define TETHER_ADMIN_APPLY_GUARD_H
#include <stddef.h>

/* 0 when next may be applied by an operator over cur (the running file's
 * text); -1 with a sentence naming the line in why. Text that does not
 * parse is allowed here (the loader refuses it). */
int mgmt_apply_guard(const char *cur, size_t cur_len, const char *next, size_t next_len, char *why,
                     size_t whylen);
#endif
