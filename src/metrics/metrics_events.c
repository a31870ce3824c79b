/*
 * metrics_events.c - the outbox observer that turns events into metrics:
 * each recipient's outcome counts for its tenant (bounces by the
 * classifier's category; a message received with its first recipient's
 * "received" event) and a delivery's delay (seconds since its message
 * arrived, carried by the event) feeds the accept-to-delivery histogram.
 * Runs on the emitting thread for every event, so it only adds to atomics.
 * SECURITY: an event's category comes from the classifier's rules (the
 * configuration), bounded in number and length by the registry; no other
 * event text becomes a label.
 */
#include <string.h>

#include "metrics/metrics.h"
#include "state/events.h"

static const struct {
	const char                 *kind;
	enum metrics_tenant_counter counter;
} metrics_event_kinds[] = {
	{ EV_RECEIVED,   MT_RCPTS_RECEIVED },
	{ EV_DELIVERED,  MT_RCPTS_DELIVERED },
	{ EV_DEFERRED,   MT_RCPTS_DEFERRED },
	{ EV_EXPIRED,    MT_RCPTS_EXPIRED },
	{ EV_SUPPRESSED, MT_RCPTS_SUPPRESSED },
	{ EV_COMPLAINED, MT_COMPLAINTS },
	{ EV_UNSUBSCRIBED, MT_UNSUBSCRIBED },
	{ EV_WEBHOOK_DROPPED, MT_WEBHOOK_DROPPED },
};

void
metrics_event_note(void *arg, const struct state_event *ev)
{
	(void)arg;
	if (ev == NULL || ev->kind == NULL)
		return;
	if (strcmp(ev->kind, EV_BOUNCED) == 0) {
		metrics_bounce(ev->tenant_id, ev->category);
		return;
	}
	for (size_t i = 0; i < sizeof(metrics_event_kinds) / sizeof(metrics_event_kinds[0]); i++)
		if (strcmp(ev->kind, metrics_event_kinds[i].kind) == 0) {
			metrics_tenant_add(ev->tenant_id, metrics_event_kinds[i].counter, 1);
			/* a message is received once, with its first recipient (SMTP
			 * and the HTTP API alike) */
			if (metrics_event_kinds[i].counter == MT_RCPTS_RECEIVED && ev->rcpt_index == 0)
				metrics_tenant_add(ev->tenant_id, MT_MESSAGES_RECEIVED, 1);
			if (metrics_event_kinds[i].counter == MT_RCPTS_DELIVERED)
				metrics_delivery_latency(ev->delay);
			return;
		}
}
