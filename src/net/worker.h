/*
 * worker.h - one event loop thread and the connections it owns. The worker
 * knows nothing of the protocol it serves: it accepts, hands each socket to
 * a struct worker_proto (inbound SMTP registers smtp_proto), and on a stop
 * asks each connection to finish, then to close.
 */
#ifndef FERRY_NET_WORKER_H
#define FERRY_NET_WORKER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "conf/conf.h"

struct server;
struct worker;

/* A connection as its worker sees it: a link in the worker's list,
 * embedded in the protocol's own session struct. */
struct worker_conn {
	struct worker_conn *next, *prev;
};

/* What a worker serves. Every callback runs on the worker's thread. */
struct worker_proto {
	/* An accepted, non-blocking socket: the protocol owns fd from here
	 * on, and adds a connection with worker_conn_add() or closes fd.
	 * ctx is what server_workers_start() was given for the protocol. */
	void (*start)(void *ctx, struct worker *w, int fd, const struct sockaddr *sa,
	    socklen_t salen, enum conf_role role, size_t listener);
	/* Graceful stop: finish what is in progress, then close. */
	void (*shutdown)(struct worker_conn *c);
	/* The shutdown deadline passed: close now. */
	void (*abort)(struct worker_conn *c);
};

struct worker {
	struct server            *srv;
	const struct worker_proto *proto;
	void                     *proto_ctx;
	int                       id;
	pthread_t                 thread;
	struct event_base        *base;
	struct evconnlistener   **listeners;
	size_t                    nlisteners;
	void                     *listener_args;  /* private to worker.c */
	struct event             *stop_ev;        /* activated by the main thread */
	struct event             *deadline_ev;    /* shutdown: force-close after */
	struct worker_conn       *conns;          /* list owned by this thread */
	size_t                    nconns;
	bool                      stopping;
};

/* A connection starts, and is gone (after which the worker may exit). */
void worker_conn_add(struct worker *w, struct worker_conn *c);
void worker_conn_remove(struct worker *w, struct worker_conn *c);

#endif
