/*
 * api.h - the interface between ferryd's HTTP listener (src/http/) and the
 * modules that answer its requests: each endpoint is a handler in the
 * route table (api_routes.c) that reads a struct api_req and fills a
 * struct api_resp. The listener does TLS, parsing (libevent's evhttp),
 * limits, authentication and the reply; handlers do only their job.
 *
 * Threads: the listener runs http_threads threads, each with its own
 * event loop and its own handles in struct api_env (the state database
 * connection is per thread); a handler runs on one of them and may block
 * briefly (SQLite, an fsync), never on the network.
 * SECURITY: every field of api_req but tenant_id/admin comes from the
 * client; the listener has already checked the credential and the body
 * size. Handlers must scope every read and write to r->tenant_id unless
 * r->admin.
 */
#ifndef FERRY_HTTP_API_H
#define FERRY_HTTP_API_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

struct state;
struct conf;
struct spool;
struct qmgr;
struct rep;
struct counters;
struct evkeyvalq;

/* What handlers may use (per listener thread; conf is the current one). */
struct api_env {
	struct state      *st;
	const struct conf *c;
	struct spool      *spool;
	struct qmgr       *qmgr;
	struct rep        *rep;
	struct counters   *counters;   /* tenants' rate limits (the SMTP listeners' own) */
};

enum api_auth {
	API_AUTH_NONE,      /* anyone (one-click unsubscribe, the dashboard's static files) */
	API_AUTH_TENANT,    /* a tenant's API key, or the admin token (acting for ?tenant=NAME) */
	API_AUTH_ADMIN,     /* the admin token only */
};

#define API_PARAMS_MAX 4

struct api_req {
	const char          *method;     /* "GET", "POST", "PUT", "PATCH", "DELETE" */
	const char          *path;       /* decoded path: "/v1/suppressions/a@b.example" */
	const char          *params[API_PARAMS_MAX];  /* the route's {name} segments, decoded, in order */
	size_t               nparams;
	struct evkeyvalq    *query;      /* decoded query parameters: use api_query() */
	const char          *content_type;  /* "" when none; parameters (charset) included */
	const unsigned char *body;       /* the request body, body_len octets (not NUL-terminated) */
	size_t               body_len;
	bool                 admin;      /* the admin token was given */
	long long            tenant_id;  /* the tenant acted for: the key's, or ?tenant= for the admin;
	                                    0 = none (admin without ?tenant=, or API_AUTH_NONE) */
	const char          *tenant;     /* its name, "" when tenant_id is 0 */
	const char          *client_ip;
	struct api_env      *env;
};

struct api_resp {
	int         status;          /* 200 unless set */
	json_t     *json;            /* the body as JSON (owned; freed by the listener) */
	char       *raw;             /* or a raw body (malloc'd, owned), with content_type */
	size_t      raw_len;
	const char *content_type;    /* for raw: "text/plain; version=0.0.4", "text/html; charset=utf-8" */
	char        location[256];   /* a Location header, "" none */
	const char *cache_control;   /* NULL: "no-store" */
};

typedef void (*api_handler_fn)(struct api_req *r, struct api_resp *rp);

struct api_route {
	const char    *method;
	const char    *pattern;      /* "/v1/suppressions/{address}": {x} matches one segment */
	enum api_auth  auth;
	api_handler_fn fn;
};

/* The query parameter name, decoded, or NULL. */
const char *api_query(const struct api_req *r, const char *name);

/* Set an error reply: {"error": {"status": 400, "code": "bad_json", "message": "..."}}.
 * code is a stable machine word; message is for people (never a secret). */
void api_error(struct api_resp *rp, int status, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Parse r's body as a JSON object: NULL and rp set to a 400/415 error
 * when it is not one. */
json_t *api_body_json(const struct api_req *r, struct api_resp *rp);

/* Set a JSON reply (takes ownership of body). */
void api_reply(struct api_resp *rp, int status, json_t *body);

/* Query parameters that are numbers or times: true with *out set (def
 * when the parameter is absent), or false with rp set to a 400. A time is
 * unix seconds or RFC 3339 ("2026-12-03T18:00:00Z", an offset allowed). */
bool api_int_param(const struct api_req *r, struct api_resp *rp, const char *name,
    long long min, long long max, long long def, long long *out);
bool api_time_param(const struct api_req *r, struct api_resp *rp, const char *name, long long *out);

#endif
