/*
 * db.h - one statement interface over the two state backends: SQLite (the
 * embedded default, one file per node) and PostgreSQL (shared by several
 * ferryd nodes, through libpq). The calls follow SQLite's own shape
 * (prepare, bind, step, column, reset) so the state code reads the same
 * whichever backend holds the data.
 *
 * SQL is written once, in the subset both engines run: numbered (?1) or
 * named (:name) parameters, ON CONFLICT(...) DO UPDATE with the target
 * table's columns qualified, INSERT OR IGNORE (the PostgreSQL driver turns
 * it into ON CONFLICT DO NOTHING), BEGIN IMMEDIATE (plain BEGIN there) and
 * PRAGMA (a no-op there). The PostgreSQL schema defines instr() so the
 * same text works; what cannot be shared is chosen with db_dialect().
 *
 * Threads: a struct db is one connection, used by one thread at a time.
 * Errors: DB_ERROR with the reason in db_errmsg(); a lost PostgreSQL
 * connection is reset (with backoff) on the next use, so a caller only ever
 * sees one failed call per outage and answers "try again later" (4xx).
 */
#ifndef FERRY_DB_DB_H
#define FERRY_DB_DB_H

#include <stddef.h>

enum db_rc {
	DB_OK         = 0,
	DB_ERROR      = 1,
	DB_BUSY       = 5,
	DB_CONSTRAINT = 19,    /* a UNIQUE, PRIMARY KEY or FOREIGN KEY violation */
	DB_ROW        = 100,
	DB_DONE       = 101,
};

enum db_type { DB_INTEGER = 1, DB_FLOAT = 2, DB_TEXT = 3, DB_BLOB = 4, DB_NULL = 5 };

enum db_dialect { DB_SQLITE, DB_PG };

struct db;
struct db_stmt;

/* PostgreSQL: conninfo is a postgresql:// URI (or key=value words). NULL
 * with the reason in err when the server cannot be reached. */
struct db *db_pg_connect(const char *conninfo, char *err, size_t errlen);
/* Bring a PostgreSQL database's schema to the latest version (under an
 * advisory lock: nodes starting together apply it once). 0 with the
 * versions before and after, or -1 with the reason in err. */
int db_pg_migrate(struct db *db, int *from, int *to, char *err, size_t errlen);
/* A database location for a log line: the password of a URI (any scheme,
 * user:PASSWORD@ or ?password=) or of key=value words replaced by ***.
 * Always NUL-terminated (cut to outlen). Returns out. (db_uri.c) */
char *db_uri_redact(const char *uri, char *out, size_t outlen);
/* Is this state location a PostgreSQL one (postgres:// or postgresql://)? */
int db_is_pg_uri(const char *s);
/* Wrap an open SQLite connection (struct sqlite3 *); db_close closes it. */
struct db *db_sqlite_wrap(void *sqlite3_handle);
void *db_sqlite_handle(struct db *db);   /* NULL for PostgreSQL */

void db_close(struct db *db);
enum db_dialect db_dialect(const struct db *db);
const char *db_errmsg(struct db *db);
/* Run SQL without parameters (several statements may be separated by ;). */
int db_exec(struct db *db, const char *sql);
/* Rows changed by the last INSERT, UPDATE or DELETE on this connection. */
long long db_changes(struct db *db);
/* The id given to the row the last INSERT made (an INTEGER PRIMARY KEY or
 * a PostgreSQL identity column). */
long long db_last_insert_id(struct db *db);

/* Prepare sql; DB_OK with *out set, or DB_ERROR. db_finalize frees it. */
int db_prepare(struct db *db, const char *sql, struct db_stmt **out);
/* sql prepared on db and kept there for the next caller that asks with the
 * same text (NULL on error). Give it back with db_stmt_done. */
struct db_stmt *db_cached(struct db *db, const char *sql);
/* Reset and unbind a statement (of db_cached: and give it back). */
void db_stmt_done(struct db_stmt *stmt);
void db_finalize(struct db_stmt *stmt);
struct db *db_stmt_db(struct db_stmt *stmt);

/* Parameters count from 1. Text and blobs are copied: the caller's buffer
 * need not outlive the call. len < 0: text up to its NUL. */
int db_bind_int64(struct db_stmt *s, int i, long long v);
int db_bind_int(struct db_stmt *s, int i, int v);
int db_bind_double(struct db_stmt *s, int i, double v);
int db_bind_text(struct db_stmt *s, int i, const char *v, int len);
int db_bind_blob(struct db_stmt *s, int i, const void *v, int len);
int db_bind_null(struct db_stmt *s, int i);
/* The index of a named parameter (":name"), 0 when the SQL has none. */
int db_bind_parameter_index(struct db_stmt *s, const char *name);

/* DB_ROW (a row to read), DB_DONE, DB_CONSTRAINT, DB_BUSY or DB_ERROR. */
int db_step(struct db_stmt *s);
/* Start over (bindings kept), as sqlite3_reset. */
int db_reset(struct db_stmt *s);
int db_clear_bindings(struct db_stmt *s);

/* Columns of the current row, counting from 0. A NULL reads as 0 or NULL;
 * text is NUL-terminated and stays valid until the next step or reset. */
int db_column_count(struct db_stmt *s);
enum db_type db_column_type(struct db_stmt *s, int col);
long long db_column_int64(struct db_stmt *s, int col);
int db_column_int(struct db_stmt *s, int col);
double db_column_double(struct db_stmt *s, int col);
const unsigned char *db_column_text(struct db_stmt *s, int col);
const void *db_column_blob(struct db_stmt *s, int col);
int db_column_bytes(struct db_stmt *s, int col);
const char *db_stmt_sql(struct db_stmt *s);

#endif
