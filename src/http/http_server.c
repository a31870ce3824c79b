/*
 * http_server.c - the HTTP listener's sockets and threads (http.h): each
 * of the http_threads threads runs its own event loop with an evhttp for
 * the http sockets and one for the https sockets, on sockets of its own
 * (SO_REUSEPORT: the kernel spreads connections over the threads, as for
 * the SMTP workers).
 * STANDARDS: TLS 1.2+ on https listeners with the server's context
 * (net/tls.c), the one SMTP uses.
 * SECURITY: sockets are bound as root before the privilege drop; the
 * threads run as the run user. Header size, body size and read/write
 * time are bounded by evhttp for every connection.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>
#include <openssl/ssl.h>
#include <sodium.h>

#include "conf/conf.h"
#include "http/http_internal.h"
#include "net/server.h"
#include "net/server_snap.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct http_server *
http_listen(const struct conf *c, uid_t uid, gid_t gid, char *err, size_t errlen)
{
	struct http_server *s = xcalloc(1, sizeof(*s));
	int backlog = server_backlog(c), rc;
	char terr[512];

	pthread_mutex_init(&s->token_lock, NULL);
	pthread_mutex_init(&s->www_lock, NULL);
	s->www_fd = -1;
	s->nlisteners = c->nhttp_listeners;
	s->nthreads = s->nlisteners > 0 ? (size_t)c->http_threads : 0;
	s->fds = xcalloc(s->nthreads * s->nlisteners + 1, sizeof(int));
	s->roles = xcalloc(s->nlisteners + 1, sizeof(int));
	for (size_t i = 0; i < s->nthreads * s->nlisteners; i++)
		s->fds[i] = -1;
	for (size_t i = 0; i < s->nlisteners; i++)
		s->roles[i] = (int)c->http_listeners[i].role;
	for (size_t t = 0; t < s->nthreads; t++)
		for (size_t i = 0; i < s->nlisteners; i++)
			if ((s->fds[t * s->nlisteners + i] = server_socket_bind(&c->http_listeners[i],
			    backlog, err, errlen)) < 0) {
				http_free(s);
				return NULL;
			}
	if (s->nlisteners > 0)
		http_www_open(s, c->http_www_dir);
	/* also without listeners: `ferryctl admin-token` shows the same one */
	rc = http_token_ensure(c->http_admin_token_file, uid, gid, terr, sizeof(terr));
	if (rc < 0)
		log_error("event=admin-token-unavailable error=\"%s\"", terr);
	else if (rc > 0)
		log_info("event=admin-token-created file=%s", c->http_admin_token_file);
	return s;
}

void
http_reload(struct http_server *s, const struct conf *c)
{
	char tok[HTTP_TOKEN_MAX + 1], err[512];
	bool ok = http_token_read(c->http_admin_token_file, tok, err, sizeof(err)) == 0;

	if (c->nhttp_listeners != s->nlisteners || (s->nlisteners > 0 && c->http_threads != (long long)s->nthreads))
		log_warn("event=reload-warning reason=\"HTTP listener or http_threads changes need a restart\"");
	if (s->nlisteners > 0)
		http_www_open(s, c->http_www_dir);
	/* a token that cannot be read is no token: removing the file revokes it */
	if (!ok)
		log_error("event=admin-token-unavailable error=\"%s\" effect=\"no admin access over HTTP\"",
		    err);
	pthread_mutex_lock(&s->token_lock);
	s->token_ok = ok;
	memcpy(s->token, ok ? tok : "", ok ? sizeof(tok) : 1);
	pthread_mutex_unlock(&s->token_lock);
	sodium_memzero(tok, sizeof(tok));
}

/* The limits of the current configuration, for the connection evhttp is
 * making (it copies them from the evhttp after this callback). */
static void
http_limits_refresh(struct evhttp *h, struct http_thread *t)
{
	struct server_snap *snap = server_snap_get(t->srv->h.snaps);

	evhttp_set_max_body_size(h, (ev_ssize_t)snap->conf->http_max_body);
	server_snap_put(snap);
}

static struct bufferevent *
http_bev_plain(struct event_base *base, void *arg)
{
	struct http_thread *t = arg;

	http_limits_refresh(t->plain, t);
	return bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
}

/* A TLS connection with the current certificate (a reload may change it). */
static struct bufferevent *
http_bev_tls(struct event_base *base, void *arg)
{
	struct http_thread *t = arg;
	struct server_snap *snap = server_snap_get(t->srv->h.snaps);
	SSL *ssl = snap->tls != NULL ? SSL_new(snap->tls) : NULL;
	struct bufferevent *bev;

	server_snap_put(snap);
	http_limits_refresh(t->tls, t);
	if (ssl == NULL) {
		log_error("event=http-tls-failed reason=\"no TLS context\"");
		return NULL;
	}
	bev = bufferevent_openssl_socket_new(base, -1, ssl, BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE);
	if (bev != NULL)
		bufferevent_openssl_set_allow_dirty_shutdown(bev, 1);
	else
		SSL_free(ssl);
	return bev;
}

static struct evhttp *
http_evhttp_new(struct http_thread *t, bool tls)
{
	struct evhttp *h = evhttp_new(t->base);

	if (h == NULL)
		return NULL;
	evhttp_set_gencb(h, http_request_cb, t);
	evhttp_set_bevcb(h, tls ? http_bev_tls : http_bev_plain, t);
	evhttp_set_allowed_methods(h, EVHTTP_REQ_GET | EVHTTP_REQ_POST | EVHTTP_REQ_PUT |
	    EVHTTP_REQ_PATCH | EVHTTP_REQ_DELETE | EVHTTP_REQ_HEAD | EVHTTP_REQ_OPTIONS);
	evhttp_set_max_headers_size(h, HTTP_HEADERS_MAX);
	evhttp_set_timeout(h, HTTP_TIMEOUT);
	/* a body over http_max_body is read and dropped before the 413, so
	 * that the client sees the reply rather than a reset */
	evhttp_set_flags(h, EVHTTP_SERVER_LINGERING_CLOSE);
	return h;
}

/* Thread t's loop and evhttp objects, with its sockets given to them. */
static int
http_thread_setup(struct http_server *s, size_t n, char *err, size_t errlen)
{
	struct http_thread *t = &s->threads[n];

	t->srv = s;
	t->env = (struct api_env){ .st = s->h.state, .spool = s->h.spool, .qmgr = s->h.qmgr,
	    .rep = s->h.rep, .counters = s->h.counters };
	if ((t->base = event_base_new()) == NULL)
		goto fail;
	for (size_t i = 0; i < s->nlisteners; i++) {
		bool tls = s->roles[i] == CONF_ROLE_HTTPS;
		struct evhttp **h = tls ? &t->tls : &t->plain;
		int *fd = &s->fds[n * s->nlisteners + i];
		if (*h == NULL && (*h = http_evhttp_new(t, tls)) == NULL)
			goto fail;
		if (evhttp_accept_socket_with_handle(*h, *fd) == NULL)
			goto fail;
		*fd = -1;    /* the evhttp closes it */
	}
	return 0;
fail:
	snprintf(err, errlen, "http: cannot set up listener thread %zu: %s", n, strerror(errno));
	return -1;
}

static void *
http_thread_main(void *arg)
{
	struct http_thread *t = arg;

	event_base_loop(t->base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

/* https needs the server's TLS context at start (a reload keeps one). */
static int
http_tls_check(struct http_server *s, char *err, size_t errlen)
{
	struct server_snap *snap = server_snap_get(s->h.snaps);
	bool tls = snap->tls != NULL;

	server_snap_put(snap);
	for (size_t i = 0; i < s->nlisteners; i++)
		if (s->roles[i] == CONF_ROLE_HTTPS && !tls) {
			snprintf(err, errlen, "listen https: no TLS certificate and key (tls_cert, tls_key)");
			return -1;
		}
	return 0;
}

int
http_start(struct http_server *s, const struct http_handles *h, char *err, size_t errlen)
{
	struct server_snap *snap;

	s->h = *h;
	snap = server_snap_get(s->h.snaps);
	http_reload(s, snap->conf);
	server_snap_put(snap);
	if (s->nthreads == 0)
		return 0;
	if (http_tls_check(s, err, errlen) < 0)
		return -1;
	evthread_use_pthreads();     /* before the bases: loopexit from the main thread */
	s->threads = xcalloc(s->nthreads, sizeof(*s->threads));
	for (size_t n = 0; n < s->nthreads; n++) {
		if (http_thread_setup(s, n, err, errlen) < 0)
			return -1;
		if (pthread_create(&s->threads[n].tid, NULL, http_thread_main, &s->threads[n]) != 0) {
			snprintf(err, errlen, "http: cannot start a thread: %s", strerror(errno));
			return -1;
		}
		s->threads[n].running = true;
	}
	return 0;
}

void
http_stop(struct http_server *s)
{
	if (s == NULL || s->threads == NULL)
		return;
	for (size_t n = 0; n < s->nthreads; n++)
		if (s->threads[n].running)
			event_base_loopexit(s->threads[n].base, NULL);
	for (size_t n = 0; n < s->nthreads; n++)
		if (s->threads[n].running) {
			pthread_join(s->threads[n].tid, NULL);
			s->threads[n].running = false;
		}
}

void
http_free(struct http_server *s)
{
	if (s == NULL)
		return;
	http_stop(s);
	for (size_t n = 0; s->threads != NULL && n < s->nthreads; n++) {
		struct http_thread *t = &s->threads[n];
		if (t->plain != NULL)
			evhttp_free(t->plain);
		if (t->tls != NULL)
			evhttp_free(t->tls);
		if (t->base != NULL)
			event_base_free(t->base);
	}
	for (size_t i = 0; i < s->nthreads * s->nlisteners; i++)
		if (s->fds[i] >= 0)
			close(s->fds[i]);
	sodium_memzero(s->token, sizeof(s->token));
	pthread_mutex_destroy(&s->token_lock);
	http_www_close(s);
	pthread_mutex_destroy(&s->www_lock);
	free(s->threads);
	free(s->fds);
	free(s->roles);
	free(s);
}
