/*
 * csv.c - a bounded reader of CSV records (see csv.h). Used for
 * `ferryctl suppression import`.
 * STANDARDS: RFC 4180 (a quote inside an unquoted field, or text after a
 * closing quote, is refused rather than guessed at).
 * SECURITY: the input may come from anywhere: every record is bounded by
 * CSV_RECORD_MAX octets and CSV_FIELDS_MAX fields.
 */
#include <stdio.h>

#include "util/csv.h"

/* Skip to the end of the physical line after an error. */
static int
csv_resync(struct csv_reader *c, int ch, const char *why)
{
	while (ch != '\n' && ch != EOF)
		ch = getc_unlocked(c->f);
	if (ch == '\n')
		c->line++;
	c->error = why;
	return -1;
}

static int
csv_put(struct csv_reader *c, int ch)
{
	if (c->len - (size_t)c->nfields >= CSV_RECORD_MAX)
		return -1;
	c->buf[c->len++] = (char)ch;
	return 0;
}

/* buf keeps CSV_FIELDS_MAX octets beyond CSV_RECORD_MAX for the NULs. */
static int
csv_field_end(struct csv_reader *c)
{
	if (c->len >= sizeof(c->buf))
		return -1;
	c->buf[c->len++] = '\0';
	return 0;
}

/* A quoted field, the opening quote read: the character after the
 * closing quote, or -2 on an error (c->error set, resynced). */
static int
csv_quoted(struct csv_reader *c)
{
	int ch;

	for (;;) {
		ch = getc_unlocked(c->f);
		if (ch == EOF)
			return csv_resync(c, ch, "quoted field not closed") - 1;
		if (ch == '"') {
			ch = getc_unlocked(c->f);
			if (ch != '"')
				break;
		} else if (ch == '\n')
			c->line++;
		if (csv_put(c, ch) != 0)
			return csv_resync(c, ch, "record too long") - 1;
	}
	if (ch == '\r')
		ch = getc_unlocked(c->f);
	if (ch != ',' && ch != '\n' && ch != EOF)
		return csv_resync(c, ch, "text after a closing quote") - 1;
	return ch;
}

/* One field: the character that ended it (',' '\n' or EOF), or -2. */
static int
csv_field(struct csv_reader *c)
{
	int ch = getc_unlocked(c->f);

	if (c->nfields >= CSV_FIELDS_MAX)
		return csv_resync(c, ch, "too many fields") - 1;
	c->field[c->nfields] = c->buf + c->len;
	if (ch == '"')
		ch = csv_quoted(c);
	else
		for (; ch != ',' && ch != '\n' && ch != EOF; ch = getc_unlocked(c->f)) {
			if (ch == '"')
				return csv_resync(c, ch, "quote inside an unquoted field") - 1;
			if (ch == '\r')
				continue;   /* CRLF line ends */
			if (csv_put(c, ch) != 0)
				return csv_resync(c, ch, "record too long") - 1;
		}
	if (ch == -2)
		return -2;
	if (csv_field_end(c) != 0)
		return csv_resync(c, ch, "record too long") - 1;
	c->nfields++;
	return ch;
}

int
csv_record_read(struct csv_reader *c)
{
	int ch;

	do {
		c->len = 0;
		c->nfields = 0;
		c->start = c->line;
		ch = getc_unlocked(c->f);
		if (ch == EOF)
			return 0;
		if (ch == '\n')
			c->line++;
		else if (ch != '\r')
			ungetc(ch, c->f);
	} while (ch == '\n' || ch == '\r');
	do
		ch = csv_field(c);
	while (ch == ',');
	if (ch == -2)
		return -1;
	if (ch == '\n')
		c->line++;
	return 1;
}
