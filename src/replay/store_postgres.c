/* store_postgres.c - the `postgres` replay store: durable records for
 * audit, shared by every replica, in one PostgreSQL table.
 *
 * tether creates and migrates the schema itself (schema version in
 * <table>_schema, under an advisory lock so replicas starting together do
 * not race): one row per record with the filter columns, the figures the
 * aggregates sum and the record JSON, and indexes for the session timeline
 * (session_id, created_at_ms), time ranges (created_at_ms, id), and
 * decision, model and reason queries. Rows older than retention_days are
 * deleted by the writer's sweep; max_records and max_bytes do not apply
 * (an audit trail is bounded by time).
 *
 * Writes are batched: the spool's thread (spool.h) sends each batch as one
 * multi-row INSERT ... ON CONFLICT DO NOTHING (a retried batch does not
 * duplicate) on a connection of its own, so an outage only fills the
 * spool's bounded buffer and never reaches the replay writer or a request.
 * Reads (the management API, `tether replay`) use a second connection on
 * the caller's thread; every statement is bounded by timeout_ms. */
#include <libpq-fe.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"
#include "replay/registry.h"
#include "replay/spool.h"
#include "replay/store.h"

typedef struct pg_replay_opts {
    char *conninfo, *password_env, *table;
    int64_t retention_days, timeout_ms, buffer_records;
} pg_replay_opts_t;

typedef struct {
    replay_spooled_t sp; /* first: base, spool, rmu */
    char *conninfo, *password, *table;
    int64_t retention_days, timeout_ms;
    PGconn *w; /* the spool thread's */
    PGconn *r; /* readers', under rmu */
    bool schema_ok;
} pg_store_t;

#define SCHEMA_VERSION 1
#define NCOLS          18

static void pg_err(buf_t *err, const char *what, PGconn *c)
{
    if (!err) return;
    buf_reset(err);
    const char *m = c ? PQerrorMessage(c) : "out of memory";
    size_t n = strlen(m);
    while (n && (m[n - 1] == '\n' || m[n - 1] == ' '))
        n--;
    buf_printf(err, "postgres: %s: %.*s", what, (int)n, m);
}

static bool exec_ok(PGconn *c, const char *sql, buf_t *err)
{
    PGresult *r = PQexec(c, sql);
    ExecStatusType st = PQresultStatus(r);
    bool ok = st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK;
    if (!ok) pg_err(err, "statement failed", c);
    PQclear(r);
    return ok;
}

/* The schema, version by version; each step runs once. */
static bool migrate(pg_store_t *s, PGconn *c, buf_t *err)
{
    buf_t q = BUF_INIT;
    const char *t = s->table;
    buf_printf(&q,
               "BEGIN; SELECT pg_advisory_xact_lock(hashtext('%s_schema'));"
               "CREATE TABLE IF NOT EXISTS %s_schema (version integer NOT NULL);",
               t, t);
    bool ok = exec_ok(c, q.data, err);
    int have = 0;
    if (ok) {
        buf_reset(&q);
        buf_printf(&q, "SELECT coalesce(max(version), 0) FROM %s_schema", t);
        PGresult *r = PQexec(c, q.data);
        ok = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
        if (ok)
            have = atoi(PQgetvalue(r, 0, 0));
        else
            pg_err(err, "reading the schema version", c);
        PQclear(r);
    }
    if (ok && have < 1) {
        buf_reset(&q);
        buf_printf(&q,
                   "CREATE TABLE IF NOT EXISTS %s ("
                   " id text COLLATE \"C\" PRIMARY KEY, created_at_ms bigint NOT NULL,"
                   " session_id text, decision text, model text, reason text, phase text,"
                   " hard_lock text, turn bigint NOT NULL DEFAULT 0,"
                   " switched boolean NOT NULL DEFAULT false, status integer,"
                   " prompt_tokens bigint, cached_tokens bigint, completion_tokens bigint,"
                   " cost double precision, baseline_cost double precision,"
                   " record text NOT NULL, bodies text);"
                   "CREATE INDEX IF NOT EXISTS %s_time ON %s (created_at_ms, id);"
                   "CREATE INDEX IF NOT EXISTS %s_session ON %s (session_id, created_at_ms)"
                   " WHERE session_id IS NOT NULL;"
                   "CREATE INDEX IF NOT EXISTS %s_decision ON %s (decision, created_at_ms);"
                   "CREATE INDEX IF NOT EXISTS %s_model ON %s (model, created_at_ms);"
                   "CREATE INDEX IF NOT EXISTS %s_reason ON %s (reason, created_at_ms);"
                   "INSERT INTO %s_schema VALUES (1);",
                   t, t, t, t, t, t, t, t, t, t, t, t);
        ok = exec_ok(c, q.data, err);
    }
    /* later versions: if (ok && have < 2) { ALTER TABLE ...; INSERT ... (2) } */
    ok = exec_ok(c, ok ? "COMMIT" : "ROLLBACK", ok ? err : NULL) && ok;
    buf_free(&q);
    return ok;
}

static void quiet_notice(void *arg, const char *message) {}

static PGconn *pg_connect(pg_store_t *s, bool writer, buf_t *err)
{
    char ct[24], st[64];
    snprintf(ct, sizeof ct, "%lld", (long long)((s->timeout_ms + 999) / 1000));
    snprintf(st, sizeof st, "-c statement_timeout=%lld", (long long)s->timeout_ms);
    const char *keys[] = {
        "dbname", "connect_timeout", "options", "application_name", s->password ? "password" : NULL,
        NULL};
    const char *vals[] = {s->conninfo, ct, st, "tether-replay", s->password, NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1); /* dbname holds the conninfo: expanded */
    if (!c || PQstatus(c) != CONNECTION_OK) {
        pg_err(err, "connecting", c);
        PQfinish(c);
        return NULL;
    }
    PQsetNoticeProcessor(c, quiet_notice, NULL); /* the server's NOTICEs are not ours to print */
    if (writer && !s->schema_ok) {
        if (!migrate(s, c, err)) {
            PQfinish(c);
            return NULL;
        }
        s->schema_ok = true;
    }
    return c;
}

/* A failed statement on a dead connection: drop it, reconnect next time. */
static void drop_if_bad(PGconn **c)
{
    if (*c && PQstatus(*c) != CONNECTION_OK) {
        PQfinish(*c);
        *c = NULL;
    }
}

/* ---- write (the spool's sink) ----------------------------------------- */

typedef struct {
    char ms[24], turn[24], status[16], pt[24], ct[24], cpt[24], cost[32], base[32];
} pg_nums_t;

static int pg_sink(void *ud, const replay_flat_t *rows, size_t n, buf_t *err)
{
    pg_store_t *s = ud;
    if (!s->w && !(s->w = pg_connect(s, true, err))) return REPLAY_EIO;
    buf_t q = BUF_INIT;
    buf_printf(&q,
               "INSERT INTO %s (id, created_at_ms, session_id, decision, model, reason, phase,"
               " hard_lock, turn, switched, status, prompt_tokens, cached_tokens,"
               " completion_tokens, cost, baseline_cost, record, bodies) VALUES ",
               s->table);
    const char **v = calloc(n * NCOLS, sizeof *v);
    pg_nums_t *nm = calloc(n, sizeof *nm);
    if (!v || !nm) abort();
    for (size_t i = 0; i < n; i++) {
        const replay_flat_t *r = &rows[i];
        pg_nums_t *x = &nm[i];
        snprintf(x->ms, sizeof x->ms, "%llu", (unsigned long long)r->created_at_ms);
        snprintf(x->turn, sizeof x->turn, "%lld", (long long)r->turn);
        snprintf(x->status, sizeof x->status, "%d", r->status);
        snprintf(x->pt, sizeof x->pt, "%lld", (long long)r->prompt_tokens);
        snprintf(x->ct, sizeof x->ct, "%lld", (long long)r->cached_tokens);
        snprintf(x->cpt, sizeof x->cpt, "%lld", (long long)r->completion_tokens);
        snprintf(x->cost, sizeof x->cost, "%.17g", r->cost);
        snprintf(x->base, sizeof x->base, "%.17g", r->baseline_cost);
        const char *row[NCOLS] = {
            r->id,     x->ms,    r->session_id, r->decision, r->model,
            r->reason, r->phase, r->hard_lock,  x->turn,     r->switched ? "t" : "f",
            x->status, x->pt,    x->ct,         x->cpt,      x->cost,
            x->base,   r->json,  r->bodies};
        memcpy(&v[i * NCOLS], row, sizeof row);
        buf_puts(&q, i ? ",(" : "(");
        for (size_t k = 0; k < NCOLS; k++)
            buf_printf(&q, "%s$%zu", k ? "," : "", i * NCOLS + k + 1);
        buf_putc(&q, ')');
    }
    buf_puts(&q, " ON CONFLICT (id) DO NOTHING");
    PGresult *res = PQexecParams(s->w, q.data, (int)(n * NCOLS), NULL, v, NULL, NULL, 0);
    int rc = REPLAY_OK;
    if (PQresultStatus(res) != PGRES_COMMAND_OK) {
        pg_err(err, "insert failed", s->w);
        rc = REPLAY_EIO;
        /* the table is gone (a restored or failed-over database): create it
         * again on the next attempt */
        const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
        if (state && !strcmp(state, "42P01")) {
            s->schema_ok = false;
            PQfinish(s->w);
            s->w = NULL;
        }
    }
    PQclear(res);
    if (rc != REPLAY_OK) drop_if_bad(&s->w);
    free(v);
    free(nm);
    buf_free(&q);
    return rc;
}

/* ---- scan --------------------------------------------------------------- */

static int scan_locked(pg_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                       buf_t *err)
{
    buf_t q = BUF_INIT;
    const char *v[10];
    char since[24], bms[24], lim[24];
    int np = 0;
    buf_printf(&q,
               "SELECT id, created_at_ms, session_id, decision, model, reason, phase, turn,"
               " switched, record, bodies FROM %s WHERE true",
               s->table);
#define COND(val, fmt)                                                                             \
    do {                                                                                           \
        v[np++] = (val);                                                                           \
        buf_printf(&q, fmt, np);                                                                   \
    } while (0)
    if (f->id) COND(f->id, " AND id = $%d");
    if (f->session_id) COND(f->session_id, " AND session_id = $%d");
    if (f->decision) COND(f->decision, " AND decision = $%d");
    if (f->model) COND(f->model, " AND model = $%d");
    if (f->reason) COND(f->reason, " AND reason = $%d");
    if (f->since_ms) {
        snprintf(since, sizeof since, "%llu", (unsigned long long)f->since_ms);
        COND(since, " AND created_at_ms >= $%d");
    }
    if (f->has_cursor) {
        snprintf(bms, sizeof bms, "%llu", (unsigned long long)f->before_ms);
        v[np++] = bms;
        v[np++] = f->before_id ? f->before_id : "";
        buf_printf(&q, " AND (created_at_ms < $%d OR (created_at_ms = $%d AND id < $%d))", np - 1,
                   np - 1, np);
    }
#undef COND
    buf_puts(&q, " ORDER BY created_at_ms DESC, id DESC");
    if (f->limit) {
        snprintf(lim, sizeof lim, "%zu", f->limit);
        v[np++] = lim;
        buf_printf(&q, " LIMIT $%d", np);
    }
    PGresult *res = PQexecParams(s->r, q.data, np, NULL, v, NULL, NULL, 0);
    buf_free(&q);
    if (PQresultStatus(res) != PGRES_TUPLES_OK) {
        pg_err(err, "query failed", s->r);
        PQclear(res);
        drop_if_bad(&s->r);
        return REPLAY_EIO;
    }
    int rows = PQntuples(res);
#define COL(i, k) (PQgetisnull(res, i, k) ? NULL : PQgetvalue(res, i, k))
    for (int i = 0; i < rows; i++) {
        replay_row_t r = {.id = COL(i, 0),
                          .created_at_ms = strtoull(PQgetvalue(res, i, 1), NULL, 10),
                          .session_id = COL(i, 2),
                          .decision = COL(i, 3),
                          .model = COL(i, 4),
                          .reason = COL(i, 5),
                          .phase = COL(i, 6),
                          .turn = strtoll(PQgetvalue(res, i, 7), NULL, 10),
                          .switched = PQgetvalue(res, i, 8)[0] == 't',
                          .json = COL(i, 9),
                          .bodies_json = COL(i, 10)};
        if (!cb(ctx, &r)) break;
    }
#undef COL
    PQclear(res);
    return REPLAY_OK;
}

static int pg_scan(replay_store_t *bs, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                   buf_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    replay_filter_t all = {0};
    if (!f) f = &all;
    pthread_mutex_lock(&s->sp.rmu);
    int rc = REPLAY_OK;
    if (!s->r && !(s->r = pg_connect(s, false, err))) rc = REPLAY_EIO;
    if (rc == REPLAY_OK) rc = scan_locked(s, f, cb, ctx, err);
    pthread_mutex_unlock(&s->sp.rmu);
    return rc;
}

/* ---- retention, flush, close ------------------------------------------ */

static int pg_sweep(replay_store_t *bs, uint64_t now_ms, size_t *removed, buf_t *err)
{
    pg_store_t *s = (pg_store_t *)bs;
    *removed = 0;
    uint64_t keep = (uint64_t)s->retention_days * 86400000ull;
    if (s->retention_days <= 0 || now_ms <= keep) return REPLAY_OK;
    char cut[24];
    snprintf(cut, sizeof cut, "%llu", (unsigned long long)(now_ms - keep));
    buf_t q = BUF_INIT;
    buf_printf(&q, "DELETE FROM %s WHERE created_at_ms < $1", s->table);
    const char *v[] = {cut};
    pthread_mutex_lock(&s->sp.rmu);
    int rc = REPLAY_OK;
    if (!s->r && !(s->r = pg_connect(s, false, err))) rc = REPLAY_EIO;
    if (rc == REPLAY_OK) {
        PGresult *res = PQexecParams(s->r, q.data, 1, NULL, v, NULL, NULL, 0);
        if (PQresultStatus(res) == PGRES_COMMAND_OK) {
            *removed = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
        } else {
            pg_err(err, "retention sweep failed", s->r);
            rc = REPLAY_EIO;
        }
        PQclear(res);
        if (rc != REPLAY_OK) drop_if_bad(&s->r);
    }
    pthread_mutex_unlock(&s->sp.rmu);
    buf_free(&q);
    return rc;
}

/* The spooled base's release: called by replay_spooled_close once the
 * spool's thread (which owns s->w until then) has stopped. */
static void pg_release(replay_spooled_t *sp)
{
    pg_store_t *s = (pg_store_t *)sp;
    PQfinish(s->w);
    PQfinish(s->r);
    free(s->conninfo);
    free(s->password);
    free(s->table);
}

static replay_store_t *pg_open(const replay_config_t *c, buf_t *err);

static const replay_store_ops_t PG_OPS = REPLAY_SPOOLED_OPS("postgres", pg_open, pg_scan, pg_sweep);

/* A table name goes into SQL text: letters, digits and '_' only. */
static bool table_name_ok(const char *t)
{
    if (!t || !*t || strlen(t) > 48 || (*t >= '0' && *t <= '9')) return false;
    for (; *t; t++)
        if (!((*t >= 'a' && *t <= 'z') || (*t >= '0' && *t <= '9') || *t == '_')) return false;
    return true;
}

static replay_store_t *pg_open(const replay_config_t *c, buf_t *err)
{
    const pg_replay_opts_t *o = c->opts;
    const char *table = o && o->table ? o->table : "tether_replay";
    if (!table_name_ok(table)) {
        if (err) {
            buf_reset(err);
            buf_printf(err,
                       "replay store postgres: table '%s' must be lower-case letters, digits "
                       "and '_' (at most 48)",
                       table);
        }
        return NULL;
    }
    const char *pw = o && o->password_env ? getenv(o->password_env) : NULL;
    pg_store_t *s = calloc(1, sizeof *s);
    if (!s) abort();
    s->conninfo = strdup(o && o->conninfo ? o->conninfo : "host=127.0.0.1 dbname=tether");
    s->password = pw && *pw ? strdup(pw) : NULL;
    s->table = strdup(table);
    if (!s->conninfo || !s->table) abort();
    s->retention_days = o ? o->retention_days : 30;
    s->timeout_ms = o && o->timeout_ms > 0 ? o->timeout_ms : 5000;
    replay_spooled_init(&s->sp, &PG_OPS, c, o ? o->buffer_records : 0, pg_sink, pg_release);
    return &s->sp.base;
}

static const char *pg_check(const void *opts)
{
    const pg_replay_opts_t *o = opts;
    return o && o->table && !table_name_ok(o->table)
               ? "table must be lower-case letters, digits and '_' (at most 48, not starting "
                 "with a digit)"
               : NULL;
}

/* The registry entry (registry.h). */
const cfg_store_backend_t replay_postgres_store = {
    .name = "postgres",
    .flags = CFG_STORE_SHARED,
    .doc = "Durable records for audit in one PostgreSQL table shared by every replica; tether "
           "creates and migrates the schema and its indexes (session timeline, time range, "
           "decision, model, reason). Batched writes off the request path; while the server "
           "is away records wait in a buffer of buffer_records (then are dropped and counted). "
           "Bounded by retention_days; max_records, max_bytes and ttl_seconds do not apply.",
    .fields =
        (const cfg_field_t[]){
            CFG_FSTR(pg_replay_opts_t, "conninfo", conninfo, "host=127.0.0.1 dbname=tether",
                     "libpq connection string or postgresql:// URI (no password in it)"),
            CFG_FSTR(pg_replay_opts_t, "password_env", password_env, NULL,
                     "environment variable with the password"),
            CFG_FSTR(pg_replay_opts_t, "table", table, "tether_replay",
                     "table name (lower-case letters, digits, _)"),
            CFG_FI64(pg_replay_opts_t, "retention_days", retention_days, "30", 0, 36500,
                     "rows older than this are deleted; 0 keeps them"),
            CFG_FI64(pg_replay_opts_t, "timeout_ms", timeout_ms, "5000", 1, 600000,
                     "connect and statement timeout"),
            CFG_FI64(pg_replay_opts_t, "buffer_records", buffer_records, "10000", 1, 100000000,
                     "records held while PostgreSQL is unavailable"),
            {0}},
    .opts_size = sizeof(pg_replay_opts_t),
    .check = pg_check,
    .ops.replay = &PG_OPS,
};
