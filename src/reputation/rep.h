/*
 * rep.h - a tenant's reputation: rolling windows (1 h, 24 h, 7 d) of what
 * happened to its mail (sent, delivered, deferred, bounced by category,
 * complaints, content-scan verdicts), and the automatic enforcement that
 * follows from their rates (throttle, suspend, hold for review).
 *
 * Counts live in the state database's table reputation, one row per
 * tenant, metric and 5-minute bucket; rep_note adds to memory under one
 * mutex and a thread writes the sums once a second (as counters_local.c),
 * so a note on the SMTP or delivery path never waits for the disk. Buckets
 * older than 8 days are pruned. Windows are whole buckets: "the last hour"
 * is the current bucket and the eleven before it.
 *
 * Enforcement escalates only (none < throttled < review < suspended) and
 * is cleared only by an operator (`ferryctl tenant resume`); its state,
 * reason and time are tenants columns, so ferryd's sessions and ferryctl
 * read the same thing. A resume also restarts the evidence: rates are
 * taken over buckets after the resume, so the same complaints do not throttle
 * the tenant again five seconds later.
 * SECURITY: metric names come from ferry's code and the bounce classifier
 * (bounded, never from a peer's raw text); every value is a bound parameter.
 */
#ifndef FERRY_REPUTATION_REP_H
#define FERRY_REPUTATION_REP_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

struct state;
struct conf;

/* metric names */
#define REP_SENT        "sent"          /* recipients accepted for delivery (tenant mail) */
#define REP_DELIVERED   "delivered"
#define REP_DEFERRED    "deferred"      /* temporary failures (each attempt) */
#define REP_BOUNCED     "bounced"       /* permanent failures, any category (sync 5xx or async DSN) */
#define REP_HARD        "bounced-hard"  /* ... of a hard category */
#define REP_UNKNOWN     "unknown-recipient"  /* ... of category invalid-recipient */
#define REP_COMPLAINT   "complaint"
#define REP_SCANNED     "scanned"       /* messages scanned by a milter */
#define REP_SPAM        "scan-spam"     /* ... judged spam (reject/hold/header verdicts) */
#define REP_SCORE       "scan-score"    /* sum of scores x 100 */
/* plus REP_CATEGORY_PREFIX "<category>" for each bounce category */
#define REP_CATEGORY_PREFIX "bounce:"
#define REP_CATEGORY_MAX    32          /* octets of a category name */
#define REP_METRIC_MAX      (sizeof(REP_CATEGORY_PREFIX) - 1 + REP_CATEGORY_MAX)

#define REP_BUCKET      300             /* seconds in a bucket */
#define REP_KEEP        (8 * 86400)     /* buckets older than this are pruned */
#define REP_PPM         1000000LL       /* rates are parts per million (0.3% = 3000) */

/* Thresholds; rates in parts per million, 0 turns a rule off. ferry.conf's
 * abuse_* options give the global ones, tenants columns override them. */
struct rep_limits {
	long long window;             /* seconds the rates are taken over */
	long long min_volume;         /* before a rate rule applies: delivered (complaint rules),
	                                 delivered + bounced (bounce rules) in the window */
	long long complaint_throttle, complaint_suspend;   /* of delivered */
	long long hard_throttle;      /* hard bounces, of delivered + bounced */
	long long unknown_throttle;   /* unknown recipients, of delivered + bounced */
	long long spike_factor;       /* last hour's sent > factor x the 7-day hourly average */
	long long spike_min;          /* ... and > this many */
	long long throttle_rate;      /* a throttled tenant's recipients per hour */
};

/* The defaults of ferry.conf (docs/configuration.md says why each). */
void rep_limits_default(struct rep_limits *l);
/* The global thresholds of a loaded configuration. */
void rep_limits_from_conf(struct rep_limits *l, const struct conf *c);

/* A tenant's overrides: -1 in a field keeps the global value. */
struct rep_override {
	long long min_volume, complaint_throttle, complaint_suspend, hard_throttle,
	          unknown_throttle, spike_factor, spike_min, throttle_rate;
};
#define REP_OVERRIDE_KEEP { -1, -1, -1, -1, -1, -1, -1, -1 }

/* Totals over a window. */
#define REP_CATS_MAX 16
struct rep_totals {
	long long sent, delivered, deferred, bounced, hard, unknown, complaint, scanned, spam,
	          score_x100;
	struct { char name[REP_CATEGORY_MAX + 1]; long long n; } cats[REP_CATS_MAX];
	size_t    ncats;                /* the largest categories first */
};

struct rep;

/* Open the windows over the state database at db_path; st (NULL: no
 * enforcement, as in a unit test of the windows alone) is where tenants'
 * thresholds and enforcement states are read and written; global the
 * thresholds (copied). NULL + err on failure. */
struct rep *rep_open(const char *db_path, struct state *st, const struct rep_limits *global,
    char *err, size_t errlen);
/* Writes what is left, stops the thread. NULL is fine. */
void rep_close(struct rep *r);
/* New global thresholds (a reload). */
void rep_limits_set(struct rep *r, const struct rep_limits *global);
/* Turn the thread's evaluation of active tenants on (every few seconds;
 * ferryd) or off (tests call rep_evaluate themselves). Off at open. */
void rep_autoeval(struct rep *r, bool on);

/* Add n to tenant's metric at now. Thread-safe, no I/O. A metric name
 * longer than REP_METRIC_MAX is cut. */
void rep_note(struct rep *r, long long tenant_id, const char *metric, long long n, time_t now);
/* Shortcut for a bounce: bounced, bounce:<category>, and bounced-hard
 * and unknown-recipient as the category says. */
void rep_note_bounce(struct rep *r, long long tenant_id, const char *category, bool hard,
    bool unknown, time_t now);
/* Write what rep_note gathered now (the thread does it every second). 0 or -1. */
int rep_flush(struct rep *r);

/* Totals of the buckets of the last `seconds` (the bucket holding now
 * included) and not before `since` (0: no bound), from the database at
 * db_path (ferryctl: no ferryd needed). 0 or -1. */
int rep_totals_read(const char *db_path, long long tenant_id, int seconds, time_t since,
    time_t now, struct rep_totals *out);
/* The same from a running struct rep: the database plus what is not
 * written yet. */
int rep_totals(struct rep *r, long long tenant_id, int seconds, time_t since, time_t now,
    struct rep_totals *out);

/* Rates in parts per million; 0 when the divisor is 0. */
long long rep_rate_complaint(const struct rep_totals *t);
long long rep_rate_hard(const struct rep_totals *t);
long long rep_rate_unknown(const struct rep_totals *t);
long long rep_rate_spam(const struct rep_totals *t);
/* "0.52%" into buf. */
const char *rep_ppm_text(long long ppm, char *buf, size_t size);

/* ---- enforcement ---- */
enum rep_state { REP_NONE = 0, REP_THROTTLED, REP_REVIEW, REP_SUSPENDED };
const char *rep_state_name(enum rep_state s);   /* "none", "throttled", "review", "suspended" */
int rep_state_parse(const char *name, enum rep_state *out);

#define REP_REASON_MAX 127          /* as a suspension reason (tenants.suspend_reason) */
struct rep_enforce {
	char      tenant[65];           /* its name */
	enum rep_state state;
	char      reason[REP_REASON_MAX + 1];
	time_t    time;                 /* of the action; 0 none */
	time_t    resumed;              /* last resume; 0 never */
	struct rep_override over;
};

/* A tenant's enforcement state and overrides: 1 found, 0 no tenant, -1 error. */
int rep_enforce_read(struct state *st, long long tenant_id, struct rep_enforce *e);
/* The thresholds that apply to a tenant: global with its overrides. */
void rep_limits_effective(const struct rep_limits *global, const struct rep_override *o,
    struct rep_limits *out);
/* What a throttled tenant may send per hour (global or its override). */
long long rep_throttle_rate(struct rep *r, const struct rep_enforce *e);

/* Evaluate tenant's rules now and escalate when one fires (logged as
 * event=tenant-throttled|tenant-suspended|tenant-review and stored).
 * Returns the state after evaluation, or -1 on a database error. */
int rep_evaluate(struct rep *r, struct state *st, long long tenant_id, time_t now);
/* The same rules on given totals, without a database: what state they
 * call for (REP_NONE: none) and the reason. For tests and `tenant show`. */
enum rep_state rep_rules_apply(const struct rep_limits *l, const struct rep_totals *win,
    const struct rep_totals *hour, const struct rep_totals *week, long long history,
    char *reason, size_t reasonlen);

/* Set a state by hand (ferryctl tenant throttle|review|suspend), escalation
 * or not; a suspension also sets tenants.suspended. 0 or -1. */
int rep_enforce_set(struct state *st, long long tenant_id, enum rep_state s, const char *reason,
    time_t now);
/* Escalate to s when the tenant's state is lower: 1 changed, 0 not, -1 error. */
int rep_enforce_escalate(struct state *st, long long tenant_id, enum rep_state s,
    const char *reason, time_t now);
/* Clear every state (tenant resume): enforcement, suspension; evidence
 * restarts at now. 0 or -1. */
int rep_enforce_clear(struct state *st, long long tenant_id, time_t now);
/* Store a tenant's overrides (-1 fields left as they are; -2 back to the
 * global value). 0 or -1. */
int rep_override_set(struct state *st, long long tenant_id, const struct rep_override *o);

/* Drop buckets older than REP_KEEP before now. 0 or -1. */
int rep_prune(const char *db_path, time_t now);

#endif
