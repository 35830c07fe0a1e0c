/* binding_token.c - the codec of session bindings carried in ids (see
 * binding_token.h): wrapping an id with its model binding and an
 * HMAC-SHA256 tag, and parsing/verifying one a client sent back. The API
 * layer (api/response_id.c) decides which ids are wrapped; the pipeline
 * turns a valid binding into the policy's bound model. */
#include "session/binding_token.h"
#include "core/sha256.h"
#include <openssl/rand.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#define MAC_BYTES   16
#define MAC_B64_LEN 22 /* base64url of 16 bytes, no padding */
#define PAYLOAD_MAX (2 * SESS_NAME_MAX + 4)

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

static size_t b64_len(size_t n)
{
    return n / 3 * 4 + (n % 3 ? n % 3 + 1 : 0);
}

static void b64_encode(const unsigned char *in, size_t n, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 2 < n; i += 3) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8 | in[i + 2];
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = B64[v >> 6 & 63];
        out[o++] = B64[v & 63];
    }
    if (n - i == 1) {
        unsigned v = (unsigned)in[i] << 16;
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
    } else if (n - i == 2) {
        unsigned v = (unsigned)in[i] << 16 | (unsigned)in[i + 1] << 8;
        out[o++] = B64[v >> 18 & 63];
        out[o++] = B64[v >> 12 & 63];
        out[o++] = B64[v >> 6 & 63];
    }
}

static int b64_val(char c)
{
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '-') return 62;
    if (c == '_') return 63;
    return -1;
}

/* Decode s[0..n) into out (cap bytes). Returns the decoded length, or -1
 * on a bad character, a bad length or too little room. */
static long b64_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    if (n % 4 == 1) return -1;
    size_t full = n / 4 * 3 + (n % 4 ? n % 4 - 1 : 0);
    if (full > cap) return -1;
    size_t o = 0;
    unsigned acc = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64_val(s[i]);
        if (v < 0) return -1;
        acc = acc << 6 | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    return (long)o;
}

static pthread_once_t key_once = PTHREAD_ONCE_INIT;
static unsigned char process_key[32];

static void make_process_key(void)
{
    if (RAND_bytes(process_key, sizeof process_key) != 1) abort();
}

const unsigned char *sess_binding_process_key(size_t *len)
{
    pthread_once(&key_once, make_process_key);
    if (len) *len = sizeof process_key;
    return process_key;
}

/* The prepared HMAC key of the last key this thread used (the listener's
 * binding key or the process key; one per process in practice), so a tag
 * costs no key schedule and no allocation. Longer keys are prepared per call. */
#define KEY_CACHE_MAX 128
static __thread struct {
    size_t len; /* 0: empty */
    unsigned char bytes[KEY_CACHE_MAX];
    hmac_sha256_key_t k;
} key_cache;

static const hmac_sha256_key_t *prepared_key(const unsigned char *k, size_t kl,
                                             hmac_sha256_key_t *tmp)
{
    if (kl > KEY_CACHE_MAX || !kl) {
        hmac_sha256_key_init(tmp, k, kl);
        return tmp;
    }
    if (key_cache.len != kl || memcmp(key_cache.bytes, k, kl) != 0) {
        hmac_sha256_key_init(&key_cache.k, k, kl);
        memcpy(key_cache.bytes, k, kl);
        key_cache.len = kl;
    }
    return &key_cache.k;
}

/* The tag over ORIGINAL and the encoded PAYLOAD, base64url. */
static void tag(const char *key, size_t key_len, const char *id, size_t id_len, const char *pl,
                size_t pl_len, char out[MAC_B64_LEN])
{
    const unsigned char *k = (const unsigned char *)key;
    size_t kl = key_len;
    if (!key || !key_len) k = sess_binding_process_key(&kl);
    /* HMAC-SHA256 of "tb1" 0 ORIGINAL 0 PAYLOAD */
    if (id_len > SESS_BINDING_ID_MAX || pl_len > 4 * PAYLOAD_MAX / 3 + 3) abort();
    hmac_sha256_key_t tmp;
    const void *parts[] = {"tb1", id, "", pl};
    const size_t lens[] = {4, id_len, 1, pl_len};
    unsigned char mac[SHA256_BYTES];
    hmac_sha256_parts(prepared_key(k, kl, &tmp), 4, parts, lens, mac);
    b64_encode(mac, MAC_BYTES, out);
}

static size_t name_len(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n < SESS_NAME_MAX ? n : SESS_NAME_MAX - 1;
}

/* KIND 0x1f MODEL 0x1f BACKEND into raw (PAYLOAD_MAX bytes); its length. */
static size_t payload_raw(sess_binding_kind_t kind, const char *model, const char *backend,
                          unsigned char *raw)
{
    size_t ml = name_len(model), bl = name_len(backend), rl = 0;
    raw[rl++] = (unsigned char)kind;
    raw[rl++] = 0x1f;
    if (ml) memcpy(raw + rl, model, ml);
    rl += ml;
    raw[rl++] = 0x1f;
    if (bl) memcpy(raw + rl, backend, bl);
    rl += bl;
    return rl;
}

/* Both forms' writing: ORIGINAL MARK PAYLOAD, then '.' (a response id) or
 * PAYLOAD's length in two base64url digits (a tool call id), then MAC. */
static size_t wrap_form(const char *key, size_t key_len, sess_binding_kind_t kind, const char *id,
                        size_t id_len, const char *model, const char *backend, char *out,
                        size_t cap)
{
    bool tool = kind == SESS_BINDING_TOOL;
    const char *mark = tool ? SESS_BINDING_TOOL_MARK : SESS_BINDING_MARK;
    size_t mark_len = tool ? SESS_BINDING_TOOL_MARK_LEN : SESS_BINDING_MARK_LEN;
    unsigned char raw[PAYLOAD_MAX];
    size_t rl = payload_raw(kind, model, backend, raw);
    size_t pl = b64_len(rl);
    size_t total = id_len + mark_len + pl + (tool ? 2 : 1) + MAC_B64_LEN;
    if (total + 1 > cap || total > SESS_BINDING_ID_MAX || (tool && pl >= 64 * 64)) return 0;
    memmove(out, id, id_len); /* out may be id itself */
    char *p = out + id_len;
    memcpy(p, mark, mark_len);
    p += mark_len;
    b64_encode(raw, rl, p);
    char *payload = p;
    p += pl;
    if (tool) {
        *p++ = B64[pl >> 6 & 63];
        *p++ = B64[pl & 63];
    } else {
        *p++ = '.';
    }
    tag(key, key_len, out, id_len, payload, pl, p);
    p += MAC_B64_LEN;
    *p = 0;
    return total;
}

size_t sess_binding_wrap(const char *key, size_t key_len, sess_binding_kind_t kind, const char *id,
                         size_t id_len, const char *model, const char *backend, char *out,
                         size_t cap)
{
    return wrap_form(key, key_len, kind, id, id_len, model, backend, out, cap);
}

/* The common part of both forms' parsing: PAYLOAD and MAC well formed
 * (else out stays not wrapped), then the tag and the names. */
static void parse_rest(const char *key, size_t key_len, const char *s, size_t orig_len,
                       const char *pl, size_t pl_len, const char *mac, sess_binding_t *out)
{
    unsigned char raw[PAYLOAD_MAX];
    long rl = b64_decode(pl, pl_len, raw, sizeof raw);
    if (rl < 3 || raw[1] != 0x1f) return;
    unsigned char junk[MAC_BYTES + 2];
    if (b64_decode(mac, MAC_B64_LEN, junk, sizeof junk) != MAC_BYTES) return;
    const unsigned char *sep = memchr(raw + 2, 0x1f, (size_t)rl - 2);
    if (!sep) return;
    out->wrapped = true;
    out->kind = (char)raw[0];
    out->orig_len = orig_len;
    char want[MAC_B64_LEN];
    tag(key, key_len, s, orig_len, pl, pl_len, want);
    if (CRYPTO_memcmp(want, mac, MAC_B64_LEN) != 0) return;
    size_t ml = (size_t)(sep - (raw + 2)), bl = (size_t)(raw + rl - (sep + 1));
    if (ml >= SESS_NAME_MAX || bl >= SESS_NAME_MAX) return;
    memcpy(out->model, raw + 2, ml);
    out->model[ml] = 0;
    memcpy(out->backend, sep + 1, bl);
    out->backend[bl] = 0;
    out->valid = ml > 0;
}

void sess_binding_parse(const char *key, size_t key_len, const char *s, size_t len,
                        sess_binding_t *out)
{
    memset(out, 0, sizeof *out);
    out->orig_len = len;
    if (!s || len < SESS_BINDING_MARK_LEN + 2 + MAC_B64_LEN || len > SESS_BINDING_ID_MAX) return;
    /* the suffix has no '.' after the mark but the one before MAC */
    const char *dot = s + len - MAC_B64_LEN - 1;
    if (*dot != '.') return;
    const char *mark = NULL;
    for (const char *q = dot - 1; q >= s; q--)
        if (*q == '.') {
            mark = q;
            break;
        }
    if (!mark || mark - s < SESS_BINDING_MARK_LEN - 1) return;
    mark -= SESS_BINDING_MARK_LEN - 1; /* start of ".tb1." */
    if (memcmp(mark, SESS_BINDING_MARK, SESS_BINDING_MARK_LEN)) return;
    const char *pl = mark + SESS_BINDING_MARK_LEN;
    size_t pl_len = (size_t)(dot - pl);
    parse_rest(key, key_len, s, (size_t)(mark - s), pl, pl_len, dot + 1, out);
}

/* ---- tool call ids --------------------------------------------------------
 * ORIGINAL "_tb1_" PAYLOAD LEN MAC, only [A-Za-z0-9_-] (Anthropic's tool_use
 * id pattern): LEN is PAYLOAD's length in two base64url digits, so the
 * suffix parses from the end although '_' and '-' occur in PAYLOAD and MAC. */

size_t sess_binding_wrap_tool(const char *key, size_t key_len, const char *id, size_t id_len,
                              const char *model, const char *backend, char *out, size_t cap)
{
    return wrap_form(key, key_len, SESS_BINDING_TOOL, id, id_len, model, backend, out, cap);
}

void sess_binding_parse_tool(const char *key, size_t key_len, const char *s, size_t len,
                             sess_binding_t *out)
{
    memset(out, 0, sizeof *out);
    out->orig_len = len;
    if (!s || len < SESS_BINDING_TOOL_MARK_LEN + 4 + 2 + MAC_B64_LEN || len > SESS_BINDING_ID_MAX)
        return;
    const char *mac = s + len - MAC_B64_LEN, *lp = mac - 2;
    int hi = b64_val(lp[0]), lo = b64_val(lp[1]);
    if (hi < 0 || lo < 0) return;
    size_t pl_len = (size_t)(hi << 6 | lo);
    if (pl_len < 4 || pl_len + SESS_BINDING_TOOL_MARK_LEN > (size_t)(lp - s)) return;
    const char *pl = lp - pl_len, *mark = pl - SESS_BINDING_TOOL_MARK_LEN;
    if (memcmp(mark, SESS_BINDING_TOOL_MARK, SESS_BINDING_TOOL_MARK_LEN)) return;
    parse_rest(key, key_len, s, (size_t)(mark - s), pl, pl_len, mac, out);
    if (out->valid && out->kind != SESS_BINDING_TOOL) out->valid = false;
}
