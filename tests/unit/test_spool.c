/* test_spool.c - message files, group commit, recovery, queue ids, and the
 * envelope records written and read back. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spool/spool.h"
#include "spool/spool_env.h"

struct done {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	int             count, errors;
};

static void
done_cb(void *arg, int error)
{
	struct done *d = arg;

	pthread_mutex_lock(&d->lock);
	d->count++;
	if (error)
		d->errors++;
	pthread_cond_signal(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

static void
done_wait(struct done *d, int n)
{
	pthread_mutex_lock(&d->lock);
	while (d->count < n)
		pthread_cond_wait(&d->cond, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

static char *
spool_dir_new(void)
{
	static char dir[64];

	snprintf(dir, sizeof(dir), "/tmp/ferry-test-spool-XXXXXX");
	assert_non_null(mkdtemp(dir));
	return dir;
}

static long
count_files(const char *dir, const char *sub)
{
	char path[256];
	DIR *d;
	struct dirent *e;
	long n = 0;

	snprintf(path, sizeof(path), "%s/%s", dir, sub);
	d = opendir(path);
	assert_non_null(d);
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

static void
test_ids_unique_and_sorted(void **state)
{
	char prev[SPOOL_ID_LEN + 1] = "", id[SPOOL_ID_LEN + 1];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		spool_id_new(id);
		assert_int_equal(strlen(id), SPOOL_ID_LEN);
		assert_true(strcmp(prev, id) < 0 || (i > 0 && strncmp(prev, id, 13) == 0));
		assert_string_not_equal(prev, id);
		memcpy(prev, id, sizeof(id));
	}
}

static void
test_commit_batch_and_recover(void **state)
{
	char err[256], id[SPOOL_ID_LEN + 1], path[256];
	char *dir = spool_dir_new();
	struct spool *s = spool_open(dir, (uid_t)-1, (gid_t)-1, true, err, sizeof(err));
	struct done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct spool_msg *m;
	int fd;

	(void)state;
	assert_non_null(s);
	assert_int_equal(spool_committer_start(s), 0);
	for (int i = 0; i < 50; i++) {
		m = spool_msg_create(s, id);
		assert_non_null(m);
		assert_int_equal(spool_rec_str(m, SPOOL_REC_SENDER, "a@b.test"), 0);
		assert_int_equal(spool_rec_str(m, SPOOL_REC_RCPT, "c@d.test"), 0);
		assert_int_equal(spool_msg_content_begin(m), 0);
		for (int k = 0; k < 100; k++)
			assert_int_equal(spool_msg_write(m, "0123456789abcdef0123456789abcdef\r\n", 34), 0);
		assert_int_equal(spool_msg_content_size(m), 3400);
		spool_msg_commit(m, done_cb, &d);
	}
	done_wait(&d, 50);
	assert_int_equal(d.errors, 0);
	assert_int_equal(count_files(dir, "queue"), 50);
	assert_int_equal(count_files(dir, "incoming"), 0);
	/* a half-written message (crash before commit) and a damaged queue file */
	m = spool_msg_create(s, id);
	spool_rec_str(m, SPOOL_REC_SENDER, "x@y.test");
	snprintf(path, sizeof(path), "%s/queue/FFFFFFFFFFFFFFFF", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0640);
	assert_int_equal(write(fd, "FERRY1\nS\0\0\0\x05x", 14), 14);
	close(fd);
	spool_committer_stop(s);
	assert_int_equal(spool_recover(s), 50);
	assert_int_equal(count_files(dir, "corrupt"), 1);
	assert_int_equal(count_files(dir, "incoming"), 0);
	spool_msg_abort(m);
	spool_close(s);
}

static void
test_abort_removes_file(void **state)
{
	char err[256], id[SPOOL_ID_LEN + 1];
	char *dir = spool_dir_new();
	struct spool *s = spool_open(dir, (uid_t)-1, (gid_t)-1, false, err, sizeof(err));
	struct spool_msg *m = spool_msg_create(s, id);

	(void)state;
	assert_non_null(m);
	assert_int_equal(count_files(dir, "incoming"), 1);
	spool_msg_abort(m);
	assert_int_equal(count_files(dir, "incoming"), 0);
	spool_close(s);
}

/* Commit one message with content body; returns its queue id in id. */
static void
commit_one(struct spool *s, struct done *d, const char *body, char id[SPOOL_ID_LEN + 1])
{
	struct spool_msg *m = spool_msg_create(s, id);
	int before = d->count;

	assert_non_null(m);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_SENDER, "a@b.test"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_RCPT, "c@d.test"), 0);
	assert_int_equal(spool_msg_content_begin(m), 0);
	assert_int_equal(spool_msg_write(m, body, strlen(body)), 0);
	spool_msg_commit(m, done_cb, d);
	done_wait(d, before + 1);
	assert_int_equal(d->errors, 0);
}

static void
test_finished_files_are_reused_whole(void **state)
{
	char err[256], a[SPOOL_ID_LEN + 1], b[SPOOL_ID_LEN + 1], path[256];
	char *dir = spool_dir_new();
	struct spool *s = spool_open(dir, (uid_t)-1, (gid_t)-1, false, err, sizeof(err));
	struct done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct spool_env env;
	struct stat sa, sb;
	char big[4000];

	(void)state;
	assert_non_null(s);
	assert_int_equal(spool_recover(s), 0);
	assert_int_equal(spool_committer_start(s), 0);
	memset(big, 'x', sizeof(big) - 3);
	memcpy(big + sizeof(big) - 3, "\r\n", 3);
	commit_one(s, &d, big, a);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, a);
	assert_int_equal(stat(path, &sa), 0);
	assert_int_equal(spool_queue_remove(s, a, false), 0);     /* delivered: into free/ */
	assert_int_equal(count_files(dir, "queue"), 0);
	assert_int_equal(count_files(dir, "free"), 1);
	commit_one(s, &d, "short\r\n", b);                         /* takes the file over */
	assert_int_equal(count_files(dir, "free"), 0);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, b);
	assert_int_equal(stat(path, &sb), 0);
	assert_true(sa.st_ino == sb.st_ino);
	assert_true(sb.st_size < sa.st_size);                       /* the old tail is gone */
	int fd = open(path, O_RDONLY);
	assert_int_equal(spool_env_parse(fd, &env), 0);
	assert_string_equal(env.id, b);
	assert_int_equal(env.content_len, 7);
	spool_env_free(&env);
	close(fd);
	/* a name left over from before a reuse (power loss): corrupt/, not deleted */
	char stale[256];
	snprintf(stale, sizeof(stale), "%s/queue/%s", dir, a);
	assert_int_equal(link(path, stale), 0);
	spool_committer_stop(s);
	assert_int_equal(spool_recover(s), 1);
	assert_int_equal(count_files(dir, "corrupt"), 1);
	assert_int_equal(access(path, F_OK), 0);
	spool_close(s);
}

/* Every typed writer, read back by the parser; then the in-place marks. */
static void
test_envelope_round_trip(void **state)
{
	char err[256], id[SPOOL_ID_LEN + 1], path[256];
	char *dir = spool_dir_new();
	struct spool *s = spool_open(dir, (uid_t)-1, (gid_t)-1, false, err, sizeof(err));
	struct done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct spool_msg *m;
	struct spool_env env;
	int fd;

	(void)state;
	assert_non_null(s);
	assert_int_equal(spool_committer_start(s), 0);
	m = spool_msg_create(s, id);
	assert_non_null(m);
	assert_int_equal(spool_rec_num(m, SPOOL_REC_TIME, 1700000000), 0);
	assert_int_equal(spool_rec_put(m, SPOOL_REC_SENDER, "", 0), 0);
	assert_int_equal(spool_rec_rcpt(m, "a@x.test", 8, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY,
	    "rfc822;a@x.test"), 0);
	assert_int_equal(spool_rec_rcpt(m, "b@x.test", 8, 0, NULL), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_ENVID, "env 1"), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_RET, smtp_ret_name(SMTP_RET_HDRS)), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_BODY, smtp_body_name(SMTP_BODY_8BITMIME)), 0);
	assert_int_equal(spool_rec_str(m, SPOOL_REC_AUTH, NULL), 0);      /* left out */
	assert_int_equal(spool_rec_num(m, SPOOL_REC_DSN, SPOOL_DSN_DOUBLE), 0);
	assert_int_equal(spool_rec_put(m, SPOOL_REC_WARN_DUE, "", 0), 0);
	assert_int_equal(spool_rec_num(m, SPOOL_REC_TENANT, 7), 0);
	assert_int_equal(spool_rec_str(m, 'q', "a future record"), 0);   /* skipped by readers */
	assert_int_equal(spool_msg_content_begin(m), 0);
	assert_int_equal(spool_msg_write(m, "x\r\n", 3), 0);
	spool_msg_commit(m, done_cb, &d);
	done_wait(&d, 1);
	assert_int_equal(d.errors, 0);
	snprintf(path, sizeof(path), "%s/queue/%s", dir, id);
	fd = open(path, O_RDWR);
	assert_int_equal(spool_env_parse(fd, &env), 0);
	assert_string_equal(env.id, id);
	assert_int_equal(env.arrival, 1700000000);
	assert_string_equal(env.sender, "");
	assert_int_equal(env.nrcpts, 2);
	assert_string_equal(env.rcpts[0].addr, "a@x.test");
	assert_int_equal(env.rcpts[0].notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	assert_string_equal(env.rcpts[0].orcpt, "rfc822;a@x.test");
	assert_int_equal(env.rcpts[1].notify, 0);
	assert_null(env.rcpts[1].orcpt);
	assert_int_equal(env.rcpts[1].state, SPOOL_RCPT_PENDING);
	assert_string_equal(env.envid, "env 1");
	assert_int_equal(env.ret, SMTP_RET_HDRS);
	assert_int_equal(env.body, SMTP_BODY_8BITMIME);
	assert_null(env.auth);
	assert_int_equal(env.dsn_kind, SPOOL_DSN_DOUBLE);
	assert_int_equal(env.tenant_id, 7);
	assert_false(env.warned);
	assert_true(env.warn_off > 0);
	assert_int_equal(env.content_len, 3);
	assert_int_equal(spool_rcpt_mark(fd, &env.rcpts[1], SPOOL_RCPT_DELIVERED), 0);
	assert_int_equal(spool_warn_mark(fd, &env), 0);
	spool_env_free(&env);
	assert_int_equal(spool_env_parse(fd, &env), 0);
	assert_int_equal(env.rcpts[0].state, SPOOL_RCPT_PENDING);
	assert_int_equal(env.rcpts[1].state, SPOOL_RCPT_DELIVERED);
	assert_true(env.warned);
	spool_env_free(&env);
	close(fd);
	spool_committer_stop(s);
	spool_close(s);
}

/* A held message is committed into hold/ (never queue/), with its reason
 * in a record after the content that readers return. */
static void
test_commit_into_hold(void **state)
{
	char err[256], id[SPOOL_ID_LEN + 1], path[256];
	char *dir = spool_dir_new();
	struct spool *s = spool_open(dir, (uid_t)-1, (gid_t)-1, false, err, sizeof(err));
	struct done d = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0 };
	struct spool_msg *m;
	struct spool_env env;
	int fd;

	(void)state;
	assert_non_null(s);
	assert_int_equal(spool_committer_start(s), 0);
	m = spool_msg_create(s, id);
	assert_non_null(m);
	assert_int_equal(spool_rec_num(m, SPOOL_REC_TIME, 1700000000), 0);
	assert_int_equal(spool_rec_put(m, SPOOL_REC_SENDER, "a@x.test", 8), 0);
	assert_int_equal(spool_rec_rcpt(m, "b@x.test", 8, 0, NULL), 0);
	assert_int_equal(spool_msg_content_begin(m), 0);
	assert_int_equal(spool_msg_write(m, "Subject: x\r\n\r\nbody\r\n", 20), 0);
	assert_int_equal(spool_msg_hold(m, "milter spam: quarantined"), 0);
	spool_msg_commit(m, done_cb, &d);
	done_wait(&d, 1);
	assert_int_equal(d.errors, 0);
	assert_int_equal(count_files(dir, "queue"), 0);
	assert_int_equal(count_files(dir, "hold"), 1);
	snprintf(path, sizeof(path), "%s/hold/%s", dir, id);
	fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(spool_env_parse(fd, &env), 0);
	assert_string_equal(env.hold_reason, "milter spam: quarantined");
	assert_int_equal(env.content_len, 20);     /* the record is not content */
	spool_env_free(&env);
	close(fd);
	spool_committer_stop(s);
	spool_close(s);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ids_unique_and_sorted),
		cmocka_unit_test(test_commit_batch_and_recover),
		cmocka_unit_test(test_abort_removes_file),
		cmocka_unit_test(test_finished_files_are_reused_whole),
		cmocka_unit_test(test_envelope_round_trip),
		cmocka_unit_test(test_commit_into_hold),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
