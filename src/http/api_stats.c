/*
 * api_stats.c - GET /v1/stats?by=hour|domain|ip|category&since=&until=&limit=
 * and GET /v1/stats/bounces?since=&until=&limit= (docs/api.md, "Stats"):
 * the delivery statistics of src/analytics/ for the tenant acted for (the
 * admin without ?tenant=: every tenant). since/until: RFC 3339 / a date,
 * "24h", "7d", or Unix seconds; since defaults to 24 hours ago.
 * SECURITY: scoped to r->tenant_id; parameters are parsed here and bound
 * by analytics_query.c.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "analytics/analytics_json.h"
#include "analytics/analytics_query.h"
#include "http/api_analytics.h"

/* The query of r's parameters; false with rp set to a 400. */
static bool
api_stats_query(const struct api_req *r, struct api_resp *rp, struct analytics_query *q)
{
	const char *by = api_query(r, "by"), *since = api_query(r, "since"), *until = api_query(r, "until"),
	    *limit = api_query(r, "limit");
	time_t now = time(NULL);
	char *end;

	memset(q, 0, sizeof(*q));
	q->tenant_id = r->tenant_id;
	q->since = now - 86400;
	if (by != NULL && analytics_by_parse(by, &q->by) != 0) {
		api_error(rp, 400, "bad_request", "by: hour, domain, ip or category");
		return false;
	}
	if ((since != NULL && analytics_time_parse(since, now, &q->since) != 0) ||
	    (until != NULL && analytics_time_parse(until, now, &q->until) != 0)) {
		api_error(rp, 400, "bad_request", "since/until: 2026-12-01T10:00:00Z, 2026-12-01, 24h, 7d or Unix seconds");
		return false;
	}
	if (limit != NULL) {
		errno = 0;
		q->limit = strtol(limit, &end, 10);
		if (errno != 0 || *end != '\0' || end == limit || q->limit < 1 || q->limit > ANALYTICS_ROWS_MAX) {
			api_error(rp, 400, "bad_request", "limit: 1 to %d", ANALYTICS_ROWS_MAX);
			return false;
		}
	}
	return true;
}

static void
api_stats_reply(const struct api_req *r, struct api_resp *rp, json_t *body)
{
	if (body == NULL) {
		api_error(rp, 500, "internal", "cannot read the statistics");
		return;
	}
	json_object_set_new(body, "tenant", r->tenant_id != 0 ? json_string(r->tenant) : json_null());
	api_reply(rp, 200, body);
}

static void
api_stats_get(struct api_req *r, struct api_resp *rp)
{
	struct analytics_query q;

	if (api_stats_query(r, rp, &q))
		api_stats_reply(r, rp, analytics_stats_json(r->env->st, &q));
}

static void
api_stats_bounces(struct api_req *r, struct api_resp *rp)
{
	struct analytics_query q;

	if (api_stats_query(r, rp, &q))
		api_stats_reply(r, rp, analytics_bounces_json(r->env->st, &q));
}

const struct api_route api_routes_stats[] = {
	{ "GET", "/v1/stats",         API_AUTH_TENANT, api_stats_get },
	{ "GET", "/v1/stats/bounces", API_AUTH_TENANT, api_stats_bounces },
	{ 0 },
};
