/* fuzz_replay.c - libFuzzer harness for replay record decoding (build and
 * run with scripts/fuzz.sh). The first line of the input is a management
 * API query string (replay_query_from_params, replay_query_parse_since);
 * every further line is one stored record: a JSONL line (replay_row_parse),
 * or, when that refuses it, a row as the Redis and Postgres stores hand it
 * back (columns plus the stored text, JSON or not). A store whose scan serves
 * those lines (newest first, as the backends do) is then read by every query
 * path that decodes stored JSON: list, get, timeline, aggregate and
 * trajectory, with and without bodies.
 *
 * Besides "no crash, no sanitizer report": a query that succeeds writes JSON
 * that cJSON parses. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/family.h"
#include "replay/query.h"
#include "replay/store.h"

/* The harness never opens a configured store: the backend registry (which
 * would pull in every backend and the config layer) is stubbed. */
const cfg_store_backend_t *cfg_store_backend_find(cfg_store_kind_t k, const char *name)
{
    (void)k;
    (void)name;
    return NULL;
}
const char *cfg_store_backend_list(cfg_store_kind_t k)
{
    (void)k;
    return "";
}

#define CHECK(c)                                                                                   \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_replay: check failed: %s (line %d)\n", #c, __LINE__);            \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

#define MAX_ROWS 64

typedef struct {
    replay_row_parsed_t p;
    char *raw, *raw_id; /* a line that is not a record, served as Redis or
                           Postgres would: columns plus the stored text */
} fz_row_t;

typedef struct {
    replay_store_t base;
    fz_row_t rows[MAX_ROWS];
    size_t n;
} fz_store_t;

static int fz_scan(replay_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                   buf_t *err)
{
    (void)err;
    fz_store_t *z = (fz_store_t *)s;
    size_t sent = 0;
    for (size_t i = 0; i < z->n; i++) {
        const replay_row_t *r = &z->rows[i].p.row;
        if (f->id && strcmp(f->id, r->id) != 0) continue;
        if (!replay_filter_match(f, r)) continue;
        if (!cb(ctx, r)) break;
        if (f->limit && ++sent >= f->limit) break;
    }
    return 0;
}

static const replay_store_ops_t fz_ops = {.name = "fuzz", .scan = fz_scan};

static int newest_first(const void *a, const void *b)
{
    const replay_row_t *x = &((const fz_row_t *)a)->p.row;
    const replay_row_t *y = &((const fz_row_t *)b)->p.row;
    return replay_row_cmp(y->created_at_ms, y->id, x->created_at_ms, x->id);
}

static void check_out(int rc, buf_t *out)
{
    if (rc == 0 && out->len) {
        cJSON *j = cJSON_ParseWithLength(out->data, out->len);
        CHECK(j != NULL);
        cJSON_Delete(j);
    }
    buf_reset(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size > (1u << 20)) return 0;
    char *d = malloc(size + 1);
    if (!d) return 0;
    memcpy(d, data, size);
    d[size] = 0;
    const char *nl = memchr(d, '\n', size);
    size_t qlen = nl ? (size_t)(nl - d) : size;

    static fz_store_t z;
    memset(&z, 0, sizeof z);
    z.base.ops = &fz_ops;
    size_t i = nl ? qlen + 1 : size;
    while (i < size && z.n < MAX_ROWS) {
        const char *eol = memchr(d + i, '\n', size - i);
        size_t l = eol ? (size_t)(eol - (d + i)) : size - i;
        fz_row_t *e = &z.rows[z.n];
        if (!replay_row_parse(d + i, l, &e->p)) {
            /* Redis and Postgres hand back columns and the stored JSON text
             * as it is: the query paths must survive text that is not JSON */
            char id[32];
            snprintf(id, sizeof id, "rr_raw%zu", z.n);
            e->raw = strndup(d + i, l);
            e->raw_id = strdup(id);
            replay_row_t *r = &e->p.row;
            r->id = e->raw_id;
            r->created_at_ms = 1000 + z.n;
            r->session_id = "s1";
            r->json = e->raw;
            r->bodies_json = (z.n & 1) ? e->raw : NULL;
        }
        z.n++;
        i += l + 1;
    }
    qsort(z.rows, z.n, sizeof z.rows[0], newest_first);

    arena_t arena;
    arena_init(&arena, 4096);
    replay_query_t q;
    memset(&q, 0, sizeof q);
    buf_t out = BUF_INIT, err = BUF_INIT;
    char qs[512];
    snprintf(qs, sizeof qs, "%.*s", (int)(qlen < sizeof qs - 1 ? qlen : sizeof qs - 1), d);
    uint64_t ms;
    (void)replay_query_parse_since(qs, 1700000000000ull, &ms);
    if (replay_query_from_params(d, qlen, 1700000000000ull, &arena, &q, &err) != 0)
        memset(&q, 0, sizeof q);
    replay_store_t *s = &z.base;
    check_out(replay_query_list(s, &q, &out, &err), &out);
    const char *sid = q.session_id ? q.session_id : "s1";
    for (size_t k = 0; k < z.n && k < 2; k++)
        for (int wb = 0; wb < 2; wb++)
            check_out(replay_query_get(s, z.rows[k].p.row.id, wb, &out, &err), &out);
    check_out(replay_query_timeline(s, sid, NULL, &out, &err), &out);
    replay_baseline_t bl = {.model = "m", .prompt_per_1m = 1.5, .completion_per_1m = 6};
    check_out(replay_query_aggregate(s, &q, NULL, &out, &err), &out);
    check_out(replay_query_aggregate(s, &q, &bl, &out, &err), &out);
    check_out(replay_query_trajectory(s, sid, false, &out, &err), &out);
    check_out(replay_query_trajectory(s, sid, true, &out, &err), &out);

    buf_free(&out);
    buf_free(&err);
    arena_deinit(&arena);
    for (size_t k = 0; k < z.n; k++) {
        free(z.rows[k].raw);
        free(z.rows[k].raw_id);
        replay_row_parsed_free(&z.rows[k].p);
    }
    free(d);
    return 0;
}
