/* response_store.h - the Responses API store (SPEC §4.5): for each response
 * its id (resp_ + 24 hex), session key, model, native flag, input and output
 * items (JSON arrays), instructions, previous_response_id, creation time and
 * the Response object served by GET. Memory backend: TTL and max_responses
 * (oldest evicted first). Redis is not implemented yet.
 *
 * Thread-safety: every function locks the store's mutex; entries returned
 * are copies owned by the caller (rstore_entry_free). */
#ifndef TETHER_API_RESPONSE_STORE_H
#define TETHER_API_RESPONSE_STORE_H
#include "api/translate.h"
#include <cjson/cJSON.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rstore rstore_t;

typedef struct rstore_entry {
    char id[32];
    char *session_key;          /* may be NULL */
    char *model;                /* configured model that produced it */
    bool native;                /* provider holds the state (responses_mode: native) */
    char *input;                /* JSON array of input items of this turn */
    char *output;               /* JSON array of output items */
    char *instructions;         /* may be NULL */
    char *previous_response_id; /* may be NULL */
    char *response;             /* the Response object (JSON) */
    int64_t created_at;         /* unix seconds */
    uint64_t expires_ms;        /* set by the store */
} rstore_entry_t;

/* ttl_ms 0 = no expiry; max 0 = unbounded. */
rstore_t *rstore_new(uint64_t ttl_ms, size_t max);
void rstore_free(rstore_t *s);
/* Copy e in (replacing an entry with the same id). now_ms: wall clock. */
void rstore_put(rstore_t *s, const rstore_entry_t *e, uint64_t now_ms);
/* A copy of the entry, or NULL when absent or expired. */
rstore_entry_t *rstore_get(rstore_t *s, const char *id, uint64_t now_ms);
bool rstore_delete(rstore_t *s, const char *id);
size_t rstore_count(rstore_t *s);
void rstore_entry_free(rstore_entry_t *e);

/* Expand the chain ending at id (oldest first) into chat messages appended
 * to msgs, and into Responses items appended to items (either may be NULL).
 * *instructions (malloc'd, may be NULL) is the newest instructions on the
 * chain; *native tells whether any entry is native; *model the model of the
 * newest entry (malloc'd). Returns the chain length, or -1 when an id on the
 * chain is unknown (previous_response_not_found). */
int rstore_chain(rstore_t *s, const char *id, uint64_t now_ms, cJSON *msgs, cJSON *items,
                 char **instructions, bool *native, char **model, tr_warn_t *w);

/* A new id: "resp_" + 24 random hex digits. */
void rstore_new_id(char out[32]);
#endif
