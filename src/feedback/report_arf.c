/*
 * report_arf.c - the machine-readable part of a complaint: the fields of
 * message/feedback-report (RFC 5965 3.1, 3.2). Where more than one
 * Original-Rcpt-To or Reported-Domain is given, the first one is kept.
 * STANDARDS: RFC 5965, RFC 6650 (what a complaint names).
 * SECURITY: hostile text; values are truncated copies, nothing more.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

static void
report_arf_field(const struct report_field *f, struct report *r)
{
	const char *v = f->value;
	size_t n = strlen(v);

#define FIRST(field) ((field)[0] == '\0')
	if (strcasecmp(f->name, "Feedback-Type") == 0 && FIRST(r->feedback_type)) {
		size_t o = 0;

		while (o < n && o + 1 < sizeof(r->feedback_type) && (isalnum((unsigned char)v[o]) || v[o] == '-'))
			r->feedback_type[o] = (char)tolower((unsigned char)v[o]), o++;
		r->feedback_type[o] = '\0';
	} else if (strcasecmp(f->name, "User-Agent") == 0 && FIRST(r->user_agent))
		report_copy(r->user_agent, sizeof(r->user_agent), v, n);
	else if (strcasecmp(f->name, "Original-Mail-From") == 0 && FIRST(r->original_from))
		report_addr_copy(r->original_from, sizeof(r->original_from), v, n);
	else if (strcasecmp(f->name, "Original-Rcpt-To") == 0 && FIRST(r->original_rcpt))
		report_addr_copy(r->original_rcpt, sizeof(r->original_rcpt), v, n);
	else if ((strcasecmp(f->name, "Arrival-Date") == 0 || strcasecmp(f->name, "Received-Date") == 0) &&
	    FIRST(r->arrival_date))
		report_copy(r->arrival_date, sizeof(r->arrival_date), v, n);
	else if (strcasecmp(f->name, "Source-IP") == 0 && FIRST(r->source_ip))
		report_copy(r->source_ip, sizeof(r->source_ip), v, n);
	else if (strcasecmp(f->name, "Reported-Domain") == 0 && FIRST(r->reported_domain))
		report_copy(r->reported_domain, sizeof(r->reported_domain), v, n);
#undef FIRST
}

/* All fields of the part; blank lines are not significant here. */
void
report_arf_parse(const char *text, size_t len, struct report *r)
{
	struct report_cursor c = { text, len, 0 };
	struct report_field f;

	while (report_field_next(&c, &f))
		if (!f.blank)
			report_arf_field(&f, r);
}
