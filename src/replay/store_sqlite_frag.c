/* store_sqlite_frag.c - repeated fragments of the SQLite replay store. A
 * router renders the same decision trace and candidates list for most of
 * its requests (2.4 KB of a 4.1 KB routed record); the writer keeps each
 * such text once, in replay_frag, and a row refers to it (frag1: the trace,
 * frag2: the candidates) with the offsets where it goes back into the row's
 * record text (frag_at). A scan puts it back, so every query answers the
 * same text; the writer writes about half the bytes per record (the WAL, the
 * checkpoint's copy, SQLite's page work and checksums shrink with them).
 *
 * The writer remembers the last REPLAY_SQ_FRAGS distinct fragments it saw
 * (length and text); a fragment gets a row the second time it is seen,
 * so a text that never repeats (or a short one) stays inline. Fragment ids
 * are AUTOINCREMENT (never reused): an id the writer remembers always names
 * its text. Each batch sets the used fragments' last_used to the newest
 * row referring to them, re-creating a row another writer's sweep removed,
 * inside the batch's transaction; the sweep deletes fragments whose
 * last_used is older than the oldest row, which no row can refer to. */
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "replay/store_sqlite.h"

static const char FRAG_SCHEMA[] = REPLAY_SQ_FRAG_SCHEMA;

/* The columns a file made before 2026-12-07 (this change) lacks (a new
 * file's table has them: store_sqlite.c). */
static const char *const FRAG_COLUMNS[] = {"frag1", "frag2", "frag_at"};

bool replay_sq_has_column(sq_store_t *s, const char *col)
{
    sqlite3_stmt *st = NULL;
    bool yes = false;
    if (sqlite3_prepare_v2(s->db, "SELECT 1 FROM pragma_table_info('replay') WHERE name = ?1", -1,
                           &st, NULL) == SQLITE_OK) {
        sqlite3_bind_text(st, 1, col, -1, SQLITE_STATIC);
        yes = sqlite3_step(st) == SQLITE_ROW;
    }
    sqlite3_finalize(st);
    return yes;
}

static bool has_frag_table(sq_store_t *s)
{
    sqlite3_stmt *st = NULL;
    bool yes =
        sqlite3_prepare_v2(s->db, "SELECT 1 FROM replay_frag LIMIT 0", -1, &st, NULL) == SQLITE_OK;
    sqlite3_finalize(st);
    return yes;
}

void replay_sq_frag_recheck(sq_store_t *s)
{
    s->has_frags = has_frag_table(s) && replay_sq_has_column(s, "frag_at");
}

int replay_sq_frag_open(sq_store_t *s, buf_t *err)
{
    if (s->base.cfg.read_only) {
        replay_sq_frag_recheck(s);
        return REPLAY_OK;
    }
    int added = 0;
    if (sqlite3_exec(s->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "migrate (fragment table)");
    for (size_t i = 0; i < sizeof FRAG_COLUMNS / sizeof FRAG_COLUMNS[0]; i++) {
        if (replay_sq_has_column(s, FRAG_COLUMNS[i])) continue;
        char sql[96];
        snprintf(sql, sizeof sql, "ALTER TABLE replay ADD COLUMN %s INTEGER", FRAG_COLUMNS[i]);
        if (sqlite3_exec(s->db, sql, NULL, NULL, NULL) != SQLITE_OK) goto bad;
        added++;
    }
    if (sqlite3_exec(s->db, FRAG_SCHEMA, NULL, NULL, NULL) != SQLITE_OK ||
        sqlite3_exec(s->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK)
        goto bad;
    s->has_frags = true;
    if (added) {
        buf_t p = BUF_INIT;
        buf_json_str(&p, s->base.cfg.path, strlen(s->base.cfg.path));
        tlog(TLOG_INFO, "replay_store_migrated",
             "\"path\":%s,\"added_columns\":%d,\"why\":\"a repeated decision trace or candidates "
             "list is stored once (replay_frag); older rows are read as before\"",
             p.data, added);
        buf_free(&p);
    }
    if (sqlite3_prepare_v2(s->db, "INSERT INTO replay_frag(last_used, frag_text) VALUES(?1, ?2)",
                           -1, &s->frag_new, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(s->db,
                           "INSERT INTO replay_frag(fid, last_used, frag_text) VALUES(?1, ?2, ?3)"
                           " ON CONFLICT(fid) DO UPDATE SET"
                           " last_used = max(last_used, excluded.last_used)",
                           -1, &s->frag_keep, NULL) != SQLITE_OK)
        return replay_sq_fail(s, err, "prepare (fragments)");
    return REPLAY_OK;
bad:
    replay_sq_fail(s, err, "migrate (fragment table)");
    sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
    return REPLAY_EIO;
}

int64_t replay_sq_frag_ref(sq_store_t *s, const char *text, size_t n, int64_t created_ms, int *rc)
{
    *rc = SQLITE_OK;
    if (!s->has_frags || n < REPLAY_SQ_FRAG_MIN) return 0;
    /* by length, then bytes (no hash: a memcmp of an equal fragment costs
     * less than hashing it, and an unequal one of the same length differs
     * early) */
    sq_frag_t *e = NULL, *victim = &s->frags[0];
    for (size_t i = 0; i < REPLAY_SQ_FRAGS; i++) {
        sq_frag_t *x = &s->frags[i];
        if (x->len == n && !memcmp(x->text, text, n)) {
            e = x;
            break;
        }
        if (x->used < victim->used) victim = x;
    }
    s->frag_tick++;
    if (!e) { /* first sight: remember it, store it inline */
        char *copy = malloc(n);
        if (!copy) abort();
        memcpy(copy, text, n);
        free(victim->text);
        *victim = (sq_frag_t){.used = s->frag_tick, .len = n, .text = copy};
        return 0;
    }
    e->used = s->frag_tick;
    if (!e->fid) {
        sqlite3_bind_int64(s->frag_new, 1, created_ms);
        sqlite3_bind_text(s->frag_new, 2, e->text, (int)e->len, SQLITE_STATIC);
        int step = sqlite3_step(s->frag_new);
        sqlite3_reset(s->frag_new);
        if (step != SQLITE_DONE) {
            *rc = step;
            return 0;
        }
        e->fid = sqlite3_last_insert_rowid(s->db);
        e->fid_is_new = true;
        e->batch = s->batch;
        e->last_ms = created_ms;
        return e->fid;
    }
    if (e->batch != s->batch) {
        e->batch = s->batch;
        e->last_ms = created_ms;
    } else if (created_ms > e->last_ms) {
        e->last_ms = created_ms;
    }
    return e->fid;
}

int replay_sq_frag_batch_end(sq_store_t *s)
{
    for (size_t i = 0; i < REPLAY_SQ_FRAGS; i++) {
        sq_frag_t *e = &s->frags[i];
        if (!e->fid || e->batch != s->batch) continue;
        sqlite3_stmt *st = s->frag_keep;
        sqlite3_bind_int64(st, 1, e->fid);
        sqlite3_bind_int64(st, 2, e->last_ms);
        sqlite3_bind_text(st, 3, e->text, (int)e->len, SQLITE_STATIC);
        int step = sqlite3_step(st);
        sqlite3_reset(st);
        if (step != SQLITE_DONE) return step;
    }
    return SQLITE_OK;
}

void replay_sq_frag_rollback(sq_store_t *s)
{
    for (size_t i = 0; i < REPLAY_SQ_FRAGS; i++) {
        sq_frag_t *e = &s->frags[i];
        if (e->fid_is_new && e->batch == s->batch) e->fid = 0;
        e->fid_is_new = false;
    }
}

int replay_sq_frag_sweep(sq_store_t *s)
{
    if (!s->has_frags || !s->ins) return SQLITE_OK;
    return sqlite3_exec(s->db,
                        "DELETE FROM replay_frag WHERE last_used < COALESCE((SELECT"
                        " min(created_at) FROM replay), 9223372036854775807)",
                        NULL, NULL, NULL);
}

void replay_sq_frag_close(sq_store_t *s)
{
    sqlite3_finalize(s->frag_new);
    sqlite3_finalize(s->frag_keep);
    s->frag_new = s->frag_keep = NULL;
    for (size_t i = 0; i < REPLAY_SQ_FRAGS; i++) {
        free(s->frags[i].text);
        s->frags[i] = (sq_frag_t){0};
    }
}

const char *replay_sq_frag_splice(buf_t *out, const char *cut, int64_t at, const char *f1,
                                  const char *f2)
{
    size_t n = strlen(cut), a1 = (size_t)(uint32_t)at, a2 = (size_t)((uint64_t)at >> 32);
    if (!f1) a1 = 0;
    if (!f2) a2 = a1;
    if (a1 > n) a1 = n;
    if (a2 < a1) a2 = a1;
    if (a2 > n) a2 = n;
    buf_reset(out);
    buf_append(out, cut, a1);
    if (f1) buf_puts(out, f1);
    buf_append(out, cut + a1, a2 - a1);
    if (f2) buf_puts(out, f2);
    buf_append(out, cut + a2, n - a2);
    return out->data;
}
