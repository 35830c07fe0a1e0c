/* table.h - the process's own counters of rate limits and budgets, shared
 * by every worker thread: a counter is named by a string (rule, subject,
 * kind) and holds one value for its current window; a value from an older
 * window reads as 0 and is replaced on the next add. 64 shards, each a
 * mutex over a chained hash, held only for a lookup and an add (lock-light:
 * workers rarely meet on one shard). The number of counters is capped (the
 * subjects come from the config, so a cap is never reached in practice);
 * past it new counters read 0 and adds are dropped, counted in
 * lim_table_dropped (fail open, never a failure).
 * Thread-safe. */
#ifndef TETHER_LIMITS_TABLE_H
#define TETHER_LIMITS_TABLE_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct lim_table lim_table_t;

lim_table_t *lim_table_new(size_t max_counters);
void lim_table_free(lim_table_t *t);

/* A counter's name and its hash (lim_table_hash), computed once per request. */
typedef struct lim_key {
    const char *name;
    size_t len;
    uint64_t hash;
} lim_key_t;
uint64_t lim_table_hash(const char *name, size_t len);

/* The value of counter k in window ws (0 when absent or older). */
int64_t lim_table_get(lim_table_t *t, const lim_key_t *k, uint64_t ws);
/* Add delta (saturating, >= 0) in window ws; returns the new value. */
int64_t lim_table_add(lim_table_t *t, const lim_key_t *k, uint64_t ws, int64_t delta);
/* value = max(value, floor) in window ws (a shared count learnt from Redis). */
void lim_table_raise(lim_table_t *t, const lim_key_t *k, uint64_t ws, int64_t floor);
/* Call fn for every counter whose name starts with prefix (under its
 * shard's lock: fn must not call back into the table). */
void lim_table_each(lim_table_t *t, const char *prefix, size_t plen,
                    void (*fn)(void *ud, const char *name, size_t len, uint64_t ws, int64_t value),
                    void *ud);
/* Counters never made because the table was full. */
uint64_t lim_table_dropped(const lim_table_t *t);
#endif
