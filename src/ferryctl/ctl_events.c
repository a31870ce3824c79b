/*
 * ctl_events.c - `ferryctl events list TENANT [KIND [LIMIT]]`: what the
 * feedback loop recorded for a tenant (state/events.h), newest first: its
 * bounces with their category, complaints, auto-replies and reports it
 * could not read. Read straight from the state database (no ferryd).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ferryctl/ctl_state.h"
#include "state/events.h"

const char ctl_events_usage[] =
    "  events list TENANT [KIND [LIMIT]]     the tenant's events, newest first; KIND received|\n"
    "                                        delivered|deferred|bounced|complained|held|... |all\n";

const char *
ctl_text_clean(const char *in, char *out, size_t outsz)
{
	size_t n = 0;

	for (; *in != '\0' && n + 1 < outsz; in++)
		out[n++] = (unsigned char)*in < 0x20 || (unsigned char)*in == 0x7f ? ' ' : *in;
	out[n] = '\0';
	return out;
}

static void
ctl_events_line(void *arg, const struct state_event *e)
{
	char when[64], rcpt[400], detail[1100];

	(void)arg;
	printf("%s\t%s\t%s\t%s\t%s%s\t%s\t%s\t%s\n", ctl_time_text(e->time, when, sizeof(when)), e->kind,
	    e->queue_id[0] ? e->queue_id : "-", e->rcpt[0] ? ctl_text_clean(e->rcpt, rcpt, sizeof(rcpt)) : "-",
	    e->category[0] ? e->category : "-", e->category[0] ? (e->hard ? " (hard)" : " (soft)") : "",
	    e->source[0] ? e->source : "-", e->status[0] ? e->status : "-",
	    ctl_text_clean(e->detail, detail, sizeof(detail)));
}

static int
ctl_events_list(struct ctl *c, struct state *st, const struct ctl_sargs *a)
{
	struct state_tenant t;
	const char *kind = a->narg > 1 && strcmp(a->arg[1], "all") != 0 ? a->arg[1] : "";
	long limit = 50;
	char *end;
	int rc;

	(void)c;
	if (kind[0] != '\0' && event_kind_find(kind, strlen(kind)) == NULL) {
		fprintf(stderr, "ferryctl: unknown event kind '%.40s' (see `ferryctl events -h`)\n", kind);
		return CTL_EXIT_USAGE;
	}
	if (a->narg > 2) {
		limit = strtol(a->arg[2], &end, 10);
		if (*end != '\0' || limit < 1 || limit > 1000000) {
			fprintf(stderr, "ferryctl: LIMIT must be a number from 1 to 1000000\n");
			return CTL_EXIT_USAGE;
		}
	}
	rc = state_tenant_by_name(st, a->arg[0], &t);
	if (rc <= 0)
		return ctl_state_fail(rc < 0 ? "cannot read the state database" : "no such tenant");
	printf("TIME\tKIND\tQUEUE ID\tRECIPIENT\tCATEGORY\tSOURCE\tSTATUS\tDETAIL\n");
	if (state_events_list(st, t.id, kind, limit, ctl_events_line, NULL) < 0)
		return ctl_state_fail("cannot read the events table");
	return CTL_EXIT_OK;
}

static const struct ctl_sub ctl_events_subs[] = {
	{ "list", 1, 3, 0, false, ctl_events_list },
};

int
ctl_events_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "events", ctl_events_usage, ctl_events_subs,
	    sizeof(ctl_events_subs) / sizeof(ctl_events_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
