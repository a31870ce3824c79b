/*
 * test_db_pg.c - the PostgreSQL driver of db.h (src/db/db_pg.c) and the
 * schema migrations (schema_pg.c) against a real PostgreSQL 15: run by
 * tests/pgserver.sh, which starts a throwaway server on loopback and sets
 * FERRY_TEST_PG (its conninfo) and FERRY_TEST_PG_STOP / _START (commands
 * that stop and start that same server, for the reconnect test).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/schema.h"

static const char *
conninfo(void)
{
	const char *c = getenv("FERRY_TEST_PG");

	if (c == NULL)
		fail_msg("FERRY_TEST_PG is not set: run this test through tests/pgserver.sh run -- %s",
		    "test_db_pg");
	return c;
}

static struct db *
connect_to(const char *info)
{
	char err[512];
	struct db *db = db_pg_connect(info, err, sizeof(err));

	if (db == NULL)
		fail_msg("connect: %s", err);
	assert_int_equal(db_dialect(db), DB_PG);
	assert_null(db_sqlite_handle(db));
	return db;
}

static void
exec_ok(struct db *db, const char *sql)
{
	if (db_exec(db, sql) != DB_OK)
		fail_msg("%s: %s", sql, db_errmsg(db));
}

static struct db_stmt *
prep(struct db *db, const char *sql)
{
	struct db_stmt *s = NULL;

	if (db_prepare(db, sql, &s) != DB_OK)
		fail_msg("%s: %s", sql, db_errmsg(db));
	return s;
}

static void
test_round_trips(void **state)
{
	static const unsigned char blob[] = { 0, 1, 0xff, '\\', 'x', 0 };
	struct db *db = connect_to(conninfo());
	struct db_stmt *s;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS rt; CREATE TABLE rt(a BIGINT, b TEXT, c BYTEA, d DOUBLE PRECISION)");
	s = prep(db, "INSERT INTO rt(a, b, c, d) VALUES (?1, ?2, ?3, ?4)");
	assert_int_equal(db_bind_int64(s, 1, -5000000000123LL), DB_OK);
	assert_int_equal(db_bind_text(s, 2, "h\xc3\xa9llo 'q' ?1 $1", -1), DB_OK);
	assert_int_equal(db_bind_blob(s, 3, blob, sizeof(blob)), DB_OK);
	assert_int_equal(db_bind_double(s, 4, 2.5), DB_OK);
	assert_int_equal(db_bind_int(s, 5, 1), DB_ERROR);   /* out of range */
	assert_int_equal(db_step(s), DB_DONE);
	assert_int_equal(db_changes(db), 1);
	/* all NULL: a row of bindings cleared */
	db_reset(s);
	db_clear_bindings(s);
	assert_int_equal(db_step(s), DB_DONE);
	db_finalize(s);

	s = prep(db, "SELECT a, b, c, d, a > 0, sum(a) OVER () FROM rt ORDER BY a NULLS LAST");
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_column_count(s), 6);
	assert_int_equal(db_column_type(s, 0), DB_INTEGER);
	assert_true(db_column_int64(s, 0) == -5000000000123LL);
	assert_int_equal(db_column_type(s, 1), DB_TEXT);
	assert_string_equal((const char *)db_column_text(s, 1), "h\xc3\xa9llo 'q' ?1 $1");
	assert_int_equal(db_column_bytes(s, 1), (int)strlen("h\xc3\xa9llo 'q' ?1 $1"));
	assert_int_equal(db_column_type(s, 2), DB_BLOB);
	assert_int_equal(db_column_bytes(s, 2), (int)sizeof(blob));
	assert_memory_equal(db_column_blob(s, 2), blob, sizeof(blob));
	assert_int_equal(db_column_type(s, 3), DB_FLOAT);
	assert_true(db_column_double(s, 3) == 2.5);
	assert_int_equal(db_column_int(s, 4), 0);           /* boolean false */
	assert_string_equal((const char *)db_column_text(s, 4), "0");
	assert_int_equal(db_column_type(s, 5), DB_INTEGER); /* a whole numeric */
	assert_true(db_column_int64(s, 5) == -5000000000123LL);
	assert_int_equal(db_step(s), DB_ROW);
	for (int c = 0; c < 4; c++)
		assert_int_equal(db_column_type(s, c), DB_NULL);
	assert_int_equal(db_column_int64(s, 0), 0);
	assert_null(db_column_text(s, 1));
	assert_null(db_column_blob(s, 2));
	assert_int_equal(db_column_bytes(s, 2), 0);
	assert_int_equal(db_step(s), DB_DONE);
	/* a step after DONE runs it again, as SQLite's does */
	assert_int_equal(db_step(s), DB_ROW);
	db_finalize(s);

	/* bare ? and a numeric read as an integer */
	s = prep(db, "SELECT ? + ?, 12.0::numeric, 7.5::numeric");
	db_bind_int(s, 1, 2);
	db_bind_int(s, 2, 3);
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_column_int(s, 0), 5);
	assert_int_equal(db_column_int(s, 1), 12);
	assert_int_equal(db_column_type(s, 2), DB_FLOAT);
	assert_true(db_column_double(s, 2) == 7.5);
	db_finalize(s);
	db_close(db);
}

static void
test_named(void **state)
{
	struct db *db = connect_to(conninfo());
	struct db_stmt *s;

	(void)state;
	s = prep(db, "SELECT :name || '-' || :num, :name = 'x', ':name'");
	assert_int_equal(db_bind_parameter_index(s, ":name"), 1);
	assert_int_equal(db_bind_parameter_index(s, ":num"), 2);
	assert_int_equal(db_bind_parameter_index(s, ":nope"), 0);
	db_bind_text(s, db_bind_parameter_index(s, ":name"), "x", -1);
	db_bind_text(s, db_bind_parameter_index(s, ":num"), "42", -1);
	assert_int_equal(db_step(s), DB_ROW);
	assert_string_equal((const char *)db_column_text(s, 0), "x-42");
	assert_int_equal(db_column_int(s, 1), 1);
	assert_string_equal((const char *)db_column_text(s, 2), ":name");
	/* rebinding without a reset runs it again with the new value */
	db_bind_text(s, 1, "y", -1);
	assert_int_equal(db_step(s), DB_ROW);
	assert_string_equal((const char *)db_column_text(s, 0), "y-42");
	db_finalize(s);
	db_close(db);
}

static void
test_constraint_changes_ids(void **state)
{
	struct db *db = connect_to(conninfo());
	struct db_stmt *s;

	(void)state;
	exec_ok(db, "DROP TABLE IF EXISTS kv; CREATE TABLE kv(id BIGINT GENERATED BY DEFAULT AS IDENTITY"
	    " PRIMARY KEY, k TEXT UNIQUE NOT NULL, v BIGINT NOT NULL DEFAULT 0) WITHOUT ROWID;");
	s = prep(db, "INSERT INTO kv(k) VALUES (?1)");
	db_bind_text(s, 1, "a", -1);
	assert_int_equal(db_step(s), DB_DONE);
	assert_int_equal(db_last_insert_id(db), 1);
	db_reset(s);
	assert_int_equal(db_step(s), DB_CONSTRAINT);       /* the same k again */
	assert_non_null(strstr(db_errmsg(db), "duplicate key"));
	db_bind_text(s, 1, "b", -1);
	assert_int_equal(db_step(s), DB_DONE);
	assert_int_equal(db_last_insert_id(db), 3);        /* the failed insert drew 2 */
	db_finalize(s);

	s = prep(db, "INSERT OR IGNORE INTO kv(k) VALUES (?1);");
	db_bind_text(s, 1, "a", -1);
	assert_int_equal(db_step(s), DB_DONE);
	assert_int_equal(db_changes(db), 0);
	db_finalize(s);
	exec_ok(db, "UPDATE kv SET v = v + 1");
	assert_int_equal(db_changes(db), 2);
	exec_ok(db, "SELECT 1");                           /* a SELECT leaves changes alone */
	assert_int_equal(db_changes(db), 2);
	assert_int_equal(db_exec(db, "INSERT INTO kv(id, k) VALUES (1, 'z')"), DB_CONSTRAINT);
	assert_int_equal(db_exec(db, "SELECT no_such_column FROM kv"), DB_ERROR);
	assert_non_null(strstr(db_errmsg(db), "no_such_column"));
	/* PRAGMA is nothing, BEGIN IMMEDIATE a BEGIN */
	assert_int_equal(db_exec(db, "PRAGMA foreign_keys=ON;"), DB_OK);
	s = prep(db, "PRAGMA journal_mode=WAL");
	assert_int_equal(db_step(s), DB_DONE);
	db_finalize(s);
	exec_ok(db, "BEGIN IMMEDIATE; DELETE FROM kv WHERE k = 'a' COLLATE NOCASE;");
	assert_int_equal(db_changes(db), 1);
	exec_ok(db, "ROLLBACK");
	s = prep(db, "SELECT count(*) FROM kv");
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_column_int(s, 0), 2);
	db_finalize(s);
	db_close(db);
}

static void
test_cache(void **state)
{
	static const char sql[] = "SELECT x FROM generate_series(1, 3) AS x";
	struct db *db = connect_to(conninfo());
	struct db_stmt *a, *b, *c;

	(void)state;
	a = db_cached(db, sql);
	assert_non_null(a);
	assert_int_equal(db_step(a), DB_ROW);
	b = db_cached(db, sql);                            /* a is busy: another one */
	assert_non_null(b);
	assert_ptr_not_equal(a, b);
	assert_int_equal(db_step(b), DB_ROW);
	assert_int_equal(db_column_int(b, 0), 1);
	assert_int_equal(db_step(a), DB_ROW);
	assert_int_equal(db_column_int(a, 0), 2);
	db_stmt_done(a);
	c = db_cached(db, sql);                            /* given back: the same again, reset */
	assert_ptr_equal(c, a);
	assert_int_equal(db_step(c), DB_ROW);
	assert_int_equal(db_column_int(c, 0), 1);
	db_stmt_done(c);
	db_stmt_done(b);
	assert_null(db_cached(db, "SELECT ?0"));
	db_close(db);                                      /* frees the cached ones (ASan) */
}

/* The conninfo of another database on the same server. */
static void
other_db(char *out, size_t outlen, const char *name)
{
	const char *c = conninfo(), *slash = strrchr(c, '/');

	assert_non_null(slash);
	snprintf(out, outlen, "%.*s/%s", (int)(slash - c), c, name);
}

static void
test_migrate(void **state)
{
	struct db *admin = connect_to(conninfo()), *db;
	char info[512], err[512];
	struct db_stmt *s;
	int from, to;

	(void)state;
	exec_ok(admin, "DROP DATABASE IF EXISTS migtest");
	exec_ok(admin, "CREATE DATABASE migtest");
	other_db(info, sizeof(info), "migtest");
	db = connect_to(info);
	assert_int_equal(db_pg_schema_version(db), 0);
	if (db_pg_migrate(db, &from, &to, err, sizeof(err)) != 0)
		fail_msg("migrate: %s", err);
	assert_int_equal(from, 0);
	assert_int_equal(to, db_pg_schema_latest());
	assert_true(to >= 1);
	assert_int_equal(db_pg_schema_version(db), to);
	/* again: nothing to do */
	assert_int_equal(db_pg_migrate(db, &from, &to, err, sizeof(err)), 0);
	assert_int_equal(from, db_pg_schema_latest());
	assert_int_equal(to, db_pg_schema_latest());
	/* the schema answers the state code's SQL */
	s = prep(db, "SELECT instr('abc', 'c'), max(2, 7), min(2, 7, 1), max(1, NULL),"
	    " (SELECT count(*) FROM nodes), (SELECT max(id) FROM tenants)");
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_column_int(s, 0), 3);
	assert_int_equal(db_column_int(s, 1), 7);
	assert_int_equal(db_column_int(s, 2), 1);
	assert_int_equal(db_column_type(s, 3), DB_NULL);
	assert_int_equal(db_column_int(s, 4), 0);
	assert_int_equal(db_column_type(s, 5), DB_NULL);
	db_finalize(s);
	exec_ok(db, "INSERT INTO tenants(name, created) VALUES ('t', 1);"
	    " INSERT INTO events(time, tenant_id, kind, rcpt, node) VALUES (1, 1, 'delivered', 'A@B.example', 'n1');"
	    " INSERT INTO counters(key, period, \"window\", count) VALUES ('k', 60, 1, 1);"
	    " INSERT INTO stats_hourly(tenant_id, hour, domain, source_ip, node) VALUES (1, 1, 'd', 'i', 'n1');"
	    " INSERT INTO nodes(name, heartbeat) VALUES ('n1', 5)");
	s = prep(db, "SELECT id FROM events WHERE lower(rcpt) = lower(?1)");
	db_bind_text(s, 1, "a@b.EXAMPLE", -1);
	assert_int_equal(db_step(s), DB_ROW);
	db_finalize(s);
	/* a version from a newer ferry is refused */
	exec_ok(db, "UPDATE meta SET value = '99' WHERE key = 'schema_version'");
	assert_int_equal(db_pg_schema_version(db), 99);
	assert_int_equal(db_pg_migrate(db, &from, &to, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "newer"));
	db_close(db);
	exec_ok(admin, "DROP DATABASE migtest");
	db_close(admin);
}

static void
run_or_fail(const char *env)
{
	const char *cmd = getenv(env);

	if (cmd == NULL)
		fail_msg("%s is not set (run through tests/pgserver.sh)", env);
	if (system(cmd) != 0)
		fail_msg("%s failed", cmd);
}

static void
test_reconnect(void **state)
{
	struct db *db = connect_to(conninfo());
	struct db_stmt *s = prep(db, "SELECT 40 + ?1");
	struct timespec pause = { 0, 50 * 1000 * 1000 };
	int ok = 0, tries;

	(void)state;
	exec_ok(db, "SELECT 1");
	run_or_fail("FERRY_TEST_PG_STOP");
	assert_int_equal(db_exec(db, "SELECT 1"), DB_ERROR);
	assert_true(db_errmsg(db)[0] != '\0');
	/* down: every call fails, none blocks */
	for (tries = 0; tries < 5; tries++)
		assert_int_equal(db_exec(db, "SELECT 1"), DB_ERROR);
	run_or_fail("FERRY_TEST_PG_START");
	/* the backoff is at most 5 s: poll well beyond it */
	for (tries = 0; tries < 600 && !ok; tries++) {
		ok = db_exec(db, "SELECT 1") == DB_OK;
		if (!ok)
			nanosleep(&pause, NULL);
	}
	assert_true(ok);
	/* a statement prepared before the outage works after it */
	db_bind_int(s, 1, 2);
	assert_int_equal(db_step(s), DB_ROW);
	assert_int_equal(db_column_int(s, 0), 42);
	db_finalize(s);
	db_close(db);
}

static void
test_connect_refused(void **state)
{
	char err[512];

	(void)state;
	/* port 1 on loopback: nothing listens; the password never shows */
	assert_null(db_pg_connect("postgresql://u:hunter2@127.0.0.1:1/x?connect_timeout=2", err, sizeof(err)));
	assert_non_null(strstr(err, "127.0.0.1"));
	assert_null(strstr(err, "hunter2"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trips),
		cmocka_unit_test(test_named),
		cmocka_unit_test(test_constraint_changes_ids),
		cmocka_unit_test(test_cache),
		cmocka_unit_test(test_migrate),
		cmocka_unit_test(test_connect_refused),
		cmocka_unit_test(test_reconnect),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
