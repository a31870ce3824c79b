/*
 * ctl_suppression.c - `ferryctl suppression list|add|del|import|export
 * TENANT`: a tenant's suppression list in the state database
 * (state/suppress.h); import and export are in ctl_suppression_csv.c.
 * SECURITY: run by the administrator; addresses are validated and
 * lowercased before they are stored, causes are one line of text.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ferryctl/ctl_state.h"
#include "ferryctl/ctl_suppression.h"
#include "state/state_admin.h"
#include "state/suppress.h"

const char ctl_suppression_usage[] =
    "  suppression list TENANT [--reason R] [--limit N]\n"
    "                                        the tenant's suppressed recipients, by address\n"
    "  suppression add TENANT ADDR [--reason R] [--expires DURATION] [--cause TEXT]\n"
    "                                        suppress ADDR (reason manual unless given; R is\n"
    "                                        hard-bounce, soft-bounce, complaint, unsubscribe, manual;\n"
    "                                        replaces any entry ADDR has)\n"
    "  suppression del TENANT ADDR           remove ADDR from the list\n"
    "  suppression import TENANT FILE|-      add the rows of a CSV file (address,reason,time,\n"
    "                                        expires,cause; a header line first); bad lines skipped;\n"
    "                                        a live entry is replaced only by a reason as strong\n"
    "  suppression export TENANT [FILE|-]    the list as the same CSV\n";

int
ctl_suppression_tenant(struct state *st, const char *name, long long *id)
{
	struct state_tenant_info t;
	char err[1024];

	if (state_tenant_get(st, name, &t, err, sizeof(err)) != 0) {
		ctl_state_fail(err);
		return -1;
	}
	*id = t.t.id;
	return 0;
}

int
ctl_duration_parse(const char *s, long long *out)
{
	char *end;
	long long v, mul = 1;

	if (s[0] < '0' || s[0] > '9')
		return -1;
	v = strtoll(s, &end, 10);
	if (end[0] != '\0' && end[1] != '\0')
		return -1;
	switch (end[0]) {
	case '\0': case 's': break;
	case 'm': mul = 60; break;
	case 'h': mul = 3600; break;
	case 'd': mul = 86400; break;
	default: return -1;
	}
	if (v <= 0 || v > 36500LL * 86400 / mul)
		return -1;
	*out = v * mul;
	return 0;
}

static void
ctl_suppression_print(const struct suppression *s)
{
	char since[64], until[64];
	time_t now = time(NULL);

	if (s->expires == 0)
		snprintf(until, sizeof(until), "never");
	else
		ctl_time_text((long long)s->expires, until, sizeof(until));
	printf("%s\t%s\tsince %s\texpires %s%s\t%s\n", s->addr, suppress_reason_name(s->reason),
	    ctl_time_text((long long)s->time, since, sizeof(since)), until,
	    s->expires != 0 && s->expires <= now ? " (expired)" : "", s->cause);
}

static int
ctl_suppression_line(void *arg, const struct suppression *s)
{
	(void)arg;
	ctl_suppression_print(s);
	return 0;
}

static int
ctl_suppression_reason_opt(const struct ctl_sargs *a, enum suppress_reason *r)
{
	if (a->reason == NULL || suppress_reason_parse(a->reason, r) == 0)
		return 0;
	ctl_warn("invalid --reason %s: hard-bounce, soft-bounce, complaint, unsubscribe or manual",
	    a->reason);
	return -1;
}

static int
ctl_suppression_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	enum suppress_reason r;
	long long id, n, total;

	(void)c;
	if (ctl_suppression_reason_opt(a, &r) != 0)
		return CTL_EXIT_USAGE;
	if (ctl_suppression_tenant(st, a->arg[0], &id) != 0)
		return CTL_EXIT_ERR;
	n = state_suppression_each(st, id, a->reason ? &r : NULL, a->limit > 0 ? a->limit : 0,
	    ctl_suppression_line, NULL);
	total = state_suppression_count(st, id, a->reason ? &r : NULL);
	if (n < 0 || total < 0) {
		ctl_warn("%s: cannot read the suppression list", state_path(st));
		return CTL_EXIT_ERR;
	}
	fprintf(stderr, "%lld of %lld entries\n", n, total);
	return CTL_EXIT_OK;
}

static int
ctl_suppression_add(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct suppression s = { .reason = SUPPRESS_MANUAL, .time = time(NULL) };
	long long id, secs = 0;
	const char *why;

	(void)c;
	if (ctl_suppression_reason_opt(a, &s.reason) != 0)
		return CTL_EXIT_USAGE;
	if (a->expires != NULL && ctl_duration_parse(a->expires, &secs) != 0) {
		ctl_warn("invalid --expires %s: a duration (30d, 12h, 90m, 3600s)", a->expires);
		return CTL_EXIT_USAGE;
	}
	if ((why = suppress_addr_parse(a->arg[1], s.addr)) != NULL ||
	    (a->cause != NULL && (why = suppress_cause_parse(a->cause, s.cause)) != NULL)) {
		ctl_warn("%s: %s", a->arg[1], why);
		return CTL_EXIT_ERR;
	}
	s.expires = secs > 0 ? s.time + (time_t)secs : 0;
	if (ctl_suppression_tenant(st, a->arg[0], &id) != 0)
		return CTL_EXIT_ERR;
	/* the operator's word replaces whatever is there (state_suppression_set) */
	if (state_suppression_set(st, id, &s) != 0) {
		ctl_warn("%s: cannot add %s", state_path(st), s.addr);
		return CTL_EXIT_ERR;
	}
	if (state_suppression_get(st, id, s.addr, strlen(s.addr), time(NULL), &s) == 1)
		ctl_suppression_print(&s);   /* as stored */
	return CTL_EXIT_OK;
}

static int
ctl_suppression_del(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	char addr[SUPPRESS_ADDR_MAX + 1];
	long long id;
	int rc;

	(void)c;
	if (suppress_addr_parse(a->arg[1], addr) != NULL &&
	    !suppress_addr_norm(a->arg[1], strlen(a->arg[1]), addr)) {
		ctl_warn("%s: not an address", a->arg[1]);
		return CTL_EXIT_ERR;
	}
	if (ctl_suppression_tenant(st, a->arg[0], &id) != 0)
		return CTL_EXIT_ERR;
	if ((rc = state_suppression_del(st, id, addr)) < 0) {
		ctl_warn("%s: cannot remove %s", state_path(st), addr);
		return CTL_EXIT_ERR;
	}
	if (rc == 0) {
		ctl_warn("%s is not on the suppression list of %s", addr, a->arg[0]);
		return CTL_EXIT_ERR;
	}
	printf("%s removed from the suppression list of %s\n", addr, a->arg[0]);
	return CTL_EXIT_OK;
}

void
ctl_suppression_show(struct state *st, long long tenant_id, const char *name)
{
	enum suppress_mode mode = SUPPRESS_MODE_REJECT;
	long long n = state_suppression_count(st, tenant_id, NULL);

	if (state_tenant_suppress_mode(st, tenant_id, &mode) < 0 || n < 0) {
		printf("suppression:   ? (cannot read the list)\n");
		return;
	}
	printf("suppression:   %s (%lld on the list: `ferryctl suppression list %s`)\n",
	    mode == SUPPRESS_MODE_DROP ? "drop (accepted at RCPT, not sent)" : "reject (550 5.7.1 at RCPT)",
	    n, name);
}

static const struct ctl_sub ctl_suppression_subs[] = {
	{ "list",   1, 1, CTL_O_REASON | CTL_O_LIMIT, false, ctl_suppression_list },
	{ "add",    2, 2, CTL_O_REASON | CTL_O_EXPIRES | CTL_O_CAUSE, false, ctl_suppression_add },
	{ "del",    2, 2, 0, false, ctl_suppression_del },
	{ "import", 2, 2, 0, false, ctl_suppression_import },
	{ "export", 1, 2, 0, false, ctl_suppression_export },
};

int
ctl_suppression_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "suppression", ctl_suppression_usage, ctl_suppression_subs,
	    sizeof(ctl_suppression_subs) / sizeof(ctl_suppression_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
