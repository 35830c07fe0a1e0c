/* scan.c - the request scanner: validates a JSON body in one pass and records
 * the spans routing needs (scan.h). No tree, no allocation per byte: the only
 * memory taken is the msgs array, from the request's arena.
 *
 * Layout: byte-level lexers (strings, numbers, literals), a generic iterative
 * value skipper with an explicit container stack (so hostile nesting is an
 * error, never a stack overflow), then the request-shaped walkers (top-level
 * object, messages array, message objects) built from the same pieces so
 * that every error has the same offset and message as jscan_validate.
 * Long string contents dominate agent bodies, so scan_string looks at 16
 * bytes at a time (SSE2) for '"', '\\', control bytes and non-ASCII. */
#include "json/scan.h"
#include <string.h>
#if defined(__SSE2__)
#include <emmintrin.h>
#endif

typedef struct scanner {
    const uint8_t *p;
    size_t n;
    jscan_err_t *err;
} scanner_t;

static const char E_EOF[] = "unexpected end of input";
static const char E_CHAR[] = "unexpected character";
static const char E_TRAIL[] = "unexpected data after the JSON value";
static const char E_UNTERM[] = "unterminated string";
static const char E_CTRL[] = "control character in string";
static const char E_ESC[] = "invalid escape in string";
static const char E_UESC[] = "invalid \\u escape in string";
static const char E_UTF8[] = "invalid UTF-8 in string";
static const char E_NUM[] = "invalid number";
static const char E_ZERO[] = "invalid number (leading zero)";
static const char E_LIT[] = "invalid literal";
static const char E_DEEP[] = "nesting too deep";
static const char E_KEY[] = "expected string key";
static const char E_OCOMMA[] = "trailing comma in object";
static const char E_ACOMMA[] = "trailing comma in array";
static const char E_COLON[] = "expected ':' after object key";
static const char E_OSEP[] = "expected ',' or '}' after object member";
static const char E_ASEP[] = "expected ',' or ']' after array element";
static const char E_MODELS[] = "too many \"model\" keys";
static const char E_BIG[] = "body too large (4 GiB or more)";

static int fail(scanner_t *s, size_t off, const char *msg)
{
    if (s->err) {
        s->err->offset = off;
        s->err->message = msg;
    }
    return -1;
}

/* 1 for bytes that end the fast path inside a string. */
static const uint8_t str_special[256] = {
    [0 ... 0x1f] = 1,
    ['"'] = 1,
    ['\\'] = 1,
    [0x80 ... 0xff] = 1,
};
static const uint8_t is_ws[256] = {[' '] = 1, ['\t'] = 1, ['\n'] = 1, ['\r'] = 1};

static inline size_t skip_ws(const uint8_t *p, size_t i, size_t n)
{
    while (i < n && is_ws[p[i]])
        i++;
    return i;
}

static inline int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9') return c - '0';
    c |= 0x20;
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

/* Length of the well-formed UTF-8 sequence at p[i] (lead byte >= 0x80), or 0. */
static size_t utf8_seq(const uint8_t *p, size_t i, size_t n)
{
    uint8_t c = p[i];
    uint8_t lo = 0x80, hi = 0xbf;
    size_t k;
    if (c >= 0xc2 && c <= 0xdf)
        k = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        k = 3;
        if (c == 0xe0) lo = 0xa0;
        if (c == 0xed) hi = 0x9f; /* no encoded surrogates */
    } else if (c >= 0xf0 && c <= 0xf4) {
        k = 4;
        if (c == 0xf0) lo = 0x90;
        if (c == 0xf4) hi = 0x8f;
    } else
        return 0;
    if (n - i < k) return 0;
    if (p[i + 1] < lo || p[i + 1] > hi) return 0;
    for (size_t j = 2; j < k; j++)
        if ((p[i + j] & 0xc0) != 0x80) return 0;
    return k;
}

/* p[i] is the opening quote. On success *end is the offset after the closing
 * quote and *esc tells whether any backslash escape occurred. */
static int scan_string(scanner_t *s, size_t i, size_t *end, bool *esc)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    const size_t start = i;
    bool e = false;
    i++;
    for (;;) {
#if defined(__SSE2__)
        const __m128i q = _mm_set1_epi8('"'), bs = _mm_set1_epi8('\\'), sp = _mm_set1_epi8(0x20);
        while (i + 32 <= n) {
            __m128i a = _mm_loadu_si128((const __m128i *)(p + i));
            __m128i b = _mm_loadu_si128((const __m128i *)(p + i + 16));
            /* signed compare: < 0x20 also catches every byte >= 0x80 */
            __m128i ma = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(a, q), _mm_cmpeq_epi8(a, bs)),
                                      _mm_cmplt_epi8(a, sp));
            __m128i mb = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(b, q), _mm_cmpeq_epi8(b, bs)),
                                      _mm_cmplt_epi8(b, sp));
            uint32_t m = (uint32_t)_mm_movemask_epi8(ma) | ((uint32_t)_mm_movemask_epi8(mb) << 16);
            if (m) {
                i += (size_t)__builtin_ctz(m);
                goto special;
            }
            i += 32;
        }
#endif
        while (i < n && !str_special[p[i]])
            i++;
        if (i >= n) return fail(s, start, E_UNTERM);
#if defined(__SSE2__)
    special:;
#endif
        uint8_t c = p[i];
        if (c == '"') {
            *end = i + 1;
            *esc = e;
            return 0;
        }
        if (c == '\\') {
            e = true;
            if (++i >= n) return fail(s, start, E_UNTERM);
            switch (p[i]) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': i++; break;
            case 'u':
                for (size_t k = 1; k <= 4; k++) {
                    if (i + k >= n) return fail(s, start, E_UNTERM);
                    if (hexval(p[i + k]) < 0) return fail(s, i + k, E_UESC);
                }
                i += 5;
                break;
            default: return fail(s, i, E_ESC);
            }
            continue;
        }
        if (c < 0x20) return fail(s, i, E_CTRL);
        size_t k = utf8_seq(p, i, n);
        if (!k) return fail(s, i, E_UTF8);
        i += k;
    }
}

static inline bool is_digit(uint8_t c)
{
    return c >= '0' && c <= '9';
}

static int scan_number(scanner_t *s, size_t i, size_t *end)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    if (p[i] == '-') i++;
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] == '0') {
        i++;
        if (i < n && is_digit(p[i])) return fail(s, i, E_ZERO);
    } else if (p[i] >= '1' && p[i] <= '9') {
        while (i < n && is_digit(p[i]))
            i++;
    } else
        return fail(s, i, E_NUM);
    if (i < n && p[i] == '.') {
        i++;
        if (i >= n) return fail(s, n, E_EOF);
        if (!is_digit(p[i])) return fail(s, i, E_NUM);
        while (i < n && is_digit(p[i]))
            i++;
    }
    if (i < n && (p[i] == 'e' || p[i] == 'E')) {
        i++;
        if (i < n && (p[i] == '+' || p[i] == '-')) i++;
        if (i >= n) return fail(s, n, E_EOF);
        if (!is_digit(p[i])) return fail(s, i, E_NUM);
        while (i < n && is_digit(p[i]))
            i++;
    }
    *end = i;
    return 0;
}

static int scan_literal(scanner_t *s, size_t i, size_t *end)
{
    const char *lit = s->p[i] == 't' ? "true" : s->p[i] == 'f' ? "false" : "null";
    size_t L = strlen(lit);
    for (size_t k = 0; k < L; k++) {
        if (i + k >= s->n) return fail(s, s->n, E_EOF);
        if (s->p[i + k] != (uint8_t)lit[k]) return fail(s, i + k, E_LIT);
    }
    *end = i + L;
    return 0;
}

/* Skip one value starting at p[i] (whitespace already skipped). depth is the
 * number of containers enclosing it. Iterative, with its own stack. */
static int skip_value(scanner_t *s, size_t i, int depth, size_t *end)
{
    uint8_t stack[JSCAN_MAX_DEPTH];
    int sp = 0;
    const uint8_t *p = s->p;
    const size_t n = s->n;
    bool esc;

value:
    if (i >= n) return fail(s, n, E_EOF);
    switch (p[i]) {
    case '"':
        if (scan_string(s, i, &i, &esc)) return -1;
        break;
    case '{':
        if (depth + sp >= JSCAN_MAX_DEPTH) return fail(s, i, E_DEEP);
        stack[sp++] = '{';
        i = skip_ws(p, i + 1, n);
        if (i < n && p[i] == '}') {
            i++;
            sp--;
            break;
        }
        goto key;
    case '[':
        if (depth + sp >= JSCAN_MAX_DEPTH) return fail(s, i, E_DEEP);
        stack[sp++] = '[';
        i = skip_ws(p, i + 1, n);
        if (i < n && p[i] == ']') {
            i++;
            sp--;
            break;
        }
        goto value;
    case 't':
    case 'f':
    case 'n':
        if (scan_literal(s, i, &i)) return -1;
        break;
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9':
        if (scan_number(s, i, &i)) return -1;
        break;
    default: return fail(s, i, E_CHAR);
    }
after: /* a value ended just before p[i] */
    if (sp == 0) {
        *end = i;
        return 0;
    }
    i = skip_ws(p, i, n);
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] == ',') {
        i = skip_ws(p, i + 1, n);
        if (stack[sp - 1] == '{') goto key;
        if (i < n && p[i] == ']') return fail(s, i, E_ACOMMA);
        goto value;
    }
    if (stack[sp - 1] == '{') {
        if (p[i] != '}') return fail(s, i, E_OSEP);
    } else if (p[i] != ']')
        return fail(s, i, E_ASEP);
    i++;
    sp--;
    goto after;
key:
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] != '"') return fail(s, i, p[i] == '}' ? E_OCOMMA : E_KEY);
    if (scan_string(s, i, &i, &esc)) return -1;
    i = skip_ws(p, i, n);
    if (i >= n) return fail(s, n, E_EOF);
    if (p[i] != ':') return fail(s, i, E_COLON);
    i = skip_ws(p, i + 1, n);
    goto value;
}

int jscan_validate(const char *body, size_t len, jscan_err_t *err)
{
    scanner_t s = {(const uint8_t *)body, len, err};
    size_t i = skip_ws(s.p, 0, len);
    if (i >= len) return fail(&s, len, E_EOF);
    if (skip_value(&s, i, 0, &i)) return -1;
    i = skip_ws(s.p, i, len);
    if (i != len) return fail(&s, i, E_TRAIL);
    return 0;
}

/* ---- unescaping ------------------------------------------------------ */

static size_t put_utf8(uint8_t *o, uint32_t cp)
{
    if (cp < 0x80) {
        o[0] = (uint8_t)cp;
        return 1;
    }
    if (cp < 0x800) {
        o[0] = (uint8_t)(0xc0 | (cp >> 6));
        o[1] = (uint8_t)(0x80 | (cp & 0x3f));
        return 2;
    }
    if (cp < 0x10000) {
        o[0] = (uint8_t)(0xe0 | (cp >> 12));
        o[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
        o[2] = (uint8_t)(0x80 | (cp & 0x3f));
        return 3;
    }
    o[0] = (uint8_t)(0xf0 | (cp >> 18));
    o[1] = (uint8_t)(0x80 | ((cp >> 12) & 0x3f));
    o[2] = (uint8_t)(0x80 | ((cp >> 6) & 0x3f));
    o[3] = (uint8_t)(0x80 | (cp & 0x3f));
    return 4;
}

static int hex4(const uint8_t *p, size_t i, size_t end, uint32_t *v)
{
    if (end - i < 4) return -1;
    uint32_t x = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[i + k]);
        if (h < 0) return -1;
        x = x << 4 | (uint32_t)h;
    }
    *v = x;
    return 0;
}

/* Decode the escape whose backslash is at p[*i] (end = offset of the closing
 * quote). Writes up to 4 bytes; returns their count or -1. */
static int dec_escape(const uint8_t *p, size_t *i, size_t end, uint8_t out[4])
{
    size_t j = *i + 1;
    if (j >= end) return -1;
    uint8_t c = p[j];
    static const uint8_t simple[256] = {['"'] = '"',  ['\\'] = '\\', ['/'] = '/',  ['b'] = '\b',
                                        ['f'] = '\f', ['n'] = '\n',  ['r'] = '\r', ['t'] = '\t'};
    if (simple[c]) {
        out[0] = simple[c];
        *i = j + 1;
        return 1;
    }
    if (c != 'u') return -1;
    uint32_t cp;
    if (hex4(p, j + 1, end, &cp)) return -1;
    j += 5;
    if (cp >= 0xd800 && cp <= 0xdbff) {
        uint32_t lo;
        if (end - j >= 6 && p[j] == '\\' && p[j + 1] == 'u' && !hex4(p, j + 2, end, &lo) &&
            lo >= 0xdc00 && lo <= 0xdfff) {
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
            j += 6;
        } else
            cp = 0xfffd;
    } else if (cp >= 0xdc00 && cp <= 0xdfff)
        cp = 0xfffd;
    *i = j;
    return (int)put_utf8(out, cp);
}

char *jscan_unescape(arena_t *a, const char *body, jspan_t s, size_t *out_len)
{
    const uint8_t *p = (const uint8_t *)body;
    if (s.len < 2 || p[s.off] != '"' || p[s.off + s.len - 1] != '"') return NULL;
    size_t i = s.off + 1, end = (size_t)s.off + s.len - 1;
    /* unescaped text is never longer than its escaped form */
    uint8_t *o = arena_alloc(a, end - i + 1), *w = o;
    while (i < end) {
        const uint8_t *bsl = memchr(p + i, '\\', end - i);
        size_t run = bsl ? (size_t)(bsl - (p + i)) : end - i;
        memcpy(w, p + i, run);
        w += run;
        i += run;
        if (i >= end) break;
        int k = dec_escape(p, &i, end, w);
        if (k < 0) return NULL;
        w += k;
    }
    *w = 0;
    if (out_len) *out_len = (size_t)(w - o);
    return (char *)o;
}

/* Compare the string content p[i..end) (escapes allowed) with lit[0..L). */
static bool str_eq_raw(const uint8_t *p, size_t i, size_t end, bool esc, const char *lit, size_t L)
{
    if (!esc) return end - i == L && memcmp(p + i, lit, L) == 0;
    size_t k = 0;
    while (i < end) {
        if (p[i] != '\\') {
            if (k >= L || (uint8_t)lit[k] != p[i]) return false;
            k++;
            i++;
            continue;
        }
        uint8_t tmp[4];
        int m = dec_escape(p, &i, end, tmp);
        if (m < 0 || k + (size_t)m > L || memcmp(lit + k, tmp, (size_t)m) != 0) return false;
        k += (size_t)m;
    }
    return k == L;
}

bool jscan_str_eq(const char *body, jspan_t s, const char *lit)
{
    const uint8_t *p = (const uint8_t *)body;
    if (s.len < 2 || p[s.off] != '"' || p[s.off + s.len - 1] != '"') return false;
    size_t i = s.off + 1, end = (size_t)s.off + s.len - 1;
    bool esc = memchr(p + i, '\\', end - i) != NULL;
    return str_eq_raw(p, i, end, esc, lit, strlen(lit));
}

/* ---- request walkers ------------------------------------------------- */

enum {
    K_NONE = 0,
    K_MODEL,
    K_STREAM,
    K_STREAM_OPTIONS,
    K_MESSAGES,
    K_TOOLS,
    K_PREV_ID,
    K_INPUT,
    K_METADATA,
    K_PROMPT_CACHE_KEY,
    K_CONVERSATION,
    K_SYSTEM,
    K_INSTRUCTIONS,
    K_MAX_TOKENS,
    K_MAX_COMPLETION_TOKENS,
    K_TOOL_CHOICE,
    K_REASONING,
    K_THINKING,
    K_STORE,
    K_USER,
    /* message members */
    K_ROLE,
    K_CONTENT,
    K_TOOL_CALLS,
    K_TOOL_CALL_ID,
    K_NAME,
    K_REASONING_DETAILS,
    K_REASONING_CONTENT,
    K_TYPE,
};

typedef struct keyname {
    const char *s;
    uint8_t len, id;
} keyname_t;

#define KN(str, id)                                                                                \
    {                                                                                              \
        str, sizeof(str) - 1, id                                                                   \
    }
static const keyname_t top_keys[] = {
    KN("model", K_MODEL),
    KN("stream", K_STREAM),
    KN("stream_options", K_STREAM_OPTIONS),
    KN("messages", K_MESSAGES),
    KN("tools", K_TOOLS),
    KN("previous_response_id", K_PREV_ID),
    KN("input", K_INPUT),
    KN("metadata", K_METADATA),
    KN("prompt_cache_key", K_PROMPT_CACHE_KEY),
    KN("system", K_SYSTEM),
    KN("instructions", K_INSTRUCTIONS),
    KN("max_tokens", K_MAX_TOKENS),
    KN("max_completion_tokens", K_MAX_COMPLETION_TOKENS),
    KN("tool_choice", K_TOOL_CHOICE),
    KN("reasoning", K_REASONING),
    KN("thinking", K_THINKING),
    KN("store", K_STORE),
    KN("user", K_USER),
    KN("conversation", K_CONVERSATION),
    {NULL, 0, 0},
};
static const keyname_t msg_keys[] = {
    KN("role", K_ROLE),
    KN("content", K_CONTENT),
    KN("tool_calls", K_TOOL_CALLS),
    KN("tool_call_id", K_TOOL_CALL_ID),
    KN("name", K_NAME),
    KN("reasoning_details", K_REASONING_DETAILS),
    KN("reasoning_content", K_REASONING_CONTENT),
    KN("type", K_TYPE),
    {NULL, 0, 0},
};

/* Identify the key whose string (quotes included) is p[ks..ke). */
static int key_id(const uint8_t *p, size_t ks, size_t ke, bool esc, const keyname_t *tab)
{
    size_t i = ks + 1, end = ke - 1, raw = end - i;
    if (!esc) {
        for (const keyname_t *k = tab; k->s; k++)
            if (k->len == raw && memcmp(p + i, k->s, raw) == 0) return k->id;
        return K_NONE;
    }
    uint8_t buf[32] = {0};
    size_t w = 0;
    while (i < end) {
        if (w + 4 > sizeof(buf)) return K_NONE; /* longer than any key we look for */
        if (p[i] != '\\') {
            buf[w++] = p[i++];
            continue;
        }
        int m = dec_escape(p, &i, end, buf + w);
        if (m < 0) return K_NONE;
        w += (size_t)m;
    }
    for (const keyname_t *k = tab; k->s; k++)
        if (k->len == w && memcmp(buf, k->s, w) == 0) return k->id;
    return K_NONE;
}

static jspan_t span(size_t a, size_t b)
{
    jspan_t s = {(uint32_t)a, (uint32_t)(b - a)};
    return s;
}

static jrole_t role_of(const uint8_t *p, size_t ks, size_t ke, bool esc)
{
    static const struct {
        const char *s;
        jrole_t r;
    } roles[] = {{"system", JROLE_SYSTEM}, {"developer", JROLE_DEVELOPER},
                 {"user", JROLE_USER},     {"assistant", JROLE_ASSISTANT},
                 {"tool", JROLE_TOOL},     {"function", JROLE_FUNCTION}};
    for (size_t k = 0; k < sizeof(roles) / sizeof(roles[0]); k++)
        if (str_eq_raw(p, ks + 1, ke - 1, esc, roles[k].s, strlen(roles[k].s))) return roles[k].r;
    return JROLE_OTHER;
}

/* Parse "key": at p[i] (an opening quote is required). On success *i is at
 * the value's first byte and *kid identifies the key in tab. */
static int scan_member_key(scanner_t *s, size_t *i, const keyname_t *tab, int *kid)
{
    const uint8_t *p = s->p;
    const size_t n = s->n;
    size_t ks = *i, ke;
    bool esc;
    if (ks >= n) return fail(s, n, E_EOF);
    if (p[ks] != '"') return fail(s, ks, p[ks] == '}' ? E_OCOMMA : E_KEY);
    if (scan_string(s, ks, &ke, &esc)) return -1;
    *kid = key_id(p, ks, ke, esc, tab);
    size_t j = skip_ws(p, ke, n);
    if (j >= n) return fail(s, n, E_EOF);
    if (p[j] != ':') return fail(s, j, E_COLON);
    j = skip_ws(p, j + 1, n);
    if (j >= n) return fail(s, n, E_EOF);
    *i = j;
    return 0;
}

/* After a member or element: p[*i] must be ',' (then *i moves past it and
 * its whitespace, returns 1) or close (then *i moves past it, returns 0). */
static int scan_sep(scanner_t *s, size_t *i, uint8_t close)
{
    const uint8_t *p = s->p;
    size_t j = skip_ws(p, *i, s->n);
    if (j >= s->n) return fail(s, s->n, E_EOF);
    if (p[j] == ',') {
        j = skip_ws(p, j + 1, s->n);
        if (close == ']' && j < s->n && p[j] == ']') return fail(s, j, E_ACOMMA);
        *i = j;
        return 1;
    }
    if (p[j] != close) return fail(s, j, close == '}' ? E_OSEP : E_ASEP);
    *i = j + 1;
    return 0;
}

/* An array at p[i] whose enclosing depth is depth; counts its elements. */
static int scan_array_count(scanner_t *s, size_t i, int depth, size_t *end, uint32_t *count)
{
    uint32_t c = 0;
    i = skip_ws(s->p, i + 1, s->n);
    if (i < s->n && s->p[i] == ']') {
        *end = i + 1;
        *count = 0;
        return 0;
    }
    for (;;) {
        if (skip_value(s, i, depth + 1, &i)) return -1;
        c++;
        int r = scan_sep(s, &i, ']');
        if (r < 0) return -1;
        if (r == 0) break;
    }
    *end = i;
    *count = c;
    return 0;
}

/* A message object at p[i], enclosed by depth containers. */
static int scan_message(scanner_t *s, size_t i, int depth, jmsg_t *m, size_t *end)
{
    const uint8_t *p = s->p;
    size_t start = i;
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == '}') {
        i++;
        goto done;
    }
    for (;;) {
        int kid;
        if (scan_member_key(s, &i, msg_keys, &kid)) return -1;
        size_t vs = i;
        bool esc = false;
        if (kid == K_TOOL_CALLS && p[i] == '[') {
            if (scan_array_count(s, i, depth + 1, &i, &m->n_tool_calls)) return -1;
        } else if (p[i] == '"') {
            if (scan_string(s, i, &i, &esc)) return -1;
        } else {
            if (skip_value(s, i, depth + 1, &i)) return -1;
            if (kid == K_TOOL_CALLS) m->n_tool_calls = 0;
        }
        jspan_t v = span(vs, i);
        switch (kid) {
        case K_ROLE:
            m->role_span = v;
            m->role = p[vs] == '"' ? role_of(p, vs, i, esc) : JROLE_OTHER;
            break;
        case K_CONTENT: m->content = v; break;
        case K_TOOL_CALLS: m->tool_calls = v; break;
        case K_TOOL_CALL_ID: m->tool_call_id = v; break;
        case K_NAME: m->name = v; break;
        case K_REASONING_DETAILS: m->reasoning_details = v; break;
        case K_REASONING_CONTENT: m->reasoning_content = v; break;
        case K_TYPE: m->type = v; break;
        default: break;
        }
        int r = scan_sep(s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) break;
    }
done:
    m->value = span(start, i);
    *end = i;
    return 0;
}

/* The "messages" array at p[i] (inside the top-level object). */
static int scan_messages(scanner_t *s, size_t i, arena_t *arena, jreq_t *out, size_t *end)
{
    const uint8_t *p = s->p;
    uint32_t cap = 0, nm = 0;
    jmsg_t *msgs = NULL;
    i = skip_ws(p, i + 1, s->n);
    if (i < s->n && p[i] == ']') {
        i++;
        goto done;
    }
    for (;;) {
        jmsg_t m;
        memset(&m, 0, sizeof(m));
        if (i >= s->n) return fail(s, s->n, E_EOF);
        if (p[i] == '{') {
            if (scan_message(s, i, 2, &m, &i)) return -1;
        } else {
            size_t vs = i;
            if (skip_value(s, i, 2, &i)) return -1;
            m.value = span(vs, i);
        }
        if (arena) {
            if (nm == cap) {
                uint32_t nc = cap ? cap * 2 : 16;
                jmsg_t *nmsgs = arena_alloc(arena, (size_t)nc * sizeof(*nmsgs));
                if (nm) memcpy(nmsgs, msgs, (size_t)nm * sizeof(*nmsgs));
                msgs = nmsgs;
                cap = nc;
            }
            msgs[nm++] = m;
        }
        int r = scan_sep(s, &i, ']');
        if (r < 0) return -1;
        if (r == 0) break;
    }
done:
    out->msgs = msgs;
    out->n_msgs = nm;
    *end = i;
    return 0;
}

int jscan_request(const char *body, size_t len, arena_t *arena, jreq_t *out, jscan_err_t *err)
{
    scanner_t s = {(const uint8_t *)body, len, err};
    const uint8_t *p = s.p;
    memset(out, 0, sizeof(*out));
    out->stream = -1;
    if (len >= UINT32_MAX) return fail(&s, 0, E_BIG);
    size_t i = skip_ws(p, 0, len);
    if (i >= len) return fail(&s, len, E_EOF);
    if (p[i] != '{') return jscan_validate(body, len, err) ? -1 : -2;
    out->obj_open = (uint32_t)i;
    i = skip_ws(p, i + 1, len);
    if (i < len && p[i] == '}') {
        out->obj_close = (uint32_t)i;
        i++;
        goto tail;
    }
    for (;;) {
        int kid;
        if (scan_member_key(&s, &i, top_keys, &kid)) return -1;
        size_t vs = i;
        if (kid == K_MESSAGES && p[i] == '[') {
            if (scan_messages(&s, i, arena, out, &i)) return -1;
        } else if (skip_value(&s, i, 1, &i))
            return -1;
        jspan_t v = span(vs, i);
        out->n_top_keys++;
        switch (kid) {
        case K_MODEL:
            if (out->n_model >= JREQ_MAX_MODEL_KEYS) return fail(&s, vs, E_MODELS);
            out->model_all[out->n_model++] = v;
            out->model = v;
            out->model_is_string = p[vs] == '"';
            break;
        case K_STREAM:
            out->stream_value = v;
            out->stream = p[vs] == 't' ? 1 : p[vs] == 'f' ? 0 : -1;
            break;
        case K_STREAM_OPTIONS: out->stream_options = v; break;
        case K_MESSAGES:
            out->messages = v;
            out->has_messages = p[vs] == '[';
            if (!out->has_messages) {
                out->msgs = NULL;
                out->n_msgs = 0;
            }
            break;
        case K_TOOLS: out->tools = v; break;
        case K_PREV_ID: out->previous_response_id = v; break;
        case K_INPUT: out->input = v; break;
        case K_METADATA: out->metadata = v; break;
        case K_PROMPT_CACHE_KEY: out->prompt_cache_key = v; break;
        case K_SYSTEM: out->system = v; break;
        case K_INSTRUCTIONS: out->instructions = v; break;
        case K_MAX_TOKENS: out->max_tokens = v; break;
        case K_MAX_COMPLETION_TOKENS: out->max_completion_tokens = v; break;
        case K_TOOL_CHOICE: out->tool_choice = v; break;
        case K_REASONING: out->reasoning = v; break;
        case K_THINKING: out->thinking = v; break;
        case K_STORE: out->store = v; break;
        case K_USER: out->user = v; break;
        case K_CONVERSATION: out->conversation = v; break;
        default: break;
        }
        int r = scan_sep(&s, &i, '}');
        if (r < 0) return -1;
        if (r == 0) {
            out->obj_close = (uint32_t)(i - 1);
            break;
        }
    }
tail:
    i = skip_ws(p, i, len);
    if (i != len) return fail(&s, i, E_TRAIL);
    return 0;
}

/* ---- span helpers ---------------------------------------------------- */

char jscan_type(const char *body, jspan_t v)
{
    if (v.len == 0) return 0;
    char c = body[v.off];
    if (c == '"' || c == '{' || c == '[' || c == 't' || c == 'f' || c == 'n' || c == '-' ||
        (c >= '0' && c <= '9'))
        return c;
    return 0;
}

/* Shared walker for obj_next/arr_next: a scanner bounded to the span. */
static bool container_next(const char *body, jspan_t c, uint8_t open, uint32_t *cursor,
                           jspan_t *key, jspan_t *val)
{
    scanner_t s = {(const uint8_t *)body, (size_t)c.off + c.len, NULL};
    const uint8_t *p = s.p;
    size_t i;
    if (c.len < 2 || p[c.off] != open) return false;
    if (*cursor == 0) {
        i = skip_ws(p, c.off + 1u, s.n);
    } else {
        if (*cursor <= c.off || *cursor >= s.n) return false;
        i = *cursor;
        int r = scan_sep(&s, &i, open == '{' ? '}' : ']');
        if (r <= 0) return false;
    }
    if (i >= s.n || p[i] == (open == '{' ? '}' : ']')) return false;
    if (open == '{') {
        size_t ke;
        bool esc;
        if (p[i] != '"' || scan_string(&s, i, &ke, &esc)) return false;
        *key = span(i, ke);
        i = skip_ws(p, ke, s.n);
        if (i >= s.n || p[i] != ':') return false;
        i = skip_ws(p, i + 1, s.n);
    }
    size_t vs = i;
    if (skip_value(&s, i, 1, &i)) return false;
    *val = span(vs, i);
    *cursor = (uint32_t)i;
    return true;
}

bool jscan_obj_next(const char *body, jspan_t obj, uint32_t *cursor, jspan_t *key, jspan_t *val)
{
    return container_next(body, obj, '{', cursor, key, val);
}

bool jscan_arr_next(const char *body, jspan_t arr, uint32_t *cursor, jspan_t *elem)
{
    jspan_t k;
    return container_next(body, arr, '[', cursor, &k, elem);
}

bool jscan_obj_get(const char *body, jspan_t obj, const char *key, jspan_t *val)
{
    uint32_t cur = 0;
    jspan_t k, v;
    bool found = false;
    while (jscan_obj_next(body, obj, &cur, &k, &v)) {
        if (jscan_str_eq(body, k, key)) {
            *val = v;
            found = true;
        }
    }
    return found;
}

bool jscan_int(const char *body, jspan_t v, int64_t *out)
{
    const uint8_t *p = (const uint8_t *)body + v.off;
    size_t n = v.len, i = 0;
    bool neg = false;
    if (n && p[0] == '-') {
        neg = true;
        i++;
    }
    if (i >= n) return false;
    uint64_t x = 0, lim = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < n; i++) {
        if (!is_digit(p[i])) return false;
        uint64_t d = p[i] - '0';
        if (x > (lim - d) / 10) return false;
        x = x * 10 + d;
    }
    *out = neg ? (int64_t)(0 - x) : (int64_t)x;
    return true;
}

/* ---- usage ------------------------------------------------------------ */

static int64_t get_int(const char *doc, jspan_t obj, const char *key)
{
    jspan_t v;
    int64_t x;
    if (jscan_obj_get(doc, obj, key, &v) && jscan_int(doc, v, &x)) return x;
    return -1;
}

static int64_t get_int2(const char *doc, jspan_t obj, const char *k1, const char *k2)
{
    jspan_t v;
    if (!jscan_obj_get(doc, obj, k1, &v) || jscan_type(doc, v) != '{') return -1;
    return get_int(doc, v, k2);
}

static bool usage_of(const char *doc, jspan_t obj, jspan_t *u)
{
    return jscan_obj_get(doc, obj, "usage", u) && jscan_type(doc, *u) == '{';
}

void jscan_usage(const char *doc, size_t len, jusage_t *u)
{
    memset(u, 0, sizeof(*u));
    u->prompt_tokens = u->completion_tokens = u->cached_tokens = -1;
    u->cache_creation_tokens = u->reasoning_tokens = -1;
    if (len >= UINT32_MAX) return;
    scanner_t s = {(const uint8_t *)doc, len, NULL};
    size_t i = skip_ws(s.p, 0, len), end;
    if (i >= len || s.p[i] != '{' || skip_value(&s, i, 0, &end)) return;
    if (skip_ws(s.p, end, len) != len) return;
    jspan_t top = span(i, end), us, inner;
    if (!usage_of(doc, top, &us)) {
        if (jscan_obj_get(doc, top, "message", &inner) && jscan_type(doc, inner) == '{' &&
            usage_of(doc, inner, &us))
            ;
        else if (jscan_obj_get(doc, top, "response", &inner) && jscan_type(doc, inner) == '{' &&
                 usage_of(doc, inner, &us))
            ;
        else
            return;
    }
    u->found = true;
    int64_t pt = get_int(doc, us, "prompt_tokens");
    int64_t ct = get_int(doc, us, "completion_tokens");
    int64_t it = get_int(doc, us, "input_tokens");
    int64_t ot = get_int(doc, us, "output_tokens");
    int64_t cr = get_int(doc, us, "cache_read_input_tokens");
    int64_t cc = get_int(doc, us, "cache_creation_input_tokens");
    jspan_t tmp;
    u->is_anthropic = jscan_obj_get(doc, us, "cache_read_input_tokens", &tmp) ||
                      jscan_obj_get(doc, us, "cache_creation_input_tokens", &tmp);
    u->completion_tokens = ct >= 0 ? ct : ot;
    if (pt >= 0) {
        u->prompt_tokens = pt;
        u->cached_tokens = get_int2(doc, us, "prompt_tokens_details", "cached_tokens");
        u->reasoning_tokens = get_int2(doc, us, "completion_tokens_details", "reasoning_tokens");
    } else if (u->is_anthropic) {
        u->prompt_tokens = it >= 0 ? it + (cr > 0 ? cr : 0) + (cc > 0 ? cc : 0) : -1;
        u->cached_tokens = cr;
        u->cache_creation_tokens = cc;
    } else {
        u->prompt_tokens = it;
        u->cached_tokens = get_int2(doc, us, "input_tokens_details", "cached_tokens");
        u->reasoning_tokens = get_int2(doc, us, "output_tokens_details", "reasoning_tokens");
    }
}
