/* global_ext.c - tables and loaders for global.router.session (SPEC 9.10),
 * global.stores, global.services (router_replay, metrics, management_api,
 * authz) and global.model_catalog (embeddings, classifiers, kbs). */
#include "config/family.h"
#include "config/global.h"
#include "config/load.h"
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#define S cfg_session_t
CFG_SCHEMA(cfg_schema_session_identity, "global.router.session.identity",
           "How a request is tied to a session (SPEC 9.1).",
           CFG_FLIST(S, "headers", identity.headers,
                     "[x-session-id, x-conversation-id, x-claude-code-session-id]",
                     "request headers that carry a session id, in order"),
           CFG_FSTR(S, "codex_metadata_header", identity.codex_metadata_header,
                    "x-codex-turn-metadata", "Codex turn metadata header"),
           CFG_FLIST(S, "body_fields", identity.body_fields,
                     "[prompt_cache_key, metadata.session_id, metadata.user_id]",
                     "body fields that carry a session id"),
           CFG_FBOOL(S, "fingerprint", identity.fingerprint, "true",
                     "fall back to a conversation-prefix fingerprint"),
           CFG_FI64(S, "max_id_bytes", identity.max_id_bytes, "256", 1, 65536,
                    "longest id accepted"));

CFG_SCHEMA(
    cfg_schema_session, "global.router.session",
    "Session policy (SPEC 9.10); algorithm.session overrides it per decision.",
    CFG_FBOOL(S, "enabled", enabled, "true", "session-aware routing on/off"),
    CFG_FENUM(S, "mode", mode, "enforce", "enforce|observe_only|bypass",
              "enforce: the policy's verdict routes; observe_only: the policy runs and its verdict "
              "is recorded, but the turn is routed per request (no lock or switch enforced); "
              "bypass: the policy is skipped, the turn is routed per request"),
    /* identity's table uses offsets from cfg_session_t, so it sits at offset 0 */
    CFG_FSUB_FLAT("identity", cfg_schema_session_identity, "see global.router.session.identity"),
    CFG_FI64(S, "ttl_seconds", ttl_seconds, "86400", 0, 31536000, "session memory lifetime"),
    CFG_FI64(S, "max_sessions", max_sessions, "100000", 0, 1000000000,
             "memory store size cap (LRU)"),
    CFG_FI64(S, "idle_timeout_seconds", idle_timeout_seconds, "300", 0, 31536000,
             "idle gap that resets stickiness; 0 disables"),
    CFG_FI64(S, "min_turns_before_switch", min_turns_before_switch, "1", 0, 1000000,
             "turns on a model before a switch is considered"),
    CFG_FNUM(S, "switch_margin", switch_margin, "0.05", "score lead a challenger needs"),
    CFG_FNUM(S, "stay_bias", stay_bias, "0.10", "bonus of the current model"),
    CFG_FBOOL(S, "tool_loop_hard_lock", tool_loop_hard_lock, "true",
              "never switch inside a tool loop"),
    CFG_FBOOL(S, "context_portability_hard_lock", context_portability_hard_lock, "true",
              "never switch away from provider-bound state"),
    CFG_FBOOL(S, "decision_drift_reset", decision_drift_reset, "true",
              "a new decision resets stickiness"),
    CFG_FNUM(S, "tool_loop_stay_bias", tool_loop_stay_bias, "0.35", "stay bias inside tool loops"),
    CFG_FNUM(S, "prefix_cache_weight", prefix_cache_weight, "0.20",
             "weight of prompt-cache warmth"),
    CFG_FNUM(S, "handoff_penalty_weight", handoff_penalty_weight, "1.0",
             "scale of handoff penalties"),
    CFG_FNUM(S, "default_handoff_penalty", default_handoff_penalty, "0.05",
             "penalty of a switch without a specific one"),
    CFG_FRANGE(S, "max_cache_cost_multiplier", max_cache_cost_multiplier, "2.5", 1, 1e9,
               "cap on the cache-loss cost term (>= 1)"),
    CFG_FNUM(S, "switch_history_weight", switch_history_weight, "0.04",
             "penalty per earlier switch"),
    CFG_FNUM(S, "quality_gap_multiplier", quality_gap_multiplier, "1.0", "scale of quality gaps"),
    CFG_FNUM(S, "reset_warmth_factor", reset_warmth_factor, "0.2", "warmth kept after a reset"),
    CFG_FBOOL(S, "allow_downgrade", allow_downgrade, "true", "allow switching to a cheaper model"),
    CFG_FNUM(S, "downgrade_savings_weight", downgrade_savings_weight, "0.10", "weight of savings"),
    CFG_FBOOL(S, "inherit_decision_when_unmatched", inherit_decision_when_unmatched, "true",
              "unmatched turns keep the session's decision"),
    CFG_FBOOL(S, "handoff_on_unavailable", handoff_on_unavailable, "true",
              "hand off when the current model is down"),
    CFG_FBOOL(S, "handoff_keep_reasoning_summaries", handoff_keep_reasoning_summaries, "false",
              "keep reasoning summaries in a handoff"),
    CFG_FBOOL(S, "treat_stored_chains_as_portable", treat_stored_chains_as_portable, "false",
              "stored response chains do not lock"),
    CFG_FNODE(S, "quality_gaps", quality_gaps, "[{decision | \"*\", from, to, value}]"),
    CFG_FNODE(S, "handoff_penalties", handoff_penalties, "[{from, to, value}]"),
    CFG_FNODE(S, "remaining_turn_priors", remaining_turn_priors, "{decision: expected turns}"),
    CFG_FNUM(S, "remaining_turn_prior_weight", remaining_turn_prior_weight, "1.0",
             "weight of priors"),
    CFG_FRANGE(S, "remaining_turn_prior_horizon", remaining_turn_prior_horizon, "8", 1e-9, 1e9,
               "turn horizon (> 0)"),
    CFG_FBOOL(S, "learn_remaining_turn_priors", learn_remaining_turn_priors, "true",
              "learn priors from replay"),
    CFG_FI64(S, "min_remaining_turn_prior_samples", min_remaining_turn_prior_samples, "3", 0,
             1000000, "sessions needed before a learned prior counts"),
    CFG_FBOOL(S, "quality_gaps_from_cards", quality_gaps_from_cards, "true",
              "derive QG(c->m) from the model cards and the turn's required quality when no "
              "quality_gaps entry applies"),
    CFG_FNUM(S, "card_quality_gap_weight", card_quality_gap_weight, "6.0",
             "scale of a QG derived from the cards"),
    CFG_FNUM(S, "card_gap_price_discount", card_gap_price_discount, "0.6",
             "a derived upgrade gap shrinks by this times the target's price level"),
    CFG_FNUM(S, "card_gap_keep_weight", card_gap_keep_weight, "0",
             "leaving a better model loses this times the card difference times M"),
    CFG_FRANGE(S, "lock_escalation_weight", lock_escalation_weight, "0.5", 0, 1,
               "on a turn before a lock the session's trajectory predicts, the derived gaps ask "
               "for this share of the quality its earlier locks asked for above the turn's own"),
    CFG_FBOOL(S, "cold_start_step_up", cold_start_step_up, "true",
              "with derived gaps, a session whose first turn asks for more than its cheapest "
              "candidate starts on its highest-quality one"),
    CFG_FRANGE(S, "upgrade_age_turns", upgrade_age_turns, "1", 0, 1e9,
               "with derived gaps, an upgrade's price discount grows by a factor (1 + T / this); "
               "past the gain the gap becomes an entry cost (at most the gain); 0 keeps it flat"),
    CFG_FI64(S, "step_down_after_turns", step_down_after_turns, "9", 0, 1000000,
             "with derived gaps, from this turn on a cheaper candidate that meets the turn's "
             "required quality gains step_down_weight times the price-level difference; 0 off"),
    CFG_FNUM(S, "step_down_weight", step_down_weight, "1.0",
             "weight of the step-down credit (step_down_after_turns)"),
    CFG_FRANGE(S, "outcome_quality_bound", outcome_quality_bound, "0.05", 0, 1,
               "largest quality adjustment learned from outcomes (0 turns learning off)"),
    CFG_FRANGE(S, "outcome_prior_weight", outcome_prior_weight, "10", 1e-9, 1e9,
               "outcomes it takes to reach half the bound (> 0)"),
    CFG_FSTR(S, "learned_state_file", learned_state_file, NULL,
             "file that keeps learned priors, outcome estimates and elo ratings across "
             "restarts (global only); unset: they live in the process"));
#undef S

#define R cfg_redis_t
CFG_SCHEMA(cfg_schema_redis, "global.stores.<store>.redis", "A Redis connection.",
           CFG_FSTR(R, "address", address, NULL, "host:port (required with backend redis)"),
           CFG_FSTR(R, "password_env", password_env, NULL,
                    "environment variable with the password"),
           CFG_FI64(R, "db", db, "0", 0, 1024, "database number"),
           CFG_FSTR(R, "key_prefix", key_prefix, "tether:", "prefix of every key"),
           CFG_FI64(R, "timeout_ms", timeout_ms, "50", 1, 600000, "per-command timeout"));
#undef R

#define T cfg_stores_t
/* The backend's choices and blocks come from session/registry.h (stores.c). */
const cfg_field_t cfg_store_session_base_fields[] = {
    CFG_FENUM(T, "backend", session.backend, "memory", NULL, "where session memory lives"),
    CFG_FSUB(T, "redis", session.redis, cfg_schema_redis, "see global.stores.<store>.redis"),
    CFG_FSTR(T, "binding_key_env", session.binding_key_env, NULL,
             "environment variable with the key (16+ bytes, the same on every replica) that "
             "signs the model binding in response ids; unset: a per-process key"),
    {0}};
const cfg_schema_t cfg_schema_store_session = {
    "global.stores.session",
    cfg_store_fields[CFG_STORE_SESSION],
    "Session memory store.",
};
/* The backends' choices and blocks come from api/response_store_registry.h
 * and plugins/response_cache_registry.h (stores.c). */
const cfg_field_t cfg_store_responses_base_fields[] = {
    CFG_FENUM(T, "backend", responses.backend, "memory", NULL, "Responses API store"),
    CFG_FI64(T, "ttl_seconds", responses.ttl_seconds, "2592000", 0, 315360000, "response lifetime"),
    CFG_FI64(T, "max_responses", responses.max_responses, "10000", 0, 1000000000, "size cap"),
    CFG_FSUB(T, "redis", responses.redis, cfg_schema_redis, "see global.stores.<store>.redis"),
    {0}};
const cfg_schema_t cfg_schema_store_responses = {
    "global.stores.responses",
    cfg_store_fields[CFG_STORE_RESPONSES],
    "Stored responses (previous_response_id).",
};
const cfg_field_t cfg_store_cache_base_fields[] = {
    CFG_FENUM(T, "backend", response_cache.backend, "memory", NULL, "cache store"),
    CFG_FI64(T, "max_entries", response_cache.max_entries, "1000", 0, 1000000000, "size cap"),
    CFG_FI64(T, "ttl_seconds", response_cache.ttl_seconds, "3600", 0, 315360000, "entry lifetime"),
    CFG_FSIZE(T, "max_entry_bytes", response_cache.max_entry_bytes, "1MiB",
              "largest cached response"),
    CFG_FSUB(T, "redis", response_cache.redis, cfg_schema_redis, "see global.stores.<store>.redis"),
    {0}};
const cfg_schema_t cfg_schema_store_cache = {
    "global.stores.response_cache",
    cfg_store_fields[CFG_STORE_RESPONSE_CACHE],
    "Response cache store.",
};
CFG_SCHEMA(cfg_schema_stores, "global.stores", "State stores.",
           CFG_FSUB_FLAT("session", cfg_schema_store_session, "see global.stores.session"),
           CFG_FSUB_FLAT("responses", cfg_schema_store_responses, "see global.stores.responses"),
           CFG_FSUB_FLAT("response_cache", cfg_schema_store_cache,
                         "see global.stores.response_cache"),
           CFG_FSUB_FLAT("limits", cfg_schema_store_limits, "see global.stores.limits"));
#undef T

#define V cfg_services_t
/* The store's choices and blocks come from replay/registry.h (stores.c). */
const cfg_field_t cfg_replay_base_fields[] = {
    CFG_FBOOL(V, "enabled", router_replay.enabled, "true", "write a trace per routed turn"),
    CFG_FENUM(V, "store", router_replay.store, "sqlite", NULL, "trace store"),
    CFG_FSTR(V, "path", router_replay.path, "tether-replay.db", "file of the sqlite/jsonl store"),
    CFG_FI64(V, "max_records", router_replay.max_records, "100000", 0, 1000000000,
             "record cap, oldest removed first"),
    CFG_FSIZE(V, "max_bytes", router_replay.max_bytes, "1GiB",
              "sqlite: database file cap, oldest removed first; 0 = none, at least 1MiB"),
    CFG_FI64(V, "ttl_seconds", router_replay.ttl_seconds, "604800", 0, 315360000,
             "record lifetime"),
    CFG_FBOOL(V, "capture_bodies", router_replay.capture_bodies, "false",
              "store request/response bodies"),
    CFG_FSIZE(V, "max_body_bytes", router_replay.max_body_bytes, "64KiB", "body capture cap"),
    CFG_FBOOL(V, "redact", router_replay.redact, "true", "redact PII and secrets in bodies"),
    CFG_FI64(V, "queue_size", router_replay.queue_size, "10000", 1, 100000000,
             "writer queue length"),
    {0}};
const cfg_schema_t cfg_schema_replay = {
    "global.services.router_replay",
    cfg_store_fields[CFG_STORE_REPLAY],
    "Replay traces (SPEC 9.9).",
};
CFG_SCHEMA(cfg_schema_metrics, "global.services.metrics", "Prometheus metrics.",
           CFG_FBOOL(V, "enabled", metrics.enabled, "true", "serve Prometheus metrics"),
           CFG_FSTR(V, "path", metrics.path, "/metrics", "path on the management listener"));
CFG_SCHEMA(
    cfg_schema_tracing, "global.services.tracing",
    "OpenTelemetry traces over OTLP/HTTP JSON (docs/operations.md, Tracing).",
    CFG_FBOOL(V, "enabled", tracing.enabled, "false", "export a trace per routed request"),
    CFG_FSTR(V, "endpoint", tracing.endpoint, "http://127.0.0.1:4318",
             "collector base URL (http:// only); spans are POSTed to <endpoint>/v1/traces"),
    CFG_FSTR(V, "service_name", tracing.service_name, "tether", "resource service.name"),
    CFG_FUNIT(V, "sample_ratio", tracing.sample_ratio, "1",
              "share of requests traced when the client sent no traceparent (a client's "
              "sampled flag decides otherwise)"),
    CFG_FSTR(V, "headers_env", tracing.headers_env, NULL,
             "environment variable with extra export headers, k=v,k2=v2 (e.g. an auth token)"),
    CFG_FI64(V, "queue_size", tracing.queue_size, "2048", 1, 10000000,
             "spans waiting for export; beyond it spans are dropped and counted"),
    CFG_FI64(V, "batch_size", tracing.batch_size, "256", 1, 100000, "spans per export request"),
    CFG_FDUR(V, "flush_interval", tracing.flush_interval_ms, "1s",
             "longest wait before a partial batch is exported"),
    CFG_FDUR(V, "timeout", tracing.timeout_ms, "2s", "export request timeout (connect to reply)"));
CFG_SCHEMA(cfg_schema_mgmt_token, "global.services.management_api.tokens[]",
           "Management API bearer tokens.",
           CFG_FSTR_REQ(cfg_mgmt_token_t, "name", name, "token name"),
           CFG_FSTR_REQ(cfg_mgmt_token_t, "token_env", token_env,
                        "environment variable holding the token"),
           CFG_FENUM(cfg_mgmt_token_t, "role", role, "viewer",
                     "viewer|operator|admin|replay.read|replay.detail",
                     "role: viewer < operator < admin; replay.read = viewer; "
                     "replay.detail = viewer plus replay bodies"));
CFG_SCHEMA(cfg_schema_mgmt, "global.services.management_api",
           "Management API and dashboard (SPEC 11).",
           CFG_FSTR(V, "listen", management_api.listen, "127.0.0.1:8080", "management listener"),
           CFG_FCUSTOM("tokens", &cfg_schema_mgmt_token, "see management_api.tokens[]"),
           CFG_FBOOL(V, "dashboard", management_api.dashboard, "true",
                     "serve the dashboard under /dashboard/ (and redirect / there)"));
CFG_SCHEMA(cfg_schema_authz, "global.services.authz", "Identity for the authz signal.",
           CFG_FBOOL(V, "trust_identity_headers", authz.trust_identity_headers, "false",
                     "read the identity from request headers"),
           CFG_FSTR(V, "user_header", authz.user_header, "x-authz-user-id", "user id header"),
           CFG_FSTR(V, "groups_header", authz.groups_header, "x-authz-user-groups",
                    "groups header"));
#undef V

#define C cfg_classifier_t
CFG_SCHEMA(
    cfg_schema_classifier, "global.model_catalog.classifiers[]",
    "External classifiers called on the event loop before the signals run "
    "(docs/signals.md, External classifiers).",
    CFG_FSTR_REQ(C, "name", name, "name signals refer to with classifier:"),
    CFG_FENUM_REQ(C, "type", type, "http_classify|http_pooling|http_score|openai_chat",
                  "http_classify: vLLM's classification API (/classify); http_pooling: "
                  "vLLM's pooling API (/pooling) on a classification model; http_score: "
                  "vLLM's score API (/score), the query against each label's text; "
                  "openai_chat: a guard model through chat completions"),
    CFG_FSTR(C, "endpoint", endpoint, NULL,
             "http_classify, http_pooling or http_score URL, e.g. "
             "http://127.0.0.1:8000/classify, /pooling or /score"),
    CFG_FSTR(C, "base_url", base_url, NULL, "openai_chat API root ({base_url}/chat/completions)"),
    CFG_FSTR(C, "model", model, NULL, "model name sent with each call"),
    CFG_FSTR(C, "api_key_env", api_key_env, NULL, "environment variable with the bearer key"),
    CFG_FLIST(C, "labels", labels, NULL,
              "labels in the order of the reply's probs (http_classify, http_pooling); "
              "the classes scored (http_score, required)"),
    CFG_FLIST(C, "label_texts", label_texts, NULL,
              "http_score: the text each label is scored as, lined up with labels "
              "(default: the label itself)"),
    CFG_FSTR(C, "task", task, "classify",
             "http_pooling: the pooling task sent with each call (\"\": none)"),
    CFG_FLIST(C, "positive_labels", positive_labels, NULL,
              "labels that count as a detection (jailbreak, pii, fact_check)"),
    CFG_FSTR(C, "prompt", prompt, NULL, "openai_chat prompt; {{text}} is replaced by the input"),
    CFG_FI64(C, "timeout_ms", timeout_ms, "1000", 1, 600000,
             "call timeout (the request's signal_timeout caps it)"),
    CFG_FI64(C, "max_input_chars", max_input_chars, "4000", 64, 1000000,
             "longest input sent; longer texts are sampled or chunked"),
    CFG_FENUM(C, "window", window, "sample", "sample|chunks",
              "long texts: head, middle and tail samples, or up to 8 overlapping "
              "chunks (http_classify, http_pooling; the most positive chunk counts)"),
    CFG_FENUM(C, "failure_mode", failure_mode, "open", "open|closed",
              "on timeout or error: open falls back to the heuristic, closed "
              "reports the signal's error (its on_error policy applies)"),
    CFG_FI64(C, "batch_max", batch_max, "32", 1, 1024,
             "http_classify, http_pooling: most inputs in one call when concurrent "
             "requests share it (1: every request its own call)"),
    CFG_FI64(C, "batch_inflight", batch_inflight, "32", 1, 1024,
             "http_classify, http_pooling: calls in flight per worker below which a "
             "request's call goes at once; at the bound requests gather and go together "
             "when a call ends"));
#undef C

CFG_SCHEMA(cfg_schema_embeddings, "global.model_catalog.embeddings", "Embedders (SPEC 5.2).",
           CFG_FENUM(cfg_embeddings_t, "backend", backend, "builtin",
                     "builtin|static|openai_compatible",
                     "the embedder of similarity signals (static: not supported)"),
           CFG_FI64(cfg_embeddings_t, "dimensions", dimensions, "1024", 256, 4096,
                    "builtin dimensions"),
           CFG_FNODE(cfg_embeddings_t, "builtin", builtin, "{dimensions}"),
           CFG_FNODE(cfg_embeddings_t, "static", static_,
                     "not supported (no static word-vector embedder is built)"),
           CFG_FNODE(cfg_embeddings_t, "openai_compatible", openai_compatible,
                     "{base_url, model, api_key_env, dimensions (sent to the server: Matryoshka "
                     "truncation), timeout_ms (2000), max_retries (1), cache_entries (10000), "
                     "failure_mode, batch_max (64), batch_window_ms (0: at once, gathered while 32 "
                     "calls are in flight)}"));

CFG_SCHEMA(cfg_schema_model_catalog, "global.model_catalog",
           "Embedders, classifiers and knowledge bases.",
           CFG_FSUB(cfg_model_catalog_t, "embeddings", embeddings, cfg_schema_embeddings,
                    "see global.model_catalog.embeddings"),
           CFG_FCUSTOM("classifiers", &cfg_schema_classifier,
                       "see global.model_catalog.classifiers[]"),
           CFG_FNODE(cfg_model_catalog_t, "kbs", kbs,
                     "[{name, source{path}, threshold (0.40), label_thresholds, groups}]"));

static char *env_secret(ld_t *l, const cfg_node_t *at, const char *var, const char *what)
{
    if (!var) return NULL;
    const char *v = ld_env_secret(l, var);
    if (v) return arena_strdup(l->a, v);
    if (!l->seal_env) ld_warn(l, at, "environment variable %s is not set: %s", var, what);
    return NULL;
}

/* The key that signs bindings in ids (session/binding_token.h): from
 * binding_key_env, at least 16 bytes. Without it each process signs with its
 * own random key (serve warns at start when Redis is shared). */
static void load_binding_key(ld_t *l, const cfg_node_t *sn, cfg_stores_t *st)
{
    size_t s = ld_push_key(l, "session.binding_key_env");
    const cfg_node_t *at = cfg_node_get(sn, "binding_key_env");
    if (st->session.binding_key_env) {
        st->session.binding_key = env_secret(l, at, st->session.binding_key_env,
                                             "response ids are signed with a per-process key");
        if (st->session.binding_key && strlen(st->session.binding_key) < 16) {
            ld_err(l, at, "the key in %s is shorter than 16 bytes", st->session.binding_key_env);
            st->session.binding_key = NULL;
        }
    }
    ld_pop(l, s);
}

static bool is_loopback(const char *hostport)
{
    return !strncmp(hostport, "127.", 4) || !strncmp(hostport, "localhost:", 10) ||
           !strncmp(hostport, "[::1]:", 6);
}

void cfg_load_global_ext(ld_t *l, const cfg_node_t *g, cfg_t *c)
{
    cfg_global_ext_t *x = arena_calloc(l->a, sizeof(*x));
    c->global_ext = x;
    const cfg_node_t *router = cfg_node_get(g, "router");
    size_t s = ld_push_key(l, "router.session");
    ld_section(l, router && router->kind == CFG_NODE_MAP ? cfg_node_get(router, "session") : NULL,
               &cfg_schema_session, &x->session);
    ld_pop(l, s);

    const cfg_node_t *st = cfg_node_get(g, "stores");
    s = ld_push_key(l, "stores");
    ld_section(l, st, &cfg_schema_stores, &x->stores);
    /* a backend that reads the store's redis block (CFG_STORE_REDIS in its
     * registry entry) needs its address */
    const struct {
        const char *key;
        cfg_store_kind_t kind;
        const char *backend;
        cfg_redis_t *r;
        const void **opts;
    } stores[] = {
        {"session", CFG_STORE_SESSION, x->stores.session.backend, &x->stores.session.redis,
         &x->stores.session.backend_opts},
        {"responses", CFG_STORE_RESPONSES, x->stores.responses.backend, &x->stores.responses.redis,
         &x->stores.responses.backend_opts},
        {"response_cache", CFG_STORE_RESPONSE_CACHE, x->stores.response_cache.backend,
         &x->stores.response_cache.redis, &x->stores.response_cache.backend_opts},
        /* the limits store has no registry: memory or redis */
        {"limits", CFG_STORE_KINDS, x->stores.limits.backend, &x->stores.limits.redis, NULL}};
    for (size_t i = 0; i < 4; i++) {
        bool redis;
        if (stores[i].kind == CFG_STORE_KINDS) {
            redis = stores[i].backend && !strcmp(stores[i].backend, "redis");
        } else {
            const cfg_store_backend_t *b =
                cfg_store_backend_find(stores[i].kind, stores[i].backend);
            redis = b && (b->flags & CFG_STORE_REDIS);
        }
        if (!redis) continue;
        const cfg_node_t *sn = cfg_node_get(st, stores[i].key);
        size_t s2 = ld_push_key(l, stores[i].key);
        if (!stores[i].r->address) {
            /* a redis-backed store may share the session store's connection */
            if (i > 0 && x->stores.session.redis.address)
                *stores[i].r = x->stores.session.redis;
            else
                ld_err(l, sn, "backend %s needs redis.address", stores[i].backend);
        } else if (stores[i].r->password_env) {
            size_t s3 = ld_push_key(l, "redis.password_env");
            stores[i].r->password =
                env_secret(l, cfg_node_get(cfg_node_get(sn, "redis"), "password_env"),
                           stores[i].r->password_env, "connecting without a password");
            ld_pop(l, s3);
        }
        ld_pop(l, s2);
    }
    load_binding_key(l, cfg_node_get(st, "session"), &x->stores);
    for (size_t i = 0; i < 3; i++) {
        size_t s2 = ld_push_key(l, stores[i].key);
        *stores[i].opts = cfg_store_load_opts(l, stores[i].kind, cfg_node_get(st, stores[i].key),
                                              stores[i].backend);
        ld_pop(l, s2);
    }
    ld_pop(l, s);

    const cfg_node_t *sv = cfg_node_get(g, "services");
    size_t s_sv = ld_push_key(l, "services");
    const struct {
        const char *key;
        const cfg_schema_t *sch;
    } svcs[] = {{"router_replay", &cfg_schema_replay},
                {"metrics", &cfg_schema_metrics},
                {"management_api", &cfg_schema_mgmt},
                {"authz", &cfg_schema_authz},
                {"tracing", &cfg_schema_tracing}};
    for (size_t i = 0; i < 5; i++) {
        size_t s2 = ld_push_key(l, svcs[i].key);
        ld_section(l, sv && sv->kind == CFG_NODE_MAP ? cfg_node_get(sv, svcs[i].key) : NULL,
                   svcs[i].sch, &x->services);
        ld_pop(l, s2);
    }
    {
        size_t s3 = ld_push_key(l, "tracing");
        const cfg_node_t *tn = cfg_node_get(sv, "tracing");
        const char *ep = x->services.tracing.endpoint;
        if (x->services.tracing.enabled && (!ep || strncmp(ep, "http://", 7) || !ep[7])) {
            size_t s4 = ld_push_key(l, "endpoint");
            ld_err(l, cfg_node_get(tn, "endpoint"),
                   "tracing endpoint must be an http:// URL (https is not supported)");
            ld_pop(l, s4);
        }
        if (x->services.tracing.headers_env) {
            size_t s4 = ld_push_key(l, "headers_env");
            x->services.tracing.headers =
                env_secret(l, cfg_node_get(tn, "headers_env"), x->services.tracing.headers_env,
                           "exporting without extra headers");
            ld_pop(l, s4);
        }
        ld_pop(l, s3);
    }
    size_t s_rr = ld_push_key(l, "router_replay");
    x->services.router_replay.store_opts = cfg_store_load_opts(
        l, CFG_STORE_REPLAY, cfg_node_get(sv, "router_replay"), x->services.router_replay.store);
    ld_pop(l, s_rr);
    cfg_load_limits(l, sv && sv->kind == CFG_NODE_MAP ? sv : NULL, &x->services);
    const cfg_node_t *mg = cfg_node_get(sv, "management_api");
    const cfg_node_t *toks = cfg_node_get(mg, "tokens");
    s = ld_push_key(l, "management_api.tokens");
    if (toks && !cfg_node_is_null(toks) && ld_expect_seq(l, toks)) {
        x->services.management_api.tokens =
            arena_calloc(l->a, (toks->n + 1) * sizeof(cfg_mgmt_token_t));
        for (size_t i = 0; i < toks->n; i++) {
            size_t s2 = ld_push_item(l, toks->items[i], i);
            cfg_mgmt_token_t *t =
                &x->services.management_api.tokens[x->services.management_api.n_tokens++];
            ld_section(l, toks->items[i], &cfg_schema_mgmt_token, t);
            size_t s3 = ld_push_key(l, "token_env");
            t->token = env_secret(l, cfg_node_get(toks->items[i], "token_env"), t->token_env,
                                  "this token cannot be used");
            ld_pop(l, s3);
            ld_pop(l, s2);
        }
    }
    ld_pop(l, s);
    const char *listen = x->services.management_api.listen;
    if (listen && !is_loopback(listen) && x->services.management_api.n_tokens == 0) {
        size_t s2 = ld_push_key(l, "management_api.listen");
        ld_err(l, cfg_node_get(mg, "listen"),
               "management API on non-loopback address %s needs tokens", listen);
        ld_pop(l, s2);
    }
    ld_pop(l, s_sv);

    const cfg_node_t *mc = cfg_node_get(g, "model_catalog");
    s = ld_push_key(l, "model_catalog");
    ld_section(l, mc, &cfg_schema_model_catalog, &x->model_catalog);
    {
        /* no static word-vector embedder is built: refuse it at load */
        const cfg_node_t *en = cfg_node_get(mc, "embeddings");
        const cfg_embeddings_t *ec = &x->model_catalog.embeddings;
        size_t s3 = ld_push_key(l, "embeddings");
        if (ec->backend && !strcmp(ec->backend, "static")) {
            size_t s4 = ld_push_key(l, "backend");
            ld_err(l, cfg_node_get(en, "backend"),
                   "embeddings backend static is not supported (no static word-vector embedder "
                   "is built): use builtin or openai_compatible");
            ld_pop(l, s4);
        }
        if (ec->static_ && !cfg_node_is_null(ec->static_)) {
            size_t s4 = ld_push_key(l, "static");
            ld_err(l, cfg_node_get(en, "static"),
                   "embeddings.static is not supported (no static word-vector embedder is "
                   "built): remove it");
            ld_pop(l, s4);
        }
        ld_pop(l, s3);
    }
    const cfg_node_t *cls = cfg_node_get(mc, "classifiers");
    size_t s2 = ld_push_key(l, "classifiers");
    if (cls && !cfg_node_is_null(cls) && ld_expect_seq(l, cls)) {
        cfg_model_catalog_t *m = &x->model_catalog;
        m->classifiers = arena_calloc(l->a, (cls->n + 1) * sizeof(cfg_classifier_t));
        for (size_t i = 0; i < cls->n; i++) {
            size_t s3 = ld_push_item(l, cls->items[i], i);
            cfg_classifier_t *k = &m->classifiers[m->n_classifiers++];
            ld_section(l, cls->items[i], &cfg_schema_classifier, k);
            if (k->type && !strncmp(k->type, "http_", 5) && !k->endpoint)
                ld_err(l, cls->items[i], "%s needs an endpoint", k->type);
            if (k->type && !strcmp(k->type, "http_score") && !k->labels.n)
                ld_err(l, cls->items[i], "http_score needs labels (the classes it scores)");
            if (k->label_texts.n && k->label_texts.n != k->labels.n)
                ld_err(l, cfg_node_get(cls->items[i], "label_texts"),
                       "label_texts has %zu entries, labels %zu: they must line up",
                       k->label_texts.n, k->labels.n);
            if (k->type && !strcmp(k->type, "openai_chat") && !k->base_url)
                ld_err(l, cls->items[i], "openai_chat needs a base_url");
            for (int b = 0; b < 2; b++) { /* batching: only the input-list protocols */
                const char *bk = b ? "batch_inflight" : "batch_max";
                const cfg_node_t *bn = cfg_node_get(cls->items[i], bk);
                if (bn && k->type && strcmp(k->type, "http_classify") &&
                    strcmp(k->type, "http_pooling")) {
                    size_t s4 = ld_push_key(l, bk);
                    ld_err(l, bn,
                           "%s applies to http_classify and http_pooling only (%s sends one "
                           "request's texts per call): remove it",
                           bk, k->type);
                    ld_pop(l, s4);
                }
            }
            if (k->api_key_env)
                k->api_key = env_secret(l, cls->items[i], k->api_key_env, "calling without a key");
            for (size_t j = 0; j + 1 < m->n_classifiers; j++)
                if (k->name && m->classifiers[j].name && !strcmp(k->name, m->classifiers[j].name))
                    ld_err(l, cfg_node_get(cls->items[i], "name"),
                           "duplicate classifier name \"%s\"", k->name);
            ld_pop(l, s3);
        }
    }
    ld_pop(l, s2);
    ld_pop(l, s);
}
