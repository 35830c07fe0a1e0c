/* log.c - JSON-lines logger: {"ts":...,"level":...,"event":...,<fields>}. */
#include "core/log.h"
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile tlog_level_t g_level = TLOG_INFO;

void tlog_set_level(tlog_level_t lvl)
{
    g_level = lvl;
}
tlog_level_t tlog_get_level(void)
{
    return g_level;
}

int tlog_level_parse(const char *s)
{
    static const char *names[] = {"debug", "info", "warn", "error", "off"};
    for (int i = 0; i < 5; i++)
        if (strcmp(s, names[i]) == 0) return i;
    if (strcmp(s, "warning") == 0) return TLOG_WARN;
    return -1;
}

void tlog(tlog_level_t lvl, const char *event, const char *fields, ...)
{
    static const char *names[] = {"debug", "info", "warn", "error"};
    if (lvl < g_level || lvl >= TLOG_OFF) return;
    char line[2048];
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(
        line, sizeof line,
        "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"event\":\"%s\"",
        tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
        (int)(tv.tv_usec / 1000), names[lvl], event);
    if (fields && *fields && n > 0 && (size_t)n < sizeof line - 4) {
        line[n++] = ',';
        va_list ap;
        va_start(ap, fields);
        int m = vsnprintf(line + n, sizeof line - (size_t)n - 3, fields, ap);
        va_end(ap);
        if (m > 0) n += m;
        if ((size_t)n > sizeof line - 3) n = (int)sizeof line - 3;
    }
    if (n < 0) return;
    line[n++] = '}';
    line[n++] = '\n';
    ssize_t w = write(2, line, (size_t)n);
    (void)w;
}
