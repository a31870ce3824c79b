/*
 * dnscheck_records.c - the records a tenant publishes for a sender domain:
 * DKIM (RFC 6376; RFC 8463 for Ed25519) from its key files, SPF (RFC 7208)
 * from the addresses of the tenant's pools in ferry.conf (else
 * outbound_source), a DMARC (RFC 7489) starting point, and the bounce
 * domain's MX and SPF. `ferryctl domain dns` prints them as zone file
 * lines, the HTTP API as JSON.
 * SECURITY: reads the private key files to derive their public halves;
 * hands out only public data.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dnscheck/dnscheck.h"
#include "state/state_admin.h"

struct dnscheck_rec_ctx {
	struct state            *st;
	struct dnscheck_sources  spf;     /* the source addresses to authorize in SPF */
	const char              *domain;
	dnscheck_record_fn       fn;
	dnscheck_warn_fn         warn;
	void                    *arg;
	int                      problems;
};

static void
dnscheck_rec_warn(struct dnscheck_rec_ctx *x, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
dnscheck_rec_warn(struct dnscheck_rec_ctx *x, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (x->warn != NULL)
		x->warn(x->arg, msg);
}

static void
dnscheck_rec_dkim(void *arg, const struct state_dkim_info *k)
{
	struct dnscheck_rec_ctx *x = arg;
	char err[512], name[STATE_SELECTOR_MAX + STATE_DOMAIN_MAX + 16], note[512], *p, *txt;
	struct dnscheck_record rec = { "dkim", name, "TXT", NULL, "", k->selector, k->signing };
	char path[4096];

	state_file_path(x->st, k->path, path, sizeof(path));
	if ((p = state_dkim_pubkey_b64(path, err, sizeof(err))) == NULL) {
		dnscheck_rec_warn(x, "selector %s: %s", k->selector, err);
		x->problems++;
		return;
	}
	if (!k->signing) {
		snprintf(note, sizeof(note), "%s no longer signs: keep it published while mail signed with"
		    " it may still be verified (a few days), then `ferryctl domain retire-key %s %s`",
		    k->selector, x->domain, k->selector);
		rec.note = note;
	}
	snprintf(name, sizeof(name), "%s._domainkey.%s", k->selector, x->domain);
	if ((txt = malloc(strlen(p) + 64)) != NULL) {
		sprintf(txt, "v=DKIM1; k=%s; p=%s", k->algo, p);
		rec.value = txt;
		x->fn(x->arg, &rec);
	}
	free(txt);
	free(p);
}

/* "v=spf1 ip4:A ip6:B -all" into buf; false when there is no address. */
static bool
dnscheck_spf_text(const struct dnscheck_sources *s, char *buf, size_t size)
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
dnscheck_rec_spf(struct dnscheck_rec_ctx *x, const char *kind, const char *name, const char *what)
{
	char spf[DNSCHECK_SOURCES_MAX * 48 + 16], note[STATE_DOMAIN_MAX + 256];
	struct dnscheck_record rec = { kind, name, "TXT", spf, note, "", false };

	if (!dnscheck_spf_text(&x->spf, spf, sizeof(spf))) {
		snprintf(note, sizeof(note), "SPF for %s: no pool addresses and no outbound_source in the"
		    " configuration: authorize the addresses this host sends from (v=spf1 ip4:ADDRESS"
		    " -all)", name);
		rec.value = NULL;
	} else
		snprintf(note, sizeof(note), "SPF (RFC 7208) for %s: %s", name, what);
	x->fn(x->arg, &rec);
}

/* Fill the sources from the tenant's pool and its connectors' pools, else
 * outbound_source; what says which. -1 with err (connectors unreadable). */
static int
dnscheck_rec_sources(struct dnscheck_rec_ctx *x, const struct state_tenant *t, const char **what,
    char *err, size_t errlen)
{
	if (dnscheck_sources_pools(&x->spf, x->st, t->name, t->pool, err, errlen) != 0)
		return -1;
	if (x->spf.missing[0] != '\0')
		dnscheck_rec_warn(x, "warning: pool %s is not in the configuration: its addresses are"
		    " missing from SPF", x->spf.missing);
	*what = "the addresses of the tenant's pools";
	if (x->spf.pools == 0 && x->spf.conf->outbound_source != NULL) {
		dnscheck_sources_add(&x->spf, x->spf.conf->outbound_source);
		*what = "outbound_source (the tenant has no pool)";
	}
	return 0;
}

static void
dnscheck_rec_dmarc(struct dnscheck_rec_ctx *x)
{
	char name[STATE_DOMAIN_MAX + 16], txt[STATE_DOMAIN_MAX + 64];
	struct dnscheck_record rec = { "dmarc", name, "TXT", txt, "DMARC (RFC 7489): start with p=none and"
	    " read the reports; once every source passes, move to p=quarantine, then p=reject", "", false };

	snprintf(name, sizeof(name), "_dmarc.%s", x->domain);
	snprintf(txt, sizeof(txt), "v=DMARC1; p=none; rua=mailto:postmaster@%s", x->domain);
	x->fn(x->arg, &rec);
}

static void
dnscheck_rec_bounce(struct dnscheck_rec_ctx *x, const struct state_tenant *t)
{
	const char *host = x->spf.conf->hostname;
	size_t hl = strlen(host);
	char mx[STATE_DOMAIN_MAX + 16], note[STATE_DOMAIN_MAX + 128];
	struct dnscheck_record rec = { "bounce-mx", t->bounce_domain, "MX", mx, note, "", false };

	if (t->bounce_domain[0] == '\0')
		return;
	snprintf(note, sizeof(note), "bounce domain %s: the return path of the tenant's mail; its MX"
	    " receives the bounces", t->bounce_domain);
	snprintf(mx, sizeof(mx), "10 %s%s", host, hl > 0 && host[hl - 1] == '.' ? "" : ".");
	x->fn(x->arg, &rec);
	dnscheck_rec_spf(x, "bounce-spf", t->bounce_domain, "the envelope sender's domain is checked");
}

int
dnscheck_records(struct state *st, const struct conf *c, const char *domain,
    dnscheck_record_fn fn, dnscheck_warn_fn warn, void *arg, char *err, size_t errlen)
{
	struct dnscheck_rec_ctx *x = calloc(1, sizeof(*x));
	struct state_domain_info dom;
	struct state_tenant t;
	const char *what = "";
	int rc = -1;

	if (x == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	*x = (struct dnscheck_rec_ctx){ st, { .conf = c }, dom.name, fn, warn, arg, 0 };
	if (state_domain_get(st, domain, &dom, err, errlen) != 0)
		goto done;
	if (state_tenant_by_id(st, dom.tenant_id, &t) <= 0) {
		snprintf(err, errlen, "%s: cannot read tenant %s", state_path(st), dom.tenant);
		goto done;
	}
	if (state_dkim_key_list(st, dom.name, dnscheck_rec_dkim, x, err, errlen) != 0 ||
	    dnscheck_rec_sources(x, &t, &what, err, errlen) != 0)
		goto done;
	dnscheck_rec_spf(x, "spf", dom.name, what);
	dnscheck_rec_dmarc(x);
	dnscheck_rec_bounce(x, &t);
	rc = x->problems;
done:
	free(x);
	return rc;
}
