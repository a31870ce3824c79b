/*
 * ctl_domain.c - `ferryctl domain add|list|del|rotate-key|retire-key|dns|check`:
 * a tenant's sender domains and their DKIM keys (state_dkimgen.c makes the
 * files); `dns` is in ctl_domain_dns.c, `check` in ctl_domain_check.c.
 * SECURITY: key files are made and removed by state_dkimgen.c (0600, owned
 * by the database's owner); nothing here prints a private key.
 */
#include <stdio.h>

#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

const char ctl_domain_usage[] =
    "  domain add TENANT DOMAIN [--subdomains]\n"
    "                                        a sender domain, with new DKIM keys\n"
    "  domain list [TENANT]                  domains, their tenant and selectors\n"
    "  domain del TENANT DOMAIN              remove a domain and its DKIM keys\n"
    "  domain rotate-key DOMAIN              new signing keys; the old ones stay published\n"
    "  domain retire-key DOMAIN SELECTOR     remove a key that no longer signs\n"
    "  domain dns DOMAIN                     the DNS records to publish (zone file lines)\n"
    "  domain check DOMAIN                   what DNS says: SPF, DKIM, DMARC, bounce MX\n";

static int
ctl_domain_add(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024], name[STATE_DOMAIN_MAX + 1];

	(void)c;
	if (state_domain_add_keys(st, a->arg[0], a->arg[1], a->subdomains, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	state_domain_norm(a->arg[1], name, sizeof(name));
	printf("domain %s added to tenant %s%s\n", name, a->arg[0],
	    a->subdomains ? " (with its subdomains)" : "");
	printf("DKIM selectors: rsa1 (RSA-2048), ed1 (Ed25519), both signing\n");
	printf("publish its records: ferryctl domain dns %s\n", name);
	return CTL_EXIT_OK;
}

static void
ctl_domain_sel(void *arg, const struct state_dkim_info *k)
{
	int *n = arg;

	printf("%s%s%s", (*n)++ ? "," : "", k->selector, k->signing ? "" : "(retiring)");
}

static void
ctl_domain_line(void *arg, const struct state_domain_info *d)
{
	char err[256];
	int n = 0;

	printf("%s\ttenant=%s\tsubdomains=%s\tselectors=", d->name, d->tenant,
	    d->subdomains ? "yes" : "no");
	if (state_dkim_key_list(arg, d->name, ctl_domain_sel, &n, err, sizeof(err)) != 0)
		printf("?");
	printf("\n");
}

static int
ctl_domain_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_domain_list(st, a->narg ? a->arg[0] : NULL, ctl_domain_line, st, err,
	    sizeof(err)) != 0)
		return ctl_state_fail(err);
	return CTL_EXIT_OK;
}

static int
ctl_domain_del(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024], name[STATE_DOMAIN_MAX + 1];

	(void)c;
	if (state_domain_del(st, a->arg[0], a->arg[1], err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	state_domain_norm(a->arg[1], name, sizeof(name));
	state_dkim_files_remove(st, name);
	printf("domain %s removed from tenant %s with its DKIM keys\n", name, a->arg[0]);
	printf("remove its DKIM records from DNS once mail signed with them is delivered\n");
	return CTL_EXIT_OK;
}

static int
ctl_domain_rotate(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024], rsa[STATE_SELECTOR_MAX + 1], ed[STATE_SELECTOR_MAX + 1];

	(void)c;
	if (state_dkim_rotate(st, a->arg[0], rsa, ed, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("new signing selectors %s and %s; the older selectors no longer sign\n", rsa, ed);
	printf("publish the new records now (ferryctl domain dns %s); keep the old ones published"
	    " a few days, then: ferryctl domain retire-key %s SELECTOR\n", a->arg[0], a->arg[0]);
	return CTL_EXIT_OK;
}

static int
ctl_domain_retire(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_dkim_retire(st, a->arg[0], a->arg[1], err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("selector %s of %s removed (key file deleted); remove its DNS record\n", a->arg[1],
	    a->arg[0]);
	return CTL_EXIT_OK;
}

static int
ctl_domain_check_run(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	(void)st;
	return ctl_domain_check(c, a->arg[0]);
}

static const struct ctl_sub ctl_domain_subs[] = {
	{ "add",        2, 2, CTL_O_SUBDOMAINS, false, ctl_domain_add },
	{ "list",       0, 1, 0, false, ctl_domain_list },
	{ "del",        2, 2, 0, false, ctl_domain_del },
	{ "rotate-key", 1, 1, 0, false, ctl_domain_rotate },
	{ "retire-key", 2, 2, 0, false, ctl_domain_retire },
	{ "dns",        1, 1, 0, false, ctl_domain_dns },
	{ "check",      1, 1, 0, true,  ctl_domain_check_run },
};

int
ctl_domain_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "domain", ctl_domain_usage, ctl_domain_subs,
	    sizeof(ctl_domain_subs) / sizeof(ctl_domain_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
