/*
 * webhook_sender.h - ferryd's webhook sender: one thread that POSTs each
 * endpoint's new events (table events, after the endpoint's cursor) in
 * signed JSON batches through a libcurl multi handle, at least once:
 * the cursor moves only after a 2xx, and it is kept in the webhooks table
 * with the retry state, so a restart resumes. A failing endpoint is
 * retried with backoff (webhook_retry_min doubling to an hour, jittered)
 * and after webhook_retry_limit of failure its batch is dropped with a
 * webhook-dropped event. Endpoints are independent: each has at most one
 * POST in flight, and a slow one holds only its own slot.
 *
 * Mail never waits for it: the sender reads the events table on its own
 * connection and its own thread; the outbox only wakes it (a commit
 * callback), and a 1 s tick catches events recorded outside the outbox.
 * The sender is process-wide, like the outbox.
 */
#ifndef FERRY_WEBHOOK_WEBHOOK_SENDER_H
#define FERRY_WEBHOOK_WEBHOOK_SENDER_H

#include <stddef.h>

struct state;
struct conf;

#define WEBHOOK_RETRY_MAX 3600     /* the backoff's ceiling, seconds */

struct webhook_opts {
	long long   batch_max;     /* events per POST */
	long long   timeout;       /* seconds for one POST, connection included */
	long long   retry_min;     /* the first backoff, seconds */
	long long   retry_limit;   /* seconds of failure before a batch is dropped */
	long long   concurrency;   /* POSTs in flight at once, all endpoints */
	const char *ca_file;       /* NULL: the system's CAs (copied) */
};

/* The options of c (webhook_* and tls_ca_file). */
void webhook_opts_from_conf(struct webhook_opts *o, const struct conf *c);

/* Once, before any other thread starts and before outbox_start: libcurl's
 * global state and the outbox's commit callback. */
void webhook_sender_init(void);
/* Start the thread on the state database st (opened; the thread uses its
 * own connection). 0, or -1 with err. */
int webhook_sender_start(struct state *st, const struct webhook_opts *o, char *err, size_t errlen);
/* New options (reload): taken at the thread's next turn. */
void webhook_sender_set(const struct webhook_opts *o);
/* Stop the thread: POSTs in flight are abandoned, their batches sent
 * again at the next start (at least once). Before st is closed. */
void webhook_sender_stop(void);

/* Counters since the start of the process (metrics: ferry_webhook_*). */
struct webhook_stats {
	unsigned long long batches_sent;     /* POSTs answered 2xx */
	unsigned long long events_sent;      /* events in them */
	unsigned long long failures;         /* POSTs that failed (status or transport) */
	unsigned long long batches_dropped;  /* given up after webhook_retry_limit */
	unsigned long long events_dropped;
	unsigned           endpoints;        /* endpoints known now */
	unsigned           in_flight;        /* POSTs in flight now */
	unsigned           failing;          /* endpoints failing now */
};
/* A consistent-enough copy (each field read atomically). Any thread. */
void webhook_stats(struct webhook_stats *out);

#endif
