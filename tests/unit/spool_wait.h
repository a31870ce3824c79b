/* spool_wait.h - for unit tests: commit a spool message and wait for the
 * committer's callback (spool_msg_commit answers on its own thread), as a
 * session waits before its 250. Needs cmocka.h included before it. */
#ifndef FERRY_TESTS_SPOOL_WAIT_H
#define FERRY_TESTS_SPOOL_WAIT_H

#include <pthread.h>

#include "spool/spool.h"

struct spool_wait {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	int             count, error;
};

static inline void
spool_wait_cb(void *arg, int error)
{
	struct spool_wait *d = arg;

	pthread_mutex_lock(&d->lock);
	d->count++;
	d->error = error;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

/* Commit m and wait until it is durable; the commit must succeed. */
static inline void
spool_wait_commit(struct spool_msg *m)
{
	struct spool_wait d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };

	spool_msg_commit(m, spool_wait_cb, &d);
	pthread_mutex_lock(&d.lock);
	while (d.count == 0)
		pthread_cond_wait(&d.cond, &d.lock);
	pthread_mutex_unlock(&d.lock);
	assert_int_equal(d.error, 0);
}

#endif
