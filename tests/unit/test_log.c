/*
 * test_log.c - unit tests for the log lines (src/util/log.c): log_format
 * json turns every key=value pair into a JSON member, undoing log_quote's
 * escapes so a value reads back exactly (quotes, backslashes, control
 * octets, UTF-8), octets that are not UTF-8 as \xHH text; every line
 * written parses on its own (jansson reads them back).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <jansson.h>

#include "util/log.h"

static json_t *
parse(const char *s)
{
	json_error_t e;
	json_t *j = json_loads(s, JSON_ALLOW_NUL, &e);

	if (j == NULL)
		fail_msg("not JSON (%s): %s", e.text, s);
	return j;
}

static void
assert_member(json_t *o, const char *key, const char *val, size_t len)
{
	json_t *v = json_object_get(o, key);

	assert_non_null(v);
	assert_true(json_is_string(v));
	assert_int_equal(json_string_length(v), len);
	assert_memory_equal(json_string_value(v), val, len);
}

static void
test_pairs_become_members(void **state)
{
	static const char nasty[] = "a\"b\\c\r\nd\t\x01\0z \xc3\xa9 end";
	char q[256], pairs[512];
	char *s;
	json_t *o;

	(void)state;
	log_quote(q, sizeof(q), nasty, sizeof(nasty) - 1);
	snprintf(pairs, sizeof(pairs), "event=rcpt-refused sid=7 to=%s reply=\"550 5.1.1 no\" empty=",
	    q);
	s = log_json_format("2026-01-01T00:00:00.000Z", "ferryd", 42, "info", pairs, strlen(pairs));
	assert_non_null(s);
	assert_null(strchr(s, '\n'));             /* one line, whatever the values hold */
	o = parse(s);
	assert_member(o, "time", "2026-01-01T00:00:00.000Z", 24);
	assert_member(o, "prog", "ferryd", 6);
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), 42);
	assert_member(o, "level", "info", 4);
	assert_member(o, "event", "rcpt-refused", 12);
	assert_member(o, "sid", "7", 1);
	assert_member(o, "to", nasty, sizeof(nasty) - 1);
	assert_member(o, "reply", "550 5.1.1 no", 12);
	assert_member(o, "empty", "", 0);
	/* members keep the line's order */
	assert_string_equal(json_object_iter_key(json_object_iter(o)), "time");
	json_decref(o);
	free(s);
}

static void
test_non_utf8_as_hex_text(void **state)
{
	char q[64], pairs[128];
	char *s;
	json_t *o;

	(void)state;
	log_quote(q, sizeof(q), "x\xff\xc3y", 4);
	snprintf(pairs, sizeof(pairs), "event=e helo=%s", q);
	s = log_json_format("t", "p", 1, "warn", pairs, strlen(pairs));
	o = parse(s);
	assert_member(o, "helo", "x\\xff\\xc3y", 10);
	json_decref(o);
	free(s);
}

static void
test_lines_written_parse(void **state)
{
	char path[] = "/tmp/ferry-test-log.XXXXXX", line[8192], q[64];
	int fd = mkstemp(path), n = 0;
	FILE *f;

	(void)state;
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(log_open("ferryd", path), 0);
	log_set_format(LOG_FORMAT_JSON);
	log_info("event=one from=%s", log_quote(q, sizeof(q), "a b\"c", 5));
	log_warn("event=two reason=\"disk full\"");
	log_set_format(LOG_FORMAT_TEXT);
	log_info("event=three");
	log_open(NULL, NULL);
	f = fopen(path, "r");
	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		n++;
		if (n == 3) {
			assert_non_null(strstr(line, "ferryd["));
			assert_non_null(strstr(line, ": level=info event=three\n"));
			continue;
		}
		json_t *o = parse(line);
		assert_member(o, "event", n == 1 ? "one" : "two", 3);
		assert_member(o, "level", n == 1 ? "info" : "warn", 4);
		if (n == 1)
			assert_member(o, "from", "a b\"c", 5);
		else
			assert_member(o, "reason", "disk full", 9);
		json_decref(o);
	}
	fclose(f);
	unlink(path);
	assert_int_equal(n, 3);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs_become_members),
		cmocka_unit_test(test_non_utf8_as_hex_text),
		cmocka_unit_test(test_lines_written_parse),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
