/*
 * worker.h - one event loop thread and the sessions it owns.
 */
#ifndef FERRY_NET_WORKER_H
#define FERRY_NET_WORKER_H

#include <event2/event.h>
#include <event2/listener.h>
#include <pthread.h>
#include <stdbool.h>

struct server;
struct smtp_session;

struct worker {
	struct server          *srv;
	int                     id;
	pthread_t               thread;
	struct event_base      *base;
	struct evconnlistener **listeners;
	size_t                  nlisteners;
	void                   *listener_args;  /* private to worker.c */
	struct event           *stop_ev;       /* activated by the main thread */
	struct event           *deadline_ev;   /* shutdown: force-close after */
	struct smtp_session    *sessions;      /* list owned by this thread */
	size_t                  nsessions;
	bool                    stopping;
};

/* A session is gone: the worker may be able to exit now. */
void worker_session_gone(struct worker *w);

#endif
