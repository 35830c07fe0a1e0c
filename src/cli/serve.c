/* serve.c - `tether serve --config FILE [--workers N] [--log-level L]`:
 * load and validate the config, start the HTTP server on its listeners,
 * and wait for signals: SIGTERM/SIGINT stop gracefully (stop accepting,
 * finish in-flight requests up to limits.shutdown_grace), SIGHUP reloads. */
#include "admin/mgmt.h"
#include "api/app.h"
#include "metrics/catalog.h"
#include "cli/cli.h"
#include "config/config.h"
#include "core/log.h"
#include "dsl/mgmt_view.h"
#include "upstream/health_check.h"

#include <getopt.h>

#ifndef TETHER_VERSION
#define TETHER_VERSION "0.1.0"
#endif
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void print_diags(const cfg_diags_t *d)
{
    cfg_diags_print(stderr, d);
}

static void usage(FILE *f)
{
    fprintf(f,
            "usage: tether serve --config FILE [--workers N] [--log-level debug|info|warn|error]\n"
            "  --config FILE   v0.3 config (see docs/configuration.md)\n"
            "  --workers N     worker threads (default: number of cores)\n");
}

static cfg_t *load(const char *path)
{
    cfg_diags_t d;
    cfg_diags_init(&d);
    cfg_load_opts_t o = {0};
    cfg_t *c = cfg_load_file(path, &o, &d);
    cfg_diags_sort(&d);
    print_diags(&d);
    cfg_diags_free(&d);
    return c;
}

/* The health checker reads the live config like a request does. */
static const cfg_t *hc_acquire(void *ud, void **ref)
{
    app_config_ref_t *r = app_config_acquire(ud);
    *ref = r;
    return r->cfg;
}

static void hc_release(void *ref)
{
    app_config_release(ref);
}
int cli_serve(int argc, char **argv)
{
    const char *config = NULL, *level = NULL;
    int workers = 0;
    static const struct option opts[] = {{"config", required_argument, 0, 'c'},
                                         {"workers", required_argument, 0, 'w'},
                                         {"log-level", required_argument, 0, 'l'},
                                         {"help", no_argument, 0, 'h'},
                                         {0, 0, 0, 0}};
    int o;
    optind = 1;
    while ((o = getopt_long(argc, argv, "c:w:l:h", opts, NULL)) != -1) {
        switch (o) {
        case 'c': config = optarg; break;
        case 'w': workers = atoi(optarg); break;
        case 'l': level = optarg; break;
        case 'h': usage(stdout); return 0;
        default: usage(stderr); return 1;
        }
    }
    if (!config) {
        usage(stderr);
        return 1;
    }
    cfg_t *cfg = load(config);
    if (!cfg) {
        fprintf(stderr, "tether serve: %s has errors; not starting\n", config);
        return 1;
    }
    if (cfg->logging.format)
        tlog_set_format(tlog_format_parse(cfg->logging.format) > 0 ? TLOG_FMT_TEXT : TLOG_FMT_JSON);
    if (!level) level = cfg->logging.level;
    if (level) {
        int l = tlog_level_parse(level);
        if (l < 0) {
            fprintf(stderr, "tether serve: unknown log level '%s'\n", level);
            cfg_free(cfg);
            return 1;
        }
        tlog_set_level((tlog_level_t)l);
    }

    /* block the signals in every thread; the main thread waits for them */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);
    signal(SIGPIPE, SIG_IGN);

    size_t nl = cfg->n_listeners ? cfg->n_listeners : 1;
    hsrv_listen_t *ls = calloc(nl, sizeof *ls);
    if (cfg->n_listeners == 0) {
        ls[0].address = "127.0.0.1";
        ls[0].port = 8899;
        ls[0].idle_timeout_ms = 300000;
    }
    for (size_t i = 0; i < cfg->n_listeners; i++) {
        ls[i].address = cfg->listeners[i].address;
        ls[i].port = cfg->listeners[i].port;
        ls[i].idle_timeout_ms = cfg->listeners[i].timeout_ms;
    }
    const cfg_limits_t *lim = &cfg->router.limits;
    uint64_t grace = lim->shutdown_grace_ms;
    cfg_diags_t ad;
    cfg_diags_init(&ad);
    tether_app_t *app = app_new(cfg, &ad);
    print_diags(&ad);
    cfg_diags_free(&ad);
    if (!app) {
        fprintf(stderr, "tether serve: cannot build the routing engines for %s\n", config);
        free(ls);
        return 1;
    }
    hsrv_config_t hc = {
        .listeners = ls,
        .n_listeners = nl,
        .workers = workers,
        .limits = {.max_header_bytes = lim->max_header_bytes,
                   .max_body_bytes = lim->max_body_bytes,
                   .header_timeout_ms = lim->header_timeout_ms,
                   .body_timeout_ms = lim->body_timeout_ms,
                   .keepalive_timeout_ms = lim->keepalive_ms,
                   .max_empty_lines = lim->max_empty_lines,
                   .max_connections = lim->max_connections,
                   .max_connections_per_address = lim->max_connections_per_address},
        .handler = app_handle,
        .on_error = app_on_server_error,
        .on_done = app_on_done,
        .on_worker_start = app_worker_start,
        .on_worker_stop = app_worker_stop,
        .ud = app,
    };
    char err[256];
    hsrv_server_t *srv = hsrv_server_start(&hc, err, sizeof err);
    if (!srv) {
        fprintf(stderr, "tether serve: %s\n", err);
        free(ls);
        app_free(app);
        return 2;
    }
    app->server = srv;
    metrics_catalog_init(TETHER_VERSION);
    mgmt_t *mgmt;
    {
        app_config_ref_t *r0 = app_config_acquire(app);
        mgmt = mgmt_start(app, r0->cfg);
        dsl_mgmt_register(mgmt);
        int mport = mgmt_listen(mgmt, r0->cfg);
        if (mport > 0) printf("management listening on %d\n", mport);
        app_config_release(r0);
    }
    up_hc_t *checker = up_hc_start(hc_acquire, hc_release, app);
    if (app_reload_start(app, config) != 0)
        tlog(TLOG_WARN, "config_watch_unavailable", "\"path\":\"%s\"", config);
    for (size_t i = 0; i < nl; i++) {
        tlog(TLOG_INFO, "listening", "\"address\":\"%s\",\"port\":%d", ls[i].address,
             hsrv_server_port(srv, (int)i));
        printf("listening on %s:%d\n", ls[i].address, hsrv_server_port(srv, (int)i));
    }
    fflush(stdout);

    for (;;) {
        int sig = 0;
        if (sigwait(&set, &sig) != 0) continue;
        if (sig == SIGHUP) {
            tlog(TLOG_INFO, "config_reload_requested", "\"trigger\":\"SIGHUP\"");
            app_reload_trigger(app);
            continue;
        }
        tlog(TLOG_INFO, "shutdown", "\"signal\":\"%s\",\"grace_ms\":%llu",
             sig == SIGTERM ? "SIGTERM" : "SIGINT", (unsigned long long)grace);
        break;
    }
    hsrv_server_stop(srv, grace);
    up_hc_stop(checker);
    mgmt_stop(mgmt);
    tlog(TLOG_INFO, "stopped", NULL);
    hsrv_server_free(srv);
    free(ls);
    app_free(app);
    return 0;
}
