/* schema.h - the field tables that drive loading, unknown-key checks,
 * defaults and the generated reference in docs/configuration.md. One table
 * per YAML mapping; every key a mapping accepts appears in its table, so the
 * loader, the did-you-mean suggestions and the docs cannot disagree.
 *
 * Generic field types are loaded by ld_section (load.h) straight into the
 * struct at `off`; CFG_F_CUSTOM keys are loaded by hand-written code in the
 * section file but still listed here for checks and docs.
 * Tables are static and immutable: thread-safe. */
#ifndef TETHER_CONFIG_SCHEMA_H
#define TETHER_CONFIG_SCHEMA_H
#include "core/buf.h"
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    CFG_F_STR = 0,  /* char * */
    CFG_F_ENUM,     /* char *, one of choices "a|b|c" */
    CFG_F_BOOL,     /* bool */
    CFG_F_INT,      /* int, range [min,max] when min < max */
    CFG_F_U64,      /* uint64_t */
    CFG_F_DOUBLE,   /* double */
    CFG_F_DURATION, /* uint64_t milliseconds: 250ms, 30s, 5m, 1h, bare seconds */
    CFG_F_SIZE,     /* uint64_t bytes: 64KiB, 32MiB, 1GiB, bare bytes */
    CFG_F_TOKENS,   /* uint64_t tokens: 48K, 1M, bare */
    CFG_F_STRLIST,  /* char ** at off, size_t count at off2 */
    CFG_F_SECTION,  /* nested mapping described by sub, stored inline at off */
    CFG_F_NODE,     /* free-form: const cfg_node_t * (deep copy) at off */
    CFG_F_CUSTOM,   /* loaded by the section's own code */
} cfg_ftype_t;

enum {
    CFG_FF_REQUIRED = 1u << 0,
    CFG_FF_SECRET = 1u << 1,  /* redacted in output */
    CFG_FF_HAS = 1u << 2,     /* bool at off2 is set true when the key is present */
    CFG_FF_NONNEG = 1u << 3,  /* numbers: must be >= 0 */
    CFG_FF_UNIT = 1u << 4,    /* numbers: must be in [0, 1] */
    CFG_FF_OPT = 1u << 5,     /* off/off2 are into the member's options block (config/family.h) */
    CFG_FF_SUGGEST = 1u << 6, /* enums: an unknown value gets a did-you-mean */
};

typedef struct cfg_schema cfg_schema_t;
typedef struct cfg_field {
    const char *key;
    cfg_ftype_t type;
    size_t off, off2;
    const char *def;     /* default, written as in YAML; NULL when none */
    const char *choices; /* CFG_F_ENUM: "a|b|c" */
    double min, max;     /* inclusive range when min < max */
    const cfg_schema_t *sub;
    unsigned flags;
    const char *doc; /* one line for the reference */
} cfg_field_t;

struct cfg_schema {
    const char *path;          /* e.g. "listeners[]", "global.router.limits" */
    const cfg_field_t *fields; /* terminated by {0} */
    const char *doc;
};

/* Declare a schema table: its path and doc, then its fields; the {0}
 * terminator is added here. */
#define CFG_SCHEMA(name, path, doc, ...)                                                           \
    const cfg_schema_t name = {path, (const cfg_field_t[]){__VA_ARGS__, {0}}, doc}

/* Every table, NULL-terminated, in document order. */
const cfg_schema_t *const *cfg_schema_all(void);
const cfg_field_t *cfg_schema_field(const cfg_schema_t *s, const char *key);
/* The markdown reference (one table per schema) embedded in docs/configuration.md. */
void cfg_schema_markdown(buf_t *out);

/* Value parsers shared by the loader and defaults; false on a bad value. */
bool cfg_parse_duration_ms(const char *s, uint64_t *out);
bool cfg_parse_size(const char *s, uint64_t *out);
bool cfg_parse_tokens(const char *s, uint64_t *out);
bool cfg_parse_bool(const char *s, bool *out);
bool cfg_parse_int64(const char *s, int64_t *out);
bool cfg_parse_double(const char *s, double *out);

/* Levenshtein distance (bytes), capped: returns cap+1 when above cap. */
size_t cfg_edit_distance(const char *a, const char *b, size_t cap);
/* The suggestion rule of SPEC 3.1: the candidate at the least distance, if
 * that distance is <= 3 and below half the length of word. NULL otherwise. */
const char *cfg_suggest(const char *word, const char *const *cands, size_t n);
/* Table-writing shorthands: struct type, key, member, default, doc. */
#define CFG_FSTR(T, k, m, d, dc)                                                                   \
    {                                                                                              \
        .key = k, .type = CFG_F_STR, .off = offsetof(T, m), .def = d, .doc = dc                    \
    }
#define CFG_FSTR_REQ(T, k, m, dc)                                                                  \
    {                                                                                              \
        .key = k, .type = CFG_F_STR, .off = offsetof(T, m), .flags = CFG_FF_REQUIRED, .doc = dc    \
    }
/* A field of type ty with a bool `has` member set when the key is present. */
#define CFG_FHAS(T, k, ty, m, has, dc)                                                             \
    {                                                                                              \
        .key = k, .type = ty, .off = offsetof(T, m), .off2 = offsetof(T, has),                     \
        .flags = CFG_FF_HAS, .doc = dc                                                             \
    }
#define CFG_FENUM(T, k, m, d, ch, dc)                                                              \
    {                                                                                              \
        .key = k, .type = CFG_F_ENUM, .off = offsetof(T, m), .def = d, .choices = ch, .doc = dc    \
    }
#define CFG_FBOOL(T, k, m, d, dc)                                                                  \
    {                                                                                              \
        .key = k, .type = CFG_F_BOOL, .off = offsetof(T, m), .def = d, .doc = dc                   \
    }
#define CFG_FINT(T, k, m, d, lo, hi, dc)                                                           \
    {                                                                                              \
        .key = k, .type = CFG_F_INT, .off = offsetof(T, m), .def = d, .min = lo, .max = hi,        \
        .doc = dc                                                                                  \
    }
#define CFG_FI64(T, k, m, d, lo, hi, dc)                                                           \
    {                                                                                              \
        .key = k, .type = CFG_F_U64, .off = offsetof(T, m), .def = d, .min = lo, .max = hi,        \
        .doc = dc                                                                                  \
    }
#define CFG_FNUM(T, k, m, d, dc)                                                                   \
    {                                                                                              \
        .key = k, .type = CFG_F_DOUBLE, .off = offsetof(T, m), .def = d, .flags = CFG_FF_NONNEG,   \
        .doc = dc                                                                                  \
    }
#define CFG_FUNIT(T, k, m, d, dc)                                                                  \
    {                                                                                              \
        .key = k, .type = CFG_F_DOUBLE, .off = offsetof(T, m), .def = d, .flags = CFG_FF_UNIT,     \
        .doc = dc                                                                                  \
    }
#define CFG_FDUR(T, k, m, d, dc)                                                                   \
    {                                                                                              \
        .key = k, .type = CFG_F_DURATION, .off = offsetof(T, m), .def = d, .doc = dc               \
    }
#define CFG_FSIZE(T, k, m, d, dc)                                                                  \
    {                                                                                              \
        .key = k, .type = CFG_F_SIZE, .off = offsetof(T, m), .def = d, .doc = dc                   \
    }
#define CFG_FTOK(T, k, m, dc)                                                                      \
    {                                                                                              \
        .key = k, .type = CFG_F_TOKENS, .off = offsetof(T, m), .doc = dc                           \
    }
#define CFG_FLIST(T, k, m, d, dc)                                                                  \
    {                                                                                              \
        .key = k, .type = CFG_F_STRLIST, .off = offsetof(T, m.v), .off2 = offsetof(T, m.n),        \
        .def = d, .doc = dc                                                                        \
    }
#define CFG_FNODE(T, k, m, dc)                                                                     \
    {                                                                                              \
        .key = k, .type = CFG_F_NODE, .off = offsetof(T, m), .doc = dc                             \
    }
#define CFG_FSUB(T, k, m, sch, dc)                                                                 \
    {                                                                                              \
        .key = k, .type = CFG_F_SECTION, .off = offsetof(T, m), .sub = &sch, .doc = dc             \
    }
#define CFG_FENUM_REQ(T, k, m, ch, dc)                                                             \
    {                                                                                              \
        .key = k, .type = CFG_F_ENUM, .off = offsetof(T, m), .choices = ch,                        \
        .flags = CFG_FF_REQUIRED, .doc = dc                                                        \
    }
/* A non-negative number with a bool `has` member set when the key is present. */
#define CFG_FNUM_HAS(T, k, m, has, dc)                                                             \
    {                                                                                              \
        .key = k, .type = CFG_F_DOUBLE, .off = offsetof(T, m), .off2 = offsetof(T, has),           \
        .flags = CFG_FF_NONNEG | CFG_FF_HAS, .doc = dc                                             \
    }
/* A number in [lo, hi]. */
#define CFG_FRANGE(T, k, m, d, lo, hi, dc)                                                         \
    {                                                                                              \
        .key = k, .type = CFG_F_DOUBLE, .off = offsetof(T, m), .def = d, .min = lo, .max = hi,     \
        .doc = dc                                                                                  \
    }
/* A string list stored as char ** at m with its count at n. */
#define CFG_FLISTN(T, k, m, n, d, dc)                                                              \
    {                                                                                              \
        .key = k, .type = CFG_F_STRLIST, .off = offsetof(T, m), .off2 = offsetof(T, n), .def = d,  \
        .doc = dc                                                                                  \
    }
/* A nested mapping whose table holds offsets into the enclosing struct. */
#define CFG_FSUB_FLAT(k, sch, dc)                                                                  \
    {                                                                                              \
        .key = k, .type = CFG_F_SECTION, .off = 0, .sub = &sch, .doc = dc                          \
    }
#define CFG_FCUSTOM(k, sch, dc)                                                                    \
    {                                                                                              \
        .key = k, .type = CFG_F_CUSTOM, .sub = sch, .doc = dc                                      \
    }
#endif
