/*
 * server.h - the listening side of the daemon: its sockets, its worker
 * threads and connection admission. Each worker runs its own libevent loop
 * and owns the connections it accepted; no thread or process per
 * connection. Listening sockets are bound once per worker with SO_REUSEPORT
 * before privileges are dropped.
 * SECURITY: all state reachable from several threads is named here with the
 * lock that guards it.
 */
#ifndef FERRY_NET_SERVER_H
#define FERRY_NET_SERVER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/socket.h>

#include "conf/conf.h"

struct worker;
struct worker_proto;
struct server_snaps;

struct server {
	pthread_mutex_t      lock;    /* guards the client table */
	struct server_snaps *snaps;   /* the configuration (not owned) */

	struct worker       *workers;
	size_t               nworkers;
	int                 *listen_fds;  /* nworkers * nlisteners, worker-major */
	size_t               nlisteners;

	atomic_long          nconn;       /* open sessions, all workers */
	struct conn_count   *clients[4096]; /* per client address, under lock */
	atomic_bool          stopping;
};

/* Set up an empty server that reads its configuration from snaps. */
void server_init(struct server *srv, struct server_snaps *snaps);
/* Release what the server holds (after the workers stopped). */
void server_free(struct server *srv);

/* Connection admission: returns 0 and counts the client, or -1 when a limit
 * is reached (reason set). server_conn_release undoes server_conn_admit. */
int  server_conn_admit(struct server *srv, const struct conf *c,
    const struct sockaddr *sa, const char **reason);
void server_conn_release(struct server *srv, const struct sockaddr *sa);

/* The listen(2) backlog: listen_backlog, or the kernel's maximum. */
int server_backlog(const struct conf *c);
/* One listening TCP socket for l with SO_REUSEPORT (each thread binds its
 * own; the HTTP listener's too): the descriptor, or -1 + err. */
int server_socket_bind(const struct conf_listener *l, int backlog, char *err, size_t errlen);

/* Bind every listener once per worker (as root). Returns 0 or -1 + err. */
int server_listen(struct server *srv, const struct conf *c, size_t nworkers,
    char *err, size_t errlen);
/* Start the workers, each serving proto (which gets proto_ctx, kept by the
 * caller until the workers are freed); returns 0 or -1. */
int server_workers_start(struct server *srv, const struct worker_proto *proto, void *proto_ctx);
/* Ask workers to stop (graceful) and wait for their threads. */
void server_workers_stop(struct server *srv);
/* Free the workers' loops; only once no other thread can touch them. */
void server_workers_free(struct server *srv);

#endif
