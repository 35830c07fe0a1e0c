/* test_metrics.c - the metrics registry against a plain reference: random
 * counters and histograms (default, custom ascending and unsorted bounds)
 * give the exposition a model of per-bucket counting prints (histograms
 * with ascending bounds count an observation in its first bucket and sum
 * at exposition); a series is found by the label values' bytes, not their
 * addresses (a reused buffer with new bytes, equal bytes at another
 * address), and met_reset_all forgets every series. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/buf.h"
#include "metrics/metrics.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NV 5 /* label values */
#define NB 8 /* bounds of the custom histograms */

static const char *const vals[NV] = {"a", "b", "gpt-4o", "", "x\"y"};

/* The reference: a series per (counter or histogram, value), in the order
 * met_expose prints them (newest series first). */
typedef struct {
    int v;
    double value;
    uint64_t count, buckets[32];
} ref_series_t;
typedef struct {
    const char *name;
    const double *bounds;
    size_t nb;
    ref_series_t s[NV];
    int order[NV], n;
} ref_fam_t;

static ref_series_t *ref_get(ref_fam_t *f, int v)
{
    for (int i = 0; i < f->n; i++)
        if (f->s[f->order[i]].v == v) return &f->s[f->order[i]];
    f->s[f->n].v = v;
    f->order[f->n] = f->n;
    return &f->s[f->n++];
}

static void put_num(buf_t *b, double v)
{
    if (v == (double)(int64_t)v && v < 1e15 && v > -1e15)
        buf_printf(b, " %lld\n", (long long)v);
    else
        buf_printf(b, " %.17g\n", v);
}

static void put_val(buf_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"') buf_putc(b, '\\');
        buf_putc(b, *v);
    }
}

static void ref_expose_fam(buf_t *b, const ref_fam_t *f)
{
    buf_printf(b, "# HELP %s h\n# TYPE %s %s\n", f->name, f->name,
               f->bounds ? "histogram" : "counter");
    for (int k = f->n - 1; k >= 0; k--) {
        const ref_series_t *s = &f->s[f->order[k]];
        if (!f->bounds) {
            buf_printf(b, "%s{l=\"", f->name);
            put_val(b, vals[s->v]);
            buf_puts(b, "\"}");
            put_num(b, s->value);
            continue;
        }
        for (size_t i = 0; i < f->nb; i++) {
            char le[32];
            snprintf(le, sizeof le, "%g", f->bounds[i]);
            buf_printf(b, "%s_bucket{l=\"", f->name);
            put_val(b, vals[s->v]);
            buf_printf(b, "\",le=\"%s\"}", le);
            put_num(b, (double)s->buckets[i]);
        }
        buf_printf(b, "%s_bucket{l=\"", f->name);
        put_val(b, vals[s->v]);
        buf_puts(b, "\",le=\"+Inf\"}");
        put_num(b, (double)s->count);
        buf_printf(b, "%s_sum{l=\"", f->name);
        put_val(b, vals[s->v]);
        buf_puts(b, "\"}");
        put_num(b, s->value);
        buf_printf(b, "%s_count{l=\"", f->name);
        put_val(b, vals[s->v]);
        buf_puts(b, "\"}");
        put_num(b, (double)s->count);
    }
}

/* A label value at a fresh address now and then, the same bytes. */
static const char *val_at(int v, char *spare, int r)
{
    if (r % 3) return vals[v];
    strcpy(spare, vals[v]);
    return spare;
}

static void test_exposition_matches_reference(void **state)
{
    (void)state;
    static const double asc[NB] = {0.5, 1, 2, 4, 8, 16, 32, 64};
    static const double unsorted[NB] = {4, 1, 16, 2, 2, 64, 0.5, 8};
    const char *const labels[] = {"l", NULL};
    srand(12);
    for (int round = 0; round < 20; round++) {
        met_reset_all();
        ref_fam_t ref[4] = {{.name = "tether_t_count"},
                            {.name = "tether_t_default", .bounds = NULL},
                            {.name = "tether_t_asc", .bounds = asc, .nb = NB},
                            {.name = "tether_t_unsorted", .bounds = unsorted, .nb = NB}};
        static const double defb[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                      0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                      5,      10,      30,     60,    120};
        ref[1].bounds = defb;
        ref[1].nb = sizeof defb / sizeof defb[0];
        met_family_t *f[4];
        /* registered in this order, printed newest first */
        f[0] = met_counter("t_count", "h", labels);
        f[1] = met_histogram("t_default", "h", labels, NULL, 0);
        f[2] = met_histogram("t_asc", "h", labels, asc, NB);
        f[3] = met_histogram("t_unsorted", "h", labels, unsorted, NB);
        for (int i = 0; i < 3000; i++) {
            int which = rand() % 4, v = rand() % NV;
            char spare[16];
            const char *lv = val_at(v, spare, rand());
            double x;
            switch (rand() % 6) {
            case 0: x = 0; break;
            case 1: x = asc[rand() % NB]; break; /* on a bound */
            case 2: x = 1000; break;
            case 3: x = -1; break;
            default: x = (double)(rand() % 100000) / 1000.0;
            }
            if (which == 1) x /= 100; /* the default buckets are small */
            ref_series_t *s = ref_get(&ref[which], v);
            if (which == 0) {
                met_inc(f[0], x, lv);
                s->value += x;
                continue;
            }
            met_observe(f[which], x, lv);
            s->value += x;
            s->count++;
            for (size_t k = 0; k < ref[which].nb; k++)
                if (x <= ref[which].bounds[k]) s->buckets[k]++;
            memset(spare, 'z', sizeof spare - 1); /* the address now holds other bytes */
            spare[sizeof spare - 1] = 0;
        }
        buf_t want = BUF_INIT, got = BUF_INIT;
        for (int k = 3; k >= 0; k--)
            ref_expose_fam(&want, &ref[k]);
        met_expose(&got);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.data, want.data, want.len);
        buf_free(&want);
        buf_free(&got);
    }
    met_reset_all();
}

/* One buffer, its bytes changed between calls: each call counts on the
 * series of the bytes it holds then. */
static void test_reused_address_finds_its_bytes(void **state)
{
    (void)state;
    met_reset_all();
    const char *const labels[] = {"model", "kind", NULL};
    met_family_t *f = met_counter("t_reuse", "h", labels);
    char m[16], k[16];
    for (int i = 0; i < 100; i++) {
        snprintf(m, sizeof m, "m%d", i % 7);
        snprintf(k, sizeof k, "k%d", i % 3);
        met_inc(f, 1, m, k);
    }
    for (int a = 0; a < 7; a++)
        for (int b = 0; b < 3; b++) {
            char mm[16], kk[16];
            snprintf(mm, sizeof mm, "m%d", a);
            snprintf(kk, sizeof kk, "k%d", b);
            double want = 0;
            for (int i = 0; i < 100; i++)
                if (i % 7 == a && i % 3 == b) want++;
            assert_true(met_value(f, mm, kk) == want);
            assert_true(met_value(f, m, k) == met_value(f, "m1", "k0")); /* i = 99 */
        }
    met_reset_all();
    /* after a reset the same name is a new family with no series */
    f = met_counter("t_reuse", "h", labels);
    assert_true(met_value(f, "m1", "k0") == 0);
    met_inc(f, 2, "m1", "k0");
    assert_true(met_value(f, "m1", "k0") == 2);
    met_reset_all();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_exposition_matches_reference),
        cmocka_unit_test(test_reused_address_finds_its_bytes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
