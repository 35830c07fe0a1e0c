/* language_detect.c - language identification policy over libcld2.
 *
 * CLD2 needs some text to be sure; chat prompts are often a few words. Very
 * short texts whose letters are mostly Hangul, kana or Han are decided by
 * script alone (Hangul -> ko, any kana -> ja, Han -> zh). Everything else
 * goes to CLD2 (the C++ shim in language_cld2.cc); its share of the top
 * language is the confidence, discounted when CLD2 itself says unreliable.
 * When CLD2 stays undecided, a script that nearly names one language
 * (Cyrillic -> ru, or uk with Ukrainian letters; Greek, Hebrew, Arabic,
 * Thai) answers at 0.6; otherwise, below LANG_MIN_CONFIDENCE, the answer is
 * English at 0.5 (SPEC §5.4).
 *
 * The answer depends on the text alone, so each thread remembers the last
 * few (keyed by the judged bytes' 128-bit XXH3 and length): an agent's tool
 * loop sends the same user query turn after turn, and CLD2 then runs once
 * for the loop instead of once per turn. */
#include "signals/language_detect.h"

#include <stdint.h>
#include <string.h>
#include <xxhash.h>

/* A text with fewer letters than this counts as very short. */
#define SHORT_LETTERS 24

typedef struct {
    unsigned letters, hangul, kana, han;
    unsigned cyrillic, ukr, greek, hebrew, arabic, thai;
} script_counts_t;

/* Decode one UTF-8 sequence; returns bytes used (0 on invalid). */
static int utf8_next(const unsigned char *s, size_t n, uint32_t *cp)
{
    if (s[0] < 0x80) return *cp = s[0], 1;
    int k = s[0] >= 0xF0 ? 4 : s[0] >= 0xE0 ? 3 : s[0] >= 0xC0 ? 2 : 0;
    if (!k || (size_t)k > n) return 0;
    uint32_t c = s[0] & (0x7F >> k);
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return 0;
        c = c << 6 | (s[i] & 0x3F);
    }
    *cp = c;
    return k;
}

/* Count letters by script; returns the byte length of the valid prefix. */
static size_t count_scripts(const char *text, size_t len, script_counts_t *sc)
{
    const unsigned char *s = (const unsigned char *)text;
    size_t i = 0;
    memset(sc, 0, sizeof *sc);
    while (i < len) {
        uint32_t c;
        int k = utf8_next(s + i, len - i, &c);
        if (!k) break;
        i += (size_t)k;
        if (c < 0x80) {
            if ((c | 32) >= 'a' && (c | 32) <= 'z') sc->letters++;
            continue;
        }
        if ((c >= 0x2000 && c <= 0x2BFF) || (c >= 0x3000 && c <= 0x303F) ||
            (c >= 0xFF00 && c <= 0xFF0F) || c == 0xA0 || (c >= 0x1F000 && c <= 0x1FAFF))
            continue; /* punctuation, symbols, CJK punctuation, emoji */
        sc->letters++;
        if ((c >= 0xAC00 && c <= 0xD7AF) || (c >= 0x1100 && c <= 0x11FF) ||
            (c >= 0x3130 && c <= 0x318F))
            sc->hangul++;
        else if ((c >= 0x3040 && c <= 0x30FF) || (c >= 0x31F0 && c <= 0x31FF) ||
                 (c >= 0xFF66 && c <= 0xFF9F))
            sc->kana++;
        else if ((c >= 0x4E00 && c <= 0x9FFF) || (c >= 0x3400 && c <= 0x4DBF) ||
                 (c >= 0xF900 && c <= 0xFAFF) || (c >= 0x20000 && c <= 0x2FFFF))
            sc->han++;
        else if (c >= 0x0400 && c <= 0x04FF) {
            sc->cyrillic++;
            sc->ukr += c == 0x0404 || c == 0x0406 || c == 0x0407 || c == 0x0454 || c == 0x0456 ||
                       c == 0x0457 || c == 0x0490 || c == 0x0491;
        } else if (c >= 0x0370 && c <= 0x03FF)
            sc->greek++;
        else if (c >= 0x0590 && c <= 0x05FF)
            sc->hebrew++;
        else if (c >= 0x0600 && c <= 0x06FF)
            sc->arabic++;
        else if (c >= 0x0E00 && c <= 0x0E7F)
            sc->thai++;
    }
    return i;
}

static void set(char code[8], const char *c)
{
    strncpy(code, c, 7), code[7] = 0;
}

static void detect(const char *text, size_t len, char code[8], double *confidence);

#define MEMO_SLOTS 64 /* per thread, direct-mapped */
typedef struct {
    XXH128_hash_t key;
    uint32_t len; /* 0: empty slot (an empty text is not remembered) */
    char code[8];
    double confidence;
} memo_t;
static __thread memo_t memo[MEMO_SLOTS];

void lang_detect(const char *text, size_t len, char code[8], double *confidence)
{
    if (!text) len = 0;
    if (len > LANG_MAX_BYTES) len = LANG_MAX_BYTES;
    if (len == 0) {
        detect(text, len, code, confidence);
        return;
    }
    XXH128_hash_t k = XXH3_128bits(text, len);
    memo_t *m = &memo[k.low64 % MEMO_SLOTS];
    if (m->len == len && XXH128_isEqual(m->key, k)) {
        memcpy(code, m->code, 8);
        *confidence = m->confidence;
        return;
    }
    detect(text, len, code, confidence);
    m->key = k;
    m->len = (uint32_t)len;
    memcpy(m->code, code, 8);
    m->confidence = *confidence;
}

static void detect(const char *text, size_t len, char code[8], double *confidence)
{
    script_counts_t sc;
    size_t valid = count_scripts(text, len, &sc);
    if (sc.letters == 0) {
        set(code, "en");
        *confidence = LANG_FALLBACK_CONFIDENCE;
        return;
    }
    unsigned cjk = sc.hangul + sc.kana + sc.han;
    if (sc.letters < SHORT_LETTERS && 2 * cjk >= sc.letters) {
        set(code, sc.hangul > sc.kana + sc.han ? "ko" : sc.kana ? "ja" : sc.hangul ? "ko" : "zh");
        *confidence = 0.9;
        return;
    }
    int pct = 0, reliable = 0;
    char c[8] = "";
    double conf = 0;
    if (lang_cld2_detect(text, (int)valid, c, &pct, &reliable) == 0)
        conf = (pct / 100.0) * (reliable ? 1.0 : 0.6);
    if (conf < LANG_MIN_CONFIDENCE) {
        /* CLD2 undecided (short text): a script that (nearly) names one
         * language still decides, at a modest confidence. */
        const char *by_script = NULL;
        unsigned half = (sc.letters + 1) / 2;
        if (sc.cyrillic >= half)
            by_script = sc.ukr ? "uk" : "ru";
        else if (sc.greek >= half)
            by_script = "el";
        else if (sc.hebrew >= half)
            by_script = "he";
        else if (sc.arabic >= half)
            by_script = "ar";
        else if (sc.thai >= half)
            by_script = "th";
        else if (2 * cjk >= sc.letters)
            by_script = sc.kana ? "ja" : sc.hangul ? "ko" : "zh";
        if (by_script) {
            set(code, by_script);
            *confidence = 0.6;
            return;
        }
        set(code, "en");
        *confidence = LANG_FALLBACK_CONFIDENCE;
        return;
    }
    char *dash = strchr(c, '-'); /* "zh-Hant" -> "zh" */
    if (dash) *dash = 0;
    if (strcmp(c, "iw") == 0) set(c, "he"); /* CLD2 keeps pre-1989 codes */
    if (strcmp(c, "jw") == 0) set(c, "jv");
    set(code, c);
    *confidence = conf;
}
