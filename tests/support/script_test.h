/* script_test.h - test support (cmocka tests): run one of the repository's
 * shell test runners (tests/interop/run.sh, tests/browser/run.sh) against
 * the tether binary under test, and fail the calling test, saying why,
 * when it cannot run or does not exit 0.
 *
 * Typical use:
 *   if (!tscript_on_path("node")) fail_msg("node is not on PATH: ...");
 *   tscript_run("tests/interop/run.sh", "an SDK script failed");
 */
#ifndef TETHER_TEST_SCRIPT_TEST_H
#define TETHER_TEST_SCRIPT_TEST_H

/* 1 when an executable named name is on $PATH. */
int tscript_on_path(const char *name);
/* Run bash $TETHER_SRC/rel (default: from the current directory) with
 * TETHER_BIN set to the absolute path of tproc_tether_bin(); its output
 * goes to the test's. Fails the test when the script is missing, the
 * binary is not found, the script is killed, or it exits non-zero (the
 * message: "REL exited N (2: setup error, 1: WHAT_FAILED; output above)"). */
void tscript_run(const char *rel, const char *what_failed);
#endif
