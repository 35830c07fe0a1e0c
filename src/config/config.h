/* config.h - the typed, immutable v0.3 configuration (see docs/configuration.md).
 *
 * A cfg_t is built once by cfg_load_* and never mutated afterwards; runtime
 * state lives beside it. Every string is owned by the cfg_t (freed by
 * cfg_free). Durations are stored in milliseconds, sizes in bytes.
 * The loader, diagnostics, env expansion, migrate and import live in sibling
 * files; this header is the contract the rest of tether reads. */
#ifndef TETHER_CONFIG_CONFIG_H
#define TETHER_CONFIG_CONFIG_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include "core/buf.h"

typedef struct cfg_kv {
    char *name;
    char *value;
} cfg_kv_t;

/* A client (virtual) key. Only the SHA-256 of its secret is kept: the
 * value of key_env is hashed at load and dropped (config/api_keys.c). */
typedef struct cfg_api_key {
    char *name, *key_env, *key_sha256, *tenant, *user, *owner, *team;
    char **groups;
    size_t n_groups;
    char **models; /* model names the request may ask for; none = any */
    size_t n_models;
    char **decisions; /* decisions routing may pick for it; none = any */
    size_t n_decisions;
    cfg_kv_t *metadata; /* free string map (authz, replay) */
    size_t n_metadata;
    const char *source;          /* "config", the keys_file it came from, or "env:VAR" */
    const struct cfg_node *node; /* its item, for diagnostics after the load */
    unsigned char digest[32];    /* SHA-256 of the secret */
    bool has_digest;             /* false: key_env unset at load, the key never matches */
} cfg_api_key_t;

typedef struct cfg_listener {
    char *name;
    char *address;           /* default 127.0.0.1 */
    int port;                /* default 8899 */
    uint64_t timeout_ms;     /* default 300s */
    cfg_api_key_t *api_keys; /* inline api_keys, then the keys_file's, then keys_env's */
    size_t n_api_keys;
    char *keys_file;      /* as written */
    char *keys_env;       /* variable holding more keys (a YAML/JSON list), or NULL */
    char *keys_path;      /* resolved against the config's directory; NULL without */
    int max_key_bytes;    /* longest credential accepted (default 512) */
    uint32_t *key_slots;  /* open addressing by digest: index + 1 into api_keys, 0 empty */
    size_t key_slot_mask; /* slots - 1 (a power of two); 0 when no key has a digest */
} cfg_listener_t;

/* The enabled key of li whose digest equals digest, or NULL: one probe
 * sequence in li's table, digests compared in constant time. Thread-safe. */
const cfg_api_key_t *cfg_api_key_find(const cfg_listener_t *li, const unsigned char digest[32]);
/* The table slot of a digest (first 8 bytes, masked). */
size_t cfg_api_key_slot(const unsigned char digest[32], size_t mask);

typedef enum { CFG_API_OPENAI = 0, CFG_API_ANTHROPIC } cfg_api_format_t;

typedef struct cfg_backend_ref {
    char *name;     /* default backend-N (1-based) */
    char *endpoint; /* as written, or NULL */
    char *base_url; /* as written, or NULL */
    /* derived from endpoint/base_url at load: */
    char *host;
    int port;
    bool tls;          /* https */
    char *path_prefix; /* "" for endpoint (the client's /v1/... path is forwarded as is);
                          for base_url the URL path without trailing '/' (upstream path =
                          path_prefix + chat_path, e.g. /v1 + /messages) */
    char *protocol;    /* "http" | "https" (from the URL, else http) */
    int weight;        /* default 1; 0 drains */
    char *provider;    /* openai|anthropic|vllm|generic */
    char *auth_header; /* default Authorization (anthropic: x-api-key) */
    char *auth_prefix; /* default "Bearer " (anthropic: "") */
    char *api_key_env;
    char *api_key; /* resolved at load; NULL when unset (backend unavailable if api_key_env set) */
    cfg_kv_t *extra_headers;
    size_t n_extra_headers;
    char *chat_path;                 /* default /chat/completions (anthropic: /messages) */
    bool forward_client_credentials; /* default false; never with an api_key of its own */
} cfg_backend_ref_t;

/* Bits of reliability.retry_on */
enum {
    CFG_RETRY_CONNECT = 1u << 0,
    CFG_RETRY_RESET = 1u << 1,
    CFG_RETRY_502 = 1u << 2,
    CFG_RETRY_503 = 1u << 3,
    CFG_RETRY_504 = 1u << 4,
    CFG_RETRY_429 = 1u << 5,
    CFG_RETRY_500 = 1u << 6,
    CFG_RETRY_529 = 1u << 7,
    CFG_RETRY_TIMEOUT = 1u << 8,
};

typedef struct cfg_reliability {
    int retry_count;                 /* default 1, 0..5 */
    unsigned retry_on;               /* default CONNECT|RESET|502|503|504 */
    uint64_t connect_timeout_ms;     /* 5s */
    uint64_t first_byte_timeout_ms;  /* 120s */
    uint64_t stream_idle_timeout_ms; /* 300s */
    uint64_t total_timeout_ms;       /* 0 = listener bound */
    int consecutive_failures;        /* 5 */
    uint64_t ejection_time_ms;       /* 30s */
    char *lb_policy;                 /* weighted|least_request */
    struct {
        char *path;           /* NULL: no active health checks */
        uint64_t interval_ms; /* 10s */
        uint64_t timeout_ms;  /* 2s */
    } health_check;
} cfg_reliability_t;

typedef struct cfg_pricing {
    char *currency; /* USD */
    double prompt_per_1m, cached_input_per_1m, cache_write_per_1m, completion_per_1m;
    bool has_prompt, has_cached_input, has_cache_write, has_completion;
} cfg_pricing_t;

/* Bits of providers.models[].endpoints: the client endpoints a model serves. */
enum {
    CFG_EP_CHAT = 1u << 0,        /* chat completions, Messages, Responses */
    CFG_EP_EMBEDDINGS = 1u << 1,  /* POST /v1/embeddings */
    CFG_EP_COMPLETIONS = 1u << 2, /* POST /v1/completions (legacy text) */
};

typedef struct cfg_model {
    char *name;
    char *provider_model_id; /* default = name */
    cfg_api_format_t api_format;
    bool responses_native; /* responses_mode: native */
    char *reasoning_family;
    cfg_pricing_t pricing;
    cfg_backend_ref_t *backend_refs;
    size_t n_backend_refs;
    cfg_reliability_t reliability;
    unsigned endpoints; /* CFG_EP_*; default CFG_EP_CHAT */
} cfg_model_t;

/* Whether m serves the endpoint ep (CFG_EP_*); none declared = chat. */
static inline bool cfg_model_serves(const cfg_model_t *m, unsigned ep)
{
    return ((m->endpoints ? m->endpoints : CFG_EP_CHAT) & ep) != 0;
}

typedef struct cfg_reasoning_family {
    char *name, *type, *parameter;
} cfg_reasoning_family_t;

typedef struct cfg_providers {
    char *default_model;
    char *default_reasoning_effort; /* medium */
    cfg_reasoning_family_t *reasoning_families;
    size_t n_reasoning_families;
    cfg_model_t *models;
    size_t n_models;
} cfg_providers_t;

typedef struct cfg_limits {
    uint64_t max_body_bytes;    /* 32 MiB */
    uint64_t max_header_bytes;  /* 64 KiB */
    uint64_t header_timeout_ms; /* 10s */
    uint64_t body_timeout_ms;   /* 60s */
    uint64_t max_connections;   /* 4096 */
    uint64_t keepalive_ms;      /* 60s, keepalive_timeout */
    uint64_t max_empty_lines;   /* 4 */
    uint64_t signal_timeout_ms; /* 250ms */
    uint64_t shutdown_grace_ms; /* 30s */
    uint64_t max_messages;      /* 10000: messages / input items per request (413 above) */
    /* open connections from one client address; 0: no limit */
    uint64_t max_connections_per_address;
} cfg_limits_t;

typedef struct cfg_router {
    char **auto_model_names; /* [auto, MoM, tether/auto] */
    size_t n_auto_model_names;
    bool include_config_models_in_list; /* true */
    bool compat_headers;                /* true */
    bool debug_headers;                 /* false */
    cfg_limits_t limits;
} cfg_router_t;

typedef struct cfg_logging {
    char *level;     /* info */
    char *format;    /* json */
    bool access_log; /* true: one "access" line per request */
} cfg_logging_t;

/* Opaque parts that later stages define (routing, session, stores, services...).
 * The loader fills them; see the config/ headers for their types. */
typedef struct cfg_routing cfg_routing_t;
typedef struct cfg_global_ext cfg_global_ext_t;

typedef struct cfg {
    char *path;    /* file it was loaded from */
    char *version; /* "v0.3" */
    cfg_listener_t *listeners;
    size_t n_listeners;
    cfg_providers_t providers;
    cfg_router_t router;
    cfg_logging_t logging;
    cfg_routing_t *routing; /* may be NULL until the routing section is typed */
    cfg_global_ext_t *global_ext;
    uint64_t generation;   /* set by the snapshot holder */
    void *snap_node;       /* private: snapshot.c bookkeeping */
    void *mem;             /* private: the arena that owns everything above */
    struct cfg_node *tree; /* private: the parsed (expanded) YAML, for `config show` */
} cfg_t;

/* Diagnostics: collected, never fail-fast. */
typedef enum { CFG_DIAG_ERROR = 0, CFG_DIAG_WARNING } cfg_diag_severity_t;
typedef struct cfg_diag {
    cfg_diag_severity_t severity;
    char *file;
    int line, col; /* 1-based; 0 when unknown */
    char *path;    /* e.g. routing.decisions[2].modelRefs[0].wieght */
    char *message;
} cfg_diag_t;
typedef struct cfg_diags {
    cfg_diag_t *items;
    size_t n, cap;
    size_t n_errors, n_warnings;
    char **secrets; /* private: values no diagnostic may show (longest first) */
    size_t n_secrets, cap_secrets;
} cfg_diags_t;

void cfg_diags_init(cfg_diags_t *d);
void cfg_diags_free(cfg_diags_t *d);
void cfg_diags_add(cfg_diags_t *d, cfg_diag_severity_t sev, const char *file, int line, int col,
                   const char *path, const char *fmt, ...) __attribute__((format(printf, 7, 8)));
/* Sort by file, line, col (stable). */
void cfg_diags_sort(cfg_diags_t *d);
/* Register a value no diagnostic may show (an expanded ${VAR}, the value of
 * a *_env setting, a secret key's value): it is replaced by <redacted> in the
 * message and path of every diagnostic already in d or added later, whatever
 * prints them. Values shorter than CFG_SECRET_MIN bytes are not registered
 * (they would blank out ordinary words and numbers). Copied; wiped on free. */
#define CFG_SECRET_MIN 4
void cfg_diags_add_secret(cfg_diags_t *d, const char *value, size_t len);
/* --strict: every warning becomes an error. */
void cfg_diags_promote_warnings(cfg_diags_t *d);
/* One diagnostic as `file:line:col: [warning: ]path: message` (no newline). */
void cfg_diag_format(buf_t *out, const cfg_diag_t *x);
/* The diagnostics of one severity, each formatted as above, as JSON strings
 * separated by commas (the caller writes the brackets). */
void cfg_diags_json_strings(buf_t *out, const cfg_diags_t *d, cfg_diag_severity_t sev);
/* Every diagnostic, one per line. */
void cfg_diags_print(FILE *f, const cfg_diags_t *d);
/* {"errors":N,"warnings":N,"diagnostics":[{severity,file,line,column,path,message}]} */
void cfg_diags_json(buf_t *out, const cfg_diags_t *d);

typedef struct cfg_load_opts {
    bool strict; /* warnings become errors */
    /* Never read the environment (validation through the management API):
     * ${VAR} takes its :-default, else stays as written and is not checked
     * (a diagnostic about it is a warning); *_env settings are not looked up,
     * and no listener's keys_file is read. */
    bool seal_env;
} cfg_load_opts_t;

/* Load and validate a config file. Returns NULL when any error was found
 * (diags has them); warnings alone do not fail the load. */
cfg_t *cfg_load_file(const char *path, const cfg_load_opts_t *opts, cfg_diags_t *diags);
/* Same, from a string (name is used in diagnostics). */
cfg_t *cfg_load_string(const char *name, const char *yaml, size_t len, const cfg_load_opts_t *opts,
                       cfg_diags_t *diags);
void cfg_free(cfg_t *c);

/* One line of counts for `tether validate` (listeners, models, signals per
 * family, decisions, plugins). Appends to out. */
void cfg_summary(const cfg_t *c, buf_t *out);

/* The loaded config as YAML (or JSON), secrets (keys ending in
 * key/token/password/secret, auth/key headers) redacted, and values that
 * come from the environment shown as written (${VAR}), not expanded. */
void cfg_show(const cfg_t *c, bool json, buf_t *out);

/* Lookups (linear scans; configs are small). NULL when absent. */
const cfg_model_t *cfg_find_model(const cfg_t *c, const char *name, size_t len);
bool cfg_is_auto_name(const cfg_t *c, const char *name, size_t len);
#endif
