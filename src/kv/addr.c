/* addr.c - the one parser of Redis addresses (client.h, kv_addr_parse),
 * shared by every Redis user: host:port, host (port 6379), redis://host:port
 * (a trailing /db path is ignored: the db comes from its own setting) and
 * unix:/path, with or without redis://; and kept options (kv_conf_t) whose
 * address was checked by it. */
#include "kv/client.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

bool kv_addr_parse(kv_addr_t *a, const char *addr, char *err, size_t errlen)
{
    memset(a, 0, sizeof *a);
    if (!addr || !*addr) addr = "127.0.0.1:6379";
    if (!strncmp(addr, "rediss://", 9)) {
        snprintf(err, errlen,
                 "redis address '%s': TLS (rediss://) is not supported by this build's hiredis",
                 addr);
        return false;
    }
    if (!strncmp(addr, "redis://", 8)) addr += 8;
    if (!strncmp(addr, "unix:", 5)) {
        a->unix_path = strdup(addr + 5);
        if (!a->unix_path) abort();
        return true;
    }
    const char *colon = strrchr(addr, ':');
    size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
    if (hl == 0 || hl >= sizeof a->host) {
        snprintf(err, errlen, "redis address '%s': expected host:port or unix:/path", addr);
        return false;
    }
    memcpy(a->host, addr, hl);
    a->host[hl] = 0;
    a->port = 6379;
    if (colon) {
        char *end;
        long p = strtol(colon + 1, &end, 10);
        if (end == colon + 1 || (*end && *end != '/') || p <= 0 || p > 65535) {
            snprintf(err, errlen, "redis address '%s': bad port", addr);
            return false;
        }
        a->port = (int)p;
    }
    return true;
}

void kv_addr_deinit(kv_addr_t *a)
{
    free(a->unix_path);
    a->unix_path = NULL;
}

static char *dup_set(const char *s)
{
    return s && *s ? strdup(s) : NULL;
}

bool kv_conf_init(kv_conf_t *k, const kv_opts_t *o, char *err, size_t errlen)
{
    memset(k, 0, sizeof *k);
    kv_addr_t a;
    if (!kv_addr_parse(&a, o->address, err, errlen)) return false;
    kv_addr_deinit(&a);
    k->o = *o;
    k->o.address = k->address = dup_set(o->address);
    k->o.username = k->username = dup_set(o->username);
    k->o.password = k->password = dup_set(o->password);
    return true;
}

void kv_conf_deinit(kv_conf_t *k)
{
    free(k->address);
    free(k->username);
    free(k->password);
    memset(k, 0, sizeof *k);
}
