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

CFG_SCHEMA(cfg_schema_reasoning_family, "providers.defaults.reasoning_families.<name>",
           "A way to turn reasoning on for a model family.",
           CFG_FENUM_REQ(cfg_reasoning_family_t, "type", type,
                         "chat_template_kwargs|reasoning_effort|anthropic_thinking",
                         "how reasoning is switched on upstream"),
           CFG_FSTR(cfg_reasoning_family_t, "parameter", parameter, NULL,
                    "the parameter name (e.g. enable_thinking, reasoning_effort)"));

CFG_SCHEMA(cfg_schema_provider_defaults, "providers.defaults", "Provider-wide defaults.",
           CFG_FSTR(cfg_providers_t, "default_model", default_model, NULL,
                    "model used when no decision matches"),
           CFG_FENUM(cfg_providers_t, "default_reasoning_effort", default_reasoning_effort,
                     "medium", "none|minimal|low|medium|high|xhigh",
                     "effort when a modelRef asks for reasoning"),
           CFG_FCUSTOM("reasoning_families", &cfg_schema_reasoning_family,
                       "map name -> {type, parameter}"));

CFG_SCHEMA(cfg_schema_providers, "providers", "Upstream models and how to reach them.",
           CFG_FCUSTOM("defaults", &cfg_schema_provider_defaults, "see providers.defaults"),
           CFG_FCUSTOM("models", &cfg_schema_model, "see providers.models[]"));

CFG_SCHEMA(cfg_schema_pricing, "providers.models[].pricing",
           "Token prices, used by cost-aware selection and replay.",
           CFG_FSTR(cfg_pricing_t, "currency", currency, "USD", "currency code"),
           CFG_FNUM_HAS(cfg_pricing_t, "prompt_per_1m", prompt_per_1m, has_prompt,
                        "price per million prompt tokens"),
           CFG_FNUM_HAS(cfg_pricing_t, "cached_input_per_1m", cached_input_per_1m, has_cached_input,
                        "price per million cached prompt tokens"),
           CFG_FNUM_HAS(cfg_pricing_t, "cache_write_per_1m", cache_write_per_1m, has_cache_write,
                        "price per million cache-write tokens"),
           CFG_FNUM_HAS(cfg_pricing_t, "completion_per_1m", completion_per_1m, has_completion,
                        "price per million completion tokens"));

CFG_SCHEMA(
    cfg_schema_backend_ref, "providers.models[].backend_refs[]",
    "Where a model is served. Exactly one of endpoint and base_url.",
    CFG_FSTR(cfg_backend_ref_t, "name", name, NULL, "backend name (default backend-N)"),
    CFG_FSTR(cfg_backend_ref_t, "endpoint", endpoint, NULL,
             "host:port or http(s)://host:port; the client path /v1/... is forwarded"),
    CFG_FSTR(cfg_backend_ref_t, "base_url", base_url, NULL,
             "API root, e.g. https://api.anthropic.com/v1; chat_path is appended"),
    CFG_FENUM(cfg_backend_ref_t, "protocol", protocol, NULL, "http|https",
              "from the URL scheme, else http"),
    CFG_FINT(cfg_backend_ref_t, "weight", weight, "1", 0, 1000000,
             "load-balancing weight; 0 drains"),
    CFG_FENUM(cfg_backend_ref_t, "provider", provider, "openai", "openai|anthropic|vllm|generic",
              "sets the auth and path defaults"),
    CFG_FSTR(cfg_backend_ref_t, "auth_header", auth_header, NULL,
             "Authorization (anthropic: x-api-key)"),
    CFG_FSTR(cfg_backend_ref_t, "auth_prefix", auth_prefix, NULL, "\"Bearer \" (anthropic: none)"),
    CFG_FSTR(cfg_backend_ref_t, "api_key_env", api_key_env, NULL,
             "environment variable holding the upstream key; unset disables the backend"),
    CFG_FCUSTOM("extra_headers", NULL,
                "map of headers added upstream (anthropic adds anthropic-version: 2023-06-01)"),
    CFG_FSTR(cfg_backend_ref_t, "chat_path", chat_path, NULL,
             "/chat/completions (anthropic: /messages)"),
    CFG_FBOOL(cfg_backend_ref_t, "forward_client_credentials", forward_client_credentials, "false",
              "pass the client's authorization, x-api-key, cookie and api-key headers "
              "(ignored with api_key_env; never the listener's own key)"));

CFG_SCHEMA(cfg_schema_timeouts, "providers.models[].reliability.timeouts", "Upstream timeouts.",
           CFG_FDUR(cfg_reliability_t, "connect", connect_timeout_ms, "5s", "TCP+TLS connect"),
           CFG_FDUR(cfg_reliability_t, "first_byte", first_byte_timeout_ms, "120s",
                    "until the first response byte"),
           CFG_FDUR(cfg_reliability_t, "stream_idle", stream_idle_timeout_ms, "300s",
                    "between streamed chunks"),
           CFG_FDUR(cfg_reliability_t, "total", total_timeout_ms, "0",
                    "whole upstream exchange; 0 = bound by the listener timeout"));

CFG_SCHEMA(cfg_schema_health_check, "providers.models[].reliability.health_check",
           "Active health checks.",
           CFG_FSTR(cfg_reliability_t, "path", health_check.path, NULL,
                    "HTTP path probed with GET on each backend (2xx = healthy; a failing "
                    "backend takes no requests until a probe passes); unset "
                    "disables active checks"),
           CFG_FDUR(cfg_reliability_t, "interval", health_check.interval_ms, "10s",
                    "probe interval"),
           CFG_FDUR(cfg_reliability_t, "timeout", health_check.timeout_ms, "2s", "probe timeout"));

CFG_SCHEMA(cfg_schema_reliability, "providers.models[].reliability",
           "Retries, timeouts, outlier ejection and load balancing for one model.",
           CFG_FINT(cfg_reliability_t, "retry_count", retry_count, "1", 0, 5,
                    "retries before the first byte (0-5)"),
           CFG_FCUSTOM("retry_on", NULL,
                       "[connect_failure, reset, 502, 503, 504]; also 429, 500, 529, timeout"),
           CFG_FSUB_FLAT("timeouts", cfg_schema_timeouts, "see reliability.timeouts"),
           CFG_FINT(cfg_reliability_t, "consecutive_failures", consecutive_failures, "5", 1, 1000,
                    "failures in a row (connect, reset, timeout, 5xx) that eject a backend"),
           CFG_FDUR(cfg_reliability_t, "ejection_time", ejection_time_ms, "30s",
                    "how long an ejected backend rests (times the ejections in a row, at "
                    "most 8x); the round robin and the fallback skip it"),
           CFG_FENUM(cfg_reliability_t, "lb_policy", lb_policy, "weighted",
                     "weighted|least_request",
                     "backend choice: smooth weighted round robin, or the fewest requests in "
                     "flight per unit of weight"),
           CFG_FSUB_FLAT("health_check", cfg_schema_health_check, "see reliability.health_check"));

CFG_SCHEMA(cfg_schema_model, "providers.models[]", "One routable model.",
           CFG_FSTR_REQ(cfg_model_t, "name", name,
                        "the name clients and decisions use (needs a model card)"),
           CFG_FSTR(cfg_model_t, "provider_model_id", provider_model_id, NULL,
                    "the upstream model id (= name)"),
           CFG_FCUSTOM("api_format", NULL, "openai | anthropic (openai)"),
           CFG_FCUSTOM("responses_mode", NULL, "emulate | native (emulate)"),
           CFG_FCUSTOM("endpoints", NULL,
                       "client endpoints the model serves: chat, embeddings, completions ([chat])"),
           CFG_FSTR(cfg_model_t, "reasoning_family", reasoning_family, NULL,
                    "a key of providers.defaults.reasoning_families"),
           CFG_FSUB(cfg_model_t, "pricing", pricing, cfg_schema_pricing,
                    "see providers.models[].pricing"),
           {.key = "backend_refs",
            .type = CFG_F_CUSTOM,
            .sub = &cfg_schema_backend_ref,
            .flags = CFG_FF_REQUIRED,
            .doc = "see providers.models[].backend_refs[]"},
           CFG_FSUB(cfg_model_t, "reliability", reliability, cfg_schema_reliability,
                    "see providers.models[].reliability"));

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

/* A name a list may hold and the bit it stands for. */
typedef struct name_bit {
    const char *name;
    unsigned bit;
} name_bit_t;

/* The bits of the names listed in seq (n known ones in names): an item that
 * is not a string is reported by ld_str, an unknown name by unknown, with
 * the closest known name (or NULL). */
static unsigned name_bits(ld_t *l, const cfg_node_t *seq, const name_bit_t *names, size_t n,
                          void (*unknown)(ld_t *l, const cfg_node_t *at, const char *v,
                                          const char *sug))
{
    const char *cands[16];
    for (size_t k = 0; k < n && k < 16; k++)
        cands[k] = names[k].name;
    unsigned bits = 0;
    for (size_t i = 0; i < seq->n; i++) {
        const cfg_node_t *it = seq->items[i];
        size_t s = ld_push_index(l, i);
        char *v;
        if (ld_str(l, it, &v) && v) {
            size_t k = 0;
            while (k < n && strcmp(names[k].name, v))
                k++;
            if (k < n)
                bits |= names[k].bit;
            else
                unknown(l, it, v, cfg_suggest(v, cands, n < 16 ? n : 16));
        }
        ld_pop(l, s);
    }
    return bits;
}

static const name_bit_t retry_names[] = {{"connect_failure", CFG_RETRY_CONNECT},
                                         {"reset", CFG_RETRY_RESET},
                                         {"502", CFG_RETRY_502},
                                         {"503", CFG_RETRY_503},
                                         {"504", CFG_RETRY_504},
                                         {"429", CFG_RETRY_429},
                                         {"500", CFG_RETRY_500},
                                         {"529", CFG_RETRY_529},
                                         {"timeout", CFG_RETRY_TIMEOUT}};

static void unknown_retry(ld_t *l, const cfg_node_t *at, const char *v, const char *sug)
{
    ld_err(l, at, "unknown retry condition \"%s\"%s%s%s", v, sug ? " (did you mean \"" : "",
           sug ? sug : "", sug ? "\"?)" : "");
}

static void load_retry_on(ld_t *l, const cfg_node_t *n, cfg_reliability_t *r)
{
    r->retry_on =
        CFG_RETRY_CONNECT | CFG_RETRY_RESET | CFG_RETRY_502 | CFG_RETRY_503 | CFG_RETRY_504;
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "retry_on");
    if (ld_expect_seq(l, n)) r->retry_on = name_bits(l, n, retry_names, 9, unknown_retry);
    ld_pop(l, s0);
}

static const name_bit_t ep_names[] = {
    {"chat", CFG_EP_CHAT},
    {"embeddings", CFG_EP_EMBEDDINGS},
    {"completions", CFG_EP_COMPLETIONS},
};

static void unknown_endpoint(ld_t *l, const cfg_node_t *at, const char *v, const char *sug)
{
    ld_err(l, at, "unknown endpoint \"%s\" (valid: chat, embeddings, completions)%s%s%s", v,
           sug ? "; did you mean \"" : "", sug ? sug : "", sug ? "\"?" : "");
}

/* endpoints: a non-empty list of endpoint names; [chat] when absent. */
static void load_endpoints(ld_t *l, const cfg_node_t *n, cfg_model_t *m)
{
    m->endpoints = CFG_EP_CHAT;
    if (!n || cfg_node_is_null(n)) return;
    size_t s0 = ld_push_key(l, "endpoints");
    if (ld_expect_seq(l, n)) {
        if (n->n == 0)
            ld_err(l, n, "endpoints is empty: list at least one of %s",
                   "chat, embeddings, completions");
        unsigned bits = name_bits(l, n, ep_names, 3, unknown_endpoint);
        if (n->n) m->endpoints = bits;
    }
    ld_pop(l, s0);
}

static void load_model(ld_t *l, const cfg_node_t *n, cfg_model_t *m)
{
    if (!ld_section(l, n, &cfg_schema_model, m) || !n) return;
    if (ld_choice(l, n, "api_format", "openai|anthropic") == 1) m->api_format = CFG_API_ANTHROPIC;
    if (ld_choice(l, n, "responses_mode", "emulate|native") == 1) m->responses_native = true;
    if (!m->provider_model_id && m->name) m->provider_model_id = arena_strdup(l->a, m->name);
    load_endpoints(l, cfg_node_get(n, "endpoints"), m);
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
