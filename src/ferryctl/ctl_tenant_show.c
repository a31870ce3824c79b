/*
 * ctl_tenant_show.c - `ferryctl tenant show NAME`: a tenant's settings, its
 * limits beside the current usage (the counters ferryd persists every
 * second: at most a second old), its reputation windows (1 h, 24 h, 7 d:
 * what ferryd wrote at most a second ago) with their rates and the
 * enforcement state, and what it has: accounts, API key prefixes, domains
 * with their DKIM selectors, connectors.
 * SECURITY: prints no secret (keys by prefix only).
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ferryctl/ctl_state.h"
#include "reputation/rep.h"
#include "state/counters_open.h"
#include "state/state_admin.h"
#include "state/unsub.h"

struct ctl_show {
	struct state *st;
	int           n;        /* rows printed in the current section */
};

static void
ctl_show_usage(struct ctl *c, const struct state_tenant_info *t)
{
	const struct conf *k = ctl_conf_get(c);
	static const char *const names[] = { "minute", "hour", "day" };
	static const int periods[] = { 60, 3600, 86400 };
	const long long lim[] = { t->t.limits.per_minute, t->t.limits.per_hour, t->t.limits.per_day };
	char key[COUNTER_KEY_MAX];
	time_t now = time(NULL);

	snprintf(key, sizeof(key), "t:%lld", t->t.id);
	printf("usage:         ");
	for (int i = 0; i < 3; i++) {
		long long used = k != NULL ? counters_usage_read(k, key, periods[i], now) :
		    counters_db_read(c->state, key, periods[i], now);
		char u[32];
		if (used >= 0)
			snprintf(u, sizeof(u), "%lld", used);
		else
			snprintf(u, sizeof(u), "?");     /* the shared counters are unreachable */
		if (lim[i] > 0)
			printf("%s%s %s/%lld", i ? "  " : "", names[i], u, lim[i]);
		else
			printf("%s%s %s/none", i ? "  " : "", names[i], u);
	}
	printf("\nrcpts/message: ");
	if (t->t.limits.rcpts > 0)
		printf("%lld\n", t->t.limits.rcpts);
	else
		printf("none\n");
}

#define CTL_REP_WINDOWS 3

static void
ctl_rep_row(const char *name, const struct rep_totals *w, size_t off)
{
	printf("  %-18s", name);
	for (int i = 0; i < CTL_REP_WINDOWS; i++)
		printf(" %10lld", *(const long long *)((const char *)&w[i] + off));
	printf("\n");
}

static void
ctl_rep_rate_row(const char *name, const struct rep_totals *w,
    long long (*rate)(const struct rep_totals *))
{
	char r[32];

	printf("  %-18s", name);
	for (int i = 0; i < CTL_REP_WINDOWS; i++)
		printf(" %10s", rep_ppm_text(rate(&w[i]), r, sizeof(r)));
	printf("\n");
}

/* The windows as a small table, rates in %, the 7 days' bounce categories. */
static int
ctl_show_windows(const struct ctl *c, long long id, time_t now)
{
	static const int secs[CTL_REP_WINDOWS] = { 3600, 86400, 7 * 86400 };
	struct rep_totals w[CTL_REP_WINDOWS];

	for (int i = 0; i < CTL_REP_WINDOWS; i++)
		if (rep_totals_read(c->state, id, secs[i], 0, now, &w[i]) != 0)
			return -1;
	printf("reputation:%19s %10s %10s\n", "1h", "24h", "7d");
	ctl_rep_row("sent", w, offsetof(struct rep_totals, sent));
	ctl_rep_row("delivered", w, offsetof(struct rep_totals, delivered));
	ctl_rep_row("deferred", w, offsetof(struct rep_totals, deferred));
	ctl_rep_row("bounced", w, offsetof(struct rep_totals, bounced));
	ctl_rep_row("  hard", w, offsetof(struct rep_totals, hard));
	ctl_rep_row("  unknown-rcpt", w, offsetof(struct rep_totals, unknown));
	ctl_rep_row("complaints", w, offsetof(struct rep_totals, complaint));
	ctl_rep_row("scanned", w, offsetof(struct rep_totals, scanned));
	ctl_rep_row("  spam", w, offsetof(struct rep_totals, spam));
	ctl_rep_rate_row("complaint rate", w, rep_rate_complaint);
	ctl_rep_rate_row("hard-bounce rate", w, rep_rate_hard);
	ctl_rep_rate_row("unknown-rcpt rate", w, rep_rate_unknown);
	ctl_rep_rate_row("spam rate", w, rep_rate_spam);
	printf("bounce categories (7d):");
	for (size_t i = 0; i < w[2].ncats && i < 5; i++)
		printf("%s %s %lld", i ? "," : "", w[2].cats[i].name, w[2].cats[i].n);
	printf("%s\n", w[2].ncats == 0 ? " none" : "");
	return 0;
}

/* The thresholds that apply, a star on the tenant's own. */
static void
ctl_show_thresholds(struct ctl *c, const struct rep_enforce *e)
{
	const struct conf *k = ctl_conf_get(c);
	const struct rep_override *o = &e->over;
	struct rep_limits g, l;
	char a[32], b[32], h[32], u[32];

	if (k != NULL)
		rep_limits_from_conf(&g, k);
	else
		rep_limits_default(&g);
	rep_limits_effective(&g, o, &l);
#define CTL_OWN(f) (o->f >= 0 ? "*" : "")
	/* each rule's minimum volume is on its own divisor (rep_rules_apply) */
	printf("thresholds:    over %lld%s, from %lld%s delivered: complaint throttle %s%s,"
	    " suspend %s%s; from %lld%s delivered+bounced: hard-bounce throttle %s%s;"
	    " unknown-rcpt throttle %s%s\n",
	    l.window % 3600 == 0 ? l.window / 3600 : l.window, l.window % 3600 == 0 ? "h" : "s",
	    l.min_volume, CTL_OWN(min_volume),
	    rep_ppm_text(l.complaint_throttle, a, sizeof(a)), CTL_OWN(complaint_throttle),
	    rep_ppm_text(l.complaint_suspend, b, sizeof(b)), CTL_OWN(complaint_suspend),
	    l.min_volume, CTL_OWN(min_volume),
	    rep_ppm_text(l.hard_throttle, h, sizeof(h)), CTL_OWN(hard_throttle),
	    rep_ppm_text(l.unknown_throttle, u, sizeof(u)), CTL_OWN(unknown_throttle));
	printf("               review on a spike: last hour > %lld%s x the 7-day hourly average and"
	    " > %lld%s; throttle rate %lld recipients/h%s  (* the tenant's own)\n", l.spike_factor,
	    CTL_OWN(spike_factor), l.spike_min, CTL_OWN(spike_min), l.throttle_rate,
	    CTL_OWN(throttle_rate));
#undef CTL_OWN
}

static int
ctl_show_reputation(struct ctl *c, struct state *st, long long id)
{
	struct rep_enforce e;
	char when[64];
	time_t now = time(NULL);

	if (rep_enforce_read(st, id, &e) != 1 || ctl_show_windows(c, id, now) != 0)
		return -1;
	if (e.state != REP_NONE)
		printf("enforcement:   %s since %s: %s\n", rep_state_name(e.state),
		    ctl_time_text(e.time, when, sizeof(when)), e.reason);
	else if (e.resumed != 0)
		printf("enforcement:   none (resumed %s)\n", ctl_time_text(e.resumed, when, sizeof(when)));
	else
		printf("enforcement:   none\n");
	ctl_show_thresholds(c, &e);
	return 0;
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
	{
		bool on = false;
		if (state_tenant_unsubscribe(st, t.t.id, &on) >= 0)
			printf("unsubscribe:   %s (one-click List-Unsubscribe headers on its mail)\n", on ? "on" : "off");
	}
	printf("created:       %s\n", ctl_time_text(t.created, when, sizeof(when)));
	ctl_suppression_show(st, t.t.id, t.t.name);
	ctl_show_usage(c, &t);
	if (ctl_show_reputation(c, st, t.t.id) != 0)
		return ctl_state_fail("cannot read the reputation windows (database error)");
	if (state_account_list(st, name, ctl_show_account, &s, err, sizeof(err)) != 0 ||
	    state_key_list(st, name, ctl_show_key, &s, err, sizeof(err)) != 0 ||
	    state_domain_list(st, name, ctl_show_domain, &s, err, sizeof(err)) != 0 ||
	    state_connector_list(st, name, ctl_show_connector, &s, err, sizeof(err)) != 0)
		return ctl_state_fail(err);
	if (s.n == 0)
		printf("  (no accounts, keys, domains or connectors yet)\n");
	return CTL_EXIT_OK;
}
