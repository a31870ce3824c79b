/*
 * analytics.h - delivery statistics per tenant x destination domain x
 * source address x hour (sent, delivered, deferred, bounced, expired,
 * complaints, suppressed) and bounces per category with a sample reply,
 * gathered from the events outbox (an observer: counted in memory on the
 * emitting thread) and added to the state database's stats_hourly and
 * stats_bounces tables by the module's own thread every
 * ANALYTICS_FLUSH_SECONDS. Read by `ferryctl stats` and GET /v1/stats
 * (analytics_query.c). Kept ANALYTICS_KEEP (pruned hourly with the events).
 *
 * Memory is bounded: at most ANALYTICS_KEYS_MAX distinct keys wait in
 * memory; half of it wakes the thread early, beyond it new keys are
 * counted as dropped (logged at the next flush) until the thread catches up.
 * SECURITY: domains and replies come from remote peers: bound as values,
 * lowercased and cut to their maximums; never part of SQL text.
 */
#ifndef FERRY_ANALYTICS_ANALYTICS_H
#define FERRY_ANALYTICS_ANALYTICS_H

#include "db/db.h"
#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/events.h"

#define ANALYTICS_FLUSH_SECONDS 5
#define ANALYTICS_KEYS_MAX      20000        /* hourly + bounce keys waiting in memory */
#define ANALYTICS_KEEP          (90 * 86400)
#define ANALYTICS_DOMAIN_MAX    255
#define ANALYTICS_IP_MAX        63
#define ANALYTICS_CATEGORY_MAX  63
#define ANALYTICS_SAMPLE_MAX    500          /* a sample reply is cut here */
#define ANALYTICS_UNCLASSIFIED  "unclassified"

/* The counters of one key, in the order of the table's columns. */
enum analytics_counter {
	AN_SENT, AN_DELIVERED, AN_DEFERRED, AN_BOUNCED, AN_EXPIRED, AN_COMPLAINED, AN_SUPPRESSED,
	AN_NCOUNTERS
};

struct analytics;

/* Open on the state database at db_path (its own connection), and start
 * the flushing thread unless start is false (tests flush by hand).
 * NULL with err. */
struct analytics *analytics_open(const char *db_path, bool start, char *err, size_t errlen);
/* Stop the thread, write what is pending, free. NULL is fine. */
void analytics_close(struct analytics *a);
/* The outbox observer (outbox_observe(analytics_event_note, a)): quick,
 * any thread. */
void analytics_event_note(void *arg, const struct state_event *ev);
/* Write what is pending now. 0, or -1 (kept in memory for the next try). */
int analytics_flush(struct analytics *a);
/* Keys dropped because memory was full, since open. */
unsigned long long analytics_dropped(const struct analytics *a);

/* Delete rows older than ANALYTICS_KEEP before now (the hourly prune of
 * the reputation thread, with the events). 0 or -1. */
int analytics_prune(struct db *db, time_t now);

/* The lowercased domain of address rcpt into out (size
 * ANALYTICS_DOMAIN_MAX + 1): "" when it has none. */
void analytics_domain_of(const char *rcpt, char *out, size_t outsz);

#endif
