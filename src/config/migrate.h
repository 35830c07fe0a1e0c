/* migrate.h - `tether config migrate` and `tether config import`: turn an
 * older flat-layout config into v0.3, and merge provider inventories
 * (OpenClaw files, OpenAI-compatible /models listings) into a v0.3 config.
 * Both validate their output with the real loader (cfg_load_string).
 *
 * Ownership: a cfg_migrate_t / cfg_import_t owns its buffers and diagnostic
 * lists; release with the matching _deinit. Nothing here writes files except
 * cfg_write_atomic. Not thread-safe per object; distinct objects are
 * independent. */
#ifndef TETHER_CONFIG_MIGRATE_H
#define TETHER_CONFIG_MIGRATE_H
#include "config/config.h"
#include "core/buf.h"
#include <stdbool.h>

typedef struct cfg_migrate {
    buf_t out;         /* the v0.3 YAML (comments of the old file kept where possible) */
    cfg_diags_t notes; /* what was dropped or rewritten, positioned in the OLD file (warnings) */
    cfg_diags_t diags; /* the loader's diagnostics on `out`; each message ends with
                          "(migrated from `old.path` at old.yaml:L:C)" when known */
    bool converted;    /* false: the old file could not be read as a flat layout (notes say why) */
    bool valid;        /* out loads without errors */
} cfg_migrate_t;

void cfg_migrate_init(cfg_migrate_t *m);
void cfg_migrate_deinit(cfg_migrate_t *m);
/* Convert text (the old file, named old_name in notes) and validate the
 * result under the name out_name. Returns m->converted && m->valid. */
bool cfg_migrate_run(cfg_migrate_t *m, const char *old_name, const char *text, size_t len,
                     const char *out_name);

/* One provider of an inventory, normalised from the source format. */
typedef struct cfg_import_model {
    char *id;                /* upstream model id */
    uint64_t context_window; /* 0: unknown */
    bool reasoning;
    bool image_input;
    bool has_cost; /* OpenClaw cost{input, output, cacheRead, cacheWrite} per 1M tokens */
    double cost_in, cost_out, cost_cache_read, cost_cache_write;
    bool has_cache_read, has_cache_write;
    int line, col; /* of the model in the source file (0: none, e.g. a URL listing) */
} cfg_import_model_t;

typedef struct cfg_import_provider {
    char *key;         /* provider key (openclaw models.providers.<key>, or --provider) */
    char *base_url;    /* API root */
    bool anthropic;    /* Anthropic Messages API */
    bool has_secret;   /* the source carried a literal key: api_key_env is written instead */
    char *api_key_env; /* variable the backend reads (NULL: no credential) */
    cfg_kv_t *headers; /* non-secret extra headers */
    size_t n_headers;
    cfg_import_model_t *models;
    size_t n_models;
    const char *src; /* the source file; line/col of its baseUrl (0: none) */
    int line, col;
} cfg_import_provider_t;

/* Where a node the import adds came from (diagnostics on the merged config). */
typedef struct cfg_import_origin {
    const struct cfg_node *node;
    const char *file;
    int line, col;
} cfg_import_origin_t;

typedef struct cfg_import {
    cfg_import_provider_t *providers;
    size_t n_providers;
    buf_t out;         /* merged config YAML */
    cfg_diags_t notes; /* warnings: skipped names, dropped secrets, unsupported APIs */
    cfg_diags_t diags; /* loader diagnostics on `out` */
    char **env_to_set; /* api_key_env variables the user must export */
    size_t n_env_to_set;
    size_t n_added; /* models added (or replaced) */
    bool valid;
    void *mem;                    /* private arena */
    struct cfg_node **crd_docs;   /* --from crd: IntelligentPool/IntelligentRoute objects */
    const char **crd_srcs;        /* the file each one came from */
    size_t n_crd_docs, n_crd_cap; /* (in mem) */
    cfg_import_origin_t *origins; /* (in mem) */
    size_t n_origins;
} cfg_import_t;

void cfg_import_init(cfg_import_t *im);
void cfg_import_deinit(cfg_import_t *im);
/* Read an OpenClaw inventory (JSON or YAML text). Unsupported APIs are
 * skipped with a note. false when the text is not an inventory. */
bool cfg_import_read_openclaw(cfg_import_t *im, const char *src_name, const char *text, size_t len);
/* Read an OpenAI-compatible GET /models response body as provider `key`
 * at base_url; api_key_env may be NULL. */
bool cfg_import_read_openai(cfg_import_t *im, const char *key, const char *base_url,
                            const char *api_key_env, const char *body, size_t len);
/* Merge the providers read so far into target (text may be NULL: a new
 * config) and validate. replace: existing names are replaced instead of
 * skipped. Returns im->valid. */
bool cfg_import_merge(cfg_import_t *im, const char *target_name, const char *target_text,
                      size_t target_len, bool replace);

/* Read Kubernetes manifests (one or more YAML documents, List objects
 * included) and keep the IntelligentPool and IntelligentRoute objects of
 * vllm.ai/v1alpha1; other kinds are skipped with a note (import_crd.c).
 * false when the text does not parse. */
bool cfg_import_read_crd(cfg_import_t *im, const char *src_name, const char *text, size_t len);
/* Merge the CRD objects read so far into target and validate, like
 * cfg_import_merge. Returns im->valid. */
bool cfg_import_merge_crd(cfg_import_t *im, const char *target_name, const char *target_text,
                          size_t target_len, bool replace);

/* GET url with an optional bearer token into body (libcurl; http/https).
 * Returns the HTTP status, or -1 with err set. */
int cfg_http_get(const char *url, const char *bearer, buf_t *body, buf_t *err);

/* Read a whole file. false with errno set. */
bool cfg_read_file(const char *path, buf_t *out);
/* Write data to path atomically (temp file in the same directory, fsync,
 * rename). When backup is true and path exists, its old content is first
 * written (atomically) to path.bak. Returns 0 or -1 with errno. */
int cfg_write_atomic(const char *path, const char *data, size_t len, bool backup);
#endif
