/*
 * test_db_pg_sql.c - the PostgreSQL driver's SQL translation (db_pg_sql.c)
 * without a server: numbered, bare and named parameters, literals and
 * comments left alone, INSERT OR IGNORE, BEGIN IMMEDIATE, PRAGMA, WITHOUT
 * ROWID, COLLATE NOCASE, the refusals; and db_uri_redact.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "db/db.h"
#include "db/db_pg.h"

static struct db_pg_sql info;

static const char *
tr(const char *sql)
{
	static char out[1024];
	char err[128];

	assert_int_equal(db_pg_translate(sql, out, sizeof(out), &info, err, sizeof(err)), 0);
	return out;
}

static void
test_params(void **state)
{
	(void)state;
	assert_string_equal(tr("SELECT ?1, ?, ?5, ?"), "SELECT $1, $2, $5, $6");
	assert_int_equal(info.nparams, 6);
	assert_string_equal(tr("SELECT a FROM t WHERE b = ?2 AND c = ?1"), "SELECT a FROM t WHERE b = $2 AND c = $1");
	assert_int_equal(info.nparams, 2);
	assert_string_equal(tr("SELECT :a, :b_2, :a, ?"), "SELECT $1, $2, $1, $3");
	assert_int_equal(db_pg_sql_name_index(&info, ":a"), 1);
	assert_int_equal(db_pg_sql_name_index(&info, ":b_2"), 2);
	assert_int_equal(db_pg_sql_name_index(&info, ":b"), 0);
	assert_int_equal(db_pg_sql_name_index(&info, "a"), 0);
	/* as SQLite numbers them: a name after ?3 is 4 */
	assert_string_equal(tr("SELECT ?3, :x"), "SELECT $3, $4");
	assert_int_equal(db_pg_sql_name_index(&info, ":x"), 4);
	assert_string_equal(tr("SELECT x::text, ?"), "SELECT x::text, $1");
	assert_string_equal(tr("SELECT 1"), "SELECT 1");
	assert_int_equal(info.nparams, 0);
	assert_false(info.empty);
}

static void
test_quoted(void **state)
{
	(void)state;
	assert_string_equal(tr("SELECT '?1 :a', \"x?\", 'it''s ?' -- ? :b\n, ? /* ?2 */"),
	    "SELECT '?1 :a', \"x?\", 'it''s ?' -- ? :b\n, $1 /* ?2 */");
	assert_int_equal(info.nparams, 1);
	assert_int_equal(info.nnames, 0);
	assert_string_equal(tr("SELECT 'PRAGMA x; INSERT OR IGNORE'"), "SELECT 'PRAGMA x; INSERT OR IGNORE'");
	/* an unterminated literal is the server's to refuse */
	assert_string_equal(tr("SELECT 'abc ?"), "SELECT 'abc ?");
}

static void
test_rewrites(void **state)
{
	(void)state;
	assert_string_equal(tr("INSERT OR IGNORE INTO t(a) VALUES (?1);"),
	    "INSERT INTO t(a) VALUES ($1) ON CONFLICT DO NOTHING;");
	assert_string_equal(tr("insert  or ignore into t values (1)  "),
	    "insert into t values (1) ON CONFLICT DO NOTHING  ");
	assert_string_equal(tr("INSERT OR IGNORE INTO a VALUES(1); INSERT INTO b VALUES(2);"
	    " INSERT OR IGNORE INTO c SELECT 3 -- last\n"),
	    "INSERT INTO a VALUES(1) ON CONFLICT DO NOTHING; INSERT INTO b VALUES(2);"
	    " INSERT INTO c SELECT 3 ON CONFLICT DO NOTHING -- last\n");
	assert_string_equal(tr("BEGIN IMMEDIATE;"), "BEGIN;");
	assert_string_equal(tr("begin deferred"), "begin");
	assert_string_equal(tr("CREATE TABLE x(a TEXT, PRIMARY KEY(a)) WITHOUT ROWID;"),
	    "CREATE TABLE x(a TEXT, PRIMARY KEY(a));");
	assert_string_equal(tr("SELECT 1 FROM e WHERE rcpt = ?1 COLLATE NOCASE AND x = 2"),
	    "SELECT 1 FROM e WHERE rcpt = $1 AND x = 2");
	assert_string_equal(tr("SELECT pragma_x, inserts, collate_nocase FROM without_rowid"),
	    "SELECT pragma_x, inserts, collate_nocase FROM without_rowid");
	/* PRAGMA statements vanish, the others stay */
	assert_string_equal(tr("PRAGMA foreign_keys=ON;"), "");
	assert_true(info.empty);
	assert_string_equal(tr("PRAGMA journal_mode=WAL; PRAGMA synchronous='x;y';"), " ");
	assert_true(info.empty);
	assert_string_equal(tr("PRAGMA a; SELECT ?1; PRAGMA b"), " SELECT $1; ");
	/* a name in a dropped PRAGMA numbers nothing */
	assert_string_equal(tr("PRAGMA x = :p; SELECT :q"), " SELECT $1");
	assert_int_equal(info.nnames, 1);
	assert_int_equal(db_pg_sql_name_index(&info, ":q"), 1);
	assert_false(info.empty);
	/* PRAGMA only as a statement's first word */
	assert_string_equal(tr("SELECT 1 AS pragma"), "SELECT 1 AS pragma");
}

static void
test_refused(void **state)
{
	char out[32], err[128];

	(void)state;
	assert_int_equal(db_pg_translate("SELECT ?0", out, sizeof(out), &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "range"));
	assert_int_equal(db_pg_translate("SELECT ?1000", out, sizeof(out), &info, err, sizeof(err)), -1);
	assert_int_equal(db_pg_translate("SELECT ?99999999999999999999", out, sizeof(out), &info, err,
	    sizeof(err)), -1);
	assert_int_equal(db_pg_translate("SELECT 1 FROM a_rather_long_table_name_here", out, sizeof(out),
	    &info, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	assert_string_equal(out, "");
	assert_int_equal(db_pg_translate("SELECT :a_name_much_longer_than_forty_eight_characters_xxxxxxxx",
	    out, sizeof(out), &info, err, sizeof(err)), -1);
	/* exactly fits: "SELECT $1" and its NUL in 10 */
	assert_int_equal(db_pg_translate("SELECT ?", out, 10, &info, err, sizeof(err)), 0);
	assert_int_equal(db_pg_translate("SELECT ?", out, 9, &info, err, sizeof(err)), -1);
}

static void
test_redact(void **state)
{
	char out[256];

	(void)state;
	assert_string_equal(db_uri_redact("postgresql://ferry:s3cr%40t@db.example:5432/ferry?sslmode=require",
	    out, sizeof(out)), "postgresql://ferry:***@db.example:5432/ferry?sslmode=require");
	assert_string_equal(db_uri_redact("postgres://u@h/d?password=x&sslmode=disable", out, sizeof(out)),
	    "postgres://u@h/d?password=***&sslmode=disable");
	assert_string_equal(db_uri_redact("redis://:pw@127.0.0.1:6379/0", out, sizeof(out)),
	    "redis://:***@127.0.0.1:6379/0");
	assert_string_equal(db_uri_redact("postgresql://u@h:5/d", out, sizeof(out)), "postgresql://u@h:5/d");
	assert_string_equal(db_uri_redact("host=h password = 'a b\\' c' user=u", out, sizeof(out)),
	    "host=h password = *** user=u");
	assert_string_equal(db_uri_redact("host=h password=abc", out, sizeof(out)), "host=h password=***");
	assert_string_equal(db_uri_redact("host=h mypassword=abc", out, sizeof(out)), "host=h mypassword=abc");
	/* cut, never past the buffer, still without the password */
	assert_string_equal(db_uri_redact("postgresql://u:secret@host/db", out, 18), "postgresql://u:**");
	assert_string_equal(db_uri_redact(NULL, out, sizeof(out)), "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_params),
		cmocka_unit_test(test_quoted),
		cmocka_unit_test(test_rewrites),
		cmocka_unit_test(test_refused),
		cmocka_unit_test(test_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
