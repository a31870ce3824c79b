/*
 * rep_rules.c - the enforcement rules on a tenant's windows: rates in parts
 * per million, the thresholds (ferry.conf's abuse_* options, a tenant's
 * overrides), and which state a set of totals calls for, with the reason
 * an operator reads in the log and in `ferryctl tenant show`.
 * The rules are pure functions of their inputs, so the unit tests drive
 * every threshold without a clock or a database.
 */
#include <stdio.h>
#include <string.h>

#include "conf/conf.h"
#include "reputation/rep.h"

void
rep_limits_default(struct rep_limits *l)
{
	/* See docs/configuration.md, "Reputation and enforcement", for why. */
	l->window = 86400;
	l->min_volume = 500;
	l->complaint_throttle = 3000;     /* 0.3%: Gmail's and Yahoo's bulk-sender ceiling */
	l->complaint_suspend = 10000;     /* 1% */
	l->hard_throttle = 100000;        /* 10% */
	l->unknown_throttle = 50000;      /* 5% */
	l->spike_factor = 10;
	l->spike_min = 1000;
	l->throttle_rate = 100;
}

void
rep_limits_from_conf(struct rep_limits *l, const struct conf *c)
{
	l->window = c->abuse_window;
	l->min_volume = c->abuse_min_volume;
	l->complaint_throttle = c->abuse_complaint_throttle;
	l->complaint_suspend = c->abuse_complaint_suspend;
	l->hard_throttle = c->abuse_hard_bounce_throttle;
	l->unknown_throttle = c->abuse_unknown_throttle;
	l->spike_factor = c->abuse_spike_factor;
	l->spike_min = c->abuse_spike_min;
	l->throttle_rate = c->abuse_throttle_rate;
}

void
rep_limits_effective(const struct rep_limits *g, const struct rep_override *o,
    struct rep_limits *out)
{
	*out = *g;
	if (o == NULL)
		return;
#define REP_OVER(f) if (o->f >= 0) out->f = o->f
	REP_OVER(min_volume);
	REP_OVER(complaint_throttle);
	REP_OVER(complaint_suspend);
	REP_OVER(hard_throttle);
	REP_OVER(unknown_throttle);
	REP_OVER(spike_factor);
	REP_OVER(spike_min);
	REP_OVER(throttle_rate);
#undef REP_OVER
}

static long long
rep_ppm(long long n, long long of)
{
	return of > 0 ? (long long)((double)n * (double)REP_PPM / (double)of + 0.5) : 0;
}

long long
rep_rate_complaint(const struct rep_totals *t)
{
	return rep_ppm(t->complaint, t->delivered);
}

long long
rep_rate_hard(const struct rep_totals *t)
{
	return rep_ppm(t->hard, t->delivered + t->bounced);
}

long long
rep_rate_unknown(const struct rep_totals *t)
{
	return rep_ppm(t->unknown, t->delivered + t->bounced);
}

long long
rep_rate_spam(const struct rep_totals *t)
{
	return rep_ppm(t->spam, t->scanned);
}

/* "0.52%", "1%", "10.5%": two decimals at most, no trailing zeros. */
const char *
rep_ppm_text(long long ppm, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%.2f", (double)ppm / 10000.0);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
	snprintf(buf + n, size - n, "%%");
	return buf;
}

static const char *
rep_window_text(long long seconds, char *buf, size_t size)
{
	if (seconds % 3600 == 0)
		snprintf(buf, size, "%lldh", seconds / 3600);
	else
		snprintf(buf, size, "%llds", seconds);
	return buf;
}

static const char *const rep_state_names[] = { "none", "throttled", "review", "suspended" };

const char *
rep_state_name(enum rep_state s)
{
	return (unsigned)s < 4 ? rep_state_names[s] : "?";
}

int
rep_state_parse(const char *name, enum rep_state *out)
{
	for (int i = 0; i < 4; i++)
		if (strcmp(name, rep_state_names[i]) == 0) {
			*out = (enum rep_state)i;
			return 0;
		}
	return -1;
}

/* A rate rule: rate (of n out of of) over limit, with its reason. */
static bool
rep_rule_rate(const char *what, long long n, long long of, long long limit,
    const struct rep_limits *l, char *reason, size_t len)
{
	char r[32], lim[32], w[32];
	long long rate = rep_ppm(n, of);

	if (limit <= 0 || rate <= limit)
		return false;
	snprintf(reason, len, "%s rate %s over %s > %s (%lld of %lld)", what, rep_ppm_text(rate, r, sizeof(r)),
	    rep_window_text(l->window, w, sizeof(w)), rep_ppm_text(limit, lim, sizeof(lim)), n, of);
	return true;
}

/* A volume spike against the tenant's own trailing baseline. Without a
 * day of history there is no baseline: the hour is compared with
 * spike_min alone (see docs/configuration.md). */
static bool
rep_rule_spike(const struct rep_limits *l, const struct rep_totals *hour,
    const struct rep_totals *week, long long history, char *reason, size_t len)
{
	long long hours, avg_x10;

	if (l->spike_factor <= 0 || hour->sent <= l->spike_min)
		return false;
	if (history < 86400) {
		snprintf(reason, len, "volume spike: %lld sent in the last hour by a tenant with under"
		    " a day of history (> %lld)", hour->sent, l->spike_min);
		return true;
	}
	hours = (history < 7 * 86400 ? history : 7 * 86400) / 3600 - 1;
	avg_x10 = (week->sent - hour->sent) * 10 / (hours > 0 ? hours : 1);
	if (hour->sent * 10 <= l->spike_factor * avg_x10)
		return false;
	snprintf(reason, len, "volume spike: %lld sent in the last hour > %lld x the 7-day hourly"
	    " average %lld.%lld (and > %lld)", hour->sent, l->spike_factor, avg_x10 / 10, avg_x10 % 10,
	    l->spike_min);
	return true;
}

enum rep_state
rep_rules_apply(const struct rep_limits *l, const struct rep_totals *win,
    const struct rep_totals *hour, const struct rep_totals *week, long long history,
    char *reason, size_t len)
{
	long long volume = win->delivered + win->bounced;
	/* Each rule's minimum is on its own divisor: complaints are a rate of
	 * delivered mail, so 600 bounces and 5 deliveries (ferry's IPs on a
	 * blocklist) do not make one complaint a 20% rate "over 605". */
	bool enough_delivered = win->delivered > 0 && win->delivered >= l->min_volume;
	bool enough = volume > 0 && volume >= l->min_volume;

	reason[0] = '\0';
	if (enough_delivered && rep_rule_rate("complaint", win->complaint, win->delivered,
	    l->complaint_suspend, l, reason, len))
		return REP_SUSPENDED;
	if (rep_rule_spike(l, hour, week, history, reason, len))
		return REP_REVIEW;
	if (enough_delivered && rep_rule_rate("complaint", win->complaint, win->delivered,
	    l->complaint_throttle, l, reason, len))
		return REP_THROTTLED;
	if (enough && (rep_rule_rate("hard-bounce", win->hard, volume, l->hard_throttle, l, reason, len) ||
	    rep_rule_rate("unknown-recipient", win->unknown, volume, l->unknown_throttle, l,
	    reason, len)))
		return REP_THROTTLED;
	return REP_NONE;
}
