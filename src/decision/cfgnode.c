/* cfgnode.c - typed reads of cfg_node_t trees (see cfgnode.h). */
#include "decision/cfgnode.h"
#include "config/schema.h"

static const cfg_node_t *scalar(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *v = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, key) : NULL;
    if (!v || v->kind != CFG_NODE_SCALAR || cfg_node_is_null(v)) return NULL;
    return v;
}

bool dec_cfg_has_num_raw(const cfg_node_t *v, double *out)
{
    double d;
    if (!v || v->kind != CFG_NODE_SCALAR || !v->str || !cfg_parse_double(v->str, &d)) return false;
    *out = d;
    return true;
}

bool dec_cfg_has_num(const cfg_node_t *map, const char *key, double *out)
{
    const cfg_node_t *v = scalar(map, key);
    double d;
    if (!v || !cfg_parse_double(v->str, &d)) return false;
    *out = d;
    return true;
}

double dec_cfg_num(const cfg_node_t *map, const char *key, double def)
{
    double d;
    return dec_cfg_has_num(map, key, &d) ? d : def;
}

const char *dec_cfg_str(const cfg_node_t *map, const char *key, const char *def)
{
    const cfg_node_t *v = scalar(map, key);
    return v ? v->str : def;
}

bool dec_cfg_bool(const cfg_node_t *map, const char *key, bool def)
{
    const cfg_node_t *v = scalar(map, key);
    bool b;
    return v && cfg_parse_bool(v->str, &b) ? b : def;
}

uint64_t dec_cfg_duration_ms(const cfg_node_t *map, const char *key, uint64_t def)
{
    const cfg_node_t *v = scalar(map, key);
    uint64_t ms;
    return v && cfg_parse_duration_ms(v->str, &ms) ? ms : def;
}

const cfg_node_t *dec_cfg_seq(const cfg_node_t *map, const char *key)
{
    const cfg_node_t *v = map && map->kind == CFG_NODE_MAP ? cfg_node_get(map, key) : NULL;
    return v && v->kind == CFG_NODE_SEQ ? v : NULL;
}
