/* addr_limit.h - open connections per client address, process-wide, for
 * the server's max_connections_per_address (server.c): an IPv4 address and
 * its IPv4-mapped IPv6 form count as one address. A mutex-protected hash
 * table of counts; an address leaves it when its last connection closes,
 * so it holds at most one entry per open connection.
 *
 * Thread-safe (every worker's accept and close). */
#ifndef TETHER_HTTP_ADDR_LIMIT_H
#define TETHER_HTTP_ADDR_LIMIT_H
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* A client address as the table keys it (family plus 16 bytes). */
typedef struct srv_addr {
    uint8_t family; /* 0: none (not an IP socket: never counted) */
    uint8_t bytes[16];
} srv_addr_t;

typedef struct srv_addr_table srv_addr_table_t;

srv_addr_table_t *srv_addr_table_new(void);
void srv_addr_table_free(srv_addr_table_t *t);
/* The key of sa (family 0 for what is not IPv4/IPv6). */
srv_addr_t srv_addr_of(const struct sockaddr *sa, int salen);
/* Count one more connection from a unless it already has limit open (limit
 * 0: no limit, always counted). true when counted. */
bool srv_addr_acquire(srv_addr_table_t *t, const srv_addr_t *a, size_t limit);
/* One connection from a closed (a must have been counted). */
void srv_addr_release(srv_addr_table_t *t, const srv_addr_t *a);
/* Open connections from a (tests). */
size_t srv_addr_count(srv_addr_table_t *t, const srv_addr_t *a);
/* "1.2.3.4" or "::1" into out (at least 46 bytes). */
void srv_addr_format(const srv_addr_t *a, char *out, size_t outlen);
#endif
