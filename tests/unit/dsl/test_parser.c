/* test_parser.c - the DSL lexer and parser: every construct parses into the
 * expected AST, every syntax error is reported at its exact position with
 * what was expected, recovery reports several errors per run, and fmt is
 * idempotent (fmt(fmt(x)) = fmt(x)) and keeps comments. */
#include "dsl/ast.h"
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

static dsl_program_t *parse(arena_t *a, const char *src, dsl_diags_t *d)
{
    dsl_diags_init(d, "t.dsl");
    return dsl_parse(a, src, strlen(src), d);
}

/* exactly one error at line:col whose message contains want */
static void expect_error(const char *src, int line, int col, const char *want)
{
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    parse(&a, src, &d);
    if (d.n_errors < 1) fail_msg("no error for: %s", src);
    dsl_diags_sort(&d);
    if (d.v[0].line != line || d.v[0].col != col || !strstr(d.v[0].msg, want))
        fail_msg("got %d:%d %s; want %d:%d ...%s...", d.v[0].line, d.v[0].col, d.v[0].msg, line,
                 col, want);
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static void test_lexer_tokens(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    dsl_diags_init(&d, "t");
    dsl_tokens_t t;
    const char *src =
        "ROUTE a/b:c-d { key: \"s\\u00e9\\n\" n: -1.5e3 ok: true } -> \xe2\x86\x92 // c\n# end";
    dsl_lex(&a, src, strlen(src), &t, &d);
    assert_int_equal(d.n_errors, 0);
    dsl_tok_kind_t want[] = {DSL_T_KEYWORD, DSL_T_IDENT, DSL_T_LBRACE, DSL_T_IDENT,  DSL_T_COLON,
                             DSL_T_STRING,  DSL_T_IDENT, DSL_T_COLON,  DSL_T_NUMBER, DSL_T_IDENT,
                             DSL_T_COLON,   DSL_T_BOOL,  DSL_T_RBRACE, DSL_T_ARROW,  DSL_T_ARROW};
    assert_int_equal(t.n, sizeof want / sizeof want[0]);
    for (size_t i = 0; i < t.n; i++)
        assert_int_equal(t.v[i].kind, want[i]);
    assert_string_equal(t.v[1].text, "a/b:c-d");
    assert_string_equal(t.v[5].text, "s\xc3\xa9\n");
    assert_string_equal(t.v[8].text, "-1.5e3");
    assert_int_equal(t.v[2].depth, 0);
    assert_int_equal(t.v[3].depth, 1);
    assert_int_equal(t.v[14].col, 58);
    assert_int_equal(t.n_trailing, 2);
    assert_string_equal(t.trailing[0], "c");
    assert_string_equal(t.trailing[1], "end");
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static const char every[] =
    "# the strategy\n"
    "ROUTING { strategy: \"priority\" }\n"
    "SIGNAL domain math { mmlu_categories: [\"math\"] }\n"
    "SIGNAL domain law { mmlu_categories: [\"law\"] }\n"
    "SIGNAL_GROUP subjects { semantics: \"exclusive\" members: [math, law] default: math }\n"
    "PROJECTION score s { method: \"weighted_sum\" inputs: [{ type: \"domain\" name: \"math\" "
    "weight: 1 }] }\n"
    "PROJECTION mapping band { source: \"s\" method: \"threshold_bands\" outputs: [{ name: \"hi\" "
    "gte: 0.5 }] }\n"
    "MODEL m1 { quality_score: 0.5 loras: [\"l1\"] }\n"
    "PLUGIN polite system_prompt { mode: \"insert\" system_prompt: \"Be polite.\" }\n"
    "ROUTE r (description = \"d\", tier = 1) {\n"
    "  PRIORITY 10, TIER 2\n"
    "  DESCRIPTION \"desc\"\n"
    "  WHEN NOT (domain(\"math\") OR domain(\"law\", label: \"x\")) AND projection(\"hi\")\n"
    "  MODEL m1 (reasoning = true, effort = \"low\" weight = 2 lora = \"l1\"), \"m2\"\n"
    "  ALGORITHM weighted\n"
    "  PLUGIN polite { mode: \"replace\" }\n"
    "  EMIT retention { ttl_turns: 2 }\n"
    "  SESSION { stay_bias: 0.1 }\n"
    "}\n"
    "RECIPE alt {\n"
    "  DESCRIPTION \"another\"\n"
    "  SIGNAL keyword k { keywords: [\"k\"] }\n"
    "  DECISION_TREE t {\n"
    "    IF keyword(\"k\") { NAME first MODEL m1 } ELSE IF keyword(\"k\") { MODEL m1 } ELSE { "
    "MODEL m1 }\n"
    "  }\n"
    "}\n"
    "ENTRYPOINT { model_names: [\"alt\"] recipe: \"alt\" }\n"
    "TEST t1 {\n"
    "  \"q\" -> r\n"
    "  \"q2\" → r WITH { session: { model: \"m1\" } } EXPECT { reason: \"cold_start\" },\n"
    "}\n";

static void test_every_construct(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    dsl_program_t *p = parse(&a, every, &d);
    dsl_diags_print(stderr, &d);
    assert_int_equal(d.n_errors, 0);
    assert_int_equal(p->n, 12);
    assert_int_equal(p->decls[0]->kind, DSL_D_ROUTING);
    assert_int_equal(p->decls[0]->n_comments, 1);
    assert_string_equal(p->decls[0]->comments[0], "the strategy");
    assert_int_equal(p->decls[3]->kind, DSL_D_PROJECTION);
    assert_true(p->decls[3]->group_syntax);
    assert_string_equal(p->decls[3]->kw, "partition");
    assert_string_equal(p->decls[7]->kw, "system_prompt");
    const dsl_decl_t *r = p->decls[8];
    assert_int_equal(r->kind, DSL_D_ROUTE);
    assert_int_equal(r->n_opts, 2);
    assert_int_equal(r->n_items, 9);
    const dsl_expr_t *w = r->items[3].expr;
    assert_int_equal(w->kind, DSL_E_AND); /* NOT binds tighter than AND */
    assert_int_equal(w->kids[0]->kind, DSL_E_NOT);
    assert_int_equal(w->kids[0]->kids[0]->kind, DSL_E_OR);
    assert_int_equal(w->kids[0]->kids[0]->kids[1]->nf, 1);
    assert_int_equal(r->items[4].n_refs, 2);
    assert_int_equal(r->items[4].refs[0].n_opts, 4);
    assert_true(r->items[4].refs[1].quoted);
    assert_null(r->items[5].block);
    assert_non_null(r->items[6].block);
    const dsl_decl_t *rc = p->decls[9];
    assert_int_equal(rc->kind, DSL_D_RECIPE);
    assert_string_equal(rc->desc, "another");
    assert_int_equal(rc->n_decls, 2);
    assert_int_equal(rc->decls[1]->n_branches, 3);
    assert_null(rc->decls[1]->branches[2].cond);
    assert_int_equal(p->decls[11]->n_cases, 2);
    assert_non_null(p->decls[11]->cases[1].with);
    assert_non_null(p->decls[11]->cases[1].expect);
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static void test_precedence_and_flattening(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    dsl_program_t *p = parse(
        &a, "ROUTE r { WHEN a(\"1\") OR b(\"2\") AND c(\"3\") OR (d(\"4\") OR e(\"5\")) MODEL m }",
        &d);
    assert_int_equal(d.n_errors, 0);
    const dsl_expr_t *w = p->decls[0]->items[0].expr;
    assert_int_equal(w->kind, DSL_E_OR);
    assert_int_equal(w->n, 4); /* a, (b AND c), d, e */
    assert_int_equal(w->kids[1]->kind, DSL_E_AND);
    buf_t b = BUF_INIT;
    dsl_fmt_expr(&b, w);
    assert_string_equal(b.data, "a(\"1\") OR b(\"2\") AND c(\"3\") OR d(\"4\") OR e(\"5\")");
    buf_free(&b);
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static void test_errors_positions(void **st)
{
    (void)st;
    expect_error("FOO bar", 1, 1, "unexpected identifier \"FOO\", expected a declaration");
    expect_error("SIGNAL keyword { }", 1, 16, "unexpected '{', expected a signal name");
    expect_error("SIGNAL keyword k { keywords [\"a\"] }", 1, 29,
                 "expected ':' after the field name");
    expect_error("ROUTE r {\n  WHEN keyword(\"k\"\n  MODEL m\n}", 3, 3,
                 "unexpected keyword MODEL, expected ')' or a field");
    expect_error("ROUTE r { TIER 1.5 MODEL m }", 1, 16,
                 "unexpected number 1.5, expected an integer");
    expect_error("ROUTE r { PRIOR 1 }", 1, 11, "expected a route item");
    expect_error("SIGNAL context c { min_tokens: 48K }", 1, 32, "invalid number \"48K\"");
    expect_error("SIGNAL keyword k { keywords: [\"abc ] }", 1, 31, "unterminated string");
    expect_error("SIGNAL keyword k { keywords: [\"a\\q\"] }", 1, 33, "unknown escape");
    expect_error("ROUTING { strategy: @ }", 1, 21, "unexpected character '@'");
    expect_error("DECISION_TREE t { IF a(\"x\") { MODEL m } }", 1, 41, "expected ELSE IF or ELSE");
    expect_error("DECISION_TREE t { IF a(\"x\") { WHEN a(\"y\") } ELSE { MODEL m } }", 1, 31,
                 "WHEN is not allowed in a DECISION_TREE branch");
    expect_error("TEST t { \"q\" r }", 1, 14, "expected '->' after the query");
    expect_error("TEST t { q -> r }", 1, 10, "expected a test query string");
    expect_error("PROJECTION cluster p { }", 1, 12, "expected partition, score or mapping");
    expect_error("ROUTE r { MODEL m", 1, 18,
                 "unexpected end of input, expected '}' to close the block opened at line 1");
    expect_error("ROUTE r { WHEN (a(\"x\") MODEL m }", 1, 24, "expected ')' or AND/OR");
    expect_error("RECIPE x { MODEL m { } }", 1, 12, "expected a recipe item");
    expect_error("ROUTE r { WHEN NOT MODEL m }", 1, 20, "expected a condition");
}

static void test_recovery_reports_several_errors(void **st)
{
    (void)st;
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    const char *src =
        "SIGNAL keyword { }\n"                                               /* 1: name missing */
        "ROUTE r {\n  TIER x\n  PRIORITY 5\n  WHEN k(\"a\" \n  MODEL m\n}\n" /* 3 and 6 */
        "garbage here\n"                                                     /* 8 */
        "SIGNAL keyword ok { keywords: [\"x\"] }\n";                         /* still parsed */
    dsl_program_t *p = parse(&a, src, &d);
    dsl_diags_sort(&d);
    assert_int_equal(d.n_errors, 4);
    assert_int_equal(d.v[0].line, 1);
    assert_int_equal(d.v[1].line, 3);
    assert_int_equal(d.v[1].col, 8);
    assert_int_equal(d.v[2].line, 6);
    assert_int_equal(d.v[3].line, 8);
    /* the route kept its good items, and the last declaration survived */
    assert_int_equal(p->n, 2);
    assert_int_equal(p->decls[0]->n_items, 2);
    assert_string_equal(p->decls[1]->name, "ok");
    buf_t b = BUF_INIT;
    dsl_diags_format(&b, &d);
    assert_non_null(
        strstr(b.data, "t.dsl:3:8: error: unexpected identifier \"x\", expected an integer"));
    buf_free(&b);
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static void fmt_twice(const char *src, buf_t *f1)
{
    arena_t a;
    arena_init(&a, 4096);
    dsl_diags_t d;
    dsl_program_t *p = parse(&a, src, &d);
    assert_int_equal(d.n_errors, 0);
    dsl_fmt(f1, p);
    dsl_diags_free(&d);
    dsl_program_t *p2 = parse(&a, f1->data, &d);
    assert_int_equal(d.n_errors, 0);
    buf_t f2 = BUF_INIT;
    dsl_fmt(&f2, p2);
    assert_int_equal(f1->len, f2.len);
    assert_memory_equal(f1->data, f2.data, f1->len);
    buf_free(&f2);
    dsl_diags_free(&d);
    arena_deinit(&a);
}

static void test_fmt_idempotent_keeps_comments(void **st)
{
    (void)st;
    buf_t f = BUF_INIT;
    fmt_twice(every, &f);
    assert_non_null(strstr(f.data, "# the strategy\nROUTING { strategy: \"priority\" }\n"));
    assert_non_null(strstr(f.data, "SIGNAL_GROUP subjects"));
    assert_non_null(strstr(f.data, "  } ELSE IF keyword(\"k\") {\n"));
    buf_free(&f);
    buf_t g = BUF_INIT;
    fmt_twice(
        "ROUTE r{TIER 1 PRIORITY 2 // why\nWHEN a(\"x\")AND(b(\"y\")OR c(\"z\"))MODEL m}\n# tail\n",
        &g);
    assert_string_equal(
        g.data, "ROUTE r {\n  TIER 1\n  PRIORITY 2\n  # why\n  WHEN a(\"x\") AND (b(\"y\") OR "
                "c(\"z\"))\n  MODEL m\n}\n\n# tail\n");
    buf_free(&g);
}

static void test_fmt_strings_and_idents(void **st)
{
    (void)st;
    assert_true(dsl_is_ident("local/qwen3-8b"));
    assert_false(dsl_is_ident("ROUTE"));
    assert_false(dsl_is_ident("true"));
    assert_false(dsl_is_ident("a:"));
    assert_false(dsl_is_ident("1a"));
    buf_t b = BUF_INIT;
    dsl_fmt_string(&b, "a\"b\\c\n\x01");
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\"");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lexer_tokens),
        cmocka_unit_test(test_every_construct),
        cmocka_unit_test(test_precedence_and_flattening),
        cmocka_unit_test(test_errors_positions),
        cmocka_unit_test(test_recovery_reports_several_errors),
        cmocka_unit_test(test_fmt_idempotent_keeps_comments),
        cmocka_unit_test(test_fmt_strings_and_idents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
