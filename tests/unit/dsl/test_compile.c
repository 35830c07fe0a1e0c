/* test_compile.c - compile, decompile, validation and the TEST runner on
 * real programs: the SPEC §14 program compiled with --base of the §13
 * config reproduces its routing section; compile -> decompile -> compile is
 * a fixed point over every examples/ program; fmt keeps compile's output;
 * conflict fixtures (true conflicts, guarded non-conflicts); the §14 TESTs
 * pass through route_eval and a wrong expectation prints the diff; generate
 * repairs a broken answer from `tether mock --script`. */
#include "config/yaml.h"
#include "dsl/compile.h"
#include "dsl/generate.h"
#include "dsl/test.h"
#include "proc.h"
#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

static char *slurp(const char *rel, size_t *len)
{
    const char *root = getenv("TETHER_SRC");
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", root ? root : ".", rel);
    FILE *f = fopen(path, "rb");
    if (!f) fail_msg("cannot read %s", path);
    buf_t b = BUF_INIT;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&b, tmp, n);
    fclose(f);
    *len = b.len;
    buf_putc(&b, 0);
    return buf_steal(&b);
}

static void env(void)
{
    setenv("HOSTNAME", "h", 1);
    setenv("VLLM_KEY", "k", 1);
    setenv("ANTHROPIC_API_KEY", "k", 1);
    setenv("REDIS_PASSWORD", "p", 1);
    setenv("TETHER_ADMIN_TOKEN", "t", 1);
}

/* compile text (optionally onto a base); returns 0 and the YAML */
static int compile_text(const char *src, const char *base, buf_t *out, cfg_t **cfg, dsl_diags_t *d)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_init(d, "t.dsl");
    dsl_program_t *p = dsl_parse(&a, src, strlen(src), d);
    int rc = -1;
    if (!d->n_errors) dsl_validate(p, NULL, d);
    if (!d->n_errors) {
        dsl_compile_in_t ci = {.prog = p,
                               .base_name = "base.yaml",
                               .base_text = base,
                               .base_len = base ? strlen(base) : 0};
        rc = dsl_compile(&ci, out, cfg, d);
    }
    arena_deinit(&a);
    return rc;
}

/* structural equality of two YAML trees; scalars by text */
static bool same(const cfg_node_t *x, const cfg_node_t *y)
{
    if (!x || !y) return x == y;
    if (x->kind != y->kind || x->n != y->n) return false;
    if (x->kind == CFG_NODE_SCALAR) return !strcmp(x->str, y->str);
    for (size_t i = 0; i < x->n; i++) {
        if (x->kind == CFG_NODE_MAP) {
            const cfg_node_t *o = cfg_node_get(y, x->keys[i]->str);
            if (!same(x->items[i], o)) {
                fprintf(stderr, "differs at key %s\n", x->keys[i]->str);
                return false;
            }
        } else if (!same(x->items[i], y->items[i])) {
            return false;
        }
    }
    return true;
}

static void test_spec_program_reproduces_spec_routing(void **st)
{
    (void)st;
    env();
    size_t bl, pl;
    char *base = slurp("tests/data/config/spec_example.yaml", &bl);
    char *prog = slurp("examples/routing.dsl", &pl);
    buf_t y = BUF_INIT;
    dsl_diags_t d;
    int rc = compile_text(prog, base, &y, NULL, &d);
    dsl_diags_print(stderr, &d);
    assert_int_equal(rc, 0);
    arena_t a;
    arena_init(&a, 65536);
    cfg_diags_t cd;
    cfg_diags_init(&cd);
    cfg_node_t *want = cfg_yaml_parse(&a, "spec", base, bl, &cd),
               *got = cfg_yaml_parse(&a, "out", y.data, y.len, &cd);
    assert_non_null(want);
    assert_non_null(got);
    assert_true(same(cfg_node_get(want, "routing"), cfg_node_get(got, "routing")));
    /* the other sections keep their text, comments and flow style */
    const char *g = strstr(base, "\nglobal:");
    assert_non_null(g);
    assert_non_null(strstr(y.data, g));
    cfg_diags_free(&cd);
    arena_deinit(&a);
    dsl_diags_free(&d);
    buf_free(&y);
    free(base);
    free(prog);
}

static void roundtrip(const char *src, const char *what)
{
    buf_t y1 = BUF_INIT, y2 = BUF_INIT, y3 = BUF_INIT, dsl = BUF_INIT, f = BUF_INIT;
    dsl_diags_t d;
    if (compile_text(src, NULL, &y1, NULL, &d) != 0) {
        dsl_diags_print(stderr, &d);
        fail_msg("%s does not compile", what);
    }
    dsl_diags_free(&d);
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_init(&d, "y");
    dsl_program_t *p = dsl_decompile(&a, "y", y1.data, y1.len, &d);
    assert_non_null(p);
    dsl_fmt(&dsl, p);
    dsl_diags_free(&d);
    assert_int_equal(compile_text(dsl.data, NULL, &y2, NULL, &d), 0);
    dsl_diags_free(&d);
    if (y1.len != y2.len || memcmp(y1.data, y2.data, y1.len))
        fail_msg("%s: compile(decompile(compile(x))) != compile(x):\n%s\n---\n%s", what, y1.data,
                 y2.data);
    /* compile(fmt(x)) = compile(x) */
    dsl_diags_init(&d, "x");
    dsl_program_t *px = dsl_parse(&a, src, strlen(src), &d);
    dsl_fmt(&f, px);
    dsl_diags_free(&d);
    assert_int_equal(compile_text(f.data, NULL, &y3, NULL, &d), 0);
    dsl_diags_free(&d);
    assert_int_equal(y1.len, y3.len);
    assert_memory_equal(y1.data, y3.data, y1.len);
    arena_deinit(&a);
    buf_free(&y1);
    buf_free(&y2);
    buf_free(&y3);
    buf_free(&dsl);
    buf_free(&f);
}

static void test_roundtrip_every_example(void **st)
{
    (void)st;
    const char *root = getenv("TETHER_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/examples", root ? root : ".");
    DIR *dp = opendir(dir);
    assert_non_null(dp);
    struct dirent *e;
    int n = 0;
    while ((e = readdir(dp))) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".dsl")) continue;
        char rel[512];
        snprintf(rel, sizeof rel, "examples/%s", e->d_name);
        size_t len;
        char *src = slurp(rel, &len);
        roundtrip(src, rel);
        free(src);
        n++;
    }
    closedir(dp);
    assert_true(n >= 3);
}

static void test_examples_have_compiled_yaml(void **st)
{
    (void)st;
    /* examples/X.dsl sits beside examples/X.yaml, its current compile output */
    const char *names[] = {"routing", "tree", "recipes"};
    for (size_t i = 0; i < 3; i++) {
        char rel[256];
        size_t l1, l2;
        snprintf(rel, sizeof rel, "examples/%s.dsl", names[i]);
        char *src = slurp(rel, &l1);
        snprintf(rel, sizeof rel, "examples/%s.yaml", names[i]);
        char *yaml = slurp(rel, &l2);
        buf_t y = BUF_INIT;
        dsl_diags_t d;
        assert_int_equal(compile_text(src, NULL, &y, NULL, &d), 0);
        dsl_diags_free(&d);
        if (y.len != l2 || memcmp(y.data, yaml, l2)) fail_msg("%s is stale", rel);
        buf_free(&y);
        free(src);
        free(yaml);
    }
}

/* validation diagnostics of src as one string */
static char *validate(const char *src, size_t *n_err, size_t *n_warn)
{
    arena_t a;
    arena_init(&a, 65536);
    dsl_diags_t d;
    dsl_diags_init(&d, "v.dsl");
    dsl_program_t *p = dsl_parse(&a, src, strlen(src), &d);
    assert_int_equal(d.n_errors, 0);
    dsl_validate(p, NULL, &d);
    dsl_diags_sort(&d);
    buf_t b = BUF_INIT;
    dsl_diags_format(&b, &d);
    buf_putc(&b, 0);
    *n_err = d.n_errors;
    *n_warn = d.n_warnings;
    dsl_diags_free(&d);
    arena_deinit(&a);
    return buf_steal(&b);
}

#define SIGS                                                                                       \
    "SIGNAL keyword a { keywords: [\"a\"] }\nSIGNAL keyword b { keywords: [\"b\"] }\n"             \
    "SIGNAL domain math { mmlu_categories: [\"math\"] }\nSIGNAL domain law { mmlu_categories: "    \
    "[\"law\"] }\n"                                                                                \
    "SIGNAL_GROUP subj { semantics: \"exclusive\" members: [math, law] }\n"                        \
    "SIGNAL language en { }\nSIGNAL language fr { }\n"                                             \
    "SIGNAL context short { max_tokens: \"4K\" }\nSIGNAL context long { min_tokens: \"32K\" }\n"

static void test_conflicts(void **st)
{
    (void)st;
    size_t e, w;
    char *s;
    /* true conflict: same rank, shared positive signal */
    s = validate(SIGS "ROUTE r1 { PRIORITY 5 WHEN keyword(\"a\") MODEL m }\n"
                      "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") AND keyword(\"b\") MODEL m }\n",
                 &e, &w);
    if (e || !strstr(s, "v.dsl:11:1: warning")) fail_msg("%s", s);
    assert_non_null(strstr(
        s, "v.dsl:11:1: warning: routes \"r1\" and \"r2\" can both fire on the same input (both on "
           "keyword(\"a\")) with no mutual-exclusion guard"));
    assert_non_null(strstr(s, "  fix: give one a different PRIORITY"));
    free(s);
    /* guarded: NOT, partition members, languages, disjoint context ranges */
    const char *guards[] = {
        "ROUTE r1 { PRIORITY 5 WHEN keyword(\"a\") AND NOT keyword(\"b\") MODEL m }\n"
        "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") AND keyword(\"b\") MODEL m }\n",
        "ROUTE r1 { PRIORITY 5 WHEN keyword(\"a\") AND domain(\"math\") MODEL m }\n"
        "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") AND domain(\"law\") MODEL m }\n",
        "ROUTE r1 { PRIORITY 5 WHEN keyword(\"a\") AND language(\"en\") MODEL m }\n"
        "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") AND language(\"fr\") MODEL m }\n",
        "ROUTE r1 { PRIORITY 5 WHEN keyword(\"a\") AND context(\"short\") MODEL m }\n"
        "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") AND context(\"long\") MODEL m }\n",
        "ROUTE r1 { PRIORITY 6 WHEN keyword(\"a\") AND keyword(\"b\") MODEL m }\n"
        "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") MODEL m }\n", /* different priority, r1 narrower
                                                                  */
    };
    for (size_t i = 0; i < sizeof guards / sizeof *guards; i++) {
        char src[4096];
        snprintf(src, sizeof src, SIGS "%s", guards[i]);
        s = validate(src, &e, &w);
        if (e || w) fail_msg("guarded case %zu reported:\n%s", i, s);
        free(s);
    }
    /* shadowing: a higher-priority broader route makes the narrower unreachable */
    s = validate(SIGS "ROUTE r1 { PRIORITY 9 WHEN keyword(\"a\") MODEL m }\n"
                      "ROUTE r2 { PRIORITY 5 WHEN keyword(\"a\") AND keyword(\"b\") MODEL m }\n",
                 &e, &w);
    assert_non_null(strstr(
        s,
        "route \"r2\" is unreachable: every way it can match is shadowed by higher-ranked \"r1\""));
    free(s);
    /* impossible AND on one partition is an error */
    s = validate(SIGS "ROUTE r1 { WHEN domain(\"math\") AND domain(\"law\") MODEL m }\n", &e, &w);
    assert_true(e >= 1);
    assert_non_null(strstr(
        s,
        "v.dsl:10:36: error: impossible AND: domain(\"math\") and domain(\"law\") are members of "
        "partition \"subj\""));
    free(s);
    /* rank problems: catch-all on top, tiered mixed with untiered */
    s = validate(
        SIGS
        "ROUTE all { PRIORITY 9 MODEL m }\nROUTE r { PRIORITY 1 WHEN keyword(\"a\") MODEL m }\n",
        &e, &w);
    assert_non_null(
        strstr(s, "catch-all route \"all\" ranks above \"r\", which can never be chosen"));
    free(s);
    s = validate(SIGS "ROUTE r1 { TIER 1 WHEN keyword(\"a\") MODEL m }\nROUTE r2 { WHEN "
                      "keyword(\"b\") MODEL m }\n",
                 &e, &w);
    assert_non_null(strstr(s, "route \"r2\" has no TIER while others do"));
    free(s);
    /* decision trees are exclusive by construction */
    s = validate(SIGS "DECISION_TREE t { IF keyword(\"a\") { MODEL m } ELSE IF keyword(\"a\") AND "
                      "keyword(\"b\") { MODEL m } "
                      "ELSE { MODEL m } }\n",
                 &e, &w);
    assert_int_equal(e, 0);
    assert_null(strstr(s, "can both fire"));
    assert_non_null(strstr(s, "\"t_1\" can never match"));
    free(s);
}

static void test_reference_and_range_errors(void **st)
{
    (void)st;
    size_t e, w;
    char *s =
        validate("SIGNAL keyword code { keywords: [\"x\"] kewords: [] }\n"
                 "SIGNAL keywrd k { }\n"
                 "PLUGIN p system_prompt { mode: \"insert\" }\n"
                 "PROJECTION score s1 { inputs: [{ type: \"projection\" name: \"o2\" }] }\n"
                 "PROJECTION mapping m1 { source: \"s1\" outputs: [{ name: \"o1\" gt: 1 }] }\n"
                 "PROJECTION score s2 { inputs: [{ type: \"projection\" name: \"o1\" }] }\n"
                 "PROJECTION mapping m2 { source: \"s2\" outputs: [{ name: \"o2\" gt: 1 }] }\n"
                 "ROUTE r { TIER 0 PRIORITY -1 WHEN keyword(\"cod\") OR embedding(\"code\") MODEL "
                 "m (effort = \"huge\") "
                 "PLUGIN sytem_prompt EMIT retention { drop: true ttl_turns: 2 } ALGORITHM "
                 "multi_factr SESSION { stay_bais: 1 } }\n"
                 "ROUTE r2 { WHEN keyword(\"code\") EMIT cache { } }\n"
                 "TEST t { \"q\" -> rr WITH { sesion: {} } }\n",
                 &e, &w);
    const char *want[] = {
        "v.dsl:1:39: error: unknown field \"kewords\" in SIGNAL keyword code\n  fix: did you mean "
        "\"keywords\"",
        "v.dsl:2:1: error: unknown signal family \"keywrd\"\n  fix: did you mean \"keyword\"",
        "error: projection cycle: s1 -> m2 -> s2 -> m1 -> s1",
        "v.dsl:8:11: error: TIER must be >= 1",
        "error: PRIORITY must be >= 0",
        "error: undefined signal keyword(\"cod\")\n  fix: did you mean \"code\"",
        "error: embedding(\"code\"): \"code\" is a keyword signal, not embedding\n  fix: write "
        "keyword(\"code\")",
        "error: effort must be one of none, minimal, low, medium, high, xhigh",
        "error: undefined plugin \"sytem_prompt\" (neither a PLUGIN template nor a plugin type)\n  "
        "fix: did you mean \"system_prompt\"",
        "error: invalid EMIT: drop with ttl_turns > 0",
        "error: unknown algorithm \"multi_factr\"\n  fix: did you mean \"multi_factor\"",
        "error: unknown field \"stay_bais\" in SESSION\n  fix: did you mean \"stay_bias\"",
        "v.dsl:9:1: error: route \"r2\" has no MODEL\n  fix: add MODEL <name> to the route",
        "error: invalid EMIT kind \"cache\" (retention is the only kind)",
        "error: TEST t: \"rr\" is not a route",
        "error: unknown WITH key \"sesion\"\n  fix: did you mean \"session\"",
    };
    for (size_t i = 0; i < sizeof want / sizeof *want; i++)
        if (!strstr(s, want[i])) fail_msg("missing:\n%s\nin:\n%s", want[i], s);
    free(s);
}

static void test_compile_errors_write_nothing(void **st)
{
    (void)st;
    buf_t y = BUF_INIT;
    dsl_diags_t d;
    /* the loader rejects a bad value validation cannot see (threshold out of range) */
    int rc = compile_text("SIGNAL keyword k { keywords: [\"x\"] method: \"telepathy\" }\nROUTE r { "
                          "WHEN keyword(\"k\") MODEL m }\n",
                          NULL, &y, NULL, &d);
    assert_int_equal(rc, -1);
    assert_int_equal(y.len, 0);
    assert_true(d.n_errors >= 1);
    assert_non_null(strstr(d.v[0].msg, "the compiled config does not load"));
    dsl_diags_free(&d);
    buf_free(&y);
}

static void test_tree_compiles_to_guarded_priorities(void **st)
{
    (void)st;
    buf_t y = BUF_INIT;
    dsl_diags_t d;
    assert_int_equal(
        compile_text(
            "SIGNAL keyword a { keywords: [\"a\"] }\n"
            "DECISION_TREE t { IF keyword(\"a\") { NAME first MODEL m } ELSE { MODEL m } }\n",
            NULL, &y, NULL, &d),
        0);
    assert_non_null(
        strstr(y.data, "  - name: first\n    priority: 10000\n    rules:\n      type: keyword\n"));
    assert_non_null(
        strstr(y.data, "  - name: t_1\n    priority: 9999\n    rules:\n      operator: NOT\n"));
    dsl_diags_free(&d);
    buf_free(&y);
}

static void run_dsl_tests(const char *src, const char *base, buf_t *rep, dsl_test_summary_t *sum)
{
    buf_t y = BUF_INIT;
    dsl_diags_t d;
    cfg_t *cfg = NULL;
    arena_t a;
    arena_init(&a, 65536);
    int rc = compile_text(src, base, &y, &cfg, &d);
    dsl_diags_print(stderr, &d);
    assert_int_equal(rc, 0);
    dsl_diags_free(&d);
    dsl_diags_init(&d, "t");
    dsl_program_t *p = dsl_parse(&a, src, strlen(src), &d);
    assert_int_equal(dsl_test_run(p, cfg, rep, sum), 0);
    dsl_diags_free(&d);
    cfg_free(cfg);
    buf_free(&y);
    arena_deinit(&a);
}

static void test_spec_tests_pass_through_route_eval(void **st)
{
    (void)st;
    env();
    size_t bl, pl;
    char *base = slurp("tests/data/config/spec_example.yaml", &bl);
    char *prog = slurp("examples/routing.dsl", &pl);
    buf_t rep = BUF_INIT;
    dsl_test_summary_t sum;
    run_dsl_tests(prog, base, &rep, &sum);
    if (sum.failed) fail_msg("%s", rep.data);
    assert_int_equal(sum.cases, 8);
    assert_int_equal(sum.passed, 8);
    assert_non_null(
        strstr(rep.data,
               "PASS session_continuity[1] \"Now derive the bound step by step\" -> hard_reasoning "
               "(local/qwen3-8b, hard_lock_tool_loop)"));
    buf_free(&rep);
    /* standalone (stub providers) gives the same outcomes */
    run_dsl_tests(prog, NULL, &rep, &sum);
    assert_int_equal(sum.failed, 0);
    buf_free(&rep);
    free(base);
    free(prog);
}

static void test_failure_prints_diff(void **st)
{
    (void)st;
    buf_t rep = BUF_INIT;
    dsl_test_summary_t sum;
    run_dsl_tests("SIGNAL keyword k { keywords: [\"segfault\"] }\n"
                  "ROUTE code { WHEN keyword(\"k\") MODEL m1, m2 }\n"
                  "ROUTE other { MODEL m2 }\n"
                  "TEST t {\n  \"a segfault again\" -> other EXPECT { model: \"m2\" reason: "
                  "\"hard_lock_tool_loop\" }\n"
                  "  \"hello\" -> other\n}\n",
                  NULL, &rep, &sum);
    assert_int_equal(sum.failed, 1);
    assert_int_equal(sum.passed, 1);
    const char *want =
        "FAIL t[1] \"a segfault again\"\n"
        "  route:  expected other                  got code                   MISMATCH\n"
        "  model:  expected m2                     got m1                     MISMATCH\n"
        "  reason: expected hard_lock_tool_loop    got cold_start             MISMATCH\n"
        "  signals: keyword(\"k\") 1.00\n";
    if (!strstr(rep.data, want)) fail_msg("%s", rep.data);
    buf_free(&rep);
}

/* Issue 19: per-decision session modes. observe_only: the policy's verdict
 * (a tool-loop lock on m2) is computed and reported, the turn is routed per
 * request (m1); bypass: the policy is skipped (no_session). */
static void test_session_modes_observe_only_and_bypass(void **st)
{
    (void)st;
    buf_t rep = BUF_INIT;
    dsl_test_summary_t sum;
    const char *src =
        "SIGNAL keyword k { keywords: [\"segfault\"] }\n"
        "SIGNAL keyword w { keywords: [\"poem\"] }\n"
        "ROUTE code { WHEN keyword(\"k\") MODEL m1, m2 SESSION { mode: observe_only } }\n"
        "ROUTE writing { WHEN keyword(\"w\") MODEL m1, m2 SESSION { mode: bypass } }\n"
        "ROUTE chat { MODEL m1, m2 }\n"
        "TEST t {\n"
        "  \"a segfault again\" -> code WITH { headers: { x-session-id: \"s1\" } session: { model: "
        "\"m2\" decision: \"code\" turns: 3 idle_seconds: 10 } end_with_tool_result: true } EXPECT "
        "{ model: \"m1\" reason: \"hard_lock_tool_loop\" mode: \"observe_only\" verdict_model: "
        "\"m2\" }\n"
        "  \"a poem please\" -> writing WITH { headers: { x-session-id: \"s2\" } session: { model: "
        "\"m2\" decision: \"writing\" turns: 3 idle_seconds: 10 } end_with_tool_result: true } "
        "EXPECT { model: \"m1\" reason: \"no_session\" mode: \"bypass\" }\n"
        "  \"hello\" -> chat WITH { headers: { x-session-id: \"s3\" } session: { model: \"m2\" "
        "decision: \"chat\" turns: 3 idle_seconds: 10 } end_with_tool_result: true } EXPECT { "
        "model: \"m2\" reason: \"hard_lock_tool_loop\" mode: \"enforce\" verdict_model: \"m2\" "
        "}\n"
        "  \"a segfault\" -> code WITH { headers: { x-session-id: \"s4\" } session: { model: "
        "\"m2\" decision: \"code\" turns: 3 idle_seconds: 10 } end_with_tool_result: true } EXPECT "
        "{ mode: \"enforce\" }\n"
        "}\n";
    run_dsl_tests(src, NULL, &rep, &sum);
    assert_int_equal(sum.cases, 4);
    assert_int_equal(sum.passed, 3);
    const char *want =
        "  mode:   expected enforce                got observe_only           MISMATCH\n";
    if (!strstr(rep.data, want)) fail_msg("%s", rep.data);
    buf_free(&rep);
}

static void test_body_with_session_context(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    dsl_diags_init(&d, "t");
    const char *src = "TEST t { \"go\" -> r WITH { history: [{ role: \"user\" content: \"hi\" }] "
                      "provider_state: \"previous_response_id\" end_with_tool_result: true } }";
    dsl_program_t *p = dsl_parse(&a, src, strlen(src), &d);
    assert_int_equal(d.n_errors, 0);
    buf_t b = BUF_INIT;
    char err[128];
    assert_int_equal(dsl_test_build_body(&a, &p->decls[0]->cases[0], &b, err, sizeof err), 0);
    assert_string_equal(b.data, "{\"model\":\"auto\",\"messages\":[{\"role\":\"user\",\"content\":"
                                "\"hi\"},{\"role\":\"user\",\"content\":\"go\"},"
                                "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[{\"id\":"
                                "\"call_test_1\",\"type\":\"function\","
                                "\"function\":{\"name\":\"run\",\"arguments\":\"{}\"}}]},{\"role\":"
                                "\"tool\",\"tool_call_id\":\"call_test_1\","
                                "\"content\":\"ok\"}],\"previous_response_id\":\"resp_test_1\"}");
    buf_free(&b);
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static void test_generate_repairs_against_mock(void **st)
{
    (void)st;
    char script[] = "/tmp/dsl_gen_XXXXXX";
    int fd = mkstemp(script);
    assert_true(fd >= 0);
    const char *lines = "{\"status\":200,\"body\":{\"id\":\"a\",\"object\":\"chat.completion\","
                        "\"choices\":[{\"index\":0,\"message\":"
                        "{\"role\":\"assistant\",\"content\":\"Sure:\\n```\\nROUTE a {\\n  WHEN "
                        "keyword(\\\"k\\\"\\n  MODEL m\\n}\\n```\"},"
                        "\"finish_reason\":\"stop\"}]}}\n"
                        "{\"status\":200,\"body\":{\"id\":\"b\",\"object\":\"chat.completion\","
                        "\"choices\":[{\"index\":0,\"message\":"
                        "{\"role\":\"assistant\",\"content\":\"SIGNAL keyword k { keywords: "
                        "[\\\"x\\\"] }\\nROUTE a {\\n  WHEN "
                        "keyword(\\\"k\\\")\\n  MODEL m\\n}\\nThat routes k to "
                        "m.\"},\"finish_reason\":\"stop\"}]}}\n";
    assert_int_equal(write(fd, lines, strlen(lines)), (ssize_t)strlen(lines));
    close(fd);
    tproc_t p;
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0",
                          "--script",         script, NULL};
    assert_int_equal(tproc_spawn(&p, argv, TPROC_QUIET), 0);
    int port = tproc_wait_listening(&p, 10000);
    assert_true(port > 0);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1", port);
    dsl_gen_opts_t o = {.instruction = "route k to m",
                        .api_url = url,
                        .model = "mock",
                        .max_attempts = 3,
                        .temperature = 0.1,
                        .timeout_ms = 10000};
    buf_t out = BUF_INIT, log = BUF_INIT;
    int rc = dsl_generate(&o, &out, &log);
    tproc_stop(&p, 5000);
    unlink(script);
    if (rc != 0) fail_msg("%s", log.data);
    assert_string_equal(out.data, "SIGNAL keyword k { keywords: [\"x\"] }\n\nROUTE a {\n  WHEN "
                                  "keyword(\"k\")\n  MODEL m\n}\n");
    assert_non_null(
        strstr(log.data,
               "attempt 1/3: does not parse\ngenerated.dsl:3:3: error: unexpected keyword MODEL"));
    assert_non_null(strstr(log.data, "attempt 2/3: valid"));
    buf_free(&out);
    buf_free(&log);
    /* the reference comes from the tables: every family and every keyword appears */
    buf_t ref = BUF_INIT;
    dsl_gen_reference(&ref);
    size_t nf;
    const char *const *fams = dsl_family_names(&nf);
    for (size_t i = 0; i < nf; i++)
        assert_non_null(strstr(ref.data, fams[i]));
    for (size_t i = 0; dsl_keywords[i]; i++)
        assert_non_null(strstr(ref.data, dsl_keywords[i]));
    assert_non_null(strstr(ref.data, "- multi_factor: quality_weight, latency_weight"));
    buf_free(&ref);
}

static void test_generate_never_emits_unparsable(void **st)
{
    (void)st;
    char script[] = "/tmp/dsl_gen2_XXXXXX";
    int fd = mkstemp(script);
    const char *line = "{\"status\":200,\"body\":{\"id\":\"a\",\"object\":\"chat.completion\","
                       "\"choices\":[{\"index\":0,"
                       "\"message\":{\"role\":\"assistant\",\"content\":\"ROUTE "
                       "{\"},\"finish_reason\":\"stop\"}]}}\n";
    for (int i = 0; i < 2; i++)
        assert_int_equal(write(fd, line, strlen(line)), (ssize_t)strlen(line));
    close(fd);
    tproc_t p;
    const char *argv[] = {tproc_tether_bin(), "mock", "--listen", "127.0.0.1:0",
                          "--script",         script, NULL};
    assert_int_equal(tproc_spawn(&p, argv, TPROC_QUIET), 0);
    int port = tproc_wait_listening(&p, 10000);
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/v1/", port);
    dsl_gen_opts_t o = {.instruction = "x",
                        .api_url = url,
                        .model = "mock",
                        .max_attempts = 2,
                        .timeout_ms = 10000,
                        .allow_invalid = true};
    buf_t out = BUF_INIT, log = BUF_INIT;
    assert_int_equal(dsl_generate(&o, &out, &log), 1);
    assert_int_equal(out.len, 0); /* even with --allow-invalid */
    tproc_stop(&p, 5000);
    unlink(script);
    buf_free(&out);
    buf_free(&log);
}

static void test_extract(void **st)
{
    (void)st;
    buf_t b = BUF_INIT;
    const char *ans = "Here is the program.\n\nROUTING { strategy: \"priority\" }\nROUTE r {\n  "
                      "MODEL m\n}\n\nHope it helps!";
    dsl_gen_extract(ans, strlen(ans), &b);
    assert_string_equal(b.data, "ROUTING { strategy: \"priority\" }\nROUTE r {\n  MODEL m\n}\n");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_spec_program_reproduces_spec_routing),
        cmocka_unit_test(test_roundtrip_every_example),
        cmocka_unit_test(test_examples_have_compiled_yaml),
        cmocka_unit_test(test_conflicts),
        cmocka_unit_test(test_reference_and_range_errors),
        cmocka_unit_test(test_compile_errors_write_nothing),
        cmocka_unit_test(test_tree_compiles_to_guarded_priorities),
        cmocka_unit_test(test_spec_tests_pass_through_route_eval),
        cmocka_unit_test(test_failure_prints_diff),
        cmocka_unit_test(test_body_with_session_context),
        cmocka_unit_test(test_session_modes_observe_only_and_bypass),
        cmocka_unit_test(test_generate_repairs_against_mock),
        cmocka_unit_test(test_generate_never_emits_unparsable),
        cmocka_unit_test(test_extract),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
