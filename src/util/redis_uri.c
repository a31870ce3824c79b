/*
 * redis_uri.c - parse redis://[[user]:password@]host[:port][/db] (the
 * scheme of the Redis URI registration, IANA "redis") with fixed maximums;
 * see redis_uri.h.
 * SECURITY: the password is copied only into the struct; error texts and
 * the shown form never contain it.
 */
#include "util/redis_uri.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int
redis_uri_hex(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	ch = tolower(ch);
	return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* Percent-decode [s, s + n) into out (outsz with its NUL); -1 on a bad
 * escape, a decoded NUL, CR or LF, or when it does not fit. */
static int
redis_uri_decode(const char *s, size_t n, char *out, size_t outsz)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		int ch = (unsigned char)s[i];
		if (ch == '%') {
			int hi = i + 2 < n ? redis_uri_hex((unsigned char)s[i + 1]) : -1;
			int lo = i + 2 < n ? redis_uri_hex((unsigned char)s[i + 2]) : -1;
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi * 16 + lo;
			i += 2;
		}
		if (ch == '\0' || ch == '\r' || ch == '\n' || o + 1 >= outsz)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return 0;
}

/* A whole decimal number in [lo, hi] spelled by [s, s + n). */
static int
redis_uri_number(const char *s, size_t n, long lo, long hi, int *out)
{
	long v = 0;

	if (n == 0 || n > 6)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	if (v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

/* user:password (either may be empty, the colon is required). */
static int
redis_uri_userinfo(const char *s, size_t n, struct redis_uri *u, char *err, size_t errlen)
{
	const char *colon = memchr(s, ':', n);

	if (colon == NULL) {
		snprintf(err, errlen, "the part before '@' must be [user]:password");
		return -1;
	}
	if (redis_uri_decode(s, (size_t)(colon - s), u->user, sizeof(u->user)) < 0 ||
	    redis_uri_decode(colon + 1, n - (size_t)(colon - s) - 1, u->password, sizeof(u->password)) < 0) {
		snprintf(err, errlen, "the user or password is too long or has a bad %%-escape");
		return -1;
	}
	return 0;
}

/* host, host:port, [v6] or [v6]:port. */
static int
redis_uri_hostport(const char *s, size_t n, struct redis_uri *u, char *err, size_t errlen)
{
	const char *host = s, *port = NULL, *end = s + n;
	size_t hlen;

	if (n > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', n);
		if (close == NULL)
			goto bad;
		host = s + 1;
		hlen = (size_t)(close - host);
		if (close + 1 < end && close[1] != ':')
			goto bad;
		port = close + 1 < end ? close + 2 : NULL;
		for (size_t i = 0; i < hlen; i++)
			if (!isxdigit((unsigned char)host[i]) && host[i] != ':' && host[i] != '.')
				goto bad;
	} else {
		const char *colon = memchr(s, ':', n);
		hlen = colon != NULL ? (size_t)(colon - s) : n;
		port = colon != NULL ? colon + 1 : NULL;
		for (size_t i = 0; i < hlen; i++)
			if (!isalnum((unsigned char)host[i]) && host[i] != '.' && host[i] != '-' && host[i] != '_')
				goto bad;
	}
	if (hlen == 0 || hlen > REDIS_HOST_MAX)
		goto bad;
	memcpy(u->host, host, hlen);
	u->host[hlen] = '\0';
	u->port = REDIS_PORT_DEFAULT;
	if (port != NULL && redis_uri_number(port, (size_t)(end - port), 1, 65535, &u->port) < 0) {
		snprintf(err, errlen, "the port is not a number in [1, 65535]");
		return -1;
	}
	return 0;
bad:
	snprintf(err, errlen, "the host is not a name, an IPv4 address or an [IPv6] address");
	return -1;
}

int
redis_uri_parse(const char *s, struct redis_uri *u, char *err, size_t errlen)
{
	const char *rest, *at, *slash;
	size_t n = strlen(s);

	memset(u, 0, sizeof(*u));
	if (strncmp(s, "redis://", 8) != 0) {
		snprintf(err, errlen, "not a redis:// URI");
		return -1;
	}
	if (n > REDIS_URI_MAX) {
		snprintf(err, errlen, "longer than %d characters", REDIS_URI_MAX);
		return -1;
	}
	rest = s + 8;
	at = strrchr(rest, '@');      /* the password may hold an '@' */
	if (at != NULL && redis_uri_userinfo(rest, (size_t)(at - rest), u, err, errlen) < 0)
		return -1;
	if (at != NULL)
		rest = at + 1;
	slash = strchr(rest, '/');
	if (redis_uri_hostport(rest, slash != NULL ? (size_t)(slash - rest) : strlen(rest), u, err,
	    errlen) < 0)
		return -1;
	if (slash != NULL && slash[1] != '\0' &&
	    redis_uri_number(slash + 1, strlen(slash + 1), 0, 65535, &u->db) < 0) {
		snprintf(err, errlen, "the database after '/' is not a number in [0, 65535]");
		return -1;
	}
	bool secret = u->user[0] != '\0' || u->password[0] != '\0', v6 = strchr(u->host, ':') != NULL;
	/* the user too is left out: its text would need quoting in a log line */
	snprintf(u->shown, sizeof(u->shown), "redis://%s%s%s%s:%d/%d", secret ? "***@" : "",
	    v6 ? "[" : "", u->host, v6 ? "]" : "", u->port, u->db);
	return 0;
}

bool
redis_uri_valid(const char *s)
{
	struct redis_uri u;
	char err[128];

	return redis_uri_parse(s, &u, err, sizeof(err)) == 0;
}
