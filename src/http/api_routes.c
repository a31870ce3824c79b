/*
 * api_routes.c - every route of the HTTP API: method, pattern ({x}: one
 * path segment, decoded), who may call it (api.h) and its handler. The
 * first row whose method and pattern fit wins; docs/api.md documents each.
 * The listener's own rows are here; each module keeps its table beside its
 * handlers (api_routes_NAME, ending with a NULL method) and is named once
 * in api_route_tables, which api_routes_all joins at first use.
 */
#include <pthread.h>
#include <stddef.h>

#include "http/api_analytics.h"
#include "http/api_handlers.h"
#include "http/api_metrics.h"
#include "http/api_webhooks.h"
#include "http/http_internal.h"
#include "util/xmalloc.h"

static const struct api_route api_routes_core[] = {
	{ "GET",  "/v1/ping",   API_AUTH_TENANT, api_ping_get },
	{ "POST", "/v1/ping",   API_AUTH_TENANT, api_ping_post },
	{ "GET",  "/v1/events", API_AUTH_TENANT, api_events_get },
	{ NULL, NULL, API_AUTH_NONE, NULL },
};

static const struct api_route *const api_route_tables[] = {
	api_routes_core,
	api_routes_admin,
	api_routes_domains_edit,   /* api_domains_edit.c */
	api_routes_messages,       /* api_messages.c */
	api_routes_webhooks,
	api_routes_metrics,
	api_routes_stats,          /* api_stats.c */
	api_routes_unsubscribe,    /* api_unsubscribe.c */
};

static struct api_route *api_routes_joined;
static pthread_once_t api_routes_once = PTHREAD_ONCE_INIT;

static size_t
api_routes_count(const struct api_route *t)
{
	size_t n = 0;

	while (t[n].method != NULL)
		n++;
	return n;
}

static void
api_routes_join(void)
{
	size_t n = 0, at = 0;

	for (size_t i = 0; i < sizeof(api_route_tables) / sizeof(api_route_tables[0]); i++)
		n += api_routes_count(api_route_tables[i]);
	api_routes_joined = xcalloc(n + 1, sizeof(*api_routes_joined));
	for (size_t i = 0; i < sizeof(api_route_tables) / sizeof(api_route_tables[0]); i++)
		for (size_t k = 0; api_route_tables[i][k].method != NULL; k++)
			api_routes_joined[at++] = api_route_tables[i][k];
}

const struct api_route *
api_routes_all(void)
{
	pthread_once(&api_routes_once, api_routes_join);
	return api_routes_joined;
}
