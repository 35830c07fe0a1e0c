/* splice_del.h - delete elements of a JSON array, or members of a JSON
 * object, with splice edits that leave valid JSON: each maximal run of
 * deleted entries takes exactly one adjacent comma with it (the one after
 * it when a kept entry follows, else the one before it), and deleting every
 * entry leaves an empty container ("[]" / "{}", inner whitespace kept).
 *
 * The edits never touch the bytes of a kept entry, so the caller may add
 * other edits inside kept entries (never inside deleted ones). When the
 * first entry is deleted, its edit starts at that entry's first byte: a
 * zero-length insertion at the same offset must be added to the splice
 * BEFORE these edits (jsplice_sort is stable). Thread-safe; no allocation
 * besides the splice's own list. */
#ifndef TETHER_JSON_SPLICE_DEL_H
#define TETHER_JSON_SPLICE_DEL_H
#include "json/scan.h"
#include "json/splice.h"
#include <stdbool.h>
#include <stddef.h>

/* Number of elements (array) or members (object) of container; 0 for
 * anything else. */
size_t jsplice_count_entries(const char *body, jspan_t container);

/* Add the edits that delete the entries i with del[i] true (n flags, one per
 * entry in order; for an object an entry is the member from the first byte
 * of its key to the last byte of its value). Returns the number of entries
 * deleted, or -1 (and adds nothing) when container is not an array/object
 * or n differs from its entry count. */
int jsplice_delete_entries(jsplice_t *s, const char *body, jspan_t container, const bool *del,
                           size_t n);
#endif
