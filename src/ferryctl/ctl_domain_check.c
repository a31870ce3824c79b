/*
 * ctl_domain_check.c - `ferryctl domain check DOMAIN`: ask the DNS (the
 * configured dns_servers, as ferryd does) whether a tenant's sender domain
 * is set up for this relay: SPF for each source address, DKIM keys, DMARC
 * and its alignment, and the tenant's bounce domain (MX and SPF). One line
 * per finding, "ok", "missing" or "wrong"; exit 0 only when all are ok.
 * STANDARDS: RFC 7208 (SPF), RFC 6376 / 8463 (DKIM keys), RFC 7489 (DMARC).
 * SECURITY: run by the administrator; DNS answers are untrusted and only
 * printed (the state database is opened, never changed).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "ferryctl/ctl.h"
#include "ferryctl/ctl_check.h"
#include "state/state_admin.h"

void
check_say(struct check *k, enum check_status s, const char *what, const char *fmt, ...)
{
	static const char *const names[] = { "ok", "missing", "wrong" };
	va_list ap;

	printf("%-7s %s: ", names[s], what);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	if (s != CHECK_OK)
		k->bad++;
}

/* Bounded tag-list scan: tags are separated by ';', names compared without
 * case, whitespace (FWS) around names and values ignored. */
bool
check_tag_get(const char *rec, const char *tag, char *val, size_t size)
{
	size_t tlen = strlen(tag);
	const char *p = rec;

	while (*p != '\0') {
		const char *end = strchr(p, ';'), *eq;
		if (end == NULL)
			end = p + strlen(p);
		while (p < end && isspace((unsigned char)*p))
			p++;
		eq = memchr(p, '=', (size_t)(end - p));
		if (eq != NULL) {
			const char *n = eq;
			while (n > p && isspace((unsigned char)n[-1]))
				n--;
			if ((size_t)(n - p) == tlen && strncasecmp(p, tag, tlen) == 0) {
				const char *v = eq + 1, *ve = end;
				while (v < ve && isspace((unsigned char)*v))
					v++;
				while (ve > v && isspace((unsigned char)ve[-1]))
					ve--;
				if ((size_t)(ve - v) >= size)
					return false;
				memcpy(val, v, (size_t)(ve - v));
				val[ve - v] = '\0';
				return true;
			}
		}
		p = *end == ';' ? end + 1 : end;
	}
	return false;
}

/* ---- the relay's source addresses --------------------------------------- */

/* The hostname's addresses: the last guess at what receivers see. */
static void
check_ips_hostname(struct check *k)
{
	struct dns_host h;
	char err[256], ip[INET6_ADDRSTRLEN];

	if (dns_host_lookup(k->r, k->conf->hostname, true, &h, err, sizeof(err)) != DNS_OK)
		return;
	for (size_t i = 0; i < h.naddrs; i++) {
		const struct sockaddr_storage *ss = &h.addrs[i];
		const void *a = ss->ss_family == AF_INET ?
		    (const void *)&((const struct sockaddr_in *)ss)->sin_addr :
		    (const void *)&((const struct sockaddr_in6 *)ss)->sin6_addr;
		if (inet_ntop(ss->ss_family, a, ip, sizeof(ip)) != NULL)
			ctl_sources_add(&k->src, ip);
	}
}

/* What receivers will see mail from, as `domain dns` puts it in SPF: the
 * tenant's and its connectors' pools, else outbound_source, else (a
 * guess) the hostname's addresses. Returns which. */
static const char *
check_ips_find(struct check *k)
{
	char err[512];

	if (ctl_sources_pools(&k->src, k->st, k->tenant.name, k->tenant.pool, err,
	    sizeof(err)) != 0)
		snprintf(k->src.missing, sizeof(k->src.missing), "(connectors: %.200s)", err);
	if (k->src.pools > 0)
		return "pools";
	if (k->conf->outbound_source != NULL) {
		ctl_sources_add(&k->src, k->conf->outbound_source);
		return "outbound_source";
	}
	check_ips_hostname(k);
	return "hostname";
}

/* ---- SPF ---------------------------------------------------------------- */

/* Evaluate domain's SPF for every source address (label: "spf" or "bounce spf"). */
static void
check_spf(struct check *k, const char *label, const char *domain)
{
	char what[128 + STATE_DOMAIN_MAX], result[32], why[512];

	if (k->src.n == 0) {
		snprintf(what, sizeof(what), "%s %s", label, domain);
		check_say(k, CHECK_MISSING, what, "no source address to check (no pool_address for "
		    "the tenant's pool, no outbound_source, and hostname has no address)");
		return;
	}
	for (size_t i = 0; i < k->src.n; i++) {
		enum check_spf s = check_spf_eval(k->r, k->conf->hostname, domain, k->src.addr[i],
		    result, sizeof(result), why, sizeof(why));
		snprintf(what, sizeof(what), "%s %s %s", label, domain, k->src.addr[i]);
		check_say(k, s == CHECK_SPF_PASS || s == CHECK_SPF_SKIPPED ? CHECK_OK :
		    s == CHECK_SPF_NONE ? CHECK_MISSING : CHECK_WRONG, what, "%s%s%s%s", result,
		    why[0] != '\0' ? " (" : "", why, why[0] != '\0' ? ")" : "");
	}
}

/* ---- bounce domain ------------------------------------------------------ */

/* The bounce domain's MX must name this relay (its hostname). */
static void
check_bounce_mx(struct check *k, const char *bd)
{
	char err[512], what[64 + STATE_DOMAIN_MAX];
	const char *host = k->conf->hostname;
	enum dns_status st = dns_rr_lookup(k->r, bd, DNS_T_MX, k->set, err, sizeof(err));

	snprintf(what, sizeof(what), "bounce mx %s", bd);
	if (st != DNS_OK) {
		check_say(k, st == DNS_TEMPFAIL ? CHECK_WRONG : CHECK_MISSING, what,
		    "no MX record (%s); bounces to the VERP return path cannot reach this relay (%s)",
		    dns_status_name(st), err);
		return;
	}
	for (size_t i = 0; i < k->set->n; i++) {
		const char *mx = (const char *)k->set->rr[i].data;
		size_t len = strlen(mx), hlen = strlen(host);
		if (hlen > 0 && host[hlen - 1] == '.')
			hlen--;
		if (len == hlen && strncasecmp(mx, host, hlen) == 0) {
			check_say(k, CHECK_OK, what, "MX %u %s is this relay", k->set->rr[i].pref, mx);
			return;
		}
	}
	check_say(k, CHECK_WRONG, what, "MX %s is not this relay's hostname %s",
	    (const char *)k->set->rr[0].data, host);
}

static void
check_bounce(struct check *k)
{
	if (k->tenant.bounce_domain[0] == '\0')
		return;
	check_bounce_mx(k, k->tenant.bounce_domain);
	check_spf(k, "bounce spf", k->tenant.bounce_domain);
}

/* ---- setup -------------------------------------------------------------- */

/* The domain's tenant: 0, or -1 with err (not a sender domain, database). */
static int
check_domain_find(struct check *k, char *err, size_t errlen)
{
	struct state_domain_info d;

	if (state_domain_get(k->st, k->domain, &d, err, errlen) != 0)
		return -1;
	if (state_tenant_by_id(k->st, d.tenant_id, &k->tenant) <= 0) {
		snprintf(err, errlen, "%s: cannot read tenant %s", state_path(k->st), d.tenant);
		return -1;
	}
	return 0;
}

/* Every check in turn, once the context is set up. */
static int
check_run(struct check *k)
{
	const char *from;
	char err[1024];

	if (check_domain_find(k, err, sizeof(err)) != 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	from = check_ips_find(k);
	printf("domain %s, tenant %s, source addresses (%s):", k->domain, k->tenant.name,
	    from != NULL ? from : "none");
	for (size_t i = 0; i < k->src.n; i++)
		printf(" %s", k->src.addr[i]);
	putchar('\n');
	if (k->src.missing[0] != '\0')
		check_say(k, CHECK_WRONG, "pool", "%s (the tenant's or a connector's) is not in the "
		    "configuration: its addresses are not checked", k->src.missing);
	check_spf(k, "spf", k->domain);
	if (check_dkim(k, err, sizeof(err)) < 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	check_dmarc(k);
	check_bounce(k);
	return k->bad == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

int
ctl_domain_check(struct ctl *c, const char *domain)
{
	struct check k = { 0 };
	const struct conf *conf;
	char err[1024], name[STATE_DOMAIN_MAX + 1];
	int rc = CTL_EXIT_ERR;

	if (state_domain_norm(domain, name, sizeof(name)) != 0) {
		ctl_warn("%.100s: not a domain name", domain);
		return CTL_EXIT_USAGE;
	}
	if ((conf = ctl_conf_get(c)) == NULL)
		return CTL_EXIT_ERR;
	k.conf = conf;
	k.src.conf = conf;
	k.domain = name;
	k.set = calloc(1, sizeof(*k.set));
	if (k.set == NULL)
		ctl_warn("out of memory");
	else if ((k.st = state_open(conf->state_db, err, sizeof(err))) == NULL)
		ctl_warn("%s", err);
	else if ((k.r = dns_resolver_new(conf->dns_servers, (int)conf->dns_timeout * 1000, err,
	    sizeof(err))) == NULL)
		ctl_warn("%s", err);
	else
		rc = check_run(&k);
	fflush(stdout);
	dns_resolver_free(k.r);
	state_close(k.st);
	free(k.set);
	return rc;
}
