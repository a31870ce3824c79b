/*
 * http_request.c - one request's way through the listener: route, the
 * credential, the query and body, the handler, the reply and its log
 * line. Runs on the listener thread that accepted the connection.
 * STANDARDS: RFC 6750 2.1 (Authorization: Bearer), RFC 9110 15.5.2 (401
 * with WWW-Authenticate), 15.5.6 (405 with Allow).
 * SECURITY: the admin token is compared in constant time; an API key goes
 * to state_auth only when it has the key's form (its fast path: one
 * SHA-256 and an indexed lookup, never the slow password hash). The log
 * line names the route's pattern, never the path's parameters, the
 * query or any header.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <sys/queue.h>

#include <event2/buffer.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <sodium.h>

#include "conf/conf.h"
#include "http/http_internal.h"
#include "net/server_snap.h"
#include "state/state.h"
#include "state/state_internal.h"
#include "util/log.h"

/* What a request carries besides api_req: for the log line. */
struct http_call {
	struct api_req   r;
	struct api_resp  rp;
	struct evkeyvalq query;
	bool             query_parsed;
	char             tenant[STATE_NAME_MAX + 1];
	char             client[64];
	const char      *logpath;      /* the route's pattern, or the quoted path */
	char             path[HTTP_PATH_MAX];   /* decoded, for api_req */
	char             logbuf[160];
};

static const char *
http_method_name(enum evhttp_cmd_type cmd)
{
	switch (cmd) {
	case EVHTTP_REQ_GET:     return "GET";
	case EVHTTP_REQ_POST:    return "POST";
	case EVHTTP_REQ_HEAD:    return "HEAD";
	case EVHTTP_REQ_PUT:     return "PUT";
	case EVHTTP_REQ_DELETE:  return "DELETE";
	case EVHTTP_REQ_OPTIONS: return "OPTIONS";
	case EVHTTP_REQ_TRACE:   return "TRACE";
	case EVHTTP_REQ_CONNECT: return "CONNECT";
	case EVHTTP_REQ_PATCH:   return "PATCH";
	}
	return "OTHER";
}

bool
http_token_is_admin(struct http_server *s, const char *token, size_t len)
{
	bool ok;

	pthread_mutex_lock(&s->token_lock);
	/* the length is no secret (64 for a made token); the content is */
	ok = s->token_ok && len == strlen(s->token) &&
	    sodium_memcmp(s->token, token, len) == 0;
	pthread_mutex_unlock(&s->token_lock);
	return ok;
}

/* The token of "Authorization: Bearer TOKEN", or NULL. */
static const char *
http_bearer(struct evhttp_request *req, size_t *len)
{
	const char *h = evhttp_find_header(evhttp_request_get_input_headers(req), "Authorization");
	size_t n;

	if (h == NULL || strncasecmp(h, "Bearer ", 7) != 0)
		return NULL;
	h += 7;
	while (*h == ' ')
		h++;
	for (n = strlen(h); n > 0 && (h[n - 1] == ' ' || h[n - 1] == '\t'); n--)
		;
	*len = n;
	return n > 0 ? h : NULL;
}

/* ?tenant=NAME: the admin acting for a tenant, or a key naming its own. */
static bool
http_tenant_pick(struct http_call *x, struct api_env *env, struct api_resp *rp)
{
	const char *name = api_query(&x->r, "tenant");
	struct state_tenant t;
	int rc;

	if (name == NULL || name[0] == '\0')
		return true;
	if (!x->r.admin) {
		if (strcmp(name, x->tenant) == 0)
			return true;
		api_error(rp, 403, "forbidden", "an API key acts for its own tenant only");
		return false;
	}
	rc = strlen(name) <= STATE_NAME_MAX ? state_tenant_by_name(env->st, name, &t) : 0;
	if (rc < 0) {
		api_error(rp, 503, "unavailable", "the state database is unavailable; try again");
		return false;
	}
	if (rc == 0) {
		api_error(rp, 404, "not_found", "no such tenant");
		return false;
	}
	x->r.tenant_id = t.id;
	snprintf(x->tenant, sizeof(x->tenant), "%s", t.name);
	return true;
}

/* Check the credential the route needs: true, or false with the error. */
static bool
http_auth(struct http_thread *t, struct evhttp_request *req, enum api_auth need,
    struct http_call *x)
{
	struct state_ident id;
	const char *tok;
	size_t len = 0;
	int rc;

	if (need == API_AUTH_NONE)
		return true;
	if ((tok = http_bearer(req, &len)) == NULL) {
		api_error(&x->rp, 401, "unauthorized", "an Authorization: Bearer token is required");
		return false;
	}
	if (http_token_is_admin(t->srv, tok, len)) {
		x->r.admin = true;
		return need == API_AUTH_ADMIN || http_tenant_pick(x, &t->env, &x->rp);
	}
	rc = state_key_split(tok, len, (char[STATE_KEY_PREFIX_LEN + 1]){ 0 }) == 0 ?
	    state_auth(t->env.st, "apikey", tok, len, &id) : 0;
	if (rc < 0) {
		api_error(&x->rp, 503, "unavailable", "the state database is unavailable; try again");
		return false;
	}
	if (rc == 0) {
		api_error(&x->rp, 401, "unauthorized", "the token is not valid");
		return false;
	}
	x->r.tenant_id = id.tenant_id;
	snprintf(x->tenant, sizeof(x->tenant), "%s", id.tenant);
	if (need == API_AUTH_ADMIN) {
		api_error(&x->rp, 403, "forbidden", "this needs the admin token");
		return false;
	}
	return http_tenant_pick(x, &t->env, &x->rp);
}

/* The query string into q: pairs split on '&' and '=', each side
 * percent-decoded. Not evhttp_parse_query_str: that turns '+' into a
 * space (HTML forms), and "a+tag@example.com" is an address. -1 on a
 * malformed or oversized pair. */
#define HTTP_QUERY_PAIRS_MAX 64

static int
http_query_parse(const char *s, struct evkeyvalq *q)
{
	char key[256], val[2048];
	int pairs = 0;

	while (*s != '\0') {
		size_t n = strcspn(s, "&"), kn;
		const char *eq = memchr(s, '=', n);
		long kl, vl = 0;
		if (++pairs > HTTP_QUERY_PAIRS_MAX)
			return -1;
		kn = eq != NULL ? (size_t)(eq - s) : n;
		if (n > 0) {
			if ((kl = http_pct_decode(s, kn, key, sizeof(key))) < 0 || (kn < n &&
			    (vl = http_pct_decode(s + kn + 1, n - kn - 1, val, sizeof(val))) < 0))
				return -1;
			key[kl] = '\0';
			val[vl] = '\0';
			if (evhttp_add_header(q, key, val) < 0)   /* a malformed header value */
				return -1;
		}
		s += n + (s[n] == '&');
	}
	return 0;
}

/* Query, content type, body and client into x->r; false on a bad query. */
static bool
http_call_fill(struct evhttp_request *req, struct http_call *x)
{
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *q = uri != NULL ? evhttp_uri_get_query(uri) : NULL;
	struct evbuffer *in = evhttp_request_get_input_buffer(req);
	const char *ct = evhttp_find_header(evhttp_request_get_input_headers(req), "Content-Type");

	TAILQ_INIT(&x->query);
	x->query_parsed = true;
	x->r.query = &x->query;
	x->r.content_type = ct != NULL ? ct : "";
	x->r.body_len = evbuffer_get_length(in);
	x->r.body = x->r.body_len > 0 ? evbuffer_pullup(in, -1) : (const unsigned char *)"";
	if (q != NULL && http_query_parse(q, &x->query) < 0) {
		api_error(&x->rp, 400, "bad_request", "the query string is malformed");
		return false;
	}
	return true;
}

/* A route matched: the credential, then the handler. */
static void
http_route_run(struct http_thread *t, struct evhttp_request *req, struct http_match *m,
    struct http_call *x)
{
	x->logpath = m->route->pattern;
	for (size_t i = 0; i < m->nparams; i++)
		x->r.params[i] = m->params[i];
	x->r.nparams = m->nparams;
	if (!http_call_fill(req, x) || !http_auth(t, req, m->route->auth, x))
		return;
	x->r.tenant = x->tenant;
	m->route->fn(&x->r, &x->rp);
	if (x->rp.json == NULL && x->rp.raw == NULL && x->rp.status == 200)
		x->rp.status = 204;
}

/* The path for the log when no route matched: as sent, quoted, but no
 * segment long enough to be a token or key. */
static const char *
http_logpath(struct http_call *x, const char *path)
{
	char tmp[128];
	size_t o = 0;

	for (const char *s = path; *s == '/' && o + 3 < sizeof(tmp); ) {
		size_t n = strcspn(s + 1, "/"), k;
		if (n > 24) {
			tmp[o++] = '/';
			tmp[o++] = '*';
		} else {
			k = n + 1 < sizeof(tmp) - 1 - o ? n + 1 : sizeof(tmp) - 1 - o;
			memcpy(tmp + o, s, k);
			o += k;
		}
		s += n + 1;
	}
	return log_quote(x->logbuf, sizeof(x->logbuf), tmp, o);
}

static void
http_call_route(struct http_thread *t, struct evhttp_request *req, struct http_call *x,
    const char *method, const char *path)
{
	struct http_match m;
	bool get = strcmp(method, "GET") == 0, head = strcmp(method, "HEAD") == 0;
	int rc;

	switch (http_route_match(api_routes_all(), get || head ? "GET" : method, path, &m)) {
	case HTTP_MATCH_OK:     /* HEAD as GET: evhttp leaves the body out */
		http_route_run(t, req, &m, x);
		return;
	case HTTP_MATCH_METHOD:     /* the pattern: a {token} of the path stays out of the log */
		x->logpath = m.pattern;
		evhttp_add_header(evhttp_request_get_output_headers(req), "Allow", m.allow);
		api_error(&x->rp, 405, "method_not_allowed", "allowed: %s", m.allow);
		return;
	case HTTP_MATCH_BAD:
		x->logpath = http_logpath(x, path);
		api_error(&x->rp, 400, "bad_request", "the path is malformed");
		return;
	case HTTP_MATCH_NONE:
		break;
	}
	x->logpath = http_logpath(x, path);
	if ((get || head) && (rc = http_static_serve(req, http_www_get(t->srv), path)) != 404) {
		x->rp.status = rc;
		x->rp.raw = NULL;
		return;
	}
	api_error(&x->rp, 404, "not_found", "no such resource");
}

static long
http_ms_since(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

static void
http_client_name(struct evhttp_request *req, char *out, size_t outlen)
{
	struct evhttp_connection *evcon = evhttp_request_get_connection(req);
	char *addr = NULL;
	ev_uint16_t port = 0;

	if (evcon != NULL)
		evhttp_connection_get_peer(evcon, &addr, &port);
	snprintf(out, outlen, "%s", addr != NULL ? addr : "");
}

void
http_request_cb(struct evhttp_request *req, void *arg)
{
	struct http_thread *t = arg;
	struct server_snap *snap = server_snap_get(t->srv->h.snaps);
	const struct evhttp_uri *uri = evhttp_request_get_evhttp_uri(req);
	const char *method = http_method_name(evhttp_request_get_command(req));
	const char *path = uri != NULL ? evhttp_uri_get_path(uri) : NULL;
	struct http_call x;
	struct timespec t0;
	char tq[STATE_NAME_MAX * 4 + 3];

	clock_gettime(CLOCK_MONOTONIC, &t0);
	memset(&x, 0, sizeof(x));
	t->env.c = snap->conf;
	http_client_name(req, x.client, sizeof(x.client));
	if (path == NULL || path[0] == '\0')
		path = "/";
	x.r = (struct api_req){ .method = method, .path = path,
	    .content_type = "", .body = (const unsigned char *)"", .tenant = "",
	    .client_ip = x.client, .env = &t->env };
	if (http_pct_decode(path, strlen(path), x.path, sizeof(x.path)) >= 0)
		x.r.path = x.path;
	x.rp.status = 200;
	http_call_route(t, req, &x, method, path);
	if (x.rp.raw != NULL || x.rp.json != NULL || x.rp.status != 200)
		http_reply_send(req, &x.rp);
	log_info("event=http method=%s path=%s status=%d tenant=%s admin=%s client=%s ms=%ld", method,
	    x.logpath ? x.logpath : "-", x.rp.status,
	    x.tenant[0] ? log_quote(tq, sizeof(tq), x.tenant, strlen(x.tenant)) : "-",
	    x.r.admin ? "yes" : "no", x.client[0] ? x.client : "-", http_ms_since(&t0));
	if (x.query_parsed)
		evhttp_clear_headers(&x.query);
	json_decref(x.rp.json);
	free(x.rp.raw);
	server_snap_put(snap);
}
