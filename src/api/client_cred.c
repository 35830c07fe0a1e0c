/* client_cred.c - the credential a request presents (see client_cred.h):
 * the Bearer scheme (any letter case) and blanks stripped, the key checked
 * for emptiness, length and printable ASCII, and several credential headers
 * required to agree. */
#include "api/client_cred.h"
#include <stdbool.h>
#include <string.h>
#include <strings.h>

static const char *trim(const char *v, size_t *len)
{
    while (*len && (*v == ' ' || *v == '\t'))
        v++, (*len)--;
    while (*len && (v[*len - 1] == ' ' || v[*len - 1] == '\t'))
        (*len)--;
    return v;
}

/* The credential one header presents: OK with out and len set, MISSING when the
 * header is not a credential header, else why it is unusable. */
static client_auth_result_t presented(const hsrv_header_t *h, size_t max, const char **out,
                                      size_t *len)
{
    bool xkey = h->name_len == 9 && !strncasecmp(h->name, "x-api-key", 9);
    if (!xkey && (h->name_len != 13 || strncasecmp(h->name, "authorization", 13)))
        return CLIENT_AUTH_MISSING;
    *len = h->value ? h->value_len : 0;
    const char *v = h->value ? trim(h->value, len) : "";
    if (!xkey) {
        if (*len < 7 || strncasecmp(v, "bearer", 6) || (v[6] != ' ' && v[6] != '\t'))
            return CLIENT_AUTH_MALFORMED; /* Basic, a bare key, "Bearer" alone, empty */
        v += 7;
        *len -= 7;
        v = trim(v, len);
    }
    if (!*len) return CLIENT_AUTH_MALFORMED;
    if (*len > max) return CLIENT_AUTH_TOO_LONG;
    for (size_t i = 0; i < *len; i++)
        if ((unsigned char)v[i] < 0x21 || (unsigned char)v[i] > 0x7e) return CLIENT_AUTH_MALFORMED;
    *out = v;
    return CLIENT_AUTH_OK;
}

client_auth_result_t client_cred_get(const hsrv_header_t *h, size_t n, size_t max,
                                     const char **cred, size_t *len)
{
    *cred = NULL;
    *len = 0;
    for (size_t i = 0; i < n; i++) {
        const char *v = NULL;
        size_t vl = 0;
        client_auth_result_t r = presented(&h[i], max, &v, &vl);
        if (r == CLIENT_AUTH_MISSING) continue;
        if (r != CLIENT_AUTH_OK) return r;
        /* both are the client's own bytes: an ordinary compare leaks nothing */
        if (*cred && (vl != *len || memcmp(v, *cred, vl))) return CLIENT_AUTH_CONFLICT;
        *cred = v;
        *len = vl;
    }
    return *cred ? CLIENT_AUTH_OK : CLIENT_AUTH_MISSING;
}
