/* store_redis_record.c - the Redis session store's record encoding: a
 * sess_state_t to and from the small JSON document kept at {prefix}s:{key}.
 * The field names are the ones the Lua scripts in store_redis.c read and
 * write; keep the three in step. Pure functions, thread-safe. */
#include "core/buf.h"
#include "core/hash.h"
#include "session/store_redis_internal.h"
#include <cjson/cJSON.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The record's last_* names: key and place in sess_state_t. */
#define LAST(f)                                                                                    \
    {                                                                                              \
        offsetof(sess_state_t, f), sizeof((sess_state_t *)0)->f                                    \
    }
static const struct {
    size_t off, cap;
} LAST_NAMES[] = {LAST(last_model),     LAST(last_backend),  LAST(last_decision),
                  LAST(last_reasoning), LAST(last_trace_id), LAST(last_reason)};
#undef LAST
static const char *const last_keys[] = {"lm", "lb", "ld", "lr", "tid", "rsn"};
#define N_LAST (sizeof last_keys / sizeof last_keys[0])

void sess_redis_json_strs(buf_t *b, const char *const *keys, const char *const *vals, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        buf_printf(b, ",\"%s\":", keys[i]);
        buf_json_str(b, vals[i], strlen(vals[i]));
    }
}

void sess_redis_rec_to_json(buf_t *b, const sess_state_t *s)
{
    char op[17];
    hash_hex16(s->opener, op);
    buf_printf(b,
               "{\"v\":%llu,\"ca\":%llu,\"ls\":%llu,\"lsa\":%llu,\"tc\":%u,\"sc\":%u,"
               "\"pt\":%llu,\"ct\":%llu,\"cpt\":%llu,\"cost\":%.17g,\"lk\":%d,\"lkb\":%u,"
               "\"lks\":%u,\"op\":\"%s\"",
               (unsigned long long)s->version, (unsigned long long)s->created_at_ms,
               (unsigned long long)s->last_seen_ms, (unsigned long long)s->last_started_at_ms,
               s->turn_count, s->switch_count, (unsigned long long)s->prompt_tokens,
               (unsigned long long)s->cached_tokens, (unsigned long long)s->completion_tokens,
               s->cost, (int)s->lock_kind, s->lock_bindings, s->lock_since_turn,
               s->opener ? op : "");
    const char *vals[N_LAST];
    for (size_t i = 0; i < N_LAST; i++)
        vals[i] = (const char *)s + LAST_NAMES[i].off;
    sess_redis_json_strs(b, last_keys, vals, N_LAST);
    buf_printf(b, ",\"le\":%u,\"let\":%u,\"lep\":%u,\"lrq\":%.17g", s->lock_episodes,
               s->lock_episode_turn, s->lock_episode_period, s->lock_required_quality);
    buf_puts(b, ",\"m\":[");
    bool first = true;
    for (size_t i = 0; i < SESS_MAX_MODELS; i++) {
        const sess_model_stats_t *m = &s->models[i];
        if (!m->model[0]) continue;
        if (!first) buf_putc(b, ',');
        first = false;
        buf_puts(b, "{\"n\":");
        buf_json_str(b, m->model, strlen(m->model));
        buf_printf(b,
                   ",\"t\":%u,\"ru\":%u,\"rc\":%u,\"pt\":%llu,\"ct\":%llu,\"cpt\":%llu,"
                   "\"lpt\":%llu,\"cost\":%.17g}",
                   m->turns, m->responses_with_usage, m->responses_with_cached,
                   (unsigned long long)m->prompt_tokens, (unsigned long long)m->cached_tokens,
                   (unsigned long long)m->completion_tokens,
                   (unsigned long long)m->last_prompt_tokens, m->cost);
    }
    buf_puts(b, "]}");
}

static uint64_t jnum(const cJSON *o, const char *k)
{
    /* a stored number may be anything (1e300, -5, 1e999 = inf): clamp to the
     * range, since converting an out-of-range double is undefined */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    if (!cJSON_IsNumber(v) || !(v->valuedouble > 0)) return 0;
    if (v->valuedouble >= 18446744073709551615.0) return UINT64_MAX;
    return (uint64_t)(v->valuedouble + 0.5);
}
static double jdbl(const cJSON *o, const char *k)
{
    /* inf would be written back as "inf", which is not JSON */
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) && isfinite(v->valuedouble) ? v->valuedouble : 0;
}
static void jstr(const cJSON *o, const char *k, char *out, size_t cap)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    snprintf(out, cap, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

bool sess_redis_rec_from_json(const char *p, size_t n, sess_state_t *s)
{
    cJSON *j = cJSON_ParseWithLength(p, n);
    if (!cJSON_IsObject(j)) {
        cJSON_Delete(j);
        return false;
    }
    memset(s, 0, sizeof *s);
    s->version = jnum(j, "v");
    s->created_at_ms = jnum(j, "ca");
    s->last_seen_ms = jnum(j, "ls");
    s->last_started_at_ms = jnum(j, "lsa");
    s->turn_count = (uint32_t)jnum(j, "tc");
    s->switch_count = (uint32_t)jnum(j, "sc");
    s->prompt_tokens = jnum(j, "pt");
    s->cached_tokens = jnum(j, "ct");
    s->completion_tokens = jnum(j, "cpt");
    s->cost = jdbl(j, "cost");
    uint64_t lk = jnum(j, "lk");
    s->lock_kind = lk <= SESS_LOCK_PROVIDER_STATE ? (sess_lock_kind_t)lk : SESS_LOCK_NONE;
    s->lock_bindings = (uint32_t)jnum(j, "lkb");
    s->lock_since_turn = (uint32_t)jnum(j, "lks");
    s->lock_episodes = (uint32_t)jnum(j, "le");
    s->lock_episode_turn = (uint32_t)jnum(j, "let");
    s->lock_episode_period = (uint32_t)jnum(j, "lep");
    s->lock_required_quality = jdbl(j, "lrq");
    char op[32];
    jstr(j, "op", op, sizeof op);
    s->opener = op[0] ? strtoull(op, NULL, 16) : 0;
    for (size_t i = 0; i < N_LAST; i++)
        jstr(j, last_keys[i], (char *)s + LAST_NAMES[i].off, LAST_NAMES[i].cap);
    const cJSON *ms = cJSON_GetObjectItemCaseSensitive(j, "m"), *e;
    size_t i = 0;
    cJSON_ArrayForEach(e, ms)
    {
        if (i >= SESS_MAX_MODELS) break;
        sess_model_stats_t *m = &s->models[i++];
        jstr(e, "n", m->model, sizeof m->model);
        m->turns = (uint32_t)jnum(e, "t");
        m->responses_with_usage = (uint32_t)jnum(e, "ru");
        m->responses_with_cached = (uint32_t)jnum(e, "rc");
        m->prompt_tokens = jnum(e, "pt");
        m->cached_tokens = jnum(e, "ct");
        m->completion_tokens = jnum(e, "cpt");
        m->last_prompt_tokens = jnum(e, "lpt");
        m->cost = jdbl(e, "cost");
    }
    cJSON_Delete(j);
    return true;
}
