/* replay.c - `tether replay list|show|session|export`: read the replay store
 * (SPEC §9.9) offline, the same store the server writes, through the same
 * queries as the management API (src/replay/query.h). The store is named by
 * --db PATH (sqlite, or jsonl when the name ends in .jsonl/.ndjson; --store
 * overrides) or by --config F (global.services.router_replay); with neither,
 * ./tether-replay.db. The file is opened read-only. */
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "config/config.h"
#include "core/clock.h"
#include "replay/query.h"
#include "replay/store.h"

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: tether replay list   [STORE] [FILTERS] [--limit N] [--cursor C] [--format "
        "table|json]\n"
        "       tether replay show   ID [STORE] [--no-bodies]\n"
        "       tether replay session ID [STORE] [--format table|json]\n"
        "       tether replay export --format jsonl|csv [--out FILE] [STORE] [FILTERS] [--bodies]\n"
        "STORE:   --db PATH [--store sqlite|jsonl] | --config FILE   (default ./tether-replay.db)\n"
        "FILTERS: --session S --decision D --model M --reason R --since T\n"
        "         T: Unix seconds/ms, RFC 3339, YYYY-MM-DD, or an age like 15m, 2h, 7d\n"
        "list is newest first (default limit 50, max 1000); export writes every match.\n");
}

typedef struct {
    const char *sub, *id, *db, *store, *config, *format, *out, *since;
    replay_query_t q;
    bool bodies, no_bodies;
} opts_t;

static bool ends_with(const char *s, const char *suf)
{
    size_t n = strlen(s), k = strlen(suf);
    return n >= k && !strcmp(s + n - k, suf);
}

/* Returns 0 ok, 1 usage error (printed). */
static int parse(int argc, char **argv, opts_t *o)
{
    memset(o, 0, sizeof *o);
    if (argc < 2) return 1;
    o->sub = argv[1];
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name, field)                                                                           \
    if (!strcmp(a, name)) {                                                                        \
        if (!v) goto missing;                                                                      \
        field = v;                                                                                 \
        i++;                                                                                       \
        continue;                                                                                  \
    }
        OPT("--db", o->db)
        OPT("--store", o->store)
        OPT("--config", o->config)
        OPT("--format", o->format)
        OPT("--out", o->out)
        OPT("--session", o->q.session_id)
        OPT("--decision", o->q.decision)
        OPT("--model", o->q.model)
        OPT("--reason", o->q.reason)
        OPT("--since", o->since)
        OPT("--cursor", o->q.cursor)
#undef OPT
        if (!strcmp(a, "--limit")) {
            if (!v) goto missing;
            char *end = NULL;
            long long l = strtoll(v, &end, 10);
            if (*end || l < 1) {
                fprintf(stderr, "tether replay: --limit '%s' is not a positive integer\n", v);
                return 1;
            }
            o->q.limit = (size_t)l;
            i++;
        } else if (!strcmp(a, "--bodies")) {
            o->bodies = true;
        } else if (!strcmp(a, "--no-bodies")) {
            o->no_bodies = true;
        } else if (a[0] != '-' && !o->id) {
            o->id = a;
        } else {
            fprintf(stderr, "tether replay: unknown option '%s'\n", a);
            return 1;
        }
        continue;
    missing:
        fprintf(stderr, "tether replay: %s needs a value\n", a);
        return 1;
    }
    if (o->db && o->config) {
        fprintf(stderr, "tether replay: give --db or --config, not both\n");
        return 1;
    }
    if (o->q.reason && !replay_reason_valid(o->q.reason)) {
        fprintf(stderr, "tether replay: unknown reason '%s'; one of:", o->q.reason);
        for (size_t k = 0; k < replay_n_reasons; k++)
            fprintf(stderr, " %s", replay_reason_names[k]);
        fputc('\n', stderr);
        return 1;
    }
    if (o->since && replay_query_parse_since(o->since, clock_wall_ms(), &o->q.since_ms)) {
        fprintf(stderr,
                "tether replay: --since '%s' is not Unix seconds/ms, RFC 3339, YYYY-MM-DD or an "
                "age like 15m, 2h, 7d\n",
                o->since);
        return 1;
    }
    return 0;
}

/* Open the store read-only; prints the reason and returns NULL on failure. */
static replay_store_t *open_store(const opts_t *o, cfg_t **cfg_out)
{
    replay_config_t rc;
    replay_config_defaults(&rc);
    *cfg_out = NULL;
    if (o->config) {
        cfg_diags_t d;
        cfg_diags_init(&d);
        cfg_t *c = cfg_load_file(o->config, NULL, &d);
        if (!c) {
            cfg_diags_print(stderr, &d);
            cfg_diags_free(&d);
            return NULL;
        }
        cfg_diags_free(&d);
        replay_config_from_cfg(c, &rc);
        *cfg_out = c;
    } else if (o->db) {
        rc.path = o->db;
        rc.store = ends_with(o->db, ".jsonl") || ends_with(o->db, ".ndjson") ? "jsonl" : "sqlite";
    }
    if (o->store) {
        if (!rc.store || strcmp(rc.store, o->store))
            rc.opts = NULL; /* the config's are another's */
        rc.store = o->store;
    }
    rc.read_only = true;
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&rc, &err);
    if (!s) fprintf(stderr, "tether replay: %s\n", err.data ? err.data : "cannot open the store");
    buf_free(&err);
    return s;
}

/* ---- list --------------------------------------------------------------- */

static const char *nz(const char *s)
{
    return s && *s ? s : "-";
}

static bool table_row(void *ctx, const replay_row_t *r)
{
    char ts[32];
    replay_time_format(r->created_at_ms, ts);
    char sid[20];
    snprintf(sid, sizeof sid, "%s", nz(r->session_id));
    if (r->session_id && strlen(r->session_id) >= sizeof sid)
        memcpy(sid + sizeof sid - 4, "...", 4);
    printf("%-24s  %-27s  %-19s %4lld  %-16s %-24s %-24s %s\n", ts, r->id, sid, (long long)r->turn,
           nz(r->decision), nz(r->model), nz(r->reason), r->switched ? "yes" : "no");
    (*(size_t *)ctx)++;
    return true;
}

static int cmd_list(replay_store_t *s, const opts_t *o)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    int rc;
    const char *fmt = o->format ? o->format : "table";
    if (!strcmp(fmt, "json")) {
        rc = replay_query_list(s, &o->q, &out, &err);
        if (!rc) printf("%s\n", out.data);
    } else {
        size_t n = 0;
        printf("%-24s  %-27s  %-19s %4s  %-16s %-24s %-24s %s\n", "TIME", "ID", "SESSION", "TURN",
               "DECISION", "MODEL", "REASON", "SWITCHED");
        rc = replay_query_rows(s, &o->q, table_row, &n, &err);
        if (!rc && !n) fprintf(stderr, "(no records match)\n");
    }
    if (rc) fprintf(stderr, "tether replay: %s\n", err.data ? err.data : "query failed");
    buf_free(&out);
    buf_free(&err);
    return rc == REPLAY_EINVAL ? 1 : rc ? 2 : 0;
}

/* ---- show / session ------------------------------------------------------ */

static void print_pretty(const char *json)
{
    cJSON *j = cJSON_Parse(json);
    char *p = j ? cJSON_Print(j) : NULL;
    printf("%s\n", p ? p : json);
    cJSON_free(p);
    cJSON_Delete(j);
}

static int cmd_show(replay_store_t *s, const opts_t *o)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    /* Offline readers hold the file itself, so bodies are shown unless refused. */
    int rc = replay_query_get(s, o->id, !o->no_bodies, &out, &err);
    if (!rc)
        print_pretty(out.data);
    else
        fprintf(stderr, "tether replay: %s\n", err.data ? err.data : "query failed");
    buf_free(&out);
    buf_free(&err);
    return rc == REPLAY_ENOTFOUND || rc == REPLAY_EINVAL ? 1 : rc ? 2 : 0;
}

static int cmd_session(replay_store_t *s, const opts_t *o)
{
    buf_t out = BUF_INIT, err = BUF_INIT;
    int rc = replay_query_timeline(s, o->id, NULL, &out, &err);
    if (rc) {
        fprintf(stderr, "tether replay: %s\n", err.data ? err.data : "query failed");
    } else if (o->format && !strcmp(o->format, "json")) {
        printf("%s\n", out.data);
    } else {
        cJSON *j = cJSON_Parse(out.data);
        const cJSON *t;
        printf("session %s\n%4s  %-24s  %-16s %-24s %-8s %-24s %-10s %s\n", o->id, "TURN", "TIME",
               "DECISION", "MODEL", "SWITCHED", "REASON", "PHASE", "REPLAY ID");
        cJSON_ArrayForEach(t, cJSON_GetObjectItem(j, "timeline"))
        {
            const char *d = cJSON_GetStringValue(cJSON_GetObjectItem(t, "decision"));
            const char *m = cJSON_GetStringValue(cJSON_GetObjectItem(t, "model"));
            const char *r = cJSON_GetStringValue(cJSON_GetObjectItem(t, "reason"));
            const char *ph = cJSON_GetStringValue(cJSON_GetObjectItem(t, "phase"));
            printf("%4d  %-24s  %-16s %-24s %-8s %-24s %-10s %s\n",
                   (int)cJSON_GetNumberValue(cJSON_GetObjectItem(t, "turn")),
                   nz(cJSON_GetStringValue(cJSON_GetObjectItem(t, "time"))), nz(d), nz(m),
                   cJSON_IsTrue(cJSON_GetObjectItem(t, "switched")) ? "yes" : "no", nz(r), nz(ph),
                   nz(cJSON_GetStringValue(cJSON_GetObjectItem(t, "replay_id"))));
        }
        if (!cJSON_GetArraySize(cJSON_GetObjectItem(j, "timeline")))
            fprintf(stderr, "(no records for this session)\n");
        cJSON_Delete(j);
    }
    buf_free(&out);
    buf_free(&err);
    return rc == REPLAY_EINVAL ? 1 : rc ? 2 : 0;
}

/* ---- export ------------------------------------------------------------- */

typedef struct {
    FILE *f;
    bool csv, bodies;
    size_t n;
} export_ctx_t;

/* A CSV column: its header and where the record keeps it (object, or
 * object.key). */
typedef struct csv_col {
    const char *name, *obj, *key;
} csv_col_t;

static const csv_col_t CSV_COLS[] = {{"id", "id", NULL},
                                     {"created_at", "created_at", NULL},
                                     {"request_id", "request_id", NULL},
                                     {"endpoint", "endpoint", NULL},
                                     {"tenant", "tenant", NULL},
                                     {"recipe", "recipe", NULL},
                                     {"decision", "decision", NULL},
                                     {"decision_confidence", "decision_confidence", NULL},
                                     {"model", "model", NULL},
                                     {"session_id", "session", "id"},
                                     {"turn", "session", "turn"},
                                     {"phase", "session", "phase"},
                                     {"reason", "session", "reason"},
                                     {"switched", "session", "switched"},
                                     {"previous_model", "session", "previous_model"},
                                     {"hard_lock", "session", "hard_lock"},
                                     {"backend", "backend", NULL},
                                     {"response_path", "response_path", NULL},
                                     {"status", "status", NULL},
                                     {"usage_prompt", "usage", "prompt"},
                                     {"usage_cached", "usage", "cached"},
                                     {"usage_completion", "usage", "completion"},
                                     {"cost_currency", "cost", "currency"},
                                     {"cost_actual", "cost", "actual"},
                                     {"cost_baseline", "cost", "baseline"},
                                     {"routing_us", "latency", "routing_us"},
                                     {"ttft_ms", "latency", "ttft_ms"},
                                     {"total_ms", "latency", "total_ms"}};

static void csv_field(FILE *f, const cJSON *v, bool last)
{
    if (cJSON_IsString(v)) {
        const char *s = v->valuestring;
        if (strpbrk(s, ",\"\r\n")) {
            fputc('"', f);
            for (; *s; s++) {
                if (*s == '"') fputc('"', f);
                fputc(*s, f);
            }
            fputc('"', f);
        } else {
            fputs(s, f);
        }
    } else if (cJSON_IsBool(v)) {
        fputs(cJSON_IsTrue(v) ? "true" : "false", f);
    } else if (cJSON_IsNumber(v)) {
        double d = v->valuedouble;
        if (d == (double)(long long)d)
            fprintf(f, "%lld", (long long)d);
        else
            fprintf(f, "%.10g", d);
    }
    fputc(last ? '\n' : ',', f);
}

static const cJSON *get2(const cJSON *j, const char *a, const char *b)
{
    const cJSON *x = cJSON_GetObjectItemCaseSensitive(j, a);
    return b ? cJSON_GetObjectItemCaseSensitive(x, b) : x;
}

static bool export_row(void *p, const replay_row_t *r)
{
    export_ctx_t *c = p;
    c->n++;
    if (!c->csv) {
        size_t n = strlen(r->json);
        if (c->bodies && r->bodies_json && n >= 2) {
            fwrite(r->json, 1, n - 1, c->f);
            fprintf(c->f, ",\"bodies\":%s}\n", r->bodies_json);
        } else {
            fprintf(c->f, "%s\n", r->json);
        }
        return !ferror(c->f);
    }
    cJSON *j = cJSON_Parse(r->json);
    size_t nc = sizeof CSV_COLS / sizeof CSV_COLS[0];
    for (size_t i = 0; i < nc; i++)
        csv_field(c->f, get2(j, CSV_COLS[i].obj, CSV_COLS[i].key), i + 1 == nc);
    cJSON_Delete(j);
    return !ferror(c->f);
}

static int cmd_export(replay_store_t *s, const opts_t *o)
{
    const char *fmt = o->format ? o->format : "jsonl";
    if (strcmp(fmt, "jsonl") && strcmp(fmt, "csv")) {
        fprintf(stderr, "tether replay export: --format must be jsonl or csv\n");
        return 1;
    }
    FILE *f = stdout;
    if (o->out && !(f = fopen(o->out, "w"))) {
        perror(o->out);
        return 2;
    }
    export_ctx_t c = {.f = f, .csv = !strcmp(fmt, "csv"), .bodies = o->bodies};
    if (c.csv)
        for (size_t i = 0; i < sizeof CSV_COLS / sizeof CSV_COLS[0]; i++)
            fprintf(f, "%s%c", CSV_COLS[i].name,
                    i + 1 == sizeof CSV_COLS / sizeof CSV_COLS[0] ? '\n' : ',');
    replay_query_t q = o->q;
    if (!q.limit) q.limit = SIZE_MAX; /* export: every match unless --limit */
    buf_t err = BUF_INIT;
    int rc = replay_query_rows(s, &q, export_row, &c, &err);
    if (rc) fprintf(stderr, "tether replay: %s\n", err.data ? err.data : "query failed");
    bool werr = ferror(f) != 0;
    if (f != stdout)
        werr |= fclose(f) != 0;
    else
        fflush(f);
    if (werr) fprintf(stderr, "tether replay export: write failed\n");
    buf_free(&err);
    if (!rc && !werr) fprintf(stderr, "exported %zu records\n", c.n);
    return rc == REPLAY_EINVAL ? 1 : rc || werr ? 2 : 0;
}

int cli_replay(int argc, char **argv)
{
    if (argc >= 2 &&
        (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help"))) {
        usage(stdout);
        return 0;
    }
    opts_t o;
    if (parse(argc, argv, &o)) {
        usage(stderr);
        return 1;
    }
    bool needs_id = !strcmp(o.sub, "show") || !strcmp(o.sub, "session");
    bool known = needs_id || !strcmp(o.sub, "list") || !strcmp(o.sub, "export");
    if (!known) {
        fprintf(stderr, "tether replay: unknown subcommand '%s'\n", o.sub);
        usage(stderr);
        return 1;
    }
    if (needs_id && !o.id) {
        fprintf(stderr, "tether replay %s: give the %s id\n", o.sub,
                !strcmp(o.sub, "show") ? "replay record" : "session");
        return 1;
    }
    if (!needs_id && o.id) {
        fprintf(stderr, "tether replay %s: unexpected argument '%s'\n", o.sub, o.id);
        return 1;
    }
    if (o.format && !strcmp(o.sub, "list") && strcmp(o.format, "table") &&
        strcmp(o.format, "json")) {
        fprintf(stderr, "tether replay list: --format must be table or json\n");
        return 1;
    }
    cfg_t *cfg = NULL;
    replay_store_t *s = open_store(&o, &cfg);
    if (!s) {
        cfg_free(cfg);
        return 2;
    }
    int rc;
    if (!strcmp(o.sub, "list"))
        rc = cmd_list(s, &o);
    else if (!strcmp(o.sub, "show"))
        rc = cmd_show(s, &o);
    else if (!strcmp(o.sub, "session"))
        rc = cmd_session(s, &o);
    else
        rc = cmd_export(s, &o);
    replay_store_close(s);
    cfg_free(cfg);
    return rc;
}
