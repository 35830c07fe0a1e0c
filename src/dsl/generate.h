/* generate.h - `tether dsl generate` (SPEC §10.5): ask an OpenAI-compatible
 * chat endpoint for a program, strip fences and prose, parse, validate and
 * repair in a bounded loop. The reference the model gets is built from the
 * parser's keyword table and the config field tables, so it cannot drift.
 * Uses libcurl (blocking); thread-safe per call. */
#ifndef TETHER_DSL_GENERATE_H
#define TETHER_DSL_GENERATE_H
#include "core/buf.h"
#include <stdbool.h>

typedef struct dsl_gen_opts {
    const char *instruction, *api_url, *model, *api_key_env;
    int max_attempts;
    double temperature;
    long timeout_ms;
    bool allow_invalid;
} dsl_gen_opts_t;

/* 0: a valid program (formatted) in out. 1: no valid program within the
 * attempt limit: out holds the last program that parsed (if any; it is
 * still never one that does not parse) and log the last diagnostics.
 * 2: transport failure (log says why). */
int dsl_generate(const dsl_gen_opts_t *o, buf_t *out, buf_t *log);

/* The DSL reference sent to the model (generated from the tables). */
void dsl_gen_reference(buf_t *out);
/* The program text inside a model answer: the first fenced block when there
 * is one, else from the first line that starts with a top-level keyword. */
void dsl_gen_extract(const char *answer, size_t len, buf_t *out);
#endif
