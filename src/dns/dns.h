/*
 * dns.h - mail routing lookups through c-ares: MX (RFC 5321 5.1), implicit
 * MX, null MX (RFC 7505), A/AAAA. A resolver belongs to one thread and its
 * calls block (with a timeout); delivery threads each own one.
 * SECURITY: answers are untrusted; names are length-checked, at most
 * DNS_HOSTS_MAX hosts and DNS_ADDRS_MAX addresses each are kept.
 */
#ifndef FERRY_DNS_DNS_H
#define FERRY_DNS_DNS_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#define DNS_HOSTS_MAX 16
#define DNS_ADDRS_MAX 8
#define DNS_NAME_MAX  255

enum dns_status {
	DNS_OK = 0,
	DNS_NXDOMAIN,    /* the domain does not exist: permanent */
	DNS_NODATA,      /* no MX and no A/AAAA: permanent */
	DNS_NULLMX,      /* "MX 0 ." (RFC 7505): permanent, 5.1.10 */
	DNS_TEMPFAIL,    /* SERVFAIL, timeout, network: try again later */
};

struct dns_host {
	char                    name[DNS_NAME_MAX + 1];
	unsigned                pref;
	struct sockaddr_storage addrs[DNS_ADDRS_MAX];  /* port left 0 */
	size_t                  naddrs;
};

struct dns_resolver;

/* servers: NULL for the system's resolv.conf, or "IP[:PORT][,IP[:PORT]...]"
 * (IPv6 as [addr]:port). timeout_ms bounds one whole lookup. */
struct dns_resolver *dns_resolver_new(const char *servers, int timeout_ms, char *err, size_t errlen);
void dns_resolver_free(struct dns_resolver *r);

/* Mail exchangers for domain, in the order to try: by preference, shuffled
 * among equal preference; hosts whose address lookup fails are dropped
 * (TEMPFAIL if all fail temporarily). No MX records: the domain itself as
 * an implicit MX with pref 0. IPv4 addresses first, then IPv6 if want_v6.
 * err gets a human-readable reason for logs and bounces. */
enum dns_status dns_mx_lookup(struct dns_resolver *r, const char *domain, bool want_v6,
    struct dns_host *out, size_t max, size_t *n, char *err, size_t errlen);

/* An IP address literal as a host, without DNS; false when host is a name. */
bool dns_host_literal(const char *host, struct dns_host *out);

/* A/AAAA of one host (smarthost routes, implicit MX). */
enum dns_status dns_host_lookup(struct dns_resolver *r, const char *host, bool want_v6,
    struct dns_host *out, char *err, size_t errlen);

const char *dns_status_name(enum dns_status s);

#endif
