/*
 * report_orig.c - the header of the original message a report carries
 * (a message/rfc822 part, text/rfc822-headers, or the copy a non-standard
 * bounce appends to its text): Return-Path, X-Ferry-Ref, Message-ID, To,
 * From, and Microsoft's X-HmXmrOriginalRecipient (JMRP complaints).
 * STANDARDS: RFC 5322 3.6, RFC 3462 (text/rfc822-headers), RFC 5965 2.
 * SECURITY: the copy is whatever the reporter sent back; the values are
 * candidates the caller verifies (the token's MAC), never trusted here.
 */
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

/* Where a field's value goes: the first occurrence wins. */
static void
report_orig_field(const struct report_field *f, struct report *r, char *hmxmr, size_t hmxmrsz)
{
	const char *v = f->value;
	size_t n = strlen(v);

	if (strcasecmp(f->name, "Return-Path") == 0 && r->orig_return_path[0] == '\0')
		report_addr_copy(r->orig_return_path, sizeof(r->orig_return_path), v, n);
	else if (strcasecmp(f->name, "X-Ferry-Ref") == 0 && r->orig_ref[0] == '\0')
		report_copy(r->orig_ref, sizeof(r->orig_ref), v, n);
	else if (strcasecmp(f->name, "Message-ID") == 0 && r->orig_message_id[0] == '\0')
		report_copy(r->orig_message_id, sizeof(r->orig_message_id), v, n);
	else if (strcasecmp(f->name, "To") == 0 && r->orig_to[0] == '\0')
		report_addr_copy(r->orig_to, sizeof(r->orig_to), v, n);
	else if (strcasecmp(f->name, "From") == 0 && r->orig_from[0] == '\0')
		report_addr_copy(r->orig_from, sizeof(r->orig_from), v, n);
	else if (strcasecmp(f->name, "X-HmXmrOriginalRecipient") == 0 && hmxmr != NULL && hmxmr[0] == '\0')
		report_addr_copy(hmxmr, hmxmrsz, v, n);
}

/* Read the header section at text (up to its empty line) into r's orig_*
 * fields that are still empty; hmxmr (may be NULL) gets the JMRP header. */
void
report_orig_scan(const char *text, size_t len, struct report *r, char *hmxmr, size_t hmxmrsz)
{
	struct report_cursor c = { text, len, 0 };
	struct report_field f;
	bool started = false;

	while (report_field_next(&c, &f)) {
		if (f.blank) {
			if (started)
				break;
			continue;   /* blank lines before the header: skipped */
		}
		started = true;
		report_orig_field(&f, r, hmxmr, hmxmrsz);
	}
}

/* The offset of the copy of the original header inside a bounce's text:
 * the first line opening with a field such a copy starts with, or len. */
size_t
report_orig_inline_start(const char *text, size_t len)
{
	static const char *const first[] = {
		"Return-Path:", "Received:", "X-Ferry-Ref:", "Message-ID:", "DKIM-Signature:",
	};
	struct report_cursor c = { text, len, 0 };
	const char *line;
	size_t n, at = 0;

	while (report_line_next(&c, &line, &n)) {
		for (size_t i = 0; i < sizeof(first) / sizeof(first[0]); i++)
			if (report_prefix(line, n, first[i]))
				return at;
		at = c.off;
	}
	return len;
}
