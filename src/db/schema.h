/* schema.h - the PostgreSQL state schema and its migrations (schema_pg.c):
 * applied by `ferryctl db migrate` and checked by ferryd at start. */
#ifndef FERRY_DB_SCHEMA_H
#define FERRY_DB_SCHEMA_H

#include <stddef.h>

#include "db/db.h"

/* The version the code knows (the number of migrations). */
int db_pg_schema_latest(void);
/* Apply the migrations db lacks, each in its own transaction, under an
 * advisory lock (nodes started together migrate once). 0 with *from and
 * *to set (equal: nothing to do), or -1 with the reason in err. */
int db_pg_migrate(struct db *db, int *from, int *to, char *err, size_t errlen);
/* The version of db's schema: 0 for an empty database, -1 on error. */
int db_pg_schema_version(struct db *db);

#endif
