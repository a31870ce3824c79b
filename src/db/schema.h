/* schema.h - the PostgreSQL state schema and its migrations (schema_pg.c):
 * applied by `ferryctl db migrate` and checked by ferryd at start. */
#ifndef FERRY_DB_SCHEMA_H
#define FERRY_DB_SCHEMA_H

#include <stddef.h>

#include "db/db.h"

/* The version the code knows (the number of migrations). */
int db_pg_schema_latest(void);
/* db_pg_migrate (db.h) applies the migrations db lacks, each in its own
 * transaction; *from == *to: nothing to do. */
/* The version of db's schema: 0 for an empty database, -1 on error. */
int db_pg_schema_version(struct db *db);

#endif
