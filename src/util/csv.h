/*
 * csv.h - a reader of CSV records (RFC 4180: comma-separated fields, a
 * field with a comma, quote or line break in double quotes, quotes
 * doubled; CRLF or LF line ends), bounded: a record of more than
 * CSV_RECORD_MAX octets or CSV_FIELDS_MAX fields is refused, and a refused
 * record is skipped up to the end of its line so reading goes on.
 */
#ifndef FERRY_UTIL_CSV_H
#define FERRY_UTIL_CSV_H

#include <stdio.h>

#define CSV_RECORD_MAX 4096
#define CSV_FIELDS_MAX 8

/* Set f and line (1) before the first record; then field[0..nfields) are
 * the last record's fields, NUL-terminated in buf (valid until the next
 * read), start the line it began on. */
struct csv_reader {
	FILE       *f;
	long        line;        /* physical line the next record starts on */
	long        start;       /* ... and the one the last record started on */
	char        buf[CSV_RECORD_MAX + CSV_FIELDS_MAX];
	size_t      len;
	const char *field[CSV_FIELDS_MAX];
	int         nfields;
	const char *error;       /* why the last record was refused */
};

/* The next record of c->f: 1, 0 at the end of the file, or -1 for a bad
 * record (skipped; c->error says why, c->start where). Empty lines are
 * skipped. */
int csv_record_read(struct csv_reader *c);

#endif
