/*
 * http_internal.h - shared by the files of src/http/: the server and its
 * threads (http_server.c), the route matcher (http_route.c), a request's
 * way through auth and the handler (http_request.c), static files
 * (http_static.c) and the route table (api_routes.c).
 */
#ifndef FERRY_HTTP_HTTP_INTERNAL_H
#define FERRY_HTTP_HTTP_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "http/api.h"
#include "http/http.h"
#include "http/http_token.h"

struct event_base;
struct evhttp;
struct evhttp_request;

/* Every route, ended by a row with a NULL method (api_routes.c: the
 * modules' tables joined once; never freed, like a static table). */
const struct api_route *api_routes_all(void);

#define HTTP_PATH_MAX      2048   /* a request's path, as sent */
#define HTTP_HEADERS_MAX   (64 * 1024)
#define HTTP_TIMEOUT       60     /* seconds to read a request or write a reply */

/* One listener thread: its loop, its evhttp objects (one for http
 * sockets, one for https: the TLS wrapper is set per evhttp) and the
 * handlers' environment. Touched only by its thread once started. */
struct http_thread {
	struct http_server *srv;
	pthread_t           tid;
	bool                running;
	struct event_base  *base;
	struct evhttp      *plain, *tls;
	struct api_env      env;       /* env.c: set per request from the current snapshot */
};

struct http_server {
	struct http_handles h;
	struct http_thread *threads;
	size_t              nthreads;
	int                *fds;       /* nthreads * nlisteners, thread-major; -1 when taken */
	int                *roles;     /* per listener: CONF_ROLE_HTTP or CONF_ROLE_HTTPS */
	size_t              nlisteners;
	pthread_mutex_t     token_lock;   /* guards token, token_ok */
	char                token[HTTP_TOKEN_MAX + 1];
	bool                token_ok;
	/* http_www_dir, opened as root at start (its parents may be closed to
	 * the run user: a checkout under /root), again on reload if it moves */
	pthread_mutex_t     www_lock;     /* guards www_fd, www_path */
	int                 www_fd;       /* -1: no dashboard */
	char               *www_path;
};

/* Route matching. path is the request's path as sent (percent-encoded);
 * {x} segments are decoded into buf and pointed to by params. */
enum http_match_result { HTTP_MATCH_OK, HTTP_MATCH_NONE, HTTP_MATCH_METHOD, HTTP_MATCH_BAD };
struct http_match {
	const struct api_route *route;
	const char             *params[API_PARAMS_MAX];
	size_t                  nparams;
	char                    allow[64];      /* HTTP_MATCH_METHOD: "GET, DELETE" */
	const char             *pattern;        /* HTTP_MATCH_METHOD: a pattern that fit (for logs) */
	char                    buf[HTTP_PATH_MAX];
};
enum http_match_result http_route_match(const struct api_route *routes, const char *method,
    const char *path, struct http_match *m);

/* Percent-decode in (len octets) into out: the length, or -1 for a bad
 * escape, a NUL, or no room. '+' stays '+' (paths, not forms). */
long http_pct_decode(const char *in, size_t len, char *out, size_t outlen);

/* Is the bearer token the admin token? Constant time. */
bool http_token_is_admin(struct http_server *s, const char *token, size_t len);

/* The evhttp request callback (arg: the struct http_thread). */
void http_request_cb(struct evhttp_request *req, void *arg);

/* (Re)open http_www_dir when path is not the one open; a warning when it
 * cannot be opened. http_www_get: a descriptor of it for one request (the
 * caller's to close), or -1. */
void http_www_open(struct http_server *s, const char *path);
int http_www_get(struct http_server *s);
void http_www_close(struct http_server *s);

/* GET/HEAD of a file under the directory dirfd (closed here) ("/" is
 * index.html): the status sent (200), or 404 when there is no such file
 * (nothing sent then). */
int http_static_serve(struct evhttp_request *req, int dirfd, const char *path);

/* A reply: the status's JSON or raw body, with the usual headers. */
void http_reply_send(struct evhttp_request *req, struct api_resp *rp);

#endif
