/* fleet.c - test support: the small/big mock fleet and its shared config
 * part (see fleet.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "fleet.h"
#include "stack.h"
#include <errno.h>
#include <sys/wait.h>

static int fleet_mock(tproc_t *p, const char *seed)
{
    if (seed) return tstack_mock_strict(p, seed);
    const char *extra[] = {"--strict", NULL};
    return tstack_mock(p, extra);
}

int tfleet_start(tfleet_t *fl, const char *name, const char *seed_small, const char *seed_big)
{
    if (tstack_workdir(fl->dir, sizeof fl->dir, name) != 0) return -1;
    fl->p_small = fleet_mock(&fl->small, seed_small);
    fl->p_big = fleet_mock(&fl->big, seed_big);
    return fl->p_small > 0 && fl->p_big > 0 ? 0 : -1;
}

int tfleet_stop(tfleet_t *fl)
{
    tproc_stop(&fl->small, 5000);
    tproc_stop(&fl->big, 5000);
    return tstack_workdir_remove(fl->dir);
}

void tfleet_yaml_models(FILE *f, const tfleet_t *fl, int port, const char *model_opt)
{
    char opt[128] = "";
    if (model_opt) snprintf(opt, sizeof opt, "      %s\n", model_opt);
    fprintf(f,
            "version: v0.3\n"
            "listeners:\n  - {name: main, address: 127.0.0.1, port: %d}\n"
            "providers:\n  defaults: {default_model: small}\n  models:\n"
            "    - name: small\n%s      pricing: {prompt_per_1m: 0.05, cached_input_per_1m: 0.01, "
            "completion_per_1m: 0.10}\n"
            "      backend_refs: [{name: s1, endpoint: \"127.0.0.1:%d\"}]\n"
            "    - name: big\n%s      pricing: {prompt_per_1m: 3.0, cached_input_per_1m: 0.3, "
            "completion_per_1m: 15.0}\n"
            "      backend_refs: [{name: b1, endpoint: \"127.0.0.1:%d\"}]\n"
            "routing:\n  modelCards: [{name: small, quality_score: 0.6}, {name: big, "
            "quality_score: 0.9}]\n"
            "  signals:\n    keywords:\n      - {name: hard, keywords: [prove, derive]}\n"
            "  decisions:\n"
            "    - {name: reasoning, priority: 10, rules: {type: keyword, name: hard}, modelRefs: "
            "[{model: big}]}\n"
            "    - {name: chat, modelRefs: [{model: small}]}\n",
            port, opt, fl->p_small, opt, fl->p_big);
}

FILE *tfleet_config(const tfleet_t *fl, const char *path, int port, const char *model_opt)
{
    FILE *f = fopen(path, "w");
    if (f) tfleet_yaml_models(f, fl, port, model_opt);
    return f;
}

int tfleet_violations(const tfleet_t *fl)
{
    return tstack_mock_violations(fl->p_small) + tstack_mock_violations(fl->p_big);
}

void tfleet_pair_start(tfleet_pair_t *p, const tfleet_t *fl, tfleet_config_fn write,
                       const void *ctx)
{
    assert_int_equal(tredis_start(&p->redis, tsupport_free_port()), 0);
    char c1[256], c2[256];
    snprintf(c1, sizeof c1, "%s/r1.yaml", fl->dir);
    snprintf(c2, sizeof c2, "%s/r2.yaml", fl->dir);
    for (int i = 0; i < 2; i++)
        p->ports[i] = tsupport_free_port();
    for (int i = 0; i < 2; i++)
        p->mports[i] = tsupport_free_port();
    write(c1, p->ports[0], p->mports[0], p->redis.addr, ctx);
    write(c2, p->ports[1], p->mports[1], p->redis.addr, ctx);
    assert_true(tstack_serve(&p->r[0], c1) > 0);
    assert_true(tstack_serve(&p->r[1], c2) > 0);
}

void tfleet_pair_stop(tfleet_pair_t *p)
{
    int s1 = tproc_stop(&p->r[0], 10000), s2 = tproc_stop(&p->r[1], 10000);
    assert_true(WIFEXITED(s1) && WEXITSTATUS(s1) == 0);
    assert_true(WIFEXITED(s2) && WEXITSTATUS(s2) == 0);
    tredis_stop(&p->redis, 5000);
}

tfleet_t tfleet;

int tfleet_setup(void **state)
{
    (void)state;
    return tfleet_start(&tfleet, program_invocation_short_name, NULL, NULL);
}

int tfleet_setup_seeded(void **state)
{
    (void)state;
    return tfleet_start(&tfleet, program_invocation_short_name, "1", "2");
}

int tfleet_teardown(void **state)
{
    (void)state;
    return tfleet_stop(&tfleet);
}
