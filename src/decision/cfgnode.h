/* cfgnode.h - typed reads of the key-checked cfg_node_t trees the loader
 * keeps for projections, algorithm blocks and plugin configurations. Used by
 * decision/, select/ and plugins/. Pure functions over immutable trees:
 * thread-safe. */
#ifndef TETHER_DECISION_CFGNODE_H
#define TETHER_DECISION_CFGNODE_H
#include "config/yaml.h"
#include <stdbool.h>
#include <stdint.h>

/* map[key] as a number / string / bool; def when absent, null or malformed. */
double dec_cfg_num(const cfg_node_t *map, const char *key, double def);
bool dec_cfg_has_num(const cfg_node_t *map, const char *key, double *out);
const char *dec_cfg_str(const cfg_node_t *map, const char *key, const char *def);
bool dec_cfg_bool(const cfg_node_t *map, const char *key, bool def);
/* A duration ("250ms", "10m", bare seconds) in milliseconds, def otherwise. */
uint64_t dec_cfg_duration_ms(const cfg_node_t *map, const char *key, uint64_t def);
/* A scalar node's number. */
bool dec_cfg_has_num_raw(const cfg_node_t *v, double *out);
/* map[key] when it is a sequence, else NULL. */
const cfg_node_t *dec_cfg_seq(const cfg_node_t *map, const char *key);
#endif
