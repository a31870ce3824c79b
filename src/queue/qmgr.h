/*
 * qmgr.h - the queue manager: an in-memory schedule of the spool. Deferred
 * messages wait on a timer heap for their next attempt (backoff doubling
 * from retry_min to retry_max with jitter, given up after
 * max_queue_lifetime); due ones wait in ready queues per destination
 * domain, where tenants take turns, and are started on the delivery
 * engine (delivery/deliver.h) as far as each domain's site allows. The
 * engine reports each attempt back through a callback. Rebuilt from the
 * spool alone at start.
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
	long long   tenant;       /* 0: mail of no tenant */
	const char *domain;       /* its destination domain as queued ("" not known yet) */
};

typedef void (*qmgr_view_fn)(void *arg, const struct qmgr_view *v);

/* h: what the delivery threads use (copied). */
struct qmgr *qmgr_new(const struct deliver_handles *h);
/* Load every message of queue/ and hold/; returns how many. */
long qmgr_load(struct qmgr *q);
/* Start/stop delivery (nthreads: the engine's worker threads; stop: let
 * attempts in progress end, briefly). */
int  qmgr_start(struct qmgr *q, int nthreads);
void qmgr_stop(struct qmgr *q);
void qmgr_free(struct qmgr *q);

/* A message was just committed to queue/ (from the spool committer):
 * tenant (0: none) and the domain of its first recipient ("" if none)
 * key it in the queues until its first attempt says better. */
void qmgr_msg_add(struct qmgr *q, const char *id, long long tenant, const char *domain);

/* A message was just committed into hold/ at arrival (a milter's
 * quarantine; review: its tenant is under review, and `tenant resume`
 * releases it): listed as held until released. */
void qmgr_msg_held(struct qmgr *q, const char *id, long long tenant, const char *domain, bool review);
/* What the hold reason of a message held for its tenant's review says
 * (smtp_tenant.c writes it; qmgr_load recognises it after a restart). */
#define QMGR_REVIEW_MARK " under review: "

/* The configuration was reloaded (delivery on, other limits): dispatch now. */
void qmgr_conf_changed(struct qmgr *q);

/* Operator actions; id NULL for flush means every deferred message.
 * Return 0, or -1 when there is no such message (or it is busy). */
int qmgr_hold(struct qmgr *q, const char *id);
int qmgr_release(struct qmgr *q, const char *id);
int qmgr_flush(struct qmgr *q, const char *id);
int qmgr_delete(struct qmgr *q, const char *id);
int qmgr_requeue(struct qmgr *q, const char *id);   /* forget backoff, retry now */
/* Release every message held for its tenant's suspension or review, sent
 * as tenant_id (its tenant was resumed); returns how many. A message the
 * operator held (qmgr_hold) or a filter quarantined stays held. */
long qmgr_release_tenant(struct qmgr *q, long long tenant_id);
/* Visit every message (list) or one (show; -1 when unknown). */
size_t qmgr_list(struct qmgr *q, qmgr_view_fn fn, void *arg);
/* Which messages qmgr_list_filter visits: zero fields match all. */
struct qmgr_filter {
	bool        held;         /* only held ones */
	long long   tenant;       /* only this tenant's (0: any) */
	const char *domain;       /* only to this destination domain (NULL: any) */
	const char *site;         /* only to domains whose mail last went to this site, as the
	                           * summary names it (NULL: any; none while delivery is off) */
	const char *after;        /* only ids after this one (a page's cursor; NULL: from the first) */
	size_t      limit;        /* at most this many (0: all) */
};
/* The same as qmgr_list for the messages f selects (the HTTP API): the
 * filter is applied before any queue file is read. */
size_t qmgr_list_filter(struct qmgr *q, const struct qmgr_filter *f, qmgr_view_fn fn, void *arg);
/* Why qmgr_hold, _release, _delete, _requeue or _flush (action: "hold",
 * ...) refused id, for the operator: 0 with the reason in why, or -1 when
 * there is no such message. */
int qmgr_refusal(struct qmgr *q, const char *action, const char *id, char *why, size_t len);
int qmgr_show(struct qmgr *q, const char *id, qmgr_view_fn fn, void *arg);
/* How many messages are in each state now (ferryd's metrics): one pass
 * over the table under the lock, as for list. */
struct qmgr_state_counts {
	long ready, active, deferred, held;
};
void qmgr_state_count(struct qmgr *q, struct qmgr_state_counts *out);
/* The envelope of a queued or held message as its file holds it (every
 * recipient with its state); 0, or -1 when unknown or unreadable. The
 * caller frees env with spool_env_free. */
struct spool_env;
int qmgr_envelope(struct qmgr *q, const char *id, struct spool_env *env);

/* ---- queue summary and suspension (ferryctl queue summary|suspend|resume) ----
 * A row of the summary, in the spirit of Postfix's qshape: by destination
 * site (what delivery connects to: an MX host set or a fixed next hop, per
 * source address), by destination domain, and by tenant. */
enum qmgr_row_kind { QMGR_ROW_SITE, QMGR_ROW_DOMAIN, QMGR_ROW_TENANT };

struct qmgr_summary_row {
	enum qmgr_row_kind kind;
	const char *name;         /* site: "mx1.example.net,mx2.example.net" (or
	                           * "smtp:HOST:PORT", "lmtp:..."); domain; tenant: its id
	                           * in decimal ("0": mail of no tenant) */
	const char *source;       /* site: the source address ("" the system's choice); else "" */
	long        ready;        /* due now, waiting for a delivery slot */
	long        scheduled;    /* deferred, waiting for their next attempt */
	long        active;       /* in delivery now */
	long        held;         /* in hold/ (domain and tenant rows) */
	int         conns_open;   /* site: connections open (busy or idle) */
	int         conns_busy;   /* site: connections in a transaction */
	int         limit;        /* site: connections allowed now (shaping included) */
	bool        suspended;    /* by the operator (ferryctl queue suspend) */
	const char *shaping;      /* site: "" or what shaping holds in force, e.g.
	                           * "connections=2 until=1733230000 rule=gmail-throttle" */
};

typedef void (*qmgr_summary_fn)(void *arg, const struct qmgr_summary_row *row);

/* Every site, domain and tenant with mail queued, in flight, held,
 * suspended or shaped. */
void qmgr_summary(struct qmgr *q, qmgr_summary_fn fn, void *arg);

/* Suspend or resume delivery to a destination (a domain, an MX host name
 * or a site name as the summary shows it) or of a tenant's mail (kind
 * QMGR_ROW_TENANT, name its id in decimal). Suspended mail stays queued
 * and is not attempted; nothing expires or bounces for it. 0, or -1 when
 * resuming what was not suspended. Kept until resumed or ferryd restarts. */
int qmgr_suspend(struct qmgr *q, enum qmgr_row_kind kind, const char *name, bool suspend);

#endif
