/*
 * http_route.c - the route matcher: a request's method and path against
 * the table of api_routes.c. Patterns are literal segments and {name}
 * segments; a {name} matches one non-empty segment, percent-decoded.
 * STANDARDS: RFC 3986 2.1 (percent-encoding), 3.3 (path segments).
 * SECURITY: the path is the client's: bounded (HTTP_PATH_MAX), segments
 * are split before decoding (an encoded '/' stays inside its segment), and
 * a decoded segment with a NUL, or equal to "." or "..", matches nothing.
 */
#include <stdio.h>
#include <string.h>

#include "http/http_internal.h"

static int
http_hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

long
http_pct_decode(const char *in, size_t len, char *out, size_t outlen)
{
	size_t o = 0;

	for (size_t i = 0; i < len; i++) {
		int ch = (unsigned char)in[i];
		if (ch == '%') {
			int hi, lo;
			if (i + 2 >= len)
				return -1;
			hi = http_hex_value(in[i + 1]);
			lo = http_hex_value(in[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi << 4 | lo;
			i += 2;
		}
		if (ch == '\0' || o + 1 >= outlen)
			return -1;
		out[o++] = (char)ch;
	}
	if (o >= outlen)
		return -1;
	out[o] = '\0';
	return (long)o;
}

/* One {name} segment (seg, n octets as sent) decoded into m->buf at *off:
 * false when it may not be a parameter. */
static bool
http_param_take(struct http_match *m, size_t *off, const char *seg, size_t n)
{
	char *out = m->buf + *off;
	long len;

	if (n == 0 || m->nparams >= API_PARAMS_MAX)
		return false;
	len = http_pct_decode(seg, n, out, sizeof(m->buf) - *off);
	if (len < 0 || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		return false;
	m->params[m->nparams++] = out;
	*off += (size_t)len + 1;
	return true;
}

/* Does path fit pattern? The parameters go to m. */
static bool
http_pattern_fits(const char *pattern, const char *path, struct http_match *m)
{
	const char *p = pattern, *s = path;
	size_t off = 0;

	m->nparams = 0;
	while (*p == '/' && *s == '/') {
		size_t pn, sn;
		p++;
		s++;
		pn = strcspn(p, "/");
		sn = strcspn(s, "/");
		if (pn >= 2 && p[0] == '{' && p[pn - 1] == '}') {
			if (!http_param_take(m, &off, s, sn))
				return false;
		} else if (pn != sn || memcmp(p, s, pn) != 0)
			return false;
		p += pn;
		s += sn;
	}
	return *p == '\0' && *s == '\0';
}

/* Add method to the Allow list once. */
static void
http_allow_add(struct http_match *m, const char *method)
{
	size_t n = strlen(m->allow), mlen = strlen(method);
	const char *at = m->allow;

	while ((at = strstr(at, method)) != NULL) {
		if ((at == m->allow || at[-1] == ' ') && (at[mlen] == ',' || at[mlen] == '\0'))
			return;
		at += mlen;
	}
	snprintf(m->allow + n, sizeof(m->allow) - n, "%s%s", n > 0 ? ", " : "", method);
}

enum http_match_result
http_route_match(const struct api_route *routes, const char *method, const char *path,
    struct http_match *m)
{
	bool path_seen = false;

	memset(m, 0, sizeof(*m));
	if (path[0] != '/' || strlen(path) >= HTTP_PATH_MAX)
		return HTTP_MATCH_BAD;
	for (const struct api_route *r = routes; r->method != NULL; r++) {
		if (!http_pattern_fits(r->pattern, path, m))
			continue;
		if (strcmp(r->method, method) == 0) {
			m->route = r;
			return HTTP_MATCH_OK;
		}
		if (!path_seen)
			m->pattern = r->pattern;
		path_seen = true;
		http_allow_add(m, r->method);
	}
	m->nparams = 0;
	return path_seen ? HTTP_MATCH_METHOD : HTTP_MATCH_NONE;
}
