/* log_text.c - the text form of a log line (logging.format: text):
 *   2026-01-02T03:04:05.678Z INFO request request_id=ab12 status=200 model="a b"
 * It is rendered from the JSON line log.c built, so the escaping stays in
 * one place (log_format.c): a string value is written bare when it holds no
 * space, quote, '=' or escape, else as its JSON string (quotes and escapes
 * kept), so a value can never start a new line or fake a field. */
#include "core/log.h"
#include <string.h>

/* End of the JSON value starting at s (valid JSON, as log.c writes it). */
static const char *value_end(const char *s, const char *end)
{
    int depth = 0;
    bool in_str = false;
    for (const char *p = s; p < end; p++) {
        char c = *p;
        if (in_str) {
            if (c == '\\')
                p++;
            else if (c == '"') {
                in_str = false;
                if (depth == 0) return p + 1;
            }
            continue;
        }
        if (c == '"')
            in_str = true;
        else if (c == '[' || c == '{')
            depth++;
        else if (c == ']' || c == '}') {
            if (depth == 0) return p; /* the object's closing brace */
            if (--depth == 0) return p + 1;
        } else if (c == ',' && depth == 0)
            return p;
    }
    return end;
}

static bool bare(const char *s, size_t n)
{
    if (!n) return false;
    for (size_t i = 0; i < n; i++)
        if (s[i] == ' ' || s[i] == '"' || s[i] == '=' || s[i] == '\\') return false;
    return true;
}

void tlog_text_from_json(buf_t *out, const char *json, size_t len)
{
    const char *p = json, *end = json + len;
    while (p < end && *p != '{')
        p++;
    if (p < end) p++;
    int field = 0;
    while (p < end && *p != '}') {
        if (*p == ',') p++;
        if (p >= end || *p != '"') break;
        const char *k = p + 1, *ke = value_end(p, end) - 1; /* key without quotes */
        p = ke + 1;
        if (p < end && *p == ':') p++;
        const char *v = p, *ve = value_end(p, end);
        p = ve;
        size_t kn = (size_t)(ke - k);
        bool is_str = ve - v >= 2 && *v == '"';
        const char *sv = is_str ? v + 1 : v;
        size_t sn = is_str ? (size_t)(ve - v - 2) : (size_t)(ve - v);
        if (field < 3 && ((kn == 2 && !memcmp(k, "ts", 2)) || (kn == 5 && !memcmp(k, "level", 5)) ||
                          (kn == 5 && !memcmp(k, "event", 5)))) {
            /* the head: "<ts> <LEVEL> <event>" */
            if (field) buf_putc(out, ' ');
            for (size_t i = 0; i < sn; i++)
                buf_putc(out, kn == 5 && k[0] == 'l' && sv[i] >= 'a' && sv[i] <= 'z'
                                  ? (char)(sv[i] - 'a' + 'A')
                                  : sv[i]);
            field++;
            continue;
        }
        field = 3;
        buf_putc(out, ' ');
        buf_append(out, k, kn);
        buf_putc(out, '=');
        if (is_str && bare(sv, sn))
            buf_append(out, sv, sn);
        else
            buf_append(out, v, (size_t)(ve - v));
    }
    buf_putc(out, '\n');
}
