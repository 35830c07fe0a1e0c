/* import_internal.h - private to `tether config import` (import.c for
 * OpenClaw and /models inventories, import_crd.c for Kubernetes CRDs): the
 * helpers both readers share. The public API is config/migrate.h. */
#ifndef TETHER_CONFIG_IMPORT_INTERNAL_H
#define TETHER_CONFIG_IMPORT_INTERNAL_H
#include "config/migrate.h"
#include "config/yaml.h"

/* Add a note (warning or error) about file at node at (may be NULL) and
 * config path path to im->notes. */
void cfg_import_note(cfg_import_t *im, cfg_diag_severity_t sev, const char *file,
                     const cfg_node_t *at, const char *path, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));
/* The tree of the config to merge into: text parsed (it must be a v0.3
 * config), or a new `version: v0.3` map when text is NULL. NULL after an
 * error in im->diags. */
cfg_node_t *cfg_import_target(cfg_import_t *im, const char *target, const char *text, size_t len);
/* Remember that node, which the import adds, came from file:line:col
 * (nothing when line is 0). */
void cfg_import_origin(cfg_import_t *im, const cfg_node_t *node, const char *file, int line,
                       int col);
/* The sections the merge writes into (providers, .defaults, .models, routing,
 * .modelCards, and with crd .signals, .decisions): false, with an error at
 * the first one of the wrong shape, when one is not a mapping / list. */
bool cfg_import_check_shape(cfg_import_t *im, const char *target, const cfg_node_t *root, bool crd);
/* Emit root into im->out and load it as target; the diagnostics of that
 * load go to im->diags at the positions of the target file (the emitted
 * text has other line numbers), or, for what the import adds, without a
 * line. Returns whether it loaded. */
bool cfg_import_validate(cfg_import_t *im, const char *target, const cfg_node_t *root);
#endif
