/* bench_saar_heldout.c - `make bench`: the held-out comparison of issue 19
 * (`tether bench saar --held-out`): tether and tether-defaults against the
 * reference session policy on the built-in held-out workloads, with a
 * dominated? verdict per workload and scenario. Prints the table and the
 * run's wall time; exits 0 whatever the verdicts (they are measurements). */
#include <stdio.h>

#include "bench/saar_heldout.h"
#include "core/buf.h"
#include "core/clock.h"

int main(void)
{
    uint64_t t0 = clock_mono_ms();
    size_t n = 0;
    saar_heldout_workload_t *w = saar_heldout_default_list(&n, 0, 0);
    saar_heldout_results_t r;
    char err[512];
    if (saar_heldout_run(w, n, &r, err, sizeof err)) {
        fprintf(stderr, "bench_saar_heldout: %s\n", err);
        saar_heldout_list_free(w, n);
        return 1;
    }
    saar_heldout_list_free(w, n);
    buf_t b = BUF_INIT;
    saar_heldout_table(&r, &b);
    fwrite(b.data, 1, b.len, stdout);
    printf("\n(tether bench saar --held-out; %llu ms)\n",
           (unsigned long long)(clock_mono_ms() - t0));
    buf_free(&b);
    saar_heldout_free(&r);
    return 0;
}
