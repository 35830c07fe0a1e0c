/* header.h - one HTTP header field as a name/value pair of borrowed bytes.
 * The HTTP server fills these (names lowercased) and the request view reads
 * them, so both layers share this one plain type without either including
 * the other. */
#ifndef TETHER_CORE_HEADER_H
#define TETHER_CORE_HEADER_H
#include <stddef.h>

typedef struct hdr_field {
    const char *name; /* requests: lowercased, always an RFC 7230 token (no whitespace) */
    size_t name_len;
    const char *value;
    size_t value_len;
} hdr_field_t;
#endif
