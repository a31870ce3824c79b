/*
 * dns.h - mail routing lookups through c-ares: MX (RFC 5321 5.1), implicit
 * MX, null MX (RFC 7505), A/AAAA. A resolver belongs to one thread; its
 * calls block (with a timeout), or on an event loop park the calling
 * coroutine (dns_resolver_new_loop).
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
/* The same on an event loop: c-ares's sockets and timer become events of
 * base, and lookups made by coroutines of that loop (net/coro.h) park
 * instead of blocking. Used only on base's thread. */
struct event_base;
struct dns_resolver *dns_resolver_new_loop(const char *servers, int timeout_ms, struct event_base *base,
    char *err, size_t errlen);
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

/* ---- other record types (dns_rr.c): TXT for SPF, DKIM and DMARC checks ---- */

/* RFC 1035 / 3596 type numbers. */
#define DNS_T_A    1
#define DNS_T_PTR  12
#define DNS_T_MX   15
#define DNS_T_TXT  16
#define DNS_T_AAAA 28

#define DNS_RR_MAX  16      /* records kept from one answer; the rest ignored */
#define DNS_TXT_MAX 8192    /* octets of one TXT record's strings joined; longer: dropped */

/* One record: A: 4 octets, AAAA: 16, MX and PTR: the name (no trailing
 * dot), TXT: its character-strings joined. data is NUL-terminated; len
 * counts the octets (a TXT record may hold NULs). */
struct dns_rr {
	unsigned      pref;                    /* MX preference */
	size_t        len;
	unsigned char data[DNS_TXT_MAX + 1];
};

/* The records of one type at one name (about 130 KiB: allocate it). */
struct dns_rrset {
	int           type;
	size_t        n;
	struct dns_rr rr[DNS_RR_MAX];
};

/* Records of type (A, AAAA, MX, PTR or TXT) at name, exactly as the DNS
 * has them (no implicit MX, CNAMEs followed by the server). DNS_OK with
 * out->n >= 1, or NXDOMAIN, NODATA, TEMPFAIL with err. */
enum dns_status dns_rr_lookup(struct dns_resolver *r, const char *name, int type,
    struct dns_rrset *out, char *err, size_t errlen);

/* Parse a DNS response's answer section (alen octets at abuf) into out,
 * keeping records of type only. 0, or -1 when the message is malformed. */
int dns_answer_parse(const unsigned char *abuf, size_t alen, int type, struct dns_rrset *out);

#endif
