/* db_internal.h - what the drivers of src/db/ share: the operations each
 * backend implements, and the common head of their connection and
 * statement structures. */
#ifndef FERRY_DB_INTERNAL_H
#define FERRY_DB_INTERNAL_H

#include <stdbool.h>

#include "db/db.h"

struct db_ops {
	void        (*close)(struct db *db);
	const char *(*errmsg)(struct db *db);
	int         (*exec)(struct db *db, const char *sql);
	long long   (*changes)(struct db *db);
	long long   (*last_insert_id)(struct db *db);
	int         (*prepare)(struct db *db, const char *sql, struct db_stmt **out);
	void        (*finalize)(struct db_stmt *s);
	int         (*bind_int64)(struct db_stmt *s, int i, long long v);
	int         (*bind_double)(struct db_stmt *s, int i, double v);
	int         (*bind_text)(struct db_stmt *s, int i, const char *v, int len);
	int         (*bind_blob)(struct db_stmt *s, int i, const void *v, int len);
	int         (*bind_null)(struct db_stmt *s, int i);
	int         (*bind_parameter_index)(struct db_stmt *s, const char *name);
	int         (*step)(struct db_stmt *s);
	int         (*reset)(struct db_stmt *s);
	int         (*clear_bindings)(struct db_stmt *s);
	int         (*column_count)(struct db_stmt *s);
	enum db_type (*column_type)(struct db_stmt *s, int col);
	long long   (*column_int64)(struct db_stmt *s, int col);
	double      (*column_double)(struct db_stmt *s, int col);
	const unsigned char *(*column_text)(struct db_stmt *s, int col);
	const void *(*column_blob)(struct db_stmt *s, int col);
	int         (*column_bytes)(struct db_stmt *s, int col);
};

struct db {
	const struct db_ops *ops;
	enum db_dialect      dialect;
	struct db_stmt      *cache;      /* statements kept by db_cached */
};

struct db_stmt {
	struct db      *db;
	char           *sql;            /* as the caller wrote it */
	bool            cached, busy;
	struct db_stmt *next;           /* in db->cache */
};

/* Drivers: fill the common head of a new connection or statement. */
void db_init(struct db *db, const struct db_ops *ops, enum db_dialect d);
int db_stmt_init(struct db_stmt *s, struct db *db, const char *sql);
/* Drivers' close: finalize every cached statement first. */
void db_cache_clear(struct db *db);

#endif
