/*
 * fuzz_http_api.c - libFuzzer target for what the HTTP listener does with
 * a client's request before a handler runs (src/http/): the route matcher
 * on the path, the query helpers on the query string, and the JSON body
 * reader (api_body_json). Input: "METHOD PATH[?QUERY]\n" then the body.
 * Invariants: a match names a route of the table with that method and at
 * most API_PARAMS_MAX parameters, each a NUL-free decoded segment that is
 * not "." or ".."; a path that fits only by pattern says which methods it
 * allows; the body is an object or a 400/415 JSON error, never a crash.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http/http_internal.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

/* Is method one of the entries of "GET, POST"? */
static bool
allow_has(const char *allow, const char *method)
{
	size_t n = strlen(method);

	for (const char *s = allow; *s != '\0'; s += strcspn(s, ",") + (s[strcspn(s, ",")] ? 2 : 0))
		if (strncmp(s, method, n) == 0 && (s[n] == ',' || s[n] == '\0'))
			return true;
	return false;
}

static void
check_match(const char *method, const char *path)
{
	static struct http_match m;
	enum http_match_result rc = http_route_match(api_routes_all(), method, path, &m);

	if (rc == HTTP_MATCH_OK) {
		CHECK(m.route != NULL && strcmp(m.route->method, method) == 0);
		CHECK(m.nparams <= API_PARAMS_MAX);
		for (size_t i = 0; i < m.nparams; i++) {
			CHECK(m.params[i] >= m.buf && m.params[i] < m.buf + sizeof(m.buf));
			CHECK(m.params[i][0] != '\0');
			CHECK(strcmp(m.params[i], ".") != 0 && strcmp(m.params[i], "..") != 0);
		}
	} else if (rc == HTTP_MATCH_METHOD) {
		CHECK(m.allow[0] != '\0' && !allow_has(m.allow, method));
	}
}

static void
check_body(const char *query, const uint8_t *body, size_t len)
{
	struct evkeyvalq q;
	struct api_req r = { .method = "POST", .path = "/", .content_type = "application/json",
	    .body = body, .body_len = len, .query = &q };
	struct api_resp rp = { .status = 200 };
	long long n;
	json_t *j;

	TAILQ_INIT(&q);
	if (evhttp_parse_query_str(query, &q) == 0) {
		if (!api_int_param(&r, &rp, "limit", 1, 1000, 100, &n))
			CHECK(rp.status == 400 && rp.json != NULL);
		else
			CHECK(n >= 1 && n <= 1000);
		if (!api_time_param(&r, &rp, "since", &n))
			CHECK(rp.status == 400 && rp.json != NULL);
		else
			CHECK(n >= 0);
	}
	evhttp_clear_headers(&q);
	json_decref(rp.json);
	rp = (struct api_resp){ .status = 200 };
	j = api_body_json(&r, &rp);
	if (j != NULL)
		CHECK(json_is_object(j) && rp.json == NULL);
	else
		CHECK((rp.status == 400 || rp.status == 415) && json_is_object(rp.json));
	json_decref(j);
	json_decref(rp.json);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "PATCH", "DELETE" };
	const uint8_t *nl = memchr(data, '\n', size);
	size_t head = nl != NULL ? (size_t)(nl - data) : size;
	char line[HTTP_PATH_MAX + 16], *sp, *q;

	if (head >= sizeof(line) || memchr(data, '\0', head) != NULL)
		return 0;
	memcpy(line, data, head);
	line[head] = '\0';
	sp = strchr(line, ' ');
	if (sp == NULL)
		return 0;
	*sp++ = '\0';
	q = strchr(sp, '?');
	if (q != NULL)
		*q++ = '\0';
	check_match(line, sp);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		check_match(methods[i], sp);
	check_body(q != NULL ? q : "", nl != NULL ? nl + 1 : data + size, nl != NULL ? size - head - 1 : 0);
	return 0;
}
