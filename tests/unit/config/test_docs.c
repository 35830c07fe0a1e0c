/* test_docs.c - docs/configuration.md embeds exactly the reference generated
 * from the loader's tables, and every default written in a table parses with
 * the parser of its type (so docs, defaults and loader cannot drift). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/schema.h"

static void test_doc_reference_matches_tables(void **st)
{
    char p[1024];
    const char *src = getenv("TETHER_SRC");
    snprintf(p, sizeof p, "%s/docs/configuration.md", src ? src : ".");
    FILE *f = fopen(p, "rb");
    assert_non_null(f);
    buf_t doc = BUF_INIT;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(&doc, tmp, n);
    fclose(f);
    const char *b = strstr(doc.data, "<!-- BEGIN GENERATED REFERENCE -->\n");
    const char *e = strstr(doc.data, "<!-- END GENERATED REFERENCE -->");
    assert_non_null(b);
    assert_non_null(e);
    b += strlen("<!-- BEGIN GENERATED REFERENCE -->\n");
    buf_t gen = BUF_INIT;
    cfg_schema_markdown(&gen);
    if ((size_t)(e - b) != gen.len || memcmp(b, gen.data, gen.len))
        fprintf(stderr, "docs/configuration.md is stale: regenerate the reference with "
                        "`tether config schema`\n");
    assert_int_equal((size_t)(e - b), gen.len);
    assert_memory_equal(b, gen.data, gen.len);
    /* every key of every table is documented */
    for (const cfg_schema_t *const *s = cfg_schema_all(); *s; s++)
        for (const cfg_field_t *fl = (*s)->fields; fl->key; fl++) {
            char k[128];
            snprintf(k, sizeof k, "| `%s` |", fl->key);
            assert_non_null(strstr(gen.data, k));
        }
    buf_free(&gen);
    buf_free(&doc);
}

static void test_every_default_parses(void **st)
{
    size_t checked = 0;
    for (const cfg_schema_t *const *s = cfg_schema_all(); *s; s++)
        for (const cfg_field_t *f = (*s)->fields; f->key; f++) {
            if (!f->def) continue;
            uint64_t u;
            int64_t i;
            double d;
            bool b;
            bool ok = true;
            switch (f->type) {
            case CFG_F_DURATION: ok = cfg_parse_duration_ms(f->def, &u); break;
            case CFG_F_SIZE: ok = cfg_parse_size(f->def, &u); break;
            case CFG_F_TOKENS: ok = cfg_parse_tokens(f->def, &u); break;
            case CFG_F_INT:
            case CFG_F_U64:
                ok = cfg_parse_int64(f->def, &i) &&
                     (!(f->min < f->max) || (i >= f->min && i <= f->max));
                break;
            case CFG_F_DOUBLE: ok = cfg_parse_double(f->def, &d); break;
            case CFG_F_BOOL: ok = cfg_parse_bool(f->def, &b); break;
            case CFG_F_ENUM: ok = f->choices && strstr(f->choices, f->def); break;
            default: break;
            }
            if (!ok) fprintf(stderr, "%s.%s: bad default \"%s\"\n", (*s)->path, f->key, f->def);
            assert_true(ok);
            checked++;
        }
    assert_true(checked > 100);
}

static void test_suggestion_rule(void **st)
{
    const char *c[] = {"threshold", "keywords", "port"};
    assert_string_equal(cfg_suggest("treshold", c, 3), "threshold");
    assert_null(cfg_suggest("prot", c, 3)); /* distance 2 is not below half of 4 */
    assert_null(cfg_suggest("zzzzzzzz", c, 3));
    assert_int_equal(cfg_edit_distance("kitten", "sitting", 5), 3);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_doc_reference_matches_tables),
        cmocka_unit_test(test_every_default_parses),
        cmocka_unit_test(test_suggestion_rule),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
