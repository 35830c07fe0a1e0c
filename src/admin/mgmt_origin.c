/* mgmt_origin.c - the management listener's cross-site and DNS-rebinding
 * checks in the open mode (mgmt_origin.h): Origin against Host, and a Host
 * that names this machine. */
#include "admin/mgmt_origin.h"
#include <arpa/inet.h>
#include <string.h>
#include <strings.h>

/* The host of a Host value (port and IPv6 brackets removed) into out. */
static void host_only(const char *v, size_t n, char *out, size_t outlen)
{
    size_t start = 0, end = n;
    if (n && v[0] == '[') {
        const char *rb = memchr(v, ']', n);
        start = 1;
        end = rb ? (size_t)(rb - v) : n;
    } else {
        const char *colon = memchr(v, ':', n);
        if (colon) end = (size_t)(colon - v);
    }
    size_t k = end > start ? end - start : 0;
    if (k >= outlen) k = outlen - 1;
    memcpy(out, v + start, k);
    out[k] = 0;
}

static bool local_name(const char *h)
{
    unsigned char addr[16];
    size_t n = strlen(h);
    if (!strcasecmp(h, "localhost")) return true;
    if (n > 10 && !strcasecmp(h + n - 10, ".localhost")) return true;
    return inet_pton(AF_INET, h, addr) == 1 || inet_pton(AF_INET6, h, addr) == 1;
}

int mgmt_origin_check(const hsrv_req_t *req, bool open, const char **code, const char **msg)
{
    if (!open) return 0; /* a bearer token is never sent by a page elsewhere */
    const hsrv_header_t *origin = hsrv_req_header(req, "origin");
    const hsrv_header_t *host = hsrv_req_header(req, "host");
    if (origin) {
        const char *o = origin->value;
        size_t n = origin->value_len;
        const char *sep = n > 3 ? memmem(o, n, "://", 3) : NULL;
        bool same = false;
        if (sep && host) {
            const char *oh = sep + 3;
            size_t ol = n - (size_t)(oh - o);
            while (ol && oh[ol - 1] == '/')
                ol--;
            same = ol == host->value_len && !strncasecmp(oh, host->value, ol);
        }
        if (!same) {
            *code = "cross_origin";
            *msg = "the management API refuses requests from another origin (the Origin header "
                   "does not match the Host)";
            return -1;
        }
    }
    if (host) {
        char h[256];
        host_only(host->value, host->value_len, h, sizeof h);
        if (!local_name(h)) {
            *code = "host_not_allowed";
            *msg = "with no management tokens configured the management API answers only to "
                   "localhost or an IP address in the Host header";
            return -1;
        }
    }
    return 0;
}
