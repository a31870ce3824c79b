/*
 * db_pg.h - the PostgreSQL driver's SQL translator: the SQLite dialect the
 * state code writes (db.h) turned into PostgreSQL's, once per prepare. A
 * pure function so the unit tests and the fuzz target run it without a
 * server. It trusts nothing: the text is scanned with bounds, an output
 * that does not fit or a parameter out of range is an error, never a cut.
 */
#ifndef FERRY_DB_PG_H
#define FERRY_DB_PG_H

#include <stdbool.h>
#include <stddef.h>

#define DB_PG_PARAMS_MAX 999   /* SQLite's own default limit */
#define DB_PG_NAMES_MAX  32
#define DB_PG_NAME_LEN   48    /* ":name" with its colon and NUL */

struct db_pg_sql {
	int  nparams;                                 /* highest $N of the output */
	int  nnames;
	char names[DB_PG_NAMES_MAX][DB_PG_NAME_LEN];  /* ":name", as written */
	int  name_index[DB_PG_NAMES_MAX];             /* its $N */
	bool empty;                                   /* nothing left to run (PRAGMA) */
};

/*
 * Translate sql into out (NUL-terminated): ?N -> $N, ? -> the next number,
 * :name -> $k (the number SQLite would give it: one past the highest so
 * far at its first appearance), INSERT OR IGNORE ... -> INSERT ... ON
 * CONFLICT DO NOTHING, BEGIN IMMEDIATE|DEFERRED|EXCLUSIVE -> BEGIN, a PRAGMA
 * statement -> nothing, WITHOUT ROWID and COLLATE NOCASE -> nothing. Text
 * inside '...', "...", -- and block comments is copied as is. 0, or -1
 * with the reason in err.
 */
int db_pg_translate(const char *sql, char *out, size_t outlen, struct db_pg_sql *info,
    char *err, size_t errlen);
/* The $N of ":name" in info, 0 when it has none. */
int db_pg_sql_name_index(const struct db_pg_sql *info, const char *name);

#endif
