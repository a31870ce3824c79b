/*
 * spool_space.c - how much room the spool's filesystem has left, for the
 * SMTP server's queue_minfree check at MAIL (as Postfix's queue_minfree).
 * SECURITY: only fstatvfs on the spool directory descriptor taken at start,
 * so it works after the privilege drop. Every worker thread asks at every
 * MAIL (Postfix calls statvfs at every MAIL too; fstatvfs took 1.5 us
 * here). The figure is shared under a mutex for 10 ms, so a burst of
 * MAIL commands costs one call, and measured afresh each time once it is
 * near the caller's threshold. Not longer: at 400 messages a second a
 * one-second cache let 8 MiB through past a 2 MiB reserve in the disk-full
 * test, and those bodies then got 451 instead of a 452 at MAIL.
 */
#include <pthread.h>
#include <sys/statvfs.h>
#include <time.h>

#include "spool/spool_internal.h"

#define SPOOL_SPACE_CACHE_NS 10000000LL   /* 10 ms */

static pthread_mutex_t spool_space_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct spool *spool_space_of;   /* whose figure is cached */
static long long spool_space_at;             /* CLOCK_MONOTONIC ns; 0: none */
static long long spool_space_bytes;

static long long
spool_space_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* Octets an unprivileged writer may still use (f_bavail: the root reserve
 * is not ours after the drop), or -1 with errno. */
static long long
spool_space_measure(const struct spool *s)
{
	struct statvfs st;

	if (fstatvfs(s->root_fd, &st) != 0)
		return -1;
	return (long long)st.f_bavail * (long long)st.f_frsize;
}

long long
spool_space_available(const struct spool *s, long long fresh_below)
{
	long long now = spool_space_now(), bytes;

	pthread_mutex_lock(&spool_space_lock);
	if (spool_space_of != s || spool_space_at == 0 || spool_space_bytes < fresh_below ||
	    now - spool_space_at >= SPOOL_SPACE_CACHE_NS) {
		bytes = spool_space_measure(s);
		spool_space_of = s;
		spool_space_at = bytes < 0 ? 0 : now;   /* an error is not cached */
		spool_space_bytes = bytes;
	}
	bytes = spool_space_bytes;
	pthread_mutex_unlock(&spool_space_lock);
	return bytes;
}
