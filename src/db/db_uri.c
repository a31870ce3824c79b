/*
 * db_uri.c - a database location fit for a log line: the password of a
 * URI (scheme://user:PASSWORD@host/..., ?password=...) or of libpq
 * key=value words (password=...) replaced by ***. Any scheme: redis://
 * locations go through it too. Trusts nothing: bounded, always ends in NUL.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "db/db.h"

struct redact {
	char  *out;
	size_t len, cap;
};

static void
redact_put(struct redact *r, const char *s, size_t n)
{
	size_t room = r->cap - 1 - r->len;

	if (n > room)
		n = room;
	memcpy(r->out + r->len, s, n);
	r->len += n;
	r->out[r->len] = '\0';
}

/* Is s (of the query part) the start of a password=... parameter? */
static bool
redact_query_key(const char *s)
{
	return strncasecmp(s, "password=", 9) == 0;
}

static void
redact_uri(struct redact *r, const char *uri, const char *scheme_end)
{
	const char *auth = scheme_end + 3, *auth_end = auth + strcspn(auth, "/?#"), *at = NULL;
	const char *p, *colon;

	for (p = auth; p < auth_end; p++)
		if (*p == '@')
			at = p;
	colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
	if (colon != NULL) {
		redact_put(r, uri, (size_t)(colon + 1 - uri));
		redact_put(r, "***", 3);
		p = at;
	} else
		p = uri;
	/* the rest, with any password=... of the query replaced */
	while (*p != '\0') {
		if ((*p == '?' || *p == '&') && p >= auth_end && redact_query_key(p + 1)) {
			redact_put(r, p, 10);
			redact_put(r, "***", 3);
			p += 10;
			p += strcspn(p, "&#");
			continue;
		}
		redact_put(r, p, 1);
		p++;
	}
}

/* libpq words: key = value, value bare or '...' with \ escapes. */
static void
redact_words(struct redact *r, const char *s)
{
	while (*s != '\0') {
		const char *k = s, *v;
		size_t kn = 0;

		while (isalnum((unsigned char)k[kn]) || k[kn] == '_')
			kn++;
		if (kn == 0) {
			redact_put(r, s++, 1);
			continue;
		}
		v = k + kn;
		while (*v == ' ' || *v == '\t')
			v++;
		if (!(kn == 8 && strncasecmp(k, "password", 8) == 0 && *v == '=')) {
			redact_put(r, s, kn);
			s += kn;
			continue;
		}
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		redact_put(r, s, (size_t)(v - s));
		redact_put(r, "***", 3);
		if (*v == '\'') {
			for (v++; *v != '\0' && *v != '\''; v++)
				if (*v == '\\' && v[1] != '\0')
					v++;
			if (*v == '\'')
				v++;
		} else
			v += strcspn(v, " \t\n");
		s = v;
	}
}

char *
db_uri_redact(const char *uri, char *out, size_t outlen)
{
	struct redact r = { .out = out, .cap = outlen };
	const char *scheme_end;

	if (outlen == 0)
		return out;
	out[0] = '\0';
	if (uri == NULL)
		return out;
	scheme_end = strstr(uri, "://");
	if (scheme_end != NULL && scheme_end > uri && strcspn(uri, " =") > (size_t)(scheme_end - uri))
		redact_uri(&r, uri, scheme_end);
	else
		redact_words(&r, uri);
	return out;
}
