/*
 * api_analytics.h - the route tables of the analytics helper's handlers,
 * joined into the listener's table by api_routes.c: GET /v1/stats and
 * /v1/stats/bounces (api_stats.c), GET and POST /unsubscribe/{token}
 * (api_unsubscribe.c). Each ends with {0}.
 */
#ifndef FERRY_HTTP_API_ANALYTICS_H
#define FERRY_HTTP_API_ANALYTICS_H

#include "http/api.h"

extern const struct api_route api_routes_stats[];
extern const struct api_route api_routes_unsubscribe[];

#endif
