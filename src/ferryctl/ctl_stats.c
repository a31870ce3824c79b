/*
 * ctl_stats.c - `ferryctl stats [TENANT] [--by ...] [--since ...] [--until
 * ...] [--bounces] [--json]`: the delivery statistics ferryd gathers
 * (src/analytics/), read straight from the state database, as a table or
 * as the JSON of GET /v1/stats. ferryd writes them every few seconds, so
 * the last seconds may not show yet.
 * SECURITY: run by the administrator; replies shown come from remote
 * peers and are cleaned of control octets before they reach a terminal.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "analytics/analytics_json.h"
#include "analytics/analytics_query.h"
#include "db/db.h"
#include "ferryctl/ctl.h"
#include "state/state.h"

const char ctl_stats_usage[] =
    "  stats [TENANT] [--by hour|domain|ip|category] [--since WHEN] [--until WHEN] [--limit N]\n"
    "        [--bounces] [--json]        delivery statistics (all tenants without TENANT): sent,\n"
    "                                        delivered, deferred, bounced, expired, complaints,\n"
    "                                        suppressed; WHEN 24h, 7d, 2026-12-01 (default: 24h ago);\n"
    "                                        --bounces: the failing domains and bounce categories\n";

struct ctl_stats_opts {
	const char            *tenant;
	struct analytics_query q;
	bool                   bounces, json;
};

/* A remote peer's text for a column, "-" when empty. */
static const char *
ctl_stats_clean(const char *in, char *out, size_t outsz)
{
	return in[0] != '\0' ? ctl_text_clean(in, out, outsz) : "-";
}

static void
ctl_stats_row(void *arg, const struct analytics_row *r)
{
	const struct ctl_stats_opts *o = arg;
	char key[ANALYTICS_DOMAIN_MAX + 1], sample[ANALYTICS_SAMPLE_MAX + 1];

	if (o->q.by == ANALYTICS_BY_CATEGORY) {
		printf("%s\t%lld\t%s\t%s\n", ctl_stats_clean(r->key, key, sizeof(key)), r->count[AN_BOUNCED],
		    r->sample_status[0] ? r->sample_status : "-",
		    ctl_stats_clean(r->sample_reply, sample, sizeof(sample)));
		return;
	}
	printf("%s", ctl_stats_clean(r->key, key, sizeof(key)));
	for (int i = 0; i < AN_NCOUNTERS; i++)
		printf("\t%lld", r->count[i]);
	printf("\n");
}

static void
ctl_stats_insight(void *arg, const struct analytics_insight *in)
{
	bool domain = *(const bool *)arg;
	char key[ANALYTICS_DOMAIN_MAX + 1], sample[ANALYTICS_SAMPLE_MAX + 1];

	printf("%s\t%lld\t%lld\t%.1f%%\t%.1f%%\t", ctl_stats_clean(in->key, key, sizeof(key)),
	    in->bounced, in->outcomes, in->rate * 100, in->share * 100);
	if (domain)           /* the category of the domain's sample */
		printf("%s\t", in->category[0] ? in->category : "-");
	printf("%s\t%s\n", in->sample_status[0] ? in->sample_status : "-",
	    ctl_stats_clean(in->sample_reply, sample, sizeof(sample)));
}

static int
ctl_stats_table(struct state *st, const struct ctl_stats_opts *o)
{
	static const char *const head[] = { "HOUR", "DOMAIN", "SOURCE IP", "CATEGORY" };
	bool domain = true;

	if (o->bounces) {
		printf("DOMAIN\tBOUNCED\tOUTCOMES\tRATE\tSHARE\tCATEGORY\tSTATUS\tSAMPLE REPLY\n");
		if (analytics_bounce_domains(st, &o->q, ctl_stats_insight, &domain) < 0)
			return -1;
		domain = false;
		printf("\nCATEGORY\tBOUNCED\tOUTCOMES\tRATE\tSHARE\tSTATUS\tSAMPLE REPLY\n");
		return analytics_bounce_categories(st, &o->q, ctl_stats_insight, &domain) < 0 ? -1 : 0;
	}
	if (o->q.by == ANALYTICS_BY_CATEGORY)
		printf("CATEGORY\tBOUNCED\tSTATUS\tSAMPLE REPLY\n");
	else
		printf("%s\tSENT\tDELIVERED\tDEFERRED\tBOUNCED\tEXPIRED\tCOMPLAINED\tSUPPRESSED\n", head[o->q.by]);
	return analytics_query_run(st, &o->q, ctl_stats_row, (void *)o) < 0 ? -1 : 0;
}

static int
ctl_stats_json(struct state *st, const struct ctl_stats_opts *o)
{
	json_t *j = o->bounces ? analytics_bounces_json(st, &o->q) : analytics_stats_json(st, &o->q);
	char *text;

	if (j == NULL)
		return -1;
	text = json_dumps(j, JSON_INDENT(2));
	json_decref(j);
	if (text == NULL)
		return -1;
	printf("%s\n", text);
	free(text);
	return 0;
}

static int
ctl_stats_opt(struct ctl_stats_opts *o, int ch, const char *val, time_t now)
{
	char *end;

	switch (ch) {
	case 'b':
		if (analytics_by_parse(val, &o->q.by) == 0)
			return 0;
		ctl_warn("invalid --by %s: hour, domain, ip or category", val);
		return -1;
	case 's': case 'u':
		if (analytics_time_parse(val, now, ch == 's' ? &o->q.since : &o->q.until) == 0)
			return 0;
		ctl_warn("invalid time %s: 24h, 7d, 30m, 2026-12-01, 2026-12-01T10:00:00Z or Unix seconds", val);
		return -1;
	case 'l':
		errno = 0;
		o->q.limit = strtol(val, &end, 10);
		if (errno == 0 && *end == '\0' && o->q.limit >= 1 && o->q.limit <= ANALYTICS_ROWS_MAX)
			return 0;
		ctl_warn("invalid --limit %s: 1 to %d", val, ANALYTICS_ROWS_MAX);
		return -1;
	case 'B': o->bounces = true; return 0;
	case 'j': o->json = true; return 0;
	default:  return -1;
	}
}

/* 0 parsed, 1 help printed, else an exit code. */
static int
ctl_stats_parse(int argc, char **argv, struct ctl_stats_opts *o)
{
	static const struct option longopts[] = {
		{ "by", required_argument, NULL, 'b' }, { "since", required_argument, NULL, 's' },
		{ "until", required_argument, NULL, 'u' }, { "limit", required_argument, NULL, 'l' },
		{ "bounces", no_argument, NULL, 'B' }, { "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' }, { NULL, 0, NULL, 0 },
	};
	time_t now = time(NULL);
	int ch;

	o->q.since = now - 86400;
	optind = 0;
	while ((ch = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
		if (ch == 'h') {
			fputs(ctl_stats_usage, stdout);
			return 1;
		}
		if (ch == ':' || ch == '?') {
			ctl_opt_warn(ch, argv);
			fprintf(stderr, "usage:\n%s", ctl_stats_usage);
			return CTL_EXIT_USAGE;
		}
		if (ctl_stats_opt(o, ch, optarg, now) != 0)
			return CTL_EXIT_USAGE;
	}
	if (argc - optind > 1) {
		ctl_warn("stats: at most one TENANT");
		fprintf(stderr, "usage:\n%s", ctl_stats_usage);
		return CTL_EXIT_USAGE;
	}
	o->tenant = optind < argc ? argv[optind] : NULL;
	return 0;
}

int
ctl_stats_main(struct ctl *c, int argc, char **argv)
{
	struct ctl_stats_opts o = { .q = { .by = ANALYTICS_BY_HOUR } };
	struct state_tenant t;
	struct state *st;
	struct stat sb;
	char err[1024];
	int rc;

	if ((rc = ctl_stats_parse(argc, argv, &o)) != 0)
		return rc == 1 ? CTL_EXIT_OK : rc;
	if (ctl_state_path(c) < 0)
		return CTL_EXIT_ERR;
	/* statistics never create a database (a PostgreSQL one is migrated, never created) */
	if (!db_is_pg_uri(c->state) && stat(c->state, &sb) != 0) {
		ctl_warn("%s: %s", c->state, strerror(errno));
		return CTL_EXIT_ERR;
	}
	if ((st = state_open(c->state, err, sizeof(err))) == NULL) {
		ctl_warn("%s", err);
		return CTL_EXIT_ERR;
	}
	rc = CTL_EXIT_OK;
	if (o.tenant != NULL) {
		int found = state_tenant_by_name(st, o.tenant, &t);
		if (found <= 0) {
			ctl_warn("%s", found < 0 ? "cannot read the state database" : "no such tenant");
			state_close(st);
			return CTL_EXIT_ERR;
		}
		o.q.tenant_id = t.id;
	}
	if ((o.json ? ctl_stats_json(st, &o) : ctl_stats_table(st, &o)) != 0) {
		ctl_warn("cannot read the statistics (database error)");
		rc = CTL_EXIT_ERR;
	}
	state_close(st);
	if (fflush(stdout) != 0 && rc == CTL_EXIT_OK)
		rc = CTL_EXIT_ERR;
	return rc;
}
