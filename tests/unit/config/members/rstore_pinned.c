/* rstore_pinned.c - a test-only Responses store backend, written exactly as
 * a backend in src/api/ would be (src/api/response_store_pinned.c):
 * `responses: {backend: pinned, pinned: {keep}}` keeps at most `keep`
 * responses in memory whatever max_responses says. Its options live in its
 * own struct, loaded from its own block. */
#include "api/response_store.h"
#include "config/config.h"
#include "config/family.h"

typedef struct pinned_opts { /* this backend's own options */
    int64_t keep;
} pinned_opts_t;

static int pinned_opened; /* times the server opened it */

static rstore_t *pinned_open(const struct cfg *cfg, uint64_t ttl_ms, size_t max, char *err,
                             size_t errlen)
{
    const pinned_opts_t *o = cfg->global_ext->stores.responses.backend_opts;
    pinned_opened++;
    return rstore_new(ttl_ms, o && o->keep > 0 ? (size_t)o->keep : 2);
}

const cfg_store_backend_t rstore_pinned_store = {
    .name = "pinned", /* responses.backend: pinned */
    .doc = "Test-only: at most keep responses in memory.",
    .fields =
        (const cfg_field_t[]){CFG_FI64(pinned_opts_t, "keep", keep, "2", 1, 1000, "responses kept"),
                              {0}},
    .opts_size = sizeof(pinned_opts_t),
    .ops.responses = &(const rstore_backend_ops_t){.open = pinned_open},
};
