/* providers.c - the `providers` section: defaults, reasoning families and
 * models with their backend_refs (endpoint/base_url split into host, port,
 * TLS and path prefix; provider-based auth defaults; API keys from *_env),
 * pricing and reliability. */
#include "config/load.h"
#include <ctype.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const cfg_schema_t cfg_schema_reasoning_family = {
    "providers.defaults.reasoning_families.<name>",
    (const cfg_field_t[]){{.key = "type",
                           .type = CFG_F_ENUM,
                           .off = offsetof(cfg_reasoning_family_t, type),
                           .choices = "chat_template_kwargs|reasoning_effort|anthropic_thinking",
                           .flags = CFG_FF_REQUIRED,
                           .doc = "how reasoning is switched on upstream"},
                          {.key = "parameter",
                           .type = CFG_F_STR,
                           .off = offsetof(cfg_reasoning_family_t, parameter),
                           .doc = "the parameter name (e.g. enable_thinking, reasoning_effort)"},
                          {0}},
    "A way to turn reasoning on for a model family.",
};

const cfg_schema_t cfg_schema_provider_defaults = {
    "providers.defaults",
    (const cfg_field_t[]){{.key = "default_model",
                           .type = CFG_F_STR,
                           .off = offsetof(cfg_providers_t, default_model),
                           .doc = "model used when no decision matches"},
                          {.key = "default_reasoning_effort",
                           .type = CFG_F_ENUM,
                           .off = offsetof(cfg_providers_t, default_reasoning_effort),
                           .def = "medium",
                           .choices = "none|minimal|low|medium|high|xhigh",
                           .doc = "effort when a modelRef asks for reasoning"},
                          {.key = "reasoning_families",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_reasoning_family,
                           .doc = "map name -> {type, parameter}"},
                          {0}},
    "Provider-wide defaults.",
};

const cfg_schema_t cfg_schema_providers = {
    "providers",
    (const cfg_field_t[]){{.key = "defaults",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_provider_defaults,
                           .doc = "see providers.defaults"},
                          {.key = "models",
                           .type = CFG_F_CUSTOM,
                           .sub = &cfg_schema_model,
                           .doc = "see providers.models[]"},
                          {0}},
    "Upstream models and how to reach them.",
};

const cfg_schema_t cfg_schema_pricing = {
    "providers.models[].pricing",
    (const cfg_field_t[]){{.key = "currency",
                           .type = CFG_F_STR,
                           .off = offsetof(cfg_pricing_t, currency),
                           .def = "USD",
                           .doc = "currency code"},
                          {.key = "prompt_per_1m",
                           .type = CFG_F_DOUBLE,
                           .off = offsetof(cfg_pricing_t, prompt_per_1m),
                           .off2 = offsetof(cfg_pricing_t, has_prompt),
                           .flags = CFG_FF_NONNEG | CFG_FF_HAS,
                           .doc = "price per million prompt tokens"},
                          {.key = "cached_input_per_1m",
                           .type = CFG_F_DOUBLE,
                           .off = offsetof(cfg_pricing_t, cached_input_per_1m),
                           .off2 = offsetof(cfg_pricing_t, has_cached_input),
                           .flags = CFG_FF_NONNEG | CFG_FF_HAS,
                           .doc = "price per million cached prompt tokens"},
                          {.key = "cache_write_per_1m",
                           .type = CFG_F_DOUBLE,
                           .off = offsetof(cfg_pricing_t, cache_write_per_1m),
                           .off2 = offsetof(cfg_pricing_t, has_cache_write),
                           .flags = CFG_FF_NONNEG | CFG_FF_HAS,
                           .doc = "price per million cache-write tokens"},
                          {.key = "completion_per_1m",
                           .type = CFG_F_DOUBLE,
                           .off = offsetof(cfg_pricing_t, completion_per_1m),
                           .off2 = offsetof(cfg_pricing_t, has_completion),
                           .flags = CFG_FF_NONNEG | CFG_FF_HAS,
                           .doc = "price per million completion tokens"},
                          {0}},
    "Token prices, used by cost-aware selection and replay.",
};

const cfg_schema_t cfg_schema_backend_ref = {
    "providers.models[].backend_refs[]",
    (const cfg_field_t[]){
        {.key = "name",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, name),
         .doc = "backend name (default backend-N)"},
        {.key = "endpoint",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, endpoint),
         .doc = "host:port or http(s)://host:port; the client path /v1/... is forwarded"},
        {.key = "base_url",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, base_url),
         .doc = "API root, e.g. https://api.anthropic.com/v1; chat_path is appended"},
        {.key = "protocol",
         .type = CFG_F_ENUM,
         .off = offsetof(cfg_backend_ref_t, protocol),
         .choices = "http|https",
         .doc = "from the URL scheme, else http"},
        {.key = "weight",
         .type = CFG_F_INT,
         .off = offsetof(cfg_backend_ref_t, weight),
         .def = "1",
         .min = 0,
         .max = 1000000,
         .doc = "load-balancing weight; 0 drains"},
        {.key = "provider",
         .type = CFG_F_ENUM,
         .off = offsetof(cfg_backend_ref_t, provider),
         .def = "openai",
         .choices = "openai|anthropic|vllm|generic",
         .doc = "sets the auth and path defaults"},
        {.key = "auth_header",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, auth_header),
         .doc = "Authorization (anthropic: x-api-key)"},
        {.key = "auth_prefix",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, auth_prefix),
         .doc = "\"Bearer \" (anthropic: none)"},
        {.key = "api_key_env",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, api_key_env),
         .doc = "environment variable holding the upstream key; unset disables the backend"},
        {.key = "extra_headers",
         .type = CFG_F_CUSTOM,
         .doc = "map of headers added upstream (anthropic adds anthropic-version: 2023-06-01)"},
        {.key = "chat_path",
         .type = CFG_F_STR,
         .off = offsetof(cfg_backend_ref_t, chat_path),
         .doc = "/chat/completions (anthropic: /messages)"},
        {.key = "forward_client_credentials",
         .type = CFG_F_BOOL,
         .off = offsetof(cfg_backend_ref_t, forward_client_credentials),
         .def = "false",
         .doc = "pass the client's authorization, x-api-key, cookie and api-key headers "
                "(ignored with api_key_env; never the listener's own key)"},
        {0}},
    "Where a model is served. Exactly one of endpoint and base_url.",
};

const cfg_schema_t cfg_schema_timeouts = {
    "providers.models[].reliability.timeouts",
    (const cfg_field_t[]){{.key = "connect",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_reliability_t, connect_timeout_ms),
                           .def = "5s",
                           .doc = "TCP+TLS connect"},
                          {.key = "first_byte",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_reliability_t, first_byte_timeout_ms),
                           .def = "120s",
                           .doc = "until the first response byte"},
                          {.key = "stream_idle",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_reliability_t, stream_idle_timeout_ms),
                           .def = "300s",
                           .doc = "between streamed chunks"},
                          {.key = "total",
                           .type = CFG_F_DURATION,
                           .off = offsetof(cfg_reliability_t, total_timeout_ms),
                           .def = "0",
                           .doc = "whole upstream exchange; 0 = bound by the listener timeout"},
                          {0}},
    "Upstream timeouts.",
};

const cfg_schema_t cfg_schema_health_check = {
    "providers.models[].reliability.health_check",
    (const cfg_field_t[]){
        {.key = "path",
         .type = CFG_F_STR,
         .off = offsetof(cfg_reliability_t, health_check.path),
         .doc = "HTTP path probed with GET on each backend (2xx = healthy; a failing "
                "backend takes no requests until a probe passes); unset "
                "disables active checks"},
        {.key = "interval",
         .type = CFG_F_DURATION,
         .off = offsetof(cfg_reliability_t, health_check.interval_ms),
         .def = "10s",
         .doc = "probe interval"},
        {.key = "timeout",
         .type = CFG_F_DURATION,
         .off = offsetof(cfg_reliability_t, health_check.timeout_ms),
         .def = "2s",
         .doc = "probe timeout"},
        {0}},
    "Active health checks.",
};

const cfg_schema_t cfg_schema_reliability = {
    "providers.models[].reliability",
    (const cfg_field_t[]){
        {.key = "retry_count",
         .type = CFG_F_INT,
         .off = offsetof(cfg_reliability_t, retry_count),
         .def = "1",
         .min = 0,
         .max = 5,
         .doc = "retries before the first byte (0-5)"},
        {.key = "retry_on",
         .type = CFG_F_CUSTOM,
         .doc = "[connect_failure, reset, 502, 503, 504]; also 429, 500, 529, timeout"},
        {.key = "timeouts",
         .type = CFG_F_SECTION,
         .off = 0,
         .sub = &cfg_schema_timeouts,
         .doc = "see reliability.timeouts"},
        {.key = "consecutive_failures",
         .type = CFG_F_INT,
         .off = offsetof(cfg_reliability_t, consecutive_failures),
         .def = "5",
         .min = 1,
         .max = 1000,
         .doc = "failures in a row (connect, reset, timeout, 5xx) that eject a backend"},
        {.key = "ejection_time",
         .type = CFG_F_DURATION,
         .off = offsetof(cfg_reliability_t, ejection_time_ms),
         .def = "30s",
         .doc = "how long an ejected backend rests (times the ejections in a row, at "
                "most 8x); the round robin and the fallback skip it"},
        {.key = "lb_policy",
         .type = CFG_F_ENUM,
         .off = offsetof(cfg_reliability_t, lb_policy),
         .def = "weighted",
         .choices = "weighted|least_request",
         .doc = "backend choice: smooth weighted round robin, or the fewest requests in "
                "flight per unit of weight"},
        {.key = "health_check",
         .type = CFG_F_SECTION,
         .off = 0,
         .sub = &cfg_schema_health_check,
         .doc = "see reliability.health_check"},
        {0}},
    "Retries, timeouts, outlier ejection and load balancing for one model.",
};

const cfg_schema_t cfg_schema_model = {
    "providers.models[]",
    (const cfg_field_t[]){
        {.key = "name",
         .type = CFG_F_STR,
         .off = offsetof(cfg_model_t, name),
         .flags = CFG_FF_REQUIRED,
         .doc = "the name clients and decisions use (needs a model card)"},
        {.key = "provider_model_id",
         .type = CFG_F_STR,
         .off = offsetof(cfg_model_t, provider_model_id),
         .doc = "the upstream model id (= name)"},
        {.key = "api_format", .type = CFG_F_CUSTOM, .doc = "openai | anthropic (openai)"},
        {.key = "responses_mode", .type = CFG_F_CUSTOM, .doc = "emulate | native (emulate)"},
        {.key = "reasoning_family",
         .type = CFG_F_STR,
         .off = offsetof(cfg_model_t, reasoning_family),
         .doc = "a key of providers.defaults.reasoning_families"},
        {.key = "pricing",
         .type = CFG_F_SECTION,
         .off = offsetof(cfg_model_t, pricing),
         .sub = &cfg_schema_pricing,
         .doc = "see providers.models[].pricing"},
        {.key = "backend_refs",
         .type = CFG_F_CUSTOM,
         .sub = &cfg_schema_backend_ref,
         .flags = CFG_FF_REQUIRED,
         .doc = "see providers.models[].backend_refs[]"},
        {.key = "reliability",
         .type = CFG_F_SECTION,
         .off = offsetof(cfg_model_t, reliability),
         .sub = &cfg_schema_reliability,
         .doc = "see providers.models[].reliability"},
        {0}},
    "One routable model.",
};

/* ---- backend addresses ---- */

static bool parse_hostport(ld_t *l, const cfg_node_t *at, const char *s, size_t n,
                           cfg_backend_ref_t *b, int default_port)
{
    const char *colon = NULL;
    const char *host = s;
    size_t hl;
    if (n && s[0] == '[') { /* [v6]:port */
        const char *rb = memchr(s, ']', n);
        if (!rb) goto bad;
        host = s + 1;
        hl = (size_t)(rb - s - 1);
        if ((size_t)(rb - s) + 1 < n) {
            if (rb[1] != ':') goto bad;
            colon = rb + 1;
        }
    } else {
        colon = memrchr(s, ':', n);
        hl = colon ? (size_t)(colon - s) : n;
    }
    if (hl == 0) goto bad;
    int port = default_port;
    if (colon) {
        const char *p = colon + 1;
        size_t pl = n - (size_t)(p - s);
        if (pl == 0 || pl > 5) goto bad;
        port = 0;
        for (size_t i = 0; i < pl; i++) {
            if (p[i] < '0' || p[i] > '9') goto bad;
            port = port * 10 + (p[i] - '0');
        }
        if (port < 1 || port > 65535) goto bad;
    }
    if (port <= 0) goto bad;
    b->host = arena_strndup(l->a, host, hl);
    b->port = port;
    return true;
bad:
    ld_err(l, at, "invalid address \"%s\" (expected host:port or http(s)://host[:port])", s);
    return false;
}

/* "http(s)://host[:port][/path]" or, when allow_bare, "host:port". */
static bool parse_url(ld_t *l, const cfg_node_t *at, const char *url, bool is_base,
                      cfg_backend_ref_t *b)
{
    const char *rest = url;
    bool tls = false, has_scheme = false;
    if (!strncmp(url, "https://", 8))
        tls = true, has_scheme = true, rest = url + 8;
    else if (!strncmp(url, "http://", 7))
        has_scheme = true, rest = url + 7;
    else if (strstr(url, "://")) {
        ld_err(l, at, "unsupported URL scheme in \"%s\" (use http or https)", url);
        return false;
    }
    if (is_base && !has_scheme) {
        ld_err(l, at, "base_url \"%s\" must start with http:// or https://", url);
        return false;
    }
    if (!has_scheme && b->protocol) tls = !strcmp(b->protocol, "https");
    const char *slash = strchr(rest, '/');
    size_t hn = slash ? (size_t)(slash - rest) : strlen(rest);
    if (!parse_hostport(l, at, rest, hn, b, tls ? 443 : (has_scheme ? 80 : -1))) return false;
    b->tls = tls;
    b->protocol = arena_strdup(l->a, tls ? "https" : "http");
    const char *path = slash ? slash : "";
    size_t pl = strlen(path);
    while (pl && path[pl - 1] == '/')
        pl--;
    if (!is_base && pl) {
        ld_err(l, at, "endpoint \"%s\" must not have a path (use base_url for an API root)", url);
        return false;
    }
    b->path_prefix = arena_strndup(l->a, path, pl);
    return true;
}

/* An extra header must be a token name with a value free of control bytes
 * (a CR or LF would add lines to the upstream request); framing and
 * hop-by-hop headers belong to tether and are refused. */
static bool header_ok(ld_t *l, const cfg_node_t *at, const char *name, const char *v)
{
    static const char *const owned[] = {
        "host", "content-length", "content-type", "connection", "keep-alive",   "transfer-encoding",
        "te",   "trailer",        "upgrade",      "expect",     "x-request-id", "content-encoding"};
    bool token = *name != 0;
    for (const char *c = name; *c; c++)
        if (!isalnum((unsigned char)*c) && !strchr("!#$%&'*+-.^_`|~", *c)) token = false;
    if (!token) {
        ld_err(l, at, "header name \"%s\" is not a valid HTTP token", name);
        return false;
    }
    for (const char *c = v ? v : ""; *c; c++)
        if (((unsigned char)*c < 0x20 && *c != '\t') || *c == 0x7f) {
            ld_err(l, at, "header %s: the value contains a control character", name);
            return false;
        }
    for (size_t i = 0; i < sizeof owned / sizeof *owned; i++)
        if (!strcasecmp(name, owned[i]) || !strncasecmp(name, "proxy-", 6) ||
            !strncasecmp(name, "x-tether-", 9)) {
            ld_err(l, at, "header %s is set by tether and cannot be configured", name);
            return false;
        }
    return true;
}

static void load_headers(ld_t *l, const cfg_node_t *n, cfg_backend_ref_t *b, bool anthropic)
{
    size_t cnt = (n && n->kind == CFG_NODE_MAP) ? n->n : 0;
    b->extra_headers = arena_calloc(l->a, (cnt + 1) * sizeof(cfg_kv_t));
    if (n && !cfg_node_is_null(n) && ld_expect_map(l, n))
        for (size_t i = 0; i < n->n; i++) {
            size_t s = ld_push_key(l, n->keys[i]->str);
            char *v;
            if (ld_str(l, n->items[i], &v) && header_ok(l, n->items[i], n->keys[i]->str, v)) {
                b->extra_headers[b->n_extra_headers].name = arena_strdup(l->a, n->keys[i]->str);
                b->extra_headers[b->n_extra_headers++].value = v ? v : arena_strdup(l->a, "");
            }
            ld_pop(l, s);
        }
    if (anthropic) {
        for (size_t i = 0; i < b->n_extra_headers; i++)
            if (!strcasecmp(b->extra_headers[i].name, "anthropic-version")) return;
        b->extra_headers[b->n_extra_headers].name = arena_strdup(l->a, "anthropic-version");
        b->extra_headers[b->n_extra_headers++].value = arena_strdup(l->a, "2023-06-01");
    }
}

static void load_backend(ld_t *l, const cfg_node_t *n, size_t idx, cfg_backend_ref_t *b,
                         cfg_model_t *m)
{
    if (!ld_section(l, n, &cfg_schema_backend_ref, b) || !n) return;
    if (!b->name) b->name = arena_sprintf(l->a, "backend-%zu", idx + 1);
    const cfg_node_t *ep = cfg_node_get(n, "endpoint"), *bu = cfg_node_get(n, "base_url");
    if (b->endpoint && b->base_url)
        ld_err(l, bu, "backend_ref has both endpoint and base_url (use one)");
    else if (!b->endpoint && !b->base_url)
        ld_err(l, n, "backend_ref needs an endpoint or a base_url");
    else if (b->endpoint) {
        size_t s = ld_push_key(l, "endpoint");
        parse_url(l, ep, b->endpoint, false, b);
        ld_pop(l, s);
    } else {
        size_t s = ld_push_key(l, "base_url");
        parse_url(l, bu, b->base_url, true, b);
        ld_pop(l, s);
    }
    /* An anthropic-format model behind a backend without an explicit provider
     * talks to Anthropic: use its auth defaults. */
    if (!cfg_node_get(n, "provider") && m->api_format == CFG_API_ANTHROPIC)
        b->provider = arena_strdup(l->a, "anthropic");
    bool anth = b->provider && !strcmp(b->provider, "anthropic");
    if (!b->auth_header) b->auth_header = arena_strdup(l->a, anth ? "x-api-key" : "Authorization");
    if (!b->auth_prefix) b->auth_prefix = arena_strdup(l->a, anth ? "" : "Bearer ");
    if (!b->chat_path) b->chat_path = arena_strdup(l->a, anth ? "/messages" : "/chat/completions");
    if (!b->path_prefix) b->path_prefix = arena_strdup(l->a, "");
    if (!b->protocol) b->protocol = arena_strdup(l->a, "http");
    size_t s = ld_push_key(l, "extra_headers");
    load_headers(l, cfg_node_get(n, "extra_headers"), b, anth);
    ld_pop(l, s);
    if (b->api_key_env) {
        const char *v = ld_env_secret(l, b->api_key_env);
        bool clean = true;
        for (const char *c = v ? v : ""; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f) clean = false;
        if (v && !clean) {
            size_t s2 = ld_push_key(l, "api_key_env");
            ld_warn(l, cfg_node_get(n, "api_key_env"),
                    "environment variable %s holds a control character: backend \"%s\" is "
                    "unavailable",
                    b->api_key_env, b->name);
            ld_pop(l, s2);
        } else if (v)
            b->api_key = arena_strdup(l->a, v);
        else if (!l->seal_env) {
            size_t s2 = ld_push_key(l, "api_key_env");
            ld_warn(l, cfg_node_get(n, "api_key_env"),
                    "environment variable %s is not set: backend \"%s\" is unavailable",
                    b->api_key_env, b->name);
            ld_pop(l, s2);
        }
    }
    if (b->forward_client_credentials && b->api_key_env) {
        size_t s3 = ld_push_key(l, "forward_client_credentials");
        ld_warn(l, cfg_node_get(n, "forward_client_credentials"),
                "no effect: backend \"%s\" sends its own key (api_key_env), never the client's",
                b->name);
        ld_pop(l, s3);
    }
}

static const struct {
    const char *name;
    unsigned bit;
} retry_names[] = {{"connect_failure", CFG_RETRY_CONNECT},
                   {"reset", CFG_RETRY_RESET},
                   {"502", CFG_RETRY_502},
                   {"503", CFG_RETRY_503},
                   {"504", CFG_RETRY_504},
                   {"429", CFG_RETRY_429},
                   {"500", CFG_RETRY_500},
                   {"529", CFG_RETRY_529},
                   {"timeout", CFG_RETRY_TIMEOUT}};

static void load_retry_on(ld_t *l, const cfg_node_t *n, cfg_reliability_t *r)
{
    r->retry_on =
        CFG_RETRY_CONNECT | CFG_RETRY_RESET | CFG_RETRY_502 | CFG_RETRY_503 | CFG_RETRY_504;
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "retry_on");
    if (ld_expect_seq(l, n)) {
        unsigned bits = 0;
        const char *cands[9];
        for (size_t k = 0; k < 9; k++)
            cands[k] = retry_names[k].name;
        for (size_t i = 0; i < n->n; i++) {
            const cfg_node_t *it = n->items[i];
            size_t s = ld_push_index(l, i);
            char *v;
            if (ld_str(l, it, &v) && v) {
                size_t k = 0;
                while (k < 9 && strcmp(retry_names[k].name, v))
                    k++;
                if (k < 9)
                    bits |= retry_names[k].bit;
                else {
                    const char *sug = cfg_suggest(v, cands, 9);
                    ld_err(l, it, "unknown retry condition \"%s\"%s%s%s", v,
                           sug ? " (did you mean \"" : "", sug ? sug : "", sug ? "\"?)" : "");
                }
            }
            ld_pop(l, s);
        }
        r->retry_on = bits;
    }
    ld_pop(l, s0);
}

static void load_model(ld_t *l, const cfg_node_t *n, cfg_model_t *m)
{
    if (!ld_section(l, n, &cfg_schema_model, m) || !n) return;
    const cfg_node_t *af = cfg_node_get(n, "api_format");
    if (af) {
        size_t s = ld_push_key(l, "api_format");
        char *v;
        if (ld_str(l, af, &v) && v) {
            if (!strcmp(v, "anthropic"))
                m->api_format = CFG_API_ANTHROPIC;
            else if (strcmp(v, "openai"))
                ld_err(l, af, "\"%s\" is not one of openai|anthropic", v);
        }
        ld_pop(l, s);
    }
    const cfg_node_t *rm = cfg_node_get(n, "responses_mode");
    if (rm) {
        size_t s = ld_push_key(l, "responses_mode");
        char *v;
        if (ld_str(l, rm, &v) && v) {
            if (!strcmp(v, "native"))
                m->responses_native = true;
            else if (strcmp(v, "emulate"))
                ld_err(l, rm, "\"%s\" is not one of emulate|native", v);
        }
        ld_pop(l, s);
    }
    if (!m->provider_model_id && m->name) m->provider_model_id = arena_strdup(l->a, m->name);
    const cfg_node_t *rel = cfg_node_get(n, "reliability");
    size_t s = ld_push_key(l, "reliability");
    load_retry_on(l, rel && rel->kind == CFG_NODE_MAP ? cfg_node_get(rel, "retry_on") : NULL,
                  &m->reliability);
    ld_pop(l, s);
    const cfg_node_t *br = cfg_node_get(n, "backend_refs");
    if (!br) return;
    s = ld_push_key(l, "backend_refs");
    if (ld_expect_seq(l, br)) {
        if (br->n == 0) ld_err(l, br, "a model needs at least one backend_ref");
        m->backend_refs = arena_calloc(l->a, (br->n + 1) * sizeof(cfg_backend_ref_t));
        for (size_t i = 0; i < br->n; i++) {
            size_t si = ld_push_item(l, br->items[i], i);
            cfg_backend_ref_t *b = &m->backend_refs[m->n_backend_refs++];
            load_backend(l, br->items[i], i, b, m);
            for (size_t j = 0; j + 1 < m->n_backend_refs; j++)
                if (b->name && m->backend_refs[j].name && !strcmp(b->name, m->backend_refs[j].name))
                    ld_err(l, br->items[i], "duplicate backend_ref name \"%s\"", b->name);
            ld_pop(l, si);
        }
    }
    ld_pop(l, s);
}

static void load_families(ld_t *l, const cfg_node_t *n, cfg_providers_t *p)
{
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "reasoning_families");
    if (ld_expect_map(l, n)) {
        p->reasoning_families = arena_calloc(l->a, (n->n + 1) * sizeof(cfg_reasoning_family_t));
        for (size_t i = 0; i < n->n; i++) {
            size_t s = ld_push_key(l, n->keys[i]->str);
            cfg_reasoning_family_t *f = &p->reasoning_families[p->n_reasoning_families++];
            ld_section(l, n->items[i], &cfg_schema_reasoning_family, f);
            f->name = arena_strdup(l->a, n->keys[i]->str);
            ld_pop(l, s);
        }
    }
    ld_pop(l, s0);
}

void cfg_load_providers(ld_t *l, const cfg_node_t *n, cfg_t *c)
{
    cfg_providers_t *p = &c->providers;
    size_t s0 = ld_push_key(l, "providers");
    ld_defaults(l, &cfg_schema_provider_defaults, p);
    if (!n || cfg_node_is_null(n) || !ld_expect_map(l, n)) {
        ld_pop(l, s0);
        return;
    }
    ld_check_keys(l, n, &cfg_schema_providers);
    const cfg_node_t *d = cfg_node_get(n, "defaults");
    if (d) {
        size_t s = ld_push_key(l, "defaults");
        ld_section(l, d, &cfg_schema_provider_defaults, p);
        if (d->kind == CFG_NODE_MAP) load_families(l, cfg_node_get(d, "reasoning_families"), p);
        ld_pop(l, s);
    }
    const cfg_node_t *ms = cfg_node_get(n, "models");
    size_t s = ld_push_key(l, "models");
    if (ms && !cfg_node_is_null(ms) && ld_expect_seq(l, ms)) {
        p->models = arena_calloc(l->a, (ms->n + 1) * sizeof(cfg_model_t));
        for (size_t i = 0; i < ms->n; i++) {
            size_t si = ld_push_item(l, ms->items[i], i);
            cfg_model_t *m = &p->models[p->n_models++];
            load_model(l, ms->items[i], m);
            const cfg_node_t *nn = cfg_node_get(ms->items[i], "name");
            for (size_t j = 0; j + 1 < p->n_models && m->name; j++)
                if (p->models[j].name && !strcmp(p->models[j].name, m->name))
                    ld_err(l, nn, "duplicate model name \"%s\"", m->name);
            ld_pop(l, si);
        }
    }
    ld_pop(l, s);
    ld_pop(l, s0);
}
