/*
 * feedback.h - the loop that learns from what comes back: a refusal during
 * delivery (a 5xx to RCPT) or a report that reaches a tenant's return path
 * or complaint address (an RFC 3464 DSN, a non-standard bounce, an RFC 5965
 * complaint, an auto-reply) becomes an event with its category
 * (classify.h), a suppression of the recipient when the category says so
 * (state/suppress.h), and counts in the tenant's reputation windows
 * (reputation/rep.h), which may throttle or suspend the tenant.
 * Threads: called from delivery's worker threads; everything it touches
 * is thread-safe (per-thread database connections, immutable rules).
 */
#ifndef FERRY_FEEDBACK_FEEDBACK_H
#define FERRY_FEEDBACK_FEEDBACK_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct state;
struct classify_rules;
struct rep;
struct spool_env;

/* What the loop works with; filled by its caller from the configuration. */
struct feedback {
	struct state                *st;
	const struct classify_rules *rules;
	struct rep                  *rep;            /* may be NULL (tests, ferryctl) */
	const char                  *complaint_local;  /* "fbl": complaints go to fbl@<bounce domain> */
	int                          soft_threshold, soft_window, soft_expiry;   /* seconds */
};

/* One failure of a tenant's recipient, however it was learnt. */
struct state_event;

struct feedback_failure {
	long long   tenant_id;
	const char *tenant;        /* its name for logs, or NULL */
	const char *queue_id;      /* the tenant's message, "" when unknown */
	int         rcpt_index;    /* -1 when unknown */
	const char *rcpt;          /* the recipient's address, "" when unknown or unverified:
	                            * only this one is suppressed */
	const char *claimed;       /* what a report named (logged), NULL: rcpt */
	int         code;          /* SMTP reply code, 0 when unknown */
	const char *status;        /* enhanced status, "" or NULL when unknown */
	const char *text;          /* the reply or diagnostic text */
	const char *source;        /* sync, or the report's format (rfc3464, gmail...) */
	const char *report_id;     /* the report's queue id, "" for sync */
	const struct state_event *delivery;  /* sync: the delivery's fields for the event
	                                        (site, source IP, attempt...), or NULL */
};

/* Classify a permanent failure, record its event, suppress the recipient
 * (hard: at once; soft: after soft_threshold failures in soft_window; a
 * "sender" category: never, log suppressed=sender) and count it. 0, or -1 when the state database failed (try again). */
int feedback_failure_note(const struct feedback *f, const struct feedback_failure *x, time_t now);

/* A report message in the queue (spool_env.report): parse it and apply it
 * for each of its pending recipients (return-path tokens, complaint
 * addresses), setting done[i] (env->nrcpts of them, false on entry) for
 * each one finished; the others wait for a retry (database errors). -1
 * when the report cannot be read at all. */
int feedback_report_process(const struct feedback *f, const struct spool_env *env, int fd, time_t now,
    bool *done);

#endif
