/* span.c - a trace's spans and attributes, W3C traceparent parsing and
 * formatting, and random ids (span.h). */
#include "telemetry/span.h"
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static bool unhex(const char *s, uint8_t *out, size_t n)
{
    bool nonzero = false;
    for (size_t i = 0; i < n; i++) {
        int hi = hexval(s[2 * i]), lo = hexval(s[2 * i + 1]);
        if (hi < 0 || lo < 0) return false;
        out[i] = (uint8_t)(hi << 4 | lo);
        if (out[i]) nonzero = true;
    }
    return nonzero;
}

bool tel_ctx_parse(const char *v, size_t len, tel_ctx_t *out)
{
    memset(out, 0, sizeof *out);
    while (len && (*v == ' ' || *v == '\t'))
        v++, len--;
    while (len && (v[len - 1] == ' ' || v[len - 1] == '\t'))
        len--;
    /* version 00 is exactly 55 bytes; a later version may append fields */
    if (len < 55 || v[2] != '-' || v[35] != '-' || v[52] != '-') return false;
    if (hexval(v[0]) < 0 || hexval(v[1]) < 0 || (v[0] == 'f' && v[1] == 'f')) return false;
    if (v[0] == '0' && v[1] == '0' && len != 55) return false;
    if (len > 55 && v[55] != '-') return false;
    if (!unhex(v + 3, out->trace_id, 16) || !unhex(v + 36, out->span_id, 8)) return false;
    int f1 = hexval(v[53]), f2 = hexval(v[54]);
    if (f1 < 0 || f2 < 0) return false;
    out->sampled = (f2 & 1) != 0;
    out->valid = true;
    return true;
}

void tel_hex(const uint8_t *b, size_t n, char *out)
{
    static const char d[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = d[b[i] >> 4];
        out[2 * i + 1] = d[b[i] & 15];
    }
    out[2 * n] = 0;
}

void tel_ctx_format(const uint8_t trace_id[16], const uint8_t span_id[8], bool sampled,
                    char out[56])
{
    char t[33], s[17];
    tel_hex(trace_id, 16, t);
    tel_hex(span_id, 8, s);
    snprintf(out, 56, "00-%s-%s-%s", t, s, sampled ? "01" : "00");
}

/* xorshift128+ per thread, seeded from getrandom (or the clock) */
static __thread uint64_t rs[2];

static uint64_t rnd(void)
{
    if (!rs[0] && !rs[1]) {
        if (getrandom(rs, sizeof rs, GRND_NONBLOCK) != (ssize_t)sizeof rs) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            rs[0] = (uint64_t)ts.tv_nsec * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)&ts;
            rs[1] = (uint64_t)ts.tv_sec ^ 0xd1b54a32d192ed03ull;
        }
        if (!rs[0] && !rs[1]) rs[0] = 1;
    }
    uint64_t a = rs[0], b = rs[1];
    rs[0] = b;
    a ^= a << 23;
    rs[1] = a ^ b ^ (a >> 17) ^ (b >> 26);
    return rs[1] + b;
}

double tel_rand01(void)
{
    return (double)(rnd() >> 11) / 9007199254740992.0;
}

static void fill(uint8_t *id, size_t n)
{
    do {
        for (size_t i = 0; i < n; i += 8) {
            uint64_t r = rnd();
            memcpy(id + i, &r, n - i < 8 ? n - i : 8);
        }
    } while (!memcmp(id, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", n));
}

void tel_new_trace_id(uint8_t id[16])
{
    fill(id, 16);
}

void tel_new_span_id(uint8_t id[8])
{
    fill(id, 8);
}

tel_span_t *tel_span_add(tel_trace_t *t, const char *name, int kind, const uint8_t *parent,
                         uint64_t start_ns, uint64_t end_ns)
{
    if (t->n_spans >= TEL_MAX_SPANS) return NULL;
    tel_span_t *s = &t->spans[t->n_spans++];
    memset(s, 0, sizeof *s);
    tel_new_span_id(s->id);
    if (parent) {
        memcpy(s->parent, parent, 8);
        s->has_parent = true;
    }
    s->name = name;
    s->kind = kind;
    s->start_ns = start_ns;
    s->end_ns = end_ns < start_ns ? start_ns : end_ns;
    return s;
}

static tel_attr_t *attr(tel_span_t *s, const char *key, char type)
{
    if (s->n_attrs >= TEL_MAX_ATTRS) return NULL;
    tel_attr_t *a = &s->attrs[s->n_attrs++];
    memset(a, 0, sizeof *a);
    a->key = key;
    a->type = type;
    return a;
}

const char *tel_pool_str(tel_trace_t *t, const char *v)
{
    if (!v || t->pool_used >= TEL_POOL) return "";
    size_t room = TEL_POOL - t->pool_used - 1, n = strlen(v);
    if (n > room) n = room;
    char *d = t->pool + t->pool_used;
    memcpy(d, v, n);
    d[n] = 0;
    t->pool_used += n + 1;
    return d;
}

void tel_attr_str(tel_trace_t *t, tel_span_t *s, const char *key, const char *v)
{
    if (!v || t->pool_used >= TEL_POOL) return;
    tel_attr_t *a = attr(s, key, 's');
    if (a) a->s = tel_pool_str(t, v);
}

void tel_attr_int(tel_span_t *s, const char *key, int64_t v)
{
    tel_attr_t *a = attr(s, key, 'i');
    if (a) a->i = v;
}

void tel_attr_dbl(tel_span_t *s, const char *key, double v)
{
    tel_attr_t *a = attr(s, key, 'd');
    if (a) a->d = v;
}

void tel_attr_bool(tel_span_t *s, const char *key, bool v)
{
    tel_attr_t *a = attr(s, key, 'b');
    if (a) a->i = v;
}
