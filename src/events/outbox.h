/*
 * outbox.h - the one way events leave ferry's code paths: the SMTP loop,
 * delivery and the feedback loop hand each event to outbox_emit, which
 * copies it and returns at once (no disk, no network on those paths). A
 * writer thread commits what gathered to the state database's events
 * table every OUTBOX_FLUSH_MS, in one transaction; webhooks and the HTTP
 * API then read the same rows. Observers (metrics, analytics, the webhook
 * sender's wake-up) see each event as it is emitted, on the emitting
 * thread, and must be quick and thread-safe.
 *
 * Durability: an event is on disk within OUTBOX_FLUSH_MS of its emission;
 * a crash (not a clean stop, which flushes) can lose that last fraction of
 * a second of events, never mail: the queue file and the log keep the
 * outcome. Events wait in memory while the database is unavailable, up to
 * OUTBOX_PENDING_MAX; beyond that new ones are counted and dropped (logged).
 *
 * The outbox is process-wide, like the log: ferryd starts it once; in
 * ferryctl and unit tests (never started) outbox_emit only calls observers.
 */
#ifndef FERRY_EVENTS_OUTBOX_H
#define FERRY_EVENTS_OUTBOX_H

#include <stddef.h>

#include "state/events.h"

#define OUTBOX_FLUSH_MS    200
#define OUTBOX_PENDING_MAX 200000

/* Start the writer on the state database at db_path. 0 or -1 (err set). */
int outbox_start(const char *db_path, char *err, size_t errlen);
/* Flush what is pending and stop the writer. */
void outbox_stop(void);

/* Queue one event (copied; time 0 means now). Any thread. */
void outbox_emit(const struct state_event *ev);
/* Tell observers of events a caller recorded itself (state_events_record). */
void outbox_recorded(const struct state_event *ev, size_t n);
/* Commit what is pending now (tests, shutdown). 0 or -1. */
int outbox_flush(void);

/* Called for every event, on the emitting thread. Register before
 * outbox_start; at most OUTBOX_OBSERVERS_MAX. */
#define OUTBOX_OBSERVERS_MAX 8
typedef void (*outbox_observer_fn)(void *arg, const struct state_event *ev);
int outbox_observe(outbox_observer_fn fn, void *arg);
/* Called by the writer after each commit (the webhook sender's wake-up). */
typedef void (*outbox_commit_fn)(void *arg);
int outbox_on_commit(outbox_commit_fn fn, void *arg);

/* Events pending in memory, and dropped since start (metrics). */
size_t outbox_pending(void);
unsigned long long outbox_dropped(void);

#endif
