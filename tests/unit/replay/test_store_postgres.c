/* test_store_postgres.c - the `postgres` replay store against a real
 * PostgreSQL the test creates and starts on loopback: the shared store
 * behaviour, the schema created once and its indexes, two stores (two
 * replicas) seeing each other's records, retention_days, and an outage
 * (writes never fail or wait; records wait in the bounded buffer, the
 * overflow dropped and counted; writing resumes when the server is back). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#define FX_CONFORMANCE
#define FX_SHARED_STORE
#include "postgres_server.h"
#include "proc.h"
#include "replay/spool.h"
#include "replay_fixture.h"
#include <libpq-fe.h>

#include "config/config.h"

typedef struct pg_replay_opts { /* the backend's options block (store_postgres.c) */
    char *conninfo, *password_env, *table;
    int64_t retention_days, timeout_ms, buffer_records;
} pg_replay_opts_t;

static tpg_t pg;

static replay_store_t *open_pg(const char *table, int64_t retention_days, int64_t buffer)
{
    static pg_replay_opts_t o[8];
    static int k;
    pg_replay_opts_t *x = &o[k++ % 8];
    *x = (pg_replay_opts_t){.conninfo = pg.conninfo,
                            .table = (char *)table,
                            .retention_days = retention_days,
                            .timeout_ms = 2000,
                            .buffer_records = buffer};
    return fx_open_shared("postgres", x, 0);
}

static long long sql_int(const char *q)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    PGresult *r = PQexec(c, q);
    long long v =
        PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : -1;
    PQclear(r);
    PQfinish(c);
    return v;
}

static int setup(void **st)
{
    if (!tpg_bindir()) return 0;
    return tpg_start(&pg, tsupport_free_port());
}

static int teardown(void **st)
{
    tpg_stop(&pg);
    return 0;
}

static void test_postgres_store_behaviour(void **st)
{
    TPG_NEED();
    replay_store_t *s = open_pg("t1", 30, 0);
    assert_non_null(s);
    assert_string_equal(s->ops->name, "postgres");
    fx_store_conformance(s);
    replay_store_close(s);
}

static void test_schema_is_created_once_with_indexes(void **st)
{
    TPG_NEED();
    replay_store_t *a = open_pg("t2", 30, 0), *b = open_pg("t2", 30, 0);
    fx_two_replicas_write(a, b);
    assert_int_equal(sql_int("SELECT count(*) FROM t2_schema"), 1);
    assert_int_equal(sql_int("SELECT max(version) FROM t2_schema"), 1);
    assert_int_equal(sql_int("SELECT count(*) FROM pg_indexes WHERE tablename = 't2'"), 6);
    /* each replica sees both turns, the lock taken on the other included */
    assert_int_equal(fx_count(a, &(replay_filter_t){.session_id = "shared"}), 2);
    assert_int_equal(fx_count(b, &(replay_filter_t){.reason = "hard_lock_tool_loop"}), 1);
    assert_int_equal(sql_int("SELECT prompt_tokens FROM t2 LIMIT 1"), 100);
    replay_store_close(a);
    replay_store_close(b);
}

static void test_retention_days_sweep(void **st)
{
    TPG_NEED();
    replay_store_t *s = open_pg("t3", 1, 0);
    uint64_t day = 86400000ull, now = 10 * day;
    replay_record_t *recs[3] = {fx_record(now - 3 * day, "r", 1, "d", "m", "cold_start"),
                                fx_record(now - day - 1, "r", 2, "d", "m", "cold_start"),
                                fx_record(now - 1000, "r", 3, "d", "m", "cold_start")};
    assert_int_equal(fx_write(s, recs, 3), REPLAY_OK);
    size_t removed = 0;
    assert_int_equal(replay_store_sweep(s, now, &removed, NULL), REPLAY_OK);
    assert_int_equal(removed, 2);
    assert_int_equal(fx_count(s, &(replay_filter_t){0}), 1);
    replay_store_close(s);
}

static void test_outage_buffers_drops_and_resumes(void **st)
{
    TPG_NEED();
    replay_store_t *s = open_pg("t4", 30, 5);
    fx_outage_first_write(s);
    tpg_kill(&pg);
    replay_spool_stats_t ss;
    fx_outage_writes_buffer(s, &ss);
    buf_t err = BUF_INIT;
    fx_rows_t rows = {0};
    assert_int_equal(replay_store_scan(s, &(replay_filter_t){0}, fx_collect, &rows, &err),
                     REPLAY_EIO);
    assert_non_null(strstr(err.data, "postgres"));
    buf_free(&err);
    /* back with its data: the buffered five join the first record */
    assert_int_equal(tpg_start(&pg, pg.port), 0);
    assert_true(replay_store_flush(s, 20000));
    replay_store_spool_stats(s, &ss);
    assert_false(ss.is_down);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "o"}), 6);
    replay_store_close(s);
}

static void sql_exec(const char *q)
{
    PGconn *c = PQconnectdb(pg.conninfo);
    PQclear(PQexec(c, q));
    PQfinish(c);
}

static void test_dropped_table_is_created_again(void **st)
{
    TPG_NEED();
    replay_store_t *s = open_pg("t5", 30, 0);
    replay_record_t *a[1] = {fx_record(1000, "d", 1, "d", "m", "cold_start")};
    assert_int_equal(fx_write(s, a, 1), REPLAY_OK);
    sql_exec("DROP TABLE t5; DROP TABLE t5_schema");
    replay_record_t *b[1] = {fx_record(2000, "d", 2, "d", "m", "cold_start")};
    assert_int_equal(fx_write(s, b, 1), REPLAY_OK);
    assert_int_equal(fx_count(s, &(replay_filter_t){.session_id = "d"}), 1);
    assert_int_equal(sql_int("SELECT max(version) FROM t5_schema"), 1);
    replay_store_close(s);
}

static void test_bad_table_name_is_refused(void **st)
{
    TPG_NEED();
    buf_t err = BUF_INIT;
    pg_replay_opts_t o = {.conninfo = pg.conninfo, .table = "x; DROP TABLE y"};
    replay_config_t c;
    replay_config_defaults(&c);
    c.store = "postgres";
    c.opts = &o;
    assert_null(replay_store_open(&c, &err));
    assert_non_null(strstr(err.data, "table"));
    buf_free(&err);
}

/* ... and rejected by the config loader, naming the block */
static void test_bad_table_name_is_a_config_error(void **st)
{
    static const char yaml[] =
        "version: v0.3\n"
        "listeners:\n  - {name: main, address: 127.0.0.1, port: 18080}\n"
        "providers:\n  defaults: {default_model: m}\n  models:\n"
        "    - name: m\n      backend_refs: [{name: b, endpoint: \"127.0.0.1:9\"}]\n"
        "routing:\n  modelCards: [{name: m}]\n"
        "global:\n  services:\n    router_replay: {store: postgres, postgres: {table: "
        "\"Bad-Name\"}}\n";
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    bool named = false;
    for (size_t i = 0; i < d.n; i++)
        if (d.items[i].path && strstr(d.items[i].path, "router_replay.postgres") &&
            strstr(d.items[i].message, "table must be"))
            named = true;
    assert_true(named);
    cfg_diags_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_postgres_store_behaviour),
        cmocka_unit_test(test_schema_is_created_once_with_indexes),
        cmocka_unit_test(test_retention_days_sweep),
        cmocka_unit_test(test_outage_buffers_drops_and_resumes),
        cmocka_unit_test(test_dropped_table_is_created_again),
        cmocka_unit_test(test_bad_table_name_is_refused),
        cmocka_unit_test(test_bad_table_name_is_a_config_error),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
