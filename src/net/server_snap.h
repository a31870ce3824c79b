/*
 * server_snap.h - configuration generations: the parsed configuration and
 * the server TLS context made from it, swapped as one by a reload. Workers,
 * sessions and deliveries each hold a reference to the generation they
 * started with, so a reload never changes anything under them.
 * Thread-safety: any thread may get, put or set.
 */
#ifndef FERRY_NET_SERVER_SNAP_H
#define FERRY_NET_SERVER_SNAP_H

#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>

struct conf;

/* A configuration generation: what a session was started with. Reference
 * counted so a reload never pulls the config out from under a session. */
struct server_snap {
	atomic_int   refs;
	struct conf *conf;
	SSL_CTX     *tls;       /* NULL when TLS material is unusable */
};

/* Where the current generation lives: a reload installs a new one, each
 * session and delivery takes a reference to the one it starts with. */
struct server_snaps {
	pthread_mutex_t     lock;     /* guards cur */
	struct server_snap *cur;
};

/* A reference to the current generation; give it back with server_snap_put. */
struct server_snap *server_snap_get(struct server_snaps *snaps);
void server_snap_put(struct server_snap *snap);
/* Install a new generation (takes ownership of conf and tls). */
void server_snap_set(struct server_snaps *snaps, struct conf *conf, SSL_CTX *tls);

#endif
