/*
 * rep_enforce.c - a tenant's enforcement state in the state database
 * (tenants columns enforce_state 0 none / 1 throttled / 2 review /
 * 3 suspended, enforce_reason, enforce_time, enforce_resumed, and the
 * rep_* threshold overrides, -1 = the global value), and the evaluation
 * that escalates it.
 * Escalation is one conditional UPDATE (WHERE enforce_state < new), so two
 * threads evaluating the same tenant act, and log, once. A suspension is
 * the existing one (tenants.suspended): sessions refused, queued mail held.
 * SECURITY: reasons are built by rep_rules.c from numbers; values bound.
 */
#include <stdio.h>
#include <string.h>

#include "reputation/rep_internal.h"
#include "state/state_internal.h"
#include "events/outbox.h"
#include "util/log.h"

static const char rep_enforce_cols[] = "SELECT name, enforce_state, enforce_reason, enforce_time,"
    " enforce_resumed, rep_min_volume, rep_complaint_throttle, rep_complaint_suspend,"
    " rep_hard_throttle, rep_unknown_throttle, rep_spike_factor, rep_spike_min,"
    " rep_throttle_rate FROM tenants WHERE id = ?1;";

int
rep_enforce_read(struct state *st, long long tenant_id, struct rep_enforce *e)
{
	struct db_stmt *stmt = state_prepare(st, rep_enforce_cols);
	long long *over[] = { &e->over.min_volume, &e->over.complaint_throttle,
	    &e->over.complaint_suspend, &e->over.hard_throttle, &e->over.unknown_throttle,
	    &e->over.spike_factor, &e->over.spike_min, &e->over.throttle_rate };
	int rc;

	memset(e, 0, sizeof(*e));
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		int s = db_column_int(stmt, 1);
		state_text_copy(e->tenant, sizeof(e->tenant), stmt, 0);
		e->state = s >= REP_NONE && s <= REP_SUSPENDED ? (enum rep_state)s : REP_NONE;
		state_text_copy(e->reason, sizeof(e->reason), stmt, 2);
		e->time = (time_t)db_column_int64(stmt, 3);
		e->resumed = (time_t)db_column_int64(stmt, 4);
		for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++)
			*over[i] = db_column_int64(stmt, 5 + (int)i);
	}
	state_stmt_done(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

long long
rep_throttle_rate(struct rep *r, const struct rep_enforce *e)
{
	struct rep_limits g, l;

	rep_limits_get(r, &g);
	rep_limits_effective(&g, &e->over, &l);
	return l.throttle_rate;
}

/* UPDATE ... with (id, state, reason, now); the number of rows changed or -1. */
static int
rep_enforce_update(struct state *st, const char *sql, long long id, enum rep_state s,
    const char *reason, time_t now)
{
	struct db_stmt *stmt = state_prepare(st, sql);
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, id);
	db_bind_int(stmt, 2, (int)s);
	db_bind_text(stmt, 3, reason != NULL ? reason : "", -1);
	db_bind_int64(stmt, 4, (long long)now);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	if (rc != DB_DONE)
		return -1;
	rc = db_changes(state_db(st));
	if (rc > 0)   /* a suspension or its end: the state cache's answers change */
		state_changed(st, id);
	return rc;
}

/* A suspension is tenants.suspended too; an operator's lower state in
 * place of an enforcement suspension lifts it (one by `tenant suspend`,
 * enforce_state 0, stays). */
#define REP_SET_SQL(cond) "UPDATE tenants SET enforce_state = ?2, enforce_reason = substr(?3, 1, 127)," \
	" enforce_time = ?4," \
	" suspended = CASE WHEN ?2 = 3 THEN 1 WHEN enforce_state = 3 THEN 0 ELSE suspended END," \
	" suspend_reason = CASE WHEN ?2 = 3 THEN substr(?3, 1, 127) WHEN enforce_state = 3 THEN ''" \
	" ELSE suspend_reason END WHERE id = ?1" cond ";"

int
rep_enforce_set(struct state *st, long long tenant_id, enum rep_state s, const char *reason,
    time_t now)
{
	if (s == REP_NONE)
		return rep_enforce_clear(st, tenant_id, now);
	return rep_enforce_update(st, REP_SET_SQL(""), tenant_id, s, reason, now) < 0 ? -1 : 0;
}

/* A tenant an operator suspended (`tenant suspend`: suspended = 1 with a
 * lower enforce_state) is left as it is: its own reason stays in
 * suspend_reason, and it sends nothing until `tenant resume` clears all. */
int
rep_enforce_escalate(struct state *st, long long tenant_id, enum rep_state s, const char *reason,
    time_t now)
{
	int n = rep_enforce_update(st, REP_SET_SQL(" AND enforce_state < ?2 AND suspended = 0"),
	    tenant_id, s, reason, now);

	return n < 0 ? -1 : n > 0;
}

int
rep_enforce_clear(struct state *st, long long tenant_id, time_t now)
{
	return rep_enforce_update(st, "UPDATE tenants SET enforce_state = ?2, enforce_reason = ?3,"
	    " enforce_time = 0, enforce_resumed = ?4, suspended = 0, suspend_reason = ''"
	    " WHERE id = ?1;", tenant_id, REP_NONE, "", now) < 0 ? -1 : 0;
}

int
rep_override_set(struct state *st, long long tenant_id, const struct rep_override *o)
{
	struct db_stmt *stmt = state_prepare(st, "UPDATE tenants SET"
#define REP_COL(c, n) " " c " = CASE WHEN ?" n " = -1 THEN " c " WHEN ?" n " = -2 THEN -1 ELSE ?" n " END"
	    REP_COL("rep_min_volume", "2") "," REP_COL("rep_complaint_throttle", "3") ","
	    REP_COL("rep_complaint_suspend", "4") "," REP_COL("rep_hard_throttle", "5") ","
	    REP_COL("rep_unknown_throttle", "6") "," REP_COL("rep_spike_factor", "7") ","
	    REP_COL("rep_spike_min", "8") "," REP_COL("rep_throttle_rate", "9")
#undef REP_COL
	    " WHERE id = ?1;");
	const long long v[] = { o->min_volume, o->complaint_throttle, o->complaint_suspend,
	    o->hard_throttle, o->unknown_throttle, o->spike_factor, o->spike_min, o->throttle_rate };
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	for (int i = 0; i < 8; i++)
		db_bind_int64(stmt, 2 + i, v[i]);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	return rc == DB_DONE ? 0 : -1;
}

/* Seconds since the tenant's first bucket in the last 7 days and after
 * since (its last resume; 0 none), as the windows count (0: none). */
static long long
rep_history(struct state *st, long long tenant_id, time_t since, time_t now)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT min(bucket) FROM reputation"
	    " WHERE tenant_id = ?1 AND bucket >= ?2;");
	long long h = 0;

	if (stmt == NULL)
		return 0;
	db_bind_int64(stmt, 1, tenant_id);
	db_bind_int64(stmt, 2, (long long)rep_window_first(7 * 86400, since, now));
	if (db_step(stmt) == DB_ROW && db_column_type(stmt, 0) != DB_NULL)
		h = (long long)(now - (time_t)db_column_int64(stmt, 0));
	state_stmt_done(stmt);
	return h;
}

static void
rep_enforce_log(const struct rep_enforce *e, long long id, enum rep_state s, const char *reason)
{
	char q[512];

	log_warn("event=tenant-%s tenant=%s tenant_id=%lld reason=%s", rep_state_name(s), e->tenant, id,
	    log_quote(q, sizeof(q), reason, strlen(reason)));
	if (s != REP_NONE)   /* EV_THROTTLED, EV_REVIEW, EV_SUSPENDED: the state's name */
		outbox_emit(&(struct state_event){ .tenant_id = id, .kind = rep_state_name(s), .rcpt_index = -1,
		    .detail = reason, .source = "reputation" });
}

int
rep_evaluate(struct rep *r, struct state *st, long long tenant_id, time_t now)
{
	struct rep_totals w[3];   /* the rules' window, the last hour, 7 days */
	struct rep_limits g, l;
	struct rep_enforce e;
	char reason[REP_REASON_MAX + 1];
	enum rep_state s;
	int rc;

	if (st == NULL)
		st = rep_state(r);
	if (st == NULL || (rc = rep_enforce_read(st, tenant_id, &e)) < 0)
		return -1;
	if (rc == 0 || e.state == REP_SUSPENDED)
		return rc == 0 ? REP_NONE : REP_SUSPENDED;
	rep_limits_get(r, &g);
	rep_limits_effective(&g, &e.over, &l);
	{
		/* evidence from the last resume on, the spike's baseline too: the
		 * hour leaves out what came before the resume, so the 7 days it is
		 * taken from must as well */
		const int secs[3] = { (int)l.window, 3600, 7 * 86400 };
		const time_t since[3] = { e.resumed, e.resumed, e.resumed };
		if (rep_totals_n(r, tenant_id, secs, since, 3, now, w) != 0)
			return -1;
	}
	s = rep_rules_apply(&l, &w[0], &w[1], &w[2], rep_history(st, tenant_id, e.resumed, now),
	    reason, sizeof(reason));
	if (s <= e.state)
		return (int)e.state;
	rc = rep_enforce_escalate(st, tenant_id, s, reason, now);
	if (rc < 0)
		return -1;
	if (rc == 1) {
		rep_enforce_log(&e, tenant_id, s, reason);
		return (int)s;
	}
	/* left alone (an operator's suspension) or escalated meanwhile by
	 * another thread: what is stored now */
	return rep_enforce_read(st, tenant_id, &e) == 1 ? (int)e.state : -1;
}
