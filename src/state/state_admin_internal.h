/* state_admin_internal.h - shared by state_admin*.c and state_dkimgen.c. */
#ifndef FERRY_STATE_ADMIN_INTERNAL_H
#define FERRY_STATE_ADMIN_INTERNAL_H

#include "db/db.h"
#include <stddef.h>

#include "state/state.h"

/* Format err; returns -1. */
int adm_fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* "what: <SQLite's message> (<file>)"; returns -1. */
int adm_dbfail(struct state *st, char *err, size_t errlen, const char *what);
/* Prepare sql and bind its parameters ?1.. in order from the list, typed
 * by types: 't' const char *, 'I' long long, 'b' const void * then size_t.
 * NULL + err on failure. */
struct db_stmt *adm_prepare(struct state *st, char *err, size_t errlen, const char *sql,
    const char *types, ...);
/* Run a statement that returns no rows: the number of rows changed, or -1
 * + err. */
int adm_exec(struct state *st, char *err, size_t errlen, const char *sql, const char *types, ...);
/* Run sql (binding ?1 text a, ?2 integer b when sql has a ?2): 1 + *id (its first column)
 * when it returns a row, 0 none, -1 + err. */
int adm_find_id(struct state *st, char *err, size_t errlen, long long *id, const char *sql,
    const char *a, long long b);
/* The id of tenant name: 0, or -1 + "no tenant NAME". */
int adm_tenant_id(struct state *st, const char *name, long long *id, char *err, size_t errlen);
/* Set the limits given (>= 0) of row id of table (a constant, never input). */
int adm_limits_set(struct state *st, const char *table, long long id,
    const struct state_limits *l, char *err, size_t errlen);
/* BEGIN IMMEDIATE / COMMIT / ROLLBACK on this thread's connection. */
int adm_begin(struct state *st, char *err, size_t errlen);
int adm_commit(struct state *st, char *err, size_t errlen);
void adm_rollback(struct state *st);
/* rc, after telling the state cache (state_changed) that tenant's state
 * changed when rc is 0: for writes that know the tenant by name only. */
int adm_changed(struct state *st, const char *tenant, int rc);

#endif
