/* store_redis_desc.c - the `redis` session store backend's registry entry
 * (registry.h): how a worker opens its Redis store from the config, in
 * front of the process's local memory store. The store itself is
 * store_redis.c; its connection settings are global.stores.session.redis. */
#include "config/global.h"
#include "session/registry.h"
#include "session/store.h"

static sess_store_t *redis_open_worker(struct event_base *base, const struct cfg *cfg,
                                       sess_store_t *local, sess_writeback_token_t *wb, char *err,
                                       size_t errlen)
{
    const cfg_global_ext_t *gx = cfg->global_ext;
    const cfg_redis_t *rc = &gx->stores.session.redis;
    sess_redis_opts_t ro = {
        .address = rc->address,
        .password = rc->password,
        .db = (int)rc->db,
        .key_prefix = rc->key_prefix ? rc->key_prefix : "tether:",
        .timeout_ms = rc->timeout_ms > 0 ? (uint64_t)rc->timeout_ms : 50,
        .ttl_ms = gx->session.ttl_seconds > 0 ? (uint64_t)gx->session.ttl_seconds * 1000 : 0,
        .fallback = local,
        .writeback = wb};
    return sess_store_redis_new(base, &ro, err, errlen);
}

const cfg_store_backend_t sess_redis_store = {
    .name = "redis",
    .flags = CFG_STORE_SHARED | CFG_STORE_REDIS,
    .ops.session = &(const sess_backend_ops_t){.open_worker = redis_open_worker},
};
