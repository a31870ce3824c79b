/*
 * suppress.h - per-tenant suppression lists in the state database: the
 * recipients a tenant's mail is no longer sent to (hard bounces,
 * complaints, repeated soft bounces, unsubscribes, manual entries), each
 * with its time, an optional expiry and the event that caused it; and the
 * soft-failure counters that turn repeated soft bounces into an entry.
 * ferryd asks state_suppression_get at each RCPT of a tenant's transaction;
 * bounce and complaint processing add; ferryctl lists, edits, imports and
 * exports.
 *
 * Addresses are compared whole and case-insensitively: they are stored
 * with ASCII letters lowercased (the local part too: a list built from
 * bounces must catch "User@x" and "user@x"; RFC 5321 2.4 lets a receiver
 * tell them apart, but practically none does), and one trailing dot of
 * the domain dropped ("x@example.com." is the same mailbox).
 *
 * Functions return -1 on a database error (the caller answers 4xx or
 * reports it) and never log.
 */
#ifndef FERRY_STATE_SUPPRESS_H
#define FERRY_STATE_SUPPRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/state.h"

#define SUPPRESS_ADDR_MAX  320     /* RFC 5321 4.5.3.1: 64 + 1 + 255 */
#define SUPPRESS_CAUSE_MAX 255
#define SUPPRESS_IMPORT_BATCH 10000   /* rows per transaction of an import */

/* Reasons rank (suppress_reason_rank): complaint = unsubscribe > manual >
 * hard-bounce > soft-bounce. An automatic addition or an import replaces a
 * live entry only with a reason that ranks as high (state_suppression_add). */
enum suppress_reason {
	SUPPRESS_HARD_BOUNCE,
	SUPPRESS_SOFT_BOUNCE,
	SUPPRESS_COMPLAINT,
	SUPPRESS_UNSUBSCRIBE,
	SUPPRESS_MANUAL,
};
#define SUPPRESS_REASONS 5

struct suppression {
	char                 addr[SUPPRESS_ADDR_MAX + 1];
	enum suppress_reason reason;
	time_t               time;      /* when it was suppressed */
	time_t               expires;   /* 0: never */
	char                 cause[SUPPRESS_CAUSE_MAX + 1];   /* "" or the event that caused it */
};

/* "hard-bounce", "soft-bounce", "complaint", "unsubscribe", "manual". */
const char *suppress_reason_name(enum suppress_reason r);
/* 0, or -1 for a word that is none of them. */
int suppress_reason_parse(const char *s, enum suppress_reason *r);

/* 4 complaint and unsubscribe, 3 manual, 2 hard-bounce, 1 soft-bounce. */
int suppress_reason_rank(enum suppress_reason r);

/* addr (len octets) lowercased, one trailing dot of its domain dropped,
 * into out (size SUPPRESS_ADDR_MAX + 1); out may be addr. false: empty,
 * too long, or holding a control character or NUL (such an address is
 * never on a list). Spaces pass: a quoted local part may hold one
 * (RFC 5321 4.1.2), and ferryctl refuses them on its own input. Every
 * entry point goes through it: RCPT lookups, additions, imports, deletes. */
bool suppress_addr_norm(const char *addr, size_t len, char *out);

/* An address as an operator or an API client types it into its stored
 * form (local part without spaces, controls or < > , "; domain checked as
 * a host name; everything lowercased): NULL, or why it is refused.
 * ferryctl and the HTTP API both go through it. */
const char *suppress_addr_parse(const char *in, char out[SUPPRESS_ADDR_MAX + 1]);
/* A cause: one line of at most SUPPRESS_CAUSE_MAX octets; NULL or why not. */
const char *suppress_cause_parse(const char *in, char out[SUPPRESS_CAUSE_MAX + 1]);

/* 1 suppressed (s filled, expired entries do not count), 0 not, -1 db
 * error. addr case-insensitive; an address that cannot be stored is not
 * suppressed. s may be NULL. */
int state_suppression_get(struct state *st, long long tenant_id, const char *addr, size_t len,
    time_t now, struct suppression *s);
/* An automatic addition (bounces, complaints): add, or replace an entry
 * that has expired, or a live one only when s's reason ranks at least as
 * high, s is live and s does not expire sooner (never: a complaint or an
 * unsubscribe is compliance evidence no bounce may overwrite). 0 (also
 * when the entry stays as it was), or -1 (db error, or an address
 * suppress_addr_norm refuses). Committed durably (synchronous=FULL). */
int state_suppression_add(struct state *st, long long tenant_id, const struct suppression *s);
/* An operator's explicit addition (`ferryctl suppression add`): add or
 * replace whatever is there. 0 or -1 as state_suppression_add. */
int state_suppression_set(struct state *st, long long tenant_id, const struct suppression *s);
/* One soft failure of addr: counted within window seconds of the first;
 * when the count reaches threshold the address is suppressed (reason
 * soft-bounce, expires now+expiry, cause) and the counter cleared.
 * 1 suppressed now, 0 counted, -1. */
int state_suppression_soft(struct state *st, long long tenant_id, const char *addr, const char *cause,
    time_t now, int threshold, int window, int expiry);
/* 1 deleted, 0 none, -1 (the address's soft-failure counter goes too, in
 * the same transaction). */
int state_suppression_del(struct state *st, long long tenant_id, const char *addr);

/* Each entry of the tenant, expired ones too, by address; reason NULL:
 * all reasons; limit 0: no limit. fn returns nonzero to stop. The number
 * given to fn, or -1. */
typedef int (*suppress_each_fn)(void *arg, const struct suppression *s);
long long state_suppression_each(struct state *st, long long tenant_id,
    const enum suppress_reason *reason, long long limit, suppress_each_fn fn, void *arg);
/* The same from the first address after `after` on (NULL: the first):
 * pages of a list (the HTTP API's cursor is the last address shown). */
long long state_suppression_page(struct state *st, long long tenant_id,
    const enum suppress_reason *reason, const char *after, long long limit, suppress_each_fn fn,
    void *arg);
/* Entries of the tenant (reason NULL: all; expired ones too), or -1. */
long long state_suppression_count(struct state *st, long long tenant_id,
    const enum suppress_reason *reason);

/* Bulk import: rows added as by state_suppression_add (the replacement
 * rule of an automatic addition), held in memory and written in one
 * transaction per SUPPRESS_IMPORT_BATCH rows: no lock is held between
 * batches, so a slow input never blocks other writers. A row refused by
 * suppress_addr_norm is -1 without harming the batch; a database error is
 * -1 too and ends the import (state_suppression_import_failed says
 * which). end writes the rest (commit true) or drops the rows held; it
 * frees imp and returns 0 or -1. Written batches stay. */
struct suppress_import;
struct suppress_import *state_suppression_import_begin(struct state *st, long long tenant_id);
int state_suppression_import_add(struct suppress_import *imp, const struct suppression *s);
bool state_suppression_import_failed(const struct suppress_import *imp);
int state_suppression_import_end(struct suppress_import *imp, bool commit);

/* What ferryd does with a tenant's suppressed recipient (tenants column
 * suppress_mode): refuse it at RCPT (550 5.7.1) or accept and drop it. */
enum suppress_mode { SUPPRESS_MODE_REJECT, SUPPRESS_MODE_DROP };
const char *suppress_mode_name(enum suppress_mode m);
int suppress_mode_parse(const char *s, enum suppress_mode *m);
/* 1 found (m filled), 0 no such tenant, -1. */
int state_tenant_suppress_mode(struct state *st, long long tenant_id, enum suppress_mode *m);
/* ferryctl: 0, or -1 with the reason in err ("no tenant NAME"). */
int state_tenant_suppress_mode_set(struct state *st, const char *tenant, enum suppress_mode m,
    char *err, size_t errlen);

#endif
