/* fuzz_log.c - libFuzzer harness for the logger's field formatter
 * (src/core/log_format.c): any bytes, passed as %s inside a JSON string,
 * outside one, and as %.*s, must give one valid JSON object with exactly
 * its members (cJSON parses it), never a raw control byte; and whatever
 * tlog_is_json_value accepts, cJSON must accept too.
 * Build: compiled with src/core/{log,log_format,buf}.c, -lcjson
 * (scripts/fuzz.sh). */
#include "core/log.h"
#include <cjson/cJSON.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *s = malloc(size + 1);
    if (!s) return 0;
    memcpy(s, data, size);
    s[size] = 0;
    buf_t b = BUF_INIT;
    buf_putc(&b, '{');
    tlog_format(&b, "\"a\":\"%s\",\"b\":%s,\"c\":\"%.*s\",\"n\":%zu", s, s, (int)(size / 2), s,
                size);
    buf_putc(&b, '}');
    for (size_t i = 0; i < b.len; i++)
        if ((unsigned char)b.data[i] < 0x20) abort(); /* a raw control byte in a log line */
    cJSON *j = cJSON_ParseWithLength(b.data, b.len);
    if (!j || cJSON_GetArraySize(j) != 4) abort();
    cJSON_Delete(j);
    /* the text form of the same line is one line without control bytes */
    buf_t t = BUF_INIT;
    tlog_text_from_json(&t, b.data, b.len);
    for (size_t i = 0; i + 1 < t.len; i++)
        if ((unsigned char)t.data[i] < 0x20) abort();
    buf_free(&t);
    buf_free(&b);
    /* the raw-JSON test must never accept what a JSON parser refuses */
    if (tlog_is_json_value((const char *)data, size) && !memchr(data, 0, size)) {
        cJSON *k = cJSON_ParseWithLength((const char *)data, size);
        if (!k) abort();
        cJSON_Delete(k);
    }
    free(s);
    return 0;
}
