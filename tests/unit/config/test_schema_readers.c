/* test_schema_readers.c - every key the config loader accepts does
 * something: tests/data/config/schema_readers.txt names, for every leaf key
 * of every schema table, the code that reads it outside src/config/ (or
 * the loader code that turns it into other settings, or the diagnostic
 * that says it is not supported). The test fails when a table gains a key
 * without an entry, when an entry names a key that no longer exists, and
 * when the named code no longer contains the named reader. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "config/migrate.h"
#include "config/schema.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
    char *key, *kind, *file, *needle;
    bool seen;
} entry_t;

/* Keys known to do nothing yet (kind gap): this number may only go down. */
#define GAPS_MAX 0

static entry_t entries[1024];
static size_t n_entries;

static const char *src_root(void)
{
    const char *s = getenv("TETHER_SRC");
    return s ? s : ".";
}

static void load_list(void)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/tests/data/config/schema_readers.txt", src_root());
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        char *save = NULL, *cols[4] = {0};
        cols[0] = strtok_r(line, "\t", &save);
        for (int i = 1; i < 4; i++)
            cols[i] = strtok_r(NULL, "\t", &save);
        if (!cols[3]) fail_msg("malformed line in schema_readers.txt: %s", line);
        assert_true(n_entries < sizeof entries / sizeof *entries);
        entries[n_entries++] =
            (entry_t){strdup(cols[0]), strdup(cols[1]), strdup(cols[2]), strdup(cols[3]), false};
    }
    fclose(f);
}

static void free_list(void)
{
    for (size_t i = 0; i < n_entries; i++) {
        free(entries[i].key);
        free(entries[i].kind);
        free(entries[i].file);
        free(entries[i].needle);
    }
    n_entries = 0;
}

static entry_t *find(const char *key)
{
    for (size_t i = 0; i < n_entries; i++)
        if (!strcmp(entries[i].key, key)) return &entries[i];
    return NULL;
}

/* The line of file holding needle, 0 when absent. */
static int line_of(const char *file, const char *needle)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", src_root(), file);
    buf_t b = BUF_INIT;
    if (!cfg_read_file(path, &b)) return 0;
    const char *p = strstr(b.data, needle);
    int line = 0;
    if (p) {
        line = 1;
        for (const char *q = b.data; q < p; q++)
            line += *q == '\n';
    }
    buf_free(&b);
    return line;
}

static bool is_leaf(const cfg_field_t *f)
{
    if (f->type == CFG_F_SECTION) return false;
    if (f->type == CFG_F_CUSTOM && f->sub) return false;
    return true;
}

static void test_every_schema_key_has_a_reader(void **st)
{
    load_list();
    size_t bad = 0, checked = 0, gaps = 0;
    for (const cfg_schema_t *const *s = cfg_schema_all(); *s; s++)
        for (const cfg_field_t *f = (*s)->fields; f->key; f++) {
            if (!is_leaf(f)) continue;
            char key[256];
            snprintf(key, sizeof key, "%s.%s", (*s)->path, f->key);
            entry_t *e = find(key);
            if (!e) {
                fprintf(stderr,
                        "%s: no reader listed in tests/data/config/schema_readers.txt "
                        "(scripts/schema_readers.py finds candidates)\n",
                        key);
                bad++;
                continue;
            }
            e->seen = true;
            checked++;
        }
    for (size_t i = 0; i < n_entries; i++) {
        entry_t *e = &entries[i];
        if (!e->seen) {
            fprintf(stderr, "%s: listed but not a schema key\n", e->key);
            bad++;
            continue;
        }
        bool in_config = !strncmp(e->file, "src/config/", 11) || !strncmp(e->file, "src/dsl/", 8);
        if (!strcmp(e->kind, "doc")) continue;
        if (!strcmp(e->kind, "gap")) {
            fprintf(stderr, "known gap: %s does nothing yet\n", e->key);
            gaps++;
            continue;
        }
        if (!strcmp(e->kind, "read") && in_config) {
            fprintf(stderr, "%s: a reader must be outside src/config/ and src/dsl/ (%s)\n", e->key,
                    e->file);
            bad++;
            continue;
        }
        if (!strcmp(e->kind, "load") && strncmp(e->file, "src/config/", 11)) {
            fprintf(stderr, "%s: kind load names loader code in src/config/ (%s)\n", e->key,
                    e->file);
            bad++;
            continue;
        }
        if (strcmp(e->kind, "read") && strcmp(e->kind, "load") && strcmp(e->kind, "unsupported")) {
            fprintf(stderr, "%s: unknown kind %s\n", e->key, e->kind);
            bad++;
            continue;
        }
        if (!line_of(e->file, e->needle)) {
            fprintf(stderr, "%s: %s no longer contains `%s`: is the key still %s?\n", e->key,
                    e->file, e->needle, !strcmp(e->kind, "unsupported") ? "rejected" : "read");
            bad++;
        }
    }
    free_list();
    assert_true(checked > 300);
    assert_int_equal(bad, 0);
    assert_true(gaps <= GAPS_MAX);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_schema_key_has_a_reader),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
