/* log_format.c - the field formatter behind tlog (log.c): it reads the
 * caller's printf format itself, so that no argument can change the shape of
 * a log line. The format is JSON text with conversions in it; the formatter
 * knows whether each conversion sits inside a JSON string of that text.
 *
 *   inside a string ("\"path\":\"%s\"")   the value is JSON-escaped: quotes,
 *                                         backslashes and control bytes
 *                                         escaped, invalid UTF-8 replaced by
 *                                         U+FFFD, long values cut
 *   outside a string ("\"n\":%d", "%s")   the value is written as is only when
 *                                         it is one complete JSON value (a
 *                                         number, true/false/null, or JSON the
 *                                         caller rendered) on one line, else
 *                                         as a string
 *
 * Numeric conversions are rendered by snprintf from a rebuilt directive. */
#include "core/log.h"
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

/* ---- UTF-8 ---- */

/* Length of the valid UTF-8 sequence at s (n bytes left), or 0. */
static size_t utf8_seq(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    size_t len;
    uint32_t cp;
    if (c < 0x80) return 1;
    if (c >= 0xc2 && c <= 0xdf)
        len = 2, cp = c & 0x1f;
    else if (c >= 0xe0 && c <= 0xef)
        len = 3, cp = c & 0x0f;
    else if (c >= 0xf0 && c <= 0xf4)
        len = 4, cp = c & 0x07;
    else
        return 0;
    if (len > n) return 0;
    for (size_t i = 1; i < len; i++) {
        if ((s[i] & 0xc0) != 0x80) return 0;
        cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff))) return 0;
    if (cp >= 0xd800 && cp <= 0xdfff) return 0; /* surrogates are not characters */
    return len;
}

void tlog_json_escape(buf_t *out, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
            size_t j = i + 1;
            while (j < n && p[j] >= 0x20 && p[j] < 0x7f && p[j] != '"' && p[j] != '\\')
                j++;
            buf_append(out, s + i, j - i);
            i = j;
            continue;
        }
        if (c >= 0x80) {
            size_t l = utf8_seq(p + i, n - i);
            if (l) {
                buf_append(out, s + i, l);
                i += l;
            } else {
                buf_puts(out, "\\ufffd");
                i++;
            }
            continue;
        }
        switch (c) {
        case '"': buf_puts(out, "\\\""); break;
        case '\\': buf_puts(out, "\\\\"); break;
        case '\n': buf_puts(out, "\\n"); break;
        case '\r': buf_puts(out, "\\r"); break;
        case '\t': buf_puts(out, "\\t"); break;
        default: {
            char e[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            buf_append(out, e, 6);
        }
        }
        i++;
    }
}

/* ---- one complete JSON value? ---- */

typedef struct jv {
    const unsigned char *p, *end;
    int depth;
} jv_t;

static void jv_ws(jv_t *v)
{
    while (v->p < v->end && (*v->p == ' ' || *v->p == '\t' || *v->p == '\n' || *v->p == '\r'))
        v->p++;
}

static bool jv_lit(jv_t *v, const char *w)
{
    size_t l = strlen(w);
    if ((size_t)(v->end - v->p) < l || memcmp(v->p, w, l)) return false;
    v->p += l;
    return true;
}

static bool jv_digits(jv_t *v)
{
    const unsigned char *s = v->p;
    while (v->p < v->end && *v->p >= '0' && *v->p <= '9')
        v->p++;
    return v->p > s;
}

static bool jv_number(jv_t *v)
{
    if (v->p < v->end && *v->p == '-') v->p++;
    if (v->p < v->end && *v->p == '0')
        v->p++;
    else if (!jv_digits(v))
        return false;
    if (v->p < v->end && *v->p == '.') {
        v->p++;
        if (!jv_digits(v)) return false;
    }
    if (v->p < v->end && (*v->p == 'e' || *v->p == 'E')) {
        v->p++;
        if (v->p < v->end && (*v->p == '+' || *v->p == '-')) v->p++;
        if (!jv_digits(v)) return false;
    }
    return true;
}

/* Four hex digits as a number, or -1. */
static int jv_hex4(jv_t *v)
{
    int u = 0;
    for (int i = 0; i < 4; i++, v->p++) {
        if (v->p >= v->end) return -1;
        unsigned char c = *v->p;
        int d = c >= '0' && c <= '9'   ? c - '0'
                : c >= 'a' && c <= 'f' ? c - 'a' + 10
                : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                       : -1;
        if (d < 0) return -1;
        u = u * 16 + d;
    }
    return u;
}

static bool jv_string(jv_t *v)
{
    v->p++; /* opening quote */
    while (v->p < v->end) {
        unsigned char c = *v->p;
        if (c == '"') {
            v->p++;
            return true;
        }
        if (c < 0x20) return false;
        if (c == '\\') {
            if (++v->p >= v->end) return false;
            c = *v->p++;
            if (c == 'u') {
                /* a surrogate escape must be a high one followed by a low one:
                 * many parsers refuse a lone one */
                int u = jv_hex4(v);
                if (u < 0 || (u >= 0xdc00 && u <= 0xdfff)) return false;
                if (u >= 0xd800 && u <= 0xdbff) {
                    if (v->end - v->p < 2 || v->p[0] != '\\' || v->p[1] != 'u') return false;
                    v->p += 2;
                    int lo = jv_hex4(v);
                    if (lo < 0xdc00 || lo > 0xdfff) return false;
                }
            } else if (!strchr("\"\\/bfnrt", c) || !c) {
                return false;
            }
            continue;
        }
        size_t l = utf8_seq(v->p, (size_t)(v->end - v->p));
        if (!l) return false;
        v->p += l;
    }
    return false;
}

static bool jv_value(jv_t *v);

static bool jv_container(jv_t *v, char close, bool keyed)
{
    if (++v->depth > 32) return false;
    v->p++;
    jv_ws(v);
    if (v->p < v->end && *v->p == close) {
        v->p++;
        v->depth--;
        return true;
    }
    for (;;) {
        jv_ws(v);
        if (keyed) {
            if (v->p >= v->end || *v->p != '"' || !jv_string(v)) return false;
            jv_ws(v);
            if (v->p >= v->end || *v->p++ != ':') return false;
        }
        if (!jv_value(v)) return false;
        jv_ws(v);
        if (v->p >= v->end) return false;
        char c = (char)*v->p++;
        if (c == close) break;
        if (c != ',') return false;
    }
    v->depth--;
    return true;
}

static bool jv_value(jv_t *v)
{
    jv_ws(v);
    if (v->p >= v->end) return false;
    switch (*v->p) {
    case '{': return jv_container(v, '}', true);
    case '[': return jv_container(v, ']', false);
    case '"': return jv_string(v);
    case 't': return jv_lit(v, "true");
    case 'f': return jv_lit(v, "false");
    case 'n': return jv_lit(v, "null");
    default: return jv_number(v);
    }
}

bool tlog_is_json_value(const char *s, size_t n)
{
    jv_t v = {(const unsigned char *)s, (const unsigned char *)s + n, 0};
    if (!jv_value(&v)) return false;
    jv_ws(&v);
    return v.p == v.end;
}

/* ---- the formatter ---- */

/* Write one rendered value: escaped inside a string, else raw when it is a
 * JSON value (and allowed), else as a JSON string. cap bounds the bytes of
 * an escaped value; raw JSON longer than raw_cap is written as a string. */
/* No byte below 0x20: JSON allows whitespace such as '\n' between tokens,
 * but a log line must stay one line. */
static bool one_line(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20) return false;
    return true;
}

static void put_value(buf_t *out, const char *s, size_t n, bool in_str, size_t cap, size_t raw_cap)
{
    if (!in_str && n <= raw_cap && one_line(s, n) && tlog_is_json_value(s, n)) {
        buf_append(out, s, n);
        return;
    }
    bool cut = n > cap;
    if (cut) {
        n = cap;
        while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
            n--; /* do not split a character */
    }
    if (!in_str) buf_putc(out, '"');
    tlog_json_escape(out, s, n);
    if (cut) buf_puts(out, "...");
    if (!in_str) buf_putc(out, '"');
}

static void pad(buf_t *out, int width, size_t have)
{
    for (size_t i = have; width > 0 && i < (size_t)width; i++)
        buf_putc(out, ' ');
}

typedef enum { LEN_NONE, LEN_HH, LEN_H, LEN_L, LEN_LL, LEN_Z, LEN_J, LEN_T, LEN_BIGL } len_mod_t;

/* A plain %d/%i/%u argument of length lm, in decimal. */
static void put_int(buf_t *out, bool is_signed, len_mod_t lm, va_list *ap)
{
    unsigned long long u;
    bool neg = false;
    if (is_signed) {
        long long v;
        switch (lm) {
        case LEN_HH: v = (signed char)va_arg(*ap, int); break;
        case LEN_H: v = (short)va_arg(*ap, int); break;
        case LEN_L: v = va_arg(*ap, long); break;
        case LEN_LL: v = va_arg(*ap, long long); break;
        case LEN_Z: v = va_arg(*ap, ssize_t); break;
        case LEN_J: v = va_arg(*ap, intmax_t); break;
        case LEN_T: v = va_arg(*ap, ptrdiff_t); break;
        default: v = va_arg(*ap, int); break;
        }
        neg = v < 0;
        u = neg ? 0ull - (unsigned long long)v : (unsigned long long)v;
    } else {
        switch (lm) {
        case LEN_HH: u = (unsigned char)va_arg(*ap, unsigned); break;
        case LEN_H: u = (unsigned short)va_arg(*ap, unsigned); break;
        case LEN_L: u = va_arg(*ap, unsigned long); break;
        case LEN_LL: u = va_arg(*ap, unsigned long long); break;
        case LEN_Z: u = va_arg(*ap, size_t); break;
        case LEN_J: u = va_arg(*ap, uintmax_t); break;
        case LEN_T: u = (unsigned long long)va_arg(*ap, ptrdiff_t); break;
        default: u = va_arg(*ap, unsigned); break;
        }
    }
    char tmp[24]; /* 20 digits and a sign at most */
    char *e = tmp + sizeof tmp, *d = e;
    do
        *--d = (char)('0' + u % 10);
    while (u /= 10);
    if (neg) *--d = '-';
    buf_append(out, d, (size_t)(e - d));
}

/* ap is a pointer so that helpers can take arguments from the same list. */
static void format_fields(buf_t *out, const char *fmt, va_list *ap, size_t cap, size_t raw_cap)
{
    bool in_str = false;
    for (const char *p = fmt; p && *p;) {
        if (*p != '%') { /* a run of literal text, tracking JSON strings */
            const char *q = p;
            for (; *q && *q != '%'; q++) {
                if (in_str && *q == '\\' && q[1])
                    q++;
                else if (*q == '"')
                    in_str = !in_str;
            }
            buf_append(out, p, (size_t)(q - p));
            p = q;
            continue;
        }
        if (p[1] == '%') {
            buf_putc(out, '%');
            p += 2;
            continue;
        }
        /* %[flags][width][.precision][length]conversion */
        const char *q = p + 1;
        char flags[8];
        size_t nf = 0;
        bool left = false;
        while (*q && strchr("-+ #0'", *q)) {
            if (*q == '-') left = true;
            if (nf < sizeof flags - 1) flags[nf++] = *q;
            q++;
        }
        flags[nf] = 0;
        int width = -1, prec = -1;
        if (*q == '*') {
            width = va_arg(*ap, int);
            if (width < 0) left = true, width = -width;
            q++;
        } else if (*q >= '0' && *q <= '9') {
            width = (int)strtol(q, (char **)&q, 10);
        }
        if (*q == '.') {
            q++;
            if (*q == '*') {
                prec = va_arg(*ap, int);
                q++;
            } else {
                prec = (int)strtol(q, (char **)&q, 10);
            }
        }
        len_mod_t lm = LEN_NONE;
        if (q[0] == 'h' && q[1] == 'h')
            lm = LEN_HH, q += 2;
        else if (q[0] == 'l' && q[1] == 'l')
            lm = LEN_LL, q += 2;
        else if (*q == 'h')
            lm = LEN_H, q++;
        else if (*q == 'l')
            lm = LEN_L, q++;
        else if (*q == 'z')
            lm = LEN_Z, q++;
        else if (*q == 'j')
            lm = LEN_J, q++;
        else if (*q == 't')
            lm = LEN_T, q++;
        else if (*q == 'L' || *q == 'q')
            lm = LEN_BIGL, q++;
        char conv = *q;
        if (!conv) break; /* a dangling '%': nothing to convert */
        p = q + 1;
        if (conv == 's' || conv == 'c') {
            char ch;
            const char *s;
            size_t n;
            if (conv == 'c') {
                ch = (char)va_arg(*ap, int);
                s = &ch;
                n = 1;
            } else {
                s = va_arg(*ap, const char *);
                n = !s ? 0 : prec >= 0 ? strnlen(s, (size_t)prec) : strlen(s);
            }
            if (!s && !in_str) {
                buf_puts(out, "null");
                continue;
            }
            if (!left) pad(out, width, n);
            put_value(out, s ? s : "", n, in_str, cap, raw_cap);
            if (left) pad(out, width, n);
            continue;
        }
        if (conv == 'n') { /* never write through a caller's pointer */
            (void)va_arg(*ap, void *);
            continue;
        }
        if ((conv == 'd' || conv == 'i' || conv == 'u') && !nf && width < 0 && prec < 0 &&
            lm != LEN_BIGL) {
            /* the common case, plain integers: always a JSON number */
            put_int(out, conv != 'u', lm, ap);
            continue;
        }
        /* numbers and pointers: snprintf with an explicit directive */
        char d[48], tmp[512];
        int dl = snprintf(d, sizeof d, "%%%s", flags);
        if (width >= 0)
            dl += snprintf(d + dl, sizeof d - (size_t)dl, "%d", width > 256 ? 256 : width);
        if (prec >= 0)
            dl += snprintf(d + dl, sizeof d - (size_t)dl, ".%d", prec > 256 ? 256 : prec);
        static const char *const lens[] = {"", "hh", "h", "l", "ll", "z", "j", "t", "L"};
        snprintf(d + dl, sizeof d - (size_t)dl, "%s%c", lens[lm], conv);
        int tn = -1;
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
        switch (conv) {
        case 'd':
        case 'i':
            switch (lm) {
            case LEN_L: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, long)); break;
            case LEN_LL: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, long long)); break;
            case LEN_Z: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, ssize_t)); break;
            case LEN_J: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, intmax_t)); break;
            case LEN_T: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, ptrdiff_t)); break;
            default: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, int)); break;
            }
            break;
        case 'u':
        case 'o':
        case 'x':
        case 'X':
            switch (lm) {
            case LEN_L: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, unsigned long)); break;
            case LEN_LL: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, unsigned long long)); break;
            case LEN_Z: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, size_t)); break;
            case LEN_J: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, uintmax_t)); break;
            case LEN_T: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, ptrdiff_t)); break;
            default: tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, unsigned)); break;
            }
            break;
        case 'f':
        case 'F':
        case 'e':
        case 'E':
        case 'g':
        case 'G':
        case 'a':
        case 'A': {
            long double v = lm == LEN_BIGL ? va_arg(*ap, long double) : va_arg(*ap, double);
            if (!in_str && !isfinite(v)) {
                buf_puts(out, "null"); /* JSON has no NaN or infinity */
                continue;
            }
            tn = lm == LEN_BIGL ? snprintf(tmp, sizeof tmp, d, v)
                                : snprintf(tmp, sizeof tmp, d, (double)v);
            break;
        }
        case 'p': tn = snprintf(tmp, sizeof tmp, d, va_arg(*ap, void *)); break;
        default:
            /* unknown conversion: its argument type is unknown, so stop here
             * rather than read the wrong one; the line stays valid JSON */
            buf_puts(out, in_str ? "\"" : "null");
            return;
        }
#pragma GCC diagnostic pop
        if (tn < 0) tn = 0;
        if ((size_t)tn >= sizeof tmp) tn = (int)sizeof tmp - 1;
        put_value(out, tmp, (size_t)tn, in_str, cap, raw_cap);
    }
}

void tlog_vformat_capped(buf_t *out, const char *fmt, va_list ap, size_t cap, size_t raw_cap)
{
    va_list args;
    va_copy(args, ap);
    format_fields(out, fmt, &args, cap, raw_cap);
    va_end(args);
}

void tlog_vformat(buf_t *out, const char *fmt, va_list ap)
{
    tlog_vformat_capped(out, fmt, ap, TLOG_VALUE_MAX, (size_t)-1);
}

void tlog_format(buf_t *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    tlog_vformat(out, fmt, ap);
    va_end(ap);
}
