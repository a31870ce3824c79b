/*
 * control_summary.c - a queue summary row on the control socket, both ways
 * (format in ferryd, parse in ferryctl), and the syntax of the names and ids
 * of the suspend/resume requests. Line format in control.c's protocol.
 * SECURITY: the parser takes exactly CONTROL_SUMMARY_FIELDS fields of a
 * line the caller bounded and checked for control characters; numbers are
 * plain decimal within 18 digits. Formatted lines never exceed
 * CONTROL_SUMMARY_LINE_MAX, whatever the queue manager's strings hold.
 */
#include "control/control_summary.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest strings a line carries; the rest is cut ("..."). Together with
 * the numbers they stay well under CONTROL_SUMMARY_LINE_MAX. */
#define SUMMARY_NAME_MAX    1024
#define SUMMARY_SOURCE_MAX  128
#define SUMMARY_SHAPING_MAX 1024
#define SUMMARY_NUM_DIGITS  18

static const char *const summary_kinds[] = { "site", "domain", "tenant" };

const char *
control_row_kind_name(enum qmgr_row_kind kind)
{
	if ((size_t)kind >= sizeof(summary_kinds) / sizeof(summary_kinds[0]))
		return "site";
	return summary_kinds[kind];
}

/* ---- writing ------------------------------------------------------------------ */

struct summary_out {
	char  *buf;
	size_t size, len;
};

static void
summary_char(struct summary_out *o, char ch)
{
	if (o->len + 1 < o->size)
		o->buf[o->len++] = ch;
}

/* s with control characters (TAB, CR, LF...) as '?', at most max octets. */
static void
summary_str(struct summary_out *o, const char *s, size_t max)
{
	size_t n = s != NULL ? strlen(s) : 0;
	bool cut = n > max;

	if (cut)
		n = max - 3;
	for (size_t i = 0; i < n; i++)
		summary_char(o, ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) ? '?' : s[i]);
	if (cut)
		for (int i = 0; i < 3; i++)
			summary_char(o, '.');
}

static void
summary_num(struct summary_out *o, long long v)
{
	char num[32];

	snprintf(num, sizeof(num), "%lld", v < 0 ? 0 : v);
	summary_char(o, '\t');
	summary_str(o, num, sizeof(num));
}

size_t
control_summary_format(const struct qmgr_summary_row *row, char *buf, size_t size)
{
	struct summary_out o = { buf, size, 0 };

	summary_str(&o, control_row_kind_name(row->kind), SUMMARY_NAME_MAX);
	summary_char(&o, '\t');
	summary_str(&o, row->name, SUMMARY_NAME_MAX);
	summary_char(&o, '\t');
	summary_str(&o, row->source, SUMMARY_SOURCE_MAX);
	summary_num(&o, row->ready);
	summary_num(&o, row->scheduled);
	summary_num(&o, row->active);
	summary_num(&o, row->held);
	summary_num(&o, row->conns_open);
	summary_num(&o, row->conns_busy);
	summary_num(&o, row->limit);
	summary_num(&o, row->suspended ? 1 : 0);
	summary_char(&o, '\t');
	summary_str(&o, row->shaping, SUMMARY_SHAPING_MAX);
	summary_char(&o, '\n');
	if (size > 0)
		buf[o.len] = '\0';
	return o.len;
}

/* ---- reading ------------------------------------------------------------------ */

bool
control_line_fields(char *line, char **f, int n)
{
	for (int i = 0; i < n; i++) {
		f[i] = line;
		line += strcspn(line, "\t");
		if (i < n - 1 && *line != '\t')
			return false;
		if (i < n - 1)
			*line++ = '\0';
	}
	return *line == '\0';
}

/* A count: 1..SUMMARY_NUM_DIGITS decimal digits, at most max. */
static bool
summary_count(const char *s, long long max, long long *out)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > SUMMARY_NUM_DIGITS || s[n] != '\0')
		return false;
	*out = strtoll(s, NULL, 10);
	return *out <= max;
}

/* Fields 3..10: the counts, the connection figures and the suspended flag. */
static bool
summary_numbers(char **f, struct qmgr_summary_row *row)
{
	long long v[8];

	for (int i = 0; i < 8; i++)
		if (!summary_count(f[3 + i], i < 4 ? LONG_MAX : INT_MAX,
		    &v[i]))
			return false;
	if (v[7] > 1)
		return false;
	row->ready = (long)v[0];
	row->scheduled = (long)v[1];
	row->active = (long)v[2];
	row->held = (long)v[3];
	row->conns_open = (int)v[4];
	row->conns_busy = (int)v[5];
	row->limit = (int)v[6];
	row->suspended = v[7] == 1;
	return true;
}

int
control_summary_parse(char *line, struct qmgr_summary_row *row)
{
	char *f[CONTROL_SUMMARY_FIELDS];
	size_t k;

	if (!control_line_fields(line, f, CONTROL_SUMMARY_FIELDS) || f[1][0] == '\0')
		return -1;
	for (k = 0; k < sizeof(summary_kinds) / sizeof(summary_kinds[0]); k++)
		if (strcmp(f[0], summary_kinds[k]) == 0)
			break;
	if (k == sizeof(summary_kinds) / sizeof(summary_kinds[0]) || !summary_numbers(f, row))
		return -1;
	row->kind = (enum qmgr_row_kind)k;
	row->name = f[1];
	row->source = f[2];
	row->shaping = f[11];
	return 0;
}

/* ---- request operands ---------------------------------------------------------- */

bool
control_site_name_valid(const char *s)
{
	static const char ok[] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-_:[],/";
	size_t n = strspn(s, ok);

	return n >= 1 && n <= CONTROL_SITE_NAME_MAX && s[n] == '\0';
}

bool
control_id_valid(const char *s)
{
	size_t n = strspn(s, "0123456789ABCDEF");

	return n == SPOOL_ID_LEN && s[n] == '\0';
}

bool
control_tenant_id_parse(const char *s, long long *id)
{
	size_t n = strspn(s, "0123456789");

	if (n == 0 || n > CONTROL_TENANT_ID_DIGITS || s[n] != '\0')
		return false;
	*id = strtoll(s, NULL, 10);
	return *id > 0;
}
