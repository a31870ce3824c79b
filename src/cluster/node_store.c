/*
 * node_store.c - the nodes table (see node.h): one row per node, written
 * by that node's heartbeat and read by `ferryctl cluster status`.
 * The SQL is the subset both backends run (src/db/db.h): numbered
 * parameters and ON CONFLICT(name) DO UPDATE from excluded.
 * Trusts: nothing read back; text columns are copied bounded.
 */
#include <stdio.h>
#include <string.h>

#include "cluster/node.h"
#include "db/db.h"
#include "state/state_internal.h"

#define NODE_COLS "name, version, started, heartbeat, queue_messages, queue_recipients, listen"

int
node_row_write(struct state *st, const struct node_row *r, char *err, size_t errlen)
{
	struct db *db = state_db(st);
	struct db_stmt *stmt;
	int rc;

	if (db == NULL) {
		snprintf(err, errlen, "cannot connect to the state database");
		return -1;
	}
	/* Every column is replaced: a node restarted with a new version,
	 * start time or listeners shows them at its first beat. */
	stmt = db_cached(db, "INSERT INTO nodes(" NODE_COLS ") VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
	    " ON CONFLICT(name) DO UPDATE SET version = excluded.version, started = excluded.started,"
	    " heartbeat = excluded.heartbeat, queue_messages = excluded.queue_messages,"
	    " queue_recipients = excluded.queue_recipients, listen = excluded.listen;");
	if (stmt == NULL) {
		snprintf(err, errlen, "%s", db_errmsg(db));
		return -1;
	}
	db_bind_text(stmt, 1, r->name, -1);
	db_bind_text(stmt, 2, r->version, -1);
	db_bind_int64(stmt, 3, r->started);
	db_bind_int64(stmt, 4, r->heartbeat);
	db_bind_int64(stmt, 5, r->queue_messages);
	db_bind_int64(stmt, 6, r->queue_recipients);
	db_bind_text(stmt, 7, r->listen, -1);
	rc = db_step(stmt);
	if (rc != DB_DONE)
		snprintf(err, errlen, "%s", db_errmsg(db));
	db_stmt_done(stmt);
	return rc == DB_DONE ? 0 : -1;
}

long
node_rows_read(struct state *st, node_row_fn fn, void *arg)
{
	struct db *db = state_db(st);
	struct db_stmt *stmt;
	struct node_row r;
	long n = 0;
	int rc;

	if (db == NULL || (stmt = db_cached(db, "SELECT " NODE_COLS " FROM nodes ORDER BY name;")) == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&r, 0, sizeof(r));
		state_text_copy(r.name, sizeof(r.name), stmt, 0);
		state_text_copy(r.version, sizeof(r.version), stmt, 1);
		r.started = db_column_int64(stmt, 2);
		r.heartbeat = db_column_int64(stmt, 3);
		r.queue_messages = db_column_int64(stmt, 4);
		r.queue_recipients = db_column_int64(stmt, 5);
		state_text_copy(r.listen, sizeof(r.listen), stmt, 6);
		fn(arg, &r);
		n++;
	}
	db_stmt_done(stmt);
	return rc == DB_DONE ? n : -1;
}

bool
node_is_up(long long heartbeat, time_t now)
{
	return (long long)now - heartbeat <= NODE_UP_SECONDS;
}
