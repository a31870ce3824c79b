/*
 * dnscheck_sources.c - the addresses a tenant's mail leaves from: those of its
 * pool and its connectors' pools in ferry.conf, as the records to publish put
 * them in SPF (RFC 7208) and the check looks SPF up for them.
 * SECURITY: reads the configuration and the state; changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "dnscheck/dnscheck.h"
#include "state/state_admin.h"

void
dnscheck_sources_add(struct dnscheck_sources *s, const char *ip)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->addr[i], ip) == 0)
			return;
	if (s->n < DNSCHECK_SOURCES_MAX)
		snprintf(s->addr[s->n++], sizeof(s->addr[0]), "%s", ip);
}

/* A pool's addresses (name "" : none); a pool missing from ferry.conf is
 * noted: mail would leave from the kernel's choice. */
static void
dnscheck_sources_pool(struct dnscheck_sources *s, const char *name)
{
	const struct conf_pool *p;

	if (name[0] == '\0')
		return;
	s->pools++;
	if ((p = conf_pool_find(s->conf, name)) == NULL) {
		snprintf(s->missing, sizeof(s->missing), "%s", name);
		return;
	}
	for (size_t i = 0; i < p->naddrs; i++)
		dnscheck_sources_add(s, p->addrs[i].addr);
}

static void
dnscheck_sources_connector(void *arg, const struct state_connector_info *ci)
{
	dnscheck_sources_pool(arg, ci->pool);
}

int
dnscheck_sources_pools(struct dnscheck_sources *s, struct state *st, const char *tenant,
    const char *pool, char *err, size_t errlen)
{
	dnscheck_sources_pool(s, pool);
	return state_connector_list(st, tenant, dnscheck_sources_connector, s, err, errlen);
}
