/*
 * auth_store.h - password checks for SMTP AUTH, run on a small pool of
 * threads because argon2id is slow by design and must never stall an event
 * loop. The users file is re-read when its mtime changes (so `ferryctl user
 * add` takes effect without a signal) and on auth_store_reload().
 */
#ifndef FERRY_AUTH_STORE_H
#define FERRY_AUTH_STORE_H

#include <stdbool.h>
#include <stddef.h>

#include "state/state.h"

struct auth_store;

/* Load path now (errors are fatal at start: err set, NULL returned). */
struct auth_store *auth_store_new(const char *path, int nthreads, char *err, size_t errlen);
/* Re-read (SIGHUP), possibly from a new path; on error keep the old table. */
void auth_store_reload(struct auth_store *st, const char *path);
void auth_store_free(struct auth_store *st);

/* The relay service's accounts and API keys: checked (state_auth) when the
 * users file does not know the user or the password. Set once at start,
 * before the first verification; NULL: users file only. */
void auth_store_set_state(struct auth_store *st, struct state *state);

/* Verify on a pool thread; done runs on that thread with result 1 (ok), 0
 * (refused) or -1 (the state database failed: try again later). On 1, id
 * says who: kind STATE_IDENT_NONE for a users-file user (unrestricted), a
 * tenant identity otherwise (possibly suspended: the caller decides). id
 * is valid only during the call. user and pass are copied (the copy of
 * pass is wiped after use). */
typedef void (*auth_done_fn)(void *arg, int result, const struct state_ident *id);
void auth_store_verify_async(struct auth_store *st, const char *user, size_t userlen,
    const char *pass, size_t passlen, auth_done_fn done, void *arg);

#endif
