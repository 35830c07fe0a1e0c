/* learned_file.c - save and restore the learned session state (priors and
 * outcome estimates, elo ratings) as a text snapshot with an atomic rename. See
 * learned_file.h for the format. */
#include "session/learned_file.h"
#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HEADER "tether-learned v1"

static int lerr(char *err, size_t n, const char *what, const char *path)
{
    if (err && n) snprintf(err, n, "%s %s: %s", what, path, strerror(errno));
    return -1;
}

/* names are written as-is; a tab or newline in one would break the line */
static bool plain(const char *s)
{
    return s && *s && !strpbrk(s, "\t\r\n");
}

static void put_prior(void *ud, const char *decision, uint64_t h, int64_t turns)
{
    if (plain(decision))
        fprintf(ud, "prior\t%s\t%016" PRIx64 "\t%" PRId64 "\n", decision, h, turns);
}

static void put_outcome(void *ud, const char *decision, const char *model, double good, double bad)
{
    if ((!*decision || plain(decision)) && plain(model))
        fprintf(ud, "outcome\t%s\t%s\t%.17g\t%.17g\n", *decision ? decision : "*", model, good,
                bad);
}

static void put_elo(void *ud, const char *decision, const char *model, double rating)
{
    if (plain(decision) && plain(model))
        fprintf(ud, "elo\t%s\t%s\t%.17g\n", decision, model, rating);
}

int sess_learned_save(const char *path, sess_priors_t *priors, sess_outcomes_t *outcomes,
                      sel_state_t *elo, char *err, size_t errlen)
{
    size_t n = strlen(path) + 8;
    char *tmp = malloc(n);
    if (!tmp) abort();
    snprintf(tmp, n, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f) {
        lerr(err, errlen, "cannot write", tmp);
        free(tmp);
        return -1;
    }
    fprintf(f, HEADER "\n");
    sess_priors_each(priors, put_prior, f);
    sess_outcomes_each(outcomes, put_outcome, f);
    sel_elo_each(elo, put_elo, f);
    int bad = ferror(f);
    if (fclose(f) != 0 || bad || rename(tmp, path) != 0) {
        lerr(err, errlen, "cannot write", path);
        remove(tmp);
        free(tmp);
        return -1;
    }
    free(tmp);
    return 0;
}

/* Split line at tabs into at most max fields; returns the count. */
static int split(char *line, char **f, int max)
{
    int n = 0;
    line[strcspn(line, "\r\n")] = 0;
    for (char *p = line; n < max;) {
        f[n++] = p;
        char *t = strchr(p, '\t');
        if (!t) break;
        *t = 0;
        p = t + 1;
    }
    return n;
}

static bool num(const char *s, double *out)
{
    char *end;
    double v = strtod(s, &end);
    if (end == s || *end) return false;
    *out = v;
    return true;
}

int sess_learned_load(const char *path, sess_priors_t *priors, sess_outcomes_t *outcomes,
                      sel_state_t *elo, size_t *skipped, char *err, size_t errlen)
{
    if (skipped) *skipped = 0;
    FILE *f = fopen(path, "r");
    if (!f) return errno == ENOENT ? 0 : lerr(err, errlen, "cannot read", path);
    char line[512];
    if (!fgets(line, sizeof line, f) || strncmp(line, HEADER, sizeof HEADER - 1)) {
        fclose(f);
        if (err && errlen) snprintf(err, errlen, "%s: not a tether learned-state file", path);
        return -1;
    }
    size_t bad = 0;
    while (fgets(line, sizeof line, f)) {
        char *fl[6];
        int n = split(line, fl, 6);
        double a, b;
        bool ok = false;
        if (n == 4 && !strcmp(fl[0], "prior") && num(fl[3], &a) && a >= 1) {
            char *end;
            uint64_t h = strtoull(fl[2], &end, 16);
            if (end != fl[2] && !*end) {
                sess_priors_observe_hash(priors, fl[1], h, (int64_t)a);
                ok = true;
            }
        } else if (n == 5 && !strcmp(fl[0], "outcome") && num(fl[3], &a) && num(fl[4], &b)) {
            ok = sess_outcomes_set(outcomes, strcmp(fl[1], "*") ? fl[1] : "", fl[2], a, b) == 0;
        } else if (n == 4 && !strcmp(fl[0], "elo") && num(fl[3], &a) && isfinite(a)) {
            ok = !elo || sel_elo_restore(elo, fl[1], fl[2], a);
        }
        if (!ok) bad++;
    }
    fclose(f);
    if (skipped) *skipped = bad;
    return 0;
}
