/*
 * qmgr.h - the queue manager: an in-memory schedule of the spool. Messages
 * ready now wait in per-destination queues; deferred ones wait for their
 * next attempt (backoff doubling from retry_min to retry_max, given up
 * after max_queue_lifetime). Delivery threads take jobs from it and report
 * per-recipient outcomes back. Rebuilt from the spool alone at start.
 * Thread-safety: every function may be called from any thread.
 */
#ifndef FERRY_QUEUE_QMGR_H
#define FERRY_QUEUE_QMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "spool/spool.h"

struct qmgr;
struct deliver_handles;

/* A snapshot of one message, for ferryctl queue list/show. */
struct qmgr_view {
	const char *id;
	const char *state;        /* "active", "ready", "deferred", "hold" */
	time_t      arrival;
	time_t      next_try;     /* 0 when not deferred */
	uint64_t    size;
	const char *sender;
	const char *const *rcpts; /* recipients still to deliver */
	size_t      nrcpts;
	int         attempts;
	const char *last_error;   /* "" when none */
};

typedef void (*qmgr_view_fn)(void *arg, const struct qmgr_view *v);

/* h: what the delivery threads use (copied). */
struct qmgr *qmgr_new(const struct deliver_handles *h);
/* Load every message of queue/ and hold/; returns how many. */
long qmgr_load(struct qmgr *q);
/* Start/stop the delivery threads (stop: let current deliveries finish). */
int  qmgr_start(struct qmgr *q, int nthreads);
void qmgr_stop(struct qmgr *q);
void qmgr_free(struct qmgr *q);

/* A message was just committed to queue/ (from the spool committer). */
void qmgr_msg_add(struct qmgr *q, const char *id);

/* Operator actions; id NULL for flush means every deferred message.
 * Return 0, or -1 when there is no such message (or it is busy). */
int qmgr_hold(struct qmgr *q, const char *id);
int qmgr_release(struct qmgr *q, const char *id);
int qmgr_flush(struct qmgr *q, const char *id);
int qmgr_delete(struct qmgr *q, const char *id);
int qmgr_requeue(struct qmgr *q, const char *id);   /* forget backoff, retry now */
/* Release every message held for its tenant's suspension, sent as
 * tenant_id (its tenant was resumed); returns how many. A message the
 * operator held (qmgr_hold) stays held. */
long qmgr_release_tenant(struct qmgr *q, long long tenant_id);
/* Visit every message (list) or one (show; -1 when unknown). */
size_t qmgr_list(struct qmgr *q, qmgr_view_fn fn, void *arg);
int qmgr_show(struct qmgr *q, const char *id, qmgr_view_fn fn, void *arg);
/* The envelope of a queued or held message as its file holds it (every
 * recipient with its state); 0, or -1 when unknown or unreadable. The
 * caller frees env with spool_env_free. */
struct spool_env;
int qmgr_envelope(struct qmgr *q, const char *id, struct spool_env *env);

#endif
