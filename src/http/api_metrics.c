/*
 * api_metrics.c - GET /metrics on ferryd's HTTP listener: the Prometheus
 * text exposition format 0.0.4 (src/metrics/metrics_render.c) for a
 * scraper holding the admin token (Authorization: Bearer TOKEN).
 * SECURITY: admin only (API_AUTH_ADMIN: the listener refuses anyone else
 * before this runs). The text names tenants and their volumes, never an
 * address, a key or a message.
 */
#include <stdlib.h>

#include "http/api_metrics.h"
#include "metrics/metrics.h"

static void
api_metrics_get(struct api_req *r, struct api_resp *rp)
{
	rp->status = 200;
	rp->raw = metrics_render(r->env->qmgr, r->env->st, &rp->raw_len);
	rp->content_type = METRICS_CONTENT_TYPE;
}

const struct api_route api_routes_metrics[] = {
	{ "GET", "/metrics", API_AUTH_ADMIN, api_metrics_get },
	{ 0 },
};
