/*
 * site.h - the ready queues of outbound delivery: one per egress path,
 * that is source address x destination site (an MX host set, a fixed next
 * hop, or a provider that groups several). Each has its own connection
 * limit, messages per connection and rate; a delivery waits for a
 * connection of its path, and within a path tenants take turns, so one
 * slow, throttled or dead site holds only its own deliveries and one
 * tenant's backlog never starves another's few messages.
 * Automatic traffic shaping (shaping/shape_rules.h) tightens a path for a
 * while when a peer's reply asks for it; the operator can suspend a site.
 * Thread-safety: the loop thread only (outbound coroutines), except
 * site_table_snapshot, which any other thread may call (the copy is made on
 * the loop).
 */
#ifndef FERRY_DELIVERY_SITE_H
#define FERRY_DELIVERY_SITE_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "shaping/shape_rules.h"

struct mta_conn;
struct mta_reply;
struct site;
struct site_table;
struct coro_sched;

#define SITE_NAME_MAX 512
#define SITE_KEY_MAX  600

/* A connection slot held by one delivery, and the connection riding on it. */
struct site_lease {
	struct site     *site;
	struct mta_conn *conn;          /* NULL: none open yet (open one, it stays in the slot) */
	char             key[SITE_KEY_MAX]; /* what conn was opened for (address, source, TLS, ...) */
	long long        msgs;          /* transactions conn has carried */
};

/* The limits a delivery asks for: the configuration's (or a provider's). */
struct site_limits {
	int        connections;         /* at most this many open at once */
	long long  rate;                /* transactions a minute, 0: no limit */
	long long  msgs_per_conn;
	int        idle_ms;             /* an idle connection is closed after this */
};

struct site_table *site_table_new(struct coro_sched *s);
void site_table_free(struct site_table *t);

/* Wait (at most wait_ms) for a slot of path (name, source) for tenant
 * (weight: slots it gets at each turn while other tenants wait);
 * 0 with lease filled (maybe with an idle connection to reuse), -1 with
 * why (451 4.4.5) when none came in time or the path is suspended
 * (*retry_at then says when it may be tried again). Coroutine only. */
int site_acquire(struct site_table *t, const char *name, const char *source, long long tenant,
    int weight, const struct site_limits *lim, long wait_ms, struct site_lease *lease,
    struct mta_reply *why, time_t *retry_at);
/* Give the slot back: its connection (if not NULL and reusable) goes to the
 * next waiting tenant, or waits idle for one; else it is closed. */
void site_release(struct site_table *t, struct site_lease *lease, bool reusable);
/* Close lease->conn (QUIT, without waiting on it) and keep the slot. */
void site_lease_close(struct site_table *t, struct site_lease *lease);

/* A peer of path (name, source) replied r: apply the first shaping rule
 * that matches (rules NULL: none); logs event=shaping. */
void site_shape(struct site_table *t, const char *name, const char *source, const struct shape_rules *rules,
    const struct mta_reply *r);

/* The operator's suspension of a site (any source), or of a domain's
 * mail; -1 when resuming what was not suspended. */
int  site_suspend(struct site_table *t, const char *name, bool suspend);
bool site_suspended(const struct site_table *t, const char *name);

/* How many more of domain's messages may start delivery now: twice the
 * connections its site allows now, less the messages in delivery toward
 * that site from all its domains (a domain whose site is not known yet:
 * one, while none of its own is in delivery); 0 or less while the site is
 * suspended. */
long site_domain_room(struct site_table *t, const char *domain, int conns, long domain_active);
/* Is domain's mail held by an operator's suspension (of it or its site)? */
bool site_domain_suspended(struct site_table *t, const char *domain);
/* A message of domain starts delivery: counted against its site until
 * site_domain_end(token). */
void *site_domain_start(struct site_table *t, const char *domain);
void site_domain_end(void *token);
/* Remember that domain's mail goes to site name (for site_domain_room);
 * true when that was not known. */
bool site_domain_learn(struct site_table *t, const char *domain, const char *name);
/* The site domain's mail went to last, or NULL. */
const char *site_domain_site(struct site_table *t, const char *domain);

/* One path as the queue summary shows it. */
struct site_view {
	char  name[SITE_NAME_MAX];
	char  source[64];
	int   conns_open, conns_busy, limit, waiting;
	bool  suspended;
	char  shaping[256];           /* "" or "connections=2 until=T rule=NAME" */
};
/* Copies of every path with connections, waiters, shaping or a suspension,
 * and of every suspended name; and, for each of the ndomains domains, the
 * site its mail went to last in site_of[i] ("" unknown). Made on the loop
 * thread, callable from any other thread (it waits for the loop). *out is
 * malloc'd. */
size_t site_table_snapshot(struct site_table *t, struct site_view **out, const char *const *domains,
    size_t ndomains, char (*site_of)[SITE_NAME_MAX]);

/* Close idle connections past their time, drop expired shaping (logs
 * event=shaping-expired). Called on the loop about every second. */
void site_table_tick(struct site_table *t, time_t now);

#endif
