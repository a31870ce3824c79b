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

struct auth_store;

/* Load path now (errors are fatal at start: err set, NULL returned). */
struct auth_store *auth_store_new(const char *path, int nthreads, char *err, size_t errlen);
/* Re-read (SIGHUP), possibly from a new path; on error keep the old table. */
void auth_store_reload(struct auth_store *st, const char *path);
void auth_store_free(struct auth_store *st);

/* Verify on a pool thread; done runs on that thread. user and pass are
 * copied (the copy of pass is wiped after use). */
typedef void (*auth_done_fn)(void *arg, bool ok);
void auth_store_verify_async(struct auth_store *st, const char *user, size_t userlen,
    const char *pass, size_t passlen, auth_done_fn done, void *arg);

#endif
