/*
 * deliver_hop.c - where a group of recipients goes next: the hop plan
 * (MX records in order, an implicit MX, an address literal, a smarthost or
 * an LMTP server), the provider whose limits apply, the destination site
 * it counts against, and the loop check that keeps ferry from mailing
 * itself.
 * STANDARDS: RFC 5321 5.1 (MX order, implicit MX), RFC 7505 (null MX),
 * RFC 5321 4.1.3 (address literals).
 * SECURITY: an MX that points back at ferry itself is a loop and fails the
 * recipients (5.4.6) instead of being followed; host names come from DNS
 * (checked by dns.c) or the configuration.
 */
#include "delivery/deliver_internal.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include "util/log.h"
#include "util/xmalloc.h"

/* ---- next hops ---------------------------------------------------------- */


/* The loop's resolver for c's dns_servers, made again when they change;
 * the one replaced is kept (lookups may still be parked on it). */
static struct dns_resolver *
deliver_resolver(struct deliver_ctx *d, const struct conf *c)
{
	struct deliver_shared *sh = d->sh;
	const char *key = c->dns_servers ? c->dns_servers : "";
	char err[256];

	if (sh->dns != NULL && strcmp(sh->dns_key, key) == 0)
		return sh->dns;
	if (sh->dns != NULL) {
		if (sh->nold_dns < sizeof(sh->old_dns) / sizeof(sh->old_dns[0]))
			sh->old_dns[sh->nold_dns++] = sh->dns;
		else
			log_warn("event=dns-resolver-kept reason=\"dns_servers changed too often; the old"
			    " resolver stays allocated\"");
	}
	free(sh->dns_key);
	sh->dns_key = xstrdup(key);
	sh->dns = dns_resolver_new_loop(c->dns_servers, (int)c->dns_timeout * 1000, sh->base, err, sizeof(err));
	if (sh->dns == NULL)
		log_error("event=dns-unavailable error=\"%s\"", err);
	return sh->dns;
}

static enum mta_tls
hop_tls(const struct conf *c, const struct conf_route *route)
{
	enum conf_tls t = route && route->tls != CONF_TLS_DEFAULT ? route->tls : c->smtp_tls;

	switch (t) {
	case CONF_TLS_NONE:    return MTA_TLS_NONE;
	case CONF_TLS_REQUIRE: return MTA_TLS_REQUIRE;
	case CONF_TLS_VERIFY:  return MTA_TLS_VERIFY;
	default:               return MTA_TLS_MAY;
	}
}

static int
hop_resolve_mx(struct deliver_ctx *d, const struct conf *c, const char *domain,
    struct hop_plan *p, struct mta_reply *why)
{
	struct dns_resolver *r = deliver_resolver(d, c);
	char err[256] = "";
	enum dns_status st;

	if (r == NULL) {
		mta_reply_set(why, 451, "4.4.3 DNS resolver unavailable");
		return -1;
	}
	st = dns_mx_lookup(r, domain, c->outbound_ipv6, p->hosts, DNS_HOSTS_MAX, &p->nhosts, err, sizeof(err));
	switch (st) {
	case DNS_OK:
		return 0;
	case DNS_NULLMX:
		mta_reply_set(why, 556, "5.1.10 Domain %.200s does not accept mail (null MX)", domain);
		return -1;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		mta_reply_set(why, 550, "5.1.2 Host or domain name not found: %.200s (%.200s)", domain, err);
		return -1;
	default:
		mta_reply_set(why, 451, "4.4.3 Host or domain name lookup failed for %.200s: %.200s; will retry",
		    domain, err);
		return -1;
	}
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]": that host, no DNS (RFC 5321 4.1.3). */
static int
hop_address_literal(const char *domain, struct hop_plan *p, struct mta_reply *why)
{
	char ip[64];
	size_t len = strlen(domain);
	const char *start = domain + 1;

	if (strncasecmp(start, "IPv6:", 5) == 0)
		start += 5;
	if (len < 3 || domain[len - 1] != ']' || (size_t)(domain + len - 1 - start) >= sizeof(ip)) {
		mta_reply_set(why, 550, "5.1.2 bad address literal %.200s", domain);
		return -1;
	}
	memcpy(ip, start, (size_t)(domain + len - 1 - start));
	ip[domain + len - 1 - start] = '\0';
	if (!dns_host_literal(ip, &p->hosts[0])) {
		mta_reply_set(why, 550, "5.1.2 bad address literal %.200s", domain);
		return -1;
	}
	p->nhosts = 1;
	return 0;
}

int
hop_plan_make(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, struct hop_plan *p, struct mta_reply *why)
{
	char err[256] = "";

	memset(p, 0, sizeof(*p));
	p->port = (int)c->smtp_port;
	p->tls = hop_tls(c, route);
	p->source = route && route->source ? route->source : c->outbound_source;
	if ((route == NULL || route->transport == CONF_TRANSPORT_MX) && domain[0] == '[')
		return hop_address_literal(domain, p, why);
	if (route == NULL || route->transport == CONF_TRANSPORT_MX)
		return hop_resolve_mx(d, c, domain, p, why);
	p->lmtp = route->transport == CONF_TRANSPORT_LMTP;
	p->auth_user = route->auth_user;
	p->auth_pass = route->auth_pass;
	p->auth_unverified = route->tls_noverify;
	p->port = route->port;
	if (p->lmtp && route->tls == CONF_TLS_DEFAULT)
		p->tls = MTA_TLS_NONE;   /* LMTP is local: no TLS unless asked for */
	if (route->path != NULL) {
		p->unix_path = route->path;
		p->nhosts = 1;
		return 0;
	}
	p->nhosts = 1;
	if (dns_host_literal(route->host, &p->hosts[0]))
		return 0;
	if (deliver_resolver(d, c) == NULL ||
	    dns_host_lookup(d->sh->dns, route->host, c->outbound_ipv6, &p->hosts[0], err, sizeof(err)) != DNS_OK) {
		mta_reply_set(why, 451, "4.4.3 cannot resolve next hop %.200s: %.200s", route->host, err);
		return -1;
	}
	return 0;
}

/* This host's interface addresses, read at most once a minute: the check
 * runs for every MX address of every message when a listener is on '*'. */
#define LOCAL_ADDRS_MAX     64
#define LOCAL_ADDRS_REFRESH 60

static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_storage local_addrs[LOCAL_ADDRS_MAX];
static size_t local_naddrs;
static time_t local_read;

/* Refresh the cached interface addresses when they are stale (local_lock held). */
static void
hop_local_refresh(void)
{
	struct ifaddrs *ifs;
	time_t now = time(NULL);

	if (local_read != 0 && now - local_read < LOCAL_ADDRS_REFRESH)
		return;
	local_read = now;
	if (getifaddrs(&ifs) < 0)
		return;
	local_naddrs = 0;
	for (struct ifaddrs *i = ifs; i != NULL && local_naddrs < LOCAL_ADDRS_MAX; i = i->ifa_next)
		if (i->ifa_addr != NULL && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			memcpy(&local_addrs[local_naddrs++], i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
			    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	freeifaddrs(ifs);
}

/* Is a one of this host's addresses (for listeners on the wildcard address)? */
static bool
hop_addr_is_local(const struct sockaddr_storage *a)
{
	bool local = false;

	if (a->ss_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127)
		return true;
	if (a->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr))
		return true;
	pthread_mutex_lock(&local_lock);
	hop_local_refresh();
	for (size_t i = 0; i < local_naddrs && !local; i++) {
		const struct sockaddr_storage *l = &local_addrs[i];
		if (l->ss_family != a->ss_family)
			continue;
		if (a->ss_family == AF_INET)
			local = ((const struct sockaddr_in *)l)->sin_addr.s_addr ==
			    ((const struct sockaddr_in *)a)->sin_addr.s_addr;
		else
			local = memcmp(&((const struct sockaddr_in6 *)l)->sin6_addr,
			    &((const struct sockaddr_in6 *)a)->sin6_addr, 16) == 0;
	}
	pthread_mutex_unlock(&local_lock);
	return local;
}

static bool
hop_is_self(const struct conf *c, const struct dns_host *h, const struct sockaddr_storage *a, int port)
{
	if (strcasecmp(h->name, c->hostname) == 0)
		return true;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct sockaddr_storage *l = &c->listeners[i].ss;
		if (l->ss_family != a->ss_family)
			continue;
		if (l->ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)l, *y = (const void *)a;
			if (ntohs(x->sin_port) == port && (x->sin_addr.s_addr == y->sin_addr.s_addr ||
			    (x->sin_addr.s_addr == htonl(INADDR_ANY) && hop_addr_is_local(a))))
				return true;
		} else {
			const struct sockaddr_in6 *x = (const void *)l, *y = (const void *)a;
			if (ntohs(x->sin6_port) == port && (memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 ||
			    (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) && hop_addr_is_local(a))))
				return true;
		}
	}
	return false;
}

/* RFC 5321 5.1: when ferryd is one of the MX hosts, only better ones may
 * take the mail; when it is the best, the mail loops (-1, why = 5.4.6). */
int
hop_drop_self(const struct conf *c, struct hop_plan *p, const char *domain, struct mta_reply *why)
{
	for (size_t hi = 0; hi < p->nhosts; hi++)
		for (size_t ai = 0; ai < p->hosts[hi].naddrs; ai++) {
			if (!hop_is_self(c, &p->hosts[hi], &p->hosts[hi].addrs[ai], p->port))
				continue;
			unsigned pref = p->hosts[hi].pref;
			size_t keep = 0;
			while (keep < p->nhosts && p->hosts[keep].pref < pref)
				keep++;
			if (keep == 0) {
				mta_reply_set(why, 554, "5.4.6 mail for %.200s loops back to myself (MX %.200s)",
				    domain, p->hosts[hi].name);
				return -1;
			}
			p->nhosts = keep;
			return 0;
		}
	return 0;
}

/* The provider whose limits apply: matched on the fixed next hop or the MX hosts. */
const struct conf_provider *
hop_provider(const struct conf *c, const struct conf_route *route, const struct hop_plan *p)
{
	const struct conf_provider *pr = NULL;

	if (c->nproviders == 0 || p->unix_path != NULL)
		return NULL;
	if (route != NULL && route->host != NULL)
		pr = conf_provider_match(c, route->host);
	for (size_t hi = 0; hi < p->nhosts && pr == NULL; hi++)
		pr = conf_provider_match(c, p->hosts[hi].name);
	return pr;
}


static int
hop_name_cmp(const void *a, const void *b)
{
	return strcasecmp(*(const char *const *)a, *(const char *const *)b);
}

/* The destination site the plan's transactions count against: a provider
 * with its own connection limit, a fixed next hop, or the MX host set
 * (domains sharing their MX hosts share the site). */
void
hop_site_name(const struct conf_route *route, const struct hop_plan *p, char *out, size_t outsz)
{
	const char *names[DNS_HOSTS_MAX];
	size_t n = 0, len = 0;

	if (p->provider != NULL && p->provider->connections > 0) {
		snprintf(out, outsz, "provider:%s", p->provider->name);
		return;
	}
	if (p->unix_path != NULL) {
		snprintf(out, outsz, "lmtp:%s", p->unix_path);
		return;
	}
	if (route != NULL && route->transport != CONF_TRANSPORT_MX && route->host != NULL) {
		snprintf(out, outsz, "%s:%s:%d", p->lmtp ? "lmtp" : "smtp", route->host, p->port);
		return;
	}
	if (p->domain != NULL && p->domain[0] == '[') {
		snprintf(out, outsz, "%s", p->domain);
		return;
	}
	for (size_t i = 0; i < p->nhosts; i++)
		names[n++] = p->hosts[i].name;
	qsort(names, n, sizeof(names[0]), hop_name_cmp);
	out[0] = '\0';
	for (size_t i = 0; i < n && len < outsz; i++) {
		if (i > 0 && strcasecmp(names[i], names[i - 1]) == 0)
			continue;
		len += (size_t)snprintf(out + len, outsz - len, "%s%s", len ? "," : "", names[i]);
	}
	for (char *q = out; *q; q++)
		*q = (char)(*q >= 'A' && *q <= 'Z' ? *q + 32 : *q);
}
