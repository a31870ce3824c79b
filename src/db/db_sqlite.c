/*
 * db_sqlite.c - the SQLite driver of db.h: a thin pass-through to the
 * sqlite3 API (the embedded default; every call maps one to one).
 */
#include <sqlite3.h>
#include <stdlib.h>

#include "db/db_internal.h"

struct sdb {
	struct db base;
	sqlite3  *h;
};

struct sstmt {
	struct db_stmt base;
	sqlite3_stmt  *h;
};

#define SDB(d)  (((struct sdb *)(void *)(d))->h)
#define SST(s)  (((struct sstmt *)(void *)(s))->h)

static int
sq_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:         return DB_OK;
	case SQLITE_ROW:        return DB_ROW;
	case SQLITE_DONE:       return DB_DONE;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:     return DB_BUSY;
	case SQLITE_CONSTRAINT: return DB_CONSTRAINT;
	default:                return DB_ERROR;
	}
}

static void
sq_close(struct db *db)
{
	db_cache_clear(db);
	sqlite3_close_v2(SDB(db));
	free(db);
}

static const char *sq_errmsg(struct db *db) { return sqlite3_errmsg(SDB(db)); }
static int sq_exec(struct db *db, const char *sql) { return sq_rc(sqlite3_exec(SDB(db), sql, NULL, NULL, NULL)); }
static long long sq_changes(struct db *db) { return sqlite3_changes(SDB(db)); }
static long long sq_last_insert_id(struct db *db) { return sqlite3_last_insert_rowid(SDB(db)); }

static int
sq_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	struct sstmt *s = calloc(1, sizeof(*s));

	if (s == NULL || db_stmt_init(&s->base, db, sql) < 0 ||
	    sqlite3_prepare_v3(SDB(db), sql, -1, SQLITE_PREPARE_PERSISTENT, &s->h, NULL) != SQLITE_OK) {
		if (s != NULL)
			free(s->base.sql);
		free(s);
		return DB_ERROR;
	}
	*out = &s->base;
	return DB_OK;
}

static void
sq_finalize(struct db_stmt *s)
{
	sqlite3_finalize(SST(s));
	free(s->sql);
	free(s);
}

static int sq_bind_int64(struct db_stmt *s, int i, long long v) { return sq_rc(sqlite3_bind_int64(SST(s), i, v)); }
static int sq_bind_double(struct db_stmt *s, int i, double v) { return sq_rc(sqlite3_bind_double(SST(s), i, v)); }
static int
sq_bind_text(struct db_stmt *s, int i, const char *v, int len)
{
	return sq_rc(sqlite3_bind_text(SST(s), i, v, len, SQLITE_TRANSIENT));
}
static int
sq_bind_blob(struct db_stmt *s, int i, const void *v, int len)
{
	return sq_rc(sqlite3_bind_blob(SST(s), i, v, len, SQLITE_TRANSIENT));
}
static int sq_bind_null(struct db_stmt *s, int i) { return sq_rc(sqlite3_bind_null(SST(s), i)); }
static int sq_bind_index(struct db_stmt *s, const char *n) { return sqlite3_bind_parameter_index(SST(s), n); }
static int sq_step(struct db_stmt *s) { return sq_rc(sqlite3_step(SST(s))); }
static int sq_reset(struct db_stmt *s) { return sq_rc(sqlite3_reset(SST(s))); }
static int sq_clear(struct db_stmt *s) { return sq_rc(sqlite3_clear_bindings(SST(s))); }
static int sq_column_count(struct db_stmt *s) { return sqlite3_column_count(SST(s)); }
static enum db_type sq_column_type(struct db_stmt *s, int c) { return (enum db_type)sqlite3_column_type(SST(s), c); }
static long long sq_column_int64(struct db_stmt *s, int c) { return sqlite3_column_int64(SST(s), c); }
static double sq_column_double(struct db_stmt *s, int c) { return sqlite3_column_double(SST(s), c); }
static const unsigned char *sq_column_text(struct db_stmt *s, int c) { return sqlite3_column_text(SST(s), c); }
static const void *sq_column_blob(struct db_stmt *s, int c) { return sqlite3_column_blob(SST(s), c); }
static int sq_column_bytes(struct db_stmt *s, int c) { return sqlite3_column_bytes(SST(s), c); }

static const struct db_ops sq_ops = {
	.close = sq_close, .errmsg = sq_errmsg, .exec = sq_exec, .changes = sq_changes,
	.last_insert_id = sq_last_insert_id, .prepare = sq_prepare, .finalize = sq_finalize,
	.bind_int64 = sq_bind_int64, .bind_double = sq_bind_double, .bind_text = sq_bind_text,
	.bind_blob = sq_bind_blob, .bind_null = sq_bind_null, .bind_parameter_index = sq_bind_index,
	.step = sq_step, .reset = sq_reset, .clear_bindings = sq_clear,
	.column_count = sq_column_count, .column_type = sq_column_type, .column_int64 = sq_column_int64,
	.column_double = sq_column_double, .column_text = sq_column_text, .column_blob = sq_column_blob,
	.column_bytes = sq_column_bytes,
};

struct db *
db_sqlite_wrap(void *handle)
{
	struct sdb *d = calloc(1, sizeof(*d));

	if (d == NULL)
		return NULL;
	db_init(&d->base, &sq_ops, DB_SQLITE);
	d->h = handle;
	return &d->base;
}

void *
db_sqlite_handle(struct db *db)
{
	return db->dialect == DB_SQLITE ? SDB(db) : NULL;
}
