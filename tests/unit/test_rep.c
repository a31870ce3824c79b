/*
 * test_rep.c - the reputation windows and enforcement (src/reputation/):
 * buckets roll with an injected clock, windows sum the right buckets, what
 * is noted reads the same before and after it is written to the database,
 * old buckets are pruned; each rule fires just over its threshold, not at
 * it and not below the minimum volume; the spike rule with and without
 * history, and from the resume on after one; escalation throttle -> suspend
 * and never back, an operator's suspension left alone; resume clears; the
 * active tenants kept for the next round when their evaluation failed.
 * Each test gets a fresh state database in its own temporary directory,
 * or a fresh schema on PostgreSQL under FERRY_TEST_PG (state_fixture.h).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "reputation/rep.h"
#include "reputation/rep_internal.h"
#include "state/events.h"
#include "state/state.h"
#include "state/state_admin.h"
#include "state/state_internal.h"

#include "state_fixture.h"

struct fx {
	char          dir[64];
	char          path[128];
	char          err[512];
	struct state *st;
	struct rep   *rep;
	struct rep_limits lim;
	time_t        now;       /* a bucket's start, near the real clock */
	long long     tenant;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct state_tenant t;

	assert_non_null(fx);
	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), "rep");
	fx->st = state_fixture_open(fx->dir, fx->path, sizeof(fx->path), fx->err, sizeof(fx->err));
	assert_int_equal(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	fx->tenant = t.id;
	rep_limits_default(&fx->lim);
	fx->rep = rep_open(fx->path, fx->st, &fx->lim, fx->err, sizeof(fx->err));
	assert_non_null(fx->rep);
	fx->now = time(NULL);
	fx->now -= fx->now % REP_BUCKET;
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	rep_close(fx->rep);
	state_close(fx->st);
	state_fixture_rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct rep_totals
totals(struct fx *fx, int seconds, time_t now)
{
	struct rep_totals t;

	assert_int_equal(rep_totals(fx->rep, fx->tenant, seconds, 0, now, &t), 0);
	return t;
}

static struct rep_totals
totals_db(struct fx *fx, int seconds, time_t now)
{
	struct rep_totals t;

	assert_int_equal(rep_totals_read(fx->path, fx->tenant, seconds, 0, now, &t), 0);
	return t;
}

/* ---- windows ------------------------------------------------------------------ */

static void
test_buckets_roll(void **state)
{
	struct fx *fx = *state;

	rep_note(fx->rep, fx->tenant, REP_SENT, 1, fx->now);
	rep_note(fx->rep, fx->tenant, REP_SENT, 2, fx->now + REP_BUCKET - 1);   /* same bucket */
	rep_note(fx->rep, fx->tenant, REP_SENT, 4, fx->now + REP_BUCKET);       /* the next one */
	assert_int_equal(totals(fx, REP_BUCKET, fx->now + REP_BUCKET - 1).sent, 3);
	assert_int_equal(totals(fx, REP_BUCKET, fx->now + REP_BUCKET).sent, 4);
	assert_int_equal(totals(fx, 2 * REP_BUCKET, fx->now + REP_BUCKET).sent, 7);
	/* an hour later the first bucket has left the last hour */
	assert_int_equal(totals(fx, 3600, fx->now + 3600).sent, 4);
	assert_int_equal(totals(fx, 3600, fx->now + 3600 + REP_BUCKET).sent, 0);
	assert_int_equal(totals(fx, 86400, fx->now + 3600 + REP_BUCKET).sent, 7);
}

static void
test_windows_sum(void **state)
{
	struct fx *fx = *state;
	time_t now = fx->now;
	struct rep_totals h, d, w;

	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 1, now);
	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 10, now - 1800);
	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 100, now - 2 * 3600);
	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 1000, now - 3 * 86400);
	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 10000, now - 8 * 86400);
	rep_note(fx->rep, fx->tenant + 1, REP_DELIVERED, 7, now);   /* another tenant */
	h = totals(fx, 3600, now);
	d = totals(fx, 86400, now);
	w = totals(fx, 7 * 86400, now);
	assert_int_equal(h.delivered, 11);
	assert_int_equal(d.delivered, 111);
	assert_int_equal(w.delivered, 1111);
	/* since: buckets from a resume on (its own bucket left out) */
	{
		struct rep_totals s;
		assert_int_equal(rep_totals(fx->rep, fx->tenant, 86400, now - 3600 + 1, now, &s), 0);
		assert_int_equal(s.delivered, 11);
	}
}

static void
test_flush_read_back(void **state)
{
	struct fx *fx = *state;
	struct rep_totals before, after, db;

	rep_note(fx->rep, fx->tenant, REP_SENT, 50, fx->now);
	rep_note(fx->rep, fx->tenant, REP_COMPLAINT, 2, fx->now);
	rep_note(fx->rep, fx->tenant, REP_SCORE, 1234, fx->now);
	rep_note_bounce(fx->rep, fx->tenant, "invalid-recipient", true, true, fx->now);
	rep_note_bounce(fx->rep, fx->tenant, "mailbox-full", false, false, fx->now);
	rep_note_bounce(fx->rep, fx->tenant, "mailbox-full", false, false, fx->now - 60);
	before = totals(fx, 3600, fx->now);
	assert_int_equal(rep_flush(fx->rep), 0);
	after = totals(fx, 3600, fx->now);
	db = totals_db(fx, 3600, fx->now);
	assert_memory_equal(&before, &after, sizeof(before));
	assert_memory_equal(&before, &db, sizeof(before));
	assert_int_equal(db.sent, 50);
	assert_int_equal(db.complaint, 2);
	assert_int_equal(db.score_x100, 1234);
	assert_int_equal(db.bounced, 3);
	assert_int_equal(db.hard, 1);
	assert_int_equal(db.unknown, 1);
	assert_int_equal(db.ncats, 2);
	assert_string_equal(db.cats[0].name, "mailbox-full");   /* the largest first */
	assert_int_equal(db.cats[0].n, 2);
	assert_string_equal(db.cats[1].name, "invalid-recipient");
	/* a second batch adds to the rows written */
	rep_note(fx->rep, fx->tenant, REP_SENT, 5, fx->now);
	assert_int_equal(rep_flush(fx->rep), 0);
	assert_int_equal(totals_db(fx, 3600, fx->now).sent, 55);
}

static void
event_count(void *arg, const struct state_event *e)
{
	(void)e;
	(*(int *)arg)++;
}

static void
test_prune(void **state)
{
	struct fx *fx = *state;

	rep_note(fx->rep, fx->tenant, REP_SENT, 3, fx->now - 9 * 86400);
	rep_note(fx->rep, fx->tenant, REP_SENT, 4, fx->now - 6 * 86400);
	assert_int_equal(rep_flush(fx->rep), 0);
	assert_int_equal(totals_db(fx, 30 * 86400, fx->now).sent, 7);
	{
		/* events older than EVENTS_KEEP go with the old buckets */
		struct state_event ev[2] = {
			{ .time = fx->now - EVENTS_KEEP - 60, .tenant_id = fx->tenant, .kind = "bounce", .rcpt_index = -1 },
			{ .time = fx->now - 86400, .tenant_id = fx->tenant, .kind = "bounce", .rcpt_index = -1 },
		};
		assert_int_equal(state_events_record(fx->st, ev, 2), 0);
	}
	assert_int_equal(rep_prune(fx->path, fx->now), 0);
	assert_int_equal(totals_db(fx, 30 * 86400, fx->now).sent, 4);
	assert_int_equal(state_events_list(fx->st, fx->tenant, "bounce", 10, event_count, &(int){ 0 }), 1);
}

/* Writers note and flush while a reader sums: a batch being written is
 * never counted twice (written and still pending) nor missed. */
#define CONC_WRITERS 4
#define CONC_NOTES   5000

static void *
conc_writer(void *arg)
{
	struct fx *fx = arg;

	for (int i = 1; i <= CONC_NOTES; i++) {
		rep_note(fx->rep, fx->tenant, REP_SENT, 1, fx->now);
		if (i % 250 == 0)
			assert_int_equal(rep_flush(fx->rep), 0);
	}
	return NULL;
}

static void
test_concurrent_notes(void **state)
{
	struct fx *fx = *state;
	pthread_t w[CONC_WRITERS];
	long long last = 0, v;
	int reads = 0;

	for (int i = 0; i < CONC_WRITERS; i++)
		assert_int_equal(pthread_create(&w[i], NULL, conc_writer, fx), 0);
	while (last < CONC_WRITERS * CONC_NOTES) {
		v = totals(fx, 3600, fx->now).sent;
		assert_true(v >= last);
		assert_true(v <= CONC_WRITERS * CONC_NOTES);
		last = v;
		reads++;
	}
	for (int i = 0; i < CONC_WRITERS; i++)
		pthread_join(w[i], NULL);
	assert_int_equal(rep_flush(fx->rep), 0);
	assert_int_equal(totals_db(fx, 3600, fx->now).sent, CONC_WRITERS * CONC_NOTES);
	assert_true(reads > 1);
}

/* ---- rules -------------------------------------------------------------------- */

static enum rep_state
rules(const struct rep_limits *l, const struct rep_totals *win, char *reason)
{
	struct rep_totals none = { 0 };

	return rep_rules_apply(l, win, &none, &none, 30 * 86400, reason, REP_REASON_MAX + 1);
}

static void
test_rule_complaint(void **state)
{
	struct fx *fx = *state;
	struct rep_totals t = { .delivered = 10000 };
	char reason[REP_REASON_MAX + 1];

	t.complaint = 30;              /* 0.3%: at the threshold, not over */
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);
	t.complaint = 31;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_THROTTLED);
	assert_string_equal(reason, "complaint rate 0.31% over 24h > 0.3% (31 of 10000)");
	t.complaint = 100;             /* 1%: still a throttle */
	assert_int_equal(rules(&fx->lim, &t, reason), REP_THROTTLED);
	t.complaint = 101;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_SUSPENDED);
	assert_string_equal(reason, "complaint rate 1.01% over 24h > 1% (101 of 10000)");
	/* below the minimum volume nothing fires, whatever the rate */
	t = (struct rep_totals){ .delivered = 499, .complaint = 50 };
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);
	/* the complaint rules' minimum is on delivered, their divisor: bounces
	 * do not make up for it */
	t.bounced = 1;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);
	t.delivered = 500;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_SUSPENDED);
	/* ferry's IPs blocklisted: 600 soft bounces, 5 delivered, 1 complaint
	 * is not "20% over 605" */
	t = (struct rep_totals){ .delivered = 5, .bounced = 600, .complaint = 1 };
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);
	/* ...while the bounce rules keep delivered + bounced */
	t.hard = 600;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_THROTTLED);
	assert_non_null(strstr(reason, "hard-bounce rate"));
}

static void
test_rule_bounces(void **state)
{
	struct fx *fx = *state;
	struct rep_totals t = { .delivered = 900, .bounced = 100, .hard = 100 };
	char reason[REP_REASON_MAX + 1];

	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);   /* 10% */
	t.hard = 101;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_THROTTLED);
	assert_string_equal(reason, "hard-bounce rate 10.1% over 24h > 10% (101 of 1000)");
	t = (struct rep_totals){ .delivered = 950, .bounced = 50, .hard = 50, .unknown = 50 };
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);   /* 5% */
	t.unknown = 51;
	t.hard = 51;
	assert_int_equal(rules(&fx->lim, &t, reason), REP_THROTTLED);
	assert_string_equal(reason, "unknown-recipient rate 5.1% over 24h > 5% (51 of 1000)");
	t = (struct rep_totals){ .delivered = 40, .bounced = 50, .hard = 50, .unknown = 50 };
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);   /* 90 < min volume */
	/* a rule at 0 is off */
	fx->lim.unknown_throttle = 0;
	fx->lim.hard_throttle = 0;
	t = (struct rep_totals){ .delivered = 500, .bounced = 500, .hard = 500, .unknown = 500 };
	assert_int_equal(rules(&fx->lim, &t, reason), REP_NONE);
}

static void
test_rule_spike(void **state)
{
	struct fx *fx = *state;
	struct rep_totals win = { 0 }, hour = { .sent = 1000 }, week = { .sent = 1000 };
	char reason[REP_REASON_MAX + 1];

	/* no history: the hour against spike_min alone */
	assert_int_equal(rep_rules_apply(&fx->lim, &win, &hour, &week, 1800, reason, sizeof(reason)),
	    REP_NONE);
	hour.sent = week.sent = 1001;
	assert_int_equal(rep_rules_apply(&fx->lim, &win, &hour, &week, 1800, reason, sizeof(reason)),
	    REP_REVIEW);
	assert_non_null(strstr(reason, "under a day of history"));
	/* 7 days of history at 200 an hour: 1001 is not 10x that */
	week.sent = 167 * 200 + hour.sent;
	assert_int_equal(rep_rules_apply(&fx->lim, &win, &hour, &week, 7 * 86400, reason,
	    sizeof(reason)), REP_NONE);
	/* at 100 an hour it is (1001 > 10 x 100) */
	week.sent = 167 * 100 + hour.sent;
	assert_int_equal(rep_rules_apply(&fx->lim, &win, &hour, &week, 7 * 86400, reason,
	    sizeof(reason)), REP_REVIEW);
	assert_non_null(strstr(reason, "1001 sent in the last hour > 10 x the 7-day hourly average 100"));
	/* exactly 10x is not over */
	hour.sent = 1000;
	week.sent = 167 * 100 + hour.sent;
	assert_int_equal(rep_rules_apply(&fx->lim, &win, &hour, &week, 7 * 86400, reason,
	    sizeof(reason)), REP_NONE);
	/* a complaint suspension outranks the review */
	hour.sent = 5000;
	win = (struct rep_totals){ .delivered = 1000, .complaint = 20 };
	assert_int_equal(rep_rules_apply(&fx->lim, &win, &hour, &week, 1800, reason, sizeof(reason)),
	    REP_SUSPENDED);
}

/* ---- enforcement through the state database ----------------------------------- */

static void
note_n(struct fx *fx, const char *metric, long long n)
{
	rep_note(fx->rep, fx->tenant, metric, n, fx->now);
}

static enum rep_state
state_of(struct fx *fx, struct rep_enforce *e)
{
	assert_int_equal(rep_enforce_read(fx->st, fx->tenant, e), 1);
	return e->state;
}

static void
test_escalation(void **state)
{
	struct fx *fx = *state;
	struct rep_override o = REP_OVERRIDE_KEEP;
	struct state_tenant t;
	struct rep_enforce e;

	o.min_volume = 10;
	assert_int_equal(rep_override_set(fx->st, fx->tenant, &o), 0);
	note_n(fx, REP_DELIVERED, 9);
	note_n(fx, REP_COMPLAINT, 1);
	/* 9 delivered: under the tenant's minimum volume of 10 */
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_NONE);
	note_n(fx, REP_DELIVERED, 191);   /* 1 of 200 = 0.5% */
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_THROTTLED);
	assert_int_equal(state_of(fx, &e), REP_THROTTLED);
	assert_string_equal(e.reason, "complaint rate 0.5% over 24h > 0.3% (1 of 200)");
	assert_int_equal(e.time, fx->now);
	assert_int_equal(state_tenant_by_id(fx->st, fx->tenant, &t), 1);
	assert_false(t.suspended);
	/* the rate falls back under the throttle: no de-escalation */
	note_n(fx, REP_DELIVERED, 800);
	assert_int_equal(rep_flush(fx->rep), 0);   /* through the database this time */
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_THROTTLED);
	/* 11 of 1000 = 1.1%: suspended, the existing suspension */
	note_n(fx, REP_COMPLAINT, 10);
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_SUSPENDED);
	assert_int_equal(state_of(fx, &e), REP_SUSPENDED);
	assert_int_equal(state_tenant_by_id(fx->st, fx->tenant, &t), 1);
	assert_true(t.suspended);
	/* an escalation to a lower state changes nothing */
	assert_int_equal(rep_enforce_escalate(fx->st, fx->tenant, REP_THROTTLED, "x", fx->now), 0);
	assert_int_equal(state_of(fx, &e), REP_SUSPENDED);
}

static void
test_resume_clears(void **state)
{
	struct fx *fx = *state;
	struct state_tenant t;
	struct rep_enforce e;

	note_n(fx, REP_DELIVERED, 1000);
	note_n(fx, REP_COMPLAINT, 20);
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_SUSPENDED);
	assert_int_equal(rep_enforce_clear(fx->st, fx->tenant, fx->now + 10), 0);
	assert_int_equal(state_of(fx, &e), REP_NONE);
	assert_string_equal(e.reason, "");
	assert_int_equal(e.resumed, fx->now + 10);
	assert_int_equal(state_tenant_by_id(fx->st, fx->tenant, &t), 1);
	assert_false(t.suspended);
	/* the same complaints do not act again: the evidence restarts */
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now + 20), REP_NONE);
	/* new ones after the resume do (from the next bucket on) */
	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 500, fx->now + REP_BUCKET);
	rep_note(fx->rep, fx->tenant, REP_COMPLAINT, 2, fx->now + REP_BUCKET);
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now + REP_BUCKET),
	    REP_THROTTLED);
	/* an operator's review, cleared the same way */
	assert_int_equal(rep_enforce_set(fx->st, fx->tenant, REP_SUSPENDED, "by hand", fx->now), 0);
	assert_int_equal(state_tenant_by_id(fx->st, fx->tenant, &t), 1);
	assert_true(t.suspended);
	assert_int_equal(rep_enforce_set(fx->st, fx->tenant, REP_REVIEW, "by hand", fx->now), 0);
	assert_int_equal(state_of(fx, &e), REP_REVIEW);
	assert_int_equal(state_tenant_by_id(fx->st, fx->tenant, &t), 1);
	assert_false(t.suspended);   /* the enforcement's suspension gave way */
	assert_int_equal(rep_enforce_clear(fx->st, fx->tenant, fx->now), 0);
	assert_int_equal(state_of(fx, &e), REP_NONE);
}

/* An operator's own suspension (`tenant suspend`) is left alone by an
 * automatic escalation: its reason and its state. */
static void
test_operator_suspension_kept(void **state)
{
	struct fx *fx = *state;
	struct state_tenant_info t;
	struct rep_enforce e;

	assert_int_equal(state_tenant_suspend(fx->st, "acme", "fraud ticket 42", fx->err,
	    sizeof(fx->err)), 0);
	note_n(fx, REP_DELIVERED, 1000);
	note_n(fx, REP_COMPLAINT, 20);   /* 2%: a suspension's evidence */
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_NONE);
	assert_int_equal(state_tenant_get(fx->st, "acme", &t, fx->err, sizeof(fx->err)), 0);
	assert_true(t.t.suspended);
	assert_string_equal(t.suspend_reason, "fraud ticket 42");
	assert_int_equal(state_of(fx, &e), REP_NONE);
	assert_int_equal(rep_enforce_escalate(fx->st, fx->tenant, REP_THROTTLED, "x", fx->now), 0);
	assert_int_equal(state_of(fx, &e), REP_NONE);
	/* resumed, the same tenant is enforced as any other */
	assert_int_equal(rep_enforce_clear(fx->st, fx->tenant, fx->now - 1), 0);
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_SUSPENDED);
	assert_int_equal(state_tenant_get(fx->st, "acme", &t, fx->err, sizeof(fx->err)), 0);
	assert_string_equal(t.suspend_reason, "complaint rate 2% over 24h > 1% (20 of 1000)");
}

/* After a resume the spike's baseline counts from the resume, as the hour
 * does: a burst just before the resume (what put the tenant under review)
 * must not raise the average the next hour is compared with. */
static void
test_spike_baseline_after_resume(void **state)
{
	struct fx *fx = *state;
	struct rep_enforce e;

	for (int h = 1; h <= 167; h++)   /* a week at 100 an hour */
		rep_note(fx->rep, fx->tenant, REP_SENT, 100, fx->now - h * 3600);
	rep_note(fx->rep, fx->tenant, REP_SENT, 20000, fx->now - 2 * REP_BUCKET);
	assert_int_equal(rep_enforce_clear(fx->st, fx->tenant, fx->now - REP_BUCKET + 1), 0);
	rep_note(fx->rep, fx->tenant, REP_SENT, 1500, fx->now);
	assert_int_equal(rep_flush(fx->rep), 0);
	/* with the burst in the baseline the average is 221 an hour and 1500
	 * passes; from the resume on there is no day of history: > spike_min */
	assert_int_equal(rep_evaluate(fx->rep, fx->st, fx->tenant, fx->now), REP_REVIEW);
	assert_int_equal(state_of(fx, &e), REP_REVIEW);
	assert_non_null(strstr(e.reason, "1500 sent in the last hour by a tenant with under a day"));
}

/* The tenants noted since the last round: a set (each once, however many
 * notes), and one whose evaluation failed is kept for the next round. */
static void
test_active_kept_on_failure(void **state)
{
	struct fx *fx = *state;
	struct rep_enforce e;
	struct db *db;

	assert_non_null(db = state_db_connect(fx->path, fx->err, sizeof(fx->err)));
	/* the tenants table gone: every evaluation fails, as on a busy database */
	assert_int_equal(db_exec(db, "ALTER TABLE tenants RENAME TO tenants_away;"), DB_OK);
	for (int round = 0; round < 2; round++)
		for (long long id = 1; id <= 3000; id++)
			rep_note(fx->rep, id, REP_SENT, 1, fx->now);
	note_n(fx, REP_DELIVERED, 100);
	note_n(fx, REP_COMPLAINT, 5);
	assert_int_equal(rep_evaluate_active(fx->rep, fx->now), 3000);
	assert_int_equal(rep_evaluate_active(fx->rep, fx->now), 3000);   /* still there */
	assert_int_equal(db_exec(db, "ALTER TABLE tenants_away RENAME TO tenants;"), DB_OK);
	db_close(db);
	assert_int_equal(state_of(fx, &e), REP_NONE);
	/* the database back, no new note: the kept tenant is evaluated */
	{
		struct rep_override o = REP_OVERRIDE_KEEP;
		o.min_volume = 10;
		assert_int_equal(rep_override_set(fx->st, fx->tenant, &o), 0);
	}
	assert_int_equal(rep_evaluate_active(fx->rep, fx->now), 0);
	assert_int_equal(state_of(fx, &e), REP_SUSPENDED);
	assert_int_equal(rep_evaluate_active(fx->rep, fx->now), 0);   /* and then no more */
}

/* ferryd's way: the thread evaluates the tenants noted since its last
 * round (every few seconds), with the real clock. */
static void
test_autoeval(void **state)
{
	struct fx *fx = *state;
	struct rep_override o = REP_OVERRIDE_KEEP;
	struct rep_enforce e;
	time_t deadline = time(NULL) + 60;

	o.min_volume = 10;
	assert_int_equal(rep_override_set(fx->st, fx->tenant, &o), 0);
	rep_autoeval(fx->rep, true);
	rep_note(fx->rep, fx->tenant, REP_DELIVERED, 100, time(NULL));
	rep_note(fx->rep, fx->tenant, REP_COMPLAINT, 5, time(NULL));
	while (state_of(fx, &e) == REP_NONE && time(NULL) < deadline)
		usleep(100000);
	assert_int_equal(e.state, REP_SUSPENDED);
	assert_string_equal(e.reason, "complaint rate 5% over 24h > 1% (5 of 100)");
}

static void
test_overrides(void **state)
{
	struct fx *fx = *state;
	struct rep_override o = REP_OVERRIDE_KEEP;
	struct rep_limits l;
	struct rep_enforce e;

	o.complaint_throttle = 1000;
	o.throttle_rate = 5;
	assert_int_equal(rep_override_set(fx->st, fx->tenant, &o), 0);
	state_of(fx, &e);
	rep_limits_effective(&fx->lim, &e.over, &l);
	assert_int_equal(l.complaint_throttle, 1000);
	assert_int_equal(l.complaint_suspend, 10000);     /* kept global */
	assert_int_equal(rep_throttle_rate(fx->rep, &e), 5);
	o = (struct rep_override)REP_OVERRIDE_KEEP;
	o.throttle_rate = -2;                             /* back to the global value */
	assert_int_equal(rep_override_set(fx->st, fx->tenant, &o), 0);
	state_of(fx, &e);
	assert_int_equal(rep_throttle_rate(fx->rep, &e), 100);
	assert_int_equal(e.over.complaint_throttle, 1000);
}

/* Load a configuration of text (NO_FILES): NULL with fx->err on error. */
static struct conf *
conf_of(struct fx *fx, const char *text)
{
	char path[160];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ferry.conf", fx->dir);
	assert_non_null(f = fopen(path, "w"));
	fprintf(f, "listen mx 127.0.0.1:25\n%s", text);
	fclose(f);
	return conf_load_flags(path, CONF_LOAD_NO_FILES, fx->err, sizeof(fx->err));
}

/* ferry.conf's defaults are rep_limits_default's (ferryctl falls back on
 * the latter without a configuration); a bad percentage names its line. */
static void
test_conf_defaults(void **state)
{
	struct fx *fx = *state;
	struct rep_limits l;
	struct conf *c;

	assert_non_null(c = conf_of(fx, ""));
	rep_limits_from_conf(&l, c);
	conf_free(c);
	assert_memory_equal(&l, &fx->lim, sizeof(l));
	assert_non_null(c = conf_of(fx, "abuse_complaint_throttle 0.25%\nabuse_unknown_throttle 2\n"));
	rep_limits_from_conf(&l, c);
	conf_free(c);
	assert_int_equal(l.complaint_throttle, 2500);
	assert_int_equal(l.unknown_throttle, 20000);
	assert_null(conf_of(fx, "abuse_complaint_suspend 1 percent\n"));
	assert_non_null(strstr(fx->err, ":2: abuse_complaint_suspend takes one value"));
	assert_null(conf_of(fx, "abuse_complaint_suspend 1,5%\n"));
	assert_non_null(strstr(fx->err, ":2: abuse_complaint_suspend: '1,5%' is not a percentage"));
}

static void
test_percent_parse(void **state)
{
	long long v;
	char buf[32];

	(void)state;
	assert_int_equal(conf_percent_parse("0.3%", &v), 0);
	assert_int_equal(v, 3000);
	assert_int_equal(conf_percent_parse("1", &v), 0);
	assert_int_equal(v, 10000);
	assert_int_equal(conf_percent_parse("0.0001%", &v), 0);
	assert_int_equal(v, 1);
	assert_int_equal(conf_percent_parse("100%", &v), 0);
	assert_int_equal(v, 1000000);
	assert_int_equal(conf_percent_parse("0.00001", &v), -1);
	assert_int_equal(conf_percent_parse("100.1%", &v), -1);
	assert_int_equal(conf_percent_parse(".3", &v), -1);
	assert_int_equal(conf_percent_parse("3.%", &v), -1);
	assert_int_equal(conf_percent_parse("0.3%%", &v), -1);
	assert_int_equal(conf_percent_parse("-1", &v), -1);
	assert_string_equal(rep_ppm_text(3000, buf, sizeof(buf)), "0.3%");
	assert_string_equal(rep_ppm_text(5200, buf, sizeof(buf)), "0.52%");
	assert_string_equal(rep_ppm_text(100000, buf, sizeof(buf)), "10%");
	assert_string_equal(rep_ppm_text(0, buf, sizeof(buf)), "0%");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_buckets_roll, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_windows_sum, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_flush_read_back, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prune, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_notes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rule_complaint, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rule_bounces, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rule_spike, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_escalation, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_resume_clears, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_operator_suspension_kept, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_spike_baseline_after_resume, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_active_kept_on_failure, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_autoeval, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_overrides, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_conf_defaults, fx_setup, fx_teardown),
		cmocka_unit_test(test_percent_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
