/*
 * test_http_api.c - the HTTP listener's request handling without a
 * server (src/http/): percent-decoding, the route matcher (parameters
 * decoded per segment, "." and ".." refused, 405's Allow list), and the
 * helpers handlers use: the JSON body (415, 400 bad_json with line and
 * column, objects only, duplicate keys refused), JSON errors, and the
 * number and time query parameters.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#include <cmocka.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#include "http/http_internal.h"

static void
handler_none(struct api_req *r, struct api_resp *rp)
{
	(void)r;
	(void)rp;
}

static const struct api_route routes[] = {
	{ "GET",    "/v1/x",                  API_AUTH_TENANT, handler_none },
	{ "GET",    "/v1/x/{id}",             API_AUTH_TENANT, handler_none },
	{ "DELETE", "/v1/x/{id}",             API_AUTH_ADMIN,  handler_none },
	{ "GET",    "/v1/x/{id}/keys/{key}",  API_AUTH_ADMIN,  handler_none },
	{ "POST",   "/v1/x/{id}/keys/{key}",  API_AUTH_ADMIN,  handler_none },
	{ "GET",    "/v1/x/{id}/keys/{key}",  API_AUTH_NONE,   handler_none },   /* never reached */
	{ NULL, NULL, API_AUTH_NONE, NULL },
};

static void
test_pct_decode(void **state)
{
	char out[8];

	(void)state;
	assert_int_equal(http_pct_decode("a%40b", 5, out, sizeof(out)), 3);
	assert_string_equal(out, "a@b");
	assert_int_equal(http_pct_decode("a+b%2F", 6, out, sizeof(out)), 4);
	assert_string_equal(out, "a+b/");
	assert_int_equal(http_pct_decode("%zz", 3, out, sizeof(out)), -1);
	assert_int_equal(http_pct_decode("ab%4", 4, out, sizeof(out)), -1);
	assert_int_equal(http_pct_decode("%00", 3, out, sizeof(out)), -1);
	assert_int_equal(http_pct_decode("12345678", 8, out, sizeof(out)), -1);   /* no room for the NUL */
	assert_int_equal(http_pct_decode("1234567", 7, out, sizeof(out)), 7);
}

static void
test_route_match(void **state)
{
	static struct http_match m;

	(void)state;
	assert_int_equal(http_route_match(routes, "GET", "/v1/x", &m), HTTP_MATCH_OK);
	assert_ptr_equal(m.route, &routes[0]);
	assert_int_equal(m.nparams, 0);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/a%40b.example", &m), HTTP_MATCH_OK);
	assert_ptr_equal(m.route, &routes[1]);
	assert_int_equal(m.nparams, 1);
	assert_string_equal(m.params[0], "a@b.example");
	/* an encoded '/' stays inside its segment */
	assert_int_equal(http_route_match(routes, "POST", "/v1/x/a%2Fb/keys/k%20", &m), HTTP_MATCH_OK);
	assert_ptr_equal(m.route, &routes[4]);
	assert_string_equal(m.params[0], "a/b");
	assert_string_equal(m.params[1], "k ");
	/* the first row that fits wins */
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/1/keys/2", &m), HTTP_MATCH_OK);
	assert_ptr_equal(m.route, &routes[3]);
}

static void
test_route_refusals(void **state)
{
	static struct http_match m;

	(void)state;
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x//keys/k", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/%2e%2e", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/..", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/.", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/a%00b", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/x/%4", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/v1/xy", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "/V1/x", &m), HTTP_MATCH_NONE);
	assert_int_equal(http_route_match(routes, "GET", "v1/x", &m), HTTP_MATCH_BAD);
	assert_int_equal(http_route_match(routes, "PUT", "/v1/x/1", &m), HTTP_MATCH_METHOD);
	assert_string_equal(m.allow, "GET, DELETE");
	assert_string_equal(m.pattern, "/v1/x/{id}");
	assert_int_equal(http_route_match(routes, "DELETE", "/v1/x/1/keys/2", &m), HTTP_MATCH_METHOD);
	assert_string_equal(m.allow, "GET, POST");
}

static struct api_req
req_json(const char *ct, const char *body)
{
	return (struct api_req){ .method = "POST", .path = "/", .content_type = ct,
	    .body = (const unsigned char *)body, .body_len = strlen(body) };
}

/* The error rp holds: its status and code, and its message into msg. */
static void
expect_error(struct api_resp *rp, int status, const char *code, const char *msg_part)
{
	json_t *e = json_object_get(rp->json, "error");

	assert_int_equal(rp->status, status);
	assert_non_null(e);
	assert_int_equal(json_integer_value(json_object_get(e, "status")), status);
	assert_string_equal(json_string_value(json_object_get(e, "code")), code);
	if (strstr(json_string_value(json_object_get(e, "message")), msg_part) == NULL)
		fail_msg("message '%s' lacks '%s'", json_string_value(json_object_get(e, "message")), msg_part);
	json_decref(rp->json);
	rp->json = NULL;
}

static void
test_body_json(void **state)
{
	struct api_resp rp = { .status = 200 };
	struct api_req r;
	json_t *j;

	(void)state;
	r = req_json("text/plain", "{}");
	assert_null(api_body_json(&r, &rp));
	expect_error(&rp, 415, "unsupported_media_type", "application/json");
	r = req_json("application/jsonx", "{}");
	assert_null(api_body_json(&r, &rp));
	expect_error(&rp, 415, "unsupported_media_type", "");
	r = req_json("application/json", "");
	assert_null(api_body_json(&r, &rp));
	expect_error(&rp, 400, "bad_json", "empty");
	r = req_json("application/json", "{\"a\": 1,\n  \"b\": }");
	assert_null(api_body_json(&r, &rp));
	expect_error(&rp, 400, "bad_json", "line 2, column");
	r = req_json("application/json", "[1]");
	assert_null(api_body_json(&r, &rp));
	expect_error(&rp, 400, "bad_json", "object");
	r = req_json("application/json", "{\"a\": 1, \"a\": 2}");
	assert_null(api_body_json(&r, &rp));
	expect_error(&rp, 400, "bad_json", "duplicate");
	r = req_json("Application/JSON; charset=utf-8", "{\"a\": [1]}");
	j = api_body_json(&r, &rp);
	assert_non_null(j);
	assert_null(rp.json);
	assert_int_equal(json_array_size(json_object_get(j, "a")), 1);
	json_decref(j);
}

static void
test_error_is_ascii(void **state)
{
	struct api_resp rp = { .status = 200 };

	(void)state;
	api_error(&rp, 404, "not_found", "no \xff\xfe tenant %s", "x\n");
	expect_error(&rp, 404, "not_found", "no ?? tenant x?");
}

static void
test_query_params(void **state)
{
	struct evkeyvalq q;
	struct api_resp rp = { .status = 200 };
	struct api_req r = { .query = &q };
	long long n;

	(void)state;
	TAILQ_INIT(&q);
	assert_int_equal(evhttp_parse_query_str("limit=5&big=1001&neg=-1&t1=1700000000"
	    "&t2=2026-12-03T18:00:00Z&t3=2026-12-03T19:30:00.25%2B01:30&t4=yesterday&t5=2026-12-03", &q), 0);
	assert_true(api_int_param(&r, &rp, "limit", 1, 1000, 100, &n));
	assert_int_equal(n, 5);
	assert_true(api_int_param(&r, &rp, "absent", 1, 1000, 100, &n));
	assert_int_equal(n, 100);
	assert_false(api_int_param(&r, &rp, "big", 1, 1000, 100, &n));
	expect_error(&rp, 400, "bad_request", "big: a whole number from 1 to 1000");
	assert_false(api_int_param(&r, &rp, "neg", 1, 1000, 100, &n));
	expect_error(&rp, 400, "bad_request", "neg");
	assert_true(api_time_param(&r, &rp, "t1", &n));
	assert_int_equal(n, 1700000000);
	assert_true(api_time_param(&r, &rp, "t2", &n));
	assert_int_equal(n, 1796320800);
	assert_true(api_time_param(&r, &rp, "t3", &n));
	assert_int_equal(n, 1796320800);
	assert_true(api_time_param(&r, &rp, "absent", &n));
	assert_int_equal(n, 0);
	assert_false(api_time_param(&r, &rp, "t4", &n));
	expect_error(&rp, 400, "bad_request", "t4: unix seconds or an RFC 3339 time");
	assert_false(api_time_param(&r, &rp, "t5", &n));
	expect_error(&rp, 400, "bad_request", "t5");
	evhttp_clear_headers(&q);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pct_decode),
		cmocka_unit_test(test_route_match),
		cmocka_unit_test(test_route_refusals),
		cmocka_unit_test(test_body_json),
		cmocka_unit_test(test_error_is_ascii),
		cmocka_unit_test(test_query_params),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
