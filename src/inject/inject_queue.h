/*
 * inject_queue.h - queueing a message injected over the HTTP API as its
 * tenant's mail: the same rules as SMTP submission (policy/tenant_send.h:
 * suspension, sender domains for the envelope and From:, reputation
 * enforcement, rate limits, suppression list) and the same spool, with
 * the tenant's 'G' record, so delivery signs and routes it as it does the
 * tenant's SMTP mail.
 * SECURITY: the tenant is the listener's authenticated one; the message
 * was validated by inject_json.h. The result comes back only once the
 * queue file and its directory entry are on stable storage (the spool's
 * group commit).
 */
#ifndef FERRY_INJECT_INJECT_QUEUE_H
#define FERRY_INJECT_INJECT_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "inject/inject_json.h"
#include "spool/spool.h"

struct state;
struct counters;
struct rep;
struct qmgr;
struct conf;

struct inject_env {
	struct state      *st;
	struct counters   *counters;
	struct rep        *rep;
	struct spool      *spool;
	struct qmgr       *qmgr;
	const struct conf *c;
};

/* Why a message was not queued; each maps to one HTTP status. */
enum inject_result {
	INJECT_Q_OK,            /* 202: queued (or every recipient suppressed) */
	INJECT_Q_BAD,           /* 400: too many recipients for the tenant */
	INJECT_Q_FORBIDDEN,     /* 403: a sender domain that is not the tenant's */
	INJECT_Q_SUSPENDED,     /* 403 */
	INJECT_Q_TOO_BIG,       /* 413 */
	INJECT_Q_LIMITED,       /* 429: a rate limit, or the tenant is throttled */
	INJECT_Q_UNAVAILABLE,   /* 503: state, counters or spool failed: try again */
};

struct inject_outcome {
	char    id[SPOOL_ID_LEN + 1];   /* the queue id, "" when nothing was queued */
	bool   *suppressed;             /* per recipient of the message (owned) */
	bool    held;                   /* queued into hold/ (the tenant is under review) */
	char    text[512];              /* why not (for people) */
};

/* Queue m for tenant_id (the request came from client_ip). out is filled
 * either way; free it with inject_outcome_free. */
enum inject_result inject_queue(const struct inject_env *e, long long tenant_id, const char *client_ip,
    const struct inject_msg *m, struct inject_outcome *out);
void inject_outcome_free(struct inject_outcome *out);

#endif
