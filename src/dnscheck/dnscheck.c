/*
 * dnscheck.c - whether a tenant's sender domain is set up in the DNS for
 * this relay: SPF for each source address, DKIM keys (dnscheck_dkim.c),
 * DMARC and its alignment, and the tenant's bounce domain (MX and SPF).
 * Each finding goes to the caller (ferryctl prints it, the HTTP API makes
 * it JSON) as "ok", "missing" or "wrong".
 * STANDARDS: RFC 7208 (SPF), RFC 6376 / 8463 (DKIM keys), RFC 7489 (DMARC).
 * SECURITY: DNS answers are untrusted and only reported; SPF records are
 * evaluated only by the caller's spf_eval (libspf2 is linked into ferryctl
 * alone, so ferryd never parses SPF with it): without one, the record's
 * presence is checked.
 */
#include "dnscheck/dnscheck.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "state/state_admin.h"

const char *
dnscheck_status_name(enum dnscheck_status s)
{
	static const char *const names[] = { "ok", "missing", "wrong" };

	return (size_t)s < sizeof(names) / sizeof(names[0]) ? names[s] : "wrong";
}

void
dnscheck_say(struct dnscheck *k, enum dnscheck_status s, const char *what, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (s != DNSCHECK_OK)
		k->bad++;
	if (k->say != NULL)
		k->say(k->arg, s, what, msg);
}

/* Bounded tag-list scan: tags are separated by ';', names compared without
 * case, whitespace (FWS) around names and values ignored. */
bool
dnscheck_tag_get(const char *rec, const char *tag, char *val, size_t size)
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
dnscheck_ips_hostname(struct dnscheck *k)
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
			dnscheck_sources_add(&k->src, ip);
	}
}

/* What receivers will see mail from, as the records put it in SPF: the
 * tenant's and its connectors' pools, else outbound_source, else (a
 * guess) the hostname's addresses. Returns which. */
static const char *
dnscheck_ips_find(struct dnscheck *k)
{
	char err[512];

	if (dnscheck_sources_pools(&k->src, k->st, k->tenant.name, k->tenant.pool, err,
	    sizeof(err)) != 0)
		snprintf(k->src.missing, sizeof(k->src.missing), "(connectors: %.200s)", err);
	if (k->src.pools > 0)
		return "pools";
	if (k->conf->outbound_source != NULL) {
		dnscheck_sources_add(&k->src, k->conf->outbound_source);
		return "outbound_source";
	}
	dnscheck_ips_hostname(k);
	return "hostname";
}

/* ---- SPF ---------------------------------------------------------------- */

/* Without an evaluator: exactly one v=spf1 TXT record (RFC 7208 4.5). */
static void
dnscheck_spf_record(struct dnscheck *k, const char *label, const char *domain)
{
	char what[128 + STATE_DOMAIN_MAX], err[512];
	const char *rec = NULL;
	size_t n = 0;
	enum dns_status st = dns_rr_lookup(k->r, domain, DNS_T_TXT, k->set, err, sizeof(err));

	snprintf(what, sizeof(what), "%s %s", label, domain);
	for (size_t i = 0; st == DNS_OK && i < k->set->n; i++) {
		const char *t = (const char *)k->set->rr[i].data;
		if (strncasecmp(t, "v=spf1", 6) == 0 && (t[6] == '\0' || t[6] == ' ')) {
			rec = t;
			n++;
		}
	}
	if (n == 0)
		dnscheck_say(k, st == DNS_TEMPFAIL ? DNSCHECK_WRONG : DNSCHECK_MISSING, what,
		    "no v=spf1 record (%s)", st == DNS_OK ? "TXT records without v=spf1" :
		    dns_status_name(st));
	else if (n > 1)
		dnscheck_say(k, DNSCHECK_WRONG, what, "%zu v=spf1 records: SPF fails with permerror", n);
	else
		dnscheck_say(k, DNSCHECK_OK, what, "published: %.600s (not evaluated here: `ferryctl"
		    " domain check` evaluates it for each source address)", rec);
}

/* Evaluate domain's SPF for every source address (label: "spf" or "bounce spf"). */
static void
dnscheck_spf(struct dnscheck *k, const char *label, const char *domain)
{
	char what[128 + STATE_DOMAIN_MAX], result[32], why[512];

	if (k->src.n == 0) {
		snprintf(what, sizeof(what), "%s %s", label, domain);
		dnscheck_say(k, DNSCHECK_MISSING, what, "no source address to check (no pool_address for "
		    "the tenant's pool, no outbound_source, and hostname has no address)");
		return;
	}
	if (k->spf_eval == NULL) {
		dnscheck_spf_record(k, label, domain);
		return;
	}
	for (size_t i = 0; i < k->src.n; i++) {
		enum dnscheck_spf s = k->spf_eval(k->r, k->conf->hostname, domain, k->src.addr[i],
		    result, sizeof(result), why, sizeof(why));
		snprintf(what, sizeof(what), "%s %s %s", label, domain, k->src.addr[i]);
		dnscheck_say(k, s == DNSCHECK_SPF_PASS || s == DNSCHECK_SPF_SKIPPED ? DNSCHECK_OK :
		    s == DNSCHECK_SPF_NONE ? DNSCHECK_MISSING : DNSCHECK_WRONG, what, "%s%s%s%s", result,
		    why[0] != '\0' ? " (" : "", why, why[0] != '\0' ? ")" : "");
	}
}

/* ---- bounce domain ------------------------------------------------------ */

/* The bounce domain's MX must name this relay (its hostname). */
static void
dnscheck_bounce_mx(struct dnscheck *k, const char *bd)
{
	char err[512], what[64 + STATE_DOMAIN_MAX];
	const char *host = k->conf->hostname;
	enum dns_status st = dns_rr_lookup(k->r, bd, DNS_T_MX, k->set, err, sizeof(err));

	snprintf(what, sizeof(what), "bounce mx %s", bd);
	if (st != DNS_OK) {
		dnscheck_say(k, st == DNS_TEMPFAIL ? DNSCHECK_WRONG : DNSCHECK_MISSING, what,
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
			dnscheck_say(k, DNSCHECK_OK, what, "MX %u %s is this relay", k->set->rr[i].pref, mx);
			return;
		}
	}
	dnscheck_say(k, DNSCHECK_WRONG, what, "MX %s is not this relay's hostname %s",
	    (const char *)k->set->rr[0].data, host);
}

static void
dnscheck_bounce(struct dnscheck *k)
{
	if (k->tenant.bounce_domain[0] == '\0')
		return;
	dnscheck_bounce_mx(k, k->tenant.bounce_domain);
	dnscheck_spf(k, "bounce spf", k->tenant.bounce_domain);
}

/* ---- setup -------------------------------------------------------------- */

int
dnscheck_begin(struct dnscheck *k, char *err, size_t errlen)
{
	struct state_domain_info d;

	k->src.conf = k->conf;
	if (k->set == NULL && (k->set = calloc(1, sizeof(*k->set))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (state_domain_get(k->st, k->domain, &d, err, errlen) != 0)
		return -1;
	if (state_tenant_by_id(k->st, d.tenant_id, &k->tenant) <= 0) {
		snprintf(err, errlen, "%s: cannot read tenant %s", state_path(k->st), d.tenant);
		return -1;
	}
	k->from = dnscheck_ips_find(k);
	return 0;
}

int
dnscheck_run(struct dnscheck *k, char *err, size_t errlen)
{
	if (k->src.missing[0] != '\0')
		dnscheck_say(k, DNSCHECK_WRONG, "pool", "%s (the tenant's or a connector's) is not in the "
		    "configuration: its addresses are not checked", k->src.missing);
	dnscheck_spf(k, "spf", k->domain);
	if (dnscheck_dkim(k, err, errlen) < 0)
		return -1;
	dnscheck_dmarc(k);
	dnscheck_bounce(k);
	return 0;
}

void
dnscheck_end(struct dnscheck *k)
{
	free(k->set);
	k->set = NULL;
}
