/* store_jsonl.c - the append-only replay store (SPEC §9.9): one record per
 * line (bodies included, under "bodies"), written with O_APPEND so a line is
 * never interleaved. No sweep: rotate or truncate the file from outside.
 * Queries read the whole file, keep the matching lines and sort them newest
 * first, so they cost O(file); use sqlite when the API is queried often. */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "replay/registry.h"
#include "replay/store.h"

typedef struct {
    replay_store_t base;
    int fd; /* -1 when read-only */
    pthread_mutex_t mu;
} jl_store_t;

static int io_fail(jl_store_t *s, buf_t *err, const char *what)
{
    if (err) {
        buf_reset(err);
        buf_printf(err, "replay jsonl %s %s: %s", what, s->base.cfg.path, strerror(errno));
    }
    return REPLAY_EIO;
}

static int jl_write(replay_store_t *bs, replay_record_t *const *recs, size_t n, buf_t *err)
{
    jl_store_t *s = (jl_store_t *)bs;
    if (s->fd < 0) {
        if (err) {
            buf_reset(err);
            buf_printf(err, "replay jsonl store %s is open read-only", bs->cfg.path);
        }
        return REPLAY_EINVAL;
    }
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        replay_record_render(recs[i], true, &b);
        buf_putc(&b, '\n');
    }
    int rc = REPLAY_OK;
    pthread_mutex_lock(&s->mu);
    size_t off = 0;
    while (off < b.len) {
        ssize_t w = write(s->fd, b.data + off, b.len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) {
            rc = io_fail(s, err, "write");
            break;
        }
        off += (size_t)w;
    }
    pthread_mutex_unlock(&s->mu);
    buf_free(&b);
    return rc;
}

typedef struct {
    replay_row_parsed_t *v;
    size_t n, cap;
} rows_t;

static int cmp_desc(const void *a, const void *b)
{
    const replay_row_t *x = &((const replay_row_parsed_t *)a)->row;
    const replay_row_t *y = &((const replay_row_parsed_t *)b)->row;
    return -replay_row_cmp(x->created_at_ms, x->id, y->created_at_ms, y->id);
}

static int jl_scan(replay_store_t *bs, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                   buf_t *err)
{
    jl_store_t *s = (jl_store_t *)bs;
    pthread_mutex_lock(&s->mu);
    FILE *fp = fopen(bs->cfg.path, "r");
    if (!fp) {
        int e = errno;
        pthread_mutex_unlock(&s->mu);
        if (e == ENOENT) return REPLAY_OK; /* nothing written yet */
        errno = e;
        return io_fail(s, err, "open");
    }
    rows_t rows = {0};
    char *line = NULL;
    size_t lcap = 0;
    ssize_t len;
    while ((len = getline(&line, &lcap, fp)) > 0) {
        replay_row_parsed_t p;
        if (!replay_row_parse(line, (size_t)len, &p)) continue; /* a torn or foreign line */
        if (!replay_filter_match(f, &p.row)) {
            replay_row_parsed_free(&p);
            continue;
        }
        if (rows.n == rows.cap) {
            rows.cap = rows.cap ? rows.cap * 2 : 64;
            rows.v = realloc(rows.v, rows.cap * sizeof *rows.v);
            if (!rows.v) abort();
        }
        rows.v[rows.n++] = p;
    }
    free(line);
    fclose(fp);
    pthread_mutex_unlock(&s->mu);
    if (rows.n) qsort(rows.v, rows.n, sizeof *rows.v, cmp_desc);
    size_t emitted = 0;
    for (size_t i = 0; i < rows.n; i++) {
        if (f->limit && emitted >= f->limit) break;
        emitted++;
        if (!cb(ctx, &rows.v[i].row)) break;
    }
    for (size_t i = 0; i < rows.n; i++)
        replay_row_parsed_free(&rows.v[i]);
    free(rows.v);
    return REPLAY_OK;
}

static int jl_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    *removed = 0; /* append-only by design */
    return REPLAY_OK;
}

static void jl_close(replay_store_t *bs)
{
    jl_store_t *s = (jl_store_t *)bs;
    if (s->fd >= 0) close(s->fd);
    pthread_mutex_destroy(&s->mu);
    replay_store_base_deinit(bs);
    free(s);
}

static const replay_store_ops_t JL_OPS = {.name = "jsonl",
                                          .open = replay_store_jsonl_open,
                                          .write = jl_write,
                                          .scan = jl_scan,
                                          .sweep = jl_sweep,
                                          .close = jl_close};

replay_store_t *replay_store_jsonl_open(const replay_config_t *c, buf_t *err)
{
    jl_store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    replay_config_t cc = *c;
    if (!cc.path || !*cc.path) cc.path = "tether-replay.jsonl";
    replay_store_base_init(&s->base, &JL_OPS, &cc);
    pthread_mutex_init(&s->mu, NULL);
    s->fd = -1;
    if (c->read_only) {
        if (access(cc.path, R_OK) != 0) {
            io_fail(s, err, "open");
            jl_close(&s->base);
            return NULL;
        }
        return &s->base;
    }
    s->fd = open(cc.path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
    if (s->fd < 0) {
        io_fail(s, err, "open");
        jl_close(&s->base);
        return NULL;
    }
    return &s->base;
}

/* The registry entry (registry.h). */
const cfg_store_backend_t replay_jsonl_store = {.name = "jsonl", .ops.replay = &JL_OPS};
