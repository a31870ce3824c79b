/* state_internal.h - shared by the files of src/state/. */
#ifndef FERRY_STATE_INTERNAL_H
#define FERRY_STATE_INTERNAL_H

#include "db/db.h"
#include <stddef.h>

#include "state/state.h"

/* A new connection (WAL, busy timeout, foreign keys). NULL + err. */
struct db *state_db_connect(const char *path, char *err, size_t errlen);
/* sql prepared on this thread's connection (kept prepared, found again by
 * its text); NULL on error. Give it back with state_stmt_done (or
 * db_finalize), and finish it before asking for the same sql again. */
struct db_stmt *state_prepare(struct state *st, const char *sql);
/* Reset and unbind a statement of state_prepare for its next use. */
void state_stmt_done(struct db_stmt *stmt);
/* Column col as text into dst (always NUL-terminated; "" for NULL). */
void state_text_copy(char *dst, size_t size, struct db_stmt *stmt, int col);
/* Columns col..col+3: per_minute, per_hour, per_day, rcpts. */
void state_limits_read(struct state_limits *l, struct db_stmt *stmt, int col);

/* tenant_id's state changed (committed): tell the change hook, if any. */
void state_changed(struct state *st, long long tenant_id);
/* rc, after calling state_changed when rc is 0 (a write's result). */
int state_changed_if(struct state *st, long long tenant_id, int rc);
/* The lookup cache attached to st (state_cache_open), or NULL. */
struct state_cache;
struct state_cache *state_cache_of(const struct state *st);
void state_cache_attach(struct state *st, struct state_cache *c);

/* API keys: split "fy_<12 hex>_<43 b64url>" into its prefix (the first
 * STATE_KEY_PREFIX_LEN octets) and check the form. */
int state_key_split(const char *key, size_t len, char prefix[STATE_KEY_PREFIX_LEN + 1]);
/* SHA-256 of the whole key text. */
void state_key_hash(const char *key, size_t len, unsigned char out[32]);

#endif
