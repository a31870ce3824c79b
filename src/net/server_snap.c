/*
 * server_snap.c - configuration generations (server_snap.h): reference
 * counted, swapped under a lock, freed by whoever drops the last reference.
 */
#include "net/server_snap.h"

#include <stdlib.h>

#include "conf/conf.h"
#include "util/xmalloc.h"

struct server_snap *
server_snap_get(struct server_snaps *snaps)
{
	struct server_snap *s;

	pthread_mutex_lock(&snaps->lock);
	s = snaps->cur;
	atomic_fetch_add(&s->refs, 1);
	pthread_mutex_unlock(&snaps->lock);
	return s;
}

void
server_snap_put(struct server_snap *snap)
{
	if (snap == NULL || atomic_fetch_sub(&snap->refs, 1) != 1)
		return;
	conf_free(snap->conf);
	SSL_CTX_free(snap->tls);
	free(snap);
}

void
server_snap_set(struct server_snaps *snaps, struct conf *conf, SSL_CTX *tls)
{
	struct server_snap *s = xcalloc(1, sizeof(*s)), *old;

	atomic_init(&s->refs, 1);
	s->conf = conf;
	s->tls = tls;
	pthread_mutex_lock(&snaps->lock);
	old = snaps->cur;
	snaps->cur = s;
	pthread_mutex_unlock(&snaps->lock);
	server_snap_put(old);
}
