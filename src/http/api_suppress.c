/*
 * api_suppress.c - /v1/suppressions: a tenant's suppression list over the
 * HTTP API (docs/api.md, "Suppressions"): list by address with a cursor,
 * look one up, add (one or many), remove. The list itself is
 * state/suppress.h, the same one ferryd checks at RCPT and ferryctl edits.
 * SECURITY: every read and write names r->tenant_id; addresses and causes
 * go through the validators ferryctl uses (suppress_addr_parse,
 * suppress_cause_parse) before they are stored or looked up.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "http/api_handlers.h"
#include "state/suppress.h"

#define API_SUPPRESS_LIST_MAX 1000    /* rows of a page */
#define API_SUPPRESS_ADD_MAX  1000    /* addresses of one POST */
#define API_SUPPRESS_EXPIRES_MAX (36500LL * 86400)

static json_t *
api_suppression_json(const struct suppression *s, time_t now)
{
	json_t *o = json_object();

	api_json_str(o, "address", s->addr);
	json_object_set_new(o, "reason", json_string(suppress_reason_name(s->reason)));
	api_json_time(o, "created", s->time);
	api_json_time(o, "expires", s->expires);
	json_object_set_new(o, "active", json_boolean(s->expires == 0 || s->expires > now));
	api_json_str(o, "cause", s->cause);
	return o;
}

struct api_suppress_page {
	json_t *rows;
	time_t  now;
	char    last[SUPPRESS_ADDR_MAX + 1];
};

static int
api_suppress_row(void *arg, const struct suppression *s)
{
	struct api_suppress_page *p = arg;

	json_array_append_new(p->rows, api_suppression_json(s, p->now));
	snprintf(p->last, sizeof(p->last), "%s", s->addr);
	return 0;
}

/* GET /v1/suppressions?limit=&cursor=&reason= : by address, cursor = the
 * last address of the previous page. */
void
api_suppressions_list(struct api_req *r, struct api_resp *rp)
{
	struct api_suppress_page p = { NULL, time(NULL), "" };
	const char *reason = api_query(r, "reason"), *cursor = api_query(r, "cursor");
	enum suppress_reason why;
	long limit;
	long long n;
	json_t *body;

	if (!api_tenant_need(r, rp) || !api_query_limit(r, rp, 100, API_SUPPRESS_LIST_MAX, &limit))
		return;
	if (reason != NULL && suppress_reason_parse(reason, &why) != 0) {
		api_error(rp, 400, "bad_request", "reason must be hard-bounce, soft-bounce, complaint,"
		    " unsubscribe or manual");
		return;
	}
	if (cursor != NULL && (cursor[0] == '\0' || strlen(cursor) > SUPPRESS_ADDR_MAX)) {
		api_error(rp, 400, "bad_request", "cursor is not one this API gave");
		return;
	}
	p.rows = json_array();
	n = state_suppression_page(r->env->st, r->tenant_id, reason != NULL ? &why : NULL, cursor,
	    limit, api_suppress_row, &p);
	if (n < 0) {
		json_decref(p.rows);
		api_db_error(r, rp, "suppression list");
		return;
	}
	body = json_pack("{s:o}", "suppressions", p.rows);
	if (n == limit)
		api_json_str(body, "next_cursor", p.last);
	else
		json_object_set_new(body, "next_cursor", json_null());
	api_reply(rp, 200, body);
}

/* The {address} of the route in its stored form; false after a 400. */
static bool
api_suppress_param(const struct api_req *r, struct api_resp *rp, char addr[SUPPRESS_ADDR_MAX + 1])
{
	const char *why;

	if (r->nparams < 1 || (why = suppress_addr_parse(r->params[0], addr)) != NULL) {
		api_error(rp, 400, "bad_request", "invalid address: %s",
		    r->nparams < 1 ? "none given" : why);
		return false;
	}
	return true;
}

/* GET /v1/suppressions/{address}: a live entry, or 404. */
void
api_suppression_get(struct api_req *r, struct api_resp *rp)
{
	char addr[SUPPRESS_ADDR_MAX + 1];
	struct suppression s;
	time_t now = time(NULL);
	int rc;

	if (!api_tenant_need(r, rp) || !api_suppress_param(r, rp, addr))
		return;
	rc = state_suppression_get(r->env->st, r->tenant_id, addr, strlen(addr), now, &s);
	if (rc < 0)
		api_db_error(r, rp, "suppression lookup");
	else if (rc == 0)
		api_error(rp, 404, "not_found", "%s is not suppressed", addr);
	else
		api_reply(rp, 200, api_suppression_json(&s, now));
}

/* DELETE /v1/suppressions/{address}: 200 {"address", "deleted": true}, or 404. */
void
api_suppression_del(struct api_req *r, struct api_resp *rp)
{
	char addr[SUPPRESS_ADDR_MAX + 1];
	int rc;

	if (!api_tenant_need(r, rp) || !api_suppress_param(r, rp, addr))
		return;
	rc = state_suppression_del(r->env->st, r->tenant_id, addr);
	if (rc < 0)
		api_db_error(r, rp, "suppression delete");
	else if (rc == 0)
		api_error(rp, 404, "not_found", "%s is not on the suppression list", addr);
	else
		api_reply(rp, 200, json_pack("{s:s, s:b}", "address", addr, "deleted", 1));
}

/* The fields every added entry shares: reason, expires, cause. */
static bool
api_suppress_fields(json_t *in, struct suppression *s, struct api_resp *rp)
{
	json_t *reason = json_object_get(in, "reason"), *exp = json_object_get(in, "expires"),
	    *cause = json_object_get(in, "cause");
	const char *why;

	memset(s, 0, sizeof(*s));
	s->reason = SUPPRESS_MANUAL;
	s->time = time(NULL);
	if (reason != NULL && (!json_is_string(reason) ||
	    suppress_reason_parse(json_string_value(reason), &s->reason) != 0)) {
		api_error(rp, 400, "bad_request", "reason must be hard-bounce, soft-bounce, complaint,"
		    " unsubscribe or manual");
		return false;
	}
	if (exp != NULL && !json_is_null(exp)) {
		if (!json_is_integer(exp) || json_integer_value(exp) <= 0 ||
		    json_integer_value(exp) > API_SUPPRESS_EXPIRES_MAX) {
			api_error(rp, 400, "bad_request", "expires must be seconds from now (1 to %lld)",
			    API_SUPPRESS_EXPIRES_MAX);
			return false;
		}
		s->expires = s->time + (time_t)json_integer_value(exp);
	}
	if (cause != NULL && (!json_is_string(cause) ||
	    (why = suppress_cause_parse(json_string_value(cause), s->cause)) != NULL)) {
		api_error(rp, 400, "bad_request", "cause: %s",
		    json_is_string(cause) ? why : "must be a string");
		return false;
	}
	return true;
}

/* The addresses of the body ("address" or "addresses"), every one checked,
 * as a new array of their stored forms (the caller's reference); NULL
 * after a 400. */
static json_t *
api_suppress_addrs(json_t *in, struct api_resp *rp)
{
	json_t *one = json_object_get(in, "address"), *many = json_object_get(in, "addresses");
	json_t *src, *list, *v;
	char addr[SUPPRESS_ADDR_MAX + 1];
	const char *why;
	size_t i;

	if ((one != NULL) == (many != NULL) || (one != NULL && !json_is_string(one)) ||
	    (many != NULL && (!json_is_array(many) || json_array_size(many) == 0 ||
	    json_array_size(many) > API_SUPPRESS_ADD_MAX))) {
		api_error(rp, 400, "bad_request", "give \"address\" (a string) or \"addresses\""
		    " (1 to %d strings)", API_SUPPRESS_ADD_MAX);
		return NULL;
	}
	src = one != NULL ? json_pack("[O]", one) : json_incref(many);
	list = json_array();
	json_array_foreach(src, i, v) {
		if (!json_is_string(v) || (why = suppress_addr_parse(json_string_value(v), addr)) != NULL) {
			api_error(rp, 400, "bad_request", "address %zu: %s", i + 1,
			    json_is_string(v) ? why : "not a string");
			json_decref(list);
			json_decref(src);
			return NULL;
		}
		json_array_append_new(list, json_string(addr));
	}
	json_decref(src);
	return list;
}

/* POST /v1/suppressions {"address"|"addresses", "reason", "expires", "cause"}:
 * an explicit addition replaces whatever entry the address had (as
 * `ferryctl suppression add`). 201 {"suppressions": [entries]}. */
void
api_suppressions_add(struct api_req *r, struct api_resp *rp)
{
	struct suppression s;
	json_t *in, *addrs, *out, *v;
	size_t i;

	if (!api_tenant_need(r, rp) || (in = api_body_json(r, rp)) == NULL)
		return;
	if (!api_suppress_fields(in, &s, rp) || (addrs = api_suppress_addrs(in, rp)) == NULL) {
		json_decref(in);
		return;
	}
	out = json_array();
	json_array_foreach(addrs, i, v) {
		snprintf(s.addr, sizeof(s.addr), "%s", json_string_value(v));
		if (state_suppression_set(r->env->st, r->tenant_id, &s) != 0) {
			api_db_error(r, rp, "suppression add");
			goto done;
		}
		json_array_append_new(out, api_suppression_json(&s, s.time));
	}
	api_reply(rp, 201, json_pack("{s:O}", "suppressions", out));
done:
	json_decref(out);
	json_decref(addrs);
	json_decref(in);
}
