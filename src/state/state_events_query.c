/*
 * state_events_query.c - the events query of the HTTP API and webhooks
 * (events.h, state_events_query), written by the HTTP listener's branch
 * until the outbox's own lands (then this file goes).
 * The SQL holds only the conditions a query sets, so SQLite can use the
 * (tenant_id, id) index; every value is bound.
 * SECURITY: the text values are the client's; they are bound, never part
 * of SQL. A tenant's query always carries its tenant_id.
 */
#include "state/events.h"
#include "state/state_internal.h"

#include <stdio.h>
#include <string.h>

#define EVQ_KINDS_MAX 32

static const char *
evq_col(sqlite3_stmt *stmt, int col)
{
	const unsigned char *t = sqlite3_column_text(stmt, col);

	return t != NULL ? (const char *)t : "";
}

/* The SQL of q into sql: 0, or -1 when it does not fit. */
static int
evq_sql(const struct state_event_query *q, char *sql, size_t len)
{
	size_t o = (size_t)snprintf(sql, len, "SELECT id, time, tenant_id, kind, queue_id, rcpt_index, rcpt,"
	    " category, hard, status, detail, source, report_id FROM events WHERE 1");
#define EVQ_ADD(...) do { if (o < len) o += (size_t)snprintf(sql + o, len - o, __VA_ARGS__); } while (0)
	if (q->tenant_id != 0) EVQ_ADD(" AND tenant_id = :tenant");
	if (q->after_id != 0) EVQ_ADD(" AND id > :after");
	if (q->before_id != 0) EVQ_ADD(" AND id < :before");
	if (q->kind != NULL) EVQ_ADD(" AND kind = :kind");
	if (q->kinds != NULL) {
		EVQ_ADD(" AND kind IN (''");
		for (size_t i = 0; q->kinds[i] != NULL && i < EVQ_KINDS_MAX; i++)
			EVQ_ADD(", :k%zu", i);
		EVQ_ADD(")");
	}
	if (q->rcpt != NULL) EVQ_ADD(" AND rcpt = :rcpt COLLATE NOCASE");
	if (q->queue_id != NULL) EVQ_ADD(" AND queue_id = :qid AND queue_id != ''");
	if (q->message_id != NULL) EVQ_ADD(" AND message_id = :mid");
	if (q->since != 0) EVQ_ADD(" AND time >= :since");
	if (q->until != 0) EVQ_ADD(" AND time <= :until");
	EVQ_ADD(" ORDER BY id %s LIMIT :limit;", q->ascending ? "ASC" : "DESC");
#undef EVQ_ADD
	return o < len ? 0 : -1;
}

static void
evq_bind_text(sqlite3_stmt *stmt, const char *name, const char *v)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	if (i > 0)
		sqlite3_bind_text(stmt, i, v, -1, SQLITE_STATIC);
}

static void
evq_bind_int(sqlite3_stmt *stmt, const char *name, long long v)
{
	int i = sqlite3_bind_parameter_index(stmt, name);

	if (i > 0)
		sqlite3_bind_int64(stmt, i, v);
}

static void
evq_bind(sqlite3_stmt *stmt, const struct state_event_query *q)
{
	char name[16];

	evq_bind_int(stmt, ":tenant", q->tenant_id);
	evq_bind_int(stmt, ":after", q->after_id);
	evq_bind_int(stmt, ":before", q->before_id);
	evq_bind_text(stmt, ":kind", q->kind);
	for (size_t i = 0; q->kinds != NULL && q->kinds[i] != NULL && i < EVQ_KINDS_MAX; i++) {
		snprintf(name, sizeof(name), ":k%zu", i);
		evq_bind_text(stmt, name, q->kinds[i]);
	}
	evq_bind_text(stmt, ":rcpt", q->rcpt);
	evq_bind_text(stmt, ":qid", q->queue_id);
	evq_bind_text(stmt, ":mid", q->message_id);
	evq_bind_int(stmt, ":since", (long long)q->since);
	evq_bind_int(stmt, ":until", (long long)q->until);
	evq_bind_int(stmt, ":limit", q->limit > 0 ? q->limit : 100);
}

int
state_events_query(struct state *st, const struct state_event_query *q, state_event_fn fn, void *arg)
{
	char sql[1024];
	sqlite3_stmt *stmt;
	int rc, n = 0;

	if (evq_sql(q, sql, sizeof(sql)) < 0 || (stmt = state_prepare(st, sql)) == NULL)
		return -1;
	evq_bind(stmt, q);
	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_event e = {
			.id = sqlite3_column_int64(stmt, 0),
			.time = (time_t)sqlite3_column_int64(stmt, 1),
			.tenant_id = sqlite3_column_int64(stmt, 2),
			.kind = evq_col(stmt, 3),
			.queue_id = evq_col(stmt, 4),
			.rcpt_index = sqlite3_column_int(stmt, 5),
			.rcpt = evq_col(stmt, 6),
			.category = evq_col(stmt, 7),
			.hard = sqlite3_column_int(stmt, 8) != 0,
			.status = evq_col(stmt, 9),
			.detail = evq_col(stmt, 10),
			.source = evq_col(stmt, 11),
			.report_id = evq_col(stmt, 12),
		};
		fn(arg, &e);
		n++;
	}
	state_stmt_done(stmt);
	return rc == SQLITE_DONE ? n : -1;
}
