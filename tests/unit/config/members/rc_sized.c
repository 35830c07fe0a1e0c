/* rc_sized.c - a test-only response cache backend, written exactly as a
 * backend in src/plugins/ would be (src/plugins/response_cache_sized.c):
 * `response_cache: {backend: sized, sized: {shards}}` is the memory cache
 * with a fixed number of shards. Its options live in its own struct,
 * loaded from its own block. */
#include "config/family.h"
#include "plugins/response_cache.h"

typedef struct sized_opts { /* this backend's own options */
    int64_t shards;
} sized_opts_t;

static int64_t sized_shards_opened = -1; /* shards of the last cache it opened */

static rc_cache_t *sized_open(const cfg_t *cfg, const rc_opts_t *o, char *err, size_t errlen)
{
    const sized_opts_t *so = cfg->global_ext->stores.response_cache.backend_opts;
    rc_opts_t mine = *o;
    mine.shards = so ? (unsigned)so->shards : 1;
    sized_shards_opened = (int64_t)mine.shards;
    return rc_cache_new_opts(&mine);
}

const cfg_store_backend_t rc_sized_store = {
    .name = "sized", /* response_cache.backend: sized */
    .doc = "Test-only: the memory cache with a fixed number of shards.",
    .fields =
        (const cfg_field_t[]){CFG_FI64(sized_opts_t, "shards", shards, "1", 1, 64, "shards"), {0}},
    .opts_size = sizeof(sized_opts_t),
    .ops.response_cache = &(const rc_backend_ops_t){.open = sized_open},
};
