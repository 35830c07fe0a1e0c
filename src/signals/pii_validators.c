/* pii_validators.c - the checks behind the PII recognizers
 * (pii_recognizers.h): Luhn, IBAN mod-97, US SSN rules, IPv4/IPv6 parses and
 * Shannon entropy. Pure functions over a candidate the scanner
 * (pii_recognizers.c) has already cut out; exposed for tests too. */
#include "signals/pii_recognizers.h"
#include "signals/pii_validators.h"

#include <math.h>
#include <string.h>

static inline bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}
static inline bool is_upper(int c)
{
    return c >= 'A' && c <= 'Z';
}
static inline int lower(int c)
{
    return (c >= 'A' && c <= 'Z') ? c + 32 : c;
}

bool pii_luhn_ok(const char *d, size_t n)
{
    if (n == 0) return false;
    int sum = 0;
    for (size_t i = 0; i < n; i++) {
        int v = d[n - 1 - i] - '0';
        if (v < 0 || v > 9) return false;
        if (i & 1) {
            v *= 2;
            if (v > 9) v -= 9;
        }
        sum += v;
    }
    return sum % 10 == 0;
}

bool pii_ssn_ok(int area, int group, int serial)
{
    if (area <= 0 || area == 666 || area >= 900 || area > 999) return false;
    return group > 0 && group <= 99 && serial > 0 && serial <= 9999;
}

/* Country code + IBAN length (ECBS/SWIFT registry). */
static const char IBAN_LENS[] = "AD24AE23AL28AT20AZ28BA20BE16BG22BH22BI27BR29BY28CH21CR22CY28CZ24"
                                "DE22DJ27DK18DO28EE20EG29ES24FI18FK18FO18FR27GB22GE22GI23GL18GR27"
                                "GT28HR21HU28IE22IL23IQ23IS26IT27JO30KW30KZ20LB28LC32LI21LT20LU20"
                                "LV21LY25MC27MD24ME22MK19MN20MR27MT31MU30NI28NL18NO15OM23PK24PL28"
                                "PS29PT25QA29RO24RS22RU33SA24SC31SD18SE24SI19SK24SM27SO23ST25SV28"
                                "TL23TN24TR26UA29VA22VG24XK20";

int pii_iban_country_len(char a, char b)
{
    for (const char *p = IBAN_LENS; *p; p += 4)
        if (p[0] == a && p[1] == b) return (p[2] - '0') * 10 + (p[3] - '0');
    return 0;
}

bool pii_iban_ok(const char *s, size_t n)
{
    if (n < 15 || n > 34) return false;
    if (!is_upper(s[0]) || !is_upper(s[1])) return false;
    if (!is_digit(s[2]) || !is_digit(s[3])) return false;
    if ((size_t)pii_iban_country_len(s[0], s[1]) != n) return false;
    unsigned r = 0;
    for (size_t k = 0; k < n; k++) {
        char c = s[(k + 4) % n]; /* rotate the first four to the end */
        if (is_digit(c))
            r = (r * 10 + (unsigned)(c - '0')) % 97;
        else if (c >= 'A' && c <= 'Z')
            r = (r * 100 + (unsigned)(c - 'A' + 10)) % 97;
        else
            return false;
    }
    return r == 1;
}

bool pii_ipv4_parse(const char *s, size_t n, uint8_t out[4])
{
    size_t i = 0;
    for (int oct = 0; oct < 4; oct++) {
        if (oct > 0) {
            if (i >= n || s[i] != '.') return false;
            i++;
        }
        size_t st = i;
        int v = 0;
        while (i < n && is_digit(s[i]) && i - st < 3)
            v = v * 10 + (s[i++] - '0');
        if (i == st || v > 255 || (i - st > 1 && s[st] == '0')) return false;
        if (out) out[oct] = (uint8_t)v;
    }
    return i == n;
}

static int hexval(int c)
{
    if (is_digit(c)) return c - '0';
    c = lower(c);
    return (c >= 'a' && c <= 'f') ? c - 'a' + 10 : -1;
}

bool pii_ipv6_parse(const char *s, size_t n, uint8_t out[16])
{
    uint16_t g[8] = {0};
    int ng = 0, gap = -1; /* gap: group index where "::" sits */
    size_t i = 0;
    if (n < 2) return false;
    if (s[0] == ':') {
        if (s[1] != ':') return false;
        gap = 0;
        i = 2;
        if (i == n) goto done;
    }
    for (;;) {
        /* one group: 1-4 hex digits, or the embedded IPv4 tail */
        size_t st = i;
        unsigned v = 0;
        while (i < n && i - st < 4 && hexval((uint8_t)s[i]) >= 0)
            v = v * 16 + hexval(s[i++]);
        if (i == st) return false;
        if (i < n && s[i] == '.') { /* dotted IPv4 in the last 32 bits */
            uint8_t q[4];
            if (ng > 6 || !pii_ipv4_parse(s + st, n - st, q)) return false;
            g[ng++] = (uint16_t)(q[0] << 8 | q[1]);
            g[ng++] = (uint16_t)(q[2] << 8 | q[3]);
            i = n;
            break;
        }
        if (ng == 8) return false;
        g[ng++] = (uint16_t)v;
        if (i == n) break;
        if (s[i] != ':') return false;
        i++;
        if (i < n && s[i] == ':') {
            if (gap >= 0) return false; /* only one "::" */
            gap = ng;
            i++;
            if (i == n) break;
        } else if (i == n) {
            return false; /* trailing single ':' */
        }
    }
done:
    if (gap < 0 && ng != 8) return false;
    if (gap >= 0 && ng > 7) return false;
    if (out) {
        uint16_t full[8] = {0};
        if (gap < 0) {
            memcpy(full, g, sizeof g);
        } else {
            int tail = ng - gap;
            for (int k = 0; k < gap; k++)
                full[k] = g[k];
            for (int k = 0; k < tail; k++)
                full[8 - tail + k] = g[gap + k];
        }
        for (int k = 0; k < 8; k++)
            out[2 * k] = (uint8_t)(full[k] >> 8), out[2 * k + 1] = (uint8_t)full[k];
    }
    return true;
}

double pii_entropy(const char *s, size_t n)
{
    if (n == 0) return 0;
    unsigned cnt[256] = {0};
    for (size_t i = 0; i < n; i++)
        cnt[(uint8_t)s[i]]++;
    double h = 0;
    for (int c = 0; c < 256; c++)
        if (cnt[c]) {
            double p = (double)cnt[c] / (double)n;
            h -= p * log2(p);
        }
    return h;
}
