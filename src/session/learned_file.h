/* learned_file.h - learned state (remaining-turn priors, outcome quality
 * estimates, the elo selector's ratings) as a local file snapshot, so it survives a restart
 * (global.router.session.learned_state_file).
 *
 * Format: text, one record per line, tab-separated:
 *   tether-learned v1
 *   prior <decision> <session-key hash, 16 hex> <turns>
 *   outcome <decision or "*"> <model> <good> <bad>
 *   elo <decision> <model> <rating>
 * Session keys are stored only as hashes. A save writes <path>.tmp and
 * renames it over <path>, so a reader never sees half a file. Loading adds
 * to what is in memory; malformed lines are skipped and counted.
 * Blocking file I/O: call it at start and from the management thread, never
 * on a worker's event loop. */
#ifndef TETHER_SESSION_LEARNED_FILE_H
#define TETHER_SESSION_LEARNED_FILE_H
#include "session/outcomes.h"
#include "session/priors.h"
#include "select/select.h"
#include <stddef.h>

/* elo (may be NULL): the selector state whose elo ratings are saved and
 * restored (sel_elo_each / sel_elo_restore). 0, or -1 with err filled. */
int sess_learned_save(const char *path, sess_priors_t *priors, sess_outcomes_t *outcomes,
                      sel_state_t *elo, char *err, size_t errlen);
/* 0 (also when path does not exist yet: nothing learned), or -1 with err.
 * *skipped (may be NULL): malformed lines ignored. */
int sess_learned_load(const char *path, sess_priors_t *priors, sess_outcomes_t *outcomes,
                      sel_state_t *elo, size_t *skipped, char *err, size_t errlen);
#endif
