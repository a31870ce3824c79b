/*
 * api_admin_json.c - what the handlers of api_handlers.h share: the tenant
 * a request acts for, JSON values built the same way everywhere (strings
 * made safe for JSON, times as RFC 3339 UTC plus a Unix timestamp, limits),
 * ?limit= and database failures.
 * SECURITY: strings may come from peers (addresses, replies): anything
 * that is not UTF-8 is replaced, never passed to jansson as is (it would
 * refuse it and the field would silently vanish).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/api_handlers.h"
#include "util/log.h"
#include "util/utf8.h"

bool
api_tenant_need(const struct api_req *r, struct api_resp *rp)
{
	if (r->tenant_id > 0)
		return true;
	api_error(rp, 400, "bad_request", "name the tenant to act for with ?tenant=NAME");
	return false;
}

json_t *
api_json_text(const char *s)
{
	size_t len, i = 0, n = 0;
	char *clean;
	json_t *v;

	if (s == NULL)
		return json_null();
	len = strlen(s);
	if ((clean = malloc(len + 1)) == NULL)
		return json_null();
	while (i < len) {
		size_t k = (unsigned char)s[i] >= 0x80 ? utf8_len(s + i, len - i) : 1;
		if (k == 0 || (k == 1 && (unsigned char)s[i] < 0x20 && s[i] != '\t')) {
			clean[n++] = '?';
			i++;
			continue;
		}
		memcpy(clean + n, s + i, k);
		n += k;
		i += k;
	}
	v = json_stringn(clean, n);
	free(clean);
	return v != NULL ? v : json_null();
}

void
api_json_str(json_t *o, const char *key, const char *s)
{
	json_object_set_new(o, key, api_json_text(s));
}

void
api_json_time(json_t *o, const char *key, time_t t)
{
	char text[32], tskey[64];
	struct tm tm;

	snprintf(tskey, sizeof(tskey), "%s_timestamp", key);
	if (t == 0 || gmtime_r(&t, &tm) == NULL ||
	    strftime(text, sizeof(text), "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		json_object_set_new(o, key, json_null());
		json_object_set_new(o, tskey, json_null());
		return;
	}
	json_object_set_new(o, key, json_string(text));
	json_object_set_new(o, tskey, json_integer((json_int_t)t));
}

json_t *
api_json_limits(const struct state_limits *l)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "per_minute", (json_int_t)l->per_minute,
	    "per_hour", (json_int_t)l->per_hour, "per_day", (json_int_t)l->per_day,
	    "rcpts", (json_int_t)l->rcpts);
}

bool
api_query_limit(const struct api_req *r, struct api_resp *rp, long def, long max, long *out)
{
	const char *s = api_query(r, "limit");
	size_t n;

	*out = def;
	if (s == NULL)
		return true;
	n = strspn(s, "0123456789");
	if (n == 0 || n > 7 || s[n] != '\0' || (*out = strtol(s, NULL, 10)) < 1 || *out > max) {
		api_error(rp, 400, "bad_request", "limit must be a number from 1 to %ld", max);
		return false;
	}
	return true;
}

const char *
api_client(const struct api_req *r)
{
	return r->client_ip != NULL && r->client_ip[0] != '\0' ? r->client_ip : "-";
}

void
api_db_error(const struct api_req *r, struct api_resp *rp, const char *what)
{
	char q[256];

	log_warn("event=api-error path=%s what=%s",
	    log_quote(q, sizeof(q), r->path, strlen(r->path)), what);
	api_error(rp, 503, "unavailable", "%s: the state database failed; try again", what);
}
