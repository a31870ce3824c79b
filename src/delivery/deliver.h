/*
 * deliver.h - deliver one queued message: route each pending recipient
 * (Maildir, LMTP, a smarthost or the domain's MX hosts), record every
 * outcome in the queue file, send delivery status notifications, and remove
 * the message once nothing is left to do. Runs on a delivery thread; each
 * thread owns a deliver_ctx (its resolver and its cached connection).
 */
#ifndef FERRY_DELIVERY_DELIVER_H
#define FERRY_DELIVERY_DELIVER_H

#include <stdbool.h>
#include <time.h>

struct qmgr;
struct deliver_ctx;
struct spool;
struct state;
struct counters;
struct server_snaps;

/* What delivery uses of the daemon, and nothing else. */
struct deliver_handles {
	struct spool        *spool;     /* the queue files and DSNs */
	struct state        *state;     /* tenants, DKIM keys, warm-up; NULL: none */
	struct counters     *counters;  /* pools' and providers' rate limits */
	struct server_snaps *snaps;     /* the current configuration */
};

struct deliver_outcome {
	int    ndeferred;          /* recipients left for a later attempt */
	bool   removed;            /* message finished and removed */
	bool   unreadable;         /* the file could not be parsed (moved aside) */
	bool   held;               /* moved to hold/ (its tenant is suspended) */
	bool   warned;             /* a delay warning was sent this time */
	time_t next_try;           /* when ndeferred > 0 */
	char   last_error[256];
};

/* h must outlive the context (the queue manager keeps it). */
struct deliver_ctx *deliver_ctx_new(const struct deliver_handles *h, struct qmgr *q);
void deliver_ctx_free(struct deliver_ctx *d);
/* Close a cached connection that has been idle (called between jobs). */
void deliver_ctx_idle(struct deliver_ctx *d);

struct conf;
/* Log a warning for each route that sends auth= to an unverified peer. */
void deliver_routes_tls_warn(const struct conf *c);

/* attempts: tries so far; warned: a delay warning was already sent. */
void deliver_message(struct deliver_ctx *d, const char *id, int attempts, bool warned,
    struct deliver_outcome *out);

#endif
