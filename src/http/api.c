/*
 * api.c - the helpers api.h gives handlers: query parameters, JSON error
 * and success replies, and the JSON request body.
 * STANDARDS: RFC 8259 (JSON, through jansson), RFC 9110 15.5.16 (415).
 * SECURITY: the body is the client's; jansson parses it with its depth
 * limit, and duplicate keys are refused so that two readers of one body
 * can never see different values.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <event2/keyvalq_struct.h>
#include <event2/http.h>

#include "http/api.h"

const char *
api_query(const struct api_req *r, const char *name)
{
	return r->query != NULL ? evhttp_find_header(r->query, name) : NULL;
}

void
api_reply(struct api_resp *rp, int status, json_t *body)
{
	json_decref(rp->json);
	rp->json = body;
	rp->status = status;
}

void
api_error(struct api_resp *rp, int status, const char *code, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* it may quote the client's octets (a parse error): keep it valid UTF-8 */
	for (char *p = msg; *p != '\0'; p++)
		if ((unsigned char)*p < ' ' || (unsigned char)*p > '~')
			*p = '?';
	api_reply(rp, status, json_pack("{s:{s:i,s:s,s:s%}}", "error", "status", status, "code", code,
	    "message", msg, strlen(msg)));
}

/* "application/json", with parameters or not (RFC 9110 8.3.1: the type
 * is case-insensitive). */
static bool
api_type_is_json(const char *ct)
{
	static const char json[] = "application/json";
	size_t n = sizeof(json) - 1;

	if (ct == NULL || strncasecmp(ct, json, n) != 0)
		return false;
	return ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ' || ct[n] == '\t';
}

json_t *
api_body_json(const struct api_req *r, struct api_resp *rp)
{
	json_error_t e;
	json_t *j;

	if (!api_type_is_json(r->content_type)) {
		api_error(rp, 415, "unsupported_media_type", "the body must be application/json");
		return NULL;
	}
	if (r->body_len == 0) {
		api_error(rp, 400, "bad_json", "the body is empty: a JSON object is wanted");
		return NULL;
	}
	j = json_loadb((const char *)r->body, r->body_len, JSON_REJECT_DUPLICATES, &e);
	if (j == NULL) {
		api_error(rp, 400, "bad_json", "line %d, column %d: %s", e.line, e.column, e.text);
		return NULL;
	}
	if (!json_is_object(j)) {
		json_decref(j);
		api_error(rp, 400, "bad_json", "the body must be a JSON object");
		return NULL;
	}
	return j;
}

bool
api_int_param(const struct api_req *r, struct api_resp *rp, const char *name,
    long long min, long long max, long long def, long long *out)
{
	const char *v = api_query(r, name);
	char *end;
	long long n;

	if (v == NULL || v[0] == '\0') {
		*out = def;
		return true;
	}
	errno = 0;
	n = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || !isdigit((unsigned char)v[0]) || n < min || n > max) {
		api_error(rp, 400, "bad_request", "%s: a whole number from %lld to %lld is wanted",
		    name, min, max);
		return false;
	}
	*out = n;
	return true;
}

/* "YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM)" to unix seconds; -1 if not. */
static long long
api_rfc3339_parse(const char *s)
{
	struct tm tm;
	const char *p;
	long long t, off = 0;

	memset(&tm, 0, sizeof(tm));
	if ((p = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL &&
	    (p = strptime(s, "%Y-%m-%d %H:%M:%S", &tm)) == NULL)
		return -1;
	if (*p == '.')
		for (p++; isdigit((unsigned char)*p); p++)
			;
	if ((*p == '+' || *p == '-') && isdigit((unsigned char)p[1]) && isdigit((unsigned char)p[2]) &&
	    p[3] == ':' && isdigit((unsigned char)p[4]) && isdigit((unsigned char)p[5]) && p[6] == '\0') {
		off = ((p[1] - '0') * 10 + (p[2] - '0')) * 3600 + ((p[4] - '0') * 10 + (p[5] - '0')) * 60;
		off = *p == '+' ? off : -off;
	} else if (!((*p == 'Z' || *p == 'z') && p[1] == '\0'))
		return -1;
	t = (long long)timegm(&tm);
	return t < 0 ? -1 : t - off;
}

bool
api_time_param(const struct api_req *r, struct api_resp *rp, const char *name, long long *out)
{
	const char *v = api_query(r, name);
	long long t = -1;
	char *end;

	*out = 0;
	if (v == NULL || v[0] == '\0')
		return true;
	if (isdigit((unsigned char)v[0]) && strspn(v, "0123456789") == strlen(v) && strlen(v) <= 12) {
		t = strtoll(v, &end, 10);
	} else
		t = api_rfc3339_parse(v);
	if (t <= 0) {
		api_error(rp, 400, "bad_request", "%s: unix seconds or an RFC 3339 time is wanted", name);
		return false;
	}
	*out = t;
	return true;
}
