/*
 * ctl_sources.c - the addresses a tenant's mail leaves from: those of its
 * pool and its connectors' pools in ferry.conf, as `domain dns` puts them
 * in SPF (RFC 7208) and `domain check` evaluates SPF for them.
 * SECURITY: reads the configuration and the state; changes nothing.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "ferryctl/ctl_state.h"
#include "state/state_admin.h"

void
ctl_sources_add(struct ctl_sources *s, const char *ip)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->addr[i], ip) == 0)
			return;
	if (s->n < CTL_SOURCES_MAX)
		snprintf(s->addr[s->n++], sizeof(s->addr[0]), "%s", ip);
}

/* A pool's addresses (name "" : none); a pool missing from ferry.conf is
 * noted: mail would leave from the kernel's choice. */
static void
ctl_sources_pool(struct ctl_sources *s, const char *name)
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
		ctl_sources_add(s, p->addrs[i].addr);
}

static void
ctl_sources_connector(void *arg, const struct state_connector_info *ci)
{
	ctl_sources_pool(arg, ci->pool);
}

int
ctl_sources_pools(struct ctl_sources *s, struct state *st, const char *tenant,
    const char *pool, char *err, size_t errlen)
{
	ctl_sources_pool(s, pool);
	return state_connector_list(st, tenant, ctl_sources_connector, s, err, errlen);
}
