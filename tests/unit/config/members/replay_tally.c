/* replay_tally.c - a test-only replay store backend, written exactly as a
 * backend in src/replay/ would be (src/replay/store_tally.c):
 * `router_replay: {store: tally, tally: {label, keep}}` keeps the last
 * `keep` records in memory under a label. Its options live in its own
 * struct, loaded from its own block. */
#include "config/family.h"
#include "replay/store.h"
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally_opts { /* this backend's own options */
    char *label;
    int64_t keep;
} tally_opts_t;

typedef struct tally_store {
    replay_store_t base;
    pthread_mutex_t mu;
    char *label;
    size_t keep, n, written; /* rows[0..n) oldest first */
    char **rows;
} tally_store_t;

static int tally_write(replay_store_t *bs, replay_record_t *const *recs, size_t n, buf_t *err)
{
    tally_store_t *s = (tally_store_t *)bs;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < n; i++) {
        buf_t js = BUF_INIT;
        replay_record_render(recs[i], false, &js);
        if (s->n == s->keep) { /* drop the oldest */
            free(s->rows[0]);
            memmove(s->rows, s->rows + 1, (s->n - 1) * sizeof *s->rows);
            s->n--;
        }
        s->rows[s->n++] = js.data;
        s->written++;
    }
    pthread_mutex_unlock(&s->mu);
    return REPLAY_OK;
}

static int tally_scan(replay_store_t *bs, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                      buf_t *err)
{
    tally_store_t *s = (tally_store_t *)bs;
    pthread_mutex_lock(&s->mu);
    size_t emitted = 0;
    for (size_t i = s->n; i-- > 0 && (!f->limit || emitted < f->limit);) {
        replay_row_parsed_t p;
        if (!replay_row_parse(s->rows[i], strlen(s->rows[i]), &p)) continue;
        bool more = true;
        if (replay_filter_match(f, &p.row)) {
            emitted++;
            more = cb(ctx, &p.row);
        }
        replay_row_parsed_free(&p);
        if (!more) break;
    }
    pthread_mutex_unlock(&s->mu);
    return REPLAY_OK;
}

static int tally_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    *removed = 0;
    return REPLAY_OK;
}

static void tally_close(replay_store_t *bs)
{
    tally_store_t *s = (tally_store_t *)bs;
    for (size_t i = 0; i < s->n; i++)
        free(s->rows[i]);
    free(s->rows);
    free(s->label);
    pthread_mutex_destroy(&s->mu);
    replay_store_base_deinit(bs);
    free(s);
}

static replay_store_t *tally_open(const replay_config_t *c, buf_t *err);

static const replay_store_ops_t tally_ops = {
    .name = "tally",
    .open = tally_open,
    .write = tally_write,
    .scan = tally_scan,
    .sweep = tally_sweep,
    .close = tally_close,
};

static replay_store_t *tally_open(const replay_config_t *c, buf_t *err)
{
    const tally_opts_t *o = c->opts; /* NULL: the defaults */
    tally_store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    replay_store_base_init(&s->base, &tally_ops, c);
    s->label = strdup(o && o->label ? o->label : "tally");
    s->keep = o && o->keep > 0 ? (size_t)o->keep : 8;
    s->rows = calloc(s->keep, sizeof *s->rows);
    if (!s->label || !s->rows) abort();
    pthread_mutex_init(&s->mu, NULL);
    return &s->base;
}

const cfg_store_backend_t replay_tally_store = {
    .name = "tally", /* router_replay.store: tally */
    .doc = "Test-only: the last records in memory, under a label.",
    .fields =
        (const cfg_field_t[]){CFG_FSTR(tally_opts_t, "label", label, NULL, "a name"),
                              CFG_FI64(tally_opts_t, "keep", keep, "8", 1, 1000, "records kept"),
                              {0}},
    .opts_size = sizeof(tally_opts_t),
    .ops.replay = &tally_ops,
};
