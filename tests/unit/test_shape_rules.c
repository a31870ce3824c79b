/* test_shape_rules.c - the traffic shaping rules file (src/shaping/):
 * its syntax, every error naming FILE:LINE and its cause (PCRE2's message
 * and offset for a bad regular expression), matching by code class,
 * enhanced status prefix, regular expression and case, first match wins,
 * the PCRE2 limits against a catastrophic pattern, the shipped file
 * (dist/shaping.rules) and the embedded copy classifying the providers'
 * documented throttle replies, and shaping_rules in ferry.conf. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "conf/conf.h"
#include "conf_text.h"
#include "shaping/shape_rules.h"
#include "util/mta_reply.h"

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif

static struct shape_rules *
parse(const char *text, char *err, size_t errlen)
{
	return shape_rules_parse("t.rules", text, strlen(text), err, errlen);
}

static void
expect_error(const char *text, const char *want)
{
	char err[512] = "";
	struct shape_rules *rs = parse(text, err, sizeof(err));

	if (rs != NULL || strstr(err, want) == NULL)
		fail_msg("for %s: want error containing '%s', got '%s'", text, want, rs ? "(loaded)" : err);
}

/* Match a reply as the delivery code would: "CODE TEXT" through the reply parser. */
static struct shape_action
classify(const struct shape_rules *rs, const char *line)
{
	struct mta_reply r;
	struct shape_action a;
	char buf[1024];

	snprintf(buf, sizeof(buf), "%s\r\n", line);
	assert_true(mta_reply_parse(buf, strlen(buf), MTA_REPLY_TOLERANT, &r) > 0);
	shape_rules_match_reply(rs, &r, &a);
	return a;
}

static void
test_parse_syntax(void **state)
{
	char err[512];
	struct shape_action a;
	struct shape_rules *rs = parse(
	    "# comment\n"
	    "\n"
	    "   # indented comment\n"
	    "a  421 4.7.28 *                 rate 20/min for 30m   # trailing\n"
	    "b\t4xx\t4.7.*\t\"busy \\\"now\\\"\"i\tconnections 3 for 2h\r\n"
	    "c  5xx *      \"x\"              suspend for 1d\n"
	    "d  *   4.*    *                 ignore", err, sizeof(err));

	(void)state;
	assert_non_null(rs);
	assert_int_equal(shape_rules_count(rs), 4);
	assert_true(shape_rules_match(rs, 421, "4.7.28", "anything", 8, &a));
	assert_int_equal(a.kind, SHAPE_RATE);
	assert_int_equal(a.value, 20);
	assert_int_equal(a.duration, 1800);
	assert_string_equal(a.rule, "a");
	assert_string_equal(a.file, "t.rules");
	assert_int_equal(a.line, 4);
	/* an escaped quote is a quote in the pattern; i: case-insensitive */
	assert_true(shape_rules_match(rs, 451, "4.7.500", "Server BUSY \"NOW\"", 17, &a));
	assert_int_equal(a.kind, SHAPE_CONNECTIONS);
	assert_int_equal(a.value, 3);
	assert_int_equal(a.duration, 7200);
	assert_int_equal(a.line, 5);
	assert_true(shape_rules_match(rs, 554, NULL, "xyz", 3, &a));
	assert_int_equal(a.kind, SHAPE_SUSPEND);
	assert_int_equal(a.duration, 86400);
	assert_true(shape_rules_match(rs, 250, "4.1.1", "", 0, &a));
	assert_int_equal(a.kind, SHAPE_IGNORE);
	assert_int_equal(a.duration, 0);
	assert_string_equal(shape_kind_name(a.kind), "ignore");
	shape_rules_free(rs);

	rs = parse("", err, sizeof(err));   /* an empty file is no rules */
	assert_non_null(rs);
	assert_false(shape_rules_match(rs, 421, "4.7.28", "x", 1, &a));
	assert_int_equal(a.kind, SHAPE_NONE);
	shape_rules_free(rs);
	assert_false(shape_rules_match(NULL, 421, NULL, "x", 1, &a));
}

static void
test_errors_name_line_and_cause(void **state)
{
	(void)state;
	expect_error("# ok\nr 421 4.7.0 \"(unclosed\" suspend for 1h\n",
	    "t.rules:2: regular expression \"(unclosed\" at offset 9: missing closing parenthesis");
	expect_error("r 421 4.7.0 \"a**\" suspend for 1h\n", "t.rules:1: regular expression \"a**\" at offset 2: ");
	expect_error("r 421 * \"x suspend for 1h\n", "t.rules:1: no closing quote");
	expect_error("r 421 * \"x\"j suspend for 1h\n", "t.rules:1: 'j' after a closing quote");
	expect_error("r 421 * x suspend for 1h\n", "t.rules:1: text 'x': a regular expression in double quotes, or *");
	expect_error("r 42 * * suspend for 1h\n", "t.rules:1: reply code '42'");
	expect_error("r 4x1 * * suspend for 1h\n", "t.rules:1: reply code '4x1'");
	expect_error("r 621 * * suspend for 1h\n", "t.rules:1: reply code '621'");
	expect_error("r 421 4.7 * suspend for 1h\n", "t.rules:1: enhanced status '4.7'");
	expect_error("r 421 3.7.1 * suspend for 1h\n", "t.rules:1: enhanced status '3.7.1'");
	expect_error("r 421 4.7.1234 * suspend for 1h\n", "t.rules:1: enhanced status '4.7.1234'");
	expect_error("r 421 4.*.1 * suspend for 1h\n", "t.rules:1: enhanced status '4.*.1'");
	expect_error("r 421 * * slow for 1h\n", "t.rules:1: action 'slow'");
	expect_error("r 421 * * suspend\n", "t.rules:1: suspend needs a duration: 'for 30m'");
	expect_error("r 421 * * suspend for 10\n", "t.rules:1: duration '10': a number and a unit");
	expect_error("r 421 * * suspend for 8d\n", "t.rules:1: duration '8d' is out of range [1s, 7d]");
	expect_error("r 421 * * suspend for 0m\n", "t.rules:1: duration '0m' is out of range");
	expect_error("r 421 * * rate 20 for 1h\n", "t.rules:1: rate '20': messages per minute");
	expect_error("r 421 * * rate 0/min for 1h\n", "t.rules:1: rate '0/min'");
	expect_error("r 421 * * connections 0 for 1h\n", "t.rules:1: connections '0'");
	expect_error("r 421 * * connections\n", "t.rules:1: connections '': ");
	expect_error("r 421 * * ignore for 1h\n", "t.rules:1: ignore takes no value nor duration");
	expect_error("r 421 * *\n", "t.rules:1: a rule is NAME CODE STATUS TEXT ACTION [for DURATION]; this line has 4 words");
	expect_error("r 421 * * suspend for 1h x y z\n", "t.rules:1: 'x' after the duration");
	expect_error("r 421 * * suspend for 1h a b c d e f\n", "t.rules:1: too many words");
	expect_error("a/b 421 * * suspend for 1h\n", "t.rules:1: rule name 'a/b'");
	expect_error("r 421 * * ignore\n\nr 450 * * ignore\n", "t.rules:3: rule name 'r' is already used on line 1");
	expect_error("\"r\" 421 * * ignore\n", "t.rules:1: word 1 is quoted");
	expect_error("r 421 * * ignore\nr2 421 * \"a\001\" ignore\n", "t.rules:2: control character 0x01 in line (column 12)");
	{
		char line[2000];
		memset(line, 'a', sizeof(line) - 2);
		line[sizeof(line) - 2] = '\n';
		line[sizeof(line) - 1] = '\0';
		expect_error(line, "t.rules:1: line too long (max 1024 octets)");
	}
}

static void
test_nul_and_file_errors(void **state)
{
	char err[512];
	char tmpl[] = "/tmp/ferry-test-shape-XXXXXX";
	int fd;

	(void)state;
	assert_null(shape_rules_parse("t.rules", "ok 421 * * ignore\nx\0y", 21, err, sizeof(err)));
	assert_string_equal(err, "t.rules:2: NUL octet in line (column 2)");
	assert_null(shape_rules_load("/nonexistent/shaping.rules", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/shaping.rules: No such file or directory");
	assert_null(shape_rules_load("/tmp", err, sizeof(err)));
	assert_string_equal(err, "/tmp: is a directory");
	assert_null(shape_rules_load("/dev/null", err, sizeof(err)));
	assert_string_equal(err, "/dev/null: not a regular file");
	/* a file over the limit is refused as a whole, not read in part */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SHAPE_FILE_MAX + 1), 0);
	close(fd);
	assert_null(shape_rules_load(tmpl, err, sizeof(err)));
	assert_non_null(strstr(err, ": larger than 1048576 octets"));
	unlink(tmpl);
}

static void
test_match_code_status_text_case(void **state)
{
	char err[512];
	struct shape_action a;
	struct shape_rules *rs = parse(
	    "exact    421 4.7.28 *               suspend for 1m\n"
	    "class    45x 4.7.*  *               connections 1 for 1m\n"
	    "prefix   4xx 4.2.*  \"slow\"          rate 5/min for 1m\n"
	    "nocase   5xx *      \"Busy\"i         rate 6/min for 1m\n"
	    "case     5xx *      \"Later\"         rate 7/min for 1m\n", err, sizeof(err));

	(void)state;
	assert_non_null(rs);
	assert_true(shape_rules_match(rs, 421, "4.7.28", "x", 1, &a));
	assert_string_equal(a.rule, "exact");
	assert_false(shape_rules_match(rs, 421, "4.7.280", "x", 1, &a));   /* exact, not prefix */
	assert_false(shape_rules_match(rs, 421, "4.7.2", "x", 1, &a));
	assert_false(shape_rules_match(rs, 421, NULL, "x", 1, &a));        /* a status was required */
	assert_true(shape_rules_match(rs, 459, "4.7.0", "x", 1, &a));
	assert_string_equal(a.rule, "class");
	assert_false(shape_rules_match(rs, 460, "4.7.0", "x", 1, &a));     /* 45x ends at 459 */
	assert_true(shape_rules_match(rs, 421, "4.2.1", "too slow", 8, &a));
	assert_string_equal(a.rule, "prefix");
	assert_false(shape_rules_match(rs, 421, "4.2.1", "too SLOW", 8, &a));
	assert_false(shape_rules_match(rs, 421, "4.2.1", "too slow", 5, &a));  /* len bounds the text */
	assert_false(shape_rules_match(rs, 421, "4.20.1", "slow", 4, &a));
	assert_false(shape_rules_match(rs, 421, "4.2.1x", "slow", 4, &a));     /* malformed status: none */
	assert_true(shape_rules_match(rs, 550, "5.0.0", "server bUsY", 11, &a));
	assert_string_equal(a.rule, "nocase");
	assert_true(shape_rules_match(rs, 550, NULL, "Later", 5, &a));
	assert_string_equal(a.rule, "case");
	assert_false(shape_rules_match(rs, 550, NULL, "later", 5, &a));
	shape_rules_free(rs);
}

/* First match wins: the order of the file, not how specific a rule is. */
static void
test_first_match_wins(void **state)
{
	char err[512];
	struct shape_action a;
	struct shape_rules *rs = parse(
	    "general  4xx *      *        connections 2 for 5m\n"
	    "specific 421 4.7.28 \"rate\"   suspend for 1h\n", err, sizeof(err));

	(void)state;
	assert_non_null(rs);
	assert_true(shape_rules_match(rs, 421, "4.7.28", "rate", 4, &a));
	assert_string_equal(a.rule, "general");
	shape_rules_free(rs);
}

/* (a+)+$ against "aaaa...!" backtracks 2^n times. With 18 a's PCRE2's
 * own default limit (10 million) lets it run through and find the "b"
 * alternative after them; the set's limits stop it first, so the rule
 * counts as not matching and the next one decides. */
static void
test_catastrophic_pattern_is_bounded(void **state)
{
	char err[512], text[64];
	struct shape_action a;
	struct shape_rules *rs = parse(
	    "evil  4xx * \"(a+)+$|!b\"  suspend for 1h\n"
	    "after 4xx * *              connections 1 for 1m\n", err, sizeof(err));

	(void)state;
	assert_non_null(rs);
	snprintf(text, sizeof(text), "%.18s!b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa");
	assert_true(shape_rules_match(rs, 421, NULL, text, strlen(text), &a));
	assert_string_equal(a.rule, "after");
	assert_true(shape_rules_match(rs, 421, NULL, "aaa", 3, &a));
	assert_string_equal(a.rule, "evil");
	assert_true(shape_rules_match(rs, 421, NULL, "xx!b", 4, &a));
	assert_string_equal(a.rule, "evil");
	shape_rules_free(rs);
}

/* The providers' documented throttle replies, as they arrive. */
static void
check_providers(const struct shape_rules *rs)
{
	static const struct { const char *reply; enum shape_kind kind; const char *rule; } cases[] = {
		{ "421-4.7.28 [192.0.2.1] Our system has detected an unusual rate of\r\n"
		  "421-4.7.28 unsolicited mail originating from your IP address. To protect our\r\n"
		  "421 4.7.28 users from spam, mail sent from your IP address has been temporarily rate limited. - gsmtp",
		  SHAPE_RATE, "google-unusual-rate" },
		{ "421 4.7.28 Gmail has detected an unusual rate of unsolicited mail originating from your DKIM domain. - gsmtp",
		  SHAPE_RATE, "google-unusual-rate" },
		{ "421 4.7.0 [192.0.2.1] Our system has detected an unusual rate of unsolicited mail originating from your IP address. - gsmtp",
		  SHAPE_RATE, "google-unusual-rate-old" },
		{ "421 4.7.0 Try again later, closing connection. (EHLO) - gsmtp", SHAPE_CONNECTIONS, "google-try-later" },
		{ "421 4.7.0 TLS required for RCPT domain, closing connection. - gsmtp", SHAPE_SUSPEND, "google-tls-required" },
		{ "450 4.2.1 The user you are trying to contact is receiving mail too quickly. - gsmtp",
		  SHAPE_IGNORE, "google-mailbox-rate" },
		{ "450 4.2.1 The user you are trying to contact is receiving mail at a rate that prevents additional messages from being delivered. - gsmtp",
		  SHAPE_IGNORE, "google-mailbox-rate" },
		{ "550 5.7.1 Our system has detected that this message is likely unsolicited mail. - gsmtp",
		  SHAPE_IGNORE, "google-content-refused" },
		{ "421 4.7.0 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints - 4.16.55.1",
		  SHAPE_SUSPEND, "yahoo-tss04" },
		{ "421 [TSS04] Messages from 192.0.2.1 temporarily deferred due to unexpected volume or user complaints",
		  SHAPE_SUSPEND, "yahoo-tss04" },
		{ "421 4.7.0 [TSS09] All messages from 192.0.2.1 will be permanently deferred; Retrying will NOT succeed.",
		  SHAPE_SUSPEND, "yahoo-tss09" },
		{ "421 4.7.0 [TS01] Messages from 192.0.2.1 temporarily deferred due to user complaints - 4.16.55.1",
		  SHAPE_SUSPEND, "yahoo-ts01" },
		{ "421 4.7.0 [TS03] Messages from 192.0.2.1 temporarily deferred", SHAPE_RATE, "yahoo-ts02" },
		{ "451 4.7.500 Server busy. Please try again later from [192.0.2.1]. (S77719) [X.prod.protection.outlook.com]",
		  SHAPE_CONNECTIONS, "microsoft-server-busy" },
		{ "451 4.7.650 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation. (S843)",
		  SHAPE_RATE, "microsoft-reputation" },
		{ "451 4.7.651 The mail server [192.0.2.1] has been temporarily rate limited due to IP reputation.",
		  SHAPE_RATE, "microsoft-reputation-2" },
		{ "421 Too many sessions opened", SHAPE_CONNECTIONS, "comcast-sessions" },
		{ "421 mwinf5c42 ME Trop de connexions, veuillez verifier votre configuration. Too many connections, slow down. OFR004_104 [104]",
		  SHAPE_CONNECTIONS, "orange-connections" },
		{ "421 mwinf ME Service refuse. Veuillez essayer plus tard. OFR_999 [999]", SHAPE_SUSPEND, "orange-refused" },
		/* not throttling: no rule */
		{ "550 5.1.1 The email account that you tried to reach does not exist. - gsmtp", SHAPE_NONE, NULL },
		{ "452 4.2.2 The email account that you tried to reach is over quota. - gsmtp", SHAPE_NONE, NULL },
		{ "451 4.3.0 Temporary local problem", SHAPE_NONE, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct shape_action a = classify(rs, cases[i].reply);
		if (a.kind != cases[i].kind || (cases[i].rule != NULL && strcmp(a.rule, cases[i].rule) != 0))
			fail_msg("%s: got %s (rule %s), want %s (rule %s)", cases[i].reply, shape_kind_name(a.kind),
			    a.rule ? a.rule : "-", shape_kind_name(cases[i].kind), cases[i].rule ? cases[i].rule : "-");
		assert_true(a.kind == SHAPE_NONE || a.kind == SHAPE_IGNORE || a.duration > 0);
	}
}

static void
test_shipped_file_classifies_providers(void **state)
{
	char err[512];
	struct shape_rules *rs = shape_rules_load(FERRY_SOURCE_DIR "/dist/shaping.rules", err, sizeof(err));

	(void)state;
	if (rs == NULL)
		fail_msg("%s", err);
	check_providers(rs);
	shape_rules_free(rs);
}

static void
test_embedded_default_is_the_shipped_file(void **state)
{
	char err[512];
	struct shape_rules *rs = shape_rules_default(err, sizeof(err));
	struct shape_rules *file = shape_rules_load(FERRY_SOURCE_DIR "/dist/shaping.rules", err, sizeof(err));

	(void)state;
	assert_non_null(rs);
	assert_non_null(file);
	assert_int_equal(shape_rules_count(rs), shape_rules_count(file));
	assert_true(shape_rules_count(rs) >= 15);
	check_providers(rs);
	shape_rules_free(rs);
	shape_rules_free(file);
}

/* ferry.conf: without the option the embedded rules, "none" none, a file
 * its rules; a bad file is the configuration's error at both lines. */
static void
test_conf_option(void **state)
{
	char err[1024], rules[] = "/tmp/ferry-test-rules-XXXXXX", text[256];
	struct shape_action a;
	struct conf *c;
	int fd;

	(void)state;
	c = conf_text("hostname a.test\n", err, sizeof(err));
	assert_non_null(c);
	assert_true(shape_rules_match(c->shaping, 421, "4.7.28", "x", 1, &a));
	assert_string_equal(a.rule, "google-unusual-rate");
	conf_free(c);
	c = conf_text("shaping_rules none\n", err, sizeof(err));
	assert_non_null(c);
	assert_null(c->shaping);
	conf_free(c);

	fd = mkstemp(rules);
	assert_true(fd >= 0);
	assert_true(write(fd, "mine 421 * * suspend for 5m\n", 28) == 28);
	close(fd);
	snprintf(text, sizeof(text), "hostname a.test\nshaping_rules %s\n", rules);
	c = conf_text(text, err, sizeof(err));
	assert_non_null(c);
	assert_true(shape_rules_match(c->shaping, 421, "4.7.28", "x", 1, &a));
	assert_string_equal(a.rule, "mine");
	assert_string_equal(c->shaping_rules, rules);
	conf_free(c);

	fd = open(rules, O_WRONLY | O_TRUNC);
	assert_true(write(fd, "# x\nbad 421 * \"[\" suspend for 5m\n", 33) == 33);
	close(fd);
	assert_null(conf_text(text, err, sizeof(err)));
	snprintf(text, sizeof(text), ":2: shaping_rules: %s:2: regular expression \"[\" at offset 1: ", rules);
	if (strstr(err, text) == NULL)
		fail_msg("got '%s'", err);
	unlink(rules);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_syntax),
		cmocka_unit_test(test_errors_name_line_and_cause),
		cmocka_unit_test(test_nul_and_file_errors),
		cmocka_unit_test(test_match_code_status_text_case),
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_catastrophic_pattern_is_bounded),
		cmocka_unit_test(test_shipped_file_classifies_providers),
		cmocka_unit_test(test_embedded_default_is_the_shipped_file),
		cmocka_unit_test(test_conf_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
