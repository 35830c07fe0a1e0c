/* eval.c - `tether eval --config F (--prompt TEXT | --request FILE.json)
 * [--headers K:V ...] [--session FILE] [--trace] [--format text|json]`:
 * (`--dataset FILE.jsonl` scores a labelled set instead: eval_dataset.c)
 * signals, the decision trace, selection and the session policy for one
 * request, offline (no upstream call), through the code `serve` runs. */
#include "cli/cli.h"
#include "config/config.h"
#include "core/arena.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/log.h"
#include "route/eval.h"
#include "route/plan_render.h"
#include "select/select.h"
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    buf_t b = BUF_INIT;
    buf_read_stream(&b, f); /* a read error keeps what was read */
    fclose(f);
    *len = b.len;
    return buf_steal(&b);
}

static void usage(FILE *f)
{
    fprintf(f, "usage: tether eval --config FILE (--prompt TEXT | --request FILE.json)\n"
               "       tether eval --config FILE --dataset FILE.jsonl [--json]\n"
               "                   [--headers K:V ...] [--session FILE.json] [--trace]\n"
               "                   [--format text|json]\n"
               "  --session FILE  seed session memory: {\"model\":..,\"decision\":..,\"turns\":N,\n"
               "                  \"idle_seconds\":S,\"switches\":N}\n");
}

int cli_eval(int argc, char **argv)
{
    const char *config = NULL, *prompt = NULL, *request = NULL, *session = NULL, *format = "text";
    const char *dataset = NULL;
    int trace = 0;
    const char *hdrs[64];
    size_t n_hdrs = 0;
    static const struct option opts[] = {
        {"config", required_argument, 0, 'c'},  {"prompt", required_argument, 0, 'p'},
        {"request", required_argument, 0, 'r'}, {"headers", required_argument, 0, 'H'},
        {"header", required_argument, 0, 'H'},  {"session", required_argument, 0, 's'},
        {"trace", no_argument, 0, 't'},         {"format", required_argument, 0, 'f'},
        {"dataset", required_argument, 0, 'd'}, {"json", no_argument, 0, 'j'},
        {"help", no_argument, 0, 'h'},          {0, 0, 0, 0}};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:p:r:H:s:tf:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'p': prompt = optarg; break;
        case 'r': request = optarg; break;
        case 'H':
            if (n_hdrs < 64) hdrs[n_hdrs++] = optarg;
            break;
        case 's': session = optarg; break;
        case 't': trace = 1; break;
        case 'f': format = optarg; break;
        case 'd': dataset = optarg; break;
        case 'j': format = "json"; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    /* further positional K:V after --headers */
    while (optind < argc && strchr(argv[optind], ':') && n_hdrs < 64)
        hdrs[n_hdrs++] = argv[optind++];
    if (config && dataset && !prompt && !request &&
        (!strcmp(format, "text") || !strcmp(format, "json")))
        return cli_eval_dataset(config, dataset, !strcmp(format, "json"));
    if (!config || (!prompt == !request) || (strcmp(format, "text") && strcmp(format, "json"))) {
        usage(stderr);
        return 1;
    }
    tlog_set_level(TLOG_WARN);
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_load_opts_t lo = {0};
    cfg_t *cfg = cfg_load_file(config, &lo, &d);
    if (!cfg) {
        cfg_diags_sort(&d);
        cfg_diags_print(stderr, &d);
        cfg_diags_free(&d);
        return 1;
    }
    /* warnings as serve prints them: they name what makes a backend
     * unavailable (an unset api_key_env variable, ...) */
    cfg_diags_sort(&d);
    cfg_diags_print(stderr, &d);
    cfg_diags_free(&d);
    cfg_diags_init(&d);
    sig_engine_t *sig = sig_engine_new(cfg, &d);
    if (!sig) {
        cfg_diags_print(stderr, &d);
        cfg_diags_free(&d);
        cfg_free(cfg);
        return 1;
    }
    cfg_diags_free(&d);
    sel_state_t *sel = sel_state_new();
    sel_embedder_t emb = {0};
    route_env_t env = {.sig = sig, .sel = sel};
    if (route_embedder_of(sig, &emb)) env.embedder = &emb;
    arena_t a;
    arena_init(&a, 65536);
    int rc = 0;
    size_t blen = 0;
    char *owned = NULL;
    const char *body;
    if (prompt) {
        body = route_eval_build_prompt(&a, prompt, "auto");
        blen = strlen(body);
    } else {
        owned = slurp(request, &blen);
        if (!owned) {
            fprintf(stderr, "tether eval: cannot read %s\n", request);
            rc = 1;
            goto out;
        }
        body = owned;
    }
    rq_header_t *hv = arena_calloc(&a, sizeof(rq_header_t) * (n_hdrs ? n_hdrs : 1));
    for (size_t i = 0; i < n_hdrs; i++) {
        const char *c = strchr(hdrs[i], ':');
        size_t nl = (size_t)(c - hdrs[i]);
        char *name = arena_strndup(&a, hdrs[i], nl);
        for (char *q = name; *q; q++)
            if (*q >= 'A' && *q <= 'Z') *q += 32;
        const char *v = c + 1;
        while (*v == ' ')
            v++;
        hv[i] = (rq_header_t){name, nl, v, strlen(v)};
    }
    sess_state_t seed;
    route_eval_in_t in = {.cfg = cfg,
                          .env = &env,
                          .body = body,
                          .body_len = blen,
                          .headers = hv,
                          .n_headers = n_hdrs};
    if (session) {
        size_t sl = 0;
        char *sj = slurp(session, &sl);
        char err[256];
        if (!sj || route_eval_session_parse(sj, sl, clock_wall_ms(), &seed, err, sizeof err) != 0) {
            fprintf(stderr, "tether eval: %s: %s\n", session, sj ? err : "cannot read");
            free(sj);
            rc = 1;
            goto out;
        }
        free(sj);
        in.seed = &seed;
        in.seed_key = "eval-session";
    }
    route_plan_t plan;
    char err[256];
    if (route_eval(&in, &a, &plan, err, sizeof err) != 0) {
        fprintf(stderr, "tether eval: %s\n", err);
        rc = 1;
        goto out;
    }
    buf_t out = BUF_INIT;
    if (!strcmp(format, "json"))
        route_plan_json(&out, &plan, trace), buf_putc(&out, '\n');
    else
        route_plan_text(&out, &plan, trace);
    fwrite(out.data, 1, out.len, stdout);
    buf_free(&out);
    rc = plan.status == ROUTE_OK ? 0 : 1;
out:
    free(owned);
    arena_deinit(&a);
    sel_state_free(sel);
    sig_engine_free(sig);
    cfg_free(cfg);
    return rc;
}
