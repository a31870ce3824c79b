/*
 * db.c - the driver-independent half of db.h: dispatch to the backend and
 * the per-connection statement cache (state code asks for the same few
 * dozen statements over and over; preparing once per connection keeps a
 * lookup at one step).
 */
#include <stdlib.h>
#include <string.h>

#include "db/db_internal.h"

void
db_init(struct db *db, const struct db_ops *ops, enum db_dialect d)
{
	db->ops = ops;
	db->dialect = d;
	db->cache = NULL;
}

int
db_stmt_init(struct db_stmt *s, struct db *db, const char *sql)
{
	s->db = db;
	s->cached = s->busy = false;
	s->next = NULL;
	s->sql = strdup(sql);
	return s->sql != NULL ? 0 : -1;
}

void
db_cache_clear(struct db *db)
{
	struct db_stmt *s, *next;

	for (s = db->cache; s != NULL; s = next) {
		next = s->next;
		db->ops->finalize(s);
	}
	db->cache = NULL;
}

int
db_is_pg_uri(const char *s)
{
	return s != NULL && (strncmp(s, "postgresql://", 13) == 0 || strncmp(s, "postgres://", 11) == 0);
}

void
db_close(struct db *db)
{
	if (db != NULL)
		db->ops->close(db);
}

enum db_dialect db_dialect(const struct db *db) { return db->dialect; }
const char *db_errmsg(struct db *db) { return db->ops->errmsg(db); }
int db_exec(struct db *db, const char *sql) { return db->ops->exec(db, sql); }
long long db_changes(struct db *db) { return db->ops->changes(db); }
long long db_last_insert_id(struct db *db) { return db->ops->last_insert_id(db); }

int
db_prepare(struct db *db, const char *sql, struct db_stmt **out)
{
	*out = NULL;
	return db->ops->prepare(db, sql, out);
}

struct db_stmt *
db_cached(struct db *db, const char *sql)
{
	struct db_stmt *s;

	if (db == NULL)
		return NULL;
	for (s = db->cache; s != NULL; s = s->next)
		if (!s->busy && (s->sql == sql || strcmp(s->sql, sql) == 0)) {
			s->busy = true;
			return s;
		}
	if (db->ops->prepare(db, sql, &s) != DB_OK)
		return NULL;
	s->cached = s->busy = true;
	s->next = db->cache;
	db->cache = s;
	return s;
}

void
db_stmt_done(struct db_stmt *s)
{
	if (s == NULL)
		return;
	s->db->ops->reset(s);
	s->db->ops->clear_bindings(s);
	s->busy = false;
}

void
db_finalize(struct db_stmt *s)
{
	struct db_stmt **pp;

	if (s == NULL)
		return;
	if (s->cached) {
		/* a cached statement given back through finalize: unlink it */
		for (pp = &s->db->cache; *pp != NULL; pp = &(*pp)->next)
			if (*pp == s) {
				*pp = s->next;
				break;
			}
	}
	s->db->ops->finalize(s);
}

struct db *db_stmt_db(struct db_stmt *s) { return s->db; }
const char *db_stmt_sql(struct db_stmt *s) { return s->sql; }

int db_bind_int64(struct db_stmt *s, int i, long long v) { return s->db->ops->bind_int64(s, i, v); }
int db_bind_int(struct db_stmt *s, int i, int v) { return s->db->ops->bind_int64(s, i, v); }
int db_bind_double(struct db_stmt *s, int i, double v) { return s->db->ops->bind_double(s, i, v); }
int db_bind_text(struct db_stmt *s, int i, const char *v, int len) { return s->db->ops->bind_text(s, i, v, len); }
int db_bind_blob(struct db_stmt *s, int i, const void *v, int len) { return s->db->ops->bind_blob(s, i, v, len); }
int db_bind_null(struct db_stmt *s, int i) { return s->db->ops->bind_null(s, i); }
int db_bind_parameter_index(struct db_stmt *s, const char *name) { return s->db->ops->bind_parameter_index(s, name); }

int db_step(struct db_stmt *s) { return s->db->ops->step(s); }
int db_reset(struct db_stmt *s) { return s->db->ops->reset(s); }
int db_clear_bindings(struct db_stmt *s) { return s->db->ops->clear_bindings(s); }

int db_column_count(struct db_stmt *s) { return s->db->ops->column_count(s); }
enum db_type db_column_type(struct db_stmt *s, int col) { return s->db->ops->column_type(s, col); }
long long db_column_int64(struct db_stmt *s, int col) { return s->db->ops->column_int64(s, col); }
int db_column_int(struct db_stmt *s, int col) { return (int)s->db->ops->column_int64(s, col); }
double db_column_double(struct db_stmt *s, int col) { return s->db->ops->column_double(s, col); }
const unsigned char *db_column_text(struct db_stmt *s, int col) { return s->db->ops->column_text(s, col); }
const void *db_column_blob(struct db_stmt *s, int col) { return s->db->ops->column_blob(s, col); }
int db_column_bytes(struct db_stmt *s, int col) { return s->db->ops->column_bytes(s, col); }
