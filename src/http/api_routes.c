/*
 * api_routes.c - every route of the HTTP API: method, pattern ({x}: one
 * path segment, decoded), who may call it (api.h) and its handler. The
 * first row whose method and pattern fit wins; docs/api.md documents each.
 * Each module adds its rows here, with its header above.
 */
#include <stddef.h>

#include "http/api_handlers.h"
#include "http/http_internal.h"

const struct api_route api_routes[] = {
	{ "GET",  "/v1/ping",   API_AUTH_TENANT, api_ping_get },
	{ "POST", "/v1/ping",   API_AUTH_TENANT, api_ping_post },
	{ "GET",  "/v1/events", API_AUTH_TENANT, api_events_get },
	{ NULL, NULL, API_AUTH_NONE, NULL },
};
