/*
 * ctl_db.c - `ferryctl db status` and `ferryctl db migrate`: which state
 * database the configuration names, its schema version and how many nodes
 * use it; and, for PostgreSQL, the versioned schema migrations
 * (db_pg_migrate, under the driver's advisory lock, so a migrate racing
 * a starting node applies each step once). SQLite needs no migrate step:
 * the embedded database is brought up to date in place whenever ferryd or
 * ferryctl opens it.
 * SECURITY: a postgresql:// location is printed with its password as ***.
 */
#include <stdio.h>
#include <string.h>

#include "db/db.h"
#include "db/schema.h"
#include "ferryctl/ctl_state.h"

const char ctl_db_usage[] =
    "  db status                             the state database: SQLite file or PostgreSQL URI\n"
    "                                        (password as ***), schema version, nodes\n"
    "  db migrate                            PostgreSQL: apply the schema migrations it lacks;\n"
    "                                        SQLite: brought up to date in place (at every open)\n";

static void
ctl_db_nodes_print(struct db *db)
{
	struct db_stmt *s = NULL;

	if (db_prepare(db, "SELECT count(*) FROM nodes", &s) == DB_OK && db_step(s) == DB_ROW)
		printf("nodes: %lld (ferryctl cluster status)\n", db_column_int64(s, 0));
	else
		printf("nodes: unknown (%s)\n", db_errmsg(db));
	db_finalize(s);
}

/* A connection of our own: state_open would migrate on the way in. */
static struct db *
ctl_db_pg_connect(struct ctl *c, char *shown, size_t shownlen)
{
	char err[1024];
	struct db *db;

	db_uri_redact(c->state, shown, shownlen);
	if ((db = db_pg_connect(c->state, err, sizeof(err))) == NULL)
		ctl_warn("%s: %s", shown, err);
	return db;
}

static int
ctl_db_pg_status(struct ctl *c)
{
	char shown[CTL_PATH_MAX];
	struct db *db = ctl_db_pg_connect(c, shown, sizeof(shown));
	int v;

	if (db == NULL)
		return CTL_EXIT_ERR;
	printf("backend: postgresql\nlocation: %s\n", shown);
	if ((v = db_pg_schema_version(db)) < 0)
		printf("schema version: unknown (%s)\n", db_errmsg(db));
	else if (v < db_pg_schema_latest())
		printf("schema version: %d (this ferry's: %d; ferryctl db migrate applies the rest)\n", v,
		    db_pg_schema_latest());
	else
		printf("schema version: %d\n", v);
	if (v > 0)
		ctl_db_nodes_print(db);
	db_close(db);
	return v < 0 ? CTL_EXIT_ERR : CTL_EXIT_OK;
}

static int
ctl_db_pg_migrate(struct ctl *c)
{
	char shown[CTL_PATH_MAX], err[1024];
	struct db *db = ctl_db_pg_connect(c, shown, sizeof(shown));
	int from, to, rc;

	if (db == NULL)
		return CTL_EXIT_ERR;
	rc = db_pg_migrate(db, &from, &to, err, sizeof(err));
	db_close(db);
	if (rc != 0) {
		ctl_warn("%s: %s", shown, err);
		return CTL_EXIT_ERR;
	}
	if (from == to)
		printf("schema at version %d, nothing to do\n", to);
	else
		printf("schema version %d -> %d\n", from, to);
	return CTL_EXIT_OK;
}

static int
ctl_db_sqlite_status(struct ctl *c, struct state *st)
{
	struct db *db = state_db(st);

	printf("backend: sqlite\nlocation: %s\n"
	    "schema version: - (SQLite is brought up to date in place at every open)\n", c->state);
	if (db != NULL)
		ctl_db_nodes_print(db);
	return db != NULL ? CTL_EXIT_OK : CTL_EXIT_ERR;
}

/* Opening it was the migration (state_open brings the schema up to date). */
static int
ctl_db_sqlite_migrate(struct ctl *c, struct state *st)
{
	(void)st;
	printf("%s: SQLite state is brought up to date in place whenever ferryd or ferryctl opens it;"
	    " it is up to date now\n", c->state);
	return CTL_EXIT_OK;
}

/* A subcommand's two sides: PostgreSQL on a connection of its own,
 * SQLite through the state layer (a status never creates the file). */
struct ctl_db_cmd {
	int  (*pg)(struct ctl *c);
	int  (*sqlite)(struct ctl *c, struct state *st);
	bool   create;
};

static int
ctl_db_run(struct ctl *c, const struct ctl_db_cmd *k)
{
	struct state *st;
	int rc;

	if (ctl_state_path(c) < 0)
		return CTL_EXIT_ERR;
	if (db_is_pg_uri(c->state))
		return k->pg(c);
	if ((st = ctl_state_open(c, k->create)) == NULL)
		return CTL_EXIT_ERR;
	rc = k->sqlite(c, st);
	state_close(st);
	return rc;
}

static int
ctl_db_status(struct ctl *c, struct state *unused, const struct ctl_sargs *a)
{
	static const struct ctl_db_cmd k = { ctl_db_pg_status, ctl_db_sqlite_status, false };

	(void)unused;
	(void)a;
	return ctl_db_run(c, &k);
}

static int
ctl_db_migrate(struct ctl *c, struct state *unused, const struct ctl_sargs *a)
{
	static const struct ctl_db_cmd k = { ctl_db_pg_migrate, ctl_db_sqlite_migrate, true };

	(void)unused;
	(void)a;
	return ctl_db_run(c, &k);
}

static const struct ctl_sub ctl_db_subs[] = {
	{ "status",  0, 0, 0, true, ctl_db_status },
	{ "migrate", 0, 0, 0, true, ctl_db_migrate },
};

int
ctl_db_main(struct ctl *c, int argc, char **argv)
{
	static const struct ctl_group g = { "db", ctl_db_usage, ctl_db_subs,
	    sizeof(ctl_db_subs) / sizeof(ctl_db_subs[0]) };

	return ctl_group_main(c, &g, argc, argv);
}
