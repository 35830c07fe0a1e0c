/* saar_workload.c - the BENCH_SAAR.md workload: models, the six scenarios,
 * scenario files (cJSON) and the bit-exact turn generator. The generator is
 * the only consumer of the MT19937 stream: randint for history, choice for a
 * single idle turn, and one uniform per turn, in the spec's order. */
#include "json/num.h"
#include "bench/saar_workload.h"
#include "bench/mt19937.h"
#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const saar_model_t saar_models[SAAR_N_MODELS] = {
    {"qwen3-8b", 0.64, 0.05, 0.10, 0.01},
    {"qwen3-32b", 0.78, 0.30, 0.60, 0.06},
    {"frontier-reasoner", 0.94, 8.00, 24.00, 1.20},
};

int saar_model_index(const char *name)
{
    for (int i = 0; name && i < SAAR_N_MODELS; i++)
        if (!strcmp(saar_models[i].name, name)) return i;
    return -1;
}

int saar_base_choice(double demand)
{
    if (demand >= 0.78) return SAAR_FRONTIER;
    if (demand >= 0.55) return SAAR_QWEN3_32B;
    return SAAR_QWEN3_8B;
}

const char *saar_phase_name(saar_phase_t p)
{
    switch (p) {
    case SAAR_PHASE_TOOL_LOOP: return "tool_loop";
    case SAAR_PHASE_PROVIDER_STATE: return "provider_state";
    case SAAR_PHASE_TOPIC_DRIFT: return "topic_drift";
    default: return "user_turn";
    }
}

#define SLOTS(c, ...)                                                                              \
    {                                                                                              \
        c, sizeof((int[]){__VA_ARGS__}) / sizeof(int),                                             \
        {                                                                                          \
            __VA_ARGS__                                                                            \
        }                                                                                          \
    }
#define NOSLOTS                                                                                    \
    {                                                                                              \
        0, 0,                                                                                      \
        {                                                                                          \
            0                                                                                      \
        }                                                                                          \
    }

const saar_scenario_t saar_builtin_scenarios[SAAR_N_BUILTIN] = {
    {"balanced", 0.42, 0.28, 0.16, 0.18, 0.09, SLOTS(5, 2, 3), 512, 2048, SAAR_IDLE_SINGLE, 6, 1.00,
     NOSLOTS, NOSLOTS},
    {"tool-heavy", 0.55, 0.22, 0.18, 0.14, 0.08, SLOTS(6, 2, 3, 4), 1024, 3072, SAAR_IDLE_SINGLE, 9,
     1.12, NOSLOTS, NOSLOTS},
    {"frontier-heavy", 0.55, 0.34, 0.20, 0.17, 0.07, SLOTS(5, 2, 3), 1536, 4096, SAAR_IDLE_RARE, 10,
     1.20, NOSLOTS, NOSLOTS},
    {"idle-heavy", 0.42, 0.30, 0.14, 0.16, 0.10, SLOTS(5, 2, 3), 512, 2048, SAAR_IDLE_FREQUENT, 4,
     1.00, NOSLOTS, NOSLOTS},
    {"stateful-heavy", 0.58, 0.30, 0.24, 0.15, 0.08, SLOTS(6, 3, 4), 128, 1024, SAAR_IDLE_RARE, 3,
     0.95, SLOTS(5, 1, 2), NOSLOTS},
    {"drift-heavy", 0.46, 0.28, 0.26, 0.12, 0.08, SLOTS(6, 3), 2048, 6144, SAAR_IDLE_RARE, 7, 1.08,
     NOSLOTS, SLOTS(6, 1, 2)},
};

const saar_scenario_t *saar_scenario_find(const char *name)
{
    for (int i = 0; name && i < SAAR_N_BUILTIN; i++)
        if (!strcmp(saar_builtin_scenarios[i].name, name)) return &saar_builtin_scenarios[i];
    return NULL;
}

/* ---- generation ---------------------------------------------------------- */

static int slots_has(const saar_slots_t *s, int t)
{
    if (s->cycle <= 0) return 0;
    int r = t % s->cycle;
    for (int i = 0; i < s->n; i++)
        if (s->slot[i] == r) return 1;
    return 0;
}

static double clamp01(double x)
{
    return x < 0.0 ? 0.0 : x > 1.0 ? 1.0 : x;
}

void saar_generate(const saar_scenario_t *s, uint32_t seed, int sessions, int turns,
                   saar_turn_t *out)
{
    mt19937_t g;
    mt19937_seed(&g, seed);
    const int T = turns;
    const int denom = T - 1 > 1 ? T - 1 : 1;
    saar_turn_t *o = out;
    for (int i = 0; i < sessions; i++) {
        long history = (long)mt19937_randint(&g, s->history_min, s->history_max);
        int single_idle = -1, idle_every = 0;
        if (s->idle_mode == SAAR_IDLE_FREQUENT) {
            idle_every = T / 4 > 5 ? T / 4 : 5;
        } else if (s->idle_mode == SAAR_IDLE_SINGLE) {
            const int opts[3] = {0, T / 2, T + 1};
            single_idle = opts[mt19937_choice(&g, 3)];
        }
        for (int t = 0; t < T; t++, o++) {
            saar_phase_t ph = SAAR_PHASE_USER;
            if (slots_has(&s->drift, t))
                ph = SAAR_PHASE_TOPIC_DRIFT;
            else if (slots_has(&s->state, t))
                ph = SAAR_PHASE_PROVIDER_STATE;
            else if (slots_has(&s->tool, t))
                ph = SAAR_PHASE_TOOL_LOOP;
            /* Same operation order as the reference expression, so the sum
             * rounds identically. */
            double d = s->base_demand + s->progress_weight * t / denom;
            d = d + (ph != SAAR_PHASE_USER ? s->phase_bonus : 0.0);
            d = d + s->wave_amplitude * sin(t * M_PI / 4);
            d = d + mt19937_uniform(&g, -s->noise, s->noise);
            d = clamp01(d);
            o->session = i;
            o->t = t;
            o->phase = ph;
            o->is_idle = idle_every ? (t >= idle_every && t % idle_every == 0) : t == single_idle;
            o->demand = d;
            o->history = (int)history;
            o->prompt_tokens = 800 + (int)history;
            o->completion_tokens = 220 + (int)(180.0 * d);
            o->base_model = saar_base_choice(d);
            long grow =
                (long)((double)(o->prompt_tokens / 8 + o->completion_tokens) * s->token_growth);
            history = history + grow < 64000 ? history + grow : 64000;
        }
    }
}

/* ---- scenario files ------------------------------------------------------ */

int saar_err(char *err, size_t n, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    if (err && n) vsnprintf(err, n, fmt, ap);
    va_end(ap);
    return -1;
}

static int get_num(const cJSON *o, const char *scn, const char *key, int required, double dflt,
                   double *out, char *err, size_t n)
{
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
    if (!v || cJSON_IsNull(v)) {
        if (required) return saar_err(err, n, "scenario '%s': missing field '%s'", scn, key);
        *out = dflt;
        return 0;
    }
    if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble))
        return saar_err(err, n, "scenario '%s': field '%s' must be a number", scn, key);
    *out = v->valuedouble;
    return 0;
}

static int get_int(const cJSON *o, const char *scn, const char *key, int required, int dflt,
                   int *out, char *err, size_t n)
{
    double d;
    if (get_num(o, scn, key, required, dflt, &d, err, n)) return -1;
    if (d != floor(d) || d < -1e9 || d > 1e9)
        return saar_err(err, n, "scenario '%s': field '%s' must be an integer", scn, key);
    *out = (int)d;
    return 0;
}

static int get_slots(const cJSON *o, const char *scn, const char *ckey, const char *skey,
                     int required, saar_slots_t *out, char *err, size_t n)
{
    memset(out, 0, sizeof *out);
    if (get_int(o, scn, ckey, required, 0, &out->cycle, err, n)) return -1;
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, skey);
    if (!a || cJSON_IsNull(a)) {
        if (out->cycle > 0) return saar_err(err, n, "scenario '%s': missing field '%s'", scn, skey);
        return 0;
    }
    if (!cJSON_IsArray(a))
        return saar_err(err, n, "scenario '%s': field '%s' must be an array of integers", scn,
                        skey);
    const cJSON *e;
    cJSON_ArrayForEach(e, a)
    {
        if (out->n >= SAAR_MAX_SLOTS)
            return saar_err(err, n, "scenario '%s': field '%s' has more than %d slots", scn, skey,
                            SAAR_MAX_SLOTS);
        if (!cJSON_IsNumber(e) || e->valuedouble != floor(e->valuedouble))
            return saar_err(err, n, "scenario '%s': field '%s' must be an array of integers", scn,
                            skey);
        out->slot[out->n++] = json_num_int(e->valuedouble, 0);
    }
    return 0;
}

static int parse_one(const cJSON *o, saar_scenario_t *s, char *err, size_t n)
{
    memset(s, 0, sizeof *s);
    if (!cJSON_IsObject(o)) return saar_err(err, n, "a scenario must be a JSON object");
    const cJSON *nm = cJSON_GetObjectItemCaseSensitive(o, "name");
    if (!cJSON_IsString(nm) || !nm->valuestring[0])
        return saar_err(err, n, "scenario: missing field 'name' (a non-empty string)");
    if (strlen(nm->valuestring) >= SAAR_NAME_MAX)
        return saar_err(err, n, "scenario name '%.32s...' is longer than %d bytes", nm->valuestring,
                        SAAR_NAME_MAX - 1);
    snprintf(s->name, sizeof s->name, "%s", nm->valuestring);
    const char *sn = s->name;
    if (get_num(o, sn, "base_demand", 1, 0, &s->base_demand, err, n) ||
        get_num(o, sn, "progress_weight", 1, 0, &s->progress_weight, err, n) ||
        get_num(o, sn, "phase_bonus", 1, 0, &s->phase_bonus, err, n) ||
        get_num(o, sn, "wave_amplitude", 1, 0, &s->wave_amplitude, err, n) ||
        get_num(o, sn, "noise", 1, 0, &s->noise, err, n) ||
        get_slots(o, sn, "tool_cycle", "tool_slots", 1, &s->tool, err, n) ||
        get_int(o, sn, "history_min", 1, 0, &s->history_min, err, n) ||
        get_int(o, sn, "history_max", 1, 0, &s->history_max, err, n) ||
        get_num(o, sn, "remaining_turn_prior", 0, 0, &s->remaining_turn_prior, err, n) ||
        get_num(o, sn, "token_growth", 0, 1.0, &s->token_growth, err, n) ||
        get_slots(o, sn, "state_cycle", "state_slots", 0, &s->state, err, n) ||
        get_slots(o, sn, "drift_cycle", "drift_slots", 0, &s->drift, err, n))
        return -1;
    const cJSON *im = cJSON_GetObjectItemCaseSensitive(o, "idle_mode");
    if (!im) {
        s->idle_mode = SAAR_IDLE_RARE;
    } else if (!cJSON_IsString(im)) {
        return saar_err(err, n,
                        "scenario '%s': field 'idle_mode' must be \"single\", \"rare\" or "
                        "\"frequent\"",
                        sn);
    } else if (!strcmp(im->valuestring, "single")) {
        s->idle_mode = SAAR_IDLE_SINGLE;
    } else if (!strcmp(im->valuestring, "rare")) {
        s->idle_mode = SAAR_IDLE_RARE;
    } else if (!strcmp(im->valuestring, "frequent")) {
        s->idle_mode = SAAR_IDLE_FREQUENT;
    } else {
        return saar_err(err, n,
                        "scenario '%s': idle_mode '%s' is not one of single, rare, frequent", sn,
                        im->valuestring);
    }
    return saar_scenario_validate(s, err, n);
}

static int check_slots(const char *sn, const char *what, const saar_slots_t *sl, char *err,
                       size_t n)
{
    if (sl->cycle < 0) return saar_err(err, n, "scenario '%s': %s_cycle must be >= 0", sn, what);
    for (int i = 0; i < sl->n; i++)
        if (sl->slot[i] < 0 || sl->slot[i] >= sl->cycle)
            return saar_err(err, n, "scenario '%s': %s_slots value %d is outside [0, %s_cycle=%d)",
                            sn, what, sl->slot[i], what, sl->cycle);
    return 0;
}

int saar_scenario_validate(const saar_scenario_t *s, char *err, size_t n)
{
    const char *sn = s->name;
    if (s->tool.cycle < 1) return saar_err(err, n, "scenario '%s': tool_cycle must be >= 1", sn);
    if (check_slots(sn, "tool", &s->tool, err, n) || check_slots(sn, "state", &s->state, err, n) ||
        check_slots(sn, "drift", &s->drift, err, n))
        return -1;
    if (s->noise < 0) return saar_err(err, n, "scenario '%s': noise must be >= 0", sn);
    if (s->history_min < 0 || s->history_max < s->history_min || s->history_max > 64000)
        return saar_err(err, n, "scenario '%s': need 0 <= history_min <= history_max <= 64000", sn);
    if (s->token_growth < 0 || s->token_growth > 100)
        return saar_err(err, n, "scenario '%s': token_growth must be in [0, 100]", sn);
    if (s->remaining_turn_prior < 0)
        return saar_err(err, n, "scenario '%s': remaining_turn_prior must be >= 0", sn);
    return 0;
}

int saar_scenarios_parse(const char *json, size_t len, saar_scenario_t **out, size_t *nout,
                         char *err, size_t errlen)
{
    *out = NULL;
    *nout = 0;
    cJSON *root = cJSON_ParseWithLength(json, len);
    if (!root) {
        const char *at = cJSON_GetErrorPtr();
        long off = at && at >= json && at <= json + len ? (long)(at - json) : -1;
        return saar_err(err, errlen, "scenario file is not valid JSON (near byte %ld)", off);
    }
    const cJSON *list = root;
    if (cJSON_IsObject(root) && cJSON_GetObjectItemCaseSensitive(root, "scenarios"))
        list = cJSON_GetObjectItemCaseSensitive(root, "scenarios");
    int count = cJSON_IsArray(list) ? cJSON_GetArraySize(list) : cJSON_IsObject(list) ? 1 : 0;
    if (count <= 0) {
        cJSON_Delete(root);
        return saar_err(err, errlen,
                        "scenario file holds no scenario (expected an object, an array "
                        "of objects or {\"scenarios\": [...]})");
    }
    saar_scenario_t *arr = calloc((size_t)count, sizeof *arr);
    if (!arr) abort();
    int rc = 0;
    for (int i = 0; i < count && !rc; i++) {
        const cJSON *o = cJSON_IsArray(list) ? cJSON_GetArrayItem(list, i) : list;
        rc = parse_one(o, &arr[i], err, errlen);
        for (int j = 0; j < i && !rc; j++)
            if (!strcmp(arr[j].name, arr[i].name))
                rc = saar_err(err, errlen, "scenario name '%s' appears twice", arr[i].name);
    }
    cJSON_Delete(root);
    if (rc) {
        free(arr);
        return -1;
    }
    *out = arr;
    *nout = (size_t)count;
    return 0;
}

int saar_scenarios_load(const char *path, saar_scenario_t **out, size_t *n, char *err,
                        size_t errlen)
{
    *out = NULL;
    *n = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return saar_err(err, errlen, "%s: %s", path, strerror(errno));
    char *data = NULL;
    size_t len = 0, cap = 0;
    for (;;) {
        if (len + 4096 > cap) {
            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) {
                free(data);
                fclose(f);
                return saar_err(err, errlen, "%s: larger than 16 MiB", path);
            }
            char *p = realloc(data, cap);
            if (!p) abort();
            data = p;
        }
        size_t got = fread(data + len, 1, cap - len, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        free(data);
        return saar_err(err, errlen, "%s: read error", path);
    }
    char inner[400];
    int rc = saar_scenarios_parse(data ? data : "", len, out, n, inner, sizeof inner);
    free(data);
    if (rc) return saar_err(err, errlen, "%s: %s", path, inner);
    return 0;
}
