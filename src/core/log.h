/* log.h - structured logs on stderr: JSON lines (default) or text lines
 * (logging.format: text, log_text.c). Thread-safe (one write per line).
 * Never log prompt or response text, nor credentials. */
#ifndef TETHER_CORE_LOG_H
#define TETHER_CORE_LOG_H
#include "core/buf.h"
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { TLOG_DEBUG = 0, TLOG_INFO, TLOG_WARN, TLOG_ERROR, TLOG_OFF } tlog_level_t;

typedef enum { TLOG_FMT_JSON = 0, TLOG_FMT_TEXT } tlog_format_t;

void tlog_set_level(tlog_level_t lvl);
void tlog_set_format(tlog_format_t f);
/* "json" | "text"; returns -1 when unknown. */
int tlog_format_parse(const char *s);
/* Append the text form of one JSON log line (log_text.c). */
void tlog_text_from_json(buf_t *out, const char *json, size_t len);
tlog_level_t tlog_get_level(void);
/* "debug" | "info" | "warn" | "error" | "off"; returns -1 when unknown. */
int tlog_level_parse(const char *s);

/* event: short snake_case name. fields: a printf format producing extra JSON
 * members without braces, e.g. "\"path\":\"%s\",\"port\":%d", or NULL.
 * Arguments cannot change the line's shape (log_format.c):
 *  - a %s (or %.*s, %c) inside a JSON string of the format is escaped, so
 *    "\"path\":\"%s\"" is safe with any bytes; invalid UTF-8 becomes U+FFFD
 *    and values longer than TLOG_VALUE_MAX bytes are cut;
 *  - a conversion outside a string ("\"stream\":%s", "\"n\":%d") is written
 *    as is only when it is one complete JSON value (a number, true, false,
 *    null, or JSON the caller rendered, such as an array) on one line, else as a JSON
 *    string; a NULL %s there is null, NaN and infinities are null;
 *  - %n writes nothing. */
void tlog(tlog_level_t lvl, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));

#define TLOG_VALUE_MAX 1024
/* The field formatter tlog uses, appending to out (for tests and for code
 * that builds JSON fragments the same way). */
void tlog_format(buf_t *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void tlog_vformat(buf_t *out, const char *fmt, va_list ap);
/* The same with explicit limits: escaped values cut at cap bytes; JSON
 * written as is only up to raw_cap bytes (longer: written as a string). */
void tlog_vformat_capped(buf_t *out, const char *fmt, va_list ap, size_t cap, size_t raw_cap);
/* Append s escaped for the inside of a JSON string (no quotes added). */
void tlog_json_escape(buf_t *out, const char *s, size_t n);
/* Whether s is exactly one JSON value (surrounding whitespace allowed). */
bool tlog_is_json_value(const char *s, size_t n);
#endif
