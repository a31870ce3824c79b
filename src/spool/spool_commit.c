/*
 * spool_commit.c - group commit. Sessions hand finished messages to one
 * committer thread; it makes each batch durable with a single flush
 * (syncfs, or fdatasync per file when spool_sync is fsync), renames the
 * files into queue/ and fsyncs that directory once, then reports back. A
 * client is answered 250 only from that report, so nothing is acknowledged
 * before it and its envelope are on stable storage.
 */
#include "spool/spool_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/log.h"

/* Write the content length and the end record. */
static int
spool_msg_finish(struct spool_msg *m)
{
	unsigned char hdr[SPOOL_REC_HDR];

	if (!m->in_content && spool_msg_content_begin(m) < 0)
		return -1;
	m->in_content = false;
	if (m->hold_reason != NULL &&
	    spool_rec_put(m, SPOOL_REC_HOLD, m->hold_reason, strlen(m->hold_reason)) < 0)
		return -1;
	if (spool_rec_put(m, SPOOL_REC_END, NULL, 0) < 0 || spool_msg_flush(m) < 0)
		return -1;
	spool_rec_hdr_put(hdr, SPOOL_REC_CONTENT, (uint32_t)m->content_size);
	if (pwrite(m->fd, hdr, SPOOL_REC_HDR, m->content_hdr_off) != SPOOL_REC_HDR) {
		m->error = errno ? errno : EIO;
		return -1;
	}
	/* a reused file may be longer than this message: cut the old tail */
	if (m->reused && ftruncate(m->fd, m->off) < 0) {
		m->error = errno ? errno : EIO;
		return -1;
	}
	return 0;
}

struct spool_wait {
	pthread_mutex_t lock;
	pthread_cond_t  cond;
	bool            done;
	int             error;
};

static void
spool_wait_done(void *arg, int error)
{
	struct spool_wait *w = arg;

	/* the committer's thread: wake the one waiting in spool_msg_commit_wait */
	pthread_mutex_lock(&w->lock);
	w->done = true;
	w->error = error;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

int
spool_msg_commit_wait(struct spool_msg *m)
{
	struct spool_wait w = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, false, 0 };

	spool_msg_commit(m, spool_wait_done, &w);
	pthread_mutex_lock(&w.lock);
	while (!w.done)
		pthread_cond_wait(&w.cond, &w.lock);
	pthread_mutex_unlock(&w.lock);
	return w.error;
}

void
spool_msg_commit(struct spool_msg *m, spool_commit_cb cb, void *arg)
{
	struct spool *s = m->spool;

	m->cb = cb;
	m->cb_arg = arg;
	if (spool_msg_finish(m) < 0) {
		int e = m->error ? m->error : EIO;
		spool_msg_abort(m);
		cb(arg, e);
		return;
	}
	pthread_mutex_lock(&s->lock);
	m->next = NULL;
	*s->pending_tail = m;
	s->pending_tail = &m->next;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
}

static int
spool_batch_sync(struct spool *s, struct spool_msg *batch)
{
	if (s->use_syncfs && batch->next != NULL)
		return syncfs(s->root_fd) < 0 ? errno : 0;
	for (struct spool_msg *m = batch; m != NULL; m = m->next)
		if (fdatasync(m->fd) < 0)
			return errno;
	return 0;
}

/* Where a committed message goes: queue/, or hold/ when it is held. */
static int
spool_msg_dirfd(const struct spool *s, const struct spool_msg *m)
{
	return m->hold_reason != NULL ? s->hold_fd : s->queue_fd;
}

/* Make one batch durable; returns 0 or an errno for the whole batch. */
static int
spool_batch_commit(struct spool *s, struct spool_msg *batch)
{
	int err = spool_batch_sync(s, batch);
	bool held = false;

	for (struct spool_msg *m = batch; m != NULL && err == 0; m = m->next) {
		held |= m->hold_reason != NULL;
		if (renameat2(s->incoming_fd, m->id, spool_msg_dirfd(s, m), m->id, RENAME_NOREPLACE) < 0)
			m->error = errno;
	}
	if (err == 0 && fsync(s->queue_fd) < 0)
		err = errno;
	if (err == 0 && held && fsync(s->hold_fd) < 0)
		err = errno;
	return err;
}

static void
spool_batch_report(struct spool *s, struct spool_msg *batch, int err)
{
	struct spool_msg *next;

	for (struct spool_msg *m = batch; m != NULL; m = next) {
		int e = err ? err : m->error;
		next = m->next;
		if (e != 0) {
			/* Not durable: take it back out of wherever it got. */
			unlinkat(s->incoming_fd, m->id, 0);
			if (err != 0)
				unlinkat(spool_msg_dirfd(s, m), m->id, 0);
			log_error("event=spool-commit-failed id=%s error=\"%s\"", m->id, strerror(e));
		}
		m->cb(m->cb_arg, e);
		spool_msg_free(m);
	}
}

static void *
spool_committer_main(void *arg)
{
	struct spool *s = arg;
	struct spool_msg *batch;

	for (;;) {
		pthread_mutex_lock(&s->lock);
		while (s->pending == NULL && !s->stopping)
			pthread_cond_wait(&s->cond, &s->lock);
		batch = s->pending;
		s->pending = NULL;
		s->pending_tail = &s->pending;
		pthread_mutex_unlock(&s->lock);
		if (batch == NULL)
			break;   /* stopping and nothing left */
		spool_batch_report(s, batch, spool_batch_commit(s, batch));
	}
	return NULL;
}

int
spool_committer_start(struct spool *s)
{
	if (pthread_create(&s->thread, NULL, spool_committer_main, s) != 0)
		return -1;
	s->running = true;
	return 0;
}

void
spool_committer_stop(struct spool *s)
{
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->thread, NULL);
	s->running = false;
}
