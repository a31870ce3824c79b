/*
 * event_json.c - an event as JSON (event_json.h), built with jansson.
 * Text from peers (replies, addresses) may hold any octets: jansson needs
 * UTF-8, so invalid sequences are replaced before they are set.
 */
#include "events/event_json.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "util/utf8.h"

static void
event_json_text(json_t *o, const char *key, const char *v)
{
	char clean[EVENT_TEXT_MAX + 1];

	if (v == NULL || v[0] == '\0')
		return;
	if (json_object_set_new(o, key, json_string(v)) == 0)
		return;
	/* not UTF-8: keep the printable ASCII, '?' for the rest */
	size_t n = 0;
	for (; v[n] != '\0' && n < sizeof(clean) - 1; n++)
		clean[n] = (unsigned char)v[n] >= 0x20 && (unsigned char)v[n] < 0x7f ? v[n] : '?';
	clean[n] = '\0';
	json_object_set_new(o, key, json_string(clean));
}

static void
event_json_int(json_t *o, const char *key, long long v)
{
	if (v != 0)
		json_object_set_new(o, key, json_integer(v));
}

static json_t *
event_json_reply(const struct state_event *e)
{
	json_t *r;

	if (e->code == 0 && (e->status == NULL || !e->status[0]) && (e->detail == NULL || !e->detail[0]))
		return NULL;
	if ((r = json_object()) == NULL)
		return NULL;
	event_json_int(r, "code", e->code);
	event_json_text(r, "status", e->status);
	event_json_text(r, "text", e->detail);
	return r;
}

json_t *
event_json(const struct state_event *e, const char *tenant)
{
	json_t *o = json_object(), *reply;
	char when[32];
	struct tm tm;

	if (o == NULL)
		return NULL;
	gmtime_r(&e->time, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	event_json_int(o, "id", e->id);
	event_json_text(o, "type", e->kind);
	json_object_set_new(o, "time", json_string(when));
	json_object_set_new(o, "timestamp", json_integer((json_int_t)e->time));
	event_json_text(o, "tenant", tenant);
	event_json_text(o, "queue_id", e->queue_id);
	event_json_text(o, "message_id", e->message_id);
	event_json_text(o, "recipient", e->rcpt);
	if (e->rcpt_index >= 0 && e->rcpt != NULL && e->rcpt[0])
		json_object_set_new(o, "rcpt_index", json_integer(e->rcpt_index));
	event_json_text(o, "sender", e->sender);
	event_json_text(o, "source_ip", e->source_ip);
	event_json_text(o, "site", e->site);
	if (e->node != NULL && e->node[0] != '\0')
		event_json_text(o, "node", e->node);
	if ((reply = event_json_reply(e)) != NULL)
		json_object_set_new(o, "reply", reply);
	event_json_text(o, "category", e->category);
	if (e->category != NULL && e->category[0])
		json_object_set_new(o, "hard", json_boolean(e->hard));
	event_json_int(o, "attempt", e->attempt);
	event_json_int(o, "delay", e->delay);
	event_json_int(o, "size", e->size);
	event_json_text(o, "source", e->source);
	event_json_text(o, "report_id", e->report_id);
	return o;
}
