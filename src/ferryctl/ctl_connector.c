/*
 * ctl_connector.c - `ferryctl connector add|list|del|limit`: networks
 * whose clients send as a tenant without SMTP AUTH (an office's servers,
 * an application's hosts), optionally only for some of its domains and
 * from their own pool.
 * SECURITY: a connector trusts a client by its address alone: the network
 * is validated (netaddr_net_parse) and the most specific one wins.
 */
#include <stdio.h>

#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

const char ctl_connector_usage[] =
    "  connector add TENANT NAME CIDR [--domains a.example,b.example] [--pool POOL]\n"
    "                                        clients in CIDR send as TENANT without AUTH\n"
    "  connector list [TENANT]               connectors, networks, domains, pools, limits\n"
    "  connector del TENANT NAME             remove a connector\n"
    "  connector limit TENANT NAME [--per-minute N] [--per-hour N] [--per-day N] [--rcpts N]\n";

static int
ctl_connector_add(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_connector_add(st, a->arg[0], a->arg[1], a->arg[2], a->domains, a->pool, err,
	    sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("connector %s of tenant %s added: clients in %s send as %s\n", a->arg[1], a->arg[0],
	    a->arg[2], a->arg[0]);
	return CTL_EXIT_OK;
}

static void
ctl_connector_line(void *arg, const struct state_connector_info *k)
{
	char lim[160];

	(void)arg;
	printf("%s\ttenant=%s\tnetwork=%s\tdomains=%s\tpool=%s\t%s\n", k->name, k->tenant,
	    k->network, k->domains[0] ? k->domains : "*", k->pool[0] ? k->pool : "-",
	    ctl_limits_text(&k->limits, lim, sizeof(lim)));
}

static int
ctl_connector_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_connector_list(st, a->narg ? a->arg[0] : NULL, ctl_connector_line, NULL, err,
	    sizeof(err)) != 0)
		return ctl_state_fail(err);
	return CTL_EXIT_OK;
}

static int
ctl_connector_del(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (state_connector_del(st, a->arg[0], a->arg[1], err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("connector %s of tenant %s removed\n", a->arg[1], a->arg[0]);
	return CTL_EXIT_OK;
}

static int
ctl_connector_limit(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char err[1024];

	(void)c;
	if (!a->limits_set) {
		ctl_warn("connector limit: no limit given (--per-minute, --per-hour, --per-day, --rcpts)");
		return CTL_EXIT_USAGE;
	}
	if (state_connector_limit(st, a->arg[0], a->arg[1], &a->limits, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("connector %s of tenant %s: limits changed\n", a->arg[1], a->arg[0]);
	return CTL_EXIT_OK;
}

static const struct ctl_sub ctl_connector_subs[] = {
	{ "add",   3, 3, CTL_O_DOMAINS | CTL_O_POOL, false, ctl_connector_add },
	{ "list",  0, 1, 0, false, ctl_connector_list },
	{ "del",   2, 2, 0, false, ctl_connector_del },
	{ "limit", 2, 2, CTL_O_LIMITS, false, ctl_connector_limit },
};

int
ctl_connector_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "connector", ctl_connector_usage, ctl_connector_subs,
	    sizeof(ctl_connector_subs) / sizeof(ctl_connector_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
