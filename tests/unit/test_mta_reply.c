/* test_mta_reply.c - the reply parser of the outbound client and
 * ferry-sendmail: single and multi-line replies, incomplete input, the
 * multi-line tricks a hostile peer plays (mixed codes, bad separators, NUL,
 * bare CR, endless lines), text sanitising, what only the strict mode
 * refuses, and the EHLO keywords ferry acts on. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "util/mta_reply.h"

static long
parse_in(enum mta_reply_mode mode, const char *s, struct mta_reply *r)
{
	return mta_reply_parse(s, strlen(s), mode, r);
}

static long
parse(const char *s, struct mta_reply *r)
{
	return parse_in(MTA_REPLY_TOLERANT, s, r);
}

static void
test_single_line(void **state)
{
	struct mta_reply r;
	(void)state;
	assert_int_equal(parse("250 2.0.0 ok\r\nrest", &r), 14);
	assert_int_equal(r.code, 250);
	assert_string_equal(r.text, "2.0.0 ok");
	assert_int_equal(parse("354\r\n", &r), 5);
	assert_int_equal(r.code, 354);
	assert_string_equal(r.text, "");
}

static void
test_multi_line_joined(void **state)
{
	struct mta_reply r;
	(void)state;
	const char *s = "550-5.1.1 The account does not exist.\r\n550-5.1.1 Please check\r\n550 5.1.1 https://x\r\n";
	assert_int_equal(parse(s, &r), (long)strlen(s));
	assert_int_equal(r.code, 550);
	assert_string_equal(r.text, "5.1.1 The account does not exist. Please check https://x");
}

static void
test_incomplete_needs_more(void **state)
{
	struct mta_reply r;
	(void)state;
	assert_int_equal(parse("250-first\r\n250 sec", &r), 0);
	assert_int_equal(parse("25", &r), 0);
	assert_int_equal(parse("", &r), 0);
}

static void
test_tricks_are_malformed(void **state)
{
	struct mta_reply r;
	(void)state;
	assert_int_equal(parse("250-ok\r\n251 mixed codes\r\n", &r), -1);
	assert_int_equal(parse("250_ok\r\n", &r), -1);
	assert_int_equal(parse("2x0 ok\r\n", &r), -1);
	assert_int_equal(parse("650 ok\r\n", &r), -1);
	assert_int_equal(parse("25\r\n", &r), -1);
	assert_int_equal(parse("250 a\rb\r\n", &r), -1);
	assert_int_equal(mta_reply_parse("250 a\0b\r\n", 10, MTA_REPLY_TOLERANT, &r), -1);
	char longline[4000];
	memset(longline, 'a', sizeof(longline));
	memcpy(longline, "250 ", 4);
	assert_int_equal(mta_reply_parse(longline, sizeof(longline), MTA_REPLY_TOLERANT, &r), -1);
	/* too many continuation lines */
	char many[2000] = "";
	for (int i = 0; i < 150; i++)
		strcat(many, "250-x\r\n");
	assert_int_equal(parse(many, &r), -1);
}

static void
test_bare_lf_tolerated_text_sanitised(void **state)
{
	struct mta_reply r;
	(void)state;
	assert_int_equal(parse("451 4.3.0 \x1b[31mred\xff\n", &r), 20);
	assert_int_equal(r.code, 451);
	assert_string_equal(r.text, "4.3.0 ?[31mred?");
}

/* ferry-sendmail reads ferryd by the letter of RFC 5321 4.2; everything
 * else is the same as for remote peers. */
static void
test_strict_mode(void **state)
{
	struct mta_reply r;
	(void)state;
	assert_int_equal(parse_in(MTA_REPLY_STRICT, "250 ok\n", &r), -1);
	assert_int_equal(parse_in(MTA_REPLY_STRICT, "250-a\r\n250 b\n", &r), -1);
	assert_int_equal(parse_in(MTA_REPLY_STRICT, "260 ok\r\n", &r), -1);
	assert_int_equal(parse("260 ok\r\n", &r), 8);
	assert_int_equal(parse_in(MTA_REPLY_STRICT, "250-a\r\n251 b\r\n", &r), -1);
	assert_int_equal(parse_in(MTA_REPLY_STRICT, "250-a\r\n250 b", &r), 0);
	assert_int_equal(parse_in(MTA_REPLY_STRICT, "550-5.1.1 a\r\n550 5.1.1 b\r\nx", &r), 26);
	assert_int_equal(r.code, 550);
	assert_string_equal(r.text, "5.1.1 a b");
}

static void
test_ehlo_keywords(void **state)
{
	struct mta_caps caps;
	(void)state;
	const char *s = "250-mx.test says PIPELINING\r\n250-pipelining\r\n250-SIZE 1000\r\n250-8BITMIME\r\n"
	    "250-AUTH=LOGIN\r\n250-AUTH LOGIN PLAIN\r\n250-STARTTLS\r\n250-SMTPUTF8\r\n250 DSN\r\n";
	mta_caps_parse(s, strlen(s), &caps);
	assert_true(caps.pipelining && caps.eightbit && caps.starttls && caps.smtputf8 && caps.dsn);
	assert_true(caps.auth_plain);
	assert_true(caps.has_size);
	assert_int_equal(caps.size, 1000);
	s = "250-mx.test PIPELINING STARTTLS\r\n250-SIZE\r\n250-AUTH PLAINX\r\n250 DSNX\r\n";
	mta_caps_parse(s, strlen(s), &caps);
	assert_false(caps.pipelining || caps.starttls || caps.auth_plain || caps.dsn);
	assert_true(caps.has_size);
	assert_int_equal(caps.size, 0);
}

/* The enhanced status at a reply text's start, with or without its code;
 * anything else is no status (bounded digits, one class digit). */
static void
test_reply_status(void **state)
{
	char st[12];

	(void)state;
	assert_true(mta_reply_status("5.1.1 <a@b>: user unknown", st, sizeof(st)));
	assert_string_equal(st, "5.1.1");
	assert_true(mta_reply_status("550 5.7.26 unauthenticated", st, sizeof(st)));
	assert_string_equal(st, "5.7.26");
	assert_true(mta_reply_status("4.4.7", st, sizeof(st)));
	assert_string_equal(st, "4.4.7");
	assert_false(mta_reply_status("550 user unknown", st, sizeof(st)));
	assert_false(mta_reply_status("5.1 short", st, sizeof(st)));
	assert_false(mta_reply_status("5.1.1x", st, sizeof(st)));
	assert_false(mta_reply_status("55.1.1 two class digits", st, sizeof(st)));
	assert_false(mta_reply_status("5.1234.1 long subject", st, sizeof(st)));
	assert_false(mta_reply_status("3.1.1 no such class", st, sizeof(st)));
	assert_false(mta_reply_status("5.100.100", st, 8));       /* does not fit */
	assert_false(mta_reply_status(NULL, st, sizeof(st)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_single_line),
		cmocka_unit_test(test_multi_line_joined),
		cmocka_unit_test(test_incomplete_needs_more),
		cmocka_unit_test(test_tricks_are_malformed),
		cmocka_unit_test(test_bare_lf_tolerated_text_sanitised),
		cmocka_unit_test(test_strict_mode),
		cmocka_unit_test(test_ehlo_keywords),
		cmocka_unit_test(test_reply_status),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
