/*
 * tenant_send.h - the relay service's rules for a tenant's message,
 * whichever way it comes in (SMTP submission in src/smtp/smtp_tenant.c,
 * the HTTP API in src/inject/): rate-limit windows, the reputation
 * enforcement (throttle, review hold), the suppression lookup, the
 * X-Ferry-Ref: header and the hand-off of a committed message to the
 * queue manager. One implementation, so both doors hold a tenant to the
 * same limits and counters.
 * Texts are for people and carry no protocol code: SMTP prefixes its
 * reply code ("451 4.7.1 "), the API puts them in its JSON error.
 * SECURITY: the identity is the caller's, already authenticated; names in
 * texts are ones ferryctl validated.
 */
#ifndef FERRY_POLICY_TENANT_SEND_H
#define FERRY_POLICY_TENANT_SEND_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/counters.h"
#include "state/state.h"
#include "state/suppress.h"

struct rep;
struct qmgr;

#define TENANT_SEND_WINDOWS 6
#define TENANT_SEND_HOLD_MAX 127    /* a hold reason (the spool's hold record) */

/* What one message took from the counters, given back when it is not
 * accepted after all (tenant_send_give). */
struct tenant_send_take {
	bool      counted;         /* one message from every window */
	time_t    at;              /* when (windows give back only while current) */
	bool      rcpts_counted;   /* nrcpts from the tenant's hour of recipients */
	long long nrcpts;
};

/* The tenant's enforcement state as it bears on a new message. */
struct tenant_send_rep {
	long long throttle_rcpts;                  /* recipients an hour; 0: not throttled */
	char      reason[128];                     /* printable, "" when none */
	char      hold_reason[TENANT_SEND_HOLD_MAX + 1];   /* "": not held for review */
	bool      hold_review;
};

/* "none", "account", "key", "connector". */
const char *tenant_send_kind_name(enum state_ident_kind k);
/* in as text for a reply: printable ASCII only (spaces too when space). */
void tenant_send_printable(const char *in, bool space, char *out, size_t outsz);
/* The suspension reason as reply text ("no reason given" when empty). */
void tenant_send_reason(const struct state_ident *id, char *out, size_t outsz);

/* The identity's counter windows: the tenant's three (minute, hour, day),
 * then the subject's three when it has a subject (subject_id != 0). */
size_t tenant_send_windows(const struct state_ident *id, struct counter_spec specs[TENANT_SEND_WINDOWS]);
/* A window already full: "Rate limit reached: ..." in buf, else NULL. */
const char *tenant_send_rate_full(struct counters *c, const struct state_ident *id, char *buf, size_t bufsz);
/* Recipients the tenant sent this UTC hour (limited while throttled). */
long long tenant_send_rcpts_used(struct counters *c, const struct state_ident *id);
/* "Tenant T is throttled to N recipients per hour[: REASON]; try again later". */
const char *tenant_send_throttle_text(const struct state_ident *id, long long rate, const char *reason,
    char *buf, size_t bufsz);

/* The reputation enforcement for a new message (rep may be NULL: none):
 * 0 go on (r filled: held for review, or throttled with recipients left),
 * 1 refused (throttled and its hour used up: the text in buf), -1 the
 * state cannot be read. */
int tenant_send_rep_check(struct state *st, struct rep *rep, struct counters *c,
    const struct state_ident *id, struct tenant_send_rep *r, char *buf, size_t bufsz);

/* Take one message from every window and nrcpts from the tenant's hour of
 * recipients (limited to throttle_rcpts when nonzero), all or none: 0
 * taken (t filled), 1 refused (the text in buf), -1 counters unavailable. */
int tenant_send_take(struct counters *c, const struct state_ident *id, long long throttle_rcpts,
    long long nrcpts, struct tenant_send_take *t, char *buf, size_t bufsz);
/* Give back what t took (the message was not accepted after all). */
void tenant_send_give(struct counters *c, const struct state_ident *id, struct tenant_send_take *t);

/* Is addr (len octets) on the tenant's suppression list? 1 (sup and mode
 * filled), 0 no, -1 the list cannot be read. */
int tenant_send_suppressed(struct state *st, long long tenant_id, const char *addr, size_t len,
    struct suppression *sup, enum suppress_mode *mode);
/* "REASON" or "REASON: CAUSE" (an event's detail). */
void tenant_send_suppress_detail(const struct suppression *sup, char *out, size_t outsz);

/* "X-Ferry-Ref: TOKEN\r\n" (verp.h) for the tenant's message queue_id,
 * bound to rcpt when the message has that one recipient (else NULL): its
 * length, or -1 when the state cannot be read (the message goes without). */
int tenant_send_ref_header(struct state *st, long long tenant_id, const char *queue_id, const char *rcpt,
    char *out, size_t outsz);

/* A message was committed (into hold/ when hold_reason is not ""): tell
 * the queue manager, keyed by tenant (0: none) and the domain of its first
 * recipient. */
void tenant_send_queued(struct qmgr *q, const char *id, long long tenant_id, const char *first_rcpt,
    const char *hold_reason, bool review);

#endif
