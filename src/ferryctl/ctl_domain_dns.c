/*
 * ctl_domain_dns.c - `ferryctl domain dns DOMAIN`: the records a tenant
 * publishes for a sender domain, as zone file lines (one record a line,
 * comments start with ';', so scripts can load them): DKIM (RFC 6376; RFC
 * 8463 for Ed25519), SPF (RFC 7208) from the addresses of the tenant's pools
 * in ferry.conf, a DMARC (RFC 7489) starting point, and the bounce domain's
 * MX and SPF.
 * SECURITY: reads the private key files to derive their public halves;
 * prints only public data.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

#define CTL_TXT_CHUNK     255     /* octets in one character-string (RFC 1035 3.3) */

struct ctl_dns {
	struct ctl_sources spf;     /* the source addresses to authorize in SPF */
	const char        *domain;
	int                err;         /* a key that could not be read */
};

/* name IN TXT "..." "..." with text cut into 255-octet strings. */
static void
ctl_dns_txt(const char *name, const char *text)
{
	size_t len = strlen(text);

	printf("%s. IN TXT", name);
	for (size_t off = 0; off < len || off == 0; off += CTL_TXT_CHUNK) {
		size_t n = len - off < CTL_TXT_CHUNK ? len - off : CTL_TXT_CHUNK;
		printf(" \"%.*s\"", (int)n, text + off);
		if (len == 0)
			break;
	}
	printf("\n");
}

static void
ctl_dns_dkim(void *arg, const struct state_dkim_info *k)
{
	struct ctl_dns *d = arg;
	char err[512], name[STATE_SELECTOR_MAX + STATE_DOMAIN_MAX + 16], *p, *txt;

	if ((p = state_dkim_pubkey_b64(k->path, err, sizeof(err))) == NULL) {
		ctl_warn("selector %s: %s", k->selector, err);
		d->err = 1;
		return;
	}
	if (!k->signing)
		printf("; %s no longer signs: keep it published while mail signed with it may still be"
		    " verified (a few days), then `ferryctl domain retire-key %s %s`\n", k->selector,
		    d->domain, k->selector);
	snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, d->domain);
	txt = malloc(strlen(p) + 64);
	if (txt != NULL) {
		sprintf(txt, "v=DKIM1; k=%s; p=%s", k->algo, p);
		ctl_dns_txt(name, txt);
	}
	free(txt);
	free(p);
}

/* "v=spf1 ip4:A ip6:B -all" into buf; false when there is no address. */
static bool
ctl_dns_spf_text(const struct ctl_sources *s, char *buf, size_t size)
{
	size_t used = (size_t)snprintf(buf, size, "v=spf1");

	for (size_t i = 0; i < s->n && used < size; i++)
		used += (size_t)snprintf(buf + used, size - used, " %s:%s",
		    strchr(s->addr[i], ':') != NULL ? "ip6" : "ip4", s->addr[i]);
	if (used < size)
		snprintf(buf + used, size - used, " -all");
	return s->n > 0;
}

static void
ctl_dns_spf_print(const struct ctl_sources *s, const char *name, const char *what)
{
	char spf[CTL_SOURCES_MAX * 48 + 16];

	if (!ctl_dns_spf_text(s, spf, sizeof(spf))) {
		printf("; SPF for %s: no pool addresses and no outbound_source in the configuration:"
		    " authorize the addresses this host sends from (v=spf1 ip4:ADDRESS -all)\n", name);
		return;
	}
	printf("; SPF (RFC 7208) for %s: %s\n", name, what);
	ctl_dns_txt(name, spf);
}

/* Fill s from the tenant's pool and its connectors' pools, else outbound_source. */
static int
ctl_dns_spf_collect(struct state *st, const struct state_tenant_info *t, struct ctl_sources *s,
    const char **what)
{
	char err[1024];

	if (ctl_sources_pools(s, st, t->t.name, t->t.pool, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (s->missing[0] != '\0')
		ctl_warn("warning: pool %s is not in the configuration: its addresses are missing from"
		    " SPF", s->missing);
	*what = "the addresses of the tenant's pools";
	if (s->pools == 0 && s->conf->outbound_source != NULL) {
		ctl_sources_add(s, s->conf->outbound_source);
		*what = "outbound_source (the tenant has no pool)";
	}
	return 0;
}

static void
ctl_dns_bounce(const struct ctl_dns *d, const struct state_tenant_info *t)
{
	const char *host = d->spf.conf->hostname;
	size_t hl = strlen(host);

	if (t->t.bounce_domain[0] == '\0')
		return;
	printf("; bounce domain %s: the return path of the tenant's mail; its MX receives the"
	    " bounces\n", t->t.bounce_domain);
	printf("%s. IN MX 10 %s%s\n", t->t.bounce_domain, host,
	    hl > 0 && host[hl - 1] == '.' ? "" : ".");
	ctl_dns_spf_print(&d->spf, t->t.bounce_domain, "the envelope sender's domain is checked");
}

static void
ctl_dns_dmarc(const char *domain)
{
	char name[STATE_DOMAIN_MAX + 16], txt[STATE_DOMAIN_MAX + 64];

	printf("; DMARC (RFC 7489): start with p=none and read the reports; once every source"
	    " passes, move to p=quarantine, then p=reject\n");
	snprintf(name, sizeof(name), "_dmarc.%s", domain);
	snprintf(txt, sizeof(txt), "v=DMARC1; p=none; rua=mailto:postmaster@%s", domain);
	ctl_dns_txt(name, txt);
}

int
ctl_domain_dns(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct state_domain_info dom;
	struct state_tenant_info t;
	struct ctl_dns d = { .err = 0 };
	const char *what = "";
	char err[1024];
	const struct conf *k;

	if (state_domain_get(st, a->arg[0], &dom, err, sizeof(err)) != 0 ||
	    state_tenant_get(st, dom.tenant, &t, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if ((k = ctl_conf_get(c)) == NULL)
		return CTL_EXIT_ERR;
	d.spf.conf = k;
	d.domain = dom.name;
	printf("; DNS records for %s (tenant %s), by ferryctl domain dns\n", dom.name, t.t.name);
	printf("; DKIM (RFC 6376; Ed25519: RFC 8463)\n");
	if (state_dkim_key_list(st, dom.name, ctl_dns_dkim, &d, err, sizeof(err)) != 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	if (ctl_dns_spf_collect(st, &t, &d.spf, &what) != 0)
		return CTL_EXIT_ERR;
	ctl_dns_spf_print(&d.spf, dom.name, what);
	ctl_dns_dmarc(dom.name);
	ctl_dns_bounce(&d, &t);
	return d.err ? CTL_EXIT_ERR : CTL_EXIT_OK;
}
