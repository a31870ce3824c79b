/* state_fixture.h - for unit tests of the state layer: where a test's
 * state lives. By default ferry.db in the test's own temporary directory;
 * with FERRY_TEST_PG set (the ctest entries unit_pg_*, run under
 * tests/pgserver.sh) that PostgreSQL database, emptied first (its public
 * schema dropped and made again, state_open then migrates it), so each
 * test starts from nothing whichever backend holds it. DKIM key files go
 * to dkim/ in the temporary directory either way (PostgreSQL keeps only
 * their paths). Trusts FERRY_TEST_PG: it names a throwaway server.
 * Needs cmocka.h included before it. */
#ifndef FERRY_TESTS_STATE_FIXTURE_H
#define FERRY_TESTS_STATE_FIXTURE_H

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db/db.h"
#include "state/state.h"

/* Is this run against PostgreSQL? */
static inline bool
state_fixture_pg(void)
{
	const char *c = getenv("FERRY_TEST_PG");

	return c != NULL && *c != '\0';
}

/* Drop everything a test before left in the PostgreSQL database. */
static inline void
state_fixture_pg_empty(const char *conninfo)
{
	char err[512];
	struct db *db = db_pg_connect(conninfo, err, sizeof(err));

	if (db == NULL)
		fail_msg("%s", err);
	if (db_exec(db, "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public;") != DB_OK)
		fail_msg("emptying the test database: %s", db_errmsg(db));
	db_close(db);
}

/* Make the test's temporary directory /tmp/ferry-NAME.XXXXXX in dir. */
static inline void
state_fixture_mkdtemp(char *dir, size_t dirlen, const char *name)
{
	if ((size_t)snprintf(dir, dirlen, "/tmp/ferry-%s.XXXXXX", name) >= dirlen || mkdtemp(dir) == NULL)
		fail_msg("mkdtemp /tmp/ferry-%s.XXXXXX", name);
}

/* Remove the test's temporary directory and all in it. */
static inline void
state_fixture_rmdir(const char *dir)
{
	char cmd[128];

	if ((size_t)snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= sizeof(cmd) || system(cmd) != 0)
		fail_msg("cannot remove %s", dir);
}

/* Open a fresh state for a test whose temporary directory is dir: path
 * (pathlen) is set to where it lives, for the test's own connections. */
static inline struct state *
state_fixture_open(const char *dir, char *path, size_t pathlen, char *err, size_t errlen)
{
	struct state *st;
	char keys[256];

	if (!state_fixture_pg()) {
		snprintf(path, pathlen, "%s/ferry.db", dir);
		st = state_open(path, err, errlen);
		if (st == NULL)
			fail_msg("%s", err);
		return st;
	}
	if ((size_t)snprintf(path, pathlen, "%s", getenv("FERRY_TEST_PG")) >= pathlen)
		fail_msg("FERRY_TEST_PG longer than %zu", pathlen - 1);
	state_fixture_pg_empty(path);
	if ((st = state_open(path, err, errlen)) == NULL)
		fail_msg("%s", err);
	/* the keys where a SQLite state would put them: beside "the file" */
	snprintf(keys, sizeof(keys), "%s/dkim", dir);
	if (mkdir(keys, 0700) != 0)
		fail_msg("mkdir %s", keys);
	state_key_dir_set(st, keys);
	return st;
}

/* The plain fixture of a state test: a temporary directory and a fresh
 * state in it (or on FERRY_TEST_PG). Tests with more to set up embed it. */
struct state_fx {
	char          dir[64], path[128], err[512];
	struct state *st;
};

static inline struct state_fx *
state_fx_new(const char *name)
{
	struct state_fx *fx = calloc(1, sizeof(*fx));

	if (fx == NULL)
		fail_msg("no memory");
	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), name);
	fx->st = state_fixture_open(fx->dir, fx->path, sizeof(fx->path), fx->err, sizeof(fx->err));
	return fx;
}

static inline int
state_fx_teardown(void **state)
{
	struct state_fx *fx = *state;

	state_close(fx->st);
	state_fixture_rmdir(fx->dir);
	free(fx);
	return 0;
}

/* In a test that only means something on SQLite (the file itself, its
 * older layouts, SQLite-only SQL): skipped on PostgreSQL, saying why. */
#define STATE_FIXTURE_SQLITE_ONLY(why) do {                                   \
	if (state_fixture_pg()) {                                             \
		print_message("[  SKIP    ] on PostgreSQL: %s\n", (why));     \
		skip();                                                       \
	}                                                                     \
} while (0)

#endif
