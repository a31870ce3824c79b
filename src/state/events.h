/*
 * events.h - what happened to a tenant's mail, one row per event (table
 * events of the state database): bounces (a refusal during delivery or an
 * asynchronous DSN), complaints (ARF), auto-replies, reports ferry could
 * not read, suppressions. The feedback loop writes them (src/feedback/);
 * operators read them (`ferryctl events`), the reputation windows count
 * them, and webhooks will send them.
 * SECURITY: the text fields come from remote peers; they are bound as
 * values, never part of SQL, and bounded by the caller.
 */
#ifndef FERRY_STATE_EVENTS_H
#define FERRY_STATE_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct state;

/* How long events are kept (pruned hourly by ferryd with the reputation
 * buckets): reports come back within days, complaints within weeks. */
#define EVENTS_KEEP (90 * 86400)

struct state_event {
	time_t      time;
	long long   tenant_id;
	const char *kind;         /* bounce, delayed, complaint, autoreply, report-unrecognized, suppressed */
	const char *queue_id;     /* the tenant's message, "" when unknown */
	int         rcpt_index;   /* its recipient, -1 when unknown */
	const char *rcpt;         /* the recipient's address, "" when unknown */
	const char *category;     /* the classifier's category (bounces), else "" */
	bool        hard;
	const char *status;       /* enhanced status "5.1.1", or "" */
	const char *detail;       /* the reply or diagnostic text, the feedback type... */
	const char *source;       /* sync, dsn, bounce, arf, autoreply, ... */
	const char *report_id;    /* the queue id of the report it came in, "" when none */
};

/* Record n events in one transaction. 0 or -1. */
int state_events_record(struct state *st, const struct state_event *ev, size_t n);

/* Is there an event of kind for this recipient (index and address, ""
 * when unknown) of this message? 1, 0, -1. */
int state_event_seen(struct state *st, long long tenant_id, const char *kind, const char *queue_id,
    int rcpt_index, const char *rcpt);

typedef void (*state_event_fn)(void *arg, const struct state_event *ev);
/* The last limit events of tenant_id (0: every tenant), newest first. */
int state_events_list(struct state *st, long long tenant_id, const char *kind, long limit,
    state_event_fn fn, void *arg);

#endif
