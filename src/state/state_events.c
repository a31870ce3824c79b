/*
 * state_events.c - the events table (events.h).
 * Durability: the report or the delivery outcome an event stems from stays
 * in the queue until its events are committed, so a crash repeats an
 * event (at least once), never loses it; synchronous=NORMAL is enough.
 * (Delivery outcomes go through the outbox's batches: see outbox.h.)
 */
#include "state/events.h"
#include "state/state_internal.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

const char *const event_kinds[] = {
	EV_RECEIVED, EV_DELIVERED, EV_DEFERRED, EV_BOUNCED, EV_EXPIRED, EV_SUPPRESSED,
	EV_COMPLAINED, EV_DELAYED, EV_AUTOREPLY, EV_UNRECOGNIZED, EV_HELD, EV_RELEASED,
	EV_SHAPING, EV_THROTTLED, EV_REVIEW, EV_SUSPENDED, EV_RESUMED, EV_UNSUBSCRIBED,
	EV_WEBHOOK_DROPPED,
};
const size_t event_nkinds = sizeof(event_kinds) / sizeof(event_kinds[0]);
_Static_assert(sizeof(event_kinds) / sizeof(event_kinds[0]) <= EVENT_KINDS_MAX, "EVENT_KINDS_MAX");

const char *
event_kind_find(const char *s, size_t len)
{
	for (size_t i = 0; i < event_nkinds; i++)
		if (strlen(event_kinds[i]) == len && memcmp(event_kinds[i], s, len) == 0)
			return event_kinds[i];
	return NULL;
}

#define EVENT_COLS "id, time, tenant_id, kind, queue_id, rcpt_index, rcpt, category, hard, status," \
	" detail, source, report_id, message_id, sender, source_ip, site, code, attempt, delay, size, node"

/* Written once at start, before the outbox's writer runs. */
static char state_events_node[STATE_NAME_MAX + 1];

void
state_events_node_set(const char *name)
{
	snprintf(state_events_node, sizeof(state_events_node), "%s", name != NULL ? name : "");
}

const char *
state_events_node_get(void)
{
	return state_events_node;
}

static void
state_event_bind_text(struct db_stmt *stmt, int i, const char *v)
{
	size_t n = v != NULL ? strnlen(v, EVENT_TEXT_MAX) : 0;

	db_bind_text(stmt, i, v != NULL ? v : "", (int)n);
}

static int
state_event_insert(struct state *st, const struct state_event *e)
{
	struct db_stmt *stmt = state_prepare(st, "INSERT INTO events(time, tenant_id, kind, queue_id,"
	    " rcpt_index, rcpt, category, hard, status, detail, source, report_id, message_id, sender,"
	    " source_ip, site, code, attempt, delay, size, node)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20,"
	    " ?21);");
	const char *text[] = { e->kind, e->queue_id, NULL, e->rcpt, e->category, NULL, e->status, e->detail,
	    e->source, e->report_id, e->message_id, e->sender, e->source_ip, e->site };
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, (long long)e->time);
	db_bind_int64(stmt, 2, e->tenant_id);
	for (int i = 0; i < (int)(sizeof(text) / sizeof(text[0])); i++)
		if (i != 2 && i != 5)
			state_event_bind_text(stmt, 3 + i, text[i]);
	db_bind_int(stmt, 5, e->rcpt_index);
	db_bind_int(stmt, 8, e->hard ? 1 : 0);
	db_bind_int(stmt, 17, e->code);
	db_bind_int(stmt, 18, e->attempt);
	db_bind_int64(stmt, 19, e->delay);
	db_bind_int64(stmt, 20, e->size);
	db_bind_text(stmt, 21, state_events_node, -1);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	return rc == DB_DONE ? 0 : -1;
}

int
state_events_record(struct state *st, const struct state_event *ev, size_t n)
{
	struct db *db = state_db(st);
	int rc = 0;

	if (db == NULL || db_exec(db, "BEGIN IMMEDIATE;") != DB_OK)
		return -1;
	for (size_t i = 0; i < n && rc == 0; i++)
		rc = state_event_insert(st, &ev[i]);
	if (rc == 0 && db_exec(db, "COMMIT;") == DB_OK)
		return 0;
	db_exec(db, "ROLLBACK;");
	return -1;
}

int
state_event_seen(struct state *st, long long tenant_id, const char *kind, const char *queue_id,
    int rcpt_index, const char *rcpt)
{
	/* "queue_id != ''" lets SQLite use the partial index events_message */
	struct db_stmt *stmt = state_prepare(st, "SELECT 1 FROM events WHERE queue_id = ?1 AND queue_id != ''"
	    " AND tenant_id = ?2 AND kind = ?3 AND rcpt_index = ?4 AND rcpt = ?5 LIMIT 1;");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, queue_id, -1);
	db_bind_int64(stmt, 2, tenant_id);
	db_bind_text(stmt, 3, kind, -1);
	db_bind_int(stmt, 4, rcpt_index);
	db_bind_text(stmt, 5, rcpt != NULL ? rcpt : "", -1);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

static const char *
state_event_col(struct db_stmt *stmt, int col)
{
	const unsigned char *t = db_column_text(stmt, col);

	return t != NULL ? (const char *)t : "";
}

/* A row of EVENT_COLS as a struct (strings valid until the next step). */
static void
state_event_row(struct db_stmt *stmt, struct state_event *e)
{
	*e = (struct state_event){
		.id = db_column_int64(stmt, 0),
		.time = (time_t)db_column_int64(stmt, 1),
		.tenant_id = db_column_int64(stmt, 2),
		.kind = state_event_col(stmt, 3),
		.queue_id = state_event_col(stmt, 4),
		.rcpt_index = db_column_int(stmt, 5),
		.rcpt = state_event_col(stmt, 6),
		.category = state_event_col(stmt, 7),
		.hard = db_column_int(stmt, 8) != 0,
		.status = state_event_col(stmt, 9),
		.detail = state_event_col(stmt, 10),
		.source = state_event_col(stmt, 11),
		.report_id = state_event_col(stmt, 12),
		.message_id = state_event_col(stmt, 13),
		.sender = state_event_col(stmt, 14),
		.source_ip = state_event_col(stmt, 15),
		.site = state_event_col(stmt, 16),
		.code = db_column_int(stmt, 17),
		.attempt = db_column_int(stmt, 18),
		.delay = db_column_int64(stmt, 19),
		.size = db_column_int64(stmt, 20),
		.node = state_event_col(stmt, 21),
	};
}

static int
state_events_each(struct db_stmt *stmt, state_event_fn fn, void *arg)
{
	int rc, n = 0;

	while ((rc = db_step(stmt)) == DB_ROW) {
		struct state_event e;
		state_event_row(stmt, &e);
		fn(arg, &e);
		n++;
	}
	state_stmt_done(stmt);
	return rc == DB_DONE ? n : -1;
}

int
state_events_list(struct state *st, long long tenant_id, const char *kind, long limit,
    state_event_fn fn, void *arg)
{
	struct state_event_query q = { .tenant_id = tenant_id, .kind = kind, .limit = limit > 0 ? limit : -1 };

	return state_events_query(st, &q, fn, arg);
}

#define EVQ_KINDS_MAX 32

static bool
evq_set(const char *v)
{
	return v != NULL && v[0] != '\0';
}

/* The SQL of q: only the conditions it sets, so SQLite picks the index
 * that fits (tenant_id+id, rcpt, queue_id, time). Only the received
 * events carry the Message-ID: a search by it finds every event of the
 * queue ids it was received as. 0, or -1 when it does not fit. */
static int
evq_sql(const struct state_event_query *q, char *sql, size_t len)
{
	size_t o = (size_t)snprintf(sql, len, "SELECT " EVENT_COLS " FROM events WHERE 1 = 1");
#define EVQ_ADD(...) do { if (o < len) o += (size_t)snprintf(sql + o, len - o, __VA_ARGS__); } while (0)
	if (q->tenant_id != 0) EVQ_ADD(" AND tenant_id = :tenant");
	if (q->after_id != 0) EVQ_ADD(" AND id > :after");
	if (q->before_id != 0) EVQ_ADD(" AND id < :before");
	/* one kind or several: one bound ",a,b," list, so the statement's text
	 * (and the per-connection cache of prepared statements) does not grow
	 * with the number of kinds asked for */
	if (evq_set(q->kind) || (q->kinds != NULL && q->kinds[0] != NULL))
		EVQ_ADD(" AND instr(:kinds, ',' || kind || ',') > 0");
	if (evq_set(q->rcpt)) EVQ_ADD(" AND lower(rcpt) = lower(:rcpt) AND rcpt != ''");
	if (evq_set(q->queue_id)) EVQ_ADD(" AND queue_id = :qid AND queue_id != ''");
	if (evq_set(q->message_id))
		EVQ_ADD(" AND queue_id IN (SELECT queue_id FROM events WHERE message_id = :mid AND message_id != '')");
	if (q->since != 0) EVQ_ADD(" AND time >= :since");
	if (q->until != 0) EVQ_ADD(" AND time < :until");
	EVQ_ADD(" ORDER BY id %s LIMIT :limit;", q->ascending ? "ASC" : "DESC");
#undef EVQ_ADD
	return o < len ? 0 : -1;
}

static void
evq_bind_text(struct db_stmt *stmt, const char *name, const char *v)
{
	int i = db_bind_parameter_index(stmt, name);

	if (i > 0)
		db_bind_text(stmt, i, v, -1);
}

static void
evq_bind_int(struct db_stmt *stmt, const char *name, long long v)
{
	int i = db_bind_parameter_index(stmt, name);

	if (i > 0)
		db_bind_int64(stmt, i, v);
}

/* q's kinds as ",a,b," (kind names are short words of events.h; a list
 * that would not fit is cut at a whole name). */
static void
evq_kinds(const struct state_event_query *q, char *out, size_t size)
{
	size_t len = (size_t)snprintf(out, size, ",");

	if (evq_set(q->kind)) {
		snprintf(out, size, ",%s,", q->kind);
		return;
	}
	for (size_t i = 0; q->kinds != NULL && i < EVQ_KINDS_MAX && q->kinds[i] != NULL; i++) {
		size_t n = strlen(q->kinds[i]);
		if (len + n + 2 > size)
			break;
		memcpy(out + len, q->kinds[i], n);
		len += n;
		out[len++] = ',';
		out[len] = '\0';
	}
}

static void
evq_bind(struct db_stmt *stmt, const struct state_event_query *q)
{
	char kinds[EVQ_KINDS_MAX * 24];
	int i;

	evq_bind_int(stmt, ":tenant", q->tenant_id);
	evq_bind_int(stmt, ":after", q->after_id);
	evq_bind_int(stmt, ":before", q->before_id);
	evq_kinds(q, kinds, sizeof(kinds));
	if ((i = db_bind_parameter_index(stmt, ":kinds")) > 0)
		db_bind_text(stmt, i, kinds, -1);    /* kinds is this frame's */
	evq_bind_text(stmt, ":rcpt", q->rcpt);
	evq_bind_text(stmt, ":qid", q->queue_id);
	evq_bind_text(stmt, ":mid", q->message_id);
	evq_bind_int(stmt, ":since", (long long)q->since);
	evq_bind_int(stmt, ":until", (long long)q->until);
	evq_bind_int(stmt, ":limit", q->limit != 0 ? q->limit : 100);
}

int
state_events_query(struct state *st, const struct state_event_query *q, state_event_fn fn, void *arg)
{
	char sql[1536];
	struct db_stmt *stmt;

	if (evq_sql(q, sql, sizeof(sql)) < 0 || (stmt = state_prepare(st, sql)) == NULL)
		return -1;
	evq_bind(stmt, q);
	return state_events_each(stmt, fn, arg);
}
