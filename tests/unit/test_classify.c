/* test_classify.c - the bounce classifier (src/feedback/classify*.c): the
 * rules file's syntax and every error naming FILE:LINE and its cause,
 * first match in file order, the enhanced status alone classifying when
 * no text rule matches, an unknown code matched through its status's
 * class, a DSN's Diagnostic-Code and multi-line replies read as one text,
 * hostile text under PCRE2 limits, the shipped rules (dist/bounce.rules,
 * and the embedded copy) putting real-looking replies of the big
 * providers and of Postfix, Exim and qmail into every shipped category,
 * the "sender" flag (never suppress the recipient), STATUS lists with
 * "none", no 5.7.x status reaching a hard category through wording alone,
 * and bounce_rules in ferry.conf. */
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
#include "feedback/classify.h"

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif

#define HEAD "category bad hard \"hard one\"\ncategory other soft \"fallback\"\n"

static struct classify_rules *
parse(const char *text, char *err, size_t errlen)
{
	return classify_rules_parse("t.rules", text, strlen(text), err, errlen);
}

static void
expect_error(const char *text, const char *want)
{
	char err[512] = "";
	struct classify_rules *r = parse(text, err, sizeof(err));

	if (r != NULL || strstr(err, want) == NULL)
		fail_msg("for %s: want error containing '%s', got '%s'", text, want, r ? "(loaded)" : err);
	classify_rules_free(r);
}

static struct classify_result
classify(const struct classify_rules *r, int code, const char *status, const char *text)
{
	struct classify_result res;

	classify_reply(r, code, status, text, text != NULL ? strlen(text) : 0, &res);
	return res;
}

static void
test_parse_syntax(void **state)
{
	char err[512];
	struct classify_result res;
	struct classify_rules *r = parse(
	    "# comment\n"
	    "\n"
	    "category gone   hard \"the mailbox is gone\"   # trailing\n"
	    "category full\tsoft\t\"over \\\"quota\\\"\"\r\n"
	    "category other  soft \"no rule matched\"\n"
	    "rule a gone 550 5.1.1 *\n"
	    "rule b full 5xx *     \"over quota\"i\n"
	    "rule c gone *   5.1.* \"gone\"\n", err, sizeof(err));

	(void)state;
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(classify_category_count(r), 3);
	assert_int_equal(classify_rule_count(r), 3);
	res = classify(r, 550, "5.1.1", "x");
	assert_string_equal(res.category, "gone");
	assert_true(res.hard);
	assert_string_equal(res.rule, "a");
	assert_string_equal(res.file, "t.rules");
	assert_int_equal(res.line, 6);
	res = classify(r, 552, NULL, "Mailbox is OVER QUOTA");
	assert_string_equal(res.category, "full");
	assert_false(res.hard);
	assert_int_equal(res.line, 7);
	/* "gone" is case-sensitive; 4xx does not meet b's 5xx */
	res = classify(r, 450, "5.1.3", "Gone");
	assert_string_equal(res.category, "other");
	assert_false(res.hard);
	assert_string_equal(res.rule, "");
	assert_int_equal(res.line, 0);
	res = classify(r, 450, "5.1.3", "gone");
	assert_string_equal(res.rule, "c");
	{
		bool hard;
		const char *desc;
		assert_string_equal(classify_category_get(r, 1, &hard, &desc), "full");
		assert_false(hard);
		assert_string_equal(desc, "over \"quota\"");
		assert_null(classify_category_get(r, 3, &hard, &desc));
	}
	classify_rules_free(r);
}

static void
test_errors_name_line_and_cause(void **state)
{
	(void)state;
	expect_error("category other soft \"x\"\nfrob a b\n", "t.rules:2: 'frob' starts no known line");
	expect_error("category other hard \"x\"\n", "t.rules:1: category 'other' must be soft");
	expect_error("category bad hard \"x\"\n", "t.rules: no category 'other'");
	expect_error("category x soft \"a\"\ncategory x hard \"b\"\n", "t.rules:2: category 'x' is already declared on line 1");
	expect_error("category x firm \"a\"\n", "t.rules:1: category 'x': 'firm' is not hard or soft");
	expect_error("category x soft bare\n", "t.rules:1: category 'x': the description is text in double quotes");
	expect_error("category x soft\n", "t.rules:1: a category is: category NAME hard|soft [sender] \"DESCRIPTION\"; this line has 3 words");
	expect_error("category a/b soft \"x\"\n", "t.rules:1: category name 'a/b'");
	expect_error("category 0123456789012345678901234567890123 soft \"x\"\n", "t.rules:1: category name '0123");
	expect_error(HEAD "rule r nosuch 550 * *\n", "t.rules:3: category 'nosuch' is not declared");
	expect_error("rule r other 550 * *\n" HEAD, "t.rules:1: category 'other' is not declared");
	expect_error(HEAD "rule r bad 55 * *\n", "t.rules:3: reply code '55'");
	expect_error(HEAD "rule r bad 650 * *\n", "t.rules:3: reply code '650'");
	expect_error(HEAD "rule r bad 5x5 * *\n", "t.rules:3: reply code '5x5'");
	expect_error(HEAD "rule r bad 550 5.1 *\n", "t.rules:3: enhanced status '5.1'");
	expect_error(HEAD "rule r bad 550 3.1.1 *\n", "t.rules:3: enhanced status '3.1.1'");
	expect_error(HEAD "rule r bad 550 5.*.1 *\n", "t.rules:3: enhanced status '5.*.1'");
	expect_error(HEAD "rule r bad 550 5.1.1000 *\n", "t.rules:3: enhanced status '5.1.1000'");
	expect_error(HEAD "rule r bad 550 * user\n", "t.rules:3: text 'user': a regular expression in double quotes, or *");
	expect_error(HEAD "rule r bad 550 * \"[x\"\n", "t.rules:3: regular expression \"[x\" at offset 2: missing terminating ]");
	expect_error(HEAD "rule r bad 550 * \"x\"q\n", "t.rules:3: 'q' after a closing quote");
	expect_error(HEAD "rule r bad 550 * \"x\n", "t.rules:3: no closing quote");
	expect_error(HEAD "rule r bad 550 *\n", "t.rules:3: a rule is: rule NAME CATEGORY CODE STATUS TEXT; this line has 5 words");
	expect_error(HEAD "rule r bad 550 * * x y z\n", "t.rules:3: too many words");
	expect_error(HEAD "rule r \"bad\" 550 * *\n", "t.rules:3: word 3 is quoted");
	expect_error(HEAD "rule r bad 550 * *\n\nrule r bad 551 * *\n", "t.rules:5: rule name 'r' is already used on line 3");
	expect_error(HEAD "rule a:b bad 550 * *\n", "t.rules:3: rule name 'a:b'");
	expect_error(HEAD "rule r bad 550 * \"a\001\"\n", "t.rules:3: control character 0x01 in line (column 20)");
	{
		char line[CLASSIFY_LINE_MAX + 100];
		memset(line, 'a', sizeof(line) - 2);
		line[sizeof(line) - 2] = '\n';
		line[sizeof(line) - 1] = '\0';
		expect_error(line, "t.rules:1: line too long (max 2048 octets)");
	}
}

static void
test_nul_and_file_errors(void **state)
{
	char err[512];
	char tmpl[] = "/tmp/ferry-test-classify-XXXXXX";
	int fd;

	(void)state;
	assert_null(classify_rules_parse("t.rules", HEAD "x\0y", sizeof(HEAD) + 2, err, sizeof(err)));
	assert_string_equal(err, "t.rules:3: NUL octet in line (column 2)");
	assert_null(classify_rules_load("/nonexistent/bounce.rules", err, sizeof(err)));
	assert_string_equal(err, "/nonexistent/bounce.rules: No such file or directory");
	/* directories, FIFOs: util/rulefile.c, tested with the shaping rules */
	fd = mkstemp(tmpl);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, CLASSIFY_FILE_MAX + 1), 0);
	close(fd);
	assert_null(classify_rules_load(tmpl, err, sizeof(err)));
	assert_non_null(strstr(err, ": larger than 1048576 octets"));
	unlink(tmpl);
}

/* The first rule in file order decides, however specific a later one is. */
static void
test_first_match_wins(void **state)
{
	char err[512];
	struct classify_rules *r = parse(HEAD
	    "category soft1 soft \"s\"\n"
	    "rule broad   soft1 5xx *     \"user\"i\n"
	    "rule precise bad   550 5.1.1 \"user unknown\"i\n", err, sizeof(err));

	(void)state;
	assert_non_null(r);
	assert_string_equal(classify(r, 550, "5.1.1", "User unknown").rule, "broad");
	classify_rules_free(r);
	r = parse(HEAD
	    "category soft1 soft \"s\"\n"
	    "rule precise bad   550 5.1.1 \"user unknown\"i\n"
	    "rule broad   soft1 5xx *     \"user\"i\n", err, sizeof(err));
	assert_non_null(r);
	assert_string_equal(classify(r, 550, "5.1.1", "User unknown").rule, "precise");
	assert_string_equal(classify(r, 550, "5.1.2", "User unknown").rule, "broad");
	classify_rules_free(r);
}

/* Code 0 (a DSN with a Status but no reply) meets "*" and a whole class
 * through the status's class, never a narrower code; a text that begins
 * with a diagnostic type, a code and a status gives both. */
static void
test_unknown_code_and_text_head(void **state)
{
	char err[512];
	struct classify_result res;
	struct classify_rules *r = parse(HEAD
	    "category st soft \"s\"\n"
	    "rule exact   bad 550 *     *\n"
	    "rule class   bad 5xx 5.1.1 *\n"
	    "rule status  st  *   4.2.2 \"^over quota$\"\n"
	    "rule joined  st  *   *     \"^line one line two$\"\n", err, sizeof(err));

	(void)state;
	assert_non_null(r);
	assert_string_equal(classify(r, 0, "5.1.1", NULL).rule, "class");
	assert_string_equal(classify(r, 0, "4.1.1", "").category, "other");
	assert_string_equal(classify(r, 0, NULL, "smtp; 550 5.7.1 whatever").rule, "exact");
	assert_string_equal(classify(r, 0, NULL, "X-Postfix; 5.1.1 whatever").rule, "class");
	assert_string_equal(classify(r, 452, NULL, "452 4.2.2 over quota").rule, "status");
	/* the caller's status wins over the text's */
	assert_string_equal(classify(r, 0, "4.2.2", "5.1.1 over quota").rule, "status");
	/* an invalid status given is no status */
	assert_string_equal(classify(r, 0, "5.1.1x", "").category, "other");
	/* qmail's "(#5.1.1)" at the end, when nothing gave a status before */
	assert_string_equal(classify(r, 0, NULL, "Sorry, no mailbox here by that name. (#5.1.1)").rule, "class");
	assert_string_equal(classify(r, 0, NULL, "(# (#5.1.1 (#5.1.1").category, "other");
	assert_string_equal(classify(r, 0, "4.2.2", "over quota (#5.1.1)").category, "other");
	/* Exchange's older NDR: "#550 5.1.1 ..." */
	assert_string_equal(classify(r, 0, NULL, "#550 5.1.1 RESOLVER.ADR.RecipNotFound; not found ##").rule, "exact");
	/* multi-line: the repeated code and status go, lines join with one space */
	res = classify(r, 0, NULL, "451-4.3.0 line\r\n451-4.3.0   one\r\n451 4.3.0 line\ttwo\r\n");
	assert_string_equal(res.rule, "joined");
	/* a folded DSN header */
	assert_string_equal(classify(r, 451, NULL, "smtp; 451 4.3.0 line one\r\n  line  two").rule, "joined");
	classify_rules_free(r);
}

/* A peer's text may hold anything: NUL octets, no NUL at the end, megabytes,
 * or exactly what makes a careless pattern backtrack for ever. */
static void
test_hostile_text(void **state)
{
	char err[512];
	size_t big = 4 * 1024 * 1024;
	char *text = malloc(big);
	struct classify_result res;
	struct classify_rules *r = parse(HEAD
	    "rule slow bad 5xx * \"(a+)+$\"\n"
	    "rule nul  bad 5xx * \"x y\"\n"
	    "rule tail bad 5xx * \"needle\"\n", err, sizeof(err));

	(void)state;
	assert_non_null(r);
	memset(text, 'a', big);
	/* (a+)+$ on a run of a's then '!' backtracks exponentially: the match
	 * limit stops it and the rule counts as not matching */
	text[30] = '!';
	classify_reply(r, 550, NULL, text, 31, &res);
	assert_string_equal(res.category, "other");
	for (size_t i = 30; i < big; i += 500)
		text[i] = '!';
	classify_reply(r, 550, NULL, text, big, &res);
	assert_string_equal(res.category, "other");
	/* the same pattern matches where it can, so the rule is not dead */
	classify_reply(r, 550, NULL, text, 30, &res);
	assert_string_equal(res.rule, "slow");
	/* past CLASSIFY_TEXT_MAX octets nothing is looked at */
	memcpy(text + CLASSIFY_TEXT_MAX + 10, " needle", 7);
	classify_reply(r, 550, NULL, text, big, &res);
	assert_string_equal(res.category, "other");
	memcpy(text + 100, " needle", 7);
	classify_reply(r, 550, NULL, text, big, &res);
	assert_string_equal(res.rule, "tail");
	/* a NUL octet is white space like any control octet */
	classify_reply(r, 550, NULL, "x\0y", 3, &res);
	assert_string_equal(res.rule, "nul");
	free(text);
	classify_rules_free(r);
}

static void
test_no_rules_is_other(void **state)
{
	struct classify_result res = classify(NULL, 550, "5.1.1", "User unknown");

	(void)state;
	assert_string_equal(res.category, "other");
	assert_false(res.hard);
	assert_string_equal(res.rule, "");
	assert_string_equal(res.file, "");
	assert_int_equal(res.line, 0);
}

/* "sender": only on a soft category, carried into the result; "other"
 * is not sender unless declared so. */
static void
test_sender_flag(void **state)
{
	char err[512];
	struct classify_result res;
	struct classify_rules *r = parse(
	    "category gone  hard        \"gone\"\n"
	    "category auth  soft sender \"ours\"\n"
	    "category full  soft        \"full\"\n"
	    "category other soft        \"fallback\"\n"
	    "rule a gone 550 5.1.1 *\n"
	    "rule b auth 5xx 5.7.26 *\n"
	    "rule c full 5xx 5.2.2 *\n", err, sizeof(err));

	(void)state;
	if (r == NULL)
		fail_msg("%s", err);
	res = classify(r, 550, "5.7.26", "unauthenticated");
	assert_string_equal(res.category, "auth");
	assert_false(res.hard);
	assert_true(res.sender);
	res = classify(r, 550, "5.1.1", "x");
	assert_true(res.hard);
	assert_false(res.sender);
	res = classify(r, 552, "5.2.2", "x");
	assert_false(res.sender);
	res = classify(r, 451, "4.3.0", "x");
	assert_string_equal(res.category, "other");
	assert_false(res.sender);
	assert_false(classify_category_sender(r, 0));
	assert_true(classify_category_sender(r, 1));
	assert_false(classify_category_sender(r, 2));
	assert_false(classify_category_sender(r, 4));
	assert_false(classify_category_sender(NULL, 0));
	classify_rules_free(r);
	r = parse("category other soft sender \"mine\"\n", err, sizeof(err));
	if (r == NULL)
		fail_msg("%s", err);
	assert_true(classify(r, 550, NULL, "x").sender);
	classify_rules_free(r);

	expect_error("category x hard sender \"a\"\ncategory other soft \"b\"\n",
	    "t.rules:1: category 'x': a hard category cannot be 'sender'");
	expect_error("category other soft \"b\"\ncategory x soft recipient \"a\"\n",
	    "t.rules:2: category 'x': 'recipient' is not 'sender'");
	expect_error("category x soft \"a\" \"b\"\n", "t.rules:1: category 'x': one description");
	expect_error("category x soft sender\n", "t.rules:1: category 'x': the description is text in double quotes");
	expect_error("category x soft sender \"a\" b\n", "t.rules:1: a category is: category NAME hard|soft [sender]");
}

/* STATUS as a list: "none" takes a failure without a status, each pattern
 * its statuses; "*" only alone. */
static void
test_status_list(void **state)
{
	char err[512];
	struct classify_rules *r = parse(HEAD
	    "rule a bad 5xx none,5.1.*,5.2.2 \"gone\"\n"
	    "rule b bad 5xx 5.0.0,5.* \"five\"\n", err, sizeof(err));

	(void)state;
	if (r == NULL)
		fail_msg("%s", err);
	assert_string_equal(classify(r, 550, NULL, "gone").rule, "a");
	assert_string_equal(classify(r, 550, "5.1.1", "gone").rule, "a");
	assert_string_equal(classify(r, 550, "5.1.10", "gone").rule, "a");
	assert_string_equal(classify(r, 552, "5.2.2", "gone").rule, "a");
	assert_string_equal(classify(r, 552, "5.2.1", "gone").rule, "");
	assert_string_equal(classify(r, 550, "5.7.1", "gone").rule, "");
	/* a status in the text counts as the failure's */
	assert_string_equal(classify(r, 0, NULL, "smtp; 550 5.7.1 gone").rule, "");
	assert_string_equal(classify(r, 0, NULL, "smtp; 550 5.1.1 gone").rule, "a");
	/* no "none": a failure without a status does not pass */
	assert_string_equal(classify(r, 550, NULL, "five").rule, "");
	assert_string_equal(classify(r, 550, "5.7.1", "five").rule, "b");
	classify_rules_free(r);

	expect_error(HEAD "rule r bad 550 none,* *\n", "t.rules:3: enhanced status 'none,*'");
	expect_error(HEAD "rule r bad 550 5.1.*, *\n", "t.rules:3: enhanced status '5.1.*,'");
	expect_error(HEAD "rule r bad 550 ,5.1.1 *\n", "t.rules:3: enhanced status ',5.1.1'");
	expect_error(HEAD "rule r bad 550 none,5.1.x *\n", "t.rules:3: enhanced status 'none,5.1.x'");
	expect_error(HEAD "rule r bad 550 none,5.0.*,5.1.*,5.2.*,5.3.* *\n",
	    "a comma-separated list of up to 4 such patterns");
	expect_error(HEAD "rule r bad 550 5.1 *\n", "t.rules:3: enhanced status '5.1'");
}

/* The shipped sender categories, and RFC 5321's "mailbox unavailable" with
 * a 5.7.x status: a policy refusal, never a hard category through wording
 * alone (it was invalid-recipient, suppressing the address at once). */
static void
check_sender_and_policy_wording(const struct classify_rules *r)
{
	static const char *const sender[] = { "spam-block", "spam-content", "policy", "authentication",
		"rate-limited", "protocol" };
	/* wording every hard text rule of the shipped file knows */
	static const char *const hard_words[] = {
		"Requested action not taken: mailbox unavailable",
		"This user doesn't have a yahoo.com account",
		"This mailbox is disabled (554.30)",
		"RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
		"Adresse d au moins un destinataire invalide. OFR_416",
		"Host or domain name not found",
		"user unknown",
		"account has been disabled",
		"No such user here",
	};
	static const char *const statuses[] = { "5.7.1", "5.7.0", "5.7.26", "5.7.606" };
	struct classify_result res;
	bool hard, found;
	const char *name;
	char dsn[300];

	for (size_t i = 0; i < sizeof(sender) / sizeof(sender[0]); i++) {
		found = false;
		for (size_t j = 0; (name = classify_category_get(r, j, &hard, NULL)) != NULL; j++)
			if (strcmp(name, sender[i]) == 0) {
				found = true;
				if (!classify_category_sender(r, j))
					fail_msg("shipped category %s is not sender", name);
			}
		assert_true(found);
	}
	for (size_t j = 0; (name = classify_category_get(r, j, &hard, NULL)) != NULL; j++)
		if (strcmp(name, "mailbox-full") == 0 || strcmp(name, "other") == 0 || hard)
			assert_false(classify_category_sender(r, j));
	assert_true(classify(r, 550, "5.7.26", "Unauthenticated email is not accepted").sender);
	assert_false(classify(r, 552, "5.2.2", "Mailbox full").sender);
	for (size_t i = 0; i < sizeof(hard_words) / sizeof(hard_words[0]); i++) {
		res = classify(r, 550, NULL, hard_words[i]);
		if (!res.hard)
			fail_msg("550 - %s: got %s, want a hard category", hard_words[i], res.category);
		for (size_t k = 0; k < sizeof(statuses) / sizeof(statuses[0]); k++) {
			res = classify(r, 550, statuses[k], hard_words[i]);
			if (res.hard)
				fail_msg("550 %s %s: got %s (rule %s line %u), hard", statuses[k], hard_words[i],
				    res.category, res.rule, res.line);
		}
		/* the status read from a DSN's Diagnostic-Code counts the same */
		snprintf(dsn, sizeof(dsn), "smtp; 550 5.7.1 %s", hard_words[i]);
		assert_false(classify(r, 0, NULL, dsn).hard);
	}
	res = classify(r, 550, "5.7.1", "Requested action not taken: mailbox unavailable");
	assert_string_equal(res.category, "policy");
	assert_true(res.sender);
}

/* Real-looking failures, as receivers word them (and as DSNs carry them). */
struct replies_case {
	int         code;
	const char *status;
	const char *text;
	const char *category;
};

static const struct replies_case replies[] = {
	/* Gmail */
	{ 550, "5.1.1", "The email account that you tried to reach does not exist. Please try double-checking "
	    "the recipient's email address for typos or unnecessary spaces. For more information, go to "
	    "https://support.google.com/mail/?p=NoSuchUser 41be03b00d2f7-5f7b1a2c3desi123456a.301 - gsmtp",
	    "invalid-recipient" },
	{ 550, "5.2.1", "The email account that you tried to reach is disabled. Learn more at "
	    "https://support.google.com/mail/?p=DisabledUser - gsmtp", "inactive-mailbox" },
	{ 452, "4.2.2", "The email account that you tried to reach is over quota. Please direct the recipient "
	    "to https://support.google.com/mail/?p=OverQuotaTemp - gsmtp", "mailbox-full" },
	{ 550, "5.7.1", "[192.0.2.10] Our system has detected that this message is likely unsolicited mail. "
	    "To reduce the amount of spam sent to Gmail, this message has been blocked. - gsmtp", "spam-content" },
	{ 550, "5.7.26", "This mail has been blocked because the sender is unauthenticated. Gmail requires all "
	    "senders to authenticate with either SPF or DKIM. - gsmtp", "authentication" },
	{ 550, "5.7.26", "Unauthenticated email from example.com is not accepted due to domain's DMARC policy. "
	    "- gsmtp", "authentication" },
	{ 550, "5.7.25", "[192.0.2.10] The IP address sending this message does not have a PTR record setup, "
	    "or the corresponding forward DNS entry does not point to the sending IP. - gsmtp", "authentication" },
	{ 421, "4.7.28", "[192.0.2.10] Our system has detected an unusual rate of unsolicited mail originating "
	    "from your IP address. To protect our users from spam, mail sent from your IP address has been "
	    "temporarily rate limited. - gsmtp", "rate-limited" },
	{ 450, "4.2.1", "The user you are trying to contact is receiving mail at a rate that prevents additional "
	    "messages from being delivered. - gsmtp", "rate-limited" },
	{ 550, "5.7.1", "[192.0.2.10] The IP you're using to send mail is not authorized to send email directly "
	    "to our servers. Please use the SMTP relay at your service provider instead. - gsmtp", "spam-block" },
	{ 550, "5.7.1", "[192.0.2.10] Our system has detected that this message is not RFC 5322 compliant: "
	    "'From' header is missing. - gsmtp", "protocol" },
	/* Yahoo / AOL */
	{ 554, NULL, "delivery error: dd This user doesn't have a yahoo.com account (nobody@yahoo.com) [0] - "
	    "mta4321.mail.gq1.yahoo.com", "invalid-recipient" },
	{ 554, NULL, "delivery error: dd Sorry your message to nobody@aol.com cannot be delivered. This mailbox "
	    "is disabled (554.30). - mta1234.mail.bf1.yahoo.com", "inactive-mailbox" },
	{ 553, "5.7.1", "[BL21] Connections will not be accepted from 192.0.2.10, because the ip is in "
	    "Spamhaus's list; see http://postmaster.yahoo.com/550-bl23.html", "spam-block" },
	{ 421, "4.7.0", "[TSS04] Messages from 192.0.2.10 temporarily deferred due to unexpected volume or user "
	    "complaints - 4.16.55.1; see https://postmaster.yahooinc.com/error-codes", "rate-limited" },
	{ 550, "5.7.9", "This mail has been blocked because the sender is unauthenticated. Yahoo requires all "
	    "senders to authenticate with either SPF or DKIM.", "authentication" },
	{ 554, "5.7.9", "Message not accepted for policy reasons.  See https://postmaster.yahooinc.com/error-codes",
	    "policy" },
	/* Microsoft: Outlook.com, Hotmail, Exchange Online */
	{ 550, "5.1.10", "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup",
	    "invalid-recipient" },
	{ 550, "5.5.0", "Requested action not taken: mailbox unavailable (S2017062302). "
	    "[DM6NAM12FT045.eop-nam12.prod.protection.outlook.com 2024-05-01T10:00:00.000Z 08DC5F]",
	    "invalid-recipient" },
	{ 550, "5.4.1", "Recipient address rejected: Access denied. For more information see "
	    "https://aka.ms/EXOSmtpErrors [BN8NAM12FT061.eop-nam12.prod.protection.outlook.com]",
	    "invalid-recipient" },
	{ 550, "5.7.1", "Service unavailable, Client host [192.0.2.10] blocked using Spamhaus. To request removal "
	    "from this list see https://www.spamhaus.org/query/ip/192.0.2.10 (AS3130). "
	    "[BN8NAM12FT011.eop-nam12.prod.protection.outlook.com]", "spam-block" },
	{ 550, "5.7.1", "Unfortunately, messages from [192.0.2.10] weren't sent. Please contact your Internet "
	    "service provider since part of their network is on our block list (S3150). You can also refer "
	    "your provider to http://mail.live.com/mail/troubleshooting.aspx#errors.", "spam-block" },
	{ 550, "5.7.606", "Access denied, banned sending IP [192.0.2.10]. To request removal from this list "
	    "please visit https://sender.office.com/ and follow the directions.", "spam-block" },
	{ 550, "5.7.509", "Access denied, sending domain example.com does not pass DMARC verification and has a "
	    "DMARC policy of reject.", "authentication" },
	{ 554, "5.2.2", "mailbox full; STOREDRV.Deliver.Exception:QuotaExceededException.MapiExceptionShutoffQuota"
	    "Exceeded; Failed to process message due to a permanent exception", "mailbox-full" },
	{ 451, "4.7.500", "Server busy. Please try again later from [192.0.2.10]. (S77714) "
	    "[DB5EUR03FT015.eop-EUR03.prod.protection.outlook.com]", "rate-limited" },
	/* Apple iCloud */
	{ 550, "5.1.1", "<nobody@icloud.com>: user does not exist", "invalid-recipient" },
	{ 554, "5.7.1", "[CS01] Message rejected due to local policy. Please visit "
	    "https://support.apple.com/en-us/HT204137", "spam-content" },
	{ 552, "5.2.2", "<somebody@icloud.com>: user is over quota", "mailbox-full" },
	/* Orange, GMX, WEB.DE */
	{ 550, "5.1.1", "Adresse d au moins un destinataire invalide. Invalid recipient. OFR_416 [416]",
	    "invalid-recipient" },
	{ 552, "5.1.1", "Boite du destinataire pleine. Recipient overquota. OFR_417 [417]", "mailbox-full" },
	{ 421, NULL, "mwinf5c10 ME Trop de connexions, veuillez verifier votre configuration. Too many "
	    "connections, slow down. OFR004_104 [104]", "rate-limited" },
	{ 550, NULL, "Requested action not taken: mailbox unavailable", "invalid-recipient" },
	{ 554, NULL, "-gmx.net (mxgmx017) Nemesis ESMTP Service not available\r\n554-No SMTP service\r\n"
	    "554-IP address is black listed.\r\n554 For explanation visit "
	    "https://postmaster.gmx.net/en/case?c=r0601&i=ip&v=192.0.2.10&r=1ABCDE", "spam-block" },
	{ 554, NULL, "-web.de (mxweb112) Nemesis ESMTP Service not available\r\n554-No SMTP service\r\n"
	    "554-Bad DNS PTR resource record.\r\n554 For explanation visit https://postmaster.web.de/en/case?c=r0601",
	    "authentication" },
	/* Postfix, Exim, qmail, Sendmail and the common filters */
	{ 550, "5.1.1", "<nobody@example.net>: Recipient address rejected: User unknown in virtual mailbox table",
	    "invalid-recipient" },
	{ 550, "5.1.1", "<nobody@example.net>: Recipient address rejected: User unknown in local recipient table",
	    "invalid-recipient" },
	{ 550, NULL, "No Such User Here", "invalid-recipient" },
	{ 550, NULL, "sorry, no mailbox here by that name. (#5.1.1)", "invalid-recipient" },
	{ 0, NULL, "Sorry, I couldn't find any host named nx.example. (#5.1.2)", "bad-domain" },
	{ 0, NULL, "The users mailfolder is over the allowed quota (size). (#5.2.2)", "mailbox-full" },
	{ 550, "5.1.1", "<nobody@example.net>... User unknown", "invalid-recipient" },
	{ 0, "5.4.4", "X-Postfix; Host or domain name not found. Name service error for name=nx.example "
	    "type=A: Host not found", "bad-domain" },
	{ 556, "5.1.10", "Recipient address has null MX", "bad-domain" },
	{ 552, "5.2.2", "<full@example.net>: Mailbox full / over quota", "mailbox-full" },
	{ 554, "5.7.1", "Service unavailable; Client host [192.0.2.10] blocked using zen.spamhaus.org; "
	    "https://www.spamhaus.org/query/ip/192.0.2.10", "spam-block" },
	{ 550, "5.7.1", "Message content rejected", "spam-content" },
	{ 554, "5.7.1", "Spam message rejected", "spam-content" },
	{ 550, "5.7.23", "<nobody@example.net>: Recipient address rejected: Message rejected due to: SPF fail - "
	    "not authorized. Please see http://www.openspf.net/Why?s=mfrom;id=a@example.com;ip=192.0.2.10",
	    "authentication" },
	{ 550, "5.7.1", "rejected by DMARC policy for example.com", "authentication" },
	{ 550, "5.7.20", "No passing DKIM signatures found", "authentication" },
	{ 421, "4.7.0", "example.net Error: too many connections from 192.0.2.10", "rate-limited" },
	{ 450, "4.7.1", "Error: too much mail from 192.0.2.10: rate limited, try later", "rate-limited" },
	{ 554, "5.7.1", "<nobody@example.net>: Relay access denied", "policy" },
	{ 450, "4.1.8", "<bounce@ferry.example>: Sender address rejected: Domain not found", "policy" },
	{ 552, "5.3.4", "Message size exceeds fixed limit", "policy" },
	{ 500, "5.5.2", "Error: bad syntax", "protocol" },
	{ 503, NULL, "bad sequence of commands", "protocol" },
	{ 550, NULL, "Administrative prohibition", "other" },
	{ 451, "4.3.0", "Temporary local problem - please try again later", "other" },
	{ 450, "4.2.0", "<x@example.net>: Recipient address rejected: Greylisted, see "
	    "http://postgrey.schweikert.ch/help/example.net.html", "other" },
	/* ferry's own failures, as the delivery engine words them (mta_reply text) */
	{ 550, NULL, "5.1.2 Host or domain name not found: nx.example (Domain name not found)", "bad-domain" },
	{ 556, NULL, "5.1.10 Domain nx.example does not accept mail (null MX)", "bad-domain" },
	{ 550, NULL, "5.1.3 cannot map nobody@example.net to a mailbox", "invalid-recipient" },
	{ 550, NULL, "5.6.7 SMTPUTF8 is required, but was not offered by mx.example.net[192.0.2.1]", "protocol" },
	{ 554, NULL, "4.4.7 message expired after 5 days in the queue; last error: 450 4.2.0 <x@example.net>: "
	    "mailbox unavailable", "other" },
	/* the enhanced status alone: a DSN without a Diagnostic-Code */
	{ 0, "5.1.1", NULL, "invalid-recipient" },
	{ 0, "5.1.2", NULL, "bad-domain" },
	{ 0, "5.2.1", NULL, "inactive-mailbox" },
	{ 0, "5.2.2", NULL, "mailbox-full" },
	{ 0, "5.7.26", NULL, "authentication" },
	{ 0, "4.7.28", NULL, "rate-limited" },
	{ 0, "5.5.0", NULL, "protocol" },
	{ 0, "5.7.1", NULL, "policy" },
	{ 0, "4.4.1", NULL, "other" },
	{ 550, "5.7.1", "Message rejected: spam", "spam-block" },
	/* temporary failures never reach a hard category */
	{ 450, "4.1.1", "<nobody@example.net>: Recipient address rejected: User unknown", "other" },
};

static void
check_replies(const struct classify_rules *r)
{
	static const char *const shipped[] = { "invalid-recipient", "bad-domain", "inactive-mailbox",
		"mailbox-full", "spam-block", "spam-content", "policy", "authentication", "rate-limited",
		"protocol", "other" };
	bool reached[sizeof(shipped) / sizeof(shipped[0])] = { false };

	assert_true(sizeof(replies) / sizeof(replies[0]) >= 40);
	for (size_t i = 0; i < sizeof(replies) / sizeof(replies[0]); i++) {
		const struct replies_case *c = &replies[i];
		struct classify_result res = classify(r, c->code, c->status, c->text);
		if (strcmp(res.category, c->category) != 0)
			fail_msg("%d %s %s: got %s (rule %s line %u), want %s", c->code, c->status ? c->status : "-",
			    c->text ? c->text : "", res.category, res.rule, res.line, c->category);
		/* the hard categories are the three the documentation names */
		assert_int_equal(res.hard, strcmp(res.category, "invalid-recipient") == 0 ||
		    strcmp(res.category, "bad-domain") == 0 || strcmp(res.category, "inactive-mailbox") == 0);
		for (size_t j = 0; j < sizeof(shipped) / sizeof(shipped[0]); j++)
			reached[j] |= strcmp(shipped[j], res.category) == 0;
	}
	for (size_t j = 0; j < sizeof(shipped) / sizeof(shipped[0]); j++)
		if (!reached[j])
			fail_msg("no reply reached the shipped category %s", shipped[j]);
}

static void
test_shipped_file_classifies_replies(void **state)
{
	char err[512];
	struct classify_rules *r = classify_rules_load(FERRY_SOURCE_DIR "/dist/bounce.rules", err, sizeof(err));

	(void)state;
	if (r == NULL)
		fail_msg("%s", err);
	assert_int_equal(classify_category_count(r), 11);
	check_replies(r);
	check_sender_and_policy_wording(r);
	classify_rules_free(r);
}

static void
test_embedded_default_is_the_shipped_file(void **state)
{
	char err[512];
	struct classify_rules *r = classify_rules_load(NULL, err, sizeof(err));
	struct classify_rules *file = classify_rules_load(FERRY_SOURCE_DIR "/dist/bounce.rules", err, sizeof(err));
	struct classify_result res;

	(void)state;
	assert_non_null(r);
	assert_non_null(file);
	assert_int_equal(classify_rule_count(r), classify_rule_count(file));
	assert_true(classify_rule_count(r) >= 60);
	res = classify(r, 550, "5.1.1", "x");
	assert_string_equal(res.file, "(embedded bounce.rules)");
	assert_string_equal(classify_rules_file(r), "(embedded bounce.rules)");
	check_replies(r);
	check_sender_and_policy_wording(r);
	classify_rules_free(r);
	classify_rules_free(file);
}

/* ferry.conf: without the option the embedded rules, "none" none (every
 * failure "other"), a file its rules; a bad file is the configuration's
 * error, naming both files and lines. */
static void
test_conf_option(void **state)
{
	char err[1024], rules[] = "/tmp/ferry-test-brules-XXXXXX", text[256];
	static const char mine[] = HEAD "rule mine bad 5xx * *\n";
	static const char bad[] = HEAD "# x\nrule bad bad 550 * \"(\"\n";
	struct conf *c;
	int fd;

	(void)state;
	c = conf_text("hostname a.test\n", err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(classify(c->bounce_rules, 550, "5.1.1", "x").rule, "status-5.1.1");
	assert_null(c->bounce_rules_file);
	conf_free(c);
	c = conf_text("bounce_rules none\n", err, sizeof(err));
	assert_non_null(c);
	assert_null(c->bounce_rules);
	assert_string_equal(classify(c->bounce_rules, 550, "5.1.1", "x").category, "other");
	conf_free(c);

	fd = mkstemp(rules);
	assert_true(fd >= 0);
	assert_true(write(fd, mine, sizeof(mine) - 1) == (ssize_t)sizeof(mine) - 1);
	close(fd);
	snprintf(text, sizeof(text), "hostname a.test\nbounce_rules %s\n", rules);
	c = conf_text(text, err, sizeof(err));
	assert_non_null(c);
	assert_string_equal(classify(c->bounce_rules, 550, "5.1.1", "x").rule, "mine");
	assert_string_equal(c->bounce_rules_file, rules);
	conf_free(c);

	fd = open(rules, O_WRONLY | O_TRUNC);
	assert_true(write(fd, bad, sizeof(bad) - 1) == (ssize_t)sizeof(bad) - 1);
	close(fd);
	assert_null(conf_text(text, err, sizeof(err)));
	snprintf(text, sizeof(text), ":2: bounce_rules: %s:4: regular expression \"(\" at offset 1: ", rules);
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
		cmocka_unit_test(test_first_match_wins),
		cmocka_unit_test(test_unknown_code_and_text_head),
		cmocka_unit_test(test_hostile_text),
		cmocka_unit_test(test_no_rules_is_other),
		cmocka_unit_test(test_sender_flag),
		cmocka_unit_test(test_status_list),
		cmocka_unit_test(test_shipped_file_classifies_replies),
		cmocka_unit_test(test_embedded_default_is_the_shipped_file),
		cmocka_unit_test(test_conf_option),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
