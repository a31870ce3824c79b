/*
 * test_log.c - unit tests for the log lines (src/util/log.c): log_format
 * json turns every key=value pair into a JSON member, undoing log_quote's
 * escapes so a value reads back exactly (quotes, backslashes, control
 * octets, UTF-8), octets that are not UTF-8 as \xHH text; every line
 * written parses on its own (jansson reads them back). A value the caller
 * left unquoted cannot add or replace a member, the parser reads no
 * octet past the line, bare words join into "msg", and a reopen keeps
 * the descriptor number threads write to.
 */
#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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

/* Each key, value pair of a NULL-ended list (values without NUL) is a
 * member, and the object holds nothing else beside time, prog, pid, level. */
static void
assert_members_only(json_t *o, const char *const *kv)
{
	size_t n = 0;

	for (; kv[n] != NULL; n += 2)
		assert_member(o, kv[n], kv[n + 1], strlen(kv[n + 1]));
	assert_int_equal(json_object_size(o), 4 + n / 2);
}

static json_t *
format_pairs(const char *pairs)
{
	char *s = log_json_format("t", "ferryd", 1, "info", pairs, strlen(pairs));
	json_t *o;

	assert_non_null(s);
	o = parse(s);
	free(s);
	return o;
}

/* The review's reproduction: an unquoted HELO of "x"client=203.0.113.9
 * replaced the real client. A closing quote not followed by a space or
 * the end makes the word literal. */
static void
test_quote_must_end_the_word(void **state)
{
	json_t *o;

	(void)state;
	o = format_pairs("event=disconnect sid=1 client=127.0.0.1 helo=\"x\"client=203.0.113.9 commands=2");
	assert_members_only(o, (const char *const[]){ "event", "disconnect", "sid", "1",
	    "client", "127.0.0.1", "helo", "\"x\"client=203.0.113.9", "commands", "2", NULL });
	json_decref(o);
	/* a quoted value ending the line, and one cut open by truncation */
	o = format_pairs("a=\"b c\" d=\"e f");
	assert_members_only(o, (const char *const[]){ "a", "b c", "d", "e f", NULL });
	json_decref(o);
}

/* A key that comes again never replaces the first one, reserved fields
 * included; the later values are kept under KEY_2 .. KEY_9, then dropped. */
static void
test_keys_are_never_replaced(void **state)
{
	char pairs[512] = "event=e";
	json_t *o;

	(void)state;
	o = format_pairs("client=127.0.0.1 client=203.0.113.9 level=error time=x prog=y pid=2");
	assert_int_equal(json_integer_value(json_object_get(o, "pid")), 1);
	assert_member(o, "level", "info", 4);
	assert_member(o, "time", "t", 1);
	assert_member(o, "prog", "ferryd", 6);
	assert_members_only(o, (const char *const[]){ "client", "127.0.0.1", "client_2", "203.0.113.9",
	    "level_2", "error", "time_2", "x", "prog_2", "y", "pid_2", "2", NULL });
	json_decref(o);
	for (int i = 0; i < 12; i++)
		snprintf(pairs + strlen(pairs), sizeof(pairs) - strlen(pairs), " k=%d", i);
	o = format_pairs(pairs);
	assert_members_only(o, (const char *const[]){ "event", "e", "k", "0", "k_2", "1", "k_3", "2",
	    "k_4", "3", "k_5", "4", "k_6", "5", "k_7", "6", "k_8", "7", "k_9", "8", NULL });
	json_decref(o);
}

/* Words without '=' (or with a key no format string writes) join, one
 * space apart, into one "msg" member instead of each replacing the last. */
static void
test_bare_words_join_into_msg(void **state)
{
	json_t *o;

	(void)state;
	o = format_pairs("event=w  (today taken as day 1)   a\"b=c reason=\"x\"");
	assert_members_only(o, (const char *const[]){ "event", "w", "reason", "x",
	    "msg", "(today taken as day 1) a\"b=c", NULL });
	json_decref(o);
}

/* The pairs are a length, not a string: nothing past it is read (ASan
 * reports the old strcspn running off this unterminated heap copy). */
static void
test_no_read_past_the_line(void **state)
{
	static const char text[] = "event=e word tail";
	char *buf = malloc(sizeof(text) - 1), *s;
	json_t *o;

	(void)state;
	assert_non_null(buf);
	memcpy(buf, text, sizeof(text) - 1);     /* no NUL */
	s = log_json_format("t", "p", 1, "info", buf, sizeof(text) - 1);
	free(buf);
	assert_non_null(s);
	o = parse(s);
	free(s);
	assert_member(o, "msg", "word tail", 9);
	json_decref(o);
}

/* The descriptor numbers open on path. */
static int
fds_on(const char *path, int *fds, int max)
{
	char link[sizeof("/proc/self/fd/") + 256], target[PATH_MAX];
	struct dirent *e;
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL && n < max) {
		ssize_t len;
		snprintf(link, sizeof(link), "/proc/self/fd/%s", e->d_name);
		len = readlink(link, target, sizeof(target) - 1);
		if (len < 0)
			continue;
		target[len] = '\0';
		if (strcmp(target, path) == 0)
			fds[n++] = atoi(e->d_name);
	}
	closedir(d);
	return n;
}

/* A reopen (SIGHUP, log rotation) points the same descriptor number at
 * the new file: the old one is never closed while threads may be about to
 * write to it, so accept or open cannot reuse it for a client or a spool
 * file. */
static void
test_reopen_keeps_the_number(void **state)
{
	char a[] = "/tmp/ferry-test-loga.XXXXXX", b[] = "/tmp/ferry-test-logb.XXXXXX";
	int fa = mkstemp(a), fb = mkstemp(b), n[2], m;

	(void)state;
	assert_true(fa >= 0 && fb >= 0);
	close(fa);
	close(fb);
	assert_int_equal(log_open("ferryd", a), 0);
	assert_int_equal(fds_on(a, n, 2), 1);
	assert_int_equal(log_open("ferryd", b), 0);
	assert_int_equal(fds_on(a, n + 1, 1), 0);          /* the old file is let go */
	assert_int_equal(fds_on(b, &m, 1), 1);
	assert_int_equal(m, n[0]);                          /* on the same number */
	assert_int_equal(log_open("ferryd", a), 0);
	assert_int_equal(fds_on(a, &m, 1), 1);
	assert_int_equal(m, n[0]);
	log_open(NULL, NULL);
	assert_int_equal(fds_on(a, &m, 1), 0);
	unlink(a);
	unlink(b);
}

static atomic_bool stress_stop;

static void *
stress_logger(void *arg)
{
	(void)arg;
	while (!atomic_load(&stress_stop))
		log_info("event=stress");
	return NULL;
}

/* Plays accept/openat: opens and closes a file nothing else writes to. */
static void *
stress_opener(void *arg)
{
	while (!atomic_load(&stress_stop)) {
		int fd = open(arg, O_WRONLY | O_APPEND | O_CLOEXEC);
		if (fd >= 0)
			close(fd);
	}
	return NULL;
}

/* Reopens while threads log and another opens files: every line lands in
 * a log file, none in the other file. (The race is timing-bound: this can
 * only catch it by chance; test_reopen_keeps_the_number checks the
 * mechanism.) */
static void
test_reopen_while_logging(void **state)
{
	char a[] = "/tmp/ferry-test-logc.XXXXXX", other[] = "/tmp/ferry-test-logo.XXXXXX";
	int fa = mkstemp(a), fo = mkstemp(other);
	pthread_t th[3];
	struct stat st;

	(void)state;
	assert_true(fa >= 0 && fo >= 0);
	close(fa);
	close(fo);
	atomic_store(&stress_stop, false);
	assert_int_equal(log_open("ferryd", a), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&th[i], NULL, stress_logger, NULL), 0);
	assert_int_equal(pthread_create(&th[2], NULL, stress_opener, other), 0);
	for (int i = 0; i < 20000; i++)
		assert_int_equal(log_open("ferryd", a), 0);
	atomic_store(&stress_stop, true);
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	log_open(NULL, NULL);
	assert_int_equal(stat(other, &st), 0);
	assert_int_equal(st.st_size, 0);
	assert_int_equal(stat(a, &st), 0);
	assert_true(st.st_size > 0);
	unlink(a);
	unlink(other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pairs_become_members),
		cmocka_unit_test(test_non_utf8_as_hex_text),
		cmocka_unit_test(test_lines_written_parse),
		cmocka_unit_test(test_quote_must_end_the_word),
		cmocka_unit_test(test_keys_are_never_replaced),
		cmocka_unit_test(test_bare_words_join_into_msg),
		cmocka_unit_test(test_no_read_past_the_line),
		cmocka_unit_test(test_reopen_keeps_the_number),
		cmocka_unit_test(test_reopen_while_logging),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
