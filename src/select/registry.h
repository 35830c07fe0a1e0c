/* registry.h - the selection algorithms tether is built with, one line
 * each: the order of `algorithm` keys and blocks in the reference.
 *
 * SEL_ALGORITHMS(X) calls X(name) per algorithm; algorithm `name` is the
 * cfg_selector_t `sel_<name>_algo` (config/family.h) that its file,
 * select/<name>.c, defines next to its sel_algo_ops_t. Adding an algorithm
 * is that one file and one line here. registry.c turns the list into the
 * array the config and sel_run read; a test binary may build its own array
 * from the same list plus a test-only member. */
#ifndef TETHER_SELECT_REGISTRY_H
#define TETHER_SELECT_REGISTRY_H
#include "config/family.h"

#define SEL_ALGORITHMS(X)                                                                          \
    X(static)                                                                                      \
    X(weighted)                                                                                    \
    X(multi_factor)                                                                                \
    X(latency_aware)                                                                               \
    X(router_dc)                                                                                   \
    X(elo)

#define SEL_ALGO_DECLARE(name) extern const cfg_selector_t sel_##name##_algo;
#define SEL_ALGO_ENTRY(name)   &sel_##name##_algo,
SEL_ALGORITHMS(SEL_ALGO_DECLARE)
#endif
