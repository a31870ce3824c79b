/*
 * events.h - what happened to mail, one row per event (table events of the
 * state database): every delivery outcome and decision (received,
 * delivered, deferred, bounced with its category, expired, held, released,
 * suppressed, shaping, a tenant throttled or suspended) and the feedback
 * loop's (complaints, auto-replies, delay notices, reports ferry could not
 * read). Writers go through the outbox (src/events/outbox.h), which batches
 * them; the feedback loop records its own synchronously (it needs them to
 * deduplicate reports). Readers: `ferryctl events`, the HTTP API, webhooks
 * (a cursor on id per endpoint), the reputation windows.
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

/* Event kinds: the names webhooks and the API show. */
#define EV_RECEIVED     "received"     /* a recipient accepted and queued (250 given) */
#define EV_DELIVERED    "delivered"
#define EV_DEFERRED     "deferred"     /* a temporary failure; retried */
#define EV_BOUNCED      "bounced"      /* a permanent failure: refusal or asynchronous DSN, with category */
#define EV_EXPIRED      "expired"      /* given up after max_queue_lifetime */
#define EV_SUPPRESSED   "suppressed"   /* dropped at RCPT: on the tenant's suppression list */
#define EV_COMPLAINED   "complained"   /* an ARF / JMRP complaint */
#define EV_DELAYED      "delayed"      /* a remote delay notice came back */
#define EV_AUTOREPLY    "autoreply"
#define EV_UNRECOGNIZED "report-unrecognized"
#define EV_HELD         "held"         /* by an operator, a content filter, a review or a suspension */
#define EV_RELEASED     "released"
#define EV_SHAPING      "shaping"      /* traffic shaping acted on a site (tenant 0) */
#define EV_THROTTLED    "throttled"    /* the tenant's enforcement (also review, suspended) */
#define EV_REVIEW       "review"
#define EV_SUSPENDED    "suspended"
#define EV_RESUMED      "resumed"      /* an operator lifted suspension, throttle and review */
#define EV_UNSUBSCRIBED "unsubscribed" /* a one-click unsubscribe (RFC 8058) */
#define EV_WEBHOOK_DROPPED "webhook-dropped"  /* a batch given up after the retry limit */

/* Every kind above, in that order (state_events.c): what the API's type=
 * and a webhook's --events may name. */
#define EVENT_KINDS_MAX 32
extern const char *const event_kinds[];
extern const size_t event_nkinds;
/* The kind named by the len octets at s (its EV_* string), or NULL. */
const char *event_kind_find(const char *s, size_t len);

/* This process's node name, recorded with every event it writes (a
 * cluster's nodes share one events table). Set once at start. */
void state_events_node_set(const char *name);
const char *state_events_node_get(void);

/* The bounded text fields, as stored (longer values are cut). */
#define EVENT_TEXT_MAX 1000

struct state_event {
	long long   id;           /* set when read back; the cursor of webhooks and the API */
	time_t      time;
	long long   tenant_id;    /* 0: not a tenant's mail */
	const char *kind;         /* EV_* */
	const char *queue_id;     /* the message, "" when unknown */
	int         rcpt_index;   /* its recipient, -1 when unknown */
	const char *rcpt;         /* the recipient's address, "" when unknown */
	const char *category;     /* the classifier's category (bounces), else "" */
	bool        hard;
	const char *status;       /* enhanced status "5.1.1", or "" */
	const char *detail;       /* the reply or diagnostic text, the feedback type, a reason... */
	const char *source;       /* sync, dsn, arf, operator, filter, review, ... */
	const char *report_id;    /* the queue id of the report it came in, "" when none */
	/* delivery fields ("" / 0 when not known) */
	const char *message_id;   /* the Message-ID header's value */
	const char *sender;       /* the envelope sender */
	const char *source_ip;    /* the local address mail went out from (or came in on) */
	const char *site;         /* the destination: domain's site, or the relay "host[addr]:port" */
	int         code;         /* the SMTP reply code */
	int         attempt;      /* delivery attempt, 1 = first */
	long long   delay;        /* seconds since the message arrived */
	long long   size;         /* the message's octets */
	const char *node;         /* the ferryd node that recorded it (node_name); read back only */
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

/* A query of the API and of webhooks. Every field is optional (0 / NULL). */
struct state_event_query {
	long long   tenant_id;    /* 0: every tenant (admin) */
	long long   after_id;     /* ascending from here (webhooks, "since" cursors) */
	long long   before_id;    /* descending from here (API pages, newest first) */
	bool        ascending;    /* order by id ascending (after_id) instead of descending */
	const char *kind;         /* one kind ... */
	const char *const *kinds; /* ... or any of these (NULL-terminated) */
	const char *rcpt;         /* exact address (case-insensitive) */
	const char *queue_id;
	const char *message_id;   /* every event of the message(s) received with this Message-ID */
	time_t      since, until; /* time bounds, 0: none */
	long        limit;        /* rows, 0: 100 */
};
/* The events matching q, in its order; fn gets each row. n rows or -1. */
int state_events_query(struct state *st, const struct state_event_query *q, state_event_fn fn, void *arg);

#endif
