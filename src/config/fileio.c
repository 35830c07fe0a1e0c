/* fileio.c - file and HTTP plumbing for migrate/import: whole-file reads,
 * atomic writes with an optional .bak backup, and a small libcurl GET. */
#include "config/migrate.h"
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

bool cfg_read_file(const char *path, buf_t *out)
{
    FILE *f = fopen(path, "rb");
    if (!f) return false;
    bool err = !buf_read_stream(out, f);
    fclose(f);
    if (err) errno = EIO;
    if (!out->data) buf_append(out, "", 0);
    return !err;
}

static int write_tmp_rename(const char *path, const char *data, size_t len, mode_t mode)
{
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 32);
    if (!tmp) return -1;
    snprintf(tmp, pl + 32, "%s.tmp.%ld", path, (long)getpid());
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    if (fd < 0) {
        free(tmp);
        return -1;
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            close(fd);
            unlink(tmp);
            free(tmp);
            errno = e;
            return -1;
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        free(tmp);
        errno = e;
        return -1;
    }
    free(tmp);
    return 0;
}

int cfg_write_atomic(const char *path, const char *data, size_t len, bool backup)
{
    struct stat st;
    mode_t mode = 0644;
    if (stat(path, &st) == 0) {
        mode = st.st_mode & 0777;
        if (backup) {
            buf_t old = BUF_INIT;
            if (!cfg_read_file(path, &old)) {
                buf_free(&old);
                return -1;
            }
            size_t pl = strlen(path);
            char *bak = malloc(pl + 5);
            if (!bak) abort();
            memcpy(bak, path, pl);
            memcpy(bak + pl, ".bak", 5);
            int rc = write_tmp_rename(bak, old.data, old.len, mode);
            free(bak);
            buf_free(&old);
            if (rc != 0) return -1;
        }
    }
    return write_tmp_rename(path, data, len, mode);
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    buf_t *b = ud;
    if (b->len + sz * n > (64u << 20)) return 0; /* 64 MiB is not a model list */
    buf_append(b, p, sz * n);
    return sz * n;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

int cfg_http_get(const char *url, const char *bearer, buf_t *body, buf_t *err)
{
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h) {
        buf_puts(err, "cannot initialise libcurl");
        return -1;
    }
    char ebuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *hdrs = NULL;
    char *auth = NULL;
    if (bearer && *bearer) {
        size_t l = strlen(bearer) + 32;
        auth = malloc(l);
        if (!auth) abort();
        snprintf(auth, l, "Authorization: Bearer %s", bearer);
        hdrs = curl_slist_append(hdrs, auth);
    }
    hdrs = curl_slist_append(hdrs, "Accept: application/json");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, body);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, ebuf);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 3L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
    CURLcode rc = curl_easy_perform(h);
    long status = -1;
    if (rc == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    else
        buf_printf(err, "%s", ebuf[0] ? ebuf : curl_easy_strerror(rc));
    curl_slist_free_all(hdrs);
    if (auth) {
        memset(auth, 0, strlen(auth));
        free(auth);
    }
    curl_easy_cleanup(h);
    return rc == CURLE_OK ? (int)status : -1;
}
