/* test_spool_space.c - the spool's free-space figure for queue_minfree:
 * what fstatvfs says, shared safely by every worker thread. The behaviour
 * on a filesystem that fills up is in tests/integration/test_disk_full.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ftw.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "spool/spool.h"

#define SLACK (64LL * 1024 * 1024)   /* /tmp is shared: others write too */

static struct spool *
spool_new(char *dir, size_t dirsz)
{
	char err[256];
	struct spool *s;

	snprintf(dir, dirsz, "/tmp/ferry-test-space-XXXXXX");
	assert_non_null(mkdtemp(dir));
	s = spool_open(dir, (uid_t)-1, (gid_t)-1, false, err, sizeof(err));
	assert_non_null(s);
	return s;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
spool_done(struct spool *s, const char *dir)
{
	spool_close(s);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static long long
statvfs_avail(const char *dir)
{
	struct statvfs st;

	assert_int_equal(statvfs(dir, &st), 0);
	return (long long)st.f_bavail * (long long)st.f_frsize;
}

static void
test_matches_statvfs(void **state)
{
	char dir[64];
	struct spool *s = spool_new(dir, sizeof(dir));
	long long direct = statvfs_avail(dir);
	long long fresh = spool_space_available(s, LLONG_MAX);   /* never cached */
	long long any = spool_space_available(s, 0);            /* may be cached */

	(void)state;
	assert_true(fresh >= 0 && any >= 0);
	assert_true(llabs(fresh - direct) < SLACK);
	assert_true(llabs(any - direct) < SLACK);
	spool_done(s, dir);
}

static void *
space_hammer(void *arg)
{
	struct spool *s = arg;

	for (int i = 0; i < 20000; i++)
		if (spool_space_available(s, i % 2 ? 0 : LLONG_MAX) < 0)
			return (void *)1;
	return NULL;
}

/* Every worker thread asks at every MAIL. */
static void
test_threads_share_the_figure(void **state)
{
	char dir[64];
	struct spool *s = spool_new(dir, sizeof(dir));
	pthread_t t[4];
	void *rv;

	(void)state;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, space_hammer, s), 0);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(pthread_join(t[i], &rv), 0);
		assert_null(rv);
	}
	spool_done(s, dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matches_statvfs),
		cmocka_unit_test(test_threads_share_the_figure),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
