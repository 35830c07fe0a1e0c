/* state.c - operations on one session record (state.h): per-model stats
 * slots, the §9.8 commit rule and late usage. Both store backends call these
 * (the Redis Lua script in store_redis.c mirrors sess_state_apply_commit and
 * sess_state_add_usage; keep the two in step). Pure functions, no locking. */
#include "session/store.h"
#include <string.h>

/* snprintf(dst, cap, "%s", src)'s bytes without printf (six names per
 * commit, every routed request): at most cap - 1 bytes, then a NUL; the
 * bytes after it are left as they were. */
static void set_name(char *dst, size_t cap, const char *src)
{
    if (!cap) return;
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = 0;
}

const sess_model_stats_t *sess_state_model(const sess_state_t *s, const char *model)
{
    if (!model || !*model) return NULL;
    for (size_t i = 0; i < SESS_MAX_MODELS; i++)
        if (s->models[i].model[0] && strncmp(s->models[i].model, model, SESS_NAME_MAX - 1) == 0)
            return &s->models[i];
    return NULL;
}

sess_model_stats_t *sess_state_touch_model(sess_state_t *s, const char *model)
{
    size_t at = SESS_MAX_MODELS - 1; /* recycle the least recently used slot */
    for (size_t i = 0; i < SESS_MAX_MODELS; i++)
        if (!s->models[i].model[0] || strncmp(s->models[i].model, model, SESS_NAME_MAX - 1) == 0) {
            at = i;
            break;
        }
    sess_model_stats_t m = s->models[at];
    if (strncmp(m.model, model, SESS_NAME_MAX - 1) != 0) {
        memset(&m, 0, sizeof m);
        set_name(m.model, sizeof m.model, model);
    }
    memmove(&s->models[1], &s->models[0], at * sizeof s->models[0]);
    s->models[0] = m;
    return &s->models[0];
}

static void add_usage(sess_state_t *s, sess_model_stats_t *m, const sess_usage_t *u)
{
    s->prompt_tokens += u->prompt_tokens;
    s->cached_tokens += u->cached_tokens;
    s->completion_tokens += u->completion_tokens;
    s->cost += u->cost;
    if (!m) return;
    m->prompt_tokens += u->prompt_tokens;
    m->cached_tokens += u->cached_tokens;
    m->completion_tokens += u->completion_tokens;
    m->cost += u->cost;
    m->responses_with_usage++;
    if (u->cached_tokens > 0) m->responses_with_cached++;
    m->last_prompt_tokens = u->prompt_tokens;
}

/* Counters, usage and last_seen always apply. The routing fields apply only
 * when the record is the one this turn's routing read (same version), or
 * when this turn started no earlier than the one that last wrote them: two
 * racing turns of one session then converge on the later-started one, and
 * the loser is counted as a conflict instead of silently overwriting. */
void sess_state_note_lock(sess_state_t *s, sess_lock_kind_t now, double req, uint32_t turn)
{
    if (now == SESS_LOCK_NONE) return;
    if (s->lock_kind == SESS_LOCK_NONE) { /* a new episode */
        if (s->lock_episodes)
            s->lock_episode_period = turn > s->lock_episode_turn ? turn - s->lock_episode_turn : 0;
        s->lock_episode_turn = turn;
        s->lock_episodes++;
    }
    if (req > 0)
        s->lock_required_quality =
            s->lock_required_quality > 0 ? 0.5 * (s->lock_required_quality + req) : req;
}

void sess_state_apply_commit(sess_state_t *s, bool exists, const sess_outcome_t *o,
                             sess_commit_result_t *res)
{
    memset(res, 0, sizeof *res);
    if (!exists) {
        memset(s, 0, sizeof *s);
        s->created_at_ms = o->now_ms;
        res->created = true;
    }
    const char *model = o->model ? o->model : "";
    char served[SESS_NAME_MAX];
    set_name(served, sizeof served, model);

    s->turn_count++;
    if (s->last_model[0] && served[0] && strcmp(s->last_model, served) != 0) {
        s->switch_count++;
        res->switched = true;
    }
    sess_model_stats_t *m = served[0] ? sess_state_touch_model(s, served) : NULL;
    if (m) m->turns++;
    if (o->usage.has_usage) add_usage(s, m, &o->usage);
    if (o->now_ms > s->last_seen_ms) s->last_seen_ms = o->now_ms;

    if (s->version == o->expected_version || o->started_at_ms >= s->last_started_at_ms) {
        memcpy(s->last_model, served, sizeof served);
        set_name(s->last_backend, sizeof s->last_backend, o->backend);
        set_name(s->last_decision, sizeof s->last_decision, o->decision);
        set_name(s->last_reasoning, sizeof s->last_reasoning, o->reasoning);
        sess_state_note_lock(s, o->lock_kind, o->required_quality, s->turn_count - 1);
        s->lock_kind = o->lock_kind;
        s->lock_bindings = o->lock_bindings;
        s->lock_since_turn = o->lock_since_turn;
        if (o->opener) s->opener = o->opener;
        set_name(s->last_trace_id, sizeof s->last_trace_id, o->trace_id);
        set_name(s->last_reason, sizeof s->last_reason, o->reason);
        if (o->started_at_ms > s->last_started_at_ms) s->last_started_at_ms = o->started_at_ms;
        s->version++;
        res->applied = true;
    } else {
        res->conflict = true;
    }
    res->version = s->version;
}

void sess_state_add_usage(sess_state_t *s, const char *model, const sess_usage_t *u,
                          uint64_t now_ms)
{
    sess_model_stats_t *m = NULL;
    if (model && *model) {
        m = (sess_model_stats_t *)sess_state_model(s, model);
        if (!m) m = sess_state_touch_model(s, model);
    }
    sess_usage_t v = *u;
    v.has_usage = true;
    add_usage(s, m, &v);
    if (now_ms > s->last_seen_ms) s->last_seen_ms = now_ms;
}
