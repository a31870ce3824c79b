/*
 * ctl_tenant_show.c - `ferryctl tenant show NAME`: a tenant's settings, its
 * limits beside the current usage (the counters ferryd persists every
 * second: at most a second old), and what it has: accounts, API key
 * prefixes, domains with their DKIM selectors, connectors.
 * SECURITY: prints no secret (keys by prefix only).
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferryctl/ctl_state.h"
#include "state/counters.h"
#include "state/state_admin.h"

struct ctl_show {
	struct state *st;
	int           n;        /* rows printed in the current section */
};

static void
ctl_show_usage(const struct ctl *c, const struct state_tenant_info *t)
{
	static const char *const names[] = { "minute", "hour", "day" };
	static const int periods[] = { 60, 3600, 86400 };
	const long long lim[] = { t->t.limits.per_minute, t->t.limits.per_hour, t->t.limits.per_day };
	char key[COUNTER_KEY_MAX];
	time_t now = time(NULL);

	snprintf(key, sizeof(key), "t:%lld", t->t.id);
	printf("usage:         ");
	for (int i = 0; i < 3; i++) {
		long long used = counters_db_read(c->state, key, periods[i], now);
		if (lim[i] > 0)
			printf("%s%s %lld/%lld", i ? "  " : "", names[i], used, lim[i]);
		else
			printf("%s%s %lld/none", i ? "  " : "", names[i], used);
	}
	printf("\nrcpts/message: ");
	if (t->t.limits.rcpts > 0)
		printf("%lld\n", t->t.limits.rcpts);
	else
		printf("none\n");
}

static void
ctl_show_account(void *arg, const struct state_account *a)
{
	struct ctl_show *s = arg;
	char lim[160];

	printf("  account %s  %s\n", a->name, ctl_limits_text(&a->limits, lim, sizeof(lim)));
	s->n++;
}

static void
ctl_show_key(void *arg, const struct state_key_info *k)
{
	struct ctl_show *s = arg;
	char when[64];

	printf("  key %s  %s  created %s%s%s\n", k->prefix, k->revoked ? "revoked" : "active",
	    ctl_time_text(k->created, when, sizeof(when)), k->label[0] ? "  " : "", k->label);
	s->n++;
}

static void
ctl_show_selector(void *arg, const struct state_dkim_info *k)
{
	(void)arg;
	printf(" %s(%s%s)", k->selector, k->algo, k->signing ? ", signing" : "");
}

static void
ctl_show_domain(void *arg, const struct state_domain_info *d)
{
	struct ctl_show *s = arg;
	char err[256];

	printf("  domain %s%s  selectors:", d->name, d->subdomains ? " (and subdomains)" : "");
	if (state_dkim_key_list(s->st, d->name, ctl_show_selector, NULL, err, sizeof(err)) != 0)
		printf(" ? (%s)", err);
	printf("\n");
	s->n++;
}

static void
ctl_show_connector(void *arg, const struct state_connector_info *c)
{
	struct ctl_show *s = arg;
	char lim[160];

	printf("  connector %s  %s  domains=%s  pool=%s  %s\n", c->name, c->network,
	    c->domains[0] ? c->domains : "(all)", c->pool[0] ? c->pool : "(tenant's)",
	    ctl_limits_text(&c->limits, lim, sizeof(lim)));
	s->n++;
}

int
ctl_tenant_show(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct ctl_show s = { st, 0 };
	struct state_tenant_info t;
	char err[1024], when[64];
	const char *name = a->arg[0];

	if (state_tenant_get(st, name, &t, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	printf("tenant:        %s (id %lld)\n", t.t.name, t.t.id);
	printf("status:        %s%s%s\n", t.t.suspended ? "suspended" : "active",
	    t.suspend_reason[0] ? ": " : "", t.suspend_reason);
	printf("pool:          %s\n", t.t.pool[0] ? t.t.pool : "(none: outbound_source or routes)");
	printf("bounce domain: %s\n", t.t.bounce_domain[0] ? t.t.bounce_domain : "(none)");
	printf("weight:        %lld (messages at each turn of a busy destination)\n", t.t.weight);
	{
		enum state_spam_action sa;
		if (state_tenant_spam_action(st, t.t.id, &sa) >= 0)
			printf("spam action:   %s (a message a content filter refuses as spam)\n",
			    state_spam_action_name(sa));
	}
	printf("created:       %s\n", ctl_time_text(t.created, when, sizeof(when)));
	ctl_show_usage(c, &t);
	if (state_account_list(st, name, ctl_show_account, &s, err, sizeof(err)) != 0 ||
	    state_key_list(st, name, ctl_show_key, &s, err, sizeof(err)) != 0 ||
	    state_domain_list(st, name, ctl_show_domain, &s, err, sizeof(err)) != 0 ||
	    state_connector_list(st, name, ctl_show_connector, &s, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (s.n == 0)
		printf("  (no accounts, keys, domains or connectors yet)\n");
	return CTL_EXIT_OK;
}
