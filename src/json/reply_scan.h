/* reply_scan.h - one walk over an upstream reply (a whole chat completion,
 * or the data of one stream event) that finds everything the relay reads
 * from it: the token usage (as jscan_usage), the top-level "id" (the one
 * rid_wrap_top_id binds) and the text of choices[0].message or .delta
 * (what up_capture_chat_text keeps for the session's prefix chain).
 *
 * Before it, each of those walked the reply again (validation, usage, id,
 * text); now the top-level members are walked once with the scanner's
 * validating iterator (scan.h), and the few nested objects read afterwards
 * (choices[0], its message, usage) are known to be valid, so they are
 * walked without checking again. A reply that is not one valid JSON object
 * sets valid false: its usage is "not found" (as jscan_usage says of it) and
 * the callers ask the old readers for the rest, whose walks of broken
 * documents stop where they stop. Thread-safe, no allocation. */
#ifndef TETHER_JSON_REPLY_SCAN_H
#define TETHER_JSON_REPLY_SCAN_H
#include "json/scan.h"
#include <stdbool.h>
#include <stddef.h>

typedef struct jreply {
    /* doc is one valid JSON object with only whitespace around it; when
     * false, usage is jscan_usage's "not found" and nothing else is set */
    bool valid;
    jusage_t usage; /* what jscan_usage gives for doc */
    /* the last top-level "id" (len 0 when none): rid_wrap_top_id's */
    jspan_t id;
    /* choices[0].message.content (delta false) or .delta.content (delta
     * true), the last of each key, when a string and doc[0] is the '{'
     * (up_capture_chat_text's; len 0 otherwise) */
    jspan_t text;
    /* a key that gave usage or text was written with a backslash escape,
     * so its raw text (what the callers' memmem gates look for) may not be
     * in doc: those callers check their gate themselves */
    bool escaped_key;
} jreply_t;

/* Read doc[0..len) into out. delta picks the stream chunk's "delta" over
 * the whole reply's "message" for text. */
void jreply_scan(const char *doc, size_t len, bool delta, jreply_t *out);
#endif
