/* cli.h - subcommands of the tether binary; one file per subcommand.
 * Each returns the process exit code: 0 ok, 1 validation/usage error,
 * 2 runtime failure. */
#ifndef TETHER_CLI_CLI_H
#define TETHER_CLI_CLI_H
#include <stdbool.h>
#include <stdio.h>
int cli_serve(int argc, char **argv);
int cli_mock(int argc, char **argv);
int cli_validate(int argc, char **argv); /* tether validate */
int cli_config(int argc, char **argv);   /* tether config validate|show|migrate|import */
int cli_bench(int argc, char **argv);
/* eval --dataset: score signal rules on a labelled JSONL set (eval_dataset.c) */
int cli_eval_dataset(const char *config, const char *path, bool json);
int cli_eval(int argc, char **argv); /* tether eval */ /* tether bench saar|live|overhead */
int cli_replay(int argc, char **argv);                 /* tether replay list|show|session|export */
int cli_dsl(int argc, char **argv); /* tether dsl compile|decompile|validate|test|fmt|generate */
/* The opening of a command with subcommands (usage.c): without one, usage
 * on stderr and 1; -h or --help (and `help` when help_word) usage on stdout
 * and 0; otherwise -1: go on with argv[1]. */
int cli_usage_first(int argc, char **argv, void (*usage)(FILE *f), bool help_word);
#endif
