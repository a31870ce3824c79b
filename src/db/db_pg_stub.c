/* Temporary: until the PostgreSQL driver lands (feat-pg). */
#include <stdio.h>
#include "db/db.h"
struct db *db_pg_connect(const char *c, char *err, size_t errlen) { (void)c; snprintf(err, errlen, "PostgreSQL support not built yet"); return NULL; }
int db_pg_migrate(struct db *db, int *f, int *t, char *err, size_t errlen) { (void)db; (void)f; (void)t; snprintf(err, errlen, "no"); return -1; }
