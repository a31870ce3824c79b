/*
 * state_events.c - the events table (events.h).
 * Durability: the report or the delivery outcome an event stems from stays
 * in the queue until its events are committed, so a crash repeats an
 * event (at least once), never loses it; synchronous=NORMAL is enough.
 */
#include "state/events.h"
#include "state/state_internal.h"

#include <stdio.h>

static int
state_event_insert(struct state *st, const struct state_event *e)
{
	sqlite3_stmt *stmt = state_prepare(st, "INSERT INTO events(time, tenant_id, kind, queue_id,"
	    " rcpt_index, rcpt, category, hard, status, detail, source, report_id)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12);");
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)e->time);
	sqlite3_bind_int64(stmt, 2, e->tenant_id);
	sqlite3_bind_text(stmt, 3, e->kind, -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 4, e->queue_id ? e->queue_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 5, e->rcpt_index);
	sqlite3_bind_text(stmt, 6, e->rcpt ? e->rcpt : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, e->category ? e->category : "", -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 8, e->hard ? 1 : 0);
	sqlite3_bind_text(stmt, 9, e->status ? e->status : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 10, e->detail ? e->detail : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 11, e->source ? e->source : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 12, e->report_id ? e->report_id : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	state_stmt_done(stmt);
	return rc == SQLITE_DONE ? 0 : -1;
}

int
state_events_record(struct state *st, const struct state_event *ev, size_t n)
{
	sqlite3 *db = state_db(st);
	int rc = 0;

	if (db == NULL || sqlite3_exec(db, "BEGIN IMMEDIATE;", NULL, NULL, NULL) != SQLITE_OK)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = state_event_insert(st, &ev[i]);
	if (rc == 0 && sqlite3_exec(db, "COMMIT;", NULL, NULL, NULL) == SQLITE_OK)
		return 0;
	sqlite3_exec(db, "ROLLBACK;", NULL, NULL, NULL);
	return -1;
}

int
state_event_seen(struct state *st, long long tenant_id, const char *kind, const char *queue_id,
    int rcpt_index, const char *rcpt)
{
	/* "queue_id != ''" lets SQLite use the partial index events_message */
	sqlite3_stmt *stmt = state_prepare(st, "SELECT 1 FROM events WHERE queue_id = ?1 AND queue_id != ''"
	    " AND tenant_id = ?2 AND kind = ?3 AND rcpt_index = ?4 AND rcpt = ?5 LIMIT 1;");
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_text(stmt, 1, queue_id, -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 2, tenant_id);
	sqlite3_bind_text(stmt, 3, kind, -1, SQLITE_STATIC);
	sqlite3_bind_int(stmt, 4, rcpt_index);
	sqlite3_bind_text(stmt, 5, rcpt != NULL ? rcpt : "", -1, SQLITE_STATIC);
	rc = sqlite3_step(stmt);
	state_stmt_done(stmt);
	return rc == SQLITE_ROW ? 1 : rc == SQLITE_DONE ? 0 : -1;
}

static const char *
state_event_col(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return t != NULL ? (const char *)t : "";
}

int
state_events_list(struct state *st, long long tenant_id, const char *kind, long limit,
    state_event_fn fn, void *arg)
{
	sqlite3_stmt *stmt = state_prepare(st, "SELECT time, tenant_id, kind, queue_id, rcpt_index, rcpt,"
	    " category, hard, status, detail, source, report_id FROM events"
	    " WHERE (?1 = 0 OR tenant_id = ?1) AND (?2 = '' OR kind = ?2) ORDER BY id DESC LIMIT ?3;");
	int rc, n = 0;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, tenant_id);
	sqlite3_bind_text(stmt, 2, kind ? kind : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 3, limit > 0 ? limit : -1);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_event e = {
			.time = (time_t)sqlite3_column_int64(stmt, 0),
			.tenant_id = sqlite3_column_int64(stmt, 1),
			.kind = state_event_col(stmt, 2),
			.queue_id = state_event_col(stmt, 3),
			.rcpt_index = sqlite3_column_int(stmt, 4),
			.rcpt = state_event_col(stmt, 5),
			.category = state_event_col(stmt, 6),
			.hard = sqlite3_column_int(stmt, 7) != 0,
			.status = state_event_col(stmt, 8),
			.detail = state_event_col(stmt, 9),
			.source = state_event_col(stmt, 10),
			.report_id = state_event_col(stmt, 11),
		};
		fn(arg, &e);
		n++;
	}
	state_stmt_done(stmt);
	return rc == SQLITE_DONE ? n : -1;
}
