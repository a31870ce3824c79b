/*
 * auth_users.h - the submission users file: "name:argon2id-hash" lines
 * (util/pwhash.h). auth_users.c loads and looks up, auth_users_edit.c
 * rewrites the file for ferryctl.
 * SECURITY: the file holds password hashes; it must not be readable by group
 * or world (load refuses it otherwise). Verification is deliberately slow
 * (tens of milliseconds): never call auth_users_verify on an event loop.
 * Lookups compare the name exactly (names are case-sensitive, like Postfix
 * SASL user names; addresses should be written in lowercase).
 */
#ifndef FERRY_AUTH_USERS_H
#define FERRY_AUTH_USERS_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_USER_MAX 256
#define AUTH_PASS_MAX 1024

struct auth_users;   /* immutable once loaded; share read-only across threads */

/* Load the users file. A missing file is an empty table (not an error).
 * Errors (unreadable, group/world readable, bad line) are written to err as
 * "FILE:LINE: reason" and NULL is returned. */
struct auth_users *auth_users_load(const char *path, char *err, size_t errlen);
void auth_users_free(struct auth_users *u);

size_t auth_users_count(const struct auth_users *u);
/* Name of the i-th user (file order), for listing. */
const char *auth_users_name(const struct auth_users *u, size_t i);
bool auth_users_exists(const struct auth_users *u, const char *name);

/* Check a password (not NUL-terminated, passlen octets). Slow: argon2id.
 * Takes constant-ish time for unknown users too (verifies against a dummy
 * hash) so user enumeration by timing is not trivial. */
bool auth_users_verify(const struct auth_users *u, const char *name,
    const char *pass, size_t passlen);

/* Editing, for ferryctl. Each rewrites the file atomically (temp file,
 * fsync, rename, directory fsync) with mode 0640 (or the existing mode if
 * stricter). Return 0, or -1 with a message in err. */
int auth_users_file_add(const char *path, const char *name, const char *pass,
    char *err, size_t errlen);   /* fails if the user exists */
int auth_users_file_passwd(const char *path, const char *name, const char *pass,
    char *err, size_t errlen);   /* fails if the user does not exist */
int auth_users_file_del(const char *path, const char *name, char *err, size_t errlen);

/* Valid user name: 1..AUTH_USER_MAX octets, printable, no ':' or space,
 * no control characters (may contain '@' and UTF-8). */
bool auth_user_name_valid(const char *name, size_t len);

#endif
