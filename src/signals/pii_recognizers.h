/* pii_recognizers.h - config-independent PII recognizers with validators
 * (SPEC §5.4 pii): email, phone, credit card (Luhn), IBAN (mod-97), US SSN,
 * IPv4/IPv6 and API keys/secrets, plus masking for replay redaction.
 *
 * Every function here is pure: no allocation, no global state; all are
 * thread-safe. Texts are byte spans (UTF-8 or not), never NUL-terminated. */
#ifndef TETHER_SIGNALS_PII_RECOGNIZERS_H
#define TETHER_SIGNALS_PII_RECOGNIZERS_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/buf.h"

typedef enum {
    PII_EMAIL_ADDRESS = 0,
    PII_PHONE_NUMBER,
    PII_CREDIT_CARD,
    PII_IBAN_CODE,
    PII_US_SSN,
    PII_IP_ADDRESS,
    PII_API_KEY,
    PII_TYPE_COUNT
} pii_type_t;

#define PII_TYPE_BIT(t) (1u << (t))
#define PII_ALL_TYPES   ((1u << PII_TYPE_COUNT) - 1u)

/* Scores (SPEC §5.4): a validator passed; a pattern with a context word
 * nearby; a bare pattern. */
#define PII_SCORE_VALIDATED 1.0
#define PII_SCORE_CONTEXT   0.85
#define PII_SCORE_PATTERN   0.7

typedef struct {
    pii_type_t type;
    size_t start; /* byte offset into the scanned text */
    size_t len;   /* byte length of the entity */
    double score; /* PII_SCORE_* */
} pii_entity_t;

typedef struct {
    uint32_t types;   /* PII_TYPE_BIT mask of recognizers to run; 0 = all */
    double min_score; /* entities below are not reported; 0 = report all */
} pii_opts_t;

/* Scan text and store up to max entities in out, sorted by start and never
 * overlapping (on overlap the higher score, then the longer span, wins).
 * opts may be NULL (all types, every score). Returns the number stored;
 * when out fills up, later entities are dropped. */
size_t pii_scan(const char *text, size_t len, pii_entity_t *out, size_t max,
                const pii_opts_t *opts);

/* Append text to out with each entity replaced by "[TYPE]" (e.g.
 * "[EMAIL_ADDRESS]"). ents must be sorted and non-overlapping, as pii_scan
 * returns them. */
void pii_mask(const char *text, size_t len, const pii_entity_t *ents, size_t n, buf_t *out);

/* "EMAIL_ADDRESS", ...; the names pii_types_allowed uses. */
const char *pii_type_name(pii_type_t t);
/* Inverse of pii_type_name (case-insensitive); -1 when unknown. */
int pii_type_from_name(const char *name, size_t len);

/* Validators, exposed for tests and for other recognizers. */
/* Luhn checksum over n ASCII digits (no separators). */
bool pii_luhn_ok(const char *digits, size_t n);
/* Full IBAN check over a compact IBAN (no spaces): known country, that
 * country's length, alphanumeric body and mod-97 = 1. */
bool pii_iban_ok(const char *s, size_t n);
/* US SSN rules: area not 000, 666 or 900-999; group not 00; serial not 0000. */
bool pii_ssn_ok(int area, int group, int serial);
/* Parse exactly s[0..n) as dotted-quad IPv4 (octets <= 255, no leading
 * zeros); fills out[4] when non-NULL. */
bool pii_ipv4_parse(const char *s, size_t n, uint8_t out[4]);
/* Parse exactly s[0..n) as an IPv6 address (RFC 4291 text forms: 8 groups,
 * "::" compression, embedded dotted IPv4 in the last 32 bits); fills out[16]
 * when non-NULL. */
bool pii_ipv6_parse(const char *s, size_t n, uint8_t out[16]);
/* Shannon entropy of s in bits per byte. */
double pii_entropy(const char *s, size_t n);
#endif
