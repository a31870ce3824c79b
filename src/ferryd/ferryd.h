/*
 * ferryd.h - the daemon's application context: every long-lived handle
 * ferryd opens at start. main.c owns it and closes it in reverse order at
 * exit; each module receives only the handles it uses (struct
 * smtp_handles, struct deliver_handles, the queue manager for the control
 * socket), never the whole context.
 */
#ifndef FERRY_FERRYD_FERRYD_H
#define FERRY_FERRYD_FERRYD_H

#include "net/server.h"
#include "net/server_snap.h"

struct spool;
struct auth_store;
struct state;
struct counters;
struct state_cache;
struct qmgr;
struct rep;
struct http_server;
struct analytics;

struct ferryd {
	struct server_snaps snaps;     /* the current configuration; reload swaps it */
	struct spool       *spool;
	struct auth_store  *auth;
	struct state       *state;     /* tenants etc.: any thread (own connection each) */
	struct counters    *counters;  /* rate limits, warm-up caps: any thread */
	struct state_cache *state_cache;  /* state lookups cached in the counters' Redis, or NULL */
	struct rep         *rep;       /* tenants' reputation windows, enforcement: any thread */
	struct qmgr        *qmgr;
	struct analytics   *analytics; /* delivery statistics (an events observer) */
	struct server       server;    /* listening sockets, workers, connection limits */
	struct http_server *http;      /* the HTTP API's sockets and threads */
};

#endif
