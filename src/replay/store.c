/* store.c - the replay store interface: config defaults and mapping from
 * global.services.router_replay, the factory that opens the named backend
 * (from the registry, registry.h), and the filter / ordering / row-parsing
 * helpers the backends share. */
#include "json/num.h"
#include "replay/store.h"

#include <cjson/cJSON.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/family.h"
#include "config/global.h"
#include "replay/spool.h"

void replay_config_defaults(replay_config_t *c)
{
    memset(c, 0, sizeof *c);
    c->enabled = true;
    c->store = "sqlite";
    c->path = "tether-replay.db";
    c->max_records = 100000;
    c->max_bytes = 1024ull * 1024 * 1024;
    c->ttl_seconds = 604800;
    c->capture_bodies = false;
    c->max_body_bytes = 64 * 1024;
    c->redact = true;
    c->queue_size = 10000;
}

void replay_config_from_cfg(const struct cfg *cfg, replay_config_t *c)
{
    replay_config_defaults(c);
    if (!cfg || !cfg->global_ext) return;
    const cfg_services_t *sv = &cfg->global_ext->services;
    c->enabled = sv->router_replay.enabled;
    if (sv->router_replay.store && *sv->router_replay.store) c->store = sv->router_replay.store;
    c->opts = sv->router_replay.store_opts;
    if (sv->router_replay.path && *sv->router_replay.path) c->path = sv->router_replay.path;
    c->max_records = sv->router_replay.max_records;
    c->max_bytes = sv->router_replay.max_bytes;
    c->ttl_seconds = sv->router_replay.ttl_seconds;
    c->capture_bodies = sv->router_replay.capture_bodies;
    c->max_body_bytes = sv->router_replay.max_body_bytes;
    c->redact = sv->router_replay.redact;
    if (sv->router_replay.queue_size > 0) c->queue_size = sv->router_replay.queue_size;
}

static char *xstrdup(const char *s)
{
    if (!s) return NULL;
    char *p = strdup(s);
    if (!p) abort();
    return p;
}

void replay_store_base_init(replay_store_t *s, const replay_store_ops_t *ops,
                            const replay_config_t *c)
{
    s->ops = ops;
    s->cfg = *c;
    s->cfg.store = xstrdup(c->store);
    s->cfg.path = xstrdup(c->path);
}

void replay_store_base_deinit(replay_store_t *s)
{
    free((char *)s->cfg.store);
    free((char *)s->cfg.path);
    s->cfg.store = s->cfg.path = NULL;
}

replay_store_t *replay_store_open(const replay_config_t *c, buf_t *err)
{
    const char *name = c->store ? c->store : "sqlite";
    const cfg_store_backend_t *b = cfg_store_backend_find(CFG_STORE_REPLAY, name);
    if (b && b->ops.replay && b->ops.replay->open) return b->ops.replay->open(c, err);
    if (err) {
        buf_reset(err);
        buf_printf(err, "unknown replay store '%s' (expected %s)", name,
                   cfg_store_backend_list(CFG_STORE_REPLAY));
    }
    return NULL;
}

int replay_store_write(replay_store_t *s, replay_record_t *const *recs, size_t n, buf_t *err)
{
    return s->ops->write(s, recs, n, err);
}

int replay_store_scan(replay_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                      buf_t *err)
{
    return s->ops->scan(s, f, cb, ctx, err);
}

int replay_store_sweep(replay_store_t *s, uint64_t now_ms, size_t *removed, buf_t *err)
{
    size_t dummy;
    return s->ops->sweep(s, now_ms, removed ? removed : &dummy, err);
}

void replay_store_close(replay_store_t *s)
{
    if (s) s->ops->close(s);
}

bool replay_store_flush(replay_store_t *s, uint64_t deadline_ms)
{
    return !s->ops->flush || s->ops->flush(s, deadline_ms);
}

bool replay_store_spool_stats(replay_store_t *s, struct replay_spool_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!s->ops->stats) return false;
    s->ops->stats(s, out);
    return true;
}

int replay_row_cmp(uint64_t a_ms, const char *a_id, uint64_t b_ms, const char *b_id)
{
    if (a_ms != b_ms) return a_ms > b_ms ? 1 : -1;
    int c = strcmp(a_id ? a_id : "", b_id ? b_id : "");
    return c > 0 ? 1 : c < 0 ? -1 : 0;
}

static bool eq(const char *want, const char *have)
{
    return !want || (have && !strcmp(want, have));
}

bool replay_filter_match(const replay_filter_t *f, const replay_row_t *r)
{
    if (!f) return true;
    if (!eq(f->id, r->id) || !eq(f->session_id, r->session_id) || !eq(f->decision, r->decision) ||
        !eq(f->model, r->model) || !eq(f->reason, r->reason))
        return false;
    if (f->since_ms && r->created_at_ms < f->since_ms) return false;
    if (f->has_cursor && replay_row_cmp(r->created_at_ms, r->id, f->before_ms, f->before_id) >= 0)
        return false;
    return true;
}

static const char *jstr(const cJSON *o, const char *k)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : NULL;
}

bool replay_row_parse(const char *line, size_t len, replay_row_parsed_t *out)
{
    memset(out, 0, sizeof *out);
    cJSON *doc = cJSON_ParseWithLength(line, len);
    if (!cJSON_IsObject(doc)) {
        cJSON_Delete(doc);
        return false;
    }
    const char *id = jstr(doc, "id");
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(doc, "created_at_ms");
    /* a number out of uint64 range (negative, 1e300, 1e999 = inf) is not a
     * record's time: converting it would be undefined */
    if (!id || !cJSON_IsNumber(ms) || !(ms->valuedouble >= 0) ||
        !(ms->valuedouble < 18446744073709551616.0)) {
        cJSON_Delete(doc);
        return false;
    }
    cJSON *bodies = cJSON_DetachItemFromObjectCaseSensitive(doc, "bodies");
    if (bodies && !cJSON_IsNull(bodies)) out->bodies = cJSON_PrintUnformatted(bodies);
    cJSON_Delete(bodies);
    out->json = cJSON_PrintUnformatted(doc);
    out->doc = doc;
    replay_row_t *r = &out->row;
    r->id = id;
    r->created_at_ms = json_num_u64(ms->valuedouble, 0);
    r->decision = jstr(doc, "decision");
    r->model = jstr(doc, "model");
    const cJSON *s = cJSON_GetObjectItemCaseSensitive(doc, "session");
    if (cJSON_IsObject(s)) {
        r->session_id = jstr(s, "id");
        r->reason = jstr(s, "reason");
        r->phase = jstr(s, "phase");
        const cJSON *t = cJSON_GetObjectItemCaseSensitive(s, "turn");
        r->turn = cJSON_IsNumber(t) && t->valuedouble > -9.2e18 && t->valuedouble < 9.2e18
                      ? (int64_t)t->valuedouble
                      : 0;
        r->switched = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(s, "switched"));
    }
    r->json = out->json;
    r->bodies_json = out->bodies;
    return out->json != NULL;
}

void replay_row_parsed_free(replay_row_parsed_t *p)
{
    cJSON_Delete(p->doc);
    cJSON_free(p->json);
    cJSON_free(p->bodies);
    memset(p, 0, sizeof *p);
}
