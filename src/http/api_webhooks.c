/*
 * api_webhooks.c - the webhook endpoints of the HTTP API (docs/api.md,
 * "Webhooks"): GET/POST /v1/webhooks, GET/DELETE /v1/webhooks/{id},
 * POST /v1/webhooks/{id}/test. The same store as `ferryctl webhook`
 * (src/webhook/webhook_store.h); ferryd's sender picks changes up within
 * a second.
 * SECURITY: tenant scope: every read and write is bound to r->tenant_id
 * (the admin without ?tenant= may list every tenant's, nothing else).
 * The secret is in the reply of POST /v1/webhooks only; URLs are shown
 * without user:password@. The test POST is the one handler here that
 * goes to the network: bounded by API_WEBHOOK_TEST_TIMEOUT.
 */
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "http/api.h"
#include "http/api_webhooks.h"
#include "webhook/webhook_post.h"
#include "webhook/webhook_store.h"

/* Seconds a test POST may hold a listener thread (webhook_timeout when
 * lower): the API's threads serve other clients meanwhile. */
#define API_WEBHOOK_TEST_TIMEOUT 5

static json_t *
api_webhook_time(time_t t)
{
	char buf[32];
	struct tm tm;

	if (t == 0 || gmtime_r(&t, &tm) == NULL)
		return json_null();
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

/* "a,b" as ["a", "b"]; "" (every kind) as []. */
static json_t *
api_webhook_events(const char *events)
{
	json_t *a = json_array();

	for (const char *p = events; a != NULL && *p != '\0';) {
		size_t n = strcspn(p, ",");
		json_array_append_new(a, json_stringn(p, n));
		p += n;
		if (*p == ',')
			p++;
	}
	return a;
}

static json_t *
api_webhook_json(const struct webhook *w)
{
	char url[WEBHOOK_URL_MAX + 1];
	json_t *o = json_object();

	if (o == NULL)
		return NULL;
	json_object_set_new(o, "id", json_integer(w->id));
	json_object_set_new(o, "tenant", json_string(w->tenant));
	json_object_set_new(o, "url", json_string(webhook_url_redact(w->url, url, sizeof(url))));
	json_object_set_new(o, "events", api_webhook_events(w->events));
	json_object_set_new(o, "created", api_webhook_time(w->created));
	json_object_set_new(o, "cursor", json_integer(w->cursor));
	json_object_set_new(o, "state", json_string(w->failures > 0 ? "failing" : "ok"));
	json_object_set_new(o, "failures", json_integer(w->failures));
	json_object_set_new(o, "failing_since", api_webhook_time(w->failing_since));
	json_object_set_new(o, "next_try", api_webhook_time(w->next_try));
	json_object_set_new(o, "last_error", w->last_error[0] ? json_string(w->last_error) : json_null());
	return o;
}

static void
api_webhook_list_one(void *arg, const struct webhook *w)
{
	json_array_append_new(arg, api_webhook_json(w));
}

/* GET /v1/webhooks */
void
api_webhooks_list(struct api_req *r, struct api_resp *rp)
{
	json_t *arr = json_array(), *top = json_object();

	if (arr == NULL || top == NULL ||
	    webhook_list(r->env->st, r->tenant_id, false, api_webhook_list_one, arr) < 0) {
		json_decref(arr);
		json_decref(top);
		api_error(rp, 503, "unavailable", "cannot read the webhooks table");
		return;
	}
	json_object_set_new(top, "webhooks", arr);
	api_reply(rp, 200, top);
}

/* "events": ["a", "b"] or "a,b" (absent, "" or [] for all) into out. */
static int
api_webhook_events_take(json_t *v, char *out, size_t outsz)
{
	size_t used = 0, i;
	json_t *e;

	out[0] = '\0';
	if (v == NULL || json_is_null(v))
		return 0;
	if (json_is_string(v))
		return snprintf(out, outsz, "%s", json_string_value(v)) < (int)outsz ? 0 : -1;
	if (!json_is_array(v))
		return -1;
	json_array_foreach(v, i, e) {
		int n;
		if (!json_is_string(e))
			return -1;
		n = snprintf(out + used, outsz - used, "%s%s", used ? "," : "", json_string_value(e));
		if (n < 0 || (size_t)n >= outsz - used)
			return -1;
		used += (size_t)n;
	}
	return 0;
}

/* POST /v1/webhooks {"url", "events"} -> 201 with the secret (only now). */
void
api_webhooks_add(struct api_req *r, struct api_resp *rp)
{
	char events[WEBHOOK_EVENTS_MAX + 1], err[512];
	json_t *body, *url, *o;
	struct webhook w;

	if (r->tenant_id == 0) {
		api_error(rp, 400, "bad_request", "which tenant? (?tenant=NAME with the admin token)");
		return;
	}
	if ((body = api_body_json(r, rp)) == NULL)
		return;
	url = json_object_get(body, "url");
	if (!json_is_string(url)) {
		api_error(rp, 400, "bad_request", "\"url\" (a string) is required");
	} else if (api_webhook_events_take(json_object_get(body, "events"), events, sizeof(events)) < 0) {
		api_error(rp, 400, "bad_request", "\"events\": a list of event types, or a comma list");
	} else if (webhook_add(r->env->st, r->tenant_id, json_string_value(url), events, &w, err,
	    sizeof(err)) < 0) {
		api_error(rp, 400, "bad_request", "%s", err);
	} else if ((o = api_webhook_json(&w)) != NULL) {
		json_object_set_new(o, "secret", json_string(w.secret));
		snprintf(rp->location, sizeof(rp->location), "/v1/webhooks/%lld", w.id);
		api_reply(rp, 201, o);
	} else {
		api_error(rp, 500, "internal", "out of memory");
	}
	sodium_memzero(w.secret, sizeof(w.secret));
	json_decref(body);
}

/* The {id} of the route: a whole number >= 1, else -1. */
static long long
api_webhook_id(const struct api_req *r)
{
	const char *s = r->nparams > 0 ? r->params[0] : "";
	char *end;
	long long id;

	if (s[0] < '0' || s[0] > '9' || strlen(s) > 18)
		return -1;
	id = strtoll(s, &end, 10);
	return *end == '\0' && id > 0 ? id : -1;
}

/* GET /v1/webhooks/{id} */
void
api_webhooks_get(struct api_req *r, struct api_resp *rp)
{
	long long id = api_webhook_id(r);
	struct webhook w;
	int rc = id > 0 && r->tenant_id != 0 ? webhook_get(r->env->st, id, r->tenant_id, false, &w) : 0;

	if (rc < 0)
		api_error(rp, 503, "unavailable", "cannot read the webhooks table");
	else if (rc == 0)
		api_error(rp, 404, "not_found", "no such webhook");
	else
		api_reply(rp, 200, api_webhook_json(&w));
}

/* DELETE /v1/webhooks/{id} */
void
api_webhooks_del(struct api_req *r, struct api_resp *rp)
{
	long long id = api_webhook_id(r);
	json_t *o;
	int rc;

	if (id < 0 || r->tenant_id == 0) {
		api_error(rp, 404, "not_found", "no such webhook");
		return;
	}
	if ((rc = webhook_del(r->env->st, id, r->tenant_id)) < 0) {
		api_error(rp, 503, "unavailable", "cannot write the webhooks table");
		return;
	}
	if (rc == 0) {
		api_error(rp, 404, "not_found", "no such webhook");
		return;
	}
	o = json_pack("{s:I, s:b}", "id", (json_int_t)id, "deleted", 1);
	api_reply(rp, 200, o);
}

/* POST /v1/webhooks/{id}/test: a signed test event now; its outcome. */
void
api_webhooks_test(struct api_req *r, struct api_resp *rp)
{
	long long id = api_webhook_id(r);
	long timeout = API_WEBHOOK_TEST_TIMEOUT, status;
	char err[CURL_ERROR_SIZE + 64];
	struct webhook w;
	bool ok;
	int rc;

	if (id < 0 || r->tenant_id == 0 ||
	    (rc = webhook_get(r->env->st, id, r->tenant_id, true, &w)) == 0) {
		api_error(rp, 404, "not_found", "no such webhook");
		return;
	}
	if (rc < 0) {
		api_error(rp, 503, "unavailable", "cannot read the webhooks table");
		return;
	}
	if (r->env->c != NULL && r->env->c->webhook_timeout < timeout)
		timeout = (long)r->env->c->webhook_timeout;
	ok = webhook_post_test(&w, timeout, r->env->c != NULL ? r->env->c->tls_ca_file : NULL,
	    &status, err, sizeof(err));
	sodium_memzero(w.secret, sizeof(w.secret));
	api_reply(rp, 200, json_pack("{s:I, s:b, s:i, s:s?}", "id", (json_int_t)id, "ok", ok,
	    "status", (int)status, "error", ok ? NULL : err));
}

const struct api_route api_routes_webhooks[] = {
	{ "GET",    "/v1/webhooks",           API_AUTH_TENANT, api_webhooks_list },
	{ "POST",   "/v1/webhooks",           API_AUTH_TENANT, api_webhooks_add },
	{ "GET",    "/v1/webhooks/{id}",      API_AUTH_TENANT, api_webhooks_get },
	{ "DELETE", "/v1/webhooks/{id}",      API_AUTH_TENANT, api_webhooks_del },
	{ "POST",   "/v1/webhooks/{id}/test", API_AUTH_TENANT, api_webhooks_test },
	{ 0 },
};
