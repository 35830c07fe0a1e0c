/* fleet.h - test support: the two-model fleet of the session integration
 * tests. Two strict mocks ("small" and "big"), a work directory for
 * configs and files, and the part of a router config they share: both
 * models with their prices, and one decision that sends "prove"/"derive"
 * to big and everything else to small.
 *
 * Typical use (one fleet for the test program):
 *   cmocka_run_group_tests(tests, tfleet_setup_seeded, tfleet_teardown);
 *   config:   FILE *f = tfleet_config(&tfleet, path, port, NULL);
 *             fprintf(f, "global:\n  ..."); fclose(f);
 *
 * Not thread-safe; one tfleet_t per test program. */
#ifndef TETHER_TEST_FLEET_H
#define TETHER_TEST_FLEET_H
#include "proc.h"
#include "redis_server.h"
#include <stdio.h>

typedef struct tfleet {
    tproc_t small, big;
    int p_small, p_big; /* the mocks' ports */
    char dir[128];      /* /tmp/tether-NAME-PID */
} tfleet_t;

/* Make the work directory /tmp/tether-NAME-PID and start both mocks with
 * --strict (and --seed SEED when a seed is given: different seeds make the
 * two backends issue different ids). Returns 0, or -1. */
int tfleet_start(tfleet_t *fl, const char *name, const char *seed_small, const char *seed_big);
/* Stop both mocks and remove the work directory. Returns 0, or -1 when
 * the directory could not be removed. */
int tfleet_stop(tfleet_t *fl);
/* Write the config up to (not including) "global:": version, the main
 * listener on port, models small and big (model_opt: one more line for
 * each model, e.g. "responses_mode: native", or NULL), their cards, the
 * keyword signal "hard" (prove, derive) and the decisions reasoning (to
 * big) and chat (to small). */
void tfleet_yaml_models(FILE *f, const tfleet_t *fl, int port, const char *model_opt);
/* Create the config file path and write the models part into it
 * (tfleet_yaml_models); the caller adds "global:" and closes it. NULL when
 * the file cannot be created. */
FILE *tfleet_config(const tfleet_t *fl, const char *path, int port, const char *model_opt);
/* The sum of both mocks' violation counts (tstack_mock_violations). */
int tfleet_violations(const tfleet_t *fl);

/* Two replicas sharing one redis-server (the outage tests). */
typedef struct tfleet_pair {
    tredis_t redis;
    tproc_t r[2];
    int ports[2], mports[2]; /* the replicas' listeners and management ports */
} tfleet_pair_t;
/* Writes one replica's config to path: its listener port, management
 * port, the shared Redis address, and the test's ctx. */
typedef void (*tfleet_config_fn)(const char *path, int port, int mgmt, const char *redis_addr,
                                 const void *ctx);
/* (cmocka) Start a redis-server, write FL->dir/r1.yaml and r2.yaml with
 * write, start both replicas (tstack_serve); asserts each step. */
void tfleet_pair_start(tfleet_pair_t *p, const tfleet_t *fl, tfleet_config_fn write,
                       const void *ctx);
/* (cmocka) Stop both replicas, asserting each exits 0 (under the
 * sanitizers: no finding, no leak), then the redis-server. */
void tfleet_pair_stop(tfleet_pair_t *p);

/* The fleet of the group setups below (work directory named after the
 * program). */
extern tfleet_t tfleet;
/* cmocka group setups: tfleet_start(&tfleet, ...) without seeds, or with
 * seeds "1" (small) and "2" (big); the teardown is tfleet_stop(&tfleet). */
int tfleet_setup(void **state);
int tfleet_setup_seeded(void **state);
int tfleet_teardown(void **state);
#endif
