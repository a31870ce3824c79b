/*
 * api_metrics.h - GET /metrics (api_metrics.c), joined in api_routes.c.
 */
#ifndef FERRY_HTTP_API_METRICS_H
#define FERRY_HTTP_API_METRICS_H

#include "http/api.h"

extern const struct api_route api_routes_metrics[];

#endif
