/*
 * test_sendmail_headers.c - ferry-sendmail's message handling without a
 * daemon: RFC 5322 address lists (names, quoted commas, groups, comments,
 * routes, unqualified names), -t extraction with folded and Resent- fields,
 * Bcc: removal, de-duplication; then standard input as the injector reads
 * it (line ends, the "." line, header/body split, long-line folding, the
 * temporary file) and the From:/Date:/Message-ID: fields it adds.
 * STANDARDS: RFC 5322 2.1.1, 2.2, 3.4, 3.6.3, 3.6.6; RFC 5321 4.5.2;
 * RFC 2047; RFC 6532.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sysexits.h>
#include <unistd.h>

#include <cmocka.h>

#include "sendmail/sendmail_compose.h"
#include "sendmail/sendmail_headers.h"
#include "sendmail/sendmail_msg.h"

/* ---- helpers ----------------------------------------------------------- */

/* Parse s with domain "example.test"; the addresses joined by " " (or
 * "ERR: reason"). The caller frees. */
static char *
parse(const char *s)
{
	struct sendmail_rcpts r = { 0 };
	char err[256], *out = calloc(1, 8192);

	if (sendmail_addrlist_parse(s, strlen(s), "example.test", &r, err, sizeof(err)) < 0) {
		snprintf(out, 8192, "ERR: %s", err);
	} else {
		for (size_t i = 0; i < r.n; i++) {
			if (i > 0)
				strcat(out, " ");
			strcat(out, r.v[i]);
		}
	}
	sendmail_rcpts_free(&r);
	return out;
}

static void
check_parse(const char *in, const char *want, int line)
{
	char *got = parse(in);

	if (strcmp(got, want) != 0)
		fail_msg("line %d: \"%s\": expected \"%s\", got \"%s\"", line, in, want, got);
	free(got);
}

static void
check_parse_err(const char *in, int line)
{
	char *got = parse(in);

	if (strncmp(got, "ERR: ", 5) != 0)
		fail_msg("line %d: \"%s\": expected an error, got \"%s\"", line, in, got);
	free(got);
}

#define PARSE(in, want) check_parse((in), (want), __LINE__)
#define PARSE_ERR(in)   check_parse_err((in), __LINE__)

static void
headers_add(struct sendmail_headers *h, const char *const *lines)
{
	for (; *lines != NULL; lines++)
		assert_int_equal(sendmail_headers_line_add(h, *lines, strlen(*lines)), SENDMAIL_HDR_ADDED);
}

/* ---- address lists ----------------------------------------------------- */

static void
test_addrlist_basic(void **state)
{
	(void)state;
	PARSE("alice@example.test", "alice@example.test");
	PARSE("  alice@example.test  ,bob@example.test", "alice@example.test bob@example.test");
	PARSE("Alice <alice@example.test>", "alice@example.test");
	PARSE("Alice Q. Public <alice@example.test>, <bob@example.test>",
	    "alice@example.test bob@example.test");
	PARSE("\"Doe, John\" <john@example.test>, \"a \\\" b, c\" <c@example.test>",
	    "john@example.test c@example.test");
	PARSE("Bob@EXAMPLE.Test", "Bob@example.test");   /* domain lowercased, local part kept */
	PARSE("john.q.public@sub.example.test", "john.q.public@sub.example.test");
	PARSE("john . doe @ example . test", "john.doe@example.test");   /* obs CFWS around dots */
	PARSE("\"a b\"@example.test", "\"a b\"@example.test");
	PARSE("a@[127.0.0.1]", "a@[127.0.0.1]");
	PARSE("", "");
	PARSE(" , ,, ", "");
	PARSE("x@example.test,", "x@example.test");
}

static void
test_addrlist_groups_comments(void **state)
{
	(void)state;
	PARSE("undisclosed-recipients:;", "");
	PARSE("Team: a@example.test, B <b@example.test>; c@example.test",
	    "a@example.test b@example.test c@example.test");
	PARSE("Team: a@example.test", "a@example.test");   /* an unclosed group at the end */
	PARSE("a@example.test (Alice, the first)", "a@example.test");
	PARSE("(lead (nested, comment)) a@example.test", "a@example.test");
	PARSE("Alice (x) <alice(y)@example.test>", "alice@example.test");
	PARSE("<@relay.test,@other.test:a@example.test>", "a@example.test");   /* route dropped */
	PARSE_ERR("Team: a@example.test; more: b@example.test, c:d@example.test;");
	PARSE_ERR("a@example.test;");
	PARSE_ERR("<@relay.test a@example.test>");
}

static void
test_addrlist_unqualified(void **state)
{
	struct sendmail_rcpts r = { 0 };
	char err[128];

	(void)state;
	PARSE("alice", "alice@example.test");
	PARSE("Root <root>, cron", "root@example.test cron@example.test");
	assert_int_equal(sendmail_addrlist_parse("alice", 5, NULL, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "without a domain"));
	sendmail_rcpts_free(&r);
}

static void
test_addrlist_errors(void **state)
{
	(void)state;
	PARSE_ERR("John Doe");                  /* two words: not an address */
	PARSE_ERR("a b@example.test");
	PARSE_ERR("<a@example.test");
	PARSE_ERR("a@example.test>");
	PARSE_ERR("<<a@example.test>>");
	PARSE_ERR("<a@example.test> trailing");
	PARSE_ERR("<>");
	PARSE_ERR("\"unterminated@example.test");
	PARSE_ERR("(unbalanced a@example.test");
	PARSE_ERR("a@[127.0.0.1");
	PARSE_ERR("a@example.test)");
	PARSE_ERR("a@");
	PARSE_ERR("@example.test");
	PARSE_ERR("a..b@example.test");
	PARSE_ERR("a.@example.test");
	PARSE_ERR("a@example..test");
	PARSE_ERR("a@example.test.");
	PARSE_ERR("a@[1.2.3.4].test");
	/* CR, LF, NUL or any control character never reach an SMTP command */
	PARSE_ERR("a@example.test\r\nRCPT TO:<x@evil.test>");
	PARSE_ERR("a\x01@example.test");
	PARSE_ERR("\"a\x7f\"@example.test");
	/* over-long local part (64 max) and path */
	PARSE_ERR("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa@example.test");
	PARSE_ERR("a@bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
	    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb.test");
	/* UTF-8 must be well-formed */
	PARSE_ERR("j\xc3@example.test");
}

static void
test_addrlist_utf8(void **state)
{
	struct sendmail_rcpts r = { 0 };
	char err[128];
	const char *s = "J\xc3\xb6rg <j\xc3\xb6rg@example.test>";

	(void)state;
	assert_int_equal(sendmail_addrlist_parse("a@example.test", 14, NULL, &r, err, sizeof(err)), 0);
	assert_false(r.utf8);
	assert_int_equal(sendmail_addrlist_parse(s, strlen(s), NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[1], "j\xc3\xb6rg@example.test");
	assert_true(r.utf8);
	sendmail_rcpts_free(&r);
}

/* Error messages go to a terminal: the echoed address is masked and cut. */
static void
test_addrlist_error_text(void **state)
{
	struct sendmail_rcpts r = { 0 };
	const char *esc = "a b \"\x1b[31m\"";
	char err[256], in[400];

	(void)state;
	assert_int_equal(sendmail_addrlist_parse(esc, strlen(esc), NULL, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "bad address"));
	for (const char *p = err; *p != '\0'; p++)
		assert_true(*p >= 32 && *p < 127);
	memset(in, 'x', sizeof(in));
	assert_int_equal(sendmail_addrlist_parse(in, sizeof(in), NULL, &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	assert_true(strlen(err) < 120);
	assert_int_equal(r.n, 0);
	sendmail_rcpts_free(&r);
}

/* ---- header section, -t, Bcc ------------------------------------------- */

static void
test_headers_lines(void **state)
{
	struct sendmail_headers h = { 0 };
	size_t len;
	char *v;

	(void)state;
	assert_int_equal(sendmail_headers_line_add(&h, " folded", 7), SENDMAIL_HDR_NOT_HEADER);
	assert_int_equal(sendmail_headers_line_add(&h, "hello world", 11), SENDMAIL_HDR_NOT_HEADER);
	assert_int_equal(sendmail_headers_line_add(&h, ": x", 3), SENDMAIL_HDR_NOT_HEADER);
	assert_int_equal(sendmail_headers_line_add(&h, "To: a@example.test,", 19), SENDMAIL_HDR_ADDED);
	assert_int_equal(sendmail_headers_line_add(&h, "\tb@example.test", 15), SENDMAIL_HDR_ADDED);
	assert_int_equal(sendmail_headers_line_add(&h, "Subject : obsolete space", 24), SENDMAIL_HDR_ADDED);
	assert_int_equal(h.n, 2);
	assert_string_equal(h.v[0].text, "To: a@example.test,\r\n\tb@example.test");
	assert_int_equal(h.v[1].namelen, 7);
	v = sendmail_field_value(&h.v[0], &len);
	assert_string_equal(v, " a@example.test,\tb@example.test");
	assert_int_equal(len, strlen(v));
	free(v);
	assert_true(sendmail_headers_has(&h, "to"));
	assert_true(sendmail_headers_has(&h, "SUBJECT"));
	assert_false(sendmail_headers_has(&h, "From"));
	assert_true(sendmail_headers_line_is_header(&h, " more", 5));
	assert_false(sendmail_headers_line_is_header(&h, "no colon here", 13));
	sendmail_headers_free(&h);
}

static void
test_headers_too_big(void **state)
{
	struct sendmail_headers h = { 0 };
	char line[1000];
	enum sendmail_hdr_add r;
	size_t n = 0;

	(void)state;
	memset(line, 'x', sizeof(line));
	memcpy(line, "X-Fill: ", 8);
	while ((r = sendmail_headers_line_add(&h, line, sizeof(line))) == SENDMAIL_HDR_ADDED)
		n++;
	assert_int_equal(r, SENDMAIL_HDR_TOO_BIG);
	assert_int_equal(n, SENDMAIL_HDR_MAX / 1002);
	assert_true(h.bytes <= SENDMAIL_HDR_MAX);
	/* a body line is still a body line when the section is full */
	assert_int_equal(sendmail_headers_line_add(&h, "plain text", 10), SENDMAIL_HDR_NOT_HEADER);
	sendmail_headers_free(&h);
}

static void
test_headers_rcpts(void **state)
{
	static const char *const lines[] = {
		"From: Cron Daemon <cron@example.test>",
		"To: alice@example.test, \"Smith, Bob\"",
		"  <bob@example.test>",
		"cc: Team: carol@example.test,",
		"\tdave@example.test;",
		"BCC: eve@example.test",
		"Subject: To: not@example.test",
		"X-To: nor@example.test",
		NULL,
	};
	struct sendmail_headers h = { 0 };
	struct sendmail_rcpts r = { 0 };
	char err[256];

	(void)state;
	headers_add(&h, lines);
	assert_int_equal(sendmail_headers_rcpts(&h, "example.test", &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 5);
	assert_string_equal(r.v[0], "alice@example.test");
	assert_string_equal(r.v[1], "bob@example.test");
	assert_string_equal(r.v[2], "carol@example.test");
	assert_string_equal(r.v[3], "dave@example.test");
	assert_string_equal(r.v[4], "eve@example.test");
	sendmail_headers_bcc_remove(&h);
	assert_false(sendmail_headers_has(&h, "Bcc"));
	assert_true(h.v[3].removed);
	assert_true(sendmail_headers_has(&h, "To"));
	sendmail_rcpts_free(&r);
	sendmail_headers_free(&h);
}

static void
test_headers_resent(void **state)
{
	static const char *const lines[] = {
		"To: original@example.test",
		"Resent-To: again@example.test",
		"Resent-Bcc: hidden@example.test",
		"Bcc: old-hidden@example.test",
		NULL,
	};
	struct sendmail_headers h = { 0 };
	struct sendmail_rcpts r = { 0 };
	char err[256];

	(void)state;
	headers_add(&h, lines);
	assert_int_equal(sendmail_headers_rcpts(&h, NULL, &r, err, sizeof(err)), 0);
	assert_int_equal(r.n, 2);
	assert_string_equal(r.v[0], "again@example.test");
	assert_string_equal(r.v[1], "hidden@example.test");
	sendmail_headers_bcc_remove(&h);
	assert_false(sendmail_headers_has(&h, "Resent-Bcc"));
	assert_false(sendmail_headers_has(&h, "Bcc"));
	assert_true(sendmail_headers_has(&h, "Resent-To"));
	sendmail_rcpts_free(&r);
	sendmail_headers_free(&h);
}

static void
test_headers_rcpts_error(void **state)
{
	static const char *const lines[] = { "To: ok@example.test", "Cc: John Doe", NULL };
	struct sendmail_headers h = { 0 };
	struct sendmail_rcpts r = { 0 };
	char err[256];

	(void)state;
	headers_add(&h, lines);
	assert_int_equal(sendmail_headers_rcpts(&h, "example.test", &r, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "Cc: header"));
	assert_non_null(strstr(err, "John Doe"));
	sendmail_rcpts_free(&r);
	sendmail_headers_free(&h);
}

static void
test_rcpts_dedup(void **state)
{
	struct sendmail_rcpts r = { 0 };
	char err[64];
	const char *s = "c@example.test, a@example.test, c@EXAMPLE.test, A@example.test, a@example.test, b";

	(void)state;
	assert_int_equal(sendmail_addrlist_parse(s, strlen(s), "example.test", &r, err, sizeof(err)), 0);
	sendmail_rcpts_dedup(&r);
	assert_int_equal(r.n, 4);
	assert_string_equal(r.v[0], "c@example.test");
	assert_string_equal(r.v[1], "a@example.test");
	assert_string_equal(r.v[2], "A@example.test");   /* local parts are case-sensitive */
	assert_string_equal(r.v[3], "b@example.test");
	sendmail_rcpts_free(&r);
}

/* ---- standard input ---------------------------------------------------- */

struct content {
	char  *buf;
	size_t len;
};

static int
content_cb(void *arg, const char *buf, size_t len)
{
	struct content *c = arg;

	c->buf = realloc(c->buf, c->len + len + 1);
	memcpy(c->buf + c->len, buf, len);
	c->len += len;
	c->buf[c->len] = '\0';
	return 0;
}

/* Run in through the reader as main.c does (extra fields, if any, are
 * added); returns the sysexits result, the content in *out. */
static int
read_msg(const char *in, size_t inlen, bool dot_ends, uint64_t max, char *const *extra,
    size_t nextra, struct content *out, struct sendmail_msg *m)
{
	FILE *f = tmpfile();
	int rc;

	assert_non_null(f);
	assert_int_equal(fwrite(in, 1, inlen, f), inlen);
	fflush(f);
	rewind(f);
	sendmail_msg_init(m, fileno(f), dot_ends, max);
	out->buf = NULL;
	out->len = 0;
	if ((rc = sendmail_msg_headers_read(m)) == 0)
		rc = sendmail_msg_headers_write(m, extra, nextra);
	if (rc == 0)
		rc = sendmail_msg_body_read(m);
	if (rc == 0)
		assert_int_equal(sendmail_msg_content_each(m, content_cb, out), 0);
	fclose(f);
	return rc;
}

static void
check_msg(const char *in, bool dot_ends, const char *want, int line)
{
	struct sendmail_msg m;
	struct content c;
	int rc = read_msg(in, strlen(in), dot_ends, 1 << 20, NULL, 0, &c, &m);

	if (rc != 0)
		fail_msg("line %d: failed with %d: %s", line, rc, m.err);
	if (c.len != strlen(want) || memcmp(c.buf, want, c.len) != 0)
		fail_msg("line %d: expected \"%s\", got \"%.*s\"", line, want, (int)c.len, c.buf);
	assert_int_equal(m.out.size, c.len);
	free(c.buf);
	sendmail_msg_free(&m);
}

#define MSG(in, dot, want) check_msg((in), (dot), (want), __LINE__)

static void
test_msg_line_ends(void **state)
{
	(void)state;
	MSG("Subject: a\nX: b\r\n\nbody\r\nline\n", true, "Subject: a\r\nX: b\r\n\r\nbody\r\nline\r\n");
	MSG("Subject: a\n\nno final newline", true, "Subject: a\r\n\r\nno final newline\r\n");
	MSG("Subject: a\n\nbare\rcr\r\r\nx\n", true, "Subject: a\r\n\r\nbarecr\r\nx\r\n");
	MSG("", true, "\r\n");
	MSG("\n\n\n", true, "\r\n\r\n\r\n");
}

static void
test_msg_dot(void **state)
{
	(void)state;
	MSG("Subject: a\n\none\n.\ntwo\n", true, "Subject: a\r\n\r\none\r\n");
	MSG("Subject: a\n\none\n.\ntwo\n", false, "Subject: a\r\n\r\none\r\n.\r\ntwo\r\n");
	MSG("Subject: a\n\none\n.\r\ntwo\n", true, "Subject: a\r\n\r\none\r\n");
	MSG("Subject: a\n.\nbody\n", true, "Subject: a\r\n\r\n");        /* in the header section */
	MSG("Subject: a\n\n..\n.x\n . \n", true, "Subject: a\r\n\r\n..\r\n.x\r\n . \r\n");
	MSG("Subject: a\n\nlast\n.", true, "Subject: a\r\n\r\nlast\r\n");   /* "." without LF at EOF */
}

static void
test_msg_header_body_split(void **state)
{
	(void)state;
	/* a line that is not a field starts the body; the empty line is added */
	MSG("Subject: a\nplain text\nmore\n", true, "Subject: a\r\n\r\nplain text\r\nmore\r\n");
	MSG("just a body\n", true, "\r\njust a body\r\n");
	MSG(" indented first\n", true, "\r\n indented first\r\n");
	/* an mbox envelope line first is dropped */
	MSG("From someone Tue Jan  7 10:00:00 2025\nSubject: a\n\nb\n", true, "Subject: a\r\n\r\nb\r\n");
	MSG("Subject: a\nFrom someone\n\nb\n", true, "Subject: a\r\n\r\nFrom someone\r\n\r\nb\r\n");
	/* folded fields come out as they went in */
	MSG("To: a@example.test,\n  b@example.test\nSubject: x\n\nb\n", true,
	    "To: a@example.test,\r\n  b@example.test\r\nSubject: x\r\n\r\nb\r\n");
}

/* Every output line ends in CRLF, is at most 998 octets, and no CR or LF
 * stands alone. Returns the number of lines. */
static size_t
check_lines(const struct content *c)
{
	size_t n = 0, start = 0;

	for (size_t i = 0; i < c->len; i++) {
		if (c->buf[i] == '\r') {
			assert_true(i + 1 < c->len && c->buf[i + 1] == '\n');
			assert_true(i - start <= SENDMAIL_LINE_MAX);
			n++;
			start = i + 2;
			i++;
		} else {
			assert_true(c->buf[i] != '\n');
		}
	}
	assert_int_equal(start, c->len);
	return n;
}

static void
test_msg_long_lines(void **state)
{
	char *in = malloc(8000), *p;
	struct sendmail_msg m;
	struct content c;

	(void)state;
	/* body line without spaces: broken at 998 */
	p = in + sprintf(in, "Subject: a\n\n");
	memset(p, 'x', 2500);
	strcpy(p + 2500, "\n");
	assert_int_equal(read_msg(in, strlen(in), true, 1 << 20, NULL, 0, &c, &m), 0);
	assert_int_equal(check_lines(&c), 2 + 3);
	assert_int_equal(c.len, strlen(in) + 3 + 2 * 2);   /* 3 LF become CRLF, 2 breaks */
	assert_memory_equal(c.buf + 14 + 998, "\r\n", 2);
	free(c.buf);
	sendmail_msg_free(&m);

	/* body line with spaces: broken before the last space that fits */
	p = in + sprintf(in, "Subject: a\n\n");
	for (int i = 0; i < 300; i++)
		p += sprintf(p, "word%03d ", i);
	strcpy(p, "\n");
	assert_int_equal(read_msg(in, strlen(in), true, 1 << 20, NULL, 0, &c, &m), 0);
	check_lines(&c);
	assert_non_null(strstr(c.buf, "word123\r\n word124"));
	free(c.buf);
	sendmail_msg_free(&m);

	/* a header line is folded at whitespace: unfolding restores it */
	p = in + sprintf(in, "To: ");
	for (int i = 0; i < 200; i++)
		p += sprintf(p, "u%03d@example.test, ", i);
	strcpy(p, "\n\nb\n");
	assert_int_equal(read_msg(in, strlen(in), true, 1 << 20, NULL, 0, &c, &m), 0);
	check_lines(&c);
	assert_int_equal(m.hdr.n, 1);
	assert_int_equal(c.len, strlen(in) + 3 + 2 * 3);   /* 3 LF + 3 folds */
	free(c.buf);
	sendmail_msg_free(&m);

	/* a header value without whitespace: folded after the colon, then
	 * broken with CRLF SP */
	p = in + sprintf(in, "X-Long: ");
	memset(p, 'y', 1500);
	strcpy(p + 1500, "\n\nb\n");
	assert_int_equal(read_msg(in, strlen(in), true, 1 << 20, NULL, 0, &c, &m), 0);
	assert_int_equal(check_lines(&c), 3 + 2);
	assert_memory_equal(c.buf, "X-Long:\r\n yyy", 13);
	assert_memory_equal(c.buf + 9 + 998, "\r\n yyy", 6);
	free(c.buf);
	sendmail_msg_free(&m);
	free(in);
}

static void
test_msg_long_line_utf8(void **state)
{
	char in[3000], *p;
	struct sendmail_msg m;
	struct content c;

	(void)state;
	p = in + sprintf(in, "S: a\n\n");
	memset(p, 'x', 997);
	strcpy(p + 997, "\xc3\xa9\xe2\x82\xac tail\n");   /* é straddles octet 998 */
	assert_int_equal(read_msg(in, strlen(in), true, 1 << 20, NULL, 0, &c, &m), 0);
	check_lines(&c);
	/* "x"*997 then the space search finds nothing before: break before é */
	assert_memory_equal(c.buf + 8 + 997, "\r\n\xc3\xa9", 4);
	assert_true(m.out.eightbit);
	free(c.buf);
	sendmail_msg_free(&m);
}

static void
test_msg_limits(void **state)
{
	char *in = malloc(SENDMAIL_HDR_MAX + 4096), *p;
	struct sendmail_msg m;
	struct content c;

	(void)state;
	assert_int_equal(read_msg("S: a\n\n0123456789\n", 17, true, 12, NULL, 0, &c, &m), EX_DATAERR);
	assert_non_null(strstr(m.err, "too large"));
	sendmail_msg_free(&m);

	/* one field line longer than the whole header section */
	p = in + sprintf(in, "X-Big: ");
	memset(p, 'z', SENDMAIL_HDR_MAX + 100);
	strcpy(p + SENDMAIL_HDR_MAX + 100, "\n\nb\n");
	assert_int_equal(read_msg(in, strlen(in), true, 1ull << 30, NULL, 0, &c, &m), EX_DATAERR);
	assert_non_null(strstr(m.err, "header section"));
	sendmail_msg_free(&m);

	/* the same length as a first body line is fine (and gets broken) */
	memset(in, 'z', SENDMAIL_HDR_MAX + 100);
	strcpy(in + SENDMAIL_HDR_MAX + 100, "\n");
	assert_int_equal(read_msg(in, strlen(in), true, 1ull << 30, NULL, 0, &c, &m), 0);
	check_lines(&c);
	assert_false(m.out.eightbit);
	free(c.buf);
	sendmail_msg_free(&m);
	free(in);
}

/* Past SENDMAIL_MEM_MAX the content goes to a temporary file and comes
 * back unchanged. */
static void
test_msg_spill(void **state)
{
	size_t nlines = 3 * SENDMAIL_MEM_MAX / 64;
	char *in = malloc(nlines * 64 + 64), *want = malloc(nlines * 66 + 64), *p = in, *w = want;
	struct sendmail_msg m;
	struct content c;

	(void)state;
	p += sprintf(p, "Subject: big\n\n");
	w += sprintf(w, "Subject: big\r\n\r\n");
	for (size_t i = 0; i < nlines; i++) {
		p += sprintf(p, "%s%061zu\n", i % 7 == 0 ? "." : "", i);
		w += sprintf(w, "%s%061zu\r\n", i % 7 == 0 ? "." : "", i);
	}
	assert_int_equal(read_msg(in, (size_t)(p - in), false, 1ull << 30, NULL, 0, &c, &m), 0);
	assert_non_null(m.out.spill);
	assert_true(m.out.memlen <= SENDMAIL_MEM_MAX);
	assert_int_equal(c.len, (size_t)(w - want));
	assert_memory_equal(c.buf, want, c.len);
	free(c.buf);
	sendmail_msg_free(&m);
	free(in);
	free(want);
}

static void
test_msg_extra_fields(void **state)
{
	char *extra[2] = { "From: root@example.test", "Date: Tue, 07 Jan 2025 10:00:00 +0000" };

	struct sendmail_msg m;
	struct content c;
	const char *in = "Subject: s\nBcc: hidden@example.test\n\nbody\n";

	(void)state;
	assert_int_equal(read_msg(in, strlen(in), true, 1 << 20, extra, 2, &c, &m), 0);
	assert_string_equal(c.buf, "Subject: s\r\nBcc: hidden@example.test\r\nFrom: root@example.test\r\n"
	    "Date: Tue, 07 Jan 2025 10:00:00 +0000\r\n\r\nbody\r\n");
	free(c.buf);
	sendmail_msg_free(&m);
}

/* ---- added fields ------------------------------------------------------ */

static void
test_compose_from(void **state)
{
	char *s;

	(void)state;
	s = sendmail_compose_from(NULL, "cron@example.test");
	assert_string_equal(s, "From: cron@example.test");
	free(s);
	s = sendmail_compose_from("Cron Daemon", "cron@example.test");
	assert_string_equal(s, "From: Cron Daemon <cron@example.test>");
	free(s);
	s = sendmail_compose_from("Doe, \"J.\" \\o/", "j@example.test");
	assert_string_equal(s, "From: \"Doe, \\\"J.\\\" \\\\o/\" <j@example.test>");
	free(s);
	/* a newline in -F cannot start a header line */
	s = sendmail_compose_from("x\r\nBcc: victim@example.test", "j@example.test");
	assert_null(strchr(s, '\r'));
	assert_null(strchr(s, '\n'));
	free(s);
	s = sendmail_compose_from("  ", "j@example.test");
	assert_string_equal(s, "From: j@example.test");
	free(s);
	s = sendmail_compose_from("J\xc3\xb6rg", "j@example.test");
	assert_string_equal(s, "From: =?UTF-8?B?SsO2cmc=?= <j@example.test>");
	free(s);
}

/* A long non-ASCII name: several encoded words of at most 75 octets, each
 * holding whole UTF-8 characters. */
static void
test_compose_from_long(void **state)
{
	char name[200], *s, *w;

	(void)state;
	for (int i = 0; i < 60; i++)
		memcpy(name + 2 * i, "\xc3\xa9", 2);
	memcpy(name + 120, "x", 2);
	s = sendmail_compose_from(name, "j@example.test");
	w = s + 6;
	while (strncmp(w, "=?UTF-8?B?", 10) == 0) {
		char *end = strstr(w, "?=");
		assert_non_null(end);
		assert_true(end + 2 - w <= 75);
		assert_int_equal((end - w - 10) % 4, 0);
		w = end + 3;
	}
	assert_string_equal(w - 1, " <j@example.test>");
	free(s);
}

static void
test_compose_date_msgid(void **state)
{
	char *d = sendmail_compose_date(1736244000), *a, *b;

	(void)state;
	assert_int_equal(strncmp(d, "Date: ", 6), 0);
	assert_non_null(strstr(d, "Jan 2025"));
	assert_true(d[strlen(d) - 5] == '+' || d[strlen(d) - 5] == '-');
	a = sendmail_compose_message_id("mx.example.test", 1736244000);
	b = sendmail_compose_message_id("mx.example.test", 1736244000);
	assert_int_equal(strncmp(a, "Message-ID: <20250107100000.", 28), 0);
	assert_string_equal(a + strlen(a) - 17, "@mx.example.test>");
	assert_string_not_equal(a, b);
	free(a);
	a = sendmail_compose_message_id("bad host>\r\n", 0);
	assert_string_equal(a + strlen(a) - 11, "@localhost>");
	free(a);
	free(b);
	free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_addrlist_basic),
		cmocka_unit_test(test_addrlist_groups_comments),
		cmocka_unit_test(test_addrlist_unqualified),
		cmocka_unit_test(test_addrlist_errors),
		cmocka_unit_test(test_addrlist_utf8),
		cmocka_unit_test(test_addrlist_error_text),
		cmocka_unit_test(test_headers_lines),
		cmocka_unit_test(test_headers_too_big),
		cmocka_unit_test(test_headers_rcpts),
		cmocka_unit_test(test_headers_resent),
		cmocka_unit_test(test_headers_rcpts_error),
		cmocka_unit_test(test_rcpts_dedup),
		cmocka_unit_test(test_msg_line_ends),
		cmocka_unit_test(test_msg_dot),
		cmocka_unit_test(test_msg_header_body_split),
		cmocka_unit_test(test_msg_long_lines),
		cmocka_unit_test(test_msg_long_line_utf8),
		cmocka_unit_test(test_msg_limits),
		cmocka_unit_test(test_msg_spill),
		cmocka_unit_test(test_msg_extra_fields),
		cmocka_unit_test(test_compose_from),
		cmocka_unit_test(test_compose_from_long),
		cmocka_unit_test(test_compose_date_msgid),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
