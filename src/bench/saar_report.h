/* saar_report.h - renders `bench saar` results: a text table, JSON (the shape
 * of issue 6 plus run facts, per-scenario rows and skipped policies), CSV and
 * an SVG chart (switches, unsafe switches, cost cuts, under-served turns per
 * policy). Appends to a caller-owned buf_t; thread-safe. */
#ifndef TETHER_BENCH_SAAR_REPORT_H
#define TETHER_BENCH_SAAR_REPORT_H
#include "bench/saar_run.h"
#include "core/buf.h"

void saar_report_table(const saar_results_t *r, buf_t *out);
void saar_report_json(const saar_results_t *r, buf_t *out);
void saar_report_csv(const saar_results_t *r, buf_t *out);
void saar_report_svg(const saar_results_t *r, buf_t *out);
#endif
