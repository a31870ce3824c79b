/* auth_users_internal.h - what the users table (auth_users.c) and its
 * atomic edit (auth_users_edit.c) share; not for others. */
#ifndef FERRY_AUTH_USERS_INTERNAL_H
#define FERRY_AUTH_USERS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/stat.h>

#include "auth/auth_users.h"

struct auth_user {
	const char *name;     /* into auth_users.text, NUL-terminated */
	const char *hash;     /* ditto */
	size_t      line;     /* 1-based, for messages */
	size_t      off;      /* where the line starts in the file, for edits */
};

struct auth_users {
	char              *text;     /* the file, cut into strings in place */
	struct auth_user  *v;        /* file order */
	struct auth_user **byname;   /* sorted by name, for bsearch */
	size_t             n, cap;
};

/* The file as read from disk, for loading and for rewriting. */
struct auth_file {
	char        *text;    /* len octets plus one spare for a final NUL */
	size_t       len;
	bool         exists;
	struct stat  st;      /* valid when exists */
};

void auth_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Read path into f. A missing file reads as empty. On error f->text may be
 * set; the caller frees it either way. */
int auth_file_read(const char *path, struct auth_file *f, char *err, size_t errlen);
/* Parse text (len octets plus a spare one). Takes ownership of text. */
struct auth_users *auth_users_parse(const char *path, char *text, size_t len,
    char *err, size_t errlen);
const struct auth_user *auth_users_find(const struct auth_users *u, const char *name);

#endif
