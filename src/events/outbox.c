/*
 * outbox.c - the events outbox (outbox.h): emitters append a copy to a
 * list under one mutex; a writer thread takes the whole list every
 * OUTBOX_FLUSH_MS (or sooner when OUTBOX_BATCH gathered) and commits it in
 * one transaction, so thousands of events a second cost one fsync-free
 * SQLite commit each fifth of a second, not one each.
 * Threads: outbox_emit from any thread; the writer owns its own state
 * connection; outbox_flush serializes with the writer through write_lock.
 */
#include "events/outbox.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "state/state.h"
#include "util/log.h"
#include "util/xmalloc.h"

#define OUTBOX_BATCH 512   /* wake the writer early at this many pending */

struct outbox_item {
	struct state_event ev;    /* strings point into text */
	char              *text;
};

struct outbox_observer {
	outbox_observer_fn fn;
	void              *arg;
};

struct outbox_commit {
	outbox_commit_fn fn;
	void            *arg;
};

static struct {
	pthread_mutex_t        lock;        /* pending, flags */
	pthread_cond_t         wake;
	pthread_mutex_t        write_lock;  /* one committer at a time */
	struct outbox_item    *pending;
	size_t                 npending, cap;
	unsigned long long     dropped;
	bool                   started, stopping;
	pthread_t              thread;
	struct state          *st;
	struct outbox_observer observers[OUTBOX_OBSERVERS_MAX];
	size_t                 nobservers;
	struct outbox_commit   commits[OUTBOX_OBSERVERS_MAX];
	size_t                 ncommits;
} ob = {
	.lock = PTHREAD_MUTEX_INITIALIZER,
	.wake = PTHREAD_COND_INITIALIZER,
	.write_lock = PTHREAD_MUTEX_INITIALIZER,
};

int
outbox_observe(outbox_observer_fn fn, void *arg)
{
	if (ob.nobservers >= OUTBOX_OBSERVERS_MAX)
		return -1;
	ob.observers[ob.nobservers++] = (struct outbox_observer){ fn, arg };
	return 0;
}

int
outbox_on_commit(outbox_commit_fn fn, void *arg)
{
	if (ob.ncommits >= OUTBOX_OBSERVERS_MAX)
		return -1;
	ob.commits[ob.ncommits++] = (struct outbox_commit){ fn, arg };
	return 0;
}

static void
outbox_notify(const struct state_event *ev)
{
	for (size_t i = 0; i < ob.nobservers; i++)
		ob.observers[i].fn(ob.observers[i].arg, ev);
}

/* Copy one text field into the item's block (bounded like the table). */
static const char *
outbox_text_put(char **at, const char *v)
{
	size_t n = v != NULL ? strnlen(v, EVENT_TEXT_MAX) : 0;
	char *s = *at;

	memcpy(s, v != NULL ? v : "", n);
	s[n] = '\0';
	*at += n + 1;
	return s;
}

static size_t
outbox_text_len(const char *v)
{
	return (v != NULL ? strnlen(v, EVENT_TEXT_MAX) : 0) + 1;
}

static void
outbox_copy(struct outbox_item *it, const struct state_event *ev)
{
	const char *const *f[] = { &ev->kind, &ev->queue_id, &ev->rcpt, &ev->category, &ev->status,
	    &ev->detail, &ev->source, &ev->report_id, &ev->message_id, &ev->sender, &ev->source_ip, &ev->site };
	const char **g[] = { &it->ev.kind, &it->ev.queue_id, &it->ev.rcpt, &it->ev.category, &it->ev.status,
	    &it->ev.detail, &it->ev.source, &it->ev.report_id, &it->ev.message_id, &it->ev.sender,
	    &it->ev.source_ip, &it->ev.site };
	size_t len = 0;
	char *at;

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		len += outbox_text_len(*f[i]);
	it->ev = *ev;
	it->text = at = xmalloc(len);
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		*g[i] = outbox_text_put(&at, *f[i]);
}

void
outbox_emit(const struct state_event *ev)
{
	struct state_event e = *ev;
	struct outbox_item it;

	if (e.time == 0)
		e.time = time(NULL);
	outbox_notify(&e);
	pthread_mutex_lock(&ob.lock);
	if (!ob.started || ob.stopping) {
		pthread_mutex_unlock(&ob.lock);
		return;
	}
	if (ob.npending >= OUTBOX_PENDING_MAX) {
		if (ob.dropped++ % 10000 == 0)
			log_error("event=outbox-full pending=%zu dropped=%llu reason=\"the state database is not"
			    " taking events; new ones are dropped (mail is unaffected)\"", ob.npending, ob.dropped);
		pthread_mutex_unlock(&ob.lock);
		return;
	}
	pthread_mutex_unlock(&ob.lock);
	outbox_copy(&it, &e);      /* the allocation outside the lock */
	pthread_mutex_lock(&ob.lock);
	if (ob.npending == ob.cap) {
		ob.cap = ob.cap ? ob.cap * 2 : 256;
		ob.pending = xrealloc(ob.pending, ob.cap * sizeof(*ob.pending));
	}
	ob.pending[ob.npending++] = it;
	if (ob.npending == OUTBOX_BATCH)
		pthread_cond_signal(&ob.wake);
	pthread_mutex_unlock(&ob.lock);
}

void
outbox_recorded(const struct state_event *ev, size_t n)
{
	for (size_t i = 0; i < n; i++)
		outbox_notify(&ev[i]);
	for (size_t i = 0; i < ob.ncommits; i++)
		ob.commits[i].fn(ob.commits[i].arg);
}

static void
outbox_items_free(struct outbox_item *v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i].text);
	free(v);
}

/* Put a batch the database refused back in front of what came since. */
static void
outbox_requeue(struct outbox_item *v, size_t n)
{
	pthread_mutex_lock(&ob.lock);
	if (ob.npending + n > ob.cap) {
		ob.cap = ob.npending + n;
		ob.pending = xrealloc(ob.pending, ob.cap * sizeof(*ob.pending));
	}
	memmove(ob.pending + n, ob.pending, ob.npending * sizeof(*ob.pending));
	memcpy(ob.pending, v, n * sizeof(*v));
	ob.npending += n;
	pthread_mutex_unlock(&ob.lock);
	free(v);
}

/* Commit everything pending. 0, or -1 with the batch kept. */
static int
outbox_commit_pending(void)
{
	struct outbox_item *v;
	struct state_event *evs;
	size_t n;
	int rc;

	pthread_mutex_lock(&ob.write_lock);
	pthread_mutex_lock(&ob.lock);
	v = ob.pending;
	n = ob.npending;
	ob.pending = NULL;
	ob.npending = ob.cap = 0;
	pthread_mutex_unlock(&ob.lock);
	if (n == 0) {
		pthread_mutex_unlock(&ob.write_lock);
		return 0;
	}
	evs = xcalloc(n, sizeof(*evs));
	for (size_t i = 0; i < n; i++)
		evs[i] = v[i].ev;
	rc = ob.st != NULL ? state_events_record(ob.st, evs, n) : -1;
	free(evs);
	if (rc == 0)
		outbox_items_free(v, n);
	else
		outbox_requeue(v, n);
	pthread_mutex_unlock(&ob.write_lock);
	if (rc == 0)
		for (size_t i = 0; i < ob.ncommits; i++)
			ob.commits[i].fn(ob.commits[i].arg);
	return rc;
}

static void *
outbox_writer(void *arg)
{
	bool failing = false;

	(void)arg;
	pthread_mutex_lock(&ob.lock);
	while (!ob.stopping) {
		struct timespec until;
		clock_gettime(CLOCK_REALTIME, &until);
		until.tv_nsec += (long)(failing ? 1000 : OUTBOX_FLUSH_MS) * 1000000L;
		until.tv_sec += until.tv_nsec / 1000000000L;
		until.tv_nsec %= 1000000000L;
		if (ob.npending < OUTBOX_BATCH)
			pthread_cond_timedwait(&ob.wake, &ob.lock, &until);
		pthread_mutex_unlock(&ob.lock);
		int rc = outbox_commit_pending();
		if (rc < 0 && !failing)
			log_error("event=outbox-error reason=\"cannot write events to the state database; kept in"
			    " memory and retried\"");
		failing = rc < 0;
		pthread_mutex_lock(&ob.lock);
	}
	pthread_mutex_unlock(&ob.lock);
	return NULL;
}

int
outbox_start(const char *db_path, char *err, size_t errlen)
{
	if (ob.started)
		return 0;
	if ((ob.st = state_open(db_path, err, errlen)) == NULL)
		return -1;
	ob.stopping = false;
	ob.started = true;
	if (pthread_create(&ob.thread, NULL, outbox_writer, NULL) != 0) {
		snprintf(err, errlen, "cannot start the events writer: %s", strerror(errno));
		ob.started = false;
		state_close(ob.st);
		ob.st = NULL;
		return -1;
	}
	return 0;
}

void
outbox_stop(void)
{
	if (!ob.started)
		return;
	pthread_mutex_lock(&ob.lock);
	ob.stopping = true;
	pthread_cond_signal(&ob.wake);
	pthread_mutex_unlock(&ob.lock);
	pthread_join(ob.thread, NULL);
	if (outbox_commit_pending() < 0)
		log_error("event=outbox-error pending=%zu reason=\"events not written at shutdown\"", ob.npending);
	pthread_mutex_lock(&ob.lock);
	outbox_items_free(ob.pending, ob.npending);
	ob.pending = NULL;
	ob.npending = ob.cap = 0;
	ob.started = false;
	pthread_mutex_unlock(&ob.lock);
	state_close(ob.st);
	ob.st = NULL;
}

int
outbox_flush(void)
{
	return ob.started ? outbox_commit_pending() : 0;
}

size_t
outbox_pending(void)
{
	size_t n;

	pthread_mutex_lock(&ob.lock);
	n = ob.npending;
	pthread_mutex_unlock(&ob.lock);
	return n;
}

unsigned long long
outbox_dropped(void)
{
	unsigned long long n;

	pthread_mutex_lock(&ob.lock);
	n = ob.dropped;
	pthread_mutex_unlock(&ob.lock);
	return n;
}
