/*
 * netaddr.h - IP networks (CIDR) and socket address text forms.
 * IPv4-mapped IPv6 client addresses (::ffff:a.b.c.d) match IPv4 networks.
 */
#ifndef FERRY_UTIL_NETADDR_H
#define FERRY_UTIL_NETADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

struct netaddr_net {
	int           family;      /* AF_INET or AF_INET6 */
	unsigned char addr[16];
	unsigned      prefix;
};

/* Parse "192.0.2.0/24", "2001:db8::/32" or a bare address (full prefix).
 * Returns 0 or -1. */
int  netaddr_net_parse(const char *s, struct netaddr_net *out);
bool netaddr_net_match(const struct netaddr_net *n, const struct sockaddr *sa);
/* Wider than /8 (IPv4, also written IPv4-mapped) or /16 (IPv6): a network
 * that trusting would make an open relay. */
bool netaddr_net_too_wide(const struct netaddr_net *n);

/* "192.0.2.1" / "2001:db8::1" (no port) into out; returns out. */
const char *netaddr_ntop(const struct sockaddr *sa, char *out, size_t outsz);

/* An IPv4 or IPv6 address literal (no port, no brackets) into out (port 0,
 * socklen in *len), either may be NULL. Returns false for anything else. */
bool netaddr_ip_parse(const char *s, struct sockaddr_storage *out, socklen_t *len);

/* Parse "host:port", "[v6]:port" or ":port" (all addresses) for listening.
 * Returns 0 or -1. */
int netaddr_listen_parse(const char *s, struct sockaddr_storage *ss, socklen_t *len);

#endif
