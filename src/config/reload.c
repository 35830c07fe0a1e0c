/* reload.c - the hot-reload watcher: inotify on the config's directory (and
 * on the directories of the listeners' keys_file) plus a self-pipe for
 * SIGHUP, 250 ms debounce, load+validate, swap or reject. "Unchanged" means
 * the config and every keys_file it names have the same bytes. */
#include "config/reload.h"
#include "config/global.h"
#include "core/log.h"
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#define DEBOUNCE_MS   250
#define MAX_KEY_FILES 16

struct cfg_reload {
    char *path, *dir, *base;
    cfg_snapshot_t *snap;
    cfg_load_opts_t opts;
    int pipe_rd, pipe_wr, ino;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* serialises reloads */
    uint64_t last_hash;
    bool has_hash;
    atomic_uint_fast64_t applied, rejected, unchanged, restart_required;
    cfg_reload_hooks_t hooks;
    /* the basenames of the current config's keys files (under mu) */
    char key_bases[MAX_KEY_FILES][256];
    size_t n_key_bases;
};

const char *cfg_reload_path(const cfg_reload_t *r)
{
    return r->path;
}

void cfg_reload_set_hooks(cfg_reload_t *r, const cfg_reload_hooks_t *h)
{
    r->hooks = *h;
}

static uint64_t fnv1a(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (unsigned char)p[i]) * 1099511628211ull;
    return h;
}

static bool file_hash(const char *path, uint64_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    buf_t b = BUF_INIT;
    buf_read_stream(&b, f); /* a read error keeps what was read */
    fclose(f);
    *out = fnv1a(b.data ? b.data : "", b.len);
    buf_free(&b);
    return true;
}

/* The config's bytes and those of every keys_file c names, as one hash. */
static bool config_hash(const char *path, const cfg_t *c, uint64_t *out)
{
    if (!file_hash(path, out)) return false;
    for (size_t i = 0; c && i < c->n_listeners; i++) {
        uint64_t k = 0;
        if (!c->listeners[i].keys_path) continue;
        if (!file_hash(c->listeners[i].keys_path, &k)) k = 1; /* gone: differs from any bytes */
        *out = (*out ^ k) * 1099511628211ull;
    }
    return true;
}

/* Watch the directories of c's keys files and remember their names
 * (caller holds mu, or the watcher is not running yet). */
static void watch_key_files(cfg_reload_t *r, const cfg_t *c)
{
    r->n_key_bases = 0;
    for (size_t i = 0; c && i < c->n_listeners && r->n_key_bases < MAX_KEY_FILES; i++) {
        const char *kp = c->listeners[i].keys_path;
        if (!kp) continue;
        char *d1 = strdup(kp), *d2 = strdup(kp);
        if (r->ino >= 0 &&
            inotify_add_watch(r->ino, dirname(d1),
                              IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0)
            tlog(TLOG_WARN, "config_watch_failed", "\"errno\":%d", errno);
        snprintf(r->key_bases[r->n_key_bases++], sizeof r->key_bases[0], "%s", basename(d2));
        free(d1);
        free(d2);
    }
}

static bool is_key_base(cfg_reload_t *r, const char *name)
{
    pthread_mutex_lock(&r->mu);
    bool hit = false;
    for (size_t i = 0; i < r->n_key_bases && !hit; i++)
        hit = !strcmp(r->key_bases[i], name);
    pthread_mutex_unlock(&r->mu);
    return hit;
}

cfg_reload_t *cfg_reload_new(const char *path, cfg_snapshot_t *snap, const cfg_load_opts_t *opts)
{
    cfg_reload_t *r = calloc(1, sizeof(*r));
    if (!r) abort();
    r->path = strdup(path);
    char *d1 = strdup(path), *d2 = strdup(path);
    r->dir = strdup(dirname(d1));
    r->base = strdup(basename(d2));
    free(d1);
    free(d2);
    r->snap = snap;
    if (opts) r->opts = *opts;
    r->pipe_rd = r->pipe_wr = r->ino = -1;
    pthread_mutex_init(&r->mu, NULL);
    const cfg_t *cur = cfg_snapshot_acquire(snap);
    r->has_hash = config_hash(path, cur, &r->last_hash);
    cfg_snapshot_release(snap, cur);
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) == 0) {
        r->pipe_rd = p[0];
        r->pipe_wr = p[1];
    }
    return r;
}

void cfg_reload_trigger(cfg_reload_t *r)
{
    if (r && r->pipe_wr >= 0) {
        char c = 'r';
        ssize_t w = write(r->pipe_wr, &c, 1); /* full pipe: a reload is already pending */
        (void)w;
    }
}

size_t cfg_restart_changes(const cfg_t *a, const cfg_t *b, buf_t *out)
{
    size_t n = 0;
    bool same = a->n_listeners == b->n_listeners;
    for (size_t i = 0; same && i < a->n_listeners; i++) {
        const cfg_listener_t *x = &a->listeners[i], *y = &b->listeners[i];
        same = x->port == y->port &&
               !strcmp(x->address ? x->address : "", y->address ? y->address : "");
    }
    if (!same) {
        buf_puts(out, n++ ? ", " : "");
        buf_puts(out, "listeners");
    }
    if (a->global_ext && b->global_ext) {
        const cfg_global_ext_t *x = a->global_ext, *y = b->global_ext;
        const char *xl = x->services.management_api.listen, *yl = y->services.management_api.listen;
        if (strcmp(xl ? xl : "", yl ? yl : "")) {
            buf_puts(out, n++ ? ", " : "");
            buf_puts(out, "global.services.management_api.listen");
        }
        const char *xs[] = {x->stores.session.backend, x->stores.responses.backend,
                            x->stores.response_cache.backend};
        const char *ys[] = {y->stores.session.backend, y->stores.responses.backend,
                            y->stores.response_cache.backend};
        const char *nm[] = {"global.stores.session", "global.stores.responses",
                            "global.stores.response_cache"};
        for (int i = 0; i < 3; i++)
            if (strcmp(xs[i] ? xs[i] : "", ys[i] ? ys[i] : "")) {
                buf_puts(out, n++ ? ", " : "");
                buf_puts(out, nm[i]);
            }
        /* the exporter starts with the process (telemetry/tracer.c) */
        const char *xt[] = {x->services.tracing.endpoint, x->services.tracing.service_name,
                            x->services.tracing.headers};
        const char *yt[] = {y->services.tracing.endpoint, y->services.tracing.service_name,
                            y->services.tracing.headers};
        bool tsame =
            x->services.tracing.enabled == y->services.tracing.enabled &&
            x->services.tracing.sample_ratio == y->services.tracing.sample_ratio &&
            x->services.tracing.queue_size == y->services.tracing.queue_size &&
            x->services.tracing.batch_size == y->services.tracing.batch_size &&
            x->services.tracing.flush_interval_ms == y->services.tracing.flush_interval_ms &&
            x->services.tracing.timeout_ms == y->services.tracing.timeout_ms;
        for (int i = 0; tsame && i < 3; i++)
            tsame = !strcmp(xt[i] ? xt[i] : "", yt[i] ? yt[i] : "");
        if (!tsame) {
            buf_puts(out, n++ ? ", " : "");
            buf_puts(out, "global.services.tracing");
        }
    }
    return n;
}

cfg_reload_result_t cfg_reload_now(cfg_reload_t *r, bool force, cfg_diags_t *diags)
{
    pthread_mutex_lock(&r->mu);
    uint64_t h = 0;
    const cfg_t *was = cfg_snapshot_acquire(r->snap);
    bool has = config_hash(r->path, was, &h);
    cfg_snapshot_release(r->snap, was);
    if (!force && has && r->has_hash && h == r->last_hash) {
        atomic_fetch_add(&r->unchanged, 1);
        pthread_mutex_unlock(&r->mu);
        return CFG_RELOAD_UNCHANGED;
    }
    cfg_diags_t local = {0};
    cfg_diags_t *d = diags ? diags : &local;
    if (!diags) cfg_diags_init(&local);
    cfg_t *next = cfg_load_file(r->path, &r->opts, d);
    cfg_reload_result_t res;
    void *runtime = NULL;
    if (next && r->hooks.prepare && r->hooks.prepare(next, d, &runtime, r->hooks.ud) != 0) {
        cfg_free(next);
        next = NULL;
    }
    if (!next) {
        atomic_fetch_add(&r->rejected, 1);
        /* the first diagnostics, as a JSON array that keeps the line under
         * PIPE_BUF (log.c); they were redacted when added (diag.c) */
        buf_t b = BUF_INIT;
        buf_putc(&b, '[');
        for (size_t i = 0; i < d->n && i < 20 && b.len < 2400; i++) {
            buf_t one = BUF_INIT;
            cfg_diag_format(&one, &d->items[i]);
            while (one.len > 400 || (one.len && (one.data[one.len] & 0xc0) == 0x80))
                one.len--; /* cut long ones, never inside a character */
            buf_puts(&b, i ? "," : "");
            buf_json_str(&b, one.data, one.len);
            buf_free(&one);
        }
        buf_putc(&b, ']');
        tlog(TLOG_ERROR, "config_reload_rejected",
             "\"path\":\"%s\",\"errors\":%zu,\"diagnostics\":%s", r->base, d->n_errors, b.data);
        buf_free(&b);
        res = CFG_RELOAD_REJECTED;
    } else {
        const cfg_t *cur = cfg_snapshot_acquire(r->snap);
        buf_t ch = BUF_INIT;
        if (cfg_restart_changes(cur, next, &ch)) {
            atomic_fetch_add(&r->restart_required, 1);
            tlog(TLOG_WARN, "config_reload_restart_required", "\"changed\":\"%s\"", ch.data);
        }
        buf_free(&ch);
        cfg_snapshot_release(r->snap, cur);
        uint64_t gen = cfg_snapshot_swap(r->snap, next);
        if (r->hooks.install) r->hooks.install(runtime, r->hooks.ud);
        atomic_fetch_add(&r->applied, 1);
        /* the next comparison is against the keys files the new config names */
        has = config_hash(r->path, next, &h);
        watch_key_files(r, next);
        tlog(TLOG_INFO, "config_reload_applied", "\"generation\":%llu,\"warnings\":%zu",
             (unsigned long long)gen, d->n_warnings);
        res = CFG_RELOAD_APPLIED;
    }
    /* remember these bytes either way: a rejected file is not retried until it changes */
    if (has) {
        r->last_hash = h;
        r->has_hash = true;
    }
    if (!diags) cfg_diags_free(&local);
    pthread_mutex_unlock(&r->mu);
    return res;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *watch_main(void *arg)
{
    cfg_reload_t *r = arg;
    int64_t deadline = -1;
    for (;;) {
        struct pollfd fds[2] = {{.fd = r->pipe_rd, .events = POLLIN},
                                {.fd = r->ino, .events = POLLIN}};
        int timeout = -1;
        if (deadline >= 0) {
            int64_t left = deadline - now_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        int n = poll(fds, r->ino >= 0 ? 2 : 1, timeout);
        if (n < 0 && errno != EINTR) break;
        if (n > 0 && (fds[0].revents & POLLIN)) {
            char buf[64];
            ssize_t k;
            bool stop = false, trig = false;
            while ((k = read(r->pipe_rd, buf, sizeof buf)) > 0)
                for (ssize_t i = 0; i < k; i++) {
                    if (buf[i] == 'q')
                        stop = true;
                    else
                        trig = true;
                }
            if (stop) break;
            if (trig) deadline = now_ms() + DEBOUNCE_MS;
        }
        if (n > 0 && r->ino >= 0 && (fds[1].revents & POLLIN)) {
            _Alignas(struct inotify_event) char ev[4096];
            ssize_t k;
            bool relevant = false;
            while ((k = read(r->ino, ev, sizeof ev)) > 0)
                for (char *p = ev; p < ev + k;) {
                    struct inotify_event *e = (struct inotify_event *)p;
                    if (!e->len || !strcmp(e->name, r->base) || !strcmp(e->name, "..data") ||
                        is_key_base(r, e->name))
                        relevant = true;
                    p += sizeof(*e) + e->len;
                }
            if (relevant) deadline = now_ms() + DEBOUNCE_MS;
        }
        if (deadline >= 0 && now_ms() >= deadline) {
            deadline = -1;
            cfg_reload_now(r, false, NULL);
        }
    }
    return NULL;
}

int cfg_reload_start(cfg_reload_t *r)
{
    if (r->started || r->pipe_rd < 0) return -1;
    r->ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (r->ino >= 0 &&
        inotify_add_watch(r->ino, r->dir,
                          IN_CLOSE_WRITE | IN_MOVED_TO | IN_CREATE | IN_DELETE | IN_ATTRIB) < 0) {
        tlog(TLOG_WARN, "config_watch_failed", "\"errno\":%d", errno);
        close(r->ino);
        r->ino = -1;
    }
    pthread_mutex_lock(&r->mu);
    const cfg_t *cur = cfg_snapshot_acquire(r->snap);
    watch_key_files(r, cur);
    cfg_snapshot_release(r->snap, cur);
    pthread_mutex_unlock(&r->mu);
    if (pthread_create(&r->thread, NULL, watch_main, r) != 0) return -1;
    r->started = true;
    return 0;
}

void cfg_reload_get_stats(cfg_reload_t *r, cfg_reload_stats_t *out)
{
    out->applied = atomic_load(&r->applied);
    out->rejected = atomic_load(&r->rejected);
    out->unchanged = atomic_load(&r->unchanged);
    out->restart_required = atomic_load(&r->restart_required);
    out->generation = cfg_snapshot_generation(r->snap);
}

void cfg_reload_free(cfg_reload_t *r)
{
    if (!r) return;
    if (r->started) {
        char q = 'q';
        while (write(r->pipe_wr, &q, 1) < 0 && (errno == EINTR || errno == EAGAIN))
            usleep(1000); /* full pipe: the watcher is draining it */
        pthread_join(r->thread, NULL);
    }
    if (r->ino >= 0) close(r->ino);
    if (r->pipe_rd >= 0) close(r->pipe_rd);
    if (r->pipe_wr >= 0) close(r->pipe_wr);
    pthread_mutex_destroy(&r->mu);
    free(r->path);
    free(r->dir);
    free(r->base);
    free(r);
}
