/*
 * ctl_domain_check.c - `ferryctl domain check DOMAIN`: ask the DNS (the
 * configured dns_servers, as ferryd does) whether a tenant's sender domain
 * is set up for this relay (src/dnscheck/: SPF for each source address,
 * evaluated here with libspf2 (ctl_spf.c), DKIM keys, DMARC and its
 * alignment, the tenant's bounce domain). One line per finding, "ok",
 * "missing" or "wrong"; exit 0 only when all are ok.
 * SECURITY: run by the administrator; DNS answers are untrusted and only
 * printed (the state database is opened, never changed).
 */
#include <stdio.h>
#include <stdlib.h>

#include "dnscheck/dnscheck.h"
#include "ferryctl/ctl.h"
#include "ferryctl/ctl_check.h"
#include "state/state_admin.h"

/* A dnscheck_say_fn: "ok|missing|wrong  WHAT: MESSAGE". */
static void
ctl_check_print(void *arg, enum dnscheck_status s, const char *what, const char *msg)
{
	(void)arg;
	printf("%-7s %s: %s\n", dnscheck_status_name(s), what, msg);
}

/* Every check in turn, once the context is set up. */
static int
ctl_check_run(struct dnscheck *k)
{
	char err[1024];

	if (dnscheck_begin(k, err, sizeof(err)) != 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	printf("domain %s, tenant %s, source addresses (%s):", k->domain, k->tenant.name,
	    k->from != NULL ? k->from : "none");
	for (size_t i = 0; i < k->src.n; i++)
		printf(" %s", k->src.addr[i]);
	putchar('\n');
	if (dnscheck_run(k, err, sizeof(err)) != 0) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	return k->bad == 0 ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

int
ctl_domain_check(struct ctl *c, const char *domain)
{
	struct dnscheck k = { 0 };
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
	k.domain = name;
	k.say = ctl_check_print;
	k.spf_eval = ctl_spf_eval;
	if ((k.st = state_open(conf->state_db, err, sizeof(err))) == NULL)
		ctl_warn("%s", err);
	else if ((k.r = dns_resolver_new(conf->dns_servers, (int)conf->dns_timeout * 1000, err,
	    sizeof(err))) == NULL)
		ctl_warn("%s", err);
	else
		rc = ctl_check_run(&k);
	fflush(stdout);
	dns_resolver_free(k.r);
	state_close(k.st);
	dnscheck_end(&k);
	return rc;
}
