/* body.c - the body bookkeeping plugins share: read, set and remove
 * top-level members of the client's JSON object as splice edits over the
 * original bytes (never a re-serialisation), with removals collected and
 * emitted once so that adjacent removals never overlap. Also plg_out_t's
 * lifecycle and small helpers. */
#include "core/buf.h"
#include "plugins/plugins.h"
#include <string.h>

void plg_out_init(plg_out_t *o)
{
    memset(o, 0, sizeof *o);
    jsplice_init(&o->edits);
    o->max_tokens = -1;
}

void plg_out_deinit(plg_out_t *o)
{
    jsplice_free(&o->edits);
}

void plg_warn(plg_out_t *o, const char *msg)
{
    if (o->n_warnings < PLG_MAX_WARN) o->warnings[o->n_warnings++] = msg;
}

char *plg_json_str(arena_t *a, const char *s, size_t *len)
{
    buf_t b = BUF_INIT;
    buf_json_str(&b, s, strlen(s));
    char *r = arena_strndup(a, b.data, b.len);
    if (len) *len = b.len;
    buf_free(&b);
    return r;
}

void plg_edit(const plg_ctx_t *c, plg_out_t *o, uint32_t off, uint32_t len, const char *s, size_t n)
{
    jsplice_add(&o->edits, off, len, s, (uint32_t)n);
}

static jspan_t top_obj(const plg_ctx_t *c)
{
    return (jspan_t){c->jr->obj_open, c->jr->obj_close - c->jr->obj_open + 1};
}

static bool is_deleted(const plg_out_t *o, const char *key)
{
    for (size_t i = 0; i < o->n_deleted; i++)
        if (!strcmp(o->deleted[i], key)) return true;
    return false;
}

static bool key_deleted(const plg_ctx_t *c, const plg_out_t *o, jspan_t k)
{
    for (size_t i = 0; i < o->n_deleted; i++)
        if (jscan_str_eq(c->body, k, o->deleted[i])) return true;
    return false;
}

bool plg_body_get(const plg_ctx_t *c, const plg_out_t *o, const char *key, jspan_t *val)
{
    if (is_deleted(o, key)) return false;
    return jscan_obj_get(c->body, top_obj(c), key, val);
}

void plg_body_set(const plg_ctx_t *c, plg_out_t *o, const char *key, const char *json)
{
    jspan_t v;
    if (plg_body_get(c, o, key, &v)) {
        plg_edit(c, o, v.off, v.len, json, strlen(json));
        return;
    }
    size_t remaining = 0;
    uint32_t cur = 0;
    jspan_t k;
    while (jscan_obj_next(c->body, top_obj(c), &cur, &k, &v))
        remaining += !key_deleted(c, o, k);
    size_t kl;
    char *ks = plg_json_str(c->arena, key, &kl);
    char *m =
        arena_sprintf(c->arena, "%s%s:%s", remaining || o->n_top_inserts ? "," : "", ks, json);
    plg_edit(c, o, c->jr->obj_close, 0, m, strlen(m));
    o->n_top_inserts++;
}

void plg_body_del(plg_out_t *o, const char *key)
{
    if (is_deleted(o, key) || o->n_deleted >= PLG_MAX_DELETES) return;
    o->deleted[o->n_deleted++] = key;
}

void plg_body_finish(const plg_ctx_t *c, plg_out_t *o)
{
    if (o->finished) return;
    o->finished = true;
    if (!o->n_deleted) return;
    jspan_t obj = top_obj(c), k, v;
    uint32_t cur = 0;
    size_t n = 0;
    while (jscan_obj_next(c->body, obj, &cur, &k, &v))
        n++;
    if (!n) return;
    jspan_t *ks = arena_alloc(c->arena, n * sizeof *ks),
            *vs = arena_alloc(c->arena, n * sizeof *vs);
    bool *del = arena_calloc(c->arena, n);
    long last_kept = -1;
    cur = 0;
    for (size_t i = 0; i < n && jscan_obj_next(c->body, obj, &cur, &ks[i], &vs[i]); i++) {
        del[i] = key_deleted(c, o, ks[i]);
        if (!del[i]) last_kept = (long)i;
    }
    /* a removed member before the last kept one takes its trailing comma */
    for (long i = 0; i < last_kept; i++)
        if (del[i]) plg_edit(c, o, ks[i].off, ks[i + 1].off - ks[i].off, "", 0);
    /* removed members after it go as one run with the comma before them */
    if ((size_t)(last_kept + 1) < n) {
        bool any = false;
        for (size_t i = (size_t)(last_kept + 1); i < n; i++)
            any |= del[i];
        if (any) {
            uint32_t from =
                last_kept >= 0 ? vs[last_kept].off + vs[last_kept].len : ks[last_kept + 1].off;
            uint32_t to = vs[n - 1].off + vs[n - 1].len;
            plg_edit(c, o, from, to - from, "", 0);
        }
    }
}

const cfg_plugin_t *plg_find(const cfg_decision_t *d, const char *type)
{
    for (size_t i = 0; d && i < d->n_plugins; i++)
        if (d->plugins[i].type && !strcmp(d->plugins[i].type, type)) return &d->plugins[i];
    return NULL;
}
