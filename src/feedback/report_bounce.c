/*
 * report_bounce.c - non-standard bounces, the ones without a
 * message/delivery-status part: which MTA wrote the text (by the words
 * each one always uses), then that MTA's layout. Here the dispatch, the
 * "<address>:" paragraphs of qmail, Postfix and Yahoo, and Exim's
 * indented list; report_bounce_mua.c has Gmail, Microsoft and the
 * generic fallback.
 * STANDARDS: none (that is the point); RFC 3463 and RFC 5321 4.2 for the
 * codes found in the text.
 * SECURITY: hostile text; reasons are bounded, at most REPORT_RCPTS_MAX
 * recipients, and an address must look like one (report_addr_find).
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

#define REPORT_WHY_MAX (REPORT_TEXT_MAX * 2)

/* A recipient being read: its address and the reason lines so far. */
struct report_pending {
	bool   on;
	char   addr[REPORT_ADDR_MAX + 1];
	char   why[REPORT_WHY_MAX + 1];
	size_t wlen;
};

/* Is addr the report's own recipient or the original's sender? */
bool
report_bounce_self(const struct report_body *b, const char *addr)
{
	for (size_t i = 0; i < sizeof(b->self) / sizeof(b->self[0]); i++)
		if (b->self[i][0] != '\0' && strcasecmp(b->self[i], addr) == 0)
			return true;
	return false;
}

/* Runs of white space become one space, in place. */
static void
report_squeeze(char *s)
{
	size_t o = 0;

	for (size_t i = 0; s[i] != '\0'; i++)
		if (s[i] != ' ' || (o > 0 && s[o - 1] != ' '))
			s[o++] = s[i];
	while (o > 0 && s[o - 1] == ' ')
		o--;
	s[o] = '\0';
}

/* Add a recipient: the address (brackets allowed around it), the reason
 * text, the code and status found in it. Skipped when the address is no
 * address, is the report's own, or is already listed. */
void
report_bounce_add(const struct report_body *b, struct report *r, const char *addr, size_t alen,
    const char *why, size_t whylen, const char *action)
{
	char a[REPORT_ADDR_MAX + 1];
	size_t s, n;
	struct report_rcpt *rc;

	if (r->nrcpts >= REPORT_RCPTS_MAX || !report_addr_find(addr, alen, &s, &n))
		return;   /* full: the duplicate check below would cost for nothing */
	report_copy(a, sizeof(a), addr + s, n);
	if (report_bounce_self(b, a))
		return;
	for (size_t i = 0; i < r->nrcpts; i++)
		if (strcasecmp(r->rcpts[i].addr, a) == 0)
			return;
	if ((rc = report_rcpt_add(r)) == NULL)
		return;
	memcpy(rc->addr, a, sizeof(a));
	report_copy_str(rc->action, sizeof(rc->action), action);
	report_copy(rc->diagnostic, sizeof(rc->diagnostic), why, whylen);
	report_squeeze(rc->diagnostic);
	report_smtp_scan(rc->diagnostic, strlen(rc->diagnostic), &rc->code, rc->status, sizeof(rc->status));
}

static void
report_pending_append(struct report_pending *p, const char *s, size_t n)
{
	while (n > 0 && (*s == ' ' || *s == '\t'))
		s++, n--;
	if (n == 0 || p->wlen >= REPORT_WHY_MAX)
		return;
	if (p->wlen > 0)
		p->why[p->wlen++] = ' ';
	if (n > REPORT_WHY_MAX - p->wlen)
		n = REPORT_WHY_MAX - p->wlen;
	memcpy(p->why + p->wlen, s, n);
	p->wlen += n;
	p->why[p->wlen] = '\0';
}

static void
report_pending_flush(struct report_pending *p, const struct report_body *b, struct report *r,
    const char *action)
{
	if (p->on)
		report_bounce_add(b, r, p->addr, strlen(p->addr), p->why, p->wlen, action);
	p->on = false;
	p->addr[0] = p->why[0] = '\0';
	p->wlen = 0;
}

static void
report_pending_start(struct report_pending *p, const char *addr, size_t alen)
{
	p->on = true;
	report_copy(p->addr, sizeof(p->addr), addr, alen);
	p->why[0] = '\0';
	p->wlen = 0;
}

/* A line opening a recipient's paragraph: "<addr>:" or "<addr> (expanded
 * from <alias>):"; *rest is where the reason on the same line starts. */
static bool
report_angle_head(const char *line, size_t n, size_t *alen, size_t *rest)
{
	const char *gt;
	size_t i;

	if (n < 4 || line[0] != '<' || (gt = memchr(line, '>', n)) == NULL ||
	    memchr(line, '@', (size_t)(gt - line)) == NULL)
		return false;
	i = (size_t)(gt - line) + 1;
	if (i + 1 < n && line[i] == ' ' && report_prefix(line + i + 1, n - i - 1, "(expanded from ")) {
		const char *rp = memchr(line + i, ')', n - i);

		if (rp == NULL)
			return false;
		i = (size_t)(rp - line) + 1;
	}
	if (i >= n || line[i] != ':')
		return false;
	*alen = (size_t)(gt - line) - 1;
	*rest = i + 1;
	return true;
}

/* Where the copy of the returned message begins in qmail's and Exim's text. */
static bool
report_copy_marker(const char *line, size_t n)
{
	return report_prefix(line, n, "--- Below this line") || report_prefix(line, n, "------ This is a copy") ||
	    report_prefix(line, n, "--- Enclosed is a copy");
}

/* qmail, Yahoo and Postfix: a paragraph per recipient that opens with
 * "<addr>:", the reason on the same line and/or on the lines after it. */
bool
report_bounce_angle(const struct report_body *b, struct report *r, const char *format)
{
	struct report_cursor c = { b->text, b->len, 0 };
	struct report_pending p = { 0 };
	const char *line, *action = "failed";
	size_t n, alen, rest, before = r->nrcpts;

	if (report_memcasemem(b->text, b->len, "THIS IS A WARNING ONLY") != NULL)
		action = "delayed";   /* Postfix's delay notice */
	while (report_line_next(&c, &line, &n) && !report_copy_marker(line, n)) {
		if (report_angle_head(line, n, &alen, &rest)) {
			report_pending_flush(&p, b, r, action);
			report_pending_start(&p, line + 1, alen);
			report_pending_append(&p, line + rest, n - rest);
		} else if (report_line_blank(line, n))
			report_pending_flush(&p, b, r, action);
		else if (p.on)
			report_pending_append(&p, line, n);
	}
	report_pending_flush(&p, b, r, action);
	if (r->nrcpts > before)
		report_copy_str(r->format, sizeof(r->format), format);
	return r->nrcpts > before;
}

/* The line announcing Exim's list: "The following address(es) failed:"
 * or, in a delay warning, "... have not yet been delivered:". */
static bool
report_exim_list_head(const char *line, size_t n)
{
	while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t'))
		n--;
	return n > 0 && line[n - 1] == ':' && report_memcasemem(line, n, "address(es)") != NULL;
}

/* Exim: after the list head, "  addr" (two spaces) opens a recipient and
 * lines indented deeper carry its reason. */
bool
report_bounce_exim(const struct report_body *b, struct report *r, const char *format)
{
	struct report_cursor c = { b->text, b->len, 0 };
	struct report_pending p = { 0 };
	const char *line, *action = "failed";
	size_t n, before = r->nrcpts;
	bool in_list = false;

	if (report_memcasemem(b->text, b->len, "has not yet been delivered") != NULL)
		action = "delayed";
	while (report_line_next(&c, &line, &n) && !report_copy_marker(line, n)) {
		if (!in_list) {
			in_list = report_exim_list_head(line, n);
		} else if (n > 2 && line[0] == ' ' && line[1] == ' ' && line[2] != ' ' && line[2] != '\t') {
			report_pending_flush(&p, b, r, action);
			report_pending_start(&p, line, n);
		} else if (report_line_blank(line, n)) {
			report_pending_flush(&p, b, r, action);
		} else if (line[0] == ' ' || line[0] == '\t') {
			if (p.on)
				report_pending_append(&p, line, n);
		} else
			break;   /* prose again: the list has ended */
	}
	report_pending_flush(&p, b, r, action);
	if (r->nrcpts > before)
		report_copy_str(r->format, sizeof(r->format), format);
	return r->nrcpts > before;
}

/* The words that tell which MTA wrote a bounce, most specific first. */
static const struct report_bounce_format {
	const char *marker;
	bool (*parse)(const struct report_body *, struct report *, const char *);
	const char *format;
} report_bounce_formats[] = {
	{ "This is the qmail-send program", report_bounce_angle, "qmail" },
	{ "unable to deliver your message to the following address", report_bounce_angle, "yahoo" },
	{ "This is the mail system at host", report_bounce_angle, "postfix" },
	{ "This message was created automatically by mail delivery software", report_bounce_exim, "exim" },
	{ "Delivery has failed to these recipients or groups", report_bounce_microsoft, "microsoft" },
	{ "Remote Server returned '", report_bounce_microsoft, "microsoft" },
	{ "** Address not found **", report_bounce_gmail, "gmail" },
	{ "** Message blocked **", report_bounce_gmail, "gmail" },
	{ "has been blocked. See technical details below", report_bounce_gmail, "gmail" },
	{ "** Message not delivered **", report_bounce_gmail, "gmail" },
	{ "wasn't delivered to", report_bounce_gmail, "gmail" },
	{ "Delivery to the following recipient", report_bounce_gmail, "gmail" },
	{ "The response from the remote server was", report_bounce_gmail, "gmail" },
};

/* The first format whose words the text has and whose layout gives a
 * recipient. The generic fallback is the caller's call (after the
 * auto-reply signals). */
bool
report_bounce_parse(const struct report_body *b, struct report *r)
{
	for (size_t i = 0; i < sizeof(report_bounce_formats) / sizeof(report_bounce_formats[0]); i++) {
		const struct report_bounce_format *f = &report_bounce_formats[i];

		if (report_memcasemem(b->text, b->len, f->marker) != NULL && f->parse(b, r, f->format))
			return true;
	}
	return false;
}
