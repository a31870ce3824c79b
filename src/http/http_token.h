/*
 * http_token.h - the admin token of the HTTP API: a file made at ferryd's
 * first start (32 random octets as 64 hex digits, mode 0600, owned by the
 * run user), read by ferryd at start and on reload and printed by
 * `ferryctl admin-token`.
 * SECURITY: a token file that is a link, not a regular file, or readable
 * by group or world is refused; the token is never logged.
 */
#ifndef FERRY_HTTP_HTTP_TOKEN_H
#define FERRY_HTTP_HTTP_TOKEN_H

#include <stddef.h>
#include <sys/types.h>

#define HTTP_TOKEN_MIN 32
#define HTTP_TOKEN_MAX 128

/* Create path with a new token unless it exists; give it to uid:gid
 * unless uid is -1. 1 made, 0 it existed, -1 + err. */
int http_token_ensure(const char *path, uid_t uid, gid_t gid, char *err, size_t errlen);
/* The token in path: HTTP_TOKEN_MIN..HTTP_TOKEN_MAX visible ASCII
 * characters on the first line. 0, or -1 with the reason in err. */
int http_token_read(const char *path, char out[HTTP_TOKEN_MAX + 1], char *err, size_t errlen);

#endif
