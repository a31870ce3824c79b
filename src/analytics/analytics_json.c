/*
 * analytics_json.c - the statistics of analytics_query.c as JSON (see
 * analytics_json.h). Sample replies come from remote peers: jansson
 * escapes them; invalid UTF-8 is replaced, never passed on.
 */
#include "analytics/analytics_json.h"

#include <string.h>

static const char *const an_counter_names[AN_NCOUNTERS] = { "sent", "delivered", "deferred",
    "bounced", "expired", "complained", "suppressed" };

/* A remote peer's text as a JSON string (bytes that are not UTF-8 become '?'). */
static json_t *
an_json_text(const char *s)
{
	char buf[ANALYTICS_SAMPLE_MAX + 1];
	size_t n = 0;

	for (; *s != '\0' && n + 1 < sizeof(buf); s++)
		buf[n++] = (unsigned char)*s < 0x80 ? *s : '?';
	buf[n] = '\0';
	return json_string(buf);
}

struct an_rows {
	json_t             *rows;
	enum analytics_by   by;
	long long           totals[AN_NCOUNTERS];
};

static void
an_row_json(void *arg, const struct analytics_row *r)
{
	struct an_rows *x = arg;
	json_t *o = json_object();

	json_object_set_new(o, analytics_by_name(x->by), an_json_text(r->key));
	if (x->by == ANALYTICS_BY_HOUR)
		json_object_set_new(o, "timestamp", json_integer((json_int_t)r->hour));
	if (x->by == ANALYTICS_BY_CATEGORY) {
		json_object_set_new(o, "bounced", json_integer(r->count[AN_BOUNCED]));
		json_object_set_new(o, "sample_reply", an_json_text(r->sample_reply));
		json_object_set_new(o, "sample_status", an_json_text(r->sample_status));
	} else
		for (int i = 0; i < AN_NCOUNTERS; i++)
			json_object_set_new(o, an_counter_names[i], json_integer(r->count[i]));
	for (int i = 0; i < AN_NCOUNTERS; i++)
		x->totals[i] += r->count[i];
	json_array_append_new(x->rows, o);
}

static void
an_window_json(json_t *o, const struct analytics_query *q)
{
	char buf[32];

	json_object_set_new(o, "since", json_string(analytics_time_text(q->since - q->since % 3600, buf,
	    sizeof(buf))));
	json_object_set_new(o, "until", json_string(analytics_time_text(q->until != 0 ? q->until :
	    time(NULL), buf, sizeof(buf))));
}

json_t *
analytics_stats_json(struct state *st, const struct analytics_query *q)
{
	struct an_rows x = { json_array(), q->by, { 0 } };
	json_t *o, *totals;

	if (analytics_query_run(st, q, an_row_json, &x) < 0) {
		json_decref(x.rows);
		return NULL;
	}
	o = json_object();
	json_object_set_new(o, "by", json_string(analytics_by_name(q->by)));
	an_window_json(o, q);
	json_object_set_new(o, "rows", x.rows);
	totals = json_object();
	for (int i = 0; i < AN_NCOUNTERS; i++)
		if (q->by != ANALYTICS_BY_CATEGORY || i == AN_BOUNCED)
			json_object_set_new(totals, an_counter_names[i], json_integer(x.totals[i]));
	json_object_set_new(o, "totals", totals);
	return o;
}

static void
an_insight_json(json_t *arr, const struct analytics_insight *in, const char *keyname)
{
	json_t *o = json_object();

	json_object_set_new(o, keyname, an_json_text(in->key));
	json_object_set_new(o, "bounced", json_integer(in->bounced));
	json_object_set_new(o, "outcomes", json_integer(in->outcomes));
	json_object_set_new(o, "rate", json_real(in->rate));
	json_object_set_new(o, "share", json_real(in->share));
	if (strcmp(keyname, "domain") == 0)
		json_object_set_new(o, "category", an_json_text(in->category));
	json_object_set_new(o, "sample_reply", an_json_text(in->sample_reply));
	json_object_set_new(o, "sample_status", an_json_text(in->sample_status));
	json_array_append_new(arr, o);
}

static void
an_domain_json(void *arg, const struct analytics_insight *in)
{
	an_insight_json(arg, in, "domain");
}

static void
an_category_json(void *arg, const struct analytics_insight *in)
{
	an_insight_json(arg, in, "category");
}

json_t *
analytics_bounces_json(struct state *st, const struct analytics_query *q)
{
	json_t *domains = json_array(), *cats = json_array(), *o;

	if (analytics_bounce_domains(st, q, an_domain_json, domains) < 0 ||
	    analytics_bounce_categories(st, q, an_category_json, cats) < 0) {
		json_decref(domains);
		json_decref(cats);
		return NULL;
	}
	o = json_object();
	an_window_json(o, q);
	json_object_set_new(o, "domains", domains);
	json_object_set_new(o, "categories", cats);
	return o;
}
