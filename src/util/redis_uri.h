/*
 * redis_uri.h - the `counters redis://[[user]:password@]host[:port][/db]`
 * address of a Redis server (ferry.conf(5), COUNTERS): parsed once, checked
 * for its limits, and shown with its password replaced by *** (a log line
 * or an error never carries the secret).
 * SECURITY: the text is the administrator's; it is still parsed with fixed
 * maximums and percent-decoding that refuses NUL, CR and LF.
 */
#ifndef FERRY_UTIL_REDIS_URI_H
#define FERRY_UTIL_REDIS_URI_H

#include <stdbool.h>
#include <stddef.h>

#define REDIS_URI_MAX      512
#define REDIS_HOST_MAX     255
#define REDIS_SECRET_MAX   256
#define REDIS_PORT_DEFAULT 6379

struct redis_uri {
	char host[REDIS_HOST_MAX + 1];       /* a name, an IPv4 or an IPv6 address (no brackets) */
	int  port;
	int  db;                             /* SELECT db; 0 by default */
	char user[REDIS_SECRET_MAX + 1];     /* "" unless an ACL user was given (Redis 6) */
	char password[REDIS_SECRET_MAX + 1]; /* "" for none; percent-decoded */
	char shown[REDIS_URI_MAX + 16];      /* the URI for logs: user and password as *** */
};

/* Parse s into u: 0, or -1 with why in err (which never holds the password). */
int redis_uri_parse(const char *s, struct redis_uri *u, char *err, size_t errlen);

/* Is s a redis:// URI redis_uri_parse accepts (ferry.conf's check)? */
bool redis_uri_valid(const char *s);

#endif
