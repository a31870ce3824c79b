/*
 * auth_store.c - the users table shared by all sessions and the threads
 * that check passwords against it.
 * The users file is asked first; when it says no, the relay service's
 * state (tenant accounts and API keys) is asked.
 * SECURITY: password copies live only in a job and are wiped with
 * sodium_memzero when the job ends.
 */
#include "auth/auth_store.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "auth/auth_users.h"
#include "util/log.h"
#include "util/xmalloc.h"

struct auth_job {
	struct auth_job *next;
	char            *user;
	char            *pass;
	size_t           passlen;
	auth_done_fn     done;
	void            *arg;
};

struct auth_table {
	int                refs;          /* under auth_store.lock */
	struct auth_users *users;
};

struct auth_store {
	pthread_mutex_t    lock;          /* guards everything below */
	pthread_cond_t     cond;
	char              *path;
	struct timespec    mtime;
	struct auth_table *table;
	struct auth_job   *jobs, **jobs_tail;
	bool               stopping;
	pthread_t         *threads;
	int                nthreads;
	struct state      *state;         /* set before the first job; NULL: none */
};

static void
auth_table_put(struct auth_table *t)
{
	/* caller holds the store lock */
	if (t != NULL && --t->refs == 0) {
		auth_users_free(t->users);
		free(t);
	}
}

static void
auth_file_mtime(const char *path, struct timespec *ts)
{
	struct stat st;

	if (stat(path, &st) == 0)
		*ts = st.st_mtim;
	else
		ts->tv_sec = ts->tv_nsec = 0;
}

/* Load path into a fresh table; caller holds no lock. */
static struct auth_table *
auth_table_load(const char *path, char *err, size_t errlen)
{
	struct auth_users *u = auth_users_load(path, err, errlen);
	struct auth_table *t;

	if (u == NULL)
		return NULL;
	t = xcalloc(1, sizeof(*t));
	t->refs = 1;
	t->users = u;
	return t;
}

static void
auth_store_swap(struct auth_store *st, struct auth_table *t, const struct timespec *mt)
{
	pthread_mutex_lock(&st->lock);
	auth_table_put(st->table);
	st->table = t;
	st->mtime = *mt;
	pthread_mutex_unlock(&st->lock);
}

void
auth_store_reload(struct auth_store *st, const char *path)
{
	char err[512];
	struct timespec mt;
	struct auth_table *t;

	auth_file_mtime(path, &mt);
	t = auth_table_load(path, err, sizeof(err));
	if (t == NULL) {
		log_error("event=users-reload-failed error=\"%s\" action=\"keeping the previous users\"", err);
		/* Remember the mtime so a broken file is not re-read on every AUTH. */
		pthread_mutex_lock(&st->lock);
		st->mtime = mt;
		pthread_mutex_unlock(&st->lock);
		return;
	}
	pthread_mutex_lock(&st->lock);
	if (strcmp(st->path, path) != 0) {
		free(st->path);
		st->path = xstrdup(path);
	}
	pthread_mutex_unlock(&st->lock);
	auth_store_swap(st, t, &mt);
	log_info("event=users-loaded file=%s users=%zu", path, auth_users_count(t->users));
}

/* The table to verify against, re-read first when the file changed. */
static struct auth_table *
auth_table_get(struct auth_store *st)
{
	struct timespec mt;
	struct auth_table *t;
	bool changed;
	char path[4096];

	pthread_mutex_lock(&st->lock);
	snprintf(path, sizeof(path), "%s", st->path);
	pthread_mutex_unlock(&st->lock);
	auth_file_mtime(path, &mt);
	pthread_mutex_lock(&st->lock);
	changed = mt.tv_sec != st->mtime.tv_sec || mt.tv_nsec != st->mtime.tv_nsec;
	pthread_mutex_unlock(&st->lock);
	if (changed)
		auth_store_reload(st, path);
	pthread_mutex_lock(&st->lock);
	t = st->table;
	t->refs++;
	pthread_mutex_unlock(&st->lock);
	return t;
}

static void
auth_job_run(struct auth_store *st, struct auth_job *j)
{
	struct auth_table *t = auth_table_get(st);
	bool ok = auth_users_verify(t->users, j->user, j->pass, j->passlen);
	struct state_ident id;
	struct state *state;
	int rc = ok;

	pthread_mutex_lock(&st->lock);
	auth_table_put(t);
	state = st->state;
	pthread_mutex_unlock(&st->lock);
	memset(&id, 0, sizeof(id));
	if (!ok && state != NULL)
		rc = state_auth(state, j->user, j->pass, j->passlen, &id);
	if (rc != 1)
		memset(&id, 0, sizeof(id));
	j->done(j->arg, rc, &id);
	sodium_memzero(j->pass, j->passlen);
	free(j->pass);
	free(j->user);
	free(j);
}

static void *
auth_thread_main(void *arg)
{
	struct auth_store *st = arg;
	struct auth_job *j;

	for (;;) {
		pthread_mutex_lock(&st->lock);
		while (st->jobs == NULL && !st->stopping)
			pthread_cond_wait(&st->cond, &st->lock);
		j = st->jobs;
		if (j != NULL) {
			st->jobs = j->next;
			if (st->jobs == NULL)
				st->jobs_tail = &st->jobs;
		}
		pthread_mutex_unlock(&st->lock);
		if (j == NULL)
			return NULL;
		auth_job_run(st, j);
	}
}

struct auth_store *
auth_store_new(const char *path, int nthreads, char *err, size_t errlen)
{
	struct auth_store *st;
	struct timespec mt;
	struct auth_table *t;

	auth_file_mtime(path, &mt);
	t = auth_table_load(path, err, errlen);
	if (t == NULL)
		return NULL;
	st = xcalloc(1, sizeof(*st));
	pthread_mutex_init(&st->lock, NULL);
	pthread_cond_init(&st->cond, NULL);
	st->path = xstrdup(path);
	st->table = t;
	st->mtime = mt;
	st->jobs_tail = &st->jobs;
	st->nthreads = nthreads;
	st->threads = xcalloc(nthreads, sizeof(pthread_t));
	for (int i = 0; i < nthreads; i++)
		if (pthread_create(&st->threads[i], NULL, auth_thread_main, st) != 0)
			log_fatal("event=fatal reason=\"cannot start auth thread\"");
	return st;
}

void
auth_store_free(struct auth_store *st)
{
	if (st == NULL)
		return;
	pthread_mutex_lock(&st->lock);
	st->stopping = true;
	pthread_cond_broadcast(&st->cond);
	pthread_mutex_unlock(&st->lock);
	for (int i = 0; i < st->nthreads; i++)
		pthread_join(st->threads[i], NULL);
	auth_table_put(st->table);
	free(st->threads);
	free(st->path);
	free(st);
}

void
auth_store_set_state(struct auth_store *st, struct state *state)
{
	pthread_mutex_lock(&st->lock);
	st->state = state;
	pthread_mutex_unlock(&st->lock);
}

void
auth_store_verify_async(struct auth_store *st, const char *user, size_t userlen,
    const char *pass, size_t passlen, auth_done_fn done, void *arg)
{
	struct auth_job *j = xcalloc(1, sizeof(*j));

	j->user = xstrndup(user, userlen);
	j->pass = xmalloc(passlen + 1);
	memcpy(j->pass, pass, passlen);
	j->passlen = passlen;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&st->lock);
	*st->jobs_tail = j;
	st->jobs_tail = &j->next;
	pthread_cond_signal(&st->cond);
	pthread_mutex_unlock(&st->lock);
}
