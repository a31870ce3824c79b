/*
 * event_json.h - an event as JSON, the one shape webhooks and the HTTP API
 * both send (docs/api.md, "Events"). Empty fields are left out.
 */
#ifndef FERRY_EVENTS_EVENT_JSON_H
#define FERRY_EVENTS_EVENT_JSON_H

#include <jansson.h>

#include "state/events.h"

/* {"id", "type", "time" (RFC 3339 UTC), "timestamp", "tenant", "queue_id",
 *  "message_id", "recipient", "rcpt_index", "sender", "source_ip", "site",
 *  "reply": {"code", "status", "text"}, "category", "hard", "attempt",
 *  "delay", "size", "source", "report_id"}. tenant: the tenant's name, or
 * NULL to leave it out. NULL on allocation failure. */
json_t *event_json(const struct state_event *e, const char *tenant);

#endif
