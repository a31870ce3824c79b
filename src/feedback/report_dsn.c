/*
 * report_dsn.c - the message/delivery-status part of a DSN (and RFC 6533's
 * message/global-delivery-status): one group of per-recipient fields per
 * recipient after the per-message group.
 * STANDARDS: RFC 3464 2.2, 2.3 (Final-Recipient, Original-Recipient,
 * Action, Status, Diagnostic-Code), RFC 3463, RFC 6533 3.
 * SECURITY: hostile text; at most REPORT_RCPTS_MAX recipients are kept,
 * each field truncated. A group is delimited by blank lines, and also by a
 * second Final-Recipient, since some reporters forget the blank line.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "feedback/report_internal.h"

/* The first word of v, lowercase, letters only ("failed (bad mailbox)"). */
static void
report_dsn_word(char *dst, size_t dstsz, const char *v)
{
	size_t o = 0;

	while (*v == ' ' || *v == '\t')
		v++;
	for (; isalpha((unsigned char)*v) && o + 1 < dstsz; v++)
		dst[o++] = (char)tolower((unsigned char)*v);
	dst[o] = '\0';
}

static void
report_dsn_field(const struct report_field *f, struct report_rcpt *rc)
{
	const char *v = report_type_strip(f->value);
	int code;
	char status[16];

	if (strcasecmp(f->name, "Final-Recipient") == 0)
		report_addr_copy(rc->addr, sizeof(rc->addr), v, strlen(v));
	else if (strcasecmp(f->name, "Original-Recipient") == 0)
		report_addr_copy(rc->orig_addr, sizeof(rc->orig_addr), v, strlen(v));
	else if (strcasecmp(f->name, "Action") == 0)
		report_dsn_word(rc->action, sizeof(rc->action), f->value);
	else if (strcasecmp(f->name, "Status") == 0) {
		report_smtp_scan(f->value, strlen(f->value), &code, status, sizeof(status));
		memcpy(rc->status, status, sizeof(rc->status));
	} else if (strcasecmp(f->name, "Diagnostic-Code") == 0) {
		report_copy_str(rc->diagnostic, sizeof(rc->diagnostic), v);
		report_smtp_scan(v, strlen(v), &rc->code, status, sizeof(status));
	}
}

/* Complete a group and keep it when it names a recipient. What a group
 * leaves out is taken from what it has: the status from the diagnostic,
 * the action from the status class (RFC 3464 requires both; not all
 * reporters send both). */
static void
report_dsn_flush(struct report_rcpt *rc, struct report *r)
{
	struct report_rcpt *out;
	int code;
	char status[16];

	if (rc->addr[0] == '\0')
		memcpy(rc->addr, rc->orig_addr, sizeof(rc->addr));
	if (rc->addr[0] != '\0' && (out = report_rcpt_add(r)) != NULL) {
		if (rc->status[0] == '\0') {
			report_smtp_scan(rc->diagnostic, strlen(rc->diagnostic), &code, status, sizeof(status));
			memcpy(rc->status, status, sizeof(rc->status));
		}
		if (rc->action[0] == '\0' && rc->status[0] != '\0')
			strcpy(rc->action, rc->status[0] == '5' ? "failed" : rc->status[0] == '4' ? "delayed" :
			    "delivered");
		*out = *rc;
	}
	memset(rc, 0, sizeof(*rc));
}

void
report_dsn_parse(const char *text, size_t len, struct report *r)
{
	struct report_cursor c = { text, len, 0 };
	struct report_field f;
	struct report_rcpt rc;

	memset(&rc, 0, sizeof(rc));
	while (report_field_next(&c, &f)) {
		if (f.blank) {
			report_dsn_flush(&rc, r);
			continue;
		}
		if (strcasecmp(f.name, "Final-Recipient") == 0 && rc.addr[0] != '\0')
			report_dsn_flush(&rc, r);
		report_dsn_field(&f, &rc);
	}
	report_dsn_flush(&rc, r);
}
