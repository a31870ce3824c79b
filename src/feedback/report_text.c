/*
 * report_text.c - the text the report parser reads: decoded parts turned
 * into LF lines without CR or NUL, HTML reduced to its text, and bounded
 * cursors over lines and over "Name: value" fields (RFC 5322 2.2.3
 * unfolding, as RFC 3464 and RFC 5965 fields use it).
 * SECURITY: hostile text; every scan carries its length, a field value is
 * truncated at REPORT_FIELD_MAX and the rest of it skipped.
 */
#include <ctype.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"
#include "util/xmalloc.h"

/* CRLF and bare CR become LF, NUL a space; at most REPORT_SCAN_MAX octets
 * are kept. The copy is NUL-terminated; the caller frees it. */
char *
report_text_normalise(const char *p, size_t len, size_t *outlen)
{
	size_t n = len < REPORT_SCAN_MAX ? len : REPORT_SCAN_MAX, o = 0;
	char *out = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		char c = p[i];

		if (c == '\r') {
			if (i + 1 < n && p[i + 1] == '\n')
				continue;
			c = '\n';
		} else if (c == '\0')
			c = ' ';
		out[o++] = c;
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* The entity at p (after '&'), if one of the few a bounce uses: its
 * character and length, or 0. */
static size_t
report_html_entity(const char *p, size_t n, char *c)
{
	static const struct { const char *name; char c; } ents[] = {
		{ "lt;", '<' }, { "gt;", '>' }, { "amp;", '&' }, { "nbsp;", ' ' },
		{ "quot;", '"' }, { "#39;", '\'' }, { "apos;", '\'' },
	};

	for (size_t i = 0; i < sizeof(ents) / sizeof(ents[0]); i++) {
		size_t k = strlen(ents[i].name);

		if (n >= k && strncasecmp(p, ents[i].name, k) == 0) {
			*c = ents[i].c;
			return k;
		}
	}
	return 0;
}

/* Does the tag (the text after '<') end a line of text in a browser? */
static bool
report_html_breaks(const char *tag, size_t n)
{
	static const char *const tags[] = { "br", "p", "div", "tr", "li", "td", "table", "h1", "h2", "h3", "h4" };
	size_t i = n > 0 && tag[0] == '/', k = i;

	while (k < n && isalnum((unsigned char)tag[k]))
		k++;
	for (size_t t = 0; t < sizeof(tags) / sizeof(tags[0]); t++)
		if (strlen(tags[t]) == k - i && strncasecmp(tag + i, tags[t], k - i) == 0)
			return true;
	return false;
}

/* Normalised text of an HTML part: tags dropped (line-ending ones become
 * LF), the common entities decoded. Enough to find a bounce's words; not
 * a renderer. The caller frees it. */
char *
report_html_strip(const char *p, size_t len, size_t *outlen)
{
	size_t n, o = 0;
	char *in = report_text_normalise(p, len, &n), *out = xmalloc(n + 1);

	for (size_t i = 0; i < n; i++) {
		if (in[i] == '<') {
			const char *gt = memchr(in + i, '>', n - i);
			size_t tl = gt != NULL ? (size_t)(gt - in) - i - 1 : n - i - 1;

			if (report_html_breaks(in + i + 1, tl))
				out[o++] = '\n';
			i += tl + 1;
		} else if (in[i] == '&') {
			char c;
			size_t k = report_html_entity(in + i + 1, n - i - 1, &c);

			out[o++] = k > 0 ? c : '&';
			i += k;
		} else
			out[o++] = in[i];
	}
	out[o] = '\0';
	free(in);
	*outlen = o;
	return out;
}

/* The next line (without its LF) or false at the end. */
bool
report_line_next(struct report_cursor *c, const char **line, size_t *n)
{
	const char *lf;

	if (c->off >= c->len)
		return false;
	*line = c->p + c->off;
	lf = memchr(*line, '\n', c->len - c->off);
	*n = lf != NULL ? (size_t)(lf - *line) : c->len - c->off;
	c->off += *n + (lf != NULL);
	return true;
}

bool
report_line_blank(const char *line, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (line[i] != ' ' && line[i] != '\t')
			return false;
	return true;
}

static bool
report_is_wsp(char c)
{
	return c == ' ' || c == '\t';
}

/* Append line[0..n) to f->value, whitespace at both ends trimmed, after one
 * space when the value is not empty; what does not fit is dropped. */
static void
report_field_append(struct report_field *f, const char *line, size_t n)
{
	size_t have = f->vlen, room;

	while (n > 0 && report_is_wsp(*line))
		line++, n--;
	while (n > 0 && report_is_wsp(line[n - 1]))
		n--;
	if (n == 0)
		return;
	if (have > 0 && have < REPORT_FIELD_MAX)
		f->value[have++] = ' ';
	room = REPORT_FIELD_MAX - have;
	if (n > room)
		n = room;
	memcpy(f->value + have, line, n);
	f->vlen = have + n;
	f->value[f->vlen] = '\0';
}

/* The next field with its continuation lines, or a blank line. */
bool
report_field_next(struct report_cursor *c, struct report_field *f)
{
	const char *line, *colon;
	size_t n, nl;

	f->blank = false;
	f->name[0] = f->value[0] = '\0';
	f->vlen = 0;
	if (!report_line_next(c, &line, &n))
		return false;
	if (report_line_blank(line, n)) {
		f->blank = true;
		return true;
	}
	colon = report_is_wsp(line[0]) ? NULL : memchr(line, ':', n);
	if (colon != NULL && (size_t)(colon - line) < sizeof(f->name)) {
		nl = (size_t)(colon - line);
		while (nl > 0 && report_is_wsp(line[nl - 1]))
			nl--;
		memcpy(f->name, line, nl);
		f->name[nl] = '\0';
		report_field_append(f, colon + 1, n - (size_t)(colon - line) - 1);
	}
	while (c->off < c->len && report_is_wsp(c->p[c->off])) {
		struct report_cursor peek = *c;

		if (!report_line_next(&peek, &line, &n) || report_line_blank(line, n))
			break;
		*c = peek;
		if (f->name[0] != '\0')
			report_field_append(f, line, n);
	}
	return true;
}

/* Case-insensitive search of an ASCII needle in hn octets. */
const char *
report_memcasemem(const char *h, size_t hn, const char *needle)
{
	size_t nn = strlen(needle);

	if (nn == 0 || hn < nn)
		return nn == 0 ? h : NULL;
	for (size_t i = 0; i + nn <= hn; i++)
		if (tolower((unsigned char)h[i]) == tolower((unsigned char)needle[0]) &&
		    strncasecmp(h + i, needle, nn) == 0)
			return h + i;
	return NULL;
}

/* Does the line start with prefix (case-insensitive)? */
bool
report_prefix(const char *line, size_t n, const char *prefix)
{
	size_t k = strlen(prefix);

	return n >= k && strncasecmp(line, prefix, k) == 0;
}
