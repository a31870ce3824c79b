/*
 * http.h - ferryd's HTTP listener (the API of docs/api.md and the
 * dashboard's files): what ferryd's main calls. The sockets are bound as
 * root before the privilege drop, like the SMTP listeners; the threads
 * (http_threads, each its own event loop and evhttp on its own
 * SO_REUSEPORT sockets) start after it. Requests go through the route
 * table (api_routes.c) to the handlers of api.h.
 * STANDARDS: RFC 9110/9112 through libevent's evhttp; RFC 6750 bearer
 * tokens; TLS (https listeners) through bufferevent_openssl.
 * SECURITY: everything a client sends is untrusted; credentials are
 * compared in constant time and never logged.
 */
#ifndef FERRY_HTTP_HTTP_H
#define FERRY_HTTP_HTTP_H

#include <stddef.h>
#include <sys/types.h>

struct conf;
struct state;
struct spool;
struct qmgr;
struct rep;
struct server_snaps;
struct http_server;
struct counters;

/* The daemon's handles the handlers get (api_env), not the whole context. */
struct http_handles {
	struct state        *state;   /* any thread: each gets its own connection */
	struct spool        *spool;
	struct qmgr         *qmgr;
	struct rep          *rep;
	struct counters     *counters;   /* tenants' rate limits (shared with SMTP) */
	struct server_snaps *snaps;   /* the current configuration and TLS context */
};

/* As root: bind every listen http|https line once per http thread, and
 * make the admin token file if it is missing (owned by uid:gid unless uid
 * is -1). NULL + err on failure; a configuration without HTTP listeners
 * gives a server that serves nothing. */
struct http_server *http_listen(const struct conf *c, uid_t uid, gid_t gid, char *err, size_t errlen);
/* After the drop: read the admin token, start the threads. 0 or -1 + err. */
int http_start(struct http_server *s, const struct http_handles *h, char *err, size_t errlen);
/* SIGHUP: read the admin token file c names again. */
void http_reload(struct http_server *s, const struct conf *c);
/* Stop the loops (requests in progress are cut) and join the threads. */
void http_stop(struct http_server *s);
void http_free(struct http_server *s);

#endif
