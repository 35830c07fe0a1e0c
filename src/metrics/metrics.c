/* metrics.c - counters, gauges and histograms with labels, and their
 * Prometheus text exposition. Values are doubles stored in atomic 64-bit
 * words (CAS add), so the request path never takes a lock once a series
 * exists. */
#include "metrics/metrics.h"
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const double default_buckets[] = {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                                         0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5,
                                         5,      10,      30,     60,    120};

typedef struct met_series {
    char *values[MET_MAX_LABELS];
    _Atomic uint64_t value; /* double bits: counter/gauge value, histogram sum */
    _Atomic uint64_t count; /* histogram */
    _Atomic uint64_t *buckets;
    struct met_series *next;
} met_series_t;

struct met_family {
    char *name, *help;
    met_kind_t kind;
    char *labels[MET_MAX_LABELS];
    size_t n_labels;
    double *bounds;
    size_t n_bounds;
    bool ascending; /* bounds strictly ascending: an observation counts in its
                       first bucket only (made cumulative at exposition) */
    pthread_mutex_t lock;
    _Atomic(met_series_t *) head;
    met_family_t *next;
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static met_family_t *reg_head;

static double u2d(uint64_t u)
{
    double d;
    memcpy(&d, &u, sizeof d);
    return d;
}
static uint64_t d2u(double d)
{
    uint64_t u;
    memcpy(&u, &d, sizeof u);
    return u;
}

static void atomic_add_double(_Atomic uint64_t *p, double v)
{
    uint64_t old = atomic_load(p);
    while (!atomic_compare_exchange_weak(p, &old, d2u(u2d(old) + v))) {}
}

static met_family_t *family_new(met_kind_t kind, const char *name, const char *help,
                                const char *const *labels, const double *b, size_t nb)
{
    char full[256];
    snprintf(full, sizeof full, "%s%s", strncmp(name, "tether_", 7) ? "tether_" : "", name);
    pthread_mutex_lock(&reg_lock);
    for (met_family_t *f = reg_head; f; f = f->next)
        if (!strcmp(f->name, full)) {
            pthread_mutex_unlock(&reg_lock);
            return f;
        }
    met_family_t *f = calloc(1, sizeof *f);
    f->name = strdup(full);
    f->help = strdup(help ? help : "");
    f->kind = kind;
    for (size_t i = 0; labels && labels[i] && i < MET_MAX_LABELS; i++)
        f->labels[f->n_labels++] = strdup(labels[i]);
    if (kind == MET_HISTOGRAM) {
        if (!b) {
            b = default_buckets;
            nb = sizeof default_buckets / sizeof default_buckets[0];
        }
        f->bounds = malloc(nb * sizeof *f->bounds);
        memcpy(f->bounds, b, nb * sizeof *b);
        f->n_bounds = nb;
        f->ascending = true;
        for (size_t i = 1; i < nb; i++)
            if (!(b[i - 1] < b[i])) f->ascending = false;
    }
    pthread_mutex_init(&f->lock, NULL);
    f->next = reg_head;
    reg_head = f;
    pthread_mutex_unlock(&reg_lock);
    return f;
}

met_family_t *met_counter(const char *name, const char *help, const char *const *labels)
{
    return family_new(MET_COUNTER, name, help, labels, NULL, 0);
}
met_family_t *met_gauge(const char *name, const char *help, const char *const *labels)
{
    return family_new(MET_GAUGE, name, help, labels, NULL, 0);
}
met_family_t *met_histogram(const char *name, const char *help, const char *const *labels,
                            const double *buckets, size_t n_buckets)
{
    return family_new(MET_HISTOGRAM, name, help, labels, buckets, n_buckets);
}

static met_series_t *series_find(met_family_t *f, const char *const *vals)
{
    for (met_series_t *s = atomic_load(&f->head); s; s = s->next) {
        size_t i = 0;
        while (i < f->n_labels && !strcmp(s->values[i], vals[i]))
            i++;
        if (i == f->n_labels) return s;
    }
    return NULL;
}

static met_series_t *series_get(met_family_t *f, va_list ap, int create)
{
    const char *vals[MET_MAX_LABELS] = {0};
    for (size_t i = 0; i < f->n_labels; i++) {
        vals[i] = va_arg(ap, const char *);
        if (!vals[i]) vals[i] = "";
    }
    met_series_t *found = series_find(f, vals);
    if (found || !create) return found;
    pthread_mutex_lock(&f->lock);
    found = series_find(f, vals); /* re-check under the lock */
    if (found) {
        pthread_mutex_unlock(&f->lock);
        return found;
    }
    met_series_t *s = calloc(1, sizeof *s);
    for (size_t i = 0; i < f->n_labels; i++)
        s->values[i] = strdup(vals[i]);
    if (f->kind == MET_HISTOGRAM) s->buckets = calloc(f->n_bounds, sizeof *s->buckets);
    s->next = atomic_load(&f->head);
    atomic_store(&f->head, s);
    pthread_mutex_unlock(&f->lock);
    return s;
}

typedef enum { MET_OP_INC, MET_OP_SET, MET_OP_OBSERVE } met_op_t;

/* The one update behind met_inc/met_set/met_observe: find (or create) the
 * series of the label values in ap and apply op with v. No allocation once
 * the series exists. */
static void series_update(met_family_t *f, met_op_t op, double v, va_list ap)
{
    if (!f) return;
    met_series_t *s = series_get(f, ap, 1);
    if (op == MET_OP_SET) {
        atomic_store(&s->value, d2u(v));
        return;
    }
    atomic_add_double(&s->value, v);
    if (op != MET_OP_OBSERVE) return;
    atomic_fetch_add(&s->count, 1);
    if (f->ascending) {
        /* the first bucket that holds v; met_expose sums them up */
        for (size_t i = 0; i < f->n_bounds; i++)
            if (v <= f->bounds[i]) {
                atomic_fetch_add(&s->buckets[i], 1);
                break;
            }
        return;
    }
    for (size_t i = 0; i < f->n_bounds; i++)
        if (v <= f->bounds[i]) atomic_fetch_add(&s->buckets[i], 1);
}

void met_inc(met_family_t *f, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    series_update(f, MET_OP_INC, v, ap);
    va_end(ap);
}

void met_set(met_family_t *f, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    series_update(f, MET_OP_SET, v, ap);
    va_end(ap);
}

void met_observe(met_family_t *f, double v, ...)
{
    va_list ap;
    va_start(ap, v);
    series_update(f, MET_OP_OBSERVE, v, ap);
    va_end(ap);
}

double met_value(met_family_t *f, ...)
{
    if (!f) return 0;
    va_list ap;
    va_start(ap, f);
    met_series_t *s = series_get(f, ap, 0);
    va_end(ap);
    return s ? u2d(atomic_load(&s->value)) : 0;
}

static void put_label_value(buf_t *b, const char *v)
{
    for (; *v; v++) {
        if (*v == '\\' || *v == '"')
            buf_putc(b, '\\'), buf_putc(b, *v);
        else if (*v == '\n')
            buf_puts(b, "\\n");
        else
            buf_putc(b, *v);
    }
}

static void put_labels(buf_t *b, const met_family_t *f, const met_series_t *s, const char *extra,
                       const char *extra_val)
{
    if (!f->n_labels && !extra) return;
    buf_putc(b, '{');
    size_t k = 0;
    for (size_t i = 0; i < f->n_labels; i++, k++) {
        if (k) buf_putc(b, ',');
        buf_printf(b, "%s=\"", f->labels[i]);
        put_label_value(b, s->values[i]);
        buf_putc(b, '"');
    }
    if (extra) buf_printf(b, "%s%s=\"%s\"", k ? "," : "", extra, extra_val);
    buf_putc(b, '}');
}

static void put_num(buf_t *b, double v)
{
    if (v == (double)(int64_t)v && v < 1e15 && v > -1e15)
        buf_printf(b, " %lld\n", (long long)v);
    else
        buf_printf(b, " %.17g\n", v);
}

void met_expose(buf_t *out)
{
    static const char *kinds[] = {"counter", "gauge", "histogram"};
    pthread_mutex_lock(&reg_lock);
    for (met_family_t *f = reg_head; f; f = f->next) {
        buf_printf(out, "# HELP %s %s\n# TYPE %s %s\n", f->name, f->help, f->name, kinds[f->kind]);
        for (met_series_t *s = atomic_load(&f->head); s; s = s->next) {
            if (f->kind != MET_HISTOGRAM) {
                buf_puts(out, f->name);
                put_labels(out, f, s, NULL, NULL);
                put_num(out, u2d(atomic_load(&s->value)));
                continue;
            }
            uint64_t below = 0; /* ascending: the buckets before i */
            for (size_t i = 0; i < f->n_bounds; i++) {
                char le[32];
                snprintf(le, sizeof le, "%g", f->bounds[i]);
                buf_printf(out, "%s_bucket", f->name);
                put_labels(out, f, s, "le", le);
                uint64_t n = atomic_load(&s->buckets[i]);
                if (f->ascending) n = below += n;
                put_num(out, (double)n);
            }
            buf_printf(out, "%s_bucket", f->name);
            put_labels(out, f, s, "le", "+Inf");
            put_num(out, (double)atomic_load(&s->count));
            buf_printf(out, "%s_sum", f->name);
            put_labels(out, f, s, NULL, NULL);
            put_num(out, u2d(atomic_load(&s->value)));
            buf_printf(out, "%s_count", f->name);
            put_labels(out, f, s, NULL, NULL);
            put_num(out, (double)atomic_load(&s->count));
        }
    }
    pthread_mutex_unlock(&reg_lock);
}

void met_reset_all(void)
{
    pthread_mutex_lock(&reg_lock);
    met_family_t *f = reg_head;
    while (f) {
        met_family_t *n = f->next;
        met_series_t *s = atomic_load(&f->head);
        while (s) {
            met_series_t *sn = s->next;
            for (size_t i = 0; i < f->n_labels; i++)
                free(s->values[i]);
            free(s->buckets);
            free(s);
            s = sn;
        }
        for (size_t i = 0; i < f->n_labels; i++)
            free(f->labels[i]);
        free(f->name);
        free(f->help);
        free(f->bounds);
        pthread_mutex_destroy(&f->lock);
        free(f);
        f = n;
    }
    reg_head = NULL;
    pthread_mutex_unlock(&reg_lock);
}
