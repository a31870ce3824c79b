/*
 * state_events.c - the events table (events.h).
 * Durability: the report or the delivery outcome an event stems from stays
 * in the queue until its events are committed, so a crash repeats an
 * event (at least once), never loses it; synchronous=NORMAL is enough.
 * (Delivery outcomes go through the outbox's batches: see outbox.h.)
 */
#include "state/events.h"
#include "state/state_internal.h"

#include <stdio.h>
#include <string.h>

#define EVENT_COLS "id, time, tenant_id, kind, queue_id, rcpt_index, rcpt, category, hard, status," \
	" detail, source, report_id, message_id, sender, source_ip, site, code, attempt, delay, size"

static void
state_event_bind_text(sqlite3_stmt *stmt, int i, const char *v)
{
	size_t n = v != NULL ? strnlen(v, EVENT_TEXT_MAX) : 0;

	sqlite3_bind_text(stmt, i, v != NULL ? v : "", (int)n, SQLITE_STATIC);
}

static int
state_event_insert(struct state *st, const struct state_event *e)
{
	sqlite3_stmt *stmt = state_prepare(st, "INSERT INTO events(time, tenant_id, kind, queue_id,"
	    " rcpt_index, rcpt, category, hard, status, detail, source, report_id, message_id, sender,"
	    " source_ip, site, code, attempt, delay, size)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20);");
	const char *text[] = { e->kind, e->queue_id, NULL, e->rcpt, e->category, NULL, e->status, e->detail,
	    e->source, e->report_id, e->message_id, e->sender, e->source_ip, e->site };
	int rc;

	if (stmt == NULL)
		return -1;
	sqlite3_bind_int64(stmt, 1, (sqlite3_int64)e->time);
	sqlite3_bind_int64(stmt, 2, e->tenant_id);
	for (int i = 0; i < (int)(sizeof(text) / sizeof(text[0])); i++)
		if (i != 2 && i != 5)
			state_event_bind_text(stmt, 3 + i, text[i]);
	sqlite3_bind_int(stmt, 5, e->rcpt_index);
	sqlite3_bind_int(stmt, 8, e->hard ? 1 : 0);
	sqlite3_bind_int(stmt, 17, e->code);
	sqlite3_bind_int(stmt, 18, e->attempt);
	sqlite3_bind_int64(stmt, 19, e->delay);
	sqlite3_bind_int64(stmt, 20, e->size);
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

/* A row of EVENT_COLS as a struct (strings valid until the next step). */
static void
state_event_row(sqlite3_stmt *stmt, struct state_event *e)
{
	*e = (struct state_event){
		.id = sqlite3_column_int64(stmt, 0),
		.time = (time_t)sqlite3_column_int64(stmt, 1),
		.tenant_id = sqlite3_column_int64(stmt, 2),
		.kind = state_event_col(stmt, 3),
		.queue_id = state_event_col(stmt, 4),
		.rcpt_index = sqlite3_column_int(stmt, 5),
		.rcpt = state_event_col(stmt, 6),
		.category = state_event_col(stmt, 7),
		.hard = sqlite3_column_int(stmt, 8) != 0,
		.status = state_event_col(stmt, 9),
		.detail = state_event_col(stmt, 10),
		.source = state_event_col(stmt, 11),
		.report_id = state_event_col(stmt, 12),
		.message_id = state_event_col(stmt, 13),
		.sender = state_event_col(stmt, 14),
		.source_ip = state_event_col(stmt, 15),
		.site = state_event_col(stmt, 16),
		.code = sqlite3_column_int(stmt, 17),
		.attempt = sqlite3_column_int(stmt, 18),
		.delay = sqlite3_column_int64(stmt, 19),
		.size = sqlite3_column_int64(stmt, 20),
	};
}

static int
state_events_each(sqlite3_stmt *stmt, state_event_fn fn, void *arg)
{
	int rc, n = 0;

	while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
		struct state_event e;
		state_event_row(stmt, &e);
		fn(arg, &e);
		n++;
	}
	state_stmt_done(stmt);
	return rc == SQLITE_DONE ? n : -1;
}

int
state_events_list(struct state *st, long long tenant_id, const char *kind, long limit,
    state_event_fn fn, void *arg)
{
	struct state_event_query q = { .tenant_id = tenant_id, .kind = kind, .limit = limit > 0 ? limit : -1 };

	return state_events_query(st, &q, fn, arg);
}

/* The kinds of q as one comma-separated list bound as a value (instr
 * on ",LIST," keeps the statement fixed, so the prepared cache holds). */
static void
state_event_kinds(const struct state_event_query *q, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	if (q->kind != NULL && q->kind[0])
		snprintf(out, size, ",%s,", q->kind);
	else if (q->kinds != NULL && q->kinds[0] != NULL) {
		for (size_t i = 0; q->kinds[i] != NULL && len < size; i++)
			len += (size_t)snprintf(out + len, size - len, ",%s", q->kinds[i]);
		if (len + 1 < size)
			snprintf(out + len, size - len, ",");
	}
}

/* Every filter of struct state_event_query; 0 or '' turns one off. Only
 * the received events carry the Message-ID: a search by it finds every
 * event of the queue ids it was received as. */
#define EVENT_WHERE " WHERE (?1 = 0 OR tenant_id = ?1) AND (?2 = 0 OR id > ?2)" \
	" AND (?3 = 0 OR id < ?3) AND (?4 = '' OR instr(?4, ',' || kind || ',') > 0)" \
	" AND (?5 = '' OR rcpt = ?5 COLLATE NOCASE) AND (?6 = '' OR queue_id = ?6)" \
	" AND (?7 = '' OR queue_id IN (SELECT queue_id FROM events WHERE message_id = ?7 AND message_id != ''))" \
	" AND (?8 = 0 OR time >= ?8) AND (?9 = 0 OR time < ?9)"

int
state_events_query(struct state *st, const struct state_event_query *q, state_event_fn fn, void *arg)
{
	sqlite3_stmt *stmt = state_prepare(st, q->ascending ?
	    "SELECT " EVENT_COLS " FROM events" EVENT_WHERE " ORDER BY id ASC LIMIT ?10;" :
	    "SELECT " EVENT_COLS " FROM events" EVENT_WHERE " ORDER BY id DESC LIMIT ?10;");
	char kinds[512];

	if (stmt == NULL)
		return -1;
	state_event_kinds(q, kinds, sizeof(kinds));
	sqlite3_bind_int64(stmt, 1, q->tenant_id);
	sqlite3_bind_int64(stmt, 2, q->after_id);
	sqlite3_bind_int64(stmt, 3, q->before_id);
	sqlite3_bind_text(stmt, 4, kinds, -1, SQLITE_TRANSIENT);
	sqlite3_bind_text(stmt, 5, q->rcpt ? q->rcpt : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 6, q->queue_id ? q->queue_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_text(stmt, 7, q->message_id ? q->message_id : "", -1, SQLITE_STATIC);
	sqlite3_bind_int64(stmt, 8, (sqlite3_int64)q->since);
	sqlite3_bind_int64(stmt, 9, (sqlite3_int64)q->until);
	sqlite3_bind_int64(stmt, 10, q->limit != 0 ? q->limit : 100);
	return state_events_each(stmt, fn, arg);
}
