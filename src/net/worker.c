/*
 * worker.c - worker threads: an event loop each, accepting on their own
 * SO_REUSEPORT sockets and running the connections they accepted through
 * the protocol they were started with. A graceful stop closes the
 * listeners, lets transactions in progress finish and force-closes
 * whatever is left after timeout_shutdown.
 */
#include "net/worker.h"

#include <errno.h>
#include <event2/thread.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "net/server.h"
#include "net/server_snap.h"
#include "util/log.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

struct listener_arg {
	struct worker *w;
	enum conf_role role;
	size_t         index;    /* in the configuration's listeners */
};

static void
worker_accept_cb(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct listener_arg *la = arg;

	(void)l;
	if (la->w->stopping) {
		close(fd);
		return;
	}
	la->w->proto->start(la->w->proto_ctx, la->w, fd, sa, (socklen_t)salen, la->role, la->index);
}

static void
worker_accept_error_cb(struct evconnlistener *l, void *arg)
{
	(void)l;
	(void)arg;
	/* EMFILE and friends: log and keep going; the loop retries. */
	log_error("event=accept-error error=\"%s\"", strerror(errno));
}

static void
worker_listeners_free(struct worker *w)
{
	for (size_t i = 0; i < w->nlisteners; i++) {
		if (w->listeners[i] == NULL)
			continue;
		evconnlistener_free(w->listeners[i]);
		w->listeners[i] = NULL;
	}
}

static void
worker_maybe_exit(struct worker *w)
{
	if (w->stopping && w->nconns == 0)
		event_base_loopexit(w->base, NULL);
}

void
worker_conn_add(struct worker *w, struct worker_conn *c)
{
	c->prev = NULL;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->nconns++;
}

void
worker_conn_remove(struct worker *w, struct worker_conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	w->nconns--;
	worker_maybe_exit(w);
}

static void
worker_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_conn *c, *next;

	(void)fd;
	(void)what;
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;    /* abort may free c */
		w->proto->abort(c);
	}
	event_base_loopexit(w->base, NULL);
}

static void
worker_stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;
	struct worker_conn *c, *next;
	struct server_snap *snap = server_snap_get(w->srv->snaps);
	struct timeval tv = { .tv_sec = snap->conf->timeout_shutdown };

	(void)fd;
	(void)what;
	server_snap_put(snap);
	w->stopping = true;
	worker_listeners_free(w);
	w->deadline_ev = evtimer_new(w->base, worker_deadline_cb, w);
	evtimer_add(w->deadline_ev, &tv);
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;    /* shutdown may free c */
		w->proto->shutdown(c);
	}
	worker_maybe_exit(w);
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;

	event_base_loop(w->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static int
worker_init(struct server *srv, struct worker *w, const struct worker_proto *proto,
    void *proto_ctx, const struct conf *c)
{
	w->srv = srv;
	w->proto = proto;
	w->proto_ctx = proto_ctx;
	w->base = event_base_new();
	if (w->base == NULL)
		return -1;
	w->stop_ev = event_new(w->base, -1, 0, worker_stop_cb, w);
	w->nlisteners = srv->nlisteners;
	w->listeners = xcalloc(w->nlisteners, sizeof(*w->listeners));
	w->listener_args = xcalloc(w->nlisteners, sizeof(struct listener_arg));
	for (size_t i = 0; i < w->nlisteners; i++) {
		struct listener_arg *la = &((struct listener_arg *)w->listener_args)[i];
		la->w = w;
		la->role = c->listeners[i].role;
		la->index = i;
		if (srv->listen_fds[w->id * srv->nlisteners + i] < 0)
			continue;
		/* backlog 0: already listening (server_listen); -1 would make
		 * libevent listen() again with 128 */
		w->listeners[i] = evconnlistener_new(w->base, worker_accept_cb, la,
		    LEV_OPT_CLOSE_ON_FREE, 0, srv->listen_fds[w->id * srv->nlisteners + i]);
		if (w->listeners[i] == NULL)
			return -1;
		evconnlistener_set_error_cb(w->listeners[i], worker_accept_error_cb);
	}
	return 0;
}

int
server_workers_start(struct server *srv, const struct worker_proto *proto, void *proto_ctx)
{
	struct server_snap *snap = server_snap_get(srv->snaps);
	int rc = 0;

	evthread_use_pthreads();
	srv->workers = xcalloc(srv->nworkers, sizeof(struct worker));
	for (size_t i = 0; i < srv->nworkers && rc == 0; i++) {
		srv->workers[i].id = (int)i;
		if (worker_init(srv, &srv->workers[i], proto, proto_ctx, snap->conf) < 0 ||
		    pthread_create(&srv->workers[i].thread, NULL, worker_main, &srv->workers[i]) != 0)
			rc = -1;
	}
	server_snap_put(snap);
	return rc;
}

void
server_workers_stop(struct server *srv)
{
	atomic_store(&srv->stopping, true);
	for (size_t i = 0; i < srv->nworkers; i++)
		event_active(srv->workers[i].stop_ev, 0, 0);
	for (size_t i = 0; i < srv->nworkers; i++)
		pthread_join(srv->workers[i].thread, NULL);
}

/* After the committer and auth threads stopped: they may still have
 * activated session events on these bases while draining. */
void
server_workers_free(struct server *srv)
{
	for (size_t i = 0; i < srv->nworkers && srv->workers != NULL; i++) {
		struct worker *w = &srv->workers[i];
		worker_listeners_free(w);
		free(w->listeners);
		free(w->listener_args);
		if (w->deadline_ev != NULL)
			event_free(w->deadline_ev);
		event_free(w->stop_ev);
		event_base_free(w->base);
	}
	free(srv->workers);
	srv->workers = NULL;
}
