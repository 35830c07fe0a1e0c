/* test_load.c - cfg_load_*: the SPEC example, defaults, derived backend
 * fields, value units, and the exact position and text of diagnostics. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/global.h"
#include "config/schema.h"

#define SUF_M                                                                                      \
    "routing:\n  modelCards: [{name: m}]\n  decisions: [{name: all, modelRefs: [{model: m}]}]\n"

static char *fixture(const char *name)
{
    static char p[1024];
    const char *src = getenv("TETHER_SRC");
    snprintf(p, sizeof p, "%s/tests/data/config/%s", src ? src : ".", name);
    return p;
}

static cfg_t *load(const char *yaml, cfg_diags_t *d)
{
    cfg_diags_init(d);
    return cfg_load_string("t.yaml", yaml, strlen(yaml), NULL, d);
}

/* The formatted diagnostic i. */
static const char *diag(const cfg_diags_t *d, size_t i)
{
    static char s[2048];
    buf_t b = BUF_INIT;
    if (i < d->n) cfg_diag_format(&b, &d->items[i]);
    snprintf(s, sizeof s, "%s", b.data ? b.data : "(none)");
    buf_free(&b);
    return s;
}

/* Asserts that the only error (or first diagnostic) is exactly want. */
static void expect_one(const char *yaml, const char *want)
{
    cfg_diags_t d;
    cfg_t *c = load(yaml, &d);
    if (d.n != 1 || strcmp(diag(&d, 0), want)) {
        for (size_t i = 0; i < d.n; i++)
            fprintf(stderr, "  got: %s\n", diag(&d, i));
        fprintf(stderr, "  want: %s\n", want);
    }
    assert_int_equal(d.n, 1);
    assert_string_equal(diag(&d, 0), want);
    if (d.items[0].severity == CFG_DIAG_ERROR) assert_null(c);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_spec_example_loads_clean(void **st)
{
    setenv("HOSTNAME", "node-1", 1);
    setenv("VLLM_KEY", "vk", 1);
    setenv("ANTHROPIC_API_KEY", "ak", 1);
    setenv("REDIS_PASSWORD", "rp", 1);
    setenv("TETHER_ADMIN_TOKEN", "tok", 1);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_t *c = cfg_load_file(fixture("spec_example.yaml"), NULL, &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", diag(&d, i));
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->version, "v0.3");
    assert_int_equal(c->n_listeners, 1);
    assert_string_equal(c->listeners[0].name, "public");
    assert_string_equal(c->listeners[0].address, "0.0.0.0");
    assert_int_equal(c->listeners[0].port, 8899);
    assert_int_equal(c->listeners[0].timeout_ms, 300000);
    assert_string_equal(c->providers.default_model, "local/qwen3-8b");
    assert_int_equal(c->providers.n_models, 3);
    assert_int_equal(c->providers.n_reasoning_families, 2);

    const cfg_model_t *m = cfg_find_model(c, "local/qwen3-8b", 14);
    assert_non_null(m);
    assert_string_equal(m->provider_model_id, "Qwen/Qwen3-8B");
    assert_int_equal(m->api_format, CFG_API_OPENAI);
    assert_int_equal(m->n_backend_refs, 2);
    assert_string_equal(m->backend_refs[0].host, "10.0.0.11");
    assert_int_equal(m->backend_refs[0].port, 8000);
    assert_false(m->backend_refs[0].tls);
    assert_string_equal(m->backend_refs[0].path_prefix, "");
    assert_int_equal(m->backend_refs[0].weight, 2);
    assert_string_equal(m->backend_refs[0].auth_header, "Authorization");
    assert_string_equal(m->backend_refs[0].auth_prefix, "Bearer ");
    assert_string_equal(m->backend_refs[0].chat_path, "/chat/completions");
    assert_null(m->backend_refs[0].api_key);
    assert_true(m->pricing.has_prompt);
    assert_false(m->pricing.has_cache_write);
    assert_true(m->pricing.prompt_per_1m > 0.049 && m->pricing.prompt_per_1m < 0.051);
    assert_int_equal(m->reliability.retry_count, 1);
    assert_int_equal(m->reliability.retry_on, CFG_RETRY_CONNECT | CFG_RETRY_RESET | CFG_RETRY_502 |
                                                  CFG_RETRY_503 | CFG_RETRY_504);
    assert_int_equal(m->reliability.connect_timeout_ms, 5000);
    assert_int_equal(m->reliability.first_byte_timeout_ms, 120000);

    m = cfg_find_model(c, "local/qwen3-32b", 15);
    assert_string_equal(m->backend_refs[0].api_key, "vk");
    assert_string_equal(m->backend_refs[0].host, "10.0.0.13");

    m = cfg_find_model(c, "cloud/sonnet", 12);
    assert_int_equal(m->api_format, CFG_API_ANTHROPIC);
    const cfg_backend_ref_t *b = &m->backend_refs[0];
    assert_string_equal(b->host, "api.anthropic.com");
    assert_int_equal(b->port, 443);
    assert_true(b->tls);
    assert_string_equal(b->path_prefix, "/v1");
    assert_string_equal(b->auth_header, "x-api-key");
    assert_string_equal(b->auth_prefix, "");
    assert_string_equal(b->chat_path, "/messages");
    assert_string_equal(b->api_key, "ak");
    assert_int_equal(b->n_extra_headers, 1);
    assert_string_equal(b->extra_headers[0].name, "anthropic-version");
    assert_string_equal(b->extra_headers[0].value, "2023-06-01");

    assert_true(cfg_is_auto_name(c, "MoM", 3));
    assert_true(cfg_is_auto_name(c, "tether/auto", 11));
    assert_false(cfg_is_auto_name(c, "auto2", 5));
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_defaults_of_a_minimal_file(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load("version: v0.3\n", &d);
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    assert_int_equal(c->n_listeners, 1);
    assert_string_equal(c->listeners[0].address, "127.0.0.1");
    assert_int_equal(c->listeners[0].port, 8899);
    assert_int_equal(c->router.limits.max_body_bytes, 32u << 20);
    assert_int_equal(c->router.limits.max_header_bytes, 64u << 10);
    assert_int_equal(c->router.limits.header_timeout_ms, 10000);
    assert_int_equal(c->router.limits.body_timeout_ms, 60000);
    assert_int_equal(c->router.limits.max_connections, 4096);
    assert_int_equal(c->router.limits.signal_timeout_ms, 250);
    assert_int_equal(c->router.limits.shutdown_grace_ms, 30000);
    assert_int_equal(c->router.n_auto_model_names, 3);
    assert_string_equal(c->router.auto_model_names[0], "auto");
    assert_string_equal(c->router.auto_model_names[2], "tether/auto");
    assert_true(c->router.compat_headers);
    assert_false(c->router.debug_headers);
    assert_true(c->router.include_config_models_in_list);
    assert_string_equal(c->logging.level, "info");
    assert_string_equal(c->logging.format, "json");
    assert_string_equal(c->providers.default_reasoning_effort, "medium");
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_global_router_overrides(void **st)
{
    cfg_diags_t d;
    cfg_t *c =
        load("version: v0.3\n"
             "global:\n"
             "  router:\n"
             "    auto_model_names: [pick]\n"
             "    compat_headers: false\n"
             "    debug_headers: true\n"
             "    limits: {max_body_bytes: 1MiB, header_timeout: 1500ms, body_timeout: 2m,\n"
             "             signal_timeout: 0.5, shutdown_grace: 1h, max_header_bytes: 1000}\n"
             "  services:\n"
             "    logging: {level: debug, format: text}\n",
             &d);
    assert_non_null(c);
    assert_int_equal(c->router.n_auto_model_names, 1);
    assert_true(cfg_is_auto_name(c, "pick", 4));
    assert_false(cfg_is_auto_name(c, "auto", 4));
    assert_false(c->router.compat_headers);
    assert_true(c->router.debug_headers);
    assert_int_equal(c->router.limits.max_body_bytes, 1u << 20);
    assert_int_equal(c->router.limits.max_header_bytes, 1000);
    assert_int_equal(c->router.limits.header_timeout_ms, 1500);
    assert_int_equal(c->router.limits.body_timeout_ms, 120000);
    assert_int_equal(c->router.limits.signal_timeout_ms, 500);
    assert_int_equal(c->router.limits.shutdown_grace_ms, 3600000);
    assert_string_equal(c->logging.level, "debug");
    assert_string_equal(c->logging.format, "text");
    cfg_free(c);
    cfg_diags_free(&d);
}

/* A classifier's batching: defaults 32 / 32, set per classifier on the
 * input-list protocols; out of range, not a number, or on a protocol that
 * sends one request's texts per call: refused with the reason. */
static void test_classifier_batch_settings(void **st)
{
    (void)st;
    static const char base[] = "version: v0.3\n"
                               "providers:\n  defaults: {default_model: m}\n"
                               "  models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]\n"
                               "routing: {modelCards: [{name: m}]}\n"
                               "global: {model_catalog: {classifiers: [";
    char y[1024];
    snprintf(y, sizeof y,
             "%s{name: a, type: http_classify, endpoint: \"http://h:1/c\"}, "
             "{name: b, type: http_pooling, endpoint: \"http://h:1/p\", batch_max: 1}, "
             "{name: c, type: http_classify, endpoint: \"http://h:1/c\", batch_max: 1024, "
             "batch_inflight: 1}]}}\n",
             base);
    cfg_diags_t d;
    cfg_t *c = load(y, &d);
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    const cfg_model_catalog_t *m = &c->global_ext->model_catalog;
    assert_int_equal(m->classifiers[0].batch_max, 32);
    assert_int_equal(m->classifiers[0].batch_inflight, 32);
    assert_int_equal(m->classifiers[1].batch_max, 1);
    assert_int_equal(m->classifiers[2].batch_max, 1024);
    assert_int_equal(m->classifiers[2].batch_inflight, 1);
    cfg_free(c);
    cfg_diags_free(&d);
    static const struct {
        const char *cls, *want;
    } bad[] = {
        {"{name: g, type: http_classify, endpoint: \"http://h:1/c\", batch_max: 0}",
         "t.yaml:6:108: global.model_catalog.classifiers[g].batch_max: 0 is out of range "
         "[1, 1024]"},
        {"{name: g, type: http_classify, endpoint: \"http://h:1/c\", batch_max: 2000}",
         "t.yaml:6:108: global.model_catalog.classifiers[g].batch_max: 2000 is out of range "
         "[1, 1024]"},
        {"{name: g, type: http_classify, endpoint: \"http://h:1/c\", batch_inflight: 0}",
         "t.yaml:6:113: global.model_catalog.classifiers[g].batch_inflight: 0 is out of range "
         "[1, 1024]"},
        {"{name: g, type: http_classify, endpoint: \"http://h:1/c\", batch_max: many}",
         "t.yaml:6:108: global.model_catalog.classifiers[g].batch_max: expected an integer, got "
         "\"many\""},
        {"{name: g, type: openai_chat, base_url: \"http://h:1/v1\", batch_max: 4}",
         "t.yaml:6:107: global.model_catalog.classifiers[g].batch_max: batch_max applies to "
         "http_classify and http_pooling only (openai_chat sends one request's texts per call): "
         "remove it"},
        {"{name: g, type: http_score, endpoint: \"http://h:1/s\", labels: [a], "
         "batch_inflight: 2}",
         "t.yaml:6:123: global.model_catalog.classifiers[g].batch_inflight: batch_inflight "
         "applies to http_classify and http_pooling only (http_score sends one request's texts "
         "per call): remove it"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        snprintf(y, sizeof y, "%s%s]}}\n", base, bad[i].cls);
        expect_one(y, bad[i].want);
    }
}

/* signal_timeout and external classifiers load without a diagnostic (they
 * work: signals/classify.h); a family that cannot use a classifier rejects
 * `classifier:`. The dashboard is built: dashboard: true loads clean. What
 * is still not built is refused with the reason. */
static void test_unsupported_settings_say_so(void **st)
{
    static const char base[] = "version: v0.3\n"
                               "providers:\n  defaults: {default_model: m}\n"
                               "  models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]\n"
                               "routing: {modelCards: [{name: m}]}\n";
    char y[1024];
    static const char *const clean[] = {
        "global: {services: {management_api: {dashboard: true}}}\n",
        "global: {router: {limits: {signal_timeout: 1s}}}\n",
        "global: {model_catalog: {classifiers: [{name: g, type: http_classify, "
        "endpoint: \"http://h:1/c\"}]}}\n"};
    for (size_t i = 0; i < sizeof clean / sizeof *clean; i++) {
        snprintf(y, sizeof y, "%s%s", base, clean[i]);
        cfg_diags_t d;
        cfg_t *c = load(y, &d);
        assert_non_null(c);
        assert_int_equal(d.n, 0);
        cfg_free(c);
        cfg_diags_free(&d);
    }
    snprintf(
        y, sizeof y,
        "version: v0.3\n"
        "providers:\n  defaults: {default_model: m}\n"
        "  models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]\n"
        "routing:\n  modelCards: [{name: m}]\n"
        "  signals: {complexity: [{name: f, classifier: g, hard: {candidates: [x]}, easy: "
        "{candidates: [y]}}]}\n"
        "  decisions: [{name: d, rules: {type: complexity, name: f}, modelRefs: [{model: m}]}]\n"
        "global: {model_catalog: {classifiers: [{name: g, type: http_classify, "
        "endpoint: \"http://h:1/c\"}]}}\n");
    expect_one(y, "t.yaml:7:26: routing.signals.complexity[f].classifier: complexity rules "
                  "cannot use an external classifier yet (jailbreak, pii, domains, modality, "
                  "fact_check, "
                  "user_feedbacks and classifiers rules can): remove classifier: \"g\"");
    /* accepted before, doing nothing: now refused with the reason */
    snprintf(y, sizeof y, "%sglobal: {model_catalog: {embeddings: {backend: static}}}\n", base);
    expect_one(y, "t.yaml:6:48: global.model_catalog.embeddings.backend: embeddings backend "
                  "static is not supported (no static word-vector embedder is built): use "
                  "builtin or openai_compatible");
    snprintf(y, sizeof y, "%sglobal: {model_catalog: {embeddings: {static: {path: x}}}}\n", base);
    expect_one(y, "t.yaml:6:47: global.model_catalog.embeddings.static: embeddings.static is not "
                  "supported (no static word-vector embedder is built): remove it");
    static const char mod[] =
        "version: v0.3\n"
        "providers:\n  defaults: {default_model: m}\n"
        "  models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]\n"
        "routing:\n  modelCards: [{name: m}]\n"
        "  signals: {modality: [{name: DIFFUSION, %s}]}\n"
        "  decisions: [{name: d, rules: {type: modality, name: DIFFUSION}, modelRefs: [{model: "
        "m}]}]\n";
    snprintf(y, sizeof y, mod, "method: hybrid");
    expect_one(y, "t.yaml:7:24: routing.signals.modality[DIFFUSION]: modality method hybrid is "
                  "not supported (it needs embedding banks that are not built): use method "
                  "keyword");
    snprintf(y, sizeof y, mod, "threshold: 0.5");
    expect_one(y, "t.yaml:7:24: routing.signals.modality[DIFFUSION]: threshold is not supported "
                  "on modality rules without a classifier: the keyword method has no score to "
                  "compare (remove it)");
}

/* Numbers past 64 bits say so, at their position, instead of "expected an
 * integer" or "invalid size". */
static void test_diag_numbers_that_overflow(void **st)
{
    static const char base[] = "version: v0.3\n"
                               "providers:\n  defaults: {default_model: m}\n"
                               "  models: [{name: m, backend_refs: [{endpoint: \"h:1\"}]}]\n"
                               "routing: {modelCards: [{name: m}]}\n";
    char y[1024];
    snprintf(y, sizeof y,
             "%slisteners: [{name: l, address: 127.0.0.1, port: 99999999999999999999}]\n", base);
    expect_one(y,
               "t.yaml:6:49: listeners[l].port: 99999999999999999999 is out of range [1, 65535]");
    snprintf(y, sizeof y, "%sglobal: {router: {limits: {max_body_bytes: 17179869184GiB}}}\n", base);
    expect_one(y,
               "t.yaml:6:44: global.router.limits.max_body_bytes: size \"17179869184GiB\" is too "
               "large (at most 1.8e19 bytes)");
    snprintf(y, sizeof y,
             "%sglobal: {router: {limits: {max_header_bytes: 99999999999999999999999}}}\n", base);
    expect_one(y, "t.yaml:6:46: global.router.limits.max_header_bytes: size "
                  "\"99999999999999999999999\" is too large (at most 1.8e19 bytes)");
    snprintf(y, sizeof y, "%sglobal: {router: {limits: {header_timeout: 99999999999999999999h}}}\n",
             base);
    expect_one(y, "t.yaml:6:44: global.router.limits.header_timeout: duration "
                  "\"99999999999999999999h\" is too large (at most 1.8e19 ms)");
    /* a unit that does not exist stays "invalid" */
    snprintf(y, sizeof y, "%sglobal: {router: {limits: {max_body_bytes: 5TiB}}}\n", base);
    expect_one(y, "t.yaml:6:44: global.router.limits.max_body_bytes: invalid size \"5TiB\" (e.g. "
                  "64KiB, 32MiB, 1GiB or bare bytes)");
}

static void test_value_units(void **st)
{
    uint64_t v;
    assert_true(cfg_parse_duration_ms("250ms", &v) && v == 250);
    assert_true(cfg_parse_duration_ms("30s", &v) && v == 30000);
    assert_true(cfg_parse_duration_ms("5m", &v) && v == 300000);
    assert_true(cfg_parse_duration_ms("1h", &v) && v == 3600000);
    assert_true(cfg_parse_duration_ms("7", &v) && v == 7000);
    assert_false(cfg_parse_duration_ms("7x", &v));
    assert_false(cfg_parse_duration_ms("-1s", &v));
    assert_false(cfg_parse_duration_ms("", &v));
    assert_false(cfg_parse_duration_ms("1e3s", &v));
    assert_true(cfg_parse_size("32MiB", &v) && v == 32u << 20);
    assert_true(cfg_parse_size("64KiB", &v) && v == 65536);
    assert_true(cfg_parse_size("2GiB", &v) && v == 2ull << 30);
    assert_true(cfg_parse_size("100", &v) && v == 100);
    assert_false(cfg_parse_size("10 MiB", &v));
    assert_true(cfg_parse_tokens("48K", &v) && v == 48000);
    assert_true(cfg_parse_tokens("1M", &v) && v == 1000000);
}

static void test_backend_with_port_defaults_and_base_url_port(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load("version: v0.3\n"
                    "providers:\n"
                    "  models:\n"
                    "    - name: a\n"
                    "      backend_refs:\n"
                    "        - {base_url: 'http://h:9000/api/v1/'}\n"
                    "        - {endpoint: 'https://secure.example'}\n"
                    "        - {endpoint: 'h2:81', provider: vllm, extra_headers: {X-A: b}}\n"
                    "routing:\n  modelCards: [{name: a}]\n  decisions: [{name: all, modelRefs: "
                    "[{model: a}]}]\n",
                    &d);
    for (size_t i = 0; i < d.n; i++)
        fprintf(stderr, "%s\n", diag(&d, i));
    assert_non_null(c);
    const cfg_model_t *m = &c->providers.models[0];
    assert_string_equal(m->provider_model_id, "a");
    assert_string_equal(m->backend_refs[0].name, "backend-1");
    assert_string_equal(m->backend_refs[0].host, "h");
    assert_int_equal(m->backend_refs[0].port, 9000);
    assert_string_equal(m->backend_refs[0].path_prefix, "/api/v1");
    assert_int_equal(m->backend_refs[1].port, 443);
    assert_true(m->backend_refs[1].tls);
    assert_string_equal(m->backend_refs[1].host, "secure.example");
    assert_int_equal(m->backend_refs[2].port, 81);
    assert_int_equal(m->backend_refs[2].n_extra_headers, 1);
    assert_string_equal(m->backend_refs[2].extra_headers[0].value, "b");
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_diag_version(void **st)
{
    expect_one(
        "version: v0.2\n",
        "t.yaml:1:10: version: version \"v0.2\" is not supported (expected v0.3); run: tether "
        "config migrate --config t.yaml");
    expect_one(
        "listeners: []\n",
        "t.yaml:1:1: missing \"version: v0.3\" (an older layout?); run: tether config migrate "
        "--config t.yaml");
}

static void test_diag_unknown_field_with_suggestion(void **st)
{
    expect_one("version: v0.3\nlisteners:\n  - name: a\n    adress: 0.0.0.0\n",
               "t.yaml:4:5: warning: listeners[a].adress: unknown field \"adress\" (did you mean "
               "\"address\"?)");
    expect_one("version: v0.3\nglobal:\n  zzz: 1\n",
               "t.yaml:3:3: warning: global.zzz: unknown field \"zzz\"");
}

static void test_strict_turns_warnings_into_errors(void **st)
{
    const char *y = "version: v0.3\nlisteners:\n  - {name: a, timout: 1}\n";
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_load_opts_t o = {.strict = true};
    cfg_t *c = cfg_load_string("t.yaml", y, strlen(y), &o, &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_string_equal(
        diag(&d, 0),
        "t.yaml:3:15: listeners[a].timout: unknown field \"timout\" (did you mean \"timeout\"?)");
    cfg_diags_free(&d);
}

static void test_diag_backend_endpoint_and_base_url(void **st)
{
    expect_one(
        "version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs:\n"
        "        - {name: x, endpoint: 'h:1', base_url: 'http://h'}\n" SUF_M,
        "t.yaml:6:48: providers.models[m].backend_refs[x]: backend_ref has both endpoint and "
        "base_url (use one)");
    expect_one(
        "version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs:\n"
        "        - {name: x, weight: 2}\n" SUF_M,
        "t.yaml:6:11: providers.models[m].backend_refs[x]: backend_ref needs an endpoint or a "
        "base_url");
}

static void test_diag_tracing_endpoint(void **st)
{
    expect_one("version: v0.3\nglobal:\n  services:\n    tracing: {enabled: true, "
               "endpoint: 'https://c:4318'}\n",
               "t.yaml:4:40: global.services.tracing.endpoint: tracing endpoint must be an "
               "http:// URL (https is not supported)");
}

static void test_diag_ranges_and_types(void **st)
{
    expect_one(
        "version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs: "
        "[{endpoint: 'h:1'}]\n      reliability: {retry_count: 6}\n" SUF_M,
        "t.yaml:6:34: providers.models[m].reliability.retry_count: 6 is out of range [0, 5]");
    expect_one("version: v0.3\nlisteners:\n  - {name: a, port: many}\n",
               "t.yaml:3:21: listeners[a].port: expected an integer, got \"many\"");
    expect_one("version: v0.3\nglobal:\n  router:\n    limits: {body_timeout: soon}\n",
               "t.yaml:4:28: global.router.limits.body_timeout: invalid duration \"soon\" (e.g. "
               "250ms, 30s, 5m, 1h or bare seconds)");
    expect_one("version: v0.3\nglobal:\n  router: {compat_headers: 'yes'}\n",
               "t.yaml:3:28: global.router.compat_headers: expected a boolean (true or false), got "
               "\"yes\"");
    expect_one("version: v0.3\nlisteners: {a: 1}\n",
               "t.yaml:2:12: listeners: expected a list, got a mapping");
    expect_one("version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs: "
               "[{endpoint: 'h:1'}]\n      pricing: {prompt_per_1m: -1}\n" SUF_M,
               "t.yaml:6:32: providers.models[m].pricing.prompt_per_1m: -1 must not be negative");
    /* issue 19: one learned-state file per process, so a decision may not set it */
    expect_one("version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs: "
               "[{endpoint: 'h:1'}]\nrouting:\n  modelCards: [{name: m}]\n  decisions:\n"
               "    - {name: all, modelRefs: [{model: m}], algorithm: {session: "
               "{learned_state_file: /tmp/x}}}\n",
               "t.yaml:9:86: routing.decisions[all].algorithm.session.learned_state_file: "
               "learned_state_file is global only: set it in global.router.session");
}

/* Keys read with ld_choice: the value's position and the choices. */
static void test_diag_choice_keys(void **st)
{
    expect_one(
        "version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs: "
        "[{endpoint: 'h:1'}]\n      api_format: grpc\n" SUF_M,
        "t.yaml:6:19: providers.models[m].api_format: \"grpc\" is not one of openai|anthropic");
    expect_one(
        "version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs: "
        "[{endpoint: 'h:1'}]\n      responses_mode: proxy\n" SUF_M,
        "t.yaml:6:23: providers.models[m].responses_mode: \"proxy\" is not one of emulate|native");
    cfg_diags_t d;
    cfg_t *c = load("version: v0.3\nproviders:\n  models:\n    - name: m\n      backend_refs: "
                    "[{endpoint: 'h:1'}]\nrouting:\n  modelCards: [{name: m}]\n  decisions:\n"
                    "    - name: all\n      modelRefs: [{model: m}]\n"
                    "      rules: {type: keyword, name: k, on_error: panic}\n",
                    &d);
    bool seen = false;
    for (size_t i = 0; i < d.n; i++)
        seen |= !strcmp(diag(&d, i), "t.yaml:11:49: routing.decisions[all].rules.on_error: "
                                     "\"panic\" is not one of no_match|match|fail");
    assert_true(seen);
    assert_null(c);
    cfg_diags_free(&d);
}

static void test_diag_duplicates_and_references(void **st)
{
    expect_one("version: v0.3\nlisteners:\n  - {name: a, port: 1}\n  - {name: a, port: 2}\n",
               "t.yaml:4:12: listeners[a]: duplicate listener name \"a\"");
    expect_one("version: v0.3\nproviders:\n  models:\n"
               "    - {name: m, backend_refs: [{endpoint: 'h:1'}]}\n"
               "    - {name: m, backend_refs: [{endpoint: 'h:2'}]}\n" SUF_M,
               "t.yaml:5:14: providers.models[m]: duplicate model name \"m\"");
    expect_one("version: v0.3\nproviders:\n  defaults: {default_model: qwen-8b}\n  models:\n"
               "    - {name: qwen-7b, backend_refs: [{endpoint: 'h:1'}]}\n"
               "routing:\n  modelCards: [{name: qwen-7b}]\n",
               "t.yaml:3:29: providers.defaults.default_model: default_model \"qwen-8b\" is not a "
               "declared model (did you mean \"qwen-7b\"?)");
}

static void test_binding_key_env(void **st)
{
    const char *y = "version: v0.3\nglobal:\n  stores:\n    session: {binding_key_env: "
                    "TETHER_TEST_BKEY}\n";
    setenv("TETHER_TEST_BKEY", "0123456789abcdef-shared", 1);
    cfg_diags_t d;
    cfg_t *c = load(y, &d);
    assert_non_null(c);
    assert_int_equal(d.n, 0);
    assert_string_equal(c->global_ext->stores.session.binding_key, "0123456789abcdef-shared");
    cfg_free(c);
    cfg_diags_free(&d);
    /* too short to be a key */
    setenv("TETHER_TEST_BKEY", "tiny-key-9", 1);
    expect_one(y, "t.yaml:4:32: global.stores.session.binding_key_env: the key in "
                  "TETHER_TEST_BKEY is shorter than 16 bytes");
    /* unset: a warning, and each process signs with its own key */
    unsetenv("TETHER_TEST_BKEY");
    c = load(y, &d);
    assert_non_null(c);
    assert_int_equal(d.n, 1);
    assert_null(c->global_ext->stores.session.binding_key);
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_diag_env(void **st)
{
    unsetenv("TETHER_TEST_UNSET");
    expect_one("version: v0.3\nlisteners:\n  - address: x${TETHER_TEST_UNSET}\n",
               "t.yaml:3:15: listeners[0].address: environment variable TETHER_TEST_UNSET is not "
               "set (use ${TETHER_TEST_UNSET:-default} for a default)");
    cfg_diags_t d;
    setenv("TETHER_TEST_PORT", "9001", 1);
    cfg_t *c = load("version: v0.3\nlisteners:\n"
                    "  - {name: '$${x}', port: '${TETHER_TEST_PORT}', address: "
                    "'${TETHER_TEST_UNSET:-1.2.3.4}'}\n",
                    &d);
    assert_non_null(c);
    assert_string_equal(c->listeners[0].name, "${x}");
    assert_int_equal(c->listeners[0].port, 9001);
    assert_string_equal(c->listeners[0].address, "1.2.3.4");
    cfg_free(c);
    cfg_diags_free(&d);
}

static void test_diag_yaml_syntax_and_sorting(void **st)
{
    cfg_diags_t d;
    cfg_t *c = load("version: v0.3\nlisteners: [a\n", &d);
    assert_null(c);
    assert_int_equal(d.n_errors, 1);
    assert_int_equal(d.items[0].line, 3);
    assert_string_equal(d.items[0].message,
                        "YAML syntax error: flow sequence without a closing bracket");
    cfg_diags_free(&d);
    c = load("version: v0.3\nglobal:\n  zzz: 1\nlisteners:\n  - {port: 0}\n", &d);
    assert_null(c);
    assert_int_equal(d.n, 2);
    assert_int_equal(d.items[0].line, 3);
    assert_int_equal(d.items[1].line, 5);
    cfg_diags_free(&d);
}

static void test_old_layout_is_rejected(void **st)
{
    expect_one("version: v0.3\nkeyword_rules: []\n",
               "t.yaml:2:1: keyword_rules: top-level \"keyword_rules\" belongs to the old flat "
               "layout; run: tether config migrate --config t.yaml");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_example_loads_clean),
        cmocka_unit_test(test_unsupported_settings_say_so),
        cmocka_unit_test(test_classifier_batch_settings),
        cmocka_unit_test(test_defaults_of_a_minimal_file),
        cmocka_unit_test(test_global_router_overrides),
        cmocka_unit_test(test_value_units),
        cmocka_unit_test(test_diag_numbers_that_overflow),
        cmocka_unit_test(test_backend_with_port_defaults_and_base_url_port),
        cmocka_unit_test(test_diag_version),
        cmocka_unit_test(test_diag_unknown_field_with_suggestion),
        cmocka_unit_test(test_strict_turns_warnings_into_errors),
        cmocka_unit_test(test_diag_backend_endpoint_and_base_url),
        cmocka_unit_test(test_diag_tracing_endpoint),
        cmocka_unit_test(test_diag_ranges_and_types),
        cmocka_unit_test(test_diag_choice_keys),
        cmocka_unit_test(test_diag_duplicates_and_references),
        cmocka_unit_test(test_diag_env),
        cmocka_unit_test(test_binding_key_env),
        cmocka_unit_test(test_diag_yaml_syntax_and_sorting),
        cmocka_unit_test(test_old_layout_is_rejected),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
