/* log.h - structured logs as JSON lines on stderr. Thread-safe (one write per
 * line). Never log prompt or response text, nor credentials. */
#ifndef TETHER_CORE_LOG_H
#define TETHER_CORE_LOG_H

typedef enum { TLOG_DEBUG = 0, TLOG_INFO, TLOG_WARN, TLOG_ERROR, TLOG_OFF } tlog_level_t;

void tlog_set_level(tlog_level_t lvl);
tlog_level_t tlog_get_level(void);
/* "debug" | "info" | "warn" | "error" | "off"; returns -1 when unknown. */
int tlog_level_parse(const char *s);
/* event: short snake_case name. fields: printf format producing extra JSON
 * members without braces, e.g. "\"port\":%d", or NULL. */
void tlog(tlog_level_t lvl, const char *event, const char *fields, ...)
    __attribute__((format(printf, 3, 4)));
#endif
