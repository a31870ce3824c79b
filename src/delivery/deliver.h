/*
 * deliver.h - the delivery engine below the queue manager: delivery
 * attempts of queued messages run as coroutines of one event loop (Maildir
 * and other blocking work on its worker threads), each routing every
 * pending recipient (Maildir, LMTP, a smarthost or the domain's MX hosts)
 * through the ready queue of its egress path (site.h), recording every
 * outcome in the queue file, sending delivery status notifications and
 * removing the message once nothing is left to do. The queue manager
 * learns the result through a callback; delivery never calls it.
 */
#ifndef FERRY_DELIVERY_DELIVER_H
#define FERRY_DELIVERY_DELIVER_H

#include <stdbool.h>
#include <time.h>

struct deliver_engine;
struct spool;
struct state;
struct counters;
struct server_snaps;
struct rep;

/* What delivery uses of the daemon, and nothing else. */
struct deliver_handles {
	struct spool        *spool;     /* the queue files and DSNs */
	struct state        *state;     /* tenants, DKIM keys, warm-up; NULL: none */
	struct counters     *counters;  /* pools' and providers' rate limits */
	bool                 counters_remote;  /* over the network (Redis): counted on a worker, never on the loop */
	struct server_snaps *snaps;     /* the current configuration */
	struct rep          *rep;       /* tenants' reputation windows; NULL: none */
	/* A new message was queued by delivery (a notification to rcpt): the
	 * queue manager's to schedule. Called from a worker thread. */
	void (*queued)(void *arg, const char *id, const char *rcpt);
	void                *queued_arg;
	/* A domain's site became known: more of its mail may start (loop thread). */
	void (*learned)(void *arg);
};

struct deliver_outcome {
	int    ndeferred;          /* recipients left for a later attempt */
	bool   removed;            /* message finished and removed */
	bool   unreadable;         /* the file could not be parsed (moved aside) */
	bool   held;               /* moved to hold/ (its tenant is suspended) */
	bool   warned;             /* a delay warning was sent this time */
	bool   not_tried;          /* every recipient waits for a suspended site:
	                            * nothing was attempted, nothing recorded */
	time_t next_try;           /* when ndeferred > 0 */
	char   last_error[256];
	long long tenant;          /* the message's tenant (0: none), for the queue's keys */
	int    weight;             /* and that tenant's delivery weight (0: not read this time) */
	char   domain[256];        /* the domain of its first recipient still pending, or "" */
};

/* h is copied. nworkers: threads for blocking work (spool, SQLite, DKIM). */
struct deliver_engine *deliver_engine_new(const struct deliver_handles *h, int nworkers);
int  deliver_engine_start(struct deliver_engine *e);
/* Stop the loop; attempts still running are abandoned where they wait
 * (their messages stay queued: a crash-safe point by construction). */
void deliver_engine_stop(struct deliver_engine *e);
void deliver_engine_free(struct deliver_engine *e);

/* Run fn(arg) on the engine's loop thread soon (any thread). */
void deliver_engine_post(struct deliver_engine *e, void (*fn)(void *), void *arg);
/* Run fn(arg) on the loop thread and wait for it (not from the loop). */
void deliver_engine_call(struct deliver_engine *e, void (*fn)(void *), void *arg);

typedef void (*deliver_done_fn)(void *arg, const struct deliver_outcome *out);
/* Start one attempt of message id (loop thread); done(arg, out) runs on
 * the loop thread when it ends. attempts: tries so far; warned: a delay
 * warning was already sent. -1: it cannot start now (no coroutine stack;
 * logged), done is not called. *load_token: what deliver_engine_domain_start
 * gave for it (NULL when its site was not known yet: the attempt fills it
 * in once it learns the site, and the caller ends it as usual). */
int  deliver_engine_run(struct deliver_engine *e, const char *id, int attempts, bool warned,
    deliver_done_fn done, void *arg, void **load_token);
/* Attempts running now. */
size_t deliver_engine_running(const struct deliver_engine *e);

/* Loop thread: how many more of domain's messages may start now (domains
 * on one site share its allowance; 0 or less: none, e.g. the site is
 * suspended), and the accounting of one that starts and ends. */
struct conf;
long deliver_engine_domain_room(struct deliver_engine *e, const struct conf *c, const char *domain,
    long domain_active);
void *deliver_engine_domain_start(struct deliver_engine *e, const char *domain);
/* Is domain's mail held by the operator's suspension of it or its site? */
bool deliver_engine_domain_suspended(struct deliver_engine *e, const char *domain);
void deliver_engine_domain_end(struct deliver_engine *e, void *token);
struct site_table *deliver_engine_sites(struct deliver_engine *e);
/* The loop's event base, for the queue manager's timer. */
struct event_base *deliver_engine_base(struct deliver_engine *e);

struct conf;
/* Log a warning for each route that sends auth= to an unverified peer. */
void deliver_routes_tls_warn(const struct conf *c);


#endif
