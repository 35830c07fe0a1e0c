/* sqlite_file.h - a test's own connection to a SQLite file the store under
 * test writes (a second reader or writer, as the CLI or another process
 * would be), opened for one statement and closed again so it never holds up
 * a checkpoint. Include after <cmocka.h>. */
#ifndef TETHER_TEST_SQLITE_FILE_H
#define TETHER_TEST_SQLITE_FILE_H
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>

#include "core/buf.h"
#include "replay/store.h"

/* The first column of the first row of sql. */
static inline int64_t sqlite_file_int(const char *path, const char *sql)
{
    sqlite3 *db;
    sqlite3_stmt *q;
    assert_int_equal(sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
    assert_int_equal(sqlite3_step(q), SQLITE_ROW);
    int64_t v = sqlite3_column_int64(q, 0);
    sqlite3_finalize(q);
    sqlite3_close(db);
    return v;
}
/* The SQLite replay store at path with the defaults, no row cap, the
 * given ttl and read-only flag; NULL (the error printed) when it fails. */
static inline replay_store_t *sqlite_store_open(const char *path, int64_t ttl, bool ro)
{
    replay_config_t c;
    replay_config_defaults(&c);
    c.path = path;
    c.max_records = 0;
    c.ttl_seconds = ttl;
    c.read_only = ro;
    buf_t err = BUF_INIT;
    replay_store_t *s = replay_store_open(&c, &err);
    if (!s) fprintf(stderr, "%s\n", err.data);
    buf_free(&err);
    return s;
}
#endif
