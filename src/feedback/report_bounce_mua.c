/*
 * report_bounce_mua.c - bounces written by the big mailbox providers in
 * prose (Gmail-like "Address not found ... The response was:",
 * Microsoft-like "Delivery has failed ... Remote Server returned '...'")
 * and the generic fallback: a bounce-looking message whose text holds an
 * SMTP reply with an enhanced status and an address near it.
 * STANDARDS: RFC 5321 4.2, RFC 3463 (the codes found in the text).
 * SECURITY: hostile text; every scan is bounded by the body's length and
 * looks back or ahead a fixed number of lines.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

#define REPORT_NEAR_LINES 6   /* lines looked back for the address a reply belongs to */

struct report_span {
	const char *p;
	size_t      n;
};

/* The first non-blank lines after the line holding marker, up to the next
 * blank line, as one span of the text (NULL p when there is none). */
static struct report_span
report_after(const struct report_body *b, const char *marker)
{
	const char *m = report_memcasemem(b->text, b->len, marker), *line, *first = NULL;
	struct report_cursor c = { b->text, b->len, 0 };
	struct report_span s = { NULL, 0 };
	size_t n;

	if (m == NULL)
		return s;
	c.off = (size_t)(m - b->text);
	report_line_next(&c, &line, &n);   /* the marker's own line */
	while (report_line_next(&c, &line, &n)) {
		if (report_line_blank(line, n)) {
			if (first != NULL)
				break;
			continue;
		}
		if (first == NULL)
			first = line;
		s.p = first;
		s.n = (size_t)(line + n - first);
	}
	return s;
}

/* The rest of the line from p. */
static struct report_span
report_line_rest(const struct report_body *b, const char *p)
{
	const char *lf = memchr(p, '\n', b->len - (size_t)(p - b->text));
	struct report_span s = { p, lf != NULL ? (size_t)(lf - p) : b->len - (size_t)(p - b->text) };

	return s;
}

/* Every address of X-Failed-Recipients, each with the same reason. */
static void
report_failed_header(const struct report_body *b, struct report *r, struct report_span why)
{
	const char *h = b->x_failed;

	for (const char *comma; *h != '\0'; h = comma != NULL ? comma + 1 : h + strlen(h)) {
		comma = strchr(h, ',');
		report_bounce_add(b, r, h, comma != NULL ? (size_t)(comma - h) : strlen(h), why.p, why.n, "failed");
	}
}

/* Where a Gmail-like bounce names its recipient: after one of these
 * phrases on the same line, or on the next lines for the older layout. */
static struct report_span
report_gmail_who(const struct report_body *b, const char **line)
{
	static const char *const inline_phrases[] = { "wasn't delivered to ", "Your message to " };
	struct report_span who = { NULL, 0 };
	const char *m;

	for (size_t i = 0; i < sizeof(inline_phrases) / sizeof(inline_phrases[0]); i++)
		if ((m = report_memcasemem(b->text, b->len, inline_phrases[i])) != NULL) {
			*line = m;
			return report_line_rest(b, m + strlen(inline_phrases[i]));
		}
	if ((m = report_memcasemem(b->text, b->len, "Delivery to the following recipient")) != NULL) {
		*line = m;
		who = report_after(b, "Delivery to the following recipient");
	}
	return who;
}

/* Gmail-like: "Your message wasn't delivered to ADDR because ...", "Your
 * message to ADDR has been blocked", or the older "Delivery to the
 * following recipient failed permanently:" with the address on the next
 * line (else X-Failed-Recipients); the reason after "The response was:",
 * else the line naming the address. */
bool
report_bounce_gmail(const struct report_body *b, struct report *r, const char *format)
{
	struct report_span why = report_after(b, "The response from the remote server was:"), who;
	const char *line = NULL;
	size_t before = r->nrcpts;

	if (why.p == NULL)
		why = report_after(b, "The response was:");
	who = report_gmail_who(b, &line);
	if (why.p == NULL && line != NULL)
		why = report_line_rest(b, line);
	if (who.p != NULL)
		report_bounce_add(b, r, who.p, who.n, why.p, why.n, "failed");
	if (r->nrcpts == before)
		report_failed_header(b, r, why);
	if (r->nrcpts > before)
		report_copy_str(r->format, sizeof(r->format), format);
	return r->nrcpts > before;
}

/* A line that is an address and nothing much else ("a@b" or
 * "a@b<mailto:a@b>"): the span of the address. */
static bool
report_line_is_addr(const char *line, size_t n, size_t *s, size_t *an)
{
	size_t i = 0;

	while (i < n && (line[i] == ' ' || line[i] == '\t'))
		i++;
	return report_addr_find(line + i, n - i, s, an) && *s == 0 && (*s = i, true);
}

/* One "Remote Server returned '...'" line: the address is the nearest
 * line above it that holds only an address. */
static void
report_ms_returned(const struct report_body *b, struct report *r, const struct report_span *prev, size_t np,
    const char *line, size_t n)
{
	const char *q = memchr(line, '\'', n), *end = line + n;
	size_t s, an;

	if (q == NULL)
		return;
	while (end > q + 1 && end[-1] != '\'')
		end--;
	if (end == q + 1)
		end = line + n + 1;   /* no closing quote: the rest of the line */
	for (size_t i = np; i > 0; i--)
		if (report_line_is_addr(prev[i - 1].p, prev[i - 1].n, &s, &an)) {
			report_bounce_add(b, r, prev[i - 1].p + s, an, q + 1, (size_t)(end - q - 2), "failed");
			return;
		}
}

/* The user section of a Microsoft-like NDR: each line under "Delivery has
 * failed to these recipients or groups:" that is an address, with the
 * line after it (when that is no address) as the reason. */
static void
report_ms_users(const struct report_body *b, struct report *r)
{
	struct report_span list = report_after(b, "Delivery has failed to these recipients or groups:");
	struct report_cursor c = { list.p, list.n, 0 };
	const char *line, *next;
	size_t n, nn = 0, s, an, s2, an2;

	if (list.p == NULL || !report_line_next(&c, &line, &n))
		return;
	while (line != NULL) {
		bool more = report_line_next(&c, &next, &nn);

		if (report_line_is_addr(line, n, &s, &an)) {
			bool why = more && !report_line_is_addr(next, nn, &s2, &an2);

			report_bounce_add(b, r, line + s, an, why ? next : "", why ? nn : 0, "failed");
		}
		line = more ? next : NULL;
		n = nn;
	}
}

/* Microsoft-like NDRs: the administrators' section pairs each address
 * with "Remote Server returned '<reply>'"; without it, the user section
 * lists the addresses under "Delivery has failed to these recipients or
 * groups:", each followed by an explanation line. */
bool
report_bounce_microsoft(const struct report_body *b, struct report *r, const char *format)
{
	struct report_cursor c = { b->text, b->len, 0 };
	struct report_span prev[REPORT_NEAR_LINES];
	const char *line;
	size_t n, np = 0, before = r->nrcpts;

	while (report_line_next(&c, &line, &n)) {
		size_t i = 0;

		while (i < n && (line[i] == ' ' || line[i] == '\t'))
			i++;
		if (report_prefix(line + i, n - i, "Remote Server returned '"))
			report_ms_returned(b, r, prev, np, line + i, n - i);
		if (report_line_blank(line, n))
			continue;
		if (np == REPORT_NEAR_LINES)
			memmove(prev, prev + 1, sizeof(prev[0]) * --np);
		prev[np].p = line;
		prev[np++].n = n;
	}
	if (r->nrcpts == before)
		report_ms_users(b, r);
	if (r->nrcpts > before)
		report_copy_str(r->format, sizeof(r->format), format);
	return r->nrcpts > before;
}

/* The first address on a line that is not the report's own. */
static bool
report_line_other_addr(const struct report_body *b, const char *line, size_t n, size_t *s, size_t *an)
{
	size_t off = 0;

	while (off < n && report_addr_find(line + off, n - off, s, an)) {
		char a[REPORT_ADDR_MAX + 1];

		report_copy(a, sizeof(a), line + off + *s, *an);
		if (!report_bounce_self(b, a)) {
			*s += off;
			return true;
		}
		off += *s + *an;
	}
	return false;
}

/* A reply worth a bounce: 4xx/5xx with an enhanced status of its class. */
static bool
report_line_reply(const char *line, size_t n)
{
	int code;
	char status[16];

	report_smtp_scan(line, n, &code, status, sizeof(status));
	return code >= 400 && code < 600 && status[0] == '0' + code / 100;
}

/* The generic fallback: in a message that looks like a bounce (null
 * sender, MAILER-DAEMON, a bounce's subject), every line with an SMTP
 * reply names a recipient: on that line, or the nearest line above. */
bool
report_bounce_generic(const struct report_body *b, struct report *r)
{
	struct report_cursor c = { b->text, b->len, 0 };
	struct report_span prev[REPORT_NEAR_LINES];
	const char *line;
	size_t n, np = 0, before = r->nrcpts, s, an;

	if (!b->null_sender)
		return false;
	while (report_line_next(&c, &line, &n)) {
		if (report_line_reply(line, n)) {
			if (report_line_other_addr(b, line, n, &s, &an))
				report_bounce_add(b, r, line + s, an, line, n, "failed");
			else
				for (size_t i = np; i > 0; i--)
					if (report_line_other_addr(b, prev[i - 1].p, prev[i - 1].n, &s, &an)) {
						report_bounce_add(b, r, prev[i - 1].p + s, an, line, n, "failed");
						break;
					}
		}
		if (np == REPORT_NEAR_LINES)
			memmove(prev, prev + 1, sizeof(prev[0]) * --np);
		prev[np].p = line;
		prev[np++].n = n;
	}
	if (r->nrcpts > before)
		report_copy_str(r->format, sizeof(r->format), "generic");
	return r->nrcpts > before;
}
