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
#endif
