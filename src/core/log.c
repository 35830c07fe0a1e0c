/* log.c - JSON-lines logger: {"ts":...,"level":...,"event":...,<fields>};
 * with logging.format: text the same line is rewritten as key=value text
 * (log_text.c).
 * The fields come from the caller's format through the escaping formatter
 * (log_format.c), so every line is one valid JSON object whatever the
 * arguments hold. A line is one write(2): lines stay whole between threads
 * (a pipe keeps writes up to PIPE_BUF together, so long lines are re-rendered
 * with tighter value limits first). */
#include "core/log.h"
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define TLOG_LINE_TARGET 4000 /* below PIPE_BUF (4096) */

static volatile tlog_level_t g_level = TLOG_INFO;
static volatile tlog_format_t g_format = TLOG_FMT_JSON;

void tlog_set_format(tlog_format_t f)
{
    g_format = f;
}

int tlog_format_parse(const char *s)
{
    return !strcmp(s, "json") ? TLOG_FMT_JSON : !strcmp(s, "text") ? TLOG_FMT_TEXT : -1;
}

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
    struct timeval tv;
    gettimeofday(&tv, NULL);
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    buf_t line = BUF_INIT;
    buf_reserve(&line, 1024); /* most lines: one allocation */
    buf_printf(&line,
               "{\"ts\":\"%04d-%02d-%02dT%02d:%02d:%02d.%03dZ\",\"level\":\"%s\",\"event\":\"",
               tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
               (int)(tv.tv_usec / 1000), names[lvl]);
    tlog_json_escape(&line, event ? event : "", event ? strlen(event) : 0);
    buf_putc(&line, '"');
    if (fields && *fields) {
        size_t head = line.len;
        va_list ap, again;
        va_start(ap, fields);
        va_copy(again, ap);
        buf_putc(&line, ',');
        tlog_vformat_capped(&line, fields, ap, TLOG_VALUE_MAX, (size_t)-1);
        if (line.len > TLOG_LINE_TARGET) {
            line.len = head;
            buf_putc(&line, ',');
            tlog_vformat_capped(&line, fields, again, 128, 512);
        }
        va_end(again);
        va_end(ap);
    }
    buf_puts(&line, "}\n");
    if (g_format == TLOG_FMT_TEXT) {
        buf_t text = BUF_INIT;
        tlog_text_from_json(&text, line.data, line.len);
        buf_free(&line);
        line = text;
    }
    ssize_t w = write(2, line.data, line.len);
    (void)w;
    buf_free(&line);
}
