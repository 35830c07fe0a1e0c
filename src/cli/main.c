/* main.c - the tether command: dispatch to one subcommand file each. */
#include "http/evmem.h"
#include "cli/cli.h"
#include <stdio.h>
#include <string.h>

#ifndef TETHER_VERSION
#define TETHER_VERSION "0.1.0"
#endif

static const struct {
    const char *name;
    int (*fn)(int, char **);
    const char *help;
} commands[] = {
    {"serve", cli_serve, "run the router: serve --config FILE [--workers N]"},
    {"mock", cli_mock, "a simulated OpenAI-compatible backend"},
    {"validate", cli_validate, "check a config: validate --config FILE"},
    {"config", cli_config, "config validate|show|migrate|import"},
    {"bench", cli_bench, "benchmarks: bench saar|live|overhead"},
    {"eval", cli_eval,
     "route one request offline: eval --config F --prompt TEXT [--trace]; score signals: --dataset "
     "F.jsonl"},
    {"replay", cli_replay, "replay traces: replay list|show|session|export"},
    {"dsl", cli_dsl, "routing DSL: dsl compile|decompile|validate|test|fmt|generate"},
};

static void usage(FILE *f)
{
    fprintf(f, "usage: tether <command> [options]\n\ncommands:\n");
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        fprintf(f, "  %-10s %s\n", commands[i].name, commands[i].help);
    fprintf(f, "\n'tether <command> --help' for a command's options.\n");
}

int main(int argc, char **argv)
{
    evmem_install(); /* before anything touches libevent */
    int rc = cli_usage_first(argc, argv, usage, true);
    if (rc >= 0) return rc;
    if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "version")) {
        printf("tether %s\n", TETHER_VERSION);
        return 0;
    }
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++)
        if (!strcmp(argv[1], commands[i].name)) return commands[i].fn(argc - 1, argv + 1);
    fprintf(stderr, "tether: unknown command '%s'\n", argv[1]);
    usage(stderr);
    return 1;
}
