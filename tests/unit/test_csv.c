/*
 * test_csv.c - the CSV record reader (src/util/csv.c, RFC 4180): quoted
 * fields with commas, doubled quotes and line breaks, CRLF and LF line
 * ends, empty lines, and the refusals (stray quote, text after a closing
 * quote, an unclosed quote, too many fields, a record too long), each
 * skipped to the end of its line with the line it started on.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "util/csv.h"

static struct csv_reader *
reader(const char *text)
{
	static struct csv_reader c;

	memset(&c, 0, sizeof(c));
	c.f = fmemopen((void *)text, strlen(text), "r");
	assert_non_null(c.f);
	c.line = 1;
	return &c;
}

static void
expect(struct csv_reader *c, long line, int n, ...)
{
	va_list ap;

	assert_int_equal(csv_record_read(c), 1);
	assert_int_equal(c->start, line);
	assert_int_equal(c->nfields, n);
	va_start(ap, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(c->field[i], va_arg(ap, const char *));
	va_end(ap);
}

static void
expect_bad(struct csv_reader *c, long line, const char *why)
{
	assert_int_equal(csv_record_read(c), -1);
	assert_int_equal(c->start, line);
	assert_string_equal(c->error, why);
}

static void
test_fields(void **state)
{
	struct csv_reader *c = reader("a,b,c\r\n\"x, y\",\"say \"\"hi\"\"\",\r\n\n"
	    "\"two\nlines\",z\nlast,\"\"");

	(void)state;
	expect(c, 1, 3, "a", "b", "c");
	expect(c, 2, 3, "x, y", "say \"hi\"", "");
	expect(c, 4, 2, "two\nlines", "z");
	expect(c, 6, 2, "last", "");
	assert_int_equal(csv_record_read(c), 0);
	fclose(c->f);
}

static void
test_refusals(void **state)
{
	char big[CSV_RECORD_MAX + 64];
	struct csv_reader *c = reader("ok\nab\"c,d\nok2\n\"x\"y,z\nok3\n1,2,3,4,5,6,7,8,9\nok4\n\"open,\nrest\n");

	(void)state;
	expect(c, 1, 1, "ok");
	expect_bad(c, 2, "quote inside an unquoted field");
	expect(c, 3, 1, "ok2");
	expect_bad(c, 4, "text after a closing quote");
	expect(c, 5, 1, "ok3");
	expect_bad(c, 6, "too many fields");
	expect(c, 7, 1, "ok4");
	expect_bad(c, 8, "quoted field not closed");
	assert_int_equal(csv_record_read(c), 0);
	fclose(c->f);
	/* CSV_RECORD_MAX octets fit, one more does not; reading goes on */
	memset(big, 'a', CSV_RECORD_MAX);
	snprintf(big + CSV_RECORD_MAX, sizeof(big) - CSV_RECORD_MAX, "\nb\n");
	c = reader(big);
	assert_int_equal(csv_record_read(c), 1);
	assert_int_equal(strlen(c->field[0]), CSV_RECORD_MAX);
	expect(c, 2, 1, "b");
	fclose(c->f);
	big[CSV_RECORD_MAX] = 'a';
	snprintf(big + CSV_RECORD_MAX + 1, sizeof(big) - CSV_RECORD_MAX - 1, "\nb\n");
	c = reader(big);
	expect_bad(c, 1, "record too long");
	expect(c, 2, 1, "b");
	fclose(c->f);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
