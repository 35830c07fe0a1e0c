/* bench_session_store.c - memory per session in the memory session store
 * (issue 12): commits N sessions (default 1,000,000; first argument), each
 * two turns on two models with usage, as an agent session leaves its record,
 * and reports the packed record size, the store's own accounting of its
 * session entries, and the process RSS growth per session (which adds
 * malloc's per-allocation overhead). Also the commit and get cost per call.
 * Prints one line per figure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/clock.h"
#include "session/state_pack.h"
#include "session/store.h"

static long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) kb = strtol(line + 6, NULL, 10);
    if (f) fclose(f);
    return kb;
}

int main(int argc, char **argv)
{
    long n = argc > 1 ? atol(argv[1]) : 1000000;
    sess_memory_opts_t o = {.max_sessions = 2 * (uint64_t)n, .ttl_ms = 86400000ull};
    sess_store_t *s = sess_store_memory_new(&o);
    long rss0 = rss_kb();
    uint64_t t0 = clock_mono_us(), now = clock_wall_ms();
    char key[64], trace[32];
    const char *models[] = {"claude-sonnet-4-5", "qwen3-32b"};
    for (int turn = 0; turn < 2; turn++)
        for (long i = 0; i < n; i++) {
            snprintf(key, sizeof key, "agent-session-%08ld", i);
            snprintf(trace, sizeof trace, "rr_%024lx", (unsigned long)(i * 2654435761u + turn));
            sess_outcome_t out = {.expected_version = (uint64_t)turn,
                                  .started_at_ms = now + (uint64_t)turn * 1000,
                                  .now_ms = now + (uint64_t)turn * 1000 + 800,
                                  .model = models[turn],
                                  .backend = turn ? "local-gpu-1" : "anthropic-primary",
                                  .decision = "agentic_coding",
                                  .reasoning = "high",
                                  .lock_kind = SESS_LOCK_TOOL_LOOP,
                                  .lock_bindings = 1,
                                  .lock_since_turn = 1,
                                  .opener = (uint64_t)i * 0x9e3779b97f4a7c15ull + 1,
                                  .trace_id = trace,
                                  .reason = turn ? "switch_better" : "cold_start",
                                  .usage = {.has_usage = true,
                                            .prompt_tokens = 18000 + (uint64_t)i % 5000,
                                            .cached_tokens = 12000,
                                            .completion_tokens = 700,
                                            .cost = 0.0123}};
            sess_commit_result_t r;
            sess_state_t after;
            sess_store_commit_wait(s, key, &out, &r, &after);
        }
    uint64_t t1 = clock_mono_us();
    sess_state_t st;
    for (long i = 0; i < n; i++) {
        snprintf(key, sizeof key, "agent-session-%08ld", i);
        sess_store_get_wait(s, key, &st);
    }
    uint64_t t2 = clock_mono_us();
    long rss1 = rss_kb();
    sess_store_stats_t x;
    memset(&x, 0, sizeof x);
    sess_store_stats(s, &x);
    unsigned char packed[SESS_PACK_MAX];
    printf("sessions: %llu\n", (unsigned long long)x.sessions);
    printf("record: %zu bytes packed (sess_state_t %zu)\n", sess_state_pack(&st, packed),
           sizeof st);
    printf("store accounting: %.1f bytes per session (entry header, key, packed record, bucket)\n",
           (double)x.session_bytes / (double)(x.sessions ? x.sessions : 1));
    printf("RSS growth: %.1f bytes per session (%.1f MB for %ld sessions)\n",
           (double)(rss1 - rss0) * 1024.0 / (double)n, (double)(rss1 - rss0) / 1024.0, n);
    printf("commit: %.2f us per call; get: %.2f us per call\n", (double)(t1 - t0) / (2.0 * n),
           (double)(t2 - t1) / (double)n);
    sess_store_free(s);
    return 0;
}
