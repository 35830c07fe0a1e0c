/* sqlite_file.h - a test's own connection to a SQLite file the store under
 * test writes (a second reader or writer, as the CLI or another process
 * would be), opened for one statement and closed again so it never holds up
 * a checkpoint. Include after <cmocka.h>. */
#ifndef TETHER_TEST_SQLITE_FILE_H
#define TETHER_TEST_SQLITE_FILE_H
#include <sqlite3.h>
#include <stdint.h>

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
#endif
