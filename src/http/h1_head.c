/* h1_head.c - the fast reader of common HTTP/1.1 heads (h1_head.h): one
 * pass over each line with a 16-byte scan (SSE2) for the first byte that is
 * not plain text, header names checked against a token table and
 * recognised by length and a case-insensitive compare. Anything it does not
 * recognise as plainly valid it leaves to http-parser by returning 0; it
 * never decides a rejection itself. */
#include "http/h1_head.h"

#include <http_parser.h>
#include <string.h>
#include <strings.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* RFC 7230 tchar, lowercased (0: not a token byte) */
static const unsigned char ltok[256] = {
    ['!'] = '!', ['#'] = '#', ['$'] = '$', ['%'] = '%', ['&'] = '&', ['\''] = '\'', ['*'] = '*',
    ['+'] = '+', ['-'] = '-', ['.'] = '.', ['^'] = '^', ['_'] = '_', ['`'] = '`',   ['|'] = '|',
    ['~'] = '~', ['0'] = '0', ['1'] = '1', ['2'] = '2', ['3'] = '3', ['4'] = '4',   ['5'] = '5',
    ['6'] = '6', ['7'] = '7', ['8'] = '8', ['9'] = '9', ['A'] = 'a', ['B'] = 'b',   ['C'] = 'c',
    ['D'] = 'd', ['E'] = 'e', ['F'] = 'f', ['G'] = 'g', ['H'] = 'h', ['I'] = 'i',   ['J'] = 'j',
    ['K'] = 'k', ['L'] = 'l', ['M'] = 'm', ['N'] = 'n', ['O'] = 'o', ['P'] = 'p',   ['Q'] = 'q',
    ['R'] = 'r', ['S'] = 's', ['T'] = 't', ['U'] = 'u', ['V'] = 'v', ['W'] = 'w',   ['X'] = 'x',
    ['Y'] = 'y', ['Z'] = 'z', ['a'] = 'a', ['b'] = 'b', ['c'] = 'c', ['d'] = 'd',   ['e'] = 'e',
    ['f'] = 'f', ['g'] = 'g', ['h'] = 'h', ['i'] = 'i', ['j'] = 'j', ['k'] = 'k',   ['l'] = 'l',
    ['m'] = 'm', ['n'] = 'n', ['o'] = 'o', ['p'] = 'p', ['q'] = 'q', ['r'] = 'r',   ['s'] = 's',
    ['t'] = 't', ['u'] = 'u', ['v'] = 'v', ['w'] = 'w', ['x'] = 'x', ['y'] = 'y',   ['z'] = 'z',
};

void h1_lower_copy(char *dst, const char *src, size_t n)
{
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)ltok[(unsigned char)src[i]];
}

void h1_copy_fields(const h1_head_t *h, const char *d, buf_t *dst, size_t (*hoff)[4])
{
    buf_reserve(dst, h->field_bytes);
    for (size_t i = 0; i < h->n_hdr; i++) {
        const uint32_t *e = h->hdr[i];
        hoff[i][0] = dst->len;
        hoff[i][1] = e[1];
        h1_lower_copy(dst->data + dst->len, d + e[0], e[1]);
        dst->len += e[1];
        hoff[i][2] = dst->len;
        hoff[i][3] = e[3];
        memcpy(dst->data + dst->len, d + e[2], e[3]);
        dst->len += e[3];
    }
    dst->data[dst->len] = 0;
}

/* Is b a byte a header value may hold here: HTAB, SP..'~', or 0x80 and
 * above (what http-parser takes in a value)? */
static inline int is_text(unsigned char b)
{
    return b == '\t' || (b >= 0x20 && b != 0x7f);
}

/* Offset of the first byte of s[0..n) that is not text (is_text), or n. */
static size_t text_span(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i flip = _mm_set1_epi8((char)0x80);
    const __m128i lo = _mm_set1_epi8((char)(0x20 ^ 0x80)); /* b < 0x20 after the flip */
    const __m128i tab = _mm_set1_epi8('\t');
    const __m128i del = _mm_set1_epi8(0x7f);
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_loadu_si128((const __m128i *)(s + i));
        __m128i ctl = _mm_cmplt_epi8(_mm_xor_si128(v, flip), lo);
        ctl = _mm_andnot_si128(_mm_cmpeq_epi8(v, tab), ctl);
        ctl = _mm_or_si128(ctl, _mm_cmpeq_epi8(v, del));
        int m = _mm_movemask_epi8(ctl);
        if (m) return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    for (; i < n; i++)
        if (!is_text(s[i])) return i;
    return n;
}

/* Offset of the first byte of s[0..n) outside '!'..'~', or n. */
static size_t visible_span(const unsigned char *s, size_t n)
{
    size_t i = 0;
#ifdef __SSE2__
    const __m128i flip = _mm_set1_epi8((char)0x80);
    const __m128i lo = _mm_set1_epi8((char)(0x21 ^ 0x80));
    const __m128i hi = _mm_set1_epi8((char)(0x7e ^ 0x80));
    for (; i + 16 <= n; i += 16) {
        __m128i v = _mm_xor_si128(_mm_loadu_si128((const __m128i *)(s + i)), flip);
        __m128i out = _mm_or_si128(_mm_cmplt_epi8(v, lo), _mm_cmpgt_epi8(v, hi));
        int m = _mm_movemask_epi8(out);
        if (m) return i + (size_t)__builtin_ctz((unsigned)m);
    }
#endif
    for (; i < n; i++)
        if (s[i] < 0x21 || s[i] > 0x7e) return i;
    return n;
}

/* The methods read here (others go to http-parser). */
static int read_method(const char *d, size_t n, int *method)
{
    static const struct {
        const char *s;
        size_t n;
        int m;
    } tab[] = {
        {"POST", 4, HTTP_POST},       {"GET", 3, HTTP_GET},       {"PUT", 3, HTTP_PUT},
        {"HEAD", 4, HTTP_HEAD},       {"DELETE", 6, HTTP_DELETE}, {"PATCH", 5, HTTP_PATCH},
        {"OPTIONS", 7, HTTP_OPTIONS},
    };
    for (size_t i = 0; i < sizeof tab / sizeof tab[0]; i++)
        if (tab[i].n == n && memcmp(tab[i].s, d, n) == 0) {
            *method = tab[i].m;
            return 1;
        }
    return 0;
}

static int ieq(const char *a, size_t n, const char *lit, size_t litn)
{
    return n == litn && strncasecmp(a, lit, n) == 0;
}

static int prefix_is_transfer_encoding(const char *name, size_t nl)
{
    return nl > 17 && (name[0] | 0x20) == 't' && strncasecmp(name, "transfer-encoding", 17) == 0;
}

/* Header lines from off to the empty line. Returns 1 with h->head_len set,
 * 0 for anything outside the subset. */
static int read_fields(const char *d, size_t len, size_t off, size_t max_hdr, h1_head_t *h)
{
    const unsigned char *u = (const unsigned char *)d;
    h->n_hdr = 0;
    h->field_bytes = 0;
    h->has_clen = 0;
    h->clen = 0;
    h->conn_close = h->conn_keep_alive = 0;
    int seen_conn = 0;
    for (;;) {
        if (off + 2 > len) return 0;
        if (u[off] == '\r') {
            if (u[off + 1] != '\n') return 0;
            h->head_len = off + 2;
            return 1;
        }
        /* name: a token up to the colon */
        size_t ns = off;
        while (off < len && ltok[u[off]])
            off++;
        size_t nl = off - ns;
        if (nl == 0 || off >= len || u[off] != ':') return 0;
        off++;
        while (off < len && (u[off] == ' ' || u[off] == '\t'))
            off++;
        size_t vs = off;
        off += text_span(u + off, len - off);
        if (off + 1 >= len || u[off] != '\r' || u[off + 1] != '\n') return 0;
        size_t vl = off - vs;
        /* an empty value, or whitespace that http-parser might keep or
         * drop at its end: leave it to http-parser */
        if (vl == 0 || u[off - 1] == ' ' || u[off - 1] == '\t') return 0;
        off += 2;
        if (h->n_hdr >= max_hdr) return 0;
        const char *name = d + ns, *val = d + vs;
        /* http-parser flags Transfer-Encoding on the name's prefix alone
         * ("Transfer-Encoding1" counts, found by fuzz_http): its to judge */
        if (prefix_is_transfer_encoding(name, nl)) return 0;
        switch (nl) {
        case 7: /* upgrade */
            if (ieq(name, nl, "upgrade", 7)) return 0;
            break;
        case 10:
            if (ieq(name, nl, "connection", 10)) {
                if (seen_conn++) return 0;
                if (ieq(val, vl, "close", 5))
                    h->conn_close = 1;
                else if (ieq(val, vl, "keep-alive", 10))
                    h->conn_keep_alive = 1;
                else
                    return 0;
            }
            break;
        case 14:
            if (ieq(name, nl, "content-length", 14)) {
                if (h->has_clen || vl > 18) return 0;
                uint64_t v = 0;
                for (size_t i = 0; i < vl; i++) {
                    unsigned c = (unsigned char)val[i] - '0';
                    if (c > 9) return 0;
                    v = v * 10 + c;
                }
                h->has_clen = 1;
                h->clen = v;
            }
            break;
        case 16:
            if (ieq(name, nl, "proxy-connection", 16)) return 0;
            break;
        case 17:
            if (ieq(name, nl, "transfer-encoding", 17)) return 0;
            break;
        default: break;
        }
        uint32_t *e = h->hdr[h->n_hdr++];
        e[0] = (uint32_t)ns;
        e[1] = (uint32_t)nl;
        e[2] = (uint32_t)vs;
        e[3] = (uint32_t)vl;
        h->field_bytes += nl + vl;
    }
}

/* "HTTP/1.0" or "HTTP/1.1" at d; returns the minor version or -1. */
static int read_version(const char *d)
{
    if (memcmp(d, "HTTP/1.", 7) != 0) return -1;
    if (d[7] == '1') return 1;
    if (d[7] == '0') return 0;
    return -1;
}

int h1_read_request(const char *d, size_t len, size_t max_hdr, h1_head_t *h)
{
    const unsigned char *u = (const unsigned char *)d;
    if (max_hdr > H1_MAX_HEADERS) max_hdr = H1_MAX_HEADERS;
    /* heads past this go to http-parser, whose own ceiling is 80 KB */
    if (len > 60 * 1024) len = 60 * 1024;
    size_t m = 0;
    while (m < len && m < 8 && u[m] >= 'A' && u[m] <= 'Z')
        m++;
    if (m == 0 || m >= len || u[m] != ' ' || !read_method(d, m, &h->method)) return 0;
    size_t ts = m + 1;
    if (ts >= len || u[ts] != '/') return 0;
    size_t te = ts + visible_span(u + ts, len - ts);
    /* SP HTTP/1.x CR LF */
    if (te + 11 > len || u[te] != ' ') return 0;
    int minor = read_version(d + te + 1);
    if (minor < 0 || u[te + 9] != '\r' || u[te + 10] != '\n') return 0;
    h->target_off = ts;
    h->target_len = te - ts;
    h->http_minor = minor;
    h->status = 0;
    return read_fields(d, len, te + 11, max_hdr, h);
}

int h1_read_response(const char *d, size_t len, size_t max_hdr, h1_head_t *h)
{
    const unsigned char *u = (const unsigned char *)d;
    if (max_hdr > H1_MAX_HEADERS) max_hdr = H1_MAX_HEADERS;
    if (len > 60 * 1024) len = 60 * 1024;
    /* HTTP/1.x SP DDD SP reason CR LF */
    if (len < 15) return 0;
    int minor = read_version(d);
    if (minor < 0 || u[8] != ' ' || u[12] != ' ') return 0;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (u[i] < '0' || u[i] > '9') return 0;
        st = st * 10 + (u[i] - '0');
    }
    size_t re = 13 + text_span(u + 13, len - 13);
    if (re == 13 || re + 1 >= len || u[re] != '\r' || u[re + 1] != '\n') return 0;
    h->status = st;
    h->http_minor = minor;
    h->method = 0;
    h->target_off = h->target_len = 0;
    return read_fields(d, len, re + 2, max_hdr, h);
}
