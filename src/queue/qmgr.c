/*
 * qmgr.c - the queue manager: which message is delivered when. Ready
 * messages wait in a FIFO; deferred ones in a list a scheduler thread scans
 * once a second; delivery threads take the oldest ready message, run one
 * attempt (delivery/deliver.c) and report back. Everything is rebuilt from
 * the spool at start (a deferred file's mtime is its next attempt time), so
 * this state is a cache of the spool, never the only copy of anything.
 */
#include "queue/qmgr.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "delivery/deliver.h"
#include "net/server_snap.h"
#include "spool/spool_env.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define QMGR_BUCKETS 65536

enum qent_state { QE_READY, QE_ACTIVE, QE_DEFERRED, QE_HOLD };

struct qent {
	struct qent    *hnext;          /* hash chain */
	struct qent    *next;           /* ready FIFO or deferred list */
	char            id[SPOOL_ID_LEN + 1];
	enum qent_state state;
	time_t          next_try;
	int             attempts;
	bool            warned;
	bool            delete_asked, hold_asked;
	/* In hold/ for the tenant's suspension; false: held by the operator. */
	bool            tenant_hold;
	char            last_error[256];
};

struct qmgr {
	struct deliver_handles h;
	pthread_mutex_t lock;            /* guards everything below */
	pthread_cond_t  cond;            /* ready work or stopping */
	pthread_cond_t  sched_cond;
	struct qent    *hash[QMGR_BUCKETS];
	struct qent    *ready_head, *ready_tail;
	struct qent    *deferred;
	size_t          count;
	pthread_t      *threads;
	int             nthreads;
	pthread_t       sched;
	bool            running, stopping;
};

static unsigned
qmgr_hash(const char *id)
{
	unsigned h = 2166136261u;

	for (; *id; id++)
		h = (h ^ (unsigned char)*id) * 16777619u;
	return h % QMGR_BUCKETS;
}

static struct qent *
qmgr_find(struct qmgr *q, const char *id)
{
	struct qent *e = q->hash[qmgr_hash(id)];

	while (e != NULL && strcmp(e->id, id) != 0)
		e = e->hnext;
	return e;
}

static struct qent *
qmgr_insert(struct qmgr *q, const char *id)
{
	struct qent *e = qmgr_find(q, id);
	unsigned h;

	if (e != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	snprintf(e->id, sizeof(e->id), "%s", id);
	h = qmgr_hash(id);
	e->hnext = q->hash[h];
	q->hash[h] = e;
	q->count++;
	return e;
}

static void
qmgr_forget(struct qmgr *q, struct qent *e)
{
	struct qent **pp = &q->hash[qmgr_hash(e->id)];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	q->count--;
	free(e);
}

static void
qmgr_ready_push(struct qmgr *q, struct qent *e)
{
	e->state = QE_READY;
	e->next = NULL;
	if (q->ready_tail != NULL)
		q->ready_tail->next = e;
	else
		q->ready_head = e;
	q->ready_tail = e;
	pthread_cond_signal(&q->cond);
}

/* Take e out of whichever list holds it (ready or deferred). */
static void
qmgr_unlink(struct qmgr *q, struct qent *e)
{
	struct qent **pp = e->state == QE_READY ? &q->ready_head : &q->deferred;
	struct qent *prev = NULL;

	if (e->state != QE_READY && e->state != QE_DEFERRED)
		return;
	while (*pp != NULL && *pp != e) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = e->next;
	if (e->state == QE_READY && q->ready_tail == e)
		q->ready_tail = prev;
	e->next = NULL;
}

struct qmgr *
qmgr_new(const struct deliver_handles *h)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));

	q->h = *h;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	pthread_cond_init(&q->sched_cond, NULL);
	return q;
}

void
qmgr_msg_add(struct qmgr *q, const char *id)
{
	pthread_mutex_lock(&q->lock);
	qmgr_ready_push(q, qmgr_insert(q, id));
	pthread_mutex_unlock(&q->lock);
}

static void
qmgr_load_dir(struct qmgr *q, bool held, long *n)
{
	DIR *d = spool_dir_list(spool_queue_dirfd(q->h.spool, held));
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct qent *e;
		if (de->d_name[0] == '.' || strlen(de->d_name) != SPOOL_ID_LEN)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		pthread_mutex_lock(&q->lock);
		e = qmgr_insert(q, de->d_name);
		if (held && st.st_mtime == SPOOL_HOLD_TENANT_MTIME &&
		    spool_queue_hold(q->h.spool, de->d_name, false) == 0) {
			/* held for a suspension: held again at its attempt if the
			 * tenant still is (or resumed while ferryd was down) */
			qmgr_ready_push(q, e);
		} else if (held) {
			e->state = QE_HOLD;       /* by the operator */
		} else if (st.st_mtime > now) {
			e->state = QE_DEFERRED;
			e->next_try = st.st_mtime;
			e->attempts = 1;
			e->next = q->deferred;
			q->deferred = e;
		} else
			qmgr_ready_push(q, e);
		pthread_mutex_unlock(&q->lock);
		(*n)++;
	}
	closedir(d);
}

long
qmgr_load(struct qmgr *q)
{
	long n = 0;

	qmgr_load_dir(q, false, &n);
	qmgr_load_dir(q, true, &n);
	return n;
}

/* queue/ID -> hold/ID for the operator: stamped with the time of the hold
 * first, so a restart never takes it for a suspension's hold. */
static int
qmgr_hold_move(struct qmgr *q, const char *id)
{
	spool_queue_stamp(q->h.spool, id, false, time(NULL));
	return spool_queue_hold(q->h.spool, id, true);
}

/* After an attempt: forget, hold, or schedule the next one. */
static void
qmgr_attempt_done(struct qmgr *q, struct qent *e, const struct deliver_outcome *out)
{
	struct spool *sp = q->h.spool;

	if (out->removed || out->unreadable) {
		qmgr_forget(q, e);
		return;
	}
	e->attempts++;
	e->warned |= out->warned;
	snprintf(e->last_error, sizeof(e->last_error), "%s", out->last_error);
	if (out->held) {
		e->state = QE_HOLD;       /* its tenant is suspended */
		e->tenant_hold = true;
	}
	if (e->delete_asked) {
		spool_queue_remove(sp, e->id, out->held);
		log_info("event=deleted id=%s by=operator", e->id);
		qmgr_forget(q, e);
		return;
	} else if (e->hold_asked) {
		e->hold_asked = false;
		/* the operator's hold, also of mail just held for a suspension */
		if (out->held ? spool_queue_stamp(sp, e->id, true, time(NULL)) == 0 :
		    qmgr_hold_move(q, e->id) == 0) {
			e->state = QE_HOLD;
			e->tenant_hold = false;
			log_info("event=held id=%s by=operator", e->id);
		}
	}
	if (e->state == QE_ACTIVE) {
		e->state = QE_DEFERRED;
		e->next_try = out->next_try;
		e->next = q->deferred;
		q->deferred = e;
	}
}

/* "delivery off": mail stays queued until a reload turns it on. */
static bool
qmgr_delivery_on(struct qmgr *q)
{
	struct server_snap *snap = server_snap_get(q->h.snaps);
	bool on = snap->conf->delivery_on;

	server_snap_put(snap);
	return on;
}

static void *
qmgr_delivery_main(void *arg)
{
	struct qmgr *q = arg;
	struct deliver_ctx *ctx = deliver_ctx_new(&q->h, q);
	struct deliver_outcome out;
	struct timespec last_work;

	clock_gettime(CLOCK_REALTIME, &last_work);
	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		struct qent *e = q->ready_head;
		char id[SPOOL_ID_LEN + 1];
		int attempts;
		bool warned;
		if (e == NULL || !qmgr_delivery_on(q)) {
			/* Idle for 2 s (counted from the last job, however often other
			 * threads' work wakes us): no peer connection, and no
			 * destination slot, is kept for nothing. */
			struct timespec ts = last_work, now;
			ts.tv_sec += 2;
			pthread_cond_timedwait(&q->cond, &q->lock, &ts);
			clock_gettime(CLOCK_REALTIME, &now);
			if (now.tv_sec > ts.tv_sec || (now.tv_sec == ts.tv_sec && now.tv_nsec >= ts.tv_nsec)) {
				pthread_mutex_unlock(&q->lock);
				deliver_ctx_idle(ctx);
				pthread_mutex_lock(&q->lock);
				last_work = now;
			}
			continue;
		}
		q->ready_head = e->next;
		if (q->ready_head == NULL)
			q->ready_tail = NULL;
		e->next = NULL;
		e->state = QE_ACTIVE;
		memcpy(id, e->id, sizeof(id));
		attempts = e->attempts;
		warned = e->warned;
		pthread_mutex_unlock(&q->lock);
		deliver_message(ctx, id, attempts, warned, &out);
		clock_gettime(CLOCK_REALTIME, &last_work);
		pthread_mutex_lock(&q->lock);
		qmgr_attempt_done(q, e, &out);
	}
	pthread_mutex_unlock(&q->lock);
	deliver_ctx_free(ctx);
	return NULL;
}

/* Move deferred messages whose time has come to the ready queue. */
static void
qmgr_sched_scan(struct qmgr *q, time_t now)
{
	struct qent **pp = &q->deferred;

	while (*pp != NULL) {
		struct qent *e = *pp;
		if (e->next_try <= now) {
			*pp = e->next;
			qmgr_ready_push(q, e);
		} else
			pp = &e->next;
	}
}

static void *
qmgr_sched_main(void *arg)
{
	struct qmgr *q = arg;
	struct timespec ts;

	pthread_mutex_lock(&q->lock);
	while (!q->stopping) {
		qmgr_sched_scan(q, time(NULL));
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&q->sched_cond, &q->lock, &ts);
	}
	pthread_mutex_unlock(&q->lock);
	return NULL;
}

int
qmgr_start(struct qmgr *q, int nthreads)
{
	q->threads = xcalloc((size_t)nthreads, sizeof(pthread_t));
	for (int i = 0; i < nthreads; i++) {
		if (pthread_create(&q->threads[i], NULL, qmgr_delivery_main, q) != 0)
			return -1;
		q->nthreads++;
	}
	if (pthread_create(&q->sched, NULL, qmgr_sched_main, q) != 0)
		return -1;
	q->running = true;
	return 0;
}

void
qmgr_stop(struct qmgr *q)
{
	if (!q->running)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_cond_broadcast(&q->cond);
	pthread_cond_broadcast(&q->sched_cond);
	pthread_mutex_unlock(&q->lock);
	for (int i = 0; i < q->nthreads; i++)
		pthread_join(q->threads[i], NULL);
	pthread_join(q->sched, NULL);
	q->running = false;
}

void
qmgr_free(struct qmgr *q)
{
	if (q == NULL)
		return;
	qmgr_stop(q);
	for (size_t i = 0; i < QMGR_BUCKETS; i++) {
		struct qent *e = q->hash[i], *next;
		for (; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	}
	free(q->threads);
	free(q);
}

/* ---- operator actions (ferryctl queue ...) ------------------------------ */

int
qmgr_hold(struct qmgr *q, const char *id)
{
	struct qent *e;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e == NULL || e->state == QE_HOLD)
		rc = -1;
	else if (e->state == QE_ACTIVE)
		e->hold_asked = true;   /* done when the attempt ends */
	else if (qmgr_hold_move(q, id) == 0) {
		qmgr_unlink(q, e);
		e->state = QE_HOLD;
		e->tenant_hold = false;
		log_info("event=held id=%s by=operator", id);
	} else
		rc = -1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Held -> ready; by names who asked, for the log. */
static int
qmgr_release_by(struct qmgr *q, const char *id, const char *by)
{
	struct qent *e;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e != NULL && e->state == QE_HOLD && spool_queue_hold(q->h.spool, id, false) == 0) {
		e->attempts = 0;
		qmgr_ready_push(q, e);
		log_info("event=released id=%s by=%s", id, by);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
qmgr_release(struct qmgr *q, const char *id)
{
	return qmgr_release_by(q, id, "operator");
}

long
qmgr_release_tenant(struct qmgr *q, long long tenant_id)
{
	char (*ids)[SPOOL_ID_LEN + 1];
	size_t n = 0;
	long released = 0;

	pthread_mutex_lock(&q->lock);
	ids = xcalloc(q->count ? q->count : 1, sizeof(*ids));
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i]; e != NULL; e = e->hnext)
			if (e->state == QE_HOLD && e->tenant_hold)
				memcpy(ids[n++], e->id, sizeof(ids[0]));
	pthread_mutex_unlock(&q->lock);
	/* The files are read without the lock: a message released or deleted
	 * meanwhile is simply not found by qmgr_release_by. */
	for (size_t i = 0; i < n; i++) {
		struct spool_env env;
		int fd = spool_queue_open(q->h.spool, ids[i], true);
		bool mine;
		if (fd < 0)
			continue;
		if (spool_env_parse(fd, &env) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		mine = env.tenant_id == tenant_id;
		spool_env_free(&env);
		if (mine && qmgr_release_by(q, ids[i], "tenant-resume") == 0)
			released++;
	}
	free(ids);
	return released;
}

/* Deferred -> ready now; requeue also forgets the backoff history. */
static int
qmgr_retry_now(struct qmgr *q, const char *id, bool forget)
{
	struct qent *e;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (id == NULL) {
		while (q->deferred != NULL) {
			e = q->deferred;
			q->deferred = e->next;
			qmgr_ready_push(q, e);
		}
	} else if ((e = qmgr_find(q, id)) == NULL || e->state == QE_HOLD) {
		rc = -1;
	} else {
		if (forget)
			e->attempts = 0;
		if (e->state == QE_DEFERRED) {
			qmgr_unlink(q, e);
			qmgr_ready_push(q, e);
		}
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

int
qmgr_flush(struct qmgr *q, const char *id)
{
	return qmgr_retry_now(q, id, false);
}

int
qmgr_requeue(struct qmgr *q, const char *id)
{
	return qmgr_retry_now(q, id, true);
}

int
qmgr_delete(struct qmgr *q, const char *id)
{
	struct qent *e;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e == NULL)
		rc = -1;
	else if (e->state == QE_ACTIVE)
		e->delete_asked = true;
	else if (spool_queue_remove(q->h.spool, id, e->state == QE_HOLD) == 0) {
		qmgr_unlink(q, e);
		log_info("event=deleted id=%s by=operator", id);
		qmgr_forget(q, e);
	} else
		rc = -1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static const char *
qmgr_state_name(enum qent_state s)
{
	static const char *const names[] = { "ready", "active", "deferred", "hold" };

	return names[s];
}

/* Read the file behind a snapshot entry and hand the view to fn. */
static int
qmgr_view_emit(struct qmgr *q, const struct qent *snap, qmgr_view_fn fn, void *arg)
{
	int fd = spool_queue_open(q->h.spool, snap->id, snap->state == QE_HOLD);
	struct spool_env env;
	struct qmgr_view v;
	const char **rcpts;

	if (fd < 0)
		return -1;
	if (spool_env_parse(fd, &env) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	rcpts = xcalloc(env.nrcpts ? env.nrcpts : 1, sizeof(*rcpts));
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < env.nrcpts; i++)
		if (env.rcpts[i].state == SPOOL_RCPT_PENDING)
			rcpts[v.nrcpts++] = env.rcpts[i].addr;
	v.id = snap->id;
	v.state = qmgr_state_name(snap->state);
	v.arrival = env.arrival;
	v.next_try = snap->state == QE_DEFERRED ? snap->next_try : 0;
	v.size = env.content_len;
	v.sender = env.sender;
	v.rcpts = rcpts;
	v.attempts = snap->attempts;
	v.last_error = snap->last_error;
	fn(arg, &v);
	free(rcpts);
	spool_env_free(&env);
	return 0;
}

static int
qmgr_snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct qent *)a)->id, ((const struct qent *)b)->id);
}

size_t
qmgr_list(struct qmgr *q, qmgr_view_fn fn, void *arg)
{
	struct qent *snaps;
	size_t n = 0, shown = 0;

	pthread_mutex_lock(&q->lock);
	snaps = xcalloc(q->count ? q->count : 1, sizeof(*snaps));
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i]; e != NULL; e = e->hnext)
			snaps[n++] = *e;
	pthread_mutex_unlock(&q->lock);
	qsort(snaps, n, sizeof(*snaps), qmgr_snap_cmp);   /* ids sort by arrival */
	for (size_t i = 0; i < n; i++)
		if (qmgr_view_emit(q, &snaps[i], fn, arg) == 0)
			shown++;
	free(snaps);
	return shown;
}

int
qmgr_envelope(struct qmgr *q, const char *id, struct spool_env *env)
{
	struct qent *e;
	bool held;
	int fd, rc;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	held = e != NULL && e->state == QE_HOLD;
	pthread_mutex_unlock(&q->lock);
	if (e == NULL || (fd = spool_queue_open(q->h.spool, id, held)) < 0)
		return -1;
	rc = spool_env_parse(fd, env);
	close(fd);
	return rc;
}

int
qmgr_show(struct qmgr *q, const char *id, qmgr_view_fn fn, void *arg)
{
	struct qent snap, *e;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e != NULL)
		snap = *e;
	pthread_mutex_unlock(&q->lock);
	return e == NULL ? -1 : qmgr_view_emit(q, &snap, fn, arg);
}

/* ---- summary and suspension: filled in by the delivery engine rewrite ---- */

void
qmgr_summary(struct qmgr *q, qmgr_summary_fn fn, void *arg)
{
	(void)q;
	(void)fn;
	(void)arg;
}

int
qmgr_suspend(struct qmgr *q, enum qmgr_row_kind kind, const char *name, bool suspend)
{
	(void)q;
	(void)kind;
	(void)name;
	(void)suspend;
	return -1;
}
