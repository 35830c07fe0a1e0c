/* config_apply.c - applying a config edit from the management API (the
 * dashboard's Config page), through the same atomic reload path as a file
 * change or SIGHUP (config/reload.h), with an audit trail:
 *
 *   POST /api/v1/config/apply (operator): the new config text as the body.
 *     It is validated without the environment first (like /config/validate:
 *     nothing of the environment shows in the answer); below the admin role
 *     it may not touch the management section nor add or change a reference
 *     to the environment or a file (apply_guard.h: 403 admin_required); then
 *     written over the watched file (temporary file + rename) and reloaded
 *     now. When the reload rejects it (an error that needed the environment),
 *     the previous bytes are written back, so the file always holds the
 *     running config.
 *   GET /api/v1/config/audit (viewer): the newest applies first, who (the
 *     token's name, never the token), when, the result, the generation.
 *   GET /api/v1/config/source (admin): the file as it is, which may hold
 *     literal secrets, hence admin only.
 *
 * Every apply is also logged (event config_apply). Handlers run on the one
 * management worker, so applies are serialised; the audit ring has its own
 * mutex for the readers. */
#include "admin/apply_guard.h"
#include "admin/mgmt.h"
#include "config/reload.h"
#include "core/buf.h"
#include "core/clock.h"
#include "core/hash.h"
#include "core/log.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define APPLY_AUDIT_MAX 64

typedef struct apply_audit {
    uint64_t at_ms;
    char by[64];
    char role[12];
    char result[12]; /* applied | unchanged | invalid | rejected | failed | forbidden */
    uint64_t generation;
    size_t bytes;
    uint64_t hash;
} apply_audit_t;

static struct {
    pthread_mutex_t mu;
    apply_audit_t ring[APPLY_AUDIT_MAX];
    size_t n; /* total ever; ring index n % MAX */
} apply_log = {PTHREAD_MUTEX_INITIALIZER, {{0}}, 0};

static void audit_add(const hsrv_req_t *req, const cfg_t *cfg, const char *result,
                      uint64_t generation)
{
    const char *by = mgmt_caller_name(req, cfg);
    apply_audit_t a = {.at_ms = clock_wall_ms(),
                       .generation = generation,
                       .bytes = req->body_len,
                       .hash = hash_xxh64(req->body, req->body_len, 0)};
    snprintf(a.by, sizeof a.by, "%s", by ? by : "?");
    snprintf(a.role, sizeof a.role, "%s", mgmt_role_name(mgmt_caller_role(req, cfg)));
    snprintf(a.result, sizeof a.result, "%s", result);
    pthread_mutex_lock(&apply_log.mu);
    apply_log.ring[apply_log.n++ % APPLY_AUDIT_MAX] = a;
    pthread_mutex_unlock(&apply_log.mu);
    tlog(TLOG_WARN, "config_apply",
         "\"by\":\"%s\",\"role\":\"%s\",\"result\":\"%s\",\"generation\":%llu,\"bytes\":%zu,"
         "\"hash\":\"%016llx\"",
         a.by, a.role, a.result, (unsigned long long)a.generation, a.bytes,
         (unsigned long long)a.hash);
}

static int read_file(const char *path, buf_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    char tmp[8192];
    size_t n;
    while ((n = fread(tmp, 1, sizeof tmp, f)) > 0)
        buf_append(out, tmp, n);
    int bad = ferror(f);
    fclose(f);
    return bad ? -1 : 0;
}

/* Replace path's bytes atomically (temporary file beside it + rename). */
static int write_file(const char *path, const char *data, size_t len)
{
    char tmp[4096];
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tether-apply.tmp", path) >= sizeof tmp) return -1;
    FILE *f = fopen(tmp, "wb");
    if (!f) return -1;
    int ok = fwrite(data, 1, len, f) == len && fflush(f) == 0 && fsync(fileno(f)) == 0;
    ok = (fclose(f) == 0) && ok;
    if (!ok || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        errno = e;
        return -1;
    }
    return 0;
}

static void h_apply(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    if (!app->reload)
        return mgmt_error(req, 503, "reload_unavailable",
                          "no config file watch: nothing to apply to");
    if (req->body_len == 0)
        return mgmt_error(req, 400, "invalid_body", "expected the new config (YAML) as the body");
    if (memmem(req->body, req->body_len, "<redacted>", 10))
        return mgmt_error(req, 422, "redacted_values",
                          "the config carries <redacted> values (from GET /config): put the "
                          "secrets back as *_env references, or start from the file's source");
    cfg_diags_t d;
    cfg_t *c = mgmt_load_body(req, &d);
    buf_t b = BUF_INIT;
    if (!c) {
        audit_add(req, cfg, "invalid", cfg->generation);
        buf_puts(&b, "{\"result\":\"invalid\",\"errors\":[");
        cfg_diags_json_strings(&b, &d, CFG_DIAG_ERROR);
        buf_puts(&b, "]}");
        mgmt_json(req, 422, b.data, b.len);
        buf_free(&b);
        cfg_diags_free(&d);
        return;
    }
    cfg_free(c);
    cfg_diags_free(&d);
    const char *path = cfg_reload_path(app->reload);
    buf_t old = BUF_INIT;
    int rd = read_file(path, &old);
    char why[400];
    /* below admin: no new reference to the environment or a file, and the
     * management section as it is (apply_guard.h) */
    if (rd == 0 && !mgmt_caller_is_admin(req, cfg) &&
        mgmt_apply_guard(old.data, old.len, req->body, req->body_len, why, sizeof why) != 0) {
        audit_add(req, cfg, "forbidden", cfg->generation);
        buf_free(&old);
        return mgmt_error(req, 403, "admin_required", why);
    }
    if (rd != 0 || write_file(path, req->body, req->body_len) != 0) {
        char msg[256];
        snprintf(msg, sizeof msg, "cannot replace the config file: %s", strerror(errno));
        audit_add(req, cfg, "failed", cfg->generation);
        buf_free(&old);
        return mgmt_error(req, 409, "config_not_writable", msg);
    }
    cfg_diags_init(&d);
    cfg_reload_result_t r = cfg_reload_now(app->reload, false, &d);
    cfg_diags_sort(&d);
    cfg_reload_stats_t st;
    cfg_reload_get_stats(app->reload, &st);
    const char *result = r == CFG_RELOAD_REJECTED    ? "rejected"
                         : r == CFG_RELOAD_UNCHANGED ? "unchanged"
                                                     : "applied";
    /* the file keeps matching what runs */
    if (r == CFG_RELOAD_REJECTED && write_file(path, old.data ? old.data : "", old.len) != 0)
        tlog(TLOG_ERROR, "config_apply_restore_failed", "\"error\":\"%s\"", strerror(errno));
    audit_add(req, cfg, result, st.generation);
    buf_printf(&b, "{\"result\":\"%s\",\"generation\":%llu,\"errors\":[", result,
               (unsigned long long)st.generation);
    cfg_diags_json_strings(&b, &d, CFG_DIAG_ERROR);
    buf_puts(&b, "],\"warnings\":[");
    cfg_diags_json_strings(&b, &d, CFG_DIAG_WARNING);
    buf_puts(&b, "]}");
    mgmt_json(req, r == CFG_RELOAD_REJECTED ? 422 : 200, b.data, b.len);
    buf_free(&b);
    buf_free(&old);
    cfg_diags_free(&d);
}

static void h_audit(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"entries\":[");
    pthread_mutex_lock(&apply_log.mu);
    size_t n = apply_log.n < APPLY_AUDIT_MAX ? apply_log.n : APPLY_AUDIT_MAX;
    for (size_t i = 0; i < n; i++) {
        const apply_audit_t *a = &apply_log.ring[(apply_log.n - 1 - i) % APPLY_AUDIT_MAX];
        if (i) buf_putc(&b, ',');
        buf_printf(&b, "{\"at_ms\":%llu,\"by\":", (unsigned long long)a->at_ms);
        buf_json_str(&b, a->by, strlen(a->by));
        buf_printf(&b,
                   ",\"role\":\"%s\",\"result\":\"%s\",\"generation\":%llu,\"bytes\":%zu,"
                   "\"hash\":\"%016llx\"}",
                   a->role, a->result, (unsigned long long)a->generation, a->bytes,
                   (unsigned long long)a->hash);
    }
    pthread_mutex_unlock(&apply_log.mu);
    buf_puts(&b, "]}");
    mgmt_json(req, 200, b.data, b.len);
    buf_free(&b);
}

static void h_source(hsrv_req_t *req, mgmt_t *m, const cfg_t *cfg, void *ud)
{
    tether_app_t *app = ud;
    if (!app->reload) return mgmt_error(req, 503, "reload_unavailable", "no config file watch");
    buf_t b = BUF_INIT;
    if (read_file(cfg_reload_path(app->reload), &b) != 0) {
        buf_free(&b);
        return mgmt_error(req, 500, "config_unreadable", "cannot read the config file");
    }
    hsrv_header_t h[1] = {{"content-type", 12, "application/yaml; charset=utf-8", 31}};
    hsrv_respond(req, 200, h, 1, b.data ? b.data : "", b.len);
    buf_free(&b);
}

void mgmt_register_config_apply(mgmt_t *m, tether_app_t *app)
{
    mgmt_route_add(m, HSRV_POST, "/api/v1/config/apply", MGMT_OPERATOR, h_apply, app);
    mgmt_route_add(m, HSRV_GET, "/api/v1/config/audit", MGMT_VIEWER, h_audit, app);
    mgmt_route_add(m, HSRV_GET, "/api/v1/config/source", MGMT_ADMIN, h_source, app);
}
