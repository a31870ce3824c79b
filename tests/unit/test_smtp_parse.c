/*
 * test_smtp_parse.c - unit tests for src/smtp/smtp_parse.c: command lines,
 * paths, ESMTP parameters, BDAT, xtext and HELO names.
 * STANDARDS: RFC 5321, 1870, 6152, 3030, 3461, 4954, 6531, 3629, 3463.
 * Inputs are passed with explicit lengths, as the server does; the reply
 * codes checked here are what clients see, so they are asserted exactly.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "smtp/smtp_parse.h"

static const struct smtp_ext ext_all = {
	.size = true, .eightbitmime = true, .smtputf8 = true,
	.dsn = true, .auth = true, .binarymime = true,
};
static const struct smtp_ext ext_none = { 0 };

/* ---- helpers ----------------------------------------------------------- */

static void
check_ok(const char *err, const char *input, int line)
{
	if (err != NULL)
		fail_msg("line %d: \"%s\": expected OK, got \"%s\"", line, input, err);
}

/* The reply must start with prefix ("501 5.1.7"). */
static void
check_reply(const char *err, const char *prefix, const char *input, int line)
{
	if (err == NULL)
		fail_msg("line %d: \"%s\": expected \"%s\", got OK", line, input, prefix);
	if (strncmp(err, prefix, strlen(prefix)) != 0)
		fail_msg("line %d: \"%s\": expected \"%s\", got \"%s\"", line, input, prefix, err);
}

#define OK(err, in)          check_ok((err), (in), __LINE__)
#define REPLY(err, pfx, in)  check_reply((err), (pfx), (in), __LINE__)

static const char *
mail(const char *arg, const struct smtp_ext *e, struct smtp_path *p, struct smtp_mail_params *mp)
{
	return smtp_mail_parse(arg, strlen(arg), e, p, mp);
}

static const char *
rcpt(const char *arg, const struct smtp_ext *e, struct smtp_path *p, struct smtp_rcpt_params *rp)
{
	return smtp_rcpt_parse(arg, strlen(arg), e, p, rp);
}

static const char *
path(const char *s, bool allow_null, bool allow_pm, struct smtp_path *p, size_t *used)
{
	return smtp_path_parse(s, strlen(s), allow_null, allow_pm, p, used);
}

/* Parse "TO:" + s as a recipient and expect addr (NULL: expect reply). */
static void
check_rcpt_addr(const char *s, const char *addr, const char *reply, int line)
{
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	char arg[1024];
	const char *err;

	snprintf(arg, sizeof(arg), "TO:%s", s);
	err = rcpt(arg, &ext_all, &p, &rp);
	if (addr == NULL) {
		check_reply(err, reply, s, line);
		return;
	}
	check_ok(err, s, line);
	if (strcmp(p.addr, addr) != 0)
		fail_msg("line %d: \"%s\": addr \"%s\", expected \"%s\"", line, s, p.addr, addr);
	if (p.len != strlen(addr))
		fail_msg("line %d: \"%s\": len %zu", line, s, p.len);
}

#define RCPT_OK(s, addr)    check_rcpt_addr((s), (addr), NULL, __LINE__)
#define RCPT_BAD(s, reply)  check_rcpt_addr((s), NULL, (reply), __LINE__)

static void
fill(char *buf, char c, size_t n)
{
	memset(buf, c, n);
	buf[n] = '\0';
}

/* ---- command line ------------------------------------------------------ */

static void
test_cmd_every_verb(void **state)
{
	static const struct { const char *name; enum smtp_verb verb; } v[] = {
		{ "HELO", SMTP_VERB_HELO }, { "EHLO", SMTP_VERB_EHLO }, { "MAIL", SMTP_VERB_MAIL },
		{ "RCPT", SMTP_VERB_RCPT }, { "DATA", SMTP_VERB_DATA }, { "BDAT", SMTP_VERB_BDAT },
		{ "RSET", SMTP_VERB_RSET }, { "NOOP", SMTP_VERB_NOOP }, { "QUIT", SMTP_VERB_QUIT },
		{ "HELP", SMTP_VERB_HELP }, { "VRFY", SMTP_VERB_VRFY }, { "EXPN", SMTP_VERB_EXPN },
		{ "STARTTLS", SMTP_VERB_STARTTLS }, { "AUTH", SMTP_VERB_AUTH },
	};
	struct smtp_cmd c;
	char lower[16];

	(void)state;
	for (size_t i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		OK(smtp_cmd_parse(v[i].name, strlen(v[i].name), &c), v[i].name);
		assert_int_equal(c.verb, v[i].verb);
		assert_int_equal(c.arglen, 0);
		for (size_t j = 0; j <= strlen(v[i].name); j++)
			lower[j] = (char)(v[i].name[j] | (j % 2 ? 0x20 : 0));
		OK(smtp_cmd_parse(lower, strlen(lower), &c), lower);
		assert_int_equal(c.verb, v[i].verb);
	}
	OK(smtp_cmd_parse("starttls", 8, &c), "starttls");
	assert_int_equal(c.verb, SMTP_VERB_STARTTLS);
}

static void
test_cmd_argument(void **state)
{
	struct smtp_cmd c;
	const char *l;

	(void)state;
	l = "MAIL FROM:<a@b.test> SIZE=10";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.verb, SMTP_VERB_MAIL);
	assert_int_equal(c.arglen, strlen("FROM:<a@b.test> SIZE=10"));
	assert_memory_equal(c.arg, "FROM:<a@b.test> SIZE=10", c.arglen);
	assert_ptr_equal(c.arg, l + 5);

	l = "rcpt to:<x@y.test>";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.verb, SMTP_VERB_RCPT);
	assert_memory_equal(c.arg, "to:<x@y.test>", c.arglen);

	/* Surrounding blanks are not part of the argument. */
	l = "EHLO   client.test  ";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.arglen, strlen("client.test"));
	assert_memory_equal(c.arg, "client.test", c.arglen);
	l = "RSET  ";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.verb, SMTP_VERB_RSET);
	assert_int_equal(c.arglen, 0);
	l = "NOOP\tsomething";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_memory_equal(c.arg, "something", c.arglen);

	/* The argument is not judged here, 8-bit included. */
	l = "VRFY \xc3\xa9t\xc3\xa9";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.arglen, 5);
}

/* The line is not NUL-terminated: bytes past len must not matter. */
static void
test_cmd_explicit_length(void **state)
{
	struct smtp_cmd c;
	const char l[] = "QUIT extra";

	(void)state;
	OK(smtp_cmd_parse(l, 4, &c), "QUIT (len 4)");
	assert_int_equal(c.verb, SMTP_VERB_QUIT);
	assert_int_equal(c.arglen, 0);
	REPLY(smtp_cmd_parse(l, 3, &c), "500 5.5.2", "QUI");
}

static void
test_cmd_unknown(void **state)
{
	static const char *bad[] = {
		"FOO", "MAILFROM:<a@b>", "HELO2 x", "STARTTLSX", " HELO x", "\tNOOP",
		"MAI", "EHL0 x", "DATA:", "RCPT:TO:<a@b>", "X",
	};
	struct smtp_cmd c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REPLY(smtp_cmd_parse(bad[i], strlen(bad[i]), &c), "500 5.5.2", bad[i]);
		assert_int_equal(c.verb, SMTP_VERB_UNKNOWN);
	}
	REPLY(smtp_cmd_parse("", 0, &c), "500 5.5.2", "");
	assert_int_equal(c.verb, SMTP_VERB_UNKNOWN);
}

static void
test_cmd_bad_bytes(void **state)
{
	static const struct { const char *s; size_t len; } bad[] = {
		{ "HE\0LO x", 7 }, { "H\xc3\x89LO x", 7 }, { "\x80", 1 }, { "NOOP\xff", 5 },
		{ "DATA\0", 5 }, { "NOOP a\0b", 8 }, { "NOOP a\rb", 8 }, { "NOOP a\nb", 8 },
		{ "MAIL FROM:<a@b>\r", 16 }, { "\nQUIT", 5 }, { "HE\x7fLO", 5 }, { "HE\x01LO", 5 },
	};
	struct smtp_cmd c;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REPLY(smtp_cmd_parse(bad[i].s, bad[i].len, &c), "500 5.5.2", bad[i].s);
		assert_int_equal(c.verb, SMTP_VERB_UNKNOWN);
	}
}

/* ---- paths --------------------------------------------------------------- */

static void
test_path_null(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<>", true, false, &p, &used), "<>");
	assert_int_equal(p.len, 0);
	assert_int_equal(p.at, 0);
	assert_string_equal(p.addr, "");
	assert_int_equal(used, 2);
	OK(path("<> SIZE=1", true, false, &p, &used), "<> SIZE=1");
	assert_int_equal(used, 2);
	REPLY(path("<>", false, true, &p, &used), "501 5.1.3", "<> as recipient");
	REPLY(path("< >", true, false, &p, &used), "501 5.1.7", "< >");
	REPLY(path("<", true, false, &p, &used), "501 5.1.7", "<");
	REPLY(path("", true, false, &p, &used), "501 5.1.7", "");
	REPLY(path(">", true, false, &p, &used), "501 5.1.7", ">");
}

static void
test_path_simple(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<User.Name+tag@Example.COM> NOTIFY=NEVER", false, true, &p, &used), "simple");
	assert_string_equal(p.addr, "User.Name+tag@example.com");
	assert_int_equal(p.len, strlen("User.Name+tag@example.com"));
	assert_int_equal(p.at, 13);
	assert_int_equal(used, strlen("<User.Name+tag@Example.COM>"));
	assert_false(p.utf8);
	assert_false(p.literal);
	RCPT_OK("<MiXeD@ExAmPlE.OrG>", "MiXeD@example.org");
	RCPT_OK("<a@b>", "a@b");
	RCPT_OK("<a@localhost>", "a@localhost");
	RCPT_OK("<x@1.2.3.4>", "x@1.2.3.4");
	RCPT_OK("<x@xn--bcher-kva.example>", "x@xn--bcher-kva.example");
	RCPT_OK("<!#$%&'*+-/=?^_`{|}~@x.test>", "!#$%&'*+-/=?^_`{|}~@x.test");
	RCPT_OK("<a-b@a-b.c-d.test>", "a-b@a-b.c-d.test");
}

/* Percent hack and bang paths are ordinary atext: parsed literally. */
static void
test_path_percent_bang(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<user%other@host.test>", false, true, &p, &used), "percent");
	assert_string_equal(p.addr, "user%other@host.test");
	assert_int_equal(p.at, 10);
	OK(path("<host!user@host.test>", false, true, &p, &used), "bang");
	assert_string_equal(p.addr, "host!user@host.test");
	assert_int_equal(p.at, 9);
	RCPT_OK("<a%b%c@Host.TEST>", "a%b%c@host.test");
}

static void
test_path_dot_string(void **state)
{
	(void)state;
	RCPT_OK("<a.b.c@x.test>", "a.b.c@x.test");
	RCPT_BAD("<.a@x.test>", "501 5.1.3");
	RCPT_BAD("<a.@x.test>", "501 5.1.3");
	RCPT_BAD("<a..b@x.test>", "501 5.1.3");
	RCPT_BAD("<.@x.test>", "501 5.1.3");
	RCPT_BAD("<@x.test>", "501 5.1.3");
	RCPT_BAD("<a b@x.test>", "501 5.1.3");
	RCPT_BAD("<a(b)@x.test>", "501 5.1.3");
	RCPT_BAD("<a,b@x.test>", "501 5.1.3");
	RCPT_BAD("<a;b@x.test>", "501 5.1.3");
	RCPT_BAD("<a<b@x.test>", "501 5.1.3");
	RCPT_BAD("<a\\b@x.test>", "501 5.1.3");
	RCPT_BAD("<a[b]@x.test>", "501 5.1.3");
	RCPT_BAD("<a\"b@x.test>", "501 5.1.3");
	RCPT_BAD("<a@b@x.test>", "501 5.1.3");
	RCPT_BAD("<a\x7f@x.test>", "501 5.1.3");
	RCPT_BAD("<a\t@x.test>", "501 5.1.3");
	RCPT_BAD("<a\x01@x.test>", "501 5.1.3");
}

static void
test_path_quoted(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<\"john doe\"@x.test>", false, true, &p, &used), "quoted space");
	assert_string_equal(p.addr, "\"john doe\"@x.test");
	assert_int_equal(p.at, 10);
	/* The '@' inside quotes is not the separator: at says where it is. */
	OK(path("<\"victim@elsewhere.test\"@Example.TEST>", false, true, &p, &used), "quoted @");
	assert_string_equal(p.addr, "\"victim@elsewhere.test\"@example.test");
	assert_int_equal(p.at, 23);
	RCPT_OK("<\"a\\\"b\"@x.test>", "\"a\\\"b\"@x.test");
	RCPT_OK("<\"a\\\\b\"@x.test>", "\"a\\\\b\"@x.test");
	RCPT_OK("<\"a\\ b\"@x.test>", "\"a\\ b\"@x.test");
	RCPT_OK("<\"\"@x.test>", "\"\"@x.test");
	RCPT_OK("<\"a.,;:<>[]()b\"@x.test>", "\"a.,;:<>[]()b\"@x.test");
	RCPT_OK("<\"..\"@x.test>", "\"..\"@x.test");
	RCPT_BAD("<\"abc@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\"b@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\".b@x.test>", "501 5.1.3");
	RCPT_BAD("<a.\"b\"@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\tb\"@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\\\tb\"@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\\\x01\"@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\x7f\"@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\\\"@x.test>", "501 5.1.3");
	RCPT_BAD("<\"a\\", "501 5.1.3");
	RCPT_BAD("<\"a\">", "501 5.1.3");
}

static void
test_path_utf8(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<\xc3\xbcser@x.test>", false, true, &p, &used), "utf8 local");
	assert_true(p.utf8);
	assert_int_equal(p.at, 5);
	OK(path("<a@B\xc3\x9c" "CHER.example>", false, true, &p, &used), "utf8 domain");
	assert_true(p.utf8);
	/* Only ASCII is lowercased. */
	assert_string_equal(p.addr, "a@b\xc3\x9c" "cher.example");
	OK(path("<\xe7\x94\xa8\xe6\x88\xb7@\xe4\xbe\x8b\xe5\xad\x90.\xe5\xb9\xbf\xe5\x91\x8a>",
	    false, true, &p, &used), "CJK");
	assert_true(p.utf8);
	OK(path("<\"\xc3\xa9 t\xc3\xa9\"@x.test>", false, true, &p, &used), "utf8 quoted");
	assert_true(p.utf8);
	OK(path("<\xf0\x9f\x98\x80@x.test>", false, true, &p, &used), "4-byte");
	assert_true(p.utf8);
	OK(path("<a@x.test>", false, true, &p, &used), "ascii");
	assert_false(p.utf8);
}

static void
test_path_utf8_malformed(void **state)
{
	static const char *bad[] = {
		"<\xc3@x.test>",               /* truncated */
		"<\xc3\x28@x.test>",           /* bad continuation */
		"<\xc0\xaf@x.test>",           /* overlong '/' */
		"<\xc1\xbf@x.test>",           /* overlong */
		"<\xe0\x80\xaf@x.test>",       /* overlong 3-byte */
		"<\xf0\x80\x80\xaf@x.test>",   /* overlong 4-byte */
		"<\xed\xa0\x80@x.test>",       /* surrogate U+D800 */
		"<\xf4\x90\x80\x80@x.test>",   /* > U+10FFFF */
		"<\xf5\x80\x80\x80@x.test>",
		"<\xff@x.test>", "<\xfe@x.test>", "<\x80@x.test>",
		"<\xc2\x85@x.test>",           /* C1 control NEL */
		"<\xc2\x9f@x.test>",           /* C1 control */
		"<a@x\xc3.test>", "<a@\xc0\xaf.test>", "<a@x.\xed\xbf\xbf>",
		"<\"\xc3\"@x.test>",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		RCPT_BAD(bad[i], "501 5.1.3");
	RCPT_OK("<\xc2\xa0@x.test>", "\xc2\xa0@x.test");             /* U+00A0 */
	RCPT_OK("<\xef\xbf\xbf@x.test>", "\xef\xbf\xbf@x.test");     /* U+FFFF */
	RCPT_OK("<\xf4\x8f\xbf\xbf@x.test>", "\xf4\x8f\xbf\xbf@x.test");
}

static void
test_path_domain_rules(void **state)
{
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	char s[400], label[80];

	(void)state;
	RCPT_BAD("<a@-x.test>", "501 5.1.3");
	RCPT_BAD("<a@x-.test>", "501 5.1.3");
	RCPT_BAD("<a@x.test.>", "501 5.1.3");
	RCPT_BAD("<a@.x.test>", "501 5.1.3");
	RCPT_BAD("<a@x..test>", "501 5.1.3");
	RCPT_BAD("<a@>", "501 5.1.3");
	RCPT_BAD("<a@x_y.test>", "501 5.1.3");
	RCPT_BAD("<a@x y.test>", "501 5.1.3");
	RCPT_BAD("<a@x.test >", "501 5.1.3");
	RCPT_BAD("<a@x.test", "501 5.1.3");
	RCPT_BAD("<a>", "501 5.1.3");
	RCPT_BAD("<a@-.test>", "501 5.1.3");
	RCPT_BAD("<a@x\r.test>", "501 5.1.3");
	RCPT_BAD("<a@x.test\n>", "501 5.1.3");
	RCPT_OK("<a@X-Y.TEST>", "a@x-y.test");
	fill(label, 'l', 63);
	snprintf(s, sizeof(s), "TO:<a@%s.test>", label);
	OK(smtp_rcpt_parse(s, strlen(s), &ext_all, &p, &rp), s);
	assert_int_equal(p.at, 1);
	assert_int_equal(p.len, 2 + 63 + 5);
	fill(label, 'l', 64);
	snprintf(s, sizeof(s), "<a@%s.test>", label);
	RCPT_BAD(s, "501 5.1.3");
}

static void
test_path_nul_inside(void **state)
{
	struct smtp_path p;
	size_t used;
	const char s[] = "<a\0b@x.test>";

	(void)state;
	REPLY(smtp_path_parse(s, sizeof(s) - 1, false, true, &p, &used), "501 5.1.3", "NUL");
	REPLY(smtp_path_parse("<a@x.test>", 9, false, true, &p, &used), "501 5.1.3", "short len");
	assert_int_equal(p.len, 0);
	assert_int_equal(used, 0);
}

static void
test_path_literal(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<a@[127.0.0.1]>", false, true, &p, &used), "v4");
	assert_true(p.literal);
	assert_string_equal(p.addr, "a@[127.0.0.1]");
	assert_int_equal(p.at, 1);
	OK(path("<a@[IPv6:::1]>", false, true, &p, &used), "v6");
	assert_true(p.literal);
	assert_string_equal(p.addr, "a@[ipv6:::1]");
	OK(path("<a@x.test>", false, true, &p, &used), "not literal");
	assert_false(p.literal);
	RCPT_OK("<a@[ipv6:2001:DB8::1]>", "a@[ipv6:2001:db8::1]");
	RCPT_OK("<a@[IPv6:::ffff:192.0.2.1]>", "a@[ipv6:::ffff:192.0.2.1]");
	RCPT_OK("<a@[IPv6:2001:db8:0:0:0:0:0:1]>", "a@[ipv6:2001:db8:0:0:0:0:0:1]");
	RCPT_OK("<victim@[192.0.2.1]>", "victim@[192.0.2.1]");
	RCPT_BAD("<a@[127.0.0.256]>", "501 5.1.3");
	RCPT_BAD("<a@[1.2.3]>", "501 5.1.3");
	RCPT_BAD("<a@[1.2.3.4.5]>", "501 5.1.3");
	RCPT_BAD("<a@[01.2.3.4]>", "501 5.1.3");
	RCPT_BAD("<a@[::1]>", "501 5.1.3");
	RCPT_BAD("<a@[IPv6:1.2.3.4]>", "501 5.1.3");
	RCPT_BAD("<a@[IPv6:::1%eth0]>", "501 5.1.3");
	RCPT_BAD("<a@[IPv6:1::2::3]>", "501 5.1.3");
	RCPT_BAD("<a@[IPv6:]>", "501 5.1.3");
	RCPT_BAD("<a@[IPv6:12345::1]>", "501 5.1.3");
	RCPT_BAD("<a@[x-tag:something]>", "501 5.1.3");
	RCPT_BAD("<a@[]>", "501 5.1.3");
	RCPT_BAD("<a@[127.0.0.1>", "501 5.1.3");
	RCPT_BAD("<a@[127.0.0.1]x>", "501 5.1.3");
	RCPT_BAD("<a@[ 127.0.0.1]>", "501 5.1.3");
	RCPT_BAD("<a@x.[127.0.0.1]>", "501 5.1.3");
	RCPT_BAD("<a@[IPv6:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0000:0001]>", "501 5.1.3");
}

static void
test_path_source_route(void **state)
{
	struct smtp_path p;
	size_t used;
	const char *s = "<@a.example,@b.example:user@C.example>";

	(void)state;
	OK(path(s, false, true, &p, &used), s);
	assert_string_equal(p.addr, "user@c.example");
	assert_int_equal(p.at, 4);
	assert_int_equal(used, strlen(s));
	RCPT_OK("<@example.test:victim@elsewhere.test>", "victim@elsewhere.test");
	RCPT_OK("<@x\xc3\xa9.test:a@b.test>", "a@b.test");
	RCPT_BAD("<@:u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example,u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example:>", "501 5.1.3");
	RCPT_BAD("<@a.example:<>>", "501 5.1.3");
	RCPT_BAD("<@a..example:u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example,:u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example,,@b.test:u@c.test>", "501 5.1.3");
	RCPT_BAD("<@[127.0.0.1]:u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example:@b.test:u@c.test>", "501 5.1.3");
	RCPT_BAD("<@a.example>", "501 5.1.3");
	/* RFC 5321 4.1.1.3: "<Postmaster>" is its own form, without a route. */
	RCPT_BAD("<@a.example:Postmaster>", "501 5.1.3");
}

static void
test_path_lengths(void **state)
{
	char local[80], label[64], dom[300], s[700];
	struct smtp_path p;
	size_t used;

	(void)state;
	fill(local, 'l', 64);
	snprintf(s, sizeof(s), "<%s@x.test>", local);
	OK(path(s, false, true, &p, &used), "local 64");
	assert_int_equal(p.at, 64);
	fill(local, 'l', 65);
	snprintf(s, sizeof(s), "<%s@x.test>", local);
	REPLY(path(s, false, true, &p, &used), "553 5.1.3", "local 65");
	REPLY(path(s, true, false, &p, &used), "553 5.1.3", "sender local 65");
	assert_int_equal(p.len, 0);
	/* Quotes count: the local part is measured as sent. */
	fill(local, 'q', 64);
	local[0] = local[63] = '"';
	snprintf(s, sizeof(s), "<%s@x.test>", local);
	OK(path(s, false, true, &p, &used), "quoted 64");
	fill(local, 'q', 65);
	local[0] = local[64] = '"';
	snprintf(s, sizeof(s), "<%s@x.test>", local);
	REPLY(path(s, false, true, &p, &used), "553 5.1.3", "quoted 65");

	/* Three 63-octet labels: a 191-octet domain; 64 + 1 + 191 = 256. */
	fill(label, 'd', 63);
	snprintf(dom, sizeof(dom), "%s.%s.%s", label, label, label);
	fill(local, 'l', 64);
	snprintf(s, sizeof(s), "<%s@%s>", local, dom);
	OK(path(s, false, true, &p, &used), "path 256");
	assert_int_equal(p.len, SMTP_PATH_MAX);
	assert_int_equal(p.at, 64);
	assert_int_equal(strlen(p.addr), SMTP_PATH_MAX);
	snprintf(s, sizeof(s), "<%s@a.%s>", local, dom);
	REPLY(path(s, false, true, &p, &used), "553 5.1.3", "path 258");

	/* Four labels: 255 octets, a legal domain but a 257-octet path. */
	snprintf(dom, sizeof(dom), "%s.%s.%s.%s", label, label, label, label);
	snprintf(s, sizeof(s), "<a@%s>", dom);
	REPLY(path(s, false, true, &p, &used), "553 5.1.3", "domain 255");
	snprintf(s, sizeof(s), "<a@a.%s>", dom);
	REPLY(path(s, false, true, &p, &used), "553 5.1.3", "domain 257");
	assert_int_equal(p.len, 0);
}

static void
test_path_postmaster(void **state)
{
	struct smtp_path p;
	size_t used;

	(void)state;
	OK(path("<Postmaster>", false, true, &p, &used), "<Postmaster>");
	assert_string_equal(p.addr, "Postmaster");
	assert_int_equal(p.len, 10);
	assert_int_equal(p.at, p.len);
	assert_int_equal(used, 12);
	OK(path("<postMASTER>", false, true, &p, &used), "<postMASTER>");
	assert_string_equal(p.addr, "postMASTER");
	assert_int_equal(p.at, 10);
	REPLY(path("<Postmaster>", false, false, &p, &used), "501 5.1.3", "pm not allowed");
	REPLY(path("<Postmaster>", true, false, &p, &used), "501 5.1.7", "pm sender");
	RCPT_BAD("<\"Postmaster\">", "501 5.1.3");
	RCPT_BAD("<abuse>", "501 5.1.3");
	RCPT_BAD("<postmaste>", "501 5.1.3");
	RCPT_BAD("<postmasterx>", "501 5.1.3");
	OK(path("<Postmaster@Example.TEST>", false, true, &p, &used), "pm@domain");
	assert_string_equal(p.addr, "Postmaster@example.test");
	assert_int_equal(p.at, 10);
	RCPT_OK("<@a.test:Postmaster@b.test>", "Postmaster@b.test");
}

/* ---- MAIL FROM ------------------------------------------------------------ */

static void
test_mail_basic(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	OK(mail("FROM:<a@s.test>", &ext_all, &p, &mp), "basic");
	assert_string_equal(p.addr, "a@s.test");
	assert_false(mp.has_size);
	assert_int_equal(mp.body, SMTP_BODY_NONE);
	assert_int_equal(mp.ret, SMTP_RET_NONE);
	OK(mail("from:<a@s.test>", &ext_none, &p, &mp), "lower");
	OK(mail("From: <a@s.test>", &ext_all, &p, &mp), "space after colon");
	OK(mail("FROM:   <a@s.test>", &ext_all, &p, &mp), "spaces");
	OK(mail("FROM:<>", &ext_all, &p, &mp), "null");
	assert_int_equal(p.len, 0);
	OK(mail("FROM:<> SIZE=10", &ext_all, &p, &mp), "null + size");
	assert_int_equal(mp.size, 10);
	OK(mail("FROM:<a@s.test> ", &ext_all, &p, &mp), "trailing space");
	OK(mail("FROM:<@r.test:a@s.test>", &ext_all, &p, &mp), "route");
	assert_string_equal(p.addr, "a@s.test");
	OK(mail("FROM:<\xc3\xbc@s.test> SMTPUTF8", &ext_all, &p, &mp), "utf8");
	assert_true(p.utf8);
	assert_true(mp.smtputf8);
}

static void
test_mail_syntax(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	REPLY(mail("", &ext_all, &p, &mp), "501 5.5.2", "empty");
	REPLY(mail("FROM", &ext_all, &p, &mp), "501 5.5.2", "FROM");
	REPLY(mail("FROM <a@b.test>", &ext_all, &p, &mp), "501 5.5.2", "no colon");
	REPLY(mail("FROM :<a@b.test>", &ext_all, &p, &mp), "501 5.5.2", "space before colon");
	REPLY(mail("FRO:<a@b.test>", &ext_all, &p, &mp), "501 5.5.2", "FRO:");
	REPLY(mail("TO:<a@b.test>", &ext_all, &p, &mp), "501 5.5.2", "TO:");
	REPLY(mail("FROM:", &ext_all, &p, &mp), "501 5.1.7", "FROM: only");
	REPLY(mail("FROM:a@b.test", &ext_all, &p, &mp), "501 5.1.7", "no brackets");
	REPLY(mail("FROM:a@b.test SIZE=1", &ext_all, &p, &mp), "501 5.1.7", "no brackets+param");
	REPLY(mail("FROM:<a@b.test", &ext_all, &p, &mp), "501 5.1.7", "no >");
	REPLY(mail("FROM:a@b.test>", &ext_all, &p, &mp), "501 5.1.7", "no <");
	REPLY(mail("FROM:<a@b.test>x", &ext_all, &p, &mp), "501 5.1.7", "garbage");
	REPLY(mail("FROM:<a@b.test>>", &ext_all, &p, &mp), "501 5.1.7", ">>");
	REPLY(mail("FROM:<a@b.test><c@d.test>", &ext_all, &p, &mp), "501 5.1.7", "two paths");
	REPLY(mail("FROM:<a@b.test>SIZE=1", &ext_all, &p, &mp), "501 5.1.7", "no space");
	REPLY(mail("FROM:<Postmaster>", &ext_all, &p, &mp), "501 5.1.7", "<Postmaster>");
	REPLY(mail("FROM:<a@b.test>\t", &ext_all, &p, &mp), "501 5.1.7", "tab");
	REPLY(mail("FROM:<<a@b.test>>", &ext_all, &p, &mp), "501 5.1.7", "<<>>");
	assert_int_equal(p.len, 0);
}

static void
test_mail_size(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	OK(mail("FROM:<a@b.test> SIZE=1000", &ext_all, &p, &mp), "size");
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 1000);
	OK(mail("FROM:<a@b.test> SIZE=0", &ext_all, &p, &mp), "size 0");
	assert_true(mp.has_size);
	assert_int_equal(mp.size, 0);
	OK(mail("FROM:<a@b.test> SIZE=18446744073709551615", &ext_all, &p, &mp), "max");
	assert_true(mp.size == UINT64_MAX);
	OK(mail("FROM:<a@b.test> SIZE=00000000000000001000", &ext_all, &p, &mp), "20 digits");
	assert_int_equal(mp.size, 1000);
	REPLY(mail("FROM:<a@b.test> SIZE=18446744073709551616", &ext_all, &p, &mp), "552 5.3.4", "overflow");
	REPLY(mail("FROM:<a@b.test> SIZE=99999999999999999999", &ext_all, &p, &mp), "552 5.3.4", "overflow 2");
	REPLY(mail("FROM:<a@b.test> SIZE=000000000000000000001", &ext_all, &p, &mp), "501 5.5.4", "21 digits");
	REPLY(mail("FROM:<a@b.test> SIZE", &ext_all, &p, &mp), "501 5.5.4", "no value");
	REPLY(mail("FROM:<a@b.test> SIZE=", &ext_all, &p, &mp), "501 5.5.4", "empty");
	REPLY(mail("FROM:<a@b.test> SIZE=-1", &ext_all, &p, &mp), "501 5.5.4", "negative");
	REPLY(mail("FROM:<a@b.test> SIZE=+1", &ext_all, &p, &mp), "501 5.5.4", "plus");
	REPLY(mail("FROM:<a@b.test> SIZE=1e3", &ext_all, &p, &mp), "501 5.5.4", "1e3");
	REPLY(mail("FROM:<a@b.test> SIZE=0x10", &ext_all, &p, &mp), "501 5.5.4", "hex");
	REPLY(mail("FROM:<a@b.test> SIZE==1", &ext_all, &p, &mp), "501 5.5.4", "==");
	REPLY(mail("FROM:<a@b.test> SIZE=10", &ext_none, &p, &mp), "555 5.5.4", "ext off");
}

static void
test_mail_body(void **state)
{
	struct smtp_ext only8 = { .eightbitmime = true };
	struct smtp_ext onlybin = { .binarymime = true };
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	OK(mail("FROM:<a@b.test> BODY=7BIT", &ext_all, &p, &mp), "7bit");
	assert_int_equal(mp.body, SMTP_BODY_7BIT);
	OK(mail("FROM:<a@b.test> BODY=8BITMIME", &ext_all, &p, &mp), "8bit");
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	OK(mail("FROM:<a@b.test> body=8bitmime", &ext_all, &p, &mp), "8bit lower");
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	OK(mail("FROM:<a@b.test> BODY=BINARYMIME", &ext_all, &p, &mp), "binary");
	assert_int_equal(mp.body, SMTP_BODY_BINARYMIME);
	OK(mail("FROM:<a@b.test> BODY=7BIT", &only8, &p, &mp), "7bit only8");
	OK(mail("FROM:<a@b.test> BODY=7BIT", &onlybin, &p, &mp), "7bit onlybin");
	REPLY(mail("FROM:<a@b.test> BODY=BINARYMIME", &only8, &p, &mp), "555 5.5.4", "binary off");
	REPLY(mail("FROM:<a@b.test> BODY=8BITMIME", &onlybin, &p, &mp), "555 5.5.4", "8bit off");
	REPLY(mail("FROM:<a@b.test> BODY=8BITMIME", &ext_none, &p, &mp), "555 5.5.4", "all off");
	REPLY(mail("FROM:<a@b.test> BODY=8BIT", &ext_all, &p, &mp), "501 5.5.4", "8BIT");
	REPLY(mail("FROM:<a@b.test> BODY", &ext_all, &p, &mp), "501 5.5.4", "no value");
	REPLY(mail("FROM:<a@b.test> BODY=7BITX", &ext_all, &p, &mp), "501 5.5.4", "7BITX");
}

static void
test_mail_smtputf8_ret(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	OK(mail("FROM:<a@b.test> SMTPUTF8", &ext_all, &p, &mp), "smtputf8");
	assert_true(mp.smtputf8);
	OK(mail("FROM:<a@b.test> smtputf8", &ext_all, &p, &mp), "lower");
	REPLY(mail("FROM:<a@b.test> SMTPUTF8=yes", &ext_all, &p, &mp), "501 5.5.4", "value");
	REPLY(mail("FROM:<a@b.test> SMTPUTF8", &ext_none, &p, &mp), "555 5.5.4", "off");
	OK(mail("FROM:<a@b.test> RET=FULL", &ext_all, &p, &mp), "full");
	assert_int_equal(mp.ret, SMTP_RET_FULL);
	OK(mail("FROM:<a@b.test> ret=hdrs", &ext_all, &p, &mp), "hdrs");
	assert_int_equal(mp.ret, SMTP_RET_HDRS);
	REPLY(mail("FROM:<a@b.test> RET=BOTH", &ext_all, &p, &mp), "501 5.5.4", "both");
	REPLY(mail("FROM:<a@b.test> RET", &ext_all, &p, &mp), "501 5.5.4", "no value");
	REPLY(mail("FROM:<a@b.test> RET=FULL", &ext_none, &p, &mp), "555 5.5.4", "off");
}

static void
test_mail_envid(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	char arg[300], v[200];

	(void)state;
	OK(mail("FROM:<a@b.test> ENVID=QQ+2B314", &ext_all, &p, &mp), "envid");
	assert_true(mp.has_envid);
	assert_string_equal(mp.envid, "QQ+314");
	OK(mail("FROM:<a@b.test> envid=a+3Db", &ext_all, &p, &mp), "lower kw");
	assert_string_equal(mp.envid, "a=b");
	fill(v, 'e', 100);
	snprintf(arg, sizeof(arg), "FROM:<a@b.test> ENVID=%s", v);
	OK(mail(arg, &ext_all, &p, &mp), "100");
	assert_int_equal(strlen(mp.envid), 100);
	fill(v, 'e', 101);
	snprintf(arg, sizeof(arg), "FROM:<a@b.test> ENVID=%s", v);
	REPLY(mail(arg, &ext_all, &p, &mp), "501 5.5.4", "101");
	/* 99 plain + one escaped octet is 100 decoded octets. */
	fill(v, 'e', 99);
	snprintf(arg, sizeof(arg), "FROM:<a@b.test> ENVID=%s+2B", v);
	OK(mail(arg, &ext_all, &p, &mp), "100 decoded");
	REPLY(mail("FROM:<a@b.test> ENVID=a+2", &ext_all, &p, &mp), "501 5.5.4", "short hex");
	REPLY(mail("FROM:<a@b.test> ENVID=a+2b", &ext_all, &p, &mp), "501 5.5.4", "lower hex");
	REPLY(mail("FROM:<a@b.test> ENVID=a+20b", &ext_all, &p, &mp), "501 5.5.4", "space");
	REPLY(mail("FROM:<a@b.test> ENVID=a+0Db", &ext_all, &p, &mp), "501 5.5.4", "CR");
	REPLY(mail("FROM:<a@b.test> ENVID=a+00", &ext_all, &p, &mp), "501 5.5.4", "NUL");
	REPLY(mail("FROM:<a@b.test> ENVID=a+C3+A9", &ext_all, &p, &mp), "501 5.5.4", "8bit");
	REPLY(mail("FROM:<a@b.test> ENVID", &ext_all, &p, &mp), "501 5.5.4", "no value");
	REPLY(mail("FROM:<a@b.test> ENVID=x", &ext_none, &p, &mp), "555 5.5.4", "off");
}

static void
test_mail_auth(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;

	(void)state;
	OK(mail("FROM:<a@b.test> AUTH=<>", &ext_all, &p, &mp), "<>");
	assert_true(mp.has_auth);
	assert_string_equal(mp.auth, "");
	OK(mail("FROM:<a@b.test> AUTH=e+3Dmc2@example.com", &ext_all, &p, &mp), "xtext");
	assert_string_equal(mp.auth, "e=mc2@example.com");
	OK(mail("FROM:<a@b.test> auth=+22a+20b+22@x.test", &ext_all, &p, &mp), "quoted");
	assert_string_equal(mp.auth, "\"a b\"@x.test");
	REPLY(mail("FROM:<a@b.test> AUTH=a+0Ab", &ext_all, &p, &mp), "501 5.5.4", "LF");
	REPLY(mail("FROM:<a@b.test> AUTH=a+", &ext_all, &p, &mp), "501 5.5.4", "bad xtext");
	REPLY(mail("FROM:<a@b.test> AUTH", &ext_all, &p, &mp), "501 5.5.4", "no value");
	REPLY(mail("FROM:<a@b.test> AUTH=<>", &ext_none, &p, &mp), "555 5.5.4", "off");
}

static void
test_mail_params_general(void **state)
{
	struct smtp_path p;
	struct smtp_mail_params mp;
	const char *all = "FROM:<a@b.test> size=10 Body=8BITMIME smtpUTF8 Ret=Full EnvId=x Auth=<>";

	(void)state;
	OK(mail(all, &ext_all, &p, &mp), all);
	assert_int_equal(mp.size, 10);
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	assert_true(mp.smtputf8);
	assert_int_equal(mp.ret, SMTP_RET_FULL);
	assert_string_equal(mp.envid, "x");
	assert_true(mp.has_auth);
	OK(mail("FROM:<a@b.test>   SIZE=1    BODY=7BIT  ", &ext_all, &p, &mp), "spaces");
	REPLY(mail("FROM:<a@b.test> SIZE=1 SIZE=2", &ext_all, &p, &mp), "555 5.5.4", "repeat");
	REPLY(mail("FROM:<a@b.test> size=1 SIZE=1", &ext_all, &p, &mp), "555 5.5.4", "repeat case");
	REPLY(mail("FROM:<a@b.test> SMTPUTF8 SMTPUTF8", &ext_all, &p, &mp), "555 5.5.4", "repeat flag");
	REPLY(mail("FROM:<a@b.test> BODY=7BIT BODY=7BIT", &ext_all, &p, &mp), "555 5.5.4", "repeat body");
	REPLY(mail("FROM:<a@b.test> FOO=bar", &ext_all, &p, &mp), "555 5.5.4", "unknown");
	REPLY(mail("FROM:<a@b.test> X-FOO", &ext_all, &p, &mp), "555 5.5.4", "unknown flag");
	REPLY(mail("FROM:<a@b.test> NOTIFY=NEVER", &ext_all, &p, &mp), "555 5.5.4", "rcpt param");
	REPLY(mail("FROM:<a@b.test> -X=1", &ext_all, &p, &mp), "501 5.5.4", "bad keyword");
	REPLY(mail("FROM:<a@b.test> =1", &ext_all, &p, &mp), "501 5.5.4", "no keyword");
	REPLY(mail("FROM:<a@b.test> X_Y=1", &ext_all, &p, &mp), "501 5.5.4", "underscore");
	REPLY(mail("FROM:<a@b.test> X=\xc3\xa9", &ext_all, &p, &mp), "501 5.5.4", "8bit value");
	REPLY(mail("FROM:<a@b.test> X=a\x01", &ext_all, &p, &mp), "501 5.5.4", "ctl value");
	REPLY(mail("FROM:<a@b.test> SIZE=1\tBODY=7BIT", &ext_all, &p, &mp), "501 5.5.4", "tab");
}

static void
test_mail_params_disabled(void **state)
{
	static const char *params[] = {
		"SIZE=1", "BODY=7BIT", "BODY=8BITMIME", "BODY=BINARYMIME", "SMTPUTF8", "RET=FULL",
		"ENVID=x", "AUTH=<>",
	};
	struct smtp_path p;
	struct smtp_mail_params mp;
	char arg[100];

	(void)state;
	for (size_t i = 0; i < sizeof(params) / sizeof(params[0]); i++) {
		snprintf(arg, sizeof(arg), "FROM:<a@b.test> %s", params[i]);
		REPLY(mail(arg, &ext_none, &p, &mp), "555 5.5.4", arg);
		OK(mail(arg, &ext_all, &p, &mp), arg);
	}
}

/* ---- RCPT TO ------------------------------------------------------------ */

static void
test_rcpt_basic(void **state)
{
	struct smtp_path p;
	struct smtp_rcpt_params rp;

	(void)state;
	OK(rcpt("TO:<alice@example.test>", &ext_none, &p, &rp), "basic");
	assert_string_equal(p.addr, "alice@example.test");
	assert_int_equal(rp.notify, 0);
	assert_false(rp.has_orcpt);
	OK(rcpt("to: <alice@example.test>", &ext_none, &p, &rp), "lower + space");
	OK(rcpt("TO:<Postmaster>", &ext_none, &p, &rp), "postmaster");
	assert_int_equal(p.at, p.len);
	REPLY(rcpt("TO:<>", &ext_all, &p, &rp), "501 5.1.3", "null");
	REPLY(rcpt("TO:alice@example.test", &ext_all, &p, &rp), "501 5.1.3", "no brackets");
	REPLY(rcpt("TO:<alice@example.test>x", &ext_all, &p, &rp), "501 5.1.3", "garbage");
	REPLY(rcpt("TO:", &ext_all, &p, &rp), "501 5.1.3", "empty");
	REPLY(rcpt("TO <a@b.test>", &ext_all, &p, &rp), "501 5.5.2", "no colon");
	REPLY(rcpt("FROM:<a@b.test>", &ext_all, &p, &rp), "501 5.5.2", "FROM:");
	REPLY(rcpt("", &ext_all, &p, &rp), "501 5.5.2", "nothing");
	REPLY(rcpt("TO:<a@b.test> SIZE=1", &ext_all, &p, &rp), "555 5.5.4", "mail param");
}

static void
test_rcpt_notify(void **state)
{
	static const struct { const char *v; unsigned bits; } good[] = {
		{ "NEVER", SMTP_NOTIFY_NEVER }, { "never", SMTP_NOTIFY_NEVER },
		{ "SUCCESS", SMTP_NOTIFY_SUCCESS }, { "FAILURE", SMTP_NOTIFY_FAILURE },
		{ "DELAY", SMTP_NOTIFY_DELAY },
		{ "SUCCESS,FAILURE", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE },
		{ "delay,Success,FAILURE", SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_FAILURE | SMTP_NOTIFY_DELAY },
	};
	static const char *bad[] = {
		"NEVER,SUCCESS", "FAILURE,NEVER", "SUCCESS,,FAILURE", "SUCCESS,", ",SUCCESS",
		"SUCCESS,SUCCESS", "NEVER,NEVER", "FOO", "SUCCESS,FOO", ",", "SUCCES",
	};
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	char arg[100];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		snprintf(arg, sizeof(arg), "TO:<a@b.test> NOTIFY=%s", good[i].v);
		OK(rcpt(arg, &ext_all, &p, &rp), arg);
		assert_int_equal(rp.notify, good[i].bits);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(arg, sizeof(arg), "TO:<a@b.test> NOTIFY=%s", bad[i]);
		REPLY(rcpt(arg, &ext_all, &p, &rp), "501 5.5.4", arg);
	}
	REPLY(rcpt("TO:<a@b.test> NOTIFY", &ext_all, &p, &rp), "501 5.5.4", "no value");
	REPLY(rcpt("TO:<a@b.test> NOTIFY=", &ext_all, &p, &rp), "501 5.5.4", "empty");
	REPLY(rcpt("TO:<a@b.test> NOTIFY=NEVER", &ext_none, &p, &rp), "555 5.5.4", "off");
	REPLY(rcpt("TO:<a@b.test> NOTIFY=NEVER notify=NEVER", &ext_all, &p, &rp), "555 5.5.4", "repeat");
}

static void
test_rcpt_orcpt(void **state)
{
	struct smtp_path p;
	struct smtp_rcpt_params rp;
	char arg[700], v[600];

	(void)state;
	OK(rcpt("TO:<a@b.test> ORCPT=rfc822;alice@example.test", &ext_all, &p, &rp), "orcpt");
	assert_true(rp.has_orcpt);
	assert_string_equal(rp.orcpt, "rfc822;alice@example.test");
	OK(rcpt("TO:<a@b.test> orcpt=RFC822;a+2Bb@x.test", &ext_all, &p, &rp), "kept encoded");
	assert_string_equal(rp.orcpt, "RFC822;a+2Bb@x.test");
	OK(rcpt("TO:<a@b.test> ORCPT=utf-8;a@b.test NOTIFY=SUCCESS,DELAY", &ext_all, &p, &rp), "both");
	assert_string_equal(rp.orcpt, "utf-8;a@b.test");
	assert_int_equal(rp.notify, SMTP_NOTIFY_SUCCESS | SMTP_NOTIFY_DELAY);
	OK(rcpt("TO:<a@b.test> ORCPT=rfc822;a;b", &ext_all, &p, &rp), "semicolon in xtext");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc822", &ext_all, &p, &rp), "501 5.5.4", "no ;");
	REPLY(rcpt("TO:<a@b.test> ORCPT=;a@b.test", &ext_all, &p, &rp), "501 5.5.4", "no type");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc822;", &ext_all, &p, &rp), "501 5.5.4", "no addr");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc(822;a", &ext_all, &p, &rp), "501 5.5.4", "type not atom");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc.822;a", &ext_all, &p, &rp), "501 5.5.4", "type dot");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc822;a+zz", &ext_all, &p, &rp), "501 5.5.4", "bad xtext");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc822;a+00", &ext_all, &p, &rp), "501 5.5.4", "NUL");
	REPLY(rcpt("TO:<a@b.test> ORCPT", &ext_all, &p, &rp), "501 5.5.4", "no value");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc822;a ORCPT=rfc822;b", &ext_all, &p, &rp), "555 5.5.4", "repeat");
	REPLY(rcpt("TO:<a@b.test> ORCPT=rfc822;a", &ext_none, &p, &rp), "555 5.5.4", "off");
	fill(v, 'o', 500 - 7);
	snprintf(arg, sizeof(arg), "TO:<a@b.test> ORCPT=rfc822;%s", v);
	OK(rcpt(arg, &ext_all, &p, &rp), "500");
	assert_int_equal(strlen(rp.orcpt), SMTP_ORCPT_MAX);
	fill(v, 'o', 500 - 6);
	snprintf(arg, sizeof(arg), "TO:<a@b.test> ORCPT=rfc822;%s", v);
	REPLY(rcpt(arg, &ext_all, &p, &rp), "501 5.5.4", "501");
}

/* ---- BDAT ----------------------------------------------------------------- */

static void
test_bdat(void **state)
{
	static const struct { const char *s; uint64_t size; bool last; } good[] = {
		{ "1000", 1000, false }, { "1000 LAST", 1000, true }, { "0 LAST", 0, true },
		{ "0", 0, false }, { "12 last", 12, true }, { "12 LaSt", 12, true },
		{ "007", 7, false }, { "10  LAST", 10, true }, { "10 ", 10, false },
		{ "18446744073709551615 LAST", UINT64_MAX, true },
	};
	static const char *bad[] = {
		"", "-1", "+1", "10x", "x10", "1 0", "10 LAST x", "10 LASTX", "10 LAS", "LAST",
		" 10", "10\tLAST", "0x10", "1,000", "10 LAST LAST",
	};
	uint64_t size;
	bool last;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		OK(smtp_bdat_parse(good[i].s, strlen(good[i].s), &size, &last), good[i].s);
		assert_true(size == good[i].size);
		assert_int_equal(last, good[i].last);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REPLY(smtp_bdat_parse(bad[i], strlen(bad[i]), &size, &last), "501 5.5.4", bad[i]);
	REPLY(smtp_bdat_parse("18446744073709551616", 20, &size, &last), "552 5.3.4", "overflow");
	REPLY(smtp_bdat_parse("99999999999999999999999 LAST", 28, &size, &last), "552 5.3.4", "big");
	assert_false(last);
	OK(smtp_bdat_parse("12 LAST", 2, &size, &last), "explicit length");
	assert_false(last);
}

/* ---- xtext ---------------------------------------------------------------- */

static void
test_xtext_decode(void **state)
{
	char out[16];

	(void)state;
	assert_int_equal(smtp_xtext_decode("QQ+2B314", 8, out, sizeof(out)), 6);
	assert_string_equal(out, "QQ+314");
	assert_int_equal(smtp_xtext_decode("", 0, out, sizeof(out)), 0);
	assert_string_equal(out, "");
	assert_int_equal(smtp_xtext_decode("+3D+2B+7E", 9, out, sizeof(out)), 3);
	assert_string_equal(out, "=+~");
	assert_int_equal(smtp_xtext_decode("+FF", 3, out, sizeof(out)), 1);
	assert_int_equal((unsigned char)out[0], 0xff);
	assert_int_equal(smtp_xtext_decode("+", 1, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("+4", 2, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("+4g", 3, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("+2b", 3, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("+00", 3, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("a b", 3, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("a=b", 3, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("a\x7f", 2, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("\xc3\xa9", 2, out, sizeof(out)), -1);
	assert_int_equal(smtp_xtext_decode("a\0b", 3, out, sizeof(out)), -1);
	/* Explicit length: "+2" of "+2B" is malformed. */
	assert_int_equal(smtp_xtext_decode("+2B", 2, out, sizeof(out)), -1);
	/* Output bounds: outsz - 1 decoded octets fit, one more does not. */
	assert_int_equal(smtp_xtext_decode("abc", 3, out, 4), 3);
	assert_int_equal(smtp_xtext_decode("abcd", 4, out, 4), -1);
	assert_int_equal(smtp_xtext_decode("a+2Bc", 5, out, 4), 3);
	assert_int_equal(smtp_xtext_decode("", 0, out, 1), 0);
	assert_int_equal(smtp_xtext_decode("a", 1, out, 1), -1);
	assert_int_equal(smtp_xtext_decode("", 0, out, 0), -1);
}

static void
test_xtext_encode(void **state)
{
	char out[32];

	(void)state;
	assert_int_equal(smtp_xtext_encode("QQ+314", 6, out, sizeof(out)), 8);
	assert_string_equal(out, "QQ+2B314");
	assert_int_equal(smtp_xtext_encode("a=b c", 5, out, sizeof(out)), 9);
	assert_string_equal(out, "a+3Db+20c");
	assert_int_equal(smtp_xtext_encode("\r\n\xff", 3, out, sizeof(out)), 9);
	assert_string_equal(out, "+0D+0A+FF");
	assert_int_equal(smtp_xtext_encode("", 0, out, 1), 0);
	assert_int_equal(smtp_xtext_encode("a", 1, out, 1), -1);
	assert_int_equal(smtp_xtext_encode("a", 1, out, 2), 1);
	assert_int_equal(smtp_xtext_encode("+", 1, out, 3), -1);
	assert_int_equal(smtp_xtext_encode("+", 1, out, 4), 3);
	assert_int_equal(smtp_xtext_encode("", 0, out, 0), -1);
}

/* Every octet but NUL survives encode then decode. */
static void
test_xtext_roundtrip(void **state)
{
	char in[255], enc[255 * 3 + 1], dec[256];
	long n;

	(void)state;
	for (int i = 0; i < 255; i++)
		in[i] = (char)(i + 1);
	n = smtp_xtext_encode(in, sizeof(in), enc, sizeof(enc));
	assert_true(n > 0);
	assert_int_equal((size_t)n, strlen(enc));
	assert_int_equal(smtp_xtext_decode(enc, (size_t)n, dec, sizeof(dec)), 255);
	assert_memory_equal(in, dec, sizeof(in));
	/* The NUL needs room too. */
	assert_int_equal(smtp_xtext_encode(in, sizeof(in), enc, (size_t)n + 1), n);
	assert_int_equal(smtp_xtext_encode(in, sizeof(in), enc, (size_t)n), -1);
}

/* ---- HELO --------------------------------------------------------------- */

static void
test_helo(void **state)
{
	static const char *good[] = {
		"x.test", "localhost", "client.example.com", "MiXeD.Example", "192.0.2.1",
		"[127.0.0.1]", "[IPv6:::1]", "[ipv6:2001:db8::1]", "a-b.c",
		/* tolerated like Postfix: the name proves nothing */
		"x.test.", "my_host", "DESKTOP-1_2",
	};
	static const char *bad[] = {
		"x test", ("b\xc3\xbc" "cher.example"), "x.test\r", "x\ty", "x\x7f",
	};
	char s[300];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		OK(smtp_helo_check(good[i], strlen(good[i])), good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		REPLY(smtp_helo_check(bad[i], strlen(bad[i])), "501 5.5.4", bad[i]);
	REPLY(smtp_helo_check("", 0), "501 5.5.4", "empty");
	REPLY(smtp_helo_check("x\0y", 3), "501 5.5.4", "NUL");
	/* 63 + 1 + 63 + 1 + 63 + 1 + 63 = 255 octets. */
	fill(s, 'h', 255);
	s[63] = s[127] = s[191] = '.';
	OK(smtp_helo_check(s, 255), "255");
	s[255] = 'h';
	s[256] = '\0';
	REPLY(smtp_helo_check(s, 256), "501 5.5.4", "256");
}

/* ---- whole lines, as the session sees them -------------------------------- */

static void
test_line_to_mail(void **state)
{
	struct smtp_cmd c;
	struct smtp_path p;
	struct smtp_mail_params mp;
	struct smtp_rcpt_params rp;
	const char *l = "mail from: <Alice@Example.TEST>  SIZE=42 BODY=8BITMIME  ";

	(void)state;
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.verb, SMTP_VERB_MAIL);
	OK(smtp_mail_parse(c.arg, c.arglen, &ext_all, &p, &mp), l);
	assert_string_equal(p.addr, "Alice@example.test");
	assert_int_equal(mp.size, 42);
	assert_int_equal(mp.body, SMTP_BODY_8BITMIME);
	l = "RCPT TO:<bob@example.test> NOTIFY=FAILURE ORCPT=rfc822;bob@example.test";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.verb, SMTP_VERB_RCPT);
	OK(smtp_rcpt_parse(c.arg, c.arglen, &ext_all, &p, &rp), l);
	assert_int_equal(rp.notify, SMTP_NOTIFY_FAILURE);
	l = "BDAT 512 LAST";
	OK(smtp_cmd_parse(l, strlen(l), &c), l);
	assert_int_equal(c.verb, SMTP_VERB_BDAT);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmd_every_verb),
		cmocka_unit_test(test_cmd_argument),
		cmocka_unit_test(test_cmd_explicit_length),
		cmocka_unit_test(test_cmd_unknown),
		cmocka_unit_test(test_cmd_bad_bytes),
		cmocka_unit_test(test_path_null),
		cmocka_unit_test(test_path_simple),
		cmocka_unit_test(test_path_percent_bang),
		cmocka_unit_test(test_path_dot_string),
		cmocka_unit_test(test_path_quoted),
		cmocka_unit_test(test_path_utf8),
		cmocka_unit_test(test_path_utf8_malformed),
		cmocka_unit_test(test_path_domain_rules),
		cmocka_unit_test(test_path_nul_inside),
		cmocka_unit_test(test_path_literal),
		cmocka_unit_test(test_path_source_route),
		cmocka_unit_test(test_path_lengths),
		cmocka_unit_test(test_path_postmaster),
		cmocka_unit_test(test_mail_basic),
		cmocka_unit_test(test_mail_syntax),
		cmocka_unit_test(test_mail_size),
		cmocka_unit_test(test_mail_body),
		cmocka_unit_test(test_mail_smtputf8_ret),
		cmocka_unit_test(test_mail_envid),
		cmocka_unit_test(test_mail_auth),
		cmocka_unit_test(test_mail_params_general),
		cmocka_unit_test(test_mail_params_disabled),
		cmocka_unit_test(test_rcpt_basic),
		cmocka_unit_test(test_rcpt_notify),
		cmocka_unit_test(test_rcpt_orcpt),
		cmocka_unit_test(test_bdat),
		cmocka_unit_test(test_xtext_decode),
		cmocka_unit_test(test_xtext_encode),
		cmocka_unit_test(test_xtext_roundtrip),
		cmocka_unit_test(test_helo),
		cmocka_unit_test(test_line_to_mail),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
