/* store.h - where replay records live (SPEC §9.9 "Stores"): one interface,
 * one file per backend (store_sqlite.c, store_jsonl.c, store_memory.c, and
 * the shared store_redis.c and store_postgres.c, which write behind a
 * bounded buffer, spool.h), each listed on one line of registry.h, and the
 * factory that opens the one the config names.
 *
 * A store keeps, per record, the rendered JSON (without bodies), the bodies
 * object (redacted; NULL when none were captured) and the columns the
 * queries filter on. Rows come back newest first, ordered by
 * (created_at_ms, id) descending, so a cursor (the last row's pair) pages
 * without gaps or repeats.
 *
 * Thread-safety: every operation of every store is thread-safe (each store
 * serialises on its own mutex; the shared ones keep one connection for the
 * writer side and one, under a mutex, for readers), so the writer thread
 * and the management API may share one store. */
#ifndef TETHER_REPLAY_STORE_H
#define TETHER_REPLAY_STORE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"
#include "replay/record.h"

struct cfg;
struct replay_spool_stats;

/* What a store is opened with; replay_config_from_cfg fills it from
 * global.services.router_replay with the SPEC §3.4 defaults. */
typedef struct replay_config {
    bool enabled;      /* true */
    const char *store; /* a backend of registry.h: sqlite, jsonl, memory, redis, postgres */
    /* The backend's own options block (its cfg_store_backend_t fields),
     * borrowed from the config; NULL when the config named another backend
     * or there is none (the backend then uses its defaults). */
    const void *opts;
    const char *path;    /* tether-replay.db; ${HOSTNAME} already expanded by the config loader */
    int64_t max_records; /* 100000; 0 = no cap */
    uint64_t max_bytes;  /* sqlite: 1 GiB; 0 = no cap (below 1 MiB counts as 1 MiB) */
    int64_t ttl_seconds; /* 604800; 0 = keep forever */
    bool capture_bodies; /* false */
    uint64_t max_body_bytes; /* 64 KiB */
    bool redact;             /* true: PII in bodies masked as [TYPE] (credentials always) */
    int64_t queue_size;      /* 10000 */
    bool read_only;          /* offline readers (the CLI): never create or change the file */
} replay_config_t;

/* The SPEC defaults. */
void replay_config_defaults(replay_config_t *c);
/* From a loaded config (borrowed strings; c must outlive the config). */
void replay_config_from_cfg(const struct cfg *cfg, replay_config_t *c);

/* One stored record as the store hands it to a scan callback; every pointer
 * is valid only during the callback. */
typedef struct replay_row {
    const char *id;
    uint64_t created_at_ms;
    const char *session_id, *decision, *model, *reason, *phase; /* NULL when absent */
    int64_t turn;
    bool switched;
    const char *json;        /* the record without bodies */
    const char *bodies_json; /* the "bodies" object, or NULL */
} replay_row_t;

/* Filters of a scan: NULL / 0 means "any". */
typedef struct replay_filter {
    const char *id; /* exact record */
    const char *session_id, *decision, *model, *reason;
    uint64_t since_ms; /* created_at_ms >= since_ms */
    /* cursor: only rows strictly older than (before_ms, before_id) */
    bool has_cursor;
    uint64_t before_ms;
    const char *before_id;
    size_t limit; /* 0 = no limit */
} replay_filter_t;

/* Return false to stop the scan. */
typedef bool (*replay_row_cb)(void *ctx, const replay_row_t *row);

typedef struct replay_store replay_store_t;
/* A backend: what its descriptor (config/family.h cfg_store_backend_t,
 * ops.replay) points to. */
typedef struct replay_store_ops {
    const char *name;
    /* Open a store of this backend. Returns NULL with a sentence in err. */
    replay_store_t *(*open)(const replay_config_t *c, buf_t *err);
    /* Store n records (already validated and redacted) in one batch. */
    int (*write)(replay_store_t *s, replay_record_t *const *recs, size_t n, buf_t *err);
    /* Matching rows, newest first. */
    int (*scan)(replay_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                buf_t *err);
    /* Delete rows older than ttl and beyond the caps; *removed gets the count
     * (sqlite: plus what the caps removed on write since the last sweep). */
    int (*sweep)(replay_store_t *s, uint64_t now_ms, size_t *removed, buf_t *err);
    /* Optional, for backends that write behind (redis, postgres): wait until
     * what write accepted is stored, up to deadline_ms; true when it is. */
    bool (*flush)(replay_store_t *s, uint64_t deadline_ms);
    /* Optional: the write-behind buffer's counters (spool.h). */
    void (*stats)(replay_store_t *s, struct replay_spool_stats *out);
    void (*close)(replay_store_t *s);
} replay_store_ops_t;

struct replay_store {
    const replay_store_ops_t *ops;
    replay_config_t cfg; /* a copy; path and store strings are owned copies */
};

/* Open the store c->store names (a backend of registry.h). Returns NULL
 * with a sentence in err. */
replay_store_t *replay_store_open(const replay_config_t *c, buf_t *err);
/* Backends (called by replay_store_open). */
replay_store_t *replay_store_sqlite_open(const replay_config_t *c, buf_t *err);
replay_store_t *replay_store_jsonl_open(const replay_config_t *c, buf_t *err);
replay_store_t *replay_store_memory_open(const replay_config_t *c, buf_t *err);

int replay_store_write(replay_store_t *s, replay_record_t *const *recs, size_t n, buf_t *err);
int replay_store_scan(replay_store_t *s, const replay_filter_t *f, replay_row_cb cb, void *ctx,
                      buf_t *err);
int replay_store_sweep(replay_store_t *s, uint64_t now_ms, size_t *removed, buf_t *err);
void replay_store_close(replay_store_t *s);
/* Wait for a write-behind store to catch up (true at once for the others). */
bool replay_store_flush(replay_store_t *s, uint64_t deadline_ms);
/* The write-behind counters; false (out zeroed) for a store that writes
 * synchronously. */
bool replay_store_spool_stats(replay_store_t *s, struct replay_spool_stats *out);

/* Helpers the backends share (store.c). */
/* Copy c into s->cfg with owned strings. */
void replay_store_base_init(replay_store_t *s, const replay_store_ops_t *ops,
                            const replay_config_t *c);
void replay_store_base_deinit(replay_store_t *s);
/* Does the row pass the filter (ignoring limit)? */
bool replay_filter_match(const replay_filter_t *f, const replay_row_t *row);
/* Order key comparison: >0 when (a_ms,a_id) is newer than (b_ms,b_id). */
int replay_row_cmp(uint64_t a_ms, const char *a_id, uint64_t b_ms, const char *b_id);
/* Fill a row's columns from a parsed record JSON text (for jsonl). Returns
 * false when the text is not a record. Strings point into storage that
 * lives until replay_row_parsed_free. */
typedef struct replay_row_parsed {
    replay_row_t row;
    void *doc; /* cJSON */
    char *json, *bodies;
} replay_row_parsed_t;
bool replay_row_parse(const char *line, size_t len, replay_row_parsed_t *out);
void replay_row_parsed_free(replay_row_parsed_t *p);
#endif
