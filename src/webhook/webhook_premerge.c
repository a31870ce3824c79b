/*
 * webhook_premerge.c - TEMPORARY, deleted when main (the outbox and
 * state_events_query) is merged into feat-webhook: stand-ins so the
 * webhook branch links and its tests run before then. outbox_emit logs
 * the event instead of recording it; state_events_query reads the columns
 * the events table has on this branch.
 */
#include <stdio.h>

#include "events/outbox.h"
#include "state/events.h"
#include "state/state_internal.h"
#include "util/log.h"

int
outbox_on_commit(outbox_commit_fn fn, void *arg)
{
	(void)fn;
	(void)arg;
	return 0;
}

void
outbox_emit(const struct state_event *ev)
{
	log_info("event=outbox-premerge kind=%s tenant_id=%lld", ev->kind, ev->tenant_id);
}

static const char *
premerge_col(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return t != NULL ? (const char *)t : "";
}

int
state_events_query(struct state *st, const struct state_event_query *q, state_event_fn fn, void *arg)
{
	sqlite3_stmt *stmt = state_prepare(st, "SELECT id, time, tenant_id, kind, queue_id, rcpt_index,"
	    " rcpt, category, hard, status, detail, source, report_id FROM events"
	    " WHERE (?1 = 0 OR tenant_id = ?1) AND id > ?2 ORDER BY id LIMIT ?3;");
	int rc, n = 0;

	if (stmt == NULL || !q->ascending)
		return -1;
	sqlite3_bind_int64(stmt, 1, q->tenant_id);
	sqlite3_bind_int64(stmt, 2, q->after_id);
	sqlite3_bind_int64(stmt, 3, q->limit > 0 ? q->limit : 100);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_event e = {
			.id = sqlite3_column_int64(stmt, 0),
			.time = (time_t)sqlite3_column_int64(stmt, 1),
			.tenant_id = sqlite3_column_int64(stmt, 2),
			.kind = premerge_col(stmt, 3),
			.queue_id = premerge_col(stmt, 4),
			.rcpt_index = sqlite3_column_int(stmt, 5),
			.rcpt = premerge_col(stmt, 6),
			.category = premerge_col(stmt, 7),
			.hard = sqlite3_column_int(stmt, 8) != 0,
			.status = premerge_col(stmt, 9),
			.detail = premerge_col(stmt, 10),
			.source = premerge_col(stmt, 11),
			.report_id = premerge_col(stmt, 12),
		};
		fn(arg, &e);
		n++;
	}
	state_stmt_done(stmt);
	return rc == SQLITE_DONE ? n : -1;
}
