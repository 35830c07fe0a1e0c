/* bench_pipeline.c - cost of the full lexical signal pipeline: one recipe
 * referencing every heuristic family (keyword literal/regex/bm25/ngram/
 * fuzzy, pii, jailbreak, language, context, conversation, structure,
 * event, modality, authz) evaluated with sig_eval on agent requests of
 * 16 KB and 1 MB (a short user task followed by tool calls and large tool
 * results) and on a 16 KB single prompt (the worst case for the query
 * window). Request facts are rebuilt per iteration and timed separately.
 * One core; median of runs. Targets: <= 50 us (16 KB), <= 1 ms (1 MB).
 * Profiling knobs: BENCH_PIPELINE_ONLY=<name part> runs only the matching
 * case ("prompt"), BENCH_PIPELINE_ITERS=<n> sets the iterations per run
 * (e.g. 20 under valgrind --tool=callgrind). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/signals/sig_fixture.h"
#include "core/clock.h"

#define SIGNALS                                                                                    \
    "    keywords:\n"                                                                              \
    "      - {name: code, keywords: [stack trace, segfault, unit test, refactor, null pointer, "   \
    "race condition]}\n"                                                                           \
    "      - {name: infra, keywords: [kubernetes, terraform, docker, helm chart, load "            \
    "balancer]}\n"                                                                                 \
    "      - {name: data, keywords: [sql, postgres, migration, schema, index]}\n"                  \
    "      - {name: zh, keywords: ['代码', '错误']}\n"                                         \
    "      - {name: think, method: regex, keywords: ['\\b(prove|derive|step[- ]by[- "              \
    "]step)\\b']}\n"                                                                               \
    "      - {name: perf, method: bm25, keywords: [optimize, latency, throughput]}\n"              \
    "      - {name: ng, method: ngram, keywords: [idempotent, retries]}\n"                         \
    "      - {name: fz, fuzzy_match: true, keywords: [segfault, deadlock]}\n"                      \
    "      - {name: nor, operator: NOR, keywords: [password, secret]}\n"                           \
    "    pii: [{name: pii, pii_types_allowed: [EMAIL_ADDRESS]}]\n"                                 \
    "    jailbreak: [{name: jb, method: patterns}]\n"                                              \
    "    language: [{name: en}]\n"                                                                 \
    "    context: [{name: long, min_tokens: 32K}]\n"                                               \
    "    conversation: [{name: tools, feature: {type: count, source: {type: "                      \
    "assistant_tool_call}}, predicate: {gte: 1}}]\n"                                               \
    "    structure: [{name: qs, feature: {type: count, source: {type: regex, pattern: '\\?'}}, "   \
    "predicate: {gte: 2}}]\n"                                                                      \
    "    events: [{name: ev, event_types: [outage, incident], severities: [critical]}]\n"          \
    "    modality: [{name: DIFFUSION}]\n"                                                          \
    "    role_bindings: [{name: rb, role: admin, subjects: [{kind: User, name: alice}]}]\n"
#define LEAVES                                                                                     \
    "[{type: keyword, name: code}, {type: keyword, name: infra}, {type: keyword, name: data},"     \
    " {type: keyword, name: zh}, {type: keyword, name: think}, {type: keyword, name: perf},"       \
    " {type: keyword, name: ng}, {type: keyword, name: fz}, {type: keyword, name: nor},"           \
    " {type: pii, name: pii}, {type: jailbreak, name: jb}, {type: language, name: en},"            \
    " {type: context, name: long}, {type: conversation, name: tools}, {type: structure, name: "    \
    "qs},"                                                                                         \
    " {type: event, name: ev}, {type: modality, name: DIFFUSION}, {type: authz, name: admin}]"

static const char *TASK =
    "The payment retries are not idempotent and we see duplicate charges when the "
    "load balancer times out. Please refactor the retry loop, keep latency low, and add "
    "a unit test. Can you also check the migration? Is the index used?";

static void filler(buf_t *b, size_t n)
{
    static const char *parts[] = {
        "def retry(fn, attempts=3):\n    for i in range(attempts):\n        try:\n            "
        "return fn()\n",
        "2024-03-15T10:30:45Z INFO worker-3 processed job 8812734 in 1.25 s (queue depth 12)\n",
        "Contact the owner at jane.doe@example.com if the job fails. Server 10.20.30.40 "
        "answered.\n",
        "const total = items.reduce((a, b) => a + b.price * b.qty, 0); // sum in cents\n",
    };
    size_t start = b->len, k = 0;
    while (b->len - start < n)
        buf_puts(b, parts[k++ % 4]);
}

/* An agent request of about n bytes: system, user task, then tool rounds. */
static char *agent_body(size_t n, size_t *len)
{
    buf_t b = BUF_INIT, t = BUF_INIT;
    buf_puts(&b, "{\"model\":\"auto\",\"tools\":[{\"type\":\"function\",\"function\":{\"name\":"
                 "\"sh\",\"parameters\":{}}}],"
                 "\"messages\":[{\"role\":\"system\",\"content\":\"You are a coding "
                 "agent.\"},{\"role\":\"user\",\"content\":");
    buf_json_str(&b, TASK, strlen(TASK));
    buf_puts(&b, "}");
    for (int i = 0; b.len < n; i++) {
        buf_printf(&b,
                   ",{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":\"c%d\","
                   "\"type\":\"function\","
                   "\"function\":{\"name\":\"sh\",\"arguments\":\"{}\"}}]},{\"role\":\"tool\","
                   "\"tool_call_id\":\"c%d\",\"content\":",
                   i, i);
        buf_reset(&t);
        filler(&t, n / 16 < 4096 ? 4096 : n / 16);
        buf_json_str(&b, t.data, t.len);
        buf_puts(&b, "}");
    }
    buf_puts(&b, "]}");
    buf_free(&t);
    *len = b.len;
    return buf_steal(&b);
}

static char *prompt_body(size_t n, size_t *len)
{
    buf_t b = BUF_INIT, t = BUF_INIT;
    buf_puts(&t, TASK);
    buf_putc(&t, '\n');
    filler(&t, n);
    buf_puts(&b, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":");
    buf_json_str(&b, t.data, t.len);
    buf_puts(&b, "]}");
    buf_free(&t);
    *len = b.len - 1;
    /* close the message object properly */
    char *s = buf_steal(&b);
    s[*len - 1] = '}';
    s[*len] = ']';
    char *out = malloc(*len + 3);
    memcpy(out, s, *len + 1);
    out[*len + 1] = '}';
    out[*len + 2] = 0;
    *len += 2;
    free(s);
    return out;
}

static int cmp_d(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void run(sigt_t *t, const char *name, const char *body, size_t len, double target)
{
    sig_env_t env = {.user = "alice"};
    const char *only = getenv("BENCH_PIPELINE_ONLY"), *it = getenv("BENCH_PIPELINE_ITERS");
    if (only && !strstr(name, only)) return;
    int iters = it && atoi(it) > 0 ? atoi(it) : len > 100000 ? 200 : 3000;
    double facts[7], sig[7], fam[CFG_SIG_AUTHZ + 1][7];
    for (int r = 0; r < 7; r++) {
        double tf = 0, ts = 0, tfam[CFG_SIG_AUTHZ + 1] = {0};
        for (int i = 0; i < iters; i++) {
            arena_reset(&t->a);
            uint64_t t0 = clock_mono_us();
            jreq_t *jr = arena_calloc(&t->a, sizeof *jr);
            jscan_err_t e;
            if (jscan_request(body, len, &t->a, jr, &e) != 0) {
                fprintf(stderr, "%s: bad body\n", name);
                exit(1);
            }
            rq_t *rq = rq_from_chat(&t->a, body, len, jr, NULL, 0);
            uint64_t t1 = clock_mono_us();
            sig_eval(t->e, &t->cfg->routing->recipes[0], rq, &env, &t->a, &t->res);
            uint64_t t2 = clock_mono_us();
            tf += (double)(t1 - t0);
            ts += (double)(t2 - t1);
            for (int f = 0; f < CFG_SIG_AUTHZ + 1; f++)
                tfam[f] += t->res.family_latency_us[f];
        }
        facts[r] = tf / iters;
        sig[r] = ts / iters;
        for (int f = 0; f < CFG_SIG_AUTHZ + 1; f++)
            fam[f][r] = tfam[f] / iters;
    }
    qsort(facts, 7, sizeof(double), cmp_d);
    qsort(sig, 7, sizeof(double), cmp_d);
    printf("%-14s %8zu bytes  facts %8.1f us  signals %8.1f us  (target %.0f us: %s)\n", name, len,
           facts[3], sig[3], target, sig[3] <= target ? "met" : "MISSED");
    printf("  per family (median of runs, us):");
    for (int f = 0; f < CFG_SIG_AUTHZ + 1; f++)
        if (t->res.family_ran[f]) {
            qsort(fam[f], 7, sizeof(double), cmp_d);
            printf(" %s=%.1f", cfg_signal_family_name((cfg_signal_family_t)f), fam[f][3]);
        }
    printf("\n  matched:");
    for (size_t i = 0; i < t->res.n; i++)
        if (t->res.items[i].matched) printf(" %s", t->res.items[i].rule->name);
    printf("\n");
}

int main(void)
{
    sigt_t *t = sigt_load(SIGNALS, LEAVES);
    if (!t->e) {
        fprintf(stderr, "config: %s\n", t->err);
        return 1;
    }
    size_t l16, l1m, lp;
    char *a16 = agent_body(16 * 1024, &l16), *a1m = agent_body(1024 * 1024, &l1m),
         *p16 = prompt_body(16 * 1024, &lp);
    printf(
        "bench_pipeline: every heuristic family on one recipe (%zu rules), sig_eval per request\n",
        t->cfg->routing->recipes[0].n_signals);
    run(t, "agent 16KB", a16, l16, 50);
    run(t, "agent 1MB", a1m, l1m, 1000);
    run(t, "prompt 16KB", p16, lp, 50);
    free(a16);
    free(a1m);
    free(p16);
    sigt_free(t);
    return 0;
}
