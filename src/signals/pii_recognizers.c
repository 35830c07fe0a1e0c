/* pii_recognizers.c - hand-written PII scanners and masking.
 *
 * One pass over the text. Most bytes are letters: the loop skips whole
 * alphanumeric runs and only looks closer at a word start, at '@' (emails,
 * looking back for the local part), '+' and '(' (phone numbers), "::" (IPv6)
 * and "-----BEGIN" (PEM keys). Each recognizer parses its own grammar from
 * the trigger, validates (Luhn, mod-97, SSN rules and IP parses live in
 * pii_validators.c; key formats here) and scores per SPEC §5.4. Context
 * words are searched only around a candidate, so their cost is paid per
 * candidate, never per byte.
 * Used by the pii signal family (signals/pii.c) and by replay redaction. */
#include "signals/pii_recognizers.h"
#include "signals/pii_validators.h"

#include <pthread.h>
#include <string.h>

/* ---- character classes ------------------------------------------------ */

enum {
    C_DIGIT = 1,
    C_UPPER = 2,
    C_LOWER = 4,
    C_HEX = 8,
    C_TOK = 16,   /* secret-token chars: alnum _ - + / = */
    C_LOCAL = 32, /* email local part: alnum . _ % + - */
    C_B64U = 64,  /* base64url: alnum _ - */
    C_MID = 128,  /* a word starting after this byte is mid-token */
};
#define C_ALPHA (C_UPPER | C_LOWER)
#define C_ALNUM (C_DIGIT | C_UPPER | C_LOWER)

static uint8_t CC[256];
/* the non-alnum bytes pii_scan looks at: @ + ( : - */
static const bool TRIG[256] = {
    ['@'] = true, ['+'] = true, ['('] = true, [':'] = true, ['-'] = true};
static pthread_once_t cc_once = PTHREAD_ONCE_INIT;

static void cc_build(void)
{
    for (int c = '0'; c <= '9'; c++)
        CC[c] = C_DIGIT | C_HEX;
    for (int c = 'A'; c <= 'Z'; c++)
        CC[c] = C_UPPER;
    for (int c = 'a'; c <= 'z'; c++)
        CC[c] = C_LOWER;
    for (int c = 'A'; c <= 'F'; c++)
        CC[c] |= C_HEX, CC[c + 32] |= C_HEX;
    for (int c = 0; c < 256; c++)
        if (CC[c] & C_ALNUM) CC[c] |= C_TOK | C_LOCAL | C_B64U | C_MID;
    for (const char *p = "_-+/="; *p; p++)
        CC[(uint8_t)*p] |= C_TOK | C_MID;
    for (const char *p = "._%+-"; *p; p++)
        CC[(uint8_t)*p] |= C_LOCAL;
    for (const char *p = "_-"; *p; p++)
        CC[(uint8_t)*p] |= C_B64U;
    for (const char *p = ".:@\\"; *p; p++)
        CC[(uint8_t)*p] |= C_MID;
}

static void cc_init_once(void)
{
    pthread_once(&cc_once, cc_build);
}

static inline bool in_set(int c, const char *set)
{
    return c && strchr(set, c);
}
static inline bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static inline int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

/* ---- scan state ------------------------------------------------------- */

typedef struct {
    const char *t;
    size_t len;
    pii_entity_t *out;
    size_t n, max;
    uint32_t types;
    double min_score;
} scan_t;

static inline bool want(const scan_t *s, pii_type_t ty)
{
    return s->types & PII_TYPE_BIT(ty);
}

/* Insert keeping out[] sorted and non-overlapping. Candidates arrive mostly
 * in order; only an email's look-back can overlap earlier entities. */
static void add(scan_t *s, pii_type_t ty, size_t start, size_t end, double score)
{
    if (score < s->min_score || !want(s, ty) || end <= start) return;
    size_t k = s->n;
    while (k > 0 && s->out[k - 1].start + s->out[k - 1].len > start) {
        pii_entity_t *o = &s->out[k - 1];
        if (o->start >= end) { /* entirely after: keep scanning back */
            k--;
            continue;
        }
        if (o->score > score || (o->score == score && o->len >= end - start)) return;
        memmove(o, o + 1, (s->n - k) * sizeof *o); /* drop the weaker one */
        s->n--;
        k--;
    }
    if (s->n == s->max) return;
    memmove(&s->out[k + 1], &s->out[k], (s->n - k) * sizeof *s->out);
    s->out[k] = (pii_entity_t){ty, start, end - start, score};
    s->n++;
}

/* Is one of words (lower case, NULL-terminated list) within a window around
 * [a, b)? A word must start at a non-letter so "tel" does not hit "hotel". */
static bool near_word(const scan_t *s, size_t a, size_t b, const char *const *words)
{
    size_t lo = a > 48 ? a - 48 : 0, hi = b + 24 < s->len ? b + 24 : s->len;
    const char *t = s->t;
    uint64_t first[4] = {0}; /* first bytes of the words */
    for (const char *const *w = words; *w; w++)
        first[(uint8_t)(*w)[0] >> 6] |= 1ull << ((uint8_t)(*w)[0] & 63);
    for (size_t i = lo; i < hi; i++) { /* one pass; only word starts are compared */
        int c = lower((uint8_t)t[i]);
        if (!((first[(uint8_t)c >> 6] >> ((uint8_t)c & 63)) & 1)) continue;
        if (i > 0 && (CC[(uint8_t)t[i - 1]] & C_ALPHA)) continue;
        for (const char *const *w = words; *w; w++) {
            if ((*w)[0] != c) continue;
            size_t j = 1;
            while ((*w)[j] && i + j < hi && lower((uint8_t)t[i + j]) == (*w)[j])
                j++;
            if (!(*w)[j]) return true;
        }
    }
    return false;
}

static const char *const PHONE_WORDS[] = {"phone",    "tel",      "call",    "mobile", "cell",
                                          "fax",      "whatsapp", "contact", "sms",    "text me",
                                          "reach me", "dial",     "number",  NULL};
static const char *const SSN_WORDS[] = {"ssn", "social security", "ss#", "ss no", NULL};
static const char *const KEY_WORDS[] = {"key",    "token",         "secret", "password",
                                        "passwd", "pwd",           "apikey", "credential",
                                        "bearer", "authorization", NULL};
/* Dotted numbers next to these are versions or section numbers, not IPs. */
static const char *const VERSION_WORDS[] = {"version", "ver.",    "release", "build",
                                            "section", "chapter", "clause",  "rfc",
                                            "step",    "§",       NULL};

/* ---- email ------------------------------------------------------------ */

static bool tld_is_file_ext(const char *p, size_t n)
{
    static const char *const ext[] = {"png", "jpg", "jpeg", "gif",  "svg", "webp", "js", "ts",
                                      "py",  "css", "html", "json", "txt", "md",   NULL};
    for (const char *const *e = ext; *e; e++)
        if (strlen(*e) == n && strncasecmp(*e, p, n) == 0) return true;
    return false;
}

static size_t try_email(scan_t *s, size_t at)
{
    const char *t = s->t;
    size_t a = at;
    while (a > 0 && at - a < 64 && (CC[(uint8_t)t[a - 1]] & C_LOCAL))
        a--;
    if (a > 0 && (CC[(uint8_t)t[a - 1]] & C_LOCAL)) return 0; /* local part > 64 */
    while (a < at && (t[a] == '.' || t[a] == '-' || t[a] == '+'))
        a++;
    if (a == at || t[at - 1] == '.') return 0;
    for (size_t k = a; k + 1 < at; k++)
        if (t[k] == '.' && t[k + 1] == '.') return 0;
    /* domain: labels of alnum and '-', separated by single dots */
    size_t d = at + 1, e = d, labels = 0, last_label = d;
    for (;;) {
        size_t ls = e;
        while (e < s->len && e - ls < 64 && ((CC[(uint8_t)t[e]] & C_ALNUM) || t[e] == '-'))
            e++;
        if (e == ls || e - ls > 63 || t[ls] == '-' || t[e - 1] == '-') {
            if (labels && e == ls) break; /* "a.com." : stop before the dot */
            return 0;
        }
        labels++;
        last_label = ls;
        if (e + 1 < s->len && t[e] == '.' && (CC[(uint8_t)t[e + 1]] & C_ALNUM)) {
            e++;
            continue;
        }
        break;
    }
    if (labels < 2 || e - d > 255) return 0;
    if (e < s->len && (t[e] == '@' || t[e] == '_')) return 0;
    size_t tl = e - last_label;
    if (tl < 2) return 0;
    bool punycode = tl > 4 && strncasecmp(t + last_label, "xn--", 4) == 0;
    for (size_t k = last_label; k < e && !punycode; k++)
        if (!(CC[(uint8_t)t[k]] & C_ALPHA)) return 0;
    if (tld_is_file_ext(t + last_label, tl)) return 0;
    add(s, PII_EMAIL_ADDRESS, a, e, PII_SCORE_VALIDATED);
    return e;
}

/* ---- numbers: IP, card, SSN, phone ------------------------------------ */

#define NR_MAXG 12
typedef struct {
    int n;               /* groups */
    int glen[NR_MAXG];   /* digits per group */
    char sep[NR_MAXG];   /* separator before group k (0 for k = 0 or none) */
    bool paren[NR_MAXG]; /* group k written "(ddd)" */
    size_t gend[NR_MAXG];
    char dg[32];
    int nd;
    bool plus;
} numrun_t;

/* Gather digit groups separated by one of " -." from p (which may hold '+'
 * or '('). Returns false on runs of more than 24 digits or 12 groups. */
static bool gather(const scan_t *s, size_t p, numrun_t *r)
{
    const char *t = s->t;
    size_t len = s->len;
    memset(r, 0, sizeof *r);
    if (t[p] == '+') {
        r->plus = true;
        p++;
    }
    char sep = 0;
    for (;;) {
        bool par = false;
        if (p < len && t[p] == '(') {
            par = true;
            p++;
        }
        size_t st = p;
        while (p < len && is_digit(t[p])) {
            if (r->nd >= 24) return false;
            r->dg[r->nd++] = t[p++];
        }
        if (p == st) return false;
        if (par) {
            if (p >= len || t[p] != ')') return false;
            p++;
        }
        if (r->n == NR_MAXG) return false;
        r->glen[r->n] = (int)(p - st);
        r->sep[r->n] = sep;
        r->paren[r->n] = par;
        r->gend[r->n] = p;
        r->n++;
        sep = 0;
        size_t q = p;
        if (q < len && (t[q] == ' ' || t[q] == '-' || t[q] == '.')) sep = t[q++];
        if (sep == 0 && !par) break;
        if (q < len && is_digit(t[q])) {
            p = q;
            continue;
        }
        if (q + 2 < len && t[q] == '(' && sep != '.' && is_digit(t[q + 1])) {
            size_t z = q + 1;
            while (z < len && is_digit(t[z]))
                z++;
            if (z < len && t[z] == ')') {
                p = q;
                continue;
            }
        }
        break;
    }
    return true;
}

static bool card_issuer_ok(const char *d, int n)
{
    int p2 = (d[0] - '0') * 10 + (d[1] - '0');
    int p3 = p2 * 10 + (d[2] - '0');
    int p4 = p3 * 10 + (d[3] - '0');
    int p6 = p4 * 100 + (d[4] - '0') * 10 + (d[5] - '0');
    if (d[0] == '4') return n == 13 || n == 16 || n == 19;                    /* Visa */
    if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return n == 16; /* MC */
    if (p2 == 34 || p2 == 37) return n == 15;                                 /* Amex */
    if (p4 == 6011 || p2 == 65 || (p3 >= 644 && p3 <= 649) || (p6 >= 622126 && p6 <= 622925))
        return n >= 16 && n <= 19;                                    /* Discover */
    if (p4 >= 3528 && p4 <= 3589) return n >= 16 && n <= 19;          /* JCB */
    if ((p3 >= 300 && p3 <= 305) || p2 == 36 || p2 == 38 || p2 == 39) /* Diners */
        return n >= 14 && n <= 19;
    if (p2 == 62) return n >= 16 && n <= 19; /* UnionPay */
    if (p2 == 50 || (p2 >= 56 && p2 <= 58) || p4 == 6304 || (p4 >= 6759 && p4 <= 6763))
        return n >= 13 && n <= 19; /* Maestro */
    return false;
}

/* E.164 country code at the start of d: assigned 1-, 2- and 3-digit zones. */
static bool e164_cc_ok(const char *d, int n)
{
    if (n < 1) return false;
    if (d[0] == '1' || d[0] == '7') return true;
    if (n < 3) return false;
    int two = (d[0] - '0') * 10 + (d[1] - '0');
    static const uint8_t two_digit[] = {20, 27, 30, 31, 32, 33, 34, 36, 39, 40, 41, 43, 44, 45, 46,
                                        47, 48, 49, 51, 52, 53, 54, 55, 56, 57, 58, 60, 61, 62, 63,
                                        64, 65, 66, 81, 82, 84, 86, 90, 91, 92, 93, 94, 95, 98};
    static const uint8_t three_zone[] = {21, 22, 23, 24, 25, 26, 29, 35, 37, 38, 42, 50,
                                         59, 67, 68, 69, 80, 85, 87, 88, 96, 97, 99};
    for (size_t k = 0; k < sizeof two_digit; k++)
        if (two_digit[k] == two) return true;
    for (size_t k = 0; k < sizeof three_zone; k++)
        if (three_zone[k] == two) return true;
    return false;
}

static int num_of(const char *d, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++)
        v = v * 10 + (d[k] - '0');
    return v;
}

enum { CLS_NONE = 0, CLS_HIT, CLS_REJECT };

/* Classify the first n groups of r (span [st, r->gend[n-1])). */
static int classify(scan_t *s, const numrun_t *r, int n, size_t st)
{
    size_t end = r->gend[n - 1];
    int nd = 0;
    for (int k = 0; k < n; k++)
        nd += r->glen[k];
    const char *d = r->dg;
    bool any_paren = false;
    char sep1 = n > 1 ? r->sep[1] : 0;
    bool same_sep = true;
    for (int k = 0; k < n; k++)
        any_paren |= r->paren[k];
    for (int k = 2; k < n; k++)
        same_sep &= r->sep[k] == sep1;

    /* credit card: 13-19 digits, one group or consistent ' '/'-' groups */
    if (!r->plus && !any_paren && nd >= 13 && nd <= 19 &&
        (n == 1 || (same_sep && (sep1 == ' ' || sep1 == '-')))) {
        bool shape = true;
        for (int k = 0; n > 1 && k < n; k++)
            shape &= r->glen[k] >= 3 && r->glen[k] <= 6;
        if (shape) {
            if (pii_luhn_ok(d, (size_t)nd) && card_issuer_ok(d, nd)) {
                add(s, PII_CREDIT_CARD, st, end, PII_SCORE_VALIDATED);
                return CLS_HIT;
            }
            return CLS_REJECT;
        }
    }
    /* SSN: AAA-GG-SSSS; spaced or undashed only next to an SSN word */
    if (!r->plus && !any_paren && nd == 9) {
        bool dashed = n == 3 && r->glen[0] == 3 && r->glen[1] == 2 && r->glen[2] == 4;
        if (dashed && sep1 == '-' && same_sep) {
            if (pii_ssn_ok(num_of(d, 3), num_of(d + 3, 2), num_of(d + 5, 4))) {
                add(s, PII_US_SSN, st, end, PII_SCORE_VALIDATED);
                return CLS_HIT;
            }
            return CLS_REJECT;
        }
        if ((n == 1 || (dashed && sep1 == ' ' && same_sep)) && near_word(s, st, end, SSN_WORDS)) {
            if (pii_ssn_ok(num_of(d, 3), num_of(d + 3, 2), num_of(d + 5, 4))) {
                add(s, PII_US_SSN, st, end, PII_SCORE_CONTEXT);
                return CLS_HIT;
            }
            return CLS_REJECT;
        }
    }
    /* phone */
    if (nd < 7 || nd > 15) return CLS_NONE;
    if (r->plus) {
        if (nd >= 8 && e164_cc_ok(d, nd)) {
            add(s, PII_PHONE_NUMBER, st, end, PII_SCORE_VALIDATED);
            return CLS_HIT;
        }
        return CLS_REJECT;
    }
    if (n == 1) {
        if (nd >= 10 && nd <= 12 && !any_paren && near_word(s, st, end, PHONE_WORDS)) {
            add(s, PII_PHONE_NUMBER, st, end, PII_SCORE_CONTEXT);
            return CLS_HIT;
        }
        return CLS_NONE;
    }
    bool has_dot = false, has_other = false;
    for (int k = 1; k < n; k++) {
        if (r->sep[k] == '.')
            has_dot = true;
        else if (r->sep[k])
            has_other = true;
    }
    if (has_dot && (has_other || n < 3 || any_paren)) return CLS_NONE;
    /* dates: 2024-03-15, 15.03.2024, 03 15 2024; year ranges 1990-2020 */
    if (n == 3 && ((r->glen[0] == 4 && r->glen[1] <= 2 && r->glen[2] <= 2) ||
                   (r->glen[0] <= 2 && r->glen[1] <= 2 && r->glen[2] == 4)))
        return CLS_NONE;
    if (n == 2 && r->glen[0] == 4 && r->glen[1] == 4 && (d[0] == '1' || d[0] == '2') &&
        (d[4] == '1' || d[4] == '2'))
        return CLS_NONE;
    bool trunk = d[0] == '0' || r->paren[0];
    bool groups_ok = true;
    for (int k = 0; k < n; k++)
        groups_ok &= r->glen[k] >= 2 && r->glen[k] <= 5;
    if (!r->paren[0] && r->glen[0] > 5) groups_ok = false;
    if (n == 4 && r->glen[0] == 1 && d[0] == '1' && r->glen[1] == 3 && r->glen[2] == 3 &&
        r->glen[3] == 4)
        groups_ok = true; /* 1-800-555-0199 */
    if (!groups_ok) return CLS_NONE;
    if (r->glen[n - 1] < 4 && !(trunk && n >= 3)) return CLS_NONE;
    if (near_word(s, st, end, VERSION_WORDS)) return CLS_NONE;
    bool ctx = near_word(s, st, end, PHONE_WORDS);
    add(s, PII_PHONE_NUMBER, st, end, ctx ? PII_SCORE_CONTEXT : PII_SCORE_PATTERN);
    return CLS_HIT;
}

static size_t try_numeric(scan_t *s, size_t p)
{
    if (!(s->types & (PII_TYPE_BIT(PII_CREDIT_CARD) | PII_TYPE_BIT(PII_US_SSN) |
                      PII_TYPE_BIT(PII_PHONE_NUMBER))))
        return 0;
    numrun_t r;
    if (!gather(s, p, &r)) return 0;
    size_t end = r.gend[r.n - 1];
    if (end < s->len && (CC[(uint8_t)s->t[end]] & (C_ALPHA))) return 0;
    if (end < s->len && (s->t[end] == '_' || s->t[end] == '@')) return 0;
    int c = classify(s, &r, r.n, p);
    if (c == CLS_HIT) return end;
    if (c == CLS_REJECT) return end;
    /* "555-1234 5 times": retry up to the first space after other separators */
    for (int k = 2; k < r.n; k++) {
        if (r.sep[k] == ' ' && r.sep[1] != ' ') {
            if (classify(s, &r, k, p) == CLS_HIT) return r.gend[k - 1];
            break;
        }
    }
    return end;
}

/* IPv4 or IPv6 starting at p (a hex digit or ':'); 0 when neither. */
static size_t try_ip(scan_t *s, size_t p)
{
    if (!want(s, PII_IP_ADDRESS)) return 0;
    const char *t = s->t;
    size_t e = p;
    /* only a ':' or '.' right after the first hex run can make an address */
    while (e < s->len && e - p < 64 && (CC[(uint8_t)t[e]] & C_HEX))
        e++;
    if (e - p < 64 && (e >= s->len || (t[e] != ':' && t[e] != '.'))) return 0;
    e = p;
    int colons = 0, dots = 0;
    bool digit = false;
    while (e < s->len && e - p < 64 &&
           ((CC[(uint8_t)t[e]] & C_HEX) || t[e] == ':' || t[e] == '.')) {
        colons += t[e] == ':';
        dots += t[e] == '.';
        digit |= is_digit(t[e]);
        e++;
    }
    while (e > p && (t[e - 1] == '.' || (t[e - 1] == ':' && !(e - p >= 2 && t[e - 2] == ':'))))
        e--; /* sentence punctuation after the address */
    if (e < s->len && ((CC[(uint8_t)t[e]] & C_ALNUM) || t[e] == '_')) return 0;
    colons = dots = 0;
    for (size_t k = p; k < e; k++)
        colons += t[k] == ':', dots += t[k] == '.';
    if (colons >= 2) {
        if (!digit || !pii_ipv6_parse(t + p, e - p, NULL)) return 0;
        add(s, PII_IP_ADDRESS, p, e, PII_SCORE_VALIDATED);
        return e;
    }
    if (colons == 0 && dots == 3 && is_digit(t[p])) {
        if (!pii_ipv4_parse(t + p, e - p, NULL)) return 0;
        if (near_word(s, p, p, VERSION_WORDS)) return e;
        add(s, PII_IP_ADDRESS, p, e, PII_SCORE_VALIDATED);
        return e;
    }
    if (dots > 3 && colons == 0) return e; /* 1.2.3.4.5: a version, skip it whole */
    return 0;
}

/* ---- IBAN ------------------------------------------------------------- */

static size_t try_iban(scan_t *s, size_t p)
{
    const char *t = s->t;
    if (p + 15 > s->len || !is_digit(t[p + 2]) || !is_digit(t[p + 3])) return 0;
    if (!(CC[(uint8_t)t[p + 1]] & C_UPPER)) return 0;
    int want_len = pii_iban_country_len(t[p], t[p + 1]);
    if (!want_len) return 0;
    char c[34];
    int n = 0;
    size_t q = p;
    while (q < s->len && n < want_len) {
        uint8_t ch = (uint8_t)t[q];
        if (CC[ch] & (C_UPPER | C_DIGIT)) {
            c[n++] = (char)ch;
            q++;
        } else if (ch == ' ' && n % 4 == 0 && q + 1 < s->len && (CC[(uint8_t)t[q + 1]] & C_ALNUM)) {
            q++;
        } else {
            break;
        }
    }
    if (n != want_len) return 0;
    if (q < s->len && (CC[(uint8_t)t[q]] & C_ALNUM)) return 0;
    if (!pii_iban_ok(c, (size_t)n)) return 0;
    add(s, PII_IBAN_CODE, p, q, PII_SCORE_VALIDATED);
    return q;
}

/* ---- API keys and secrets --------------------------------------------- */

static size_t run_of(const scan_t *s, size_t p, uint8_t cls, size_t cap)
{
    size_t e = p;
    while (e < s->len && e - p < cap && (CC[(uint8_t)s->t[e]] & cls))
        e++;
    return e - p;
}

static bool has_prefix(const scan_t *s, size_t p, const char *pre)
{
    size_t n = strlen(pre);
    return p + n <= s->len && memcmp(s->t + p, pre, n) == 0;
}

static bool ends_token(const scan_t *s, size_t e)
{
    return e >= s->len || !(CC[(uint8_t)s->t[e]] & (C_B64U));
}

static size_t key_hit(scan_t *s, size_t p, size_t e)
{
    add(s, PII_API_KEY, p, e, PII_SCORE_VALIDATED);
    return e;
}

/* Decode up to 48 bytes of base64url; returns decoded length. */
static size_t b64url_decode(const char *in, size_t n, char *out, size_t cap)
{
    unsigned acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < n && o < cap; i++) {
        int c = (uint8_t)in[i], v;
        if (c >= 'A' && c <= 'Z')
            v = c - 'A';
        else if (c >= 'a' && c <= 'z')
            v = c - 'a' + 26;
        else if (is_digit(c))
            v = c - '0' + 52;
        else if (c == '-' || c == '+')
            v = 62;
        else if (c == '_' || c == '/')
            v = 63;
        else
            return o;
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)((acc >> bits) & 0xff);
        }
    }
    return o;
}

static size_t try_jwt(scan_t *s, size_t p)
{
    size_t a = run_of(s, p, C_B64U, 4096);
    if (a < 10 || p + a >= s->len || s->t[p + a] != '.') return 0;
    size_t q = p + a + 1, b = run_of(s, q, C_B64U, 65536);
    if (b < 10 || q + b >= s->len || s->t[q + b] != '.') return 0;
    size_t r = q + b + 1, c = run_of(s, r, C_B64U, 4096);
    if (!ends_token(s, r + c) || (r + c < s->len && s->t[r + c] == '.')) return 0;
    char hdr[48];
    size_t hn = b64url_decode(s->t + p, a, hdr, sizeof hdr);
    if (hn < 8 || hdr[0] != '{' ||
        (!memmem(hdr, hn, "\"alg\"", 5) && !memmem(hdr, hn, "\"typ\"", 5)))
        return 0;
    return key_hit(s, p, r + c);
}

static size_t try_pem(scan_t *s, size_t p)
{
    if (!has_prefix(s, p, "-----BEGIN ")) return 0;
    size_t q = p + 11, lim = q + 48 < s->len ? q + 48 : s->len;
    const char *hit = NULL;
    for (size_t k = q; k + 16 <= lim && !hit; k++)
        if (memcmp(s->t + k, "PRIVATE KEY", 11) == 0) hit = s->t + k;
    if (!hit) return 0;
    size_t e = (size_t)(hit - s->t) + 11;
    if (has_prefix(s, e, " BLOCK")) e += 6;
    if (!has_prefix(s, e, "-----")) return 0;
    e += 5;
    size_t cap = s->len - e < 65536 ? s->len - e : 65536;
    const char *end = memmem(s->t + e, cap, "-----END ", 9);
    if (end) {
        const char *close =
            memmem(end + 9,
                   (size_t)(s->t + s->len - end - 9) < 64 ? (size_t)(s->t + s->len - end - 9) : 64,
                   "-----", 5);
        if (close) e = (size_t)(close - s->t) + 5;
    }
    return key_hit(s, p, e);
}

/* Long high-entropy tokens next to a secret word. */
static size_t try_entropy(scan_t *s, size_t p)
{
    const char *t = s->t;
    if (p + 31 >= s->len || !(CC[(uint8_t)t[p + 31]] & C_TOK)) return 0; /* cheap: too short */
    size_t n = run_of(s, p, C_TOK, 1025);
    if (n < 32 || n > 1024 || t[p] == '/') return 0;
    int cls = 0;
    for (size_t k = p; k < p + n; k++) {
        uint8_t c = CC[(uint8_t)t[k]];
        cls |= (c & C_UPPER) ? 1 : (c & C_LOWER) ? 2 : (c & C_DIGIT) ? 4 : 0;
        if (k > p && t[k] == '/' && t[k - 1] == '/') return 0;
    }
    if (cls != 7 || pii_entropy(t + p, n) < 4.0) return p + n;
    if (!near_word(s, p, p + n, KEY_WORDS)) return p + n;
    add(s, PII_API_KEY, p, p + n, PII_SCORE_CONTEXT);
    return p + n;
}

static size_t try_key(scan_t *s, size_t p)
{
    const char *t = s->t;
    size_t e;
    switch (t[p]) {
    case 's':
        if (has_prefix(s, p, "sk-ant-")) {
            e = p + 7 + run_of(s, p + 7, C_B64U, 512);
            if (e - p - 7 >= 32 && ends_token(s, e)) return key_hit(s, p, e);
        } else if (has_prefix(s, p, "sk-") || has_prefix(s, p, "sk_live_")) {
            size_t b = p + (t[p + 2] == '-' ? 3 : 8);
            e = b + run_of(s, b, C_B64U, 512);
            int cls = 0;
            for (size_t k = b; k < e; k++)
                cls |= is_digit(t[k]) ? 1 : (CC[(uint8_t)t[k]] & C_ALPHA) ? 2 : 0;
            if (e - b >= 20 && cls == 3 && ends_token(s, e)) return key_hit(s, p, e);
        }
        break;
    case 'g':
        if (p + 4 < s->len && t[p + 1] == 'h' && t[p + 3] == '_' && in_set(t[p + 2], "pousr")) {
            e = p + 4 + run_of(s, p + 4, C_ALNUM, 64);
            if (e - p - 4 == 36 && ends_token(s, e)) return key_hit(s, p, e);
        } else if (has_prefix(s, p, "github_pat_")) {
            e = p + 11 + run_of(s, p + 11, C_ALNUM | C_B64U, 256);
            if (e - p - 11 >= 22 && ends_token(s, e)) return key_hit(s, p, e);
        }
        break;
    case 'x':
        if (has_prefix(s, p, "xox") && p + 4 < s->len && in_set(t[p + 3], "bpa") &&
            t[p + 4] == '-') {
            e = p + 5 + run_of(s, p + 5, C_B64U, 256);
            bool digit = false;
            for (size_t k = p + 5; k < e; k++)
                digit |= is_digit(t[k]);
            if (e - p - 5 >= 10 && digit && ends_token(s, e)) return key_hit(s, p, e);
        }
        break;
    case 'A':
        if (has_prefix(s, p, "AKIA")) {
            e = p + 4 + run_of(s, p + 4, C_UPPER | C_DIGIT, 32);
            if (e - p - 4 == 16 && ends_token(s, e)) return key_hit(s, p, e);
        } else if (has_prefix(s, p, "AIza")) {
            e = p + 4 + run_of(s, p + 4, C_B64U, 64);
            if (e - p - 4 == 35 && ends_token(s, e)) return key_hit(s, p, e);
        }
        break;
    case 'e':
        if (has_prefix(s, p, "eyJ")) return try_jwt(s, p);
        break;
    }
    return 0;
}

/* ---- driver ----------------------------------------------------------- */

size_t pii_scan(const char *text, size_t len, pii_entity_t *out, size_t max, const pii_opts_t *opts)
{
    cc_init_once();
    scan_t s = {text, len, out, 0, max, PII_ALL_TYPES, 0};
    if (opts) {
        if (opts->types) s.types = opts->types & PII_ALL_TYPES;
        s.min_score = opts->min_score;
    }
    if (!max || !text) return 0;
    const bool w_key = want(&s, PII_API_KEY), w_ip = want(&s, PII_IP_ADDRESS),
               w_iban = want(&s, PII_IBAN_CODE), w_mail = want(&s, PII_EMAIL_ADDRESS);
    size_t i = 0;
    while (i < len && s.n < max) {
        uint8_t c = (uint8_t)text[i], k = CC[c];
        if (!(k & C_ALNUM) && !TRIG[c]) { /* nothing starts here */
            i++;
            continue;
        }
        uint8_t prev = i ? CC[(uint8_t)text[i - 1]] : 0;
        size_t e = 0;
        if (!(k & C_ALNUM)) {
            if (c == '@' && w_mail)
                e = try_email(&s, i);
            else if ((c == '+' || c == '(') && !(prev & C_ALNUM) && i + 1 < len &&
                     is_digit(text[i + 1]))
                e = try_numeric(&s, i);
            else if (c == ':' && w_ip && i + 1 < len && text[i + 1] == ':' && !(prev & C_MID))
                e = try_ip(&s, i);
            else if (c == '-' && w_key && i + 10 < len && text[i + 1] == '-')
                e = try_pem(&s, i);
            i = e > i ? e : i + 1;
            continue;
        }
        uint8_t pc = i ? (uint8_t)text[i - 1] : ' ';
        /* digits may follow '=', ':', '#' and (for "root@10.0.0.1") '@' */
        bool num_start = (k & C_DIGIT) && !(prev & C_ALNUM) &&
                         (pc == '=' || pc == ':' || pc == '#' || pc == '@');
        if (num_start) {
            if (w_ip) e = try_ip(&s, i);
            if (!e && pc != '@') e = try_numeric(&s, i);
        } else if (!(prev & C_MID)) { /* a word start, not the middle of a token */
            if (k & C_DIGIT) {
                if (w_ip) e = try_ip(&s, i);
                if (!e) e = try_numeric(&s, i);
            } else {
                if ((k & C_HEX) && w_ip) e = try_ip(&s, i);
                if (!e && w_key) e = try_key(&s, i);
                if (!e && w_iban && (k & C_UPPER)) e = try_iban(&s, i);
            }
            if (!e && w_key) e = try_entropy(&s, i);
        }
        if (e > i) {
            i = e;
            continue;
        }
        while (i < len && (CC[(uint8_t)text[i]] & C_ALNUM))
            i++;
    }
    return s.n;
}

/* ---- names and masking ------------------------------------------------ */

static const char *const NAMES[PII_TYPE_COUNT] = {
    "EMAIL_ADDRESS", "PHONE_NUMBER", "CREDIT_CARD", "IBAN_CODE", "US_SSN", "IP_ADDRESS", "API_KEY"};

const char *pii_type_name(pii_type_t t)
{
    return (unsigned)t < PII_TYPE_COUNT ? NAMES[t] : "UNKNOWN";
}

int pii_type_from_name(const char *name, size_t len)
{
    for (int k = 0; k < PII_TYPE_COUNT; k++)
        if (strlen(NAMES[k]) == len && strncasecmp(NAMES[k], name, len) == 0) return k;
    return -1;
}

void pii_mask(const char *text, size_t len, const pii_entity_t *ents, size_t n, buf_t *out)
{
    size_t at = 0;
    for (size_t k = 0; k < n; k++) {
        if (ents[k].start < at || ents[k].start + ents[k].len > len) continue; /* defensive */
        buf_append(out, text + at, ents[k].start - at);
        buf_putc(out, '[');
        buf_puts(out, pii_type_name(ents[k].type));
        buf_putc(out, ']');
        at = ents[k].start + ents[k].len;
    }
    buf_append(out, text + at, len - at);
}
