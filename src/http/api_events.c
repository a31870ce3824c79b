/*
 * api_events.c - GET /v1/events: a tenant's events, newest first, with
 * filters (type, recipient, message_id, queue_id, since, until) and
 * cursor pagination (cursor = the last id of the previous page).
 * SECURITY: the query always carries the caller's tenant_id; only the
 * admin without ?tenant= sees every tenant's events.
 */
#include <stdio.h>
#include <string.h>

#include "events/event_json.h"
#include "http/api_handlers.h"
#include "state/events.h"
#include "state/state.h"

#define API_EVENTS_LIMIT_MAX 1000
#define API_EVENTS_KINDS_MAX 32


struct api_events_page {
	struct api_req *r;
	json_t         *events;
	long            want;       /* the page size; one more row is read to know there is more */
	long            n;
	long long       last_id;
	long long       name_id;    /* the tenant whose name is in name (admin listing) */
	char            name[STATE_NAME_MAX + 1];
};


/* type=a,b: the kinds into kinds (NULL-terminated); false on an unknown one. */
static bool
api_events_kinds(const char *v, const char *kinds[API_EVENTS_KINDS_MAX + 1], struct api_resp *rp)
{
	size_t k = 0;

	for (const char *s = v; *s != '\0'; ) {
		size_t n = strcspn(s, ",");
		const char *kind = event_kind_find(s, n);
		if (n > 0 && kind == NULL) {
			api_error(rp, 400, "bad_request", "type: unknown event type '%.*s'", (int)(n > 40 ? 40 : n), s);
			return false;
		}
		bool seen = false;
		for (size_t i = 0; i < k; i++)
			seen |= kinds[i] == kind;      /* each kind once: the list never overflows */
		if (kind != NULL && !seen && k < API_EVENTS_KINDS_MAX)
			kinds[k++] = kind;
		s += n + (s[n] == ',');
	}
	kinds[k] = NULL;
	return true;
}

/* The tenant's name for an event (the admin sees several tenants). */
static const char *
api_events_tenant(struct api_events_page *p, long long id)
{
	struct state_tenant t;

	if (id == 0)
		return NULL;
	if (id == p->r->tenant_id)
		return p->r->tenant;
	if (id != p->name_id) {
		p->name_id = id;
		if (state_tenant_by_id(p->r->env->st, id, &t) == 1)
			snprintf(p->name, sizeof(p->name), "%s", t.name);
		else
			p->name[0] = '\0';
	}
	return p->name[0] != '\0' ? p->name : NULL;
}

static void
api_events_add(void *arg, const struct state_event *ev)
{
	struct api_events_page *p = arg;
	json_t *j;

	if (p->n++ >= p->want)
		return;
	p->last_id = ev->id;
	if ((j = event_json(ev, api_events_tenant(p, ev->tenant_id))) != NULL)
		json_array_append_new(p->events, j);
}

/* The filters of the query string into q; false with rp set. */
static bool
api_events_filters(struct api_req *r, struct api_resp *rp, struct state_event_query *q,
    const char *kinds[API_EVENTS_KINDS_MAX + 1])
{
	long long limit, cursor, since, until;
	const char *type = api_query(r, "type");

	if (!api_int_param(r, rp, "limit", 1, API_EVENTS_LIMIT_MAX, 100, &limit) ||
	    !api_int_param(r, rp, "cursor", 1, (1LL << 62), 0, &cursor) ||
	    !api_time_param(r, rp, "since", &since) || !api_time_param(r, rp, "until", &until))
		return false;
	if (type != NULL && type[0] != '\0') {
		if (!api_events_kinds(type, kinds, rp))
			return false;
		q->kinds = kinds[0] != NULL ? kinds : NULL;   /* "type=," is no filter */
	}
	q->tenant_id = r->tenant_id;
	q->before_id = cursor;
	q->limit = (long)limit + 1;
	q->since = (time_t)since;
	q->until = (time_t)until;
	q->rcpt = api_query(r, "recipient");
	q->message_id = api_query(r, "message_id");
	q->queue_id = api_query(r, "queue_id");
	if (q->rcpt != NULL && q->rcpt[0] == '\0') q->rcpt = NULL;
	if (q->message_id != NULL && q->message_id[0] == '\0') q->message_id = NULL;
	if (q->queue_id != NULL && q->queue_id[0] == '\0') q->queue_id = NULL;
	return true;
}

void
api_events_get(struct api_req *r, struct api_resp *rp)
{
	struct state_event_query q = { 0 };
	const char *kinds[API_EVENTS_KINDS_MAX + 1];
	struct api_events_page p = { .r = r };
	char cursor[24];

	if (!api_events_filters(r, rp, &q, kinds))
		return;
	p.want = q.limit - 1;
	p.events = json_array();
	if (state_events_query(r->env->st, &q, api_events_add, &p) < 0) {
		json_decref(p.events);
		api_error(rp, 503, "unavailable", "the events cannot be read now; try again");
		return;
	}
	snprintf(cursor, sizeof(cursor), "%lld", p.last_id);
	api_reply(rp, 200, json_pack("{s:o,s:o}", "events", p.events,
	    "next_cursor", p.n > p.want ? json_string(cursor) : json_null()));
}
