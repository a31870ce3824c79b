/* test_bounce.c - delivery status notifications: MIME structure, per-recipient
 * fields, cleaning and folding of peer text, RET=HDRS/FULL and the size cap,
 * and a parse by Python's email package as a real peer. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "delivery/bounce.h"

#define PREFIX_LEN 37   /* the content starts after other spool records */

static const char ORIG[] =
    "Received: from client.example (client.example [192.0.2.1])\r\n"
    "\tby mx.ferry.test with ESMTP id 0123456789ABCDEF\r\n"
    "From: alice@example.test\r\n"
    "To: x@remote.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "body line\r\n"
    ".dot line\r\n";

struct dsn {
	char  *text;
	size_t len;
};

/* A file holding some other bytes, then content; returns the fd. */
static int
content_file(const char *content, size_t len)
{
	char path[] = "/tmp/ferry-test-bounce-XXXXXX";
	char prefix[PREFIX_LEN];
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	memset(prefix, 'Z', sizeof(prefix));
	assert_int_equal(write(fd, prefix, sizeof(prefix)), (ssize_t)sizeof(prefix));
	assert_int_equal(write(fd, content, len), (ssize_t)len);
	return fd;
}

static struct bounce_rcpt
rcpt_failed(const char *addr)
{
	struct bounce_rcpt r = {
		.addr = addr, .action = BOUNCE_FAILED, .status = "5.1.1",
		.remote_mta = "mx.remote.test[127.0.0.2]:25",
		.diagnostic = "smtp; 550 5.1.1 <x@remote.test>: no such user",
		.last_attempt = 1700000000,
	};
	return r;
}

static struct bounce_info
info_new(int fd, const struct bounce_rcpt *rcpts, size_t n)
{
	struct bounce_info b = {
		.reporting_mta = "mx.ferry.test", .postmaster = "MAILER-DAEMON@mx.ferry.test",
		.to = "alice@example.test", .queue_id = "0123456789ABCDEF", .envid = NULL,
		.arrival = 1699990000, .return_full = true, .rcpts = rcpts, .nrcpts = n,
		.content_fd = fd, .content_off = PREFIX_LEN, .content_len = sizeof(ORIG) - 1,
		.max_return = 1024 * 1024,
	};
	return b;
}

static struct dsn
build(const struct bounce_info *b)
{
	struct dsn d = { NULL, 0 };

	assert_int_equal(bounce_build(b, &d.text, &d.len), 0);
	assert_non_null(d.text);
	return d;
}

/* Every line ends in CRLF, no bare CR or LF, none longer than 998 octets;
 * returns the longest line. */
static size_t
check_lines(const struct dsn *d)
{
	size_t col = 0, longest = 0;

	assert_true(d->len >= 2);
	assert_memory_equal(d->text + d->len - 2, "\r\n", 2);
	for (size_t i = 0; i < d->len; i++) {
		if (d->text[i] == '\r') {
			assert_true(i + 1 < d->len && d->text[i + 1] == '\n');
			if (col > longest)
				longest = col;
			col = 0;
			i++;
		} else {
			assert_true(d->text[i] != '\n');
			col++;
		}
	}
	assert_true(longest <= 998);
	return longest;
}

/* The boundary parameter of the top-level Content-Type. */
static void
boundary_of(const struct dsn *d, char *out, size_t outsz)
{
	const char *p = strstr(d->text, "boundary=\"");
	const char *e;

	assert_non_null(p);
	p += strlen("boundary=\"");
	e = strchr(p, '"');
	assert_non_null(e);
	assert_true((size_t)(e - p) < outsz && e - p > 0 && e - p <= 70);
	memcpy(out, p, (size_t)(e - p));
	out[e - p] = '\0';
}

static size_t
count(const char *hay, const char *needle)
{
	size_t n = 0;

	for (const char *p = strstr(hay, needle); p != NULL; p = strstr(p + 1, needle))
		n++;
	return n;
}

/* Whether some line starts with prefix. */
static bool
has_line(const struct dsn *d, const char *prefix)
{
	size_t n = strlen(prefix);

	if (strncmp(d->text, prefix, n) == 0)
		return true;
	for (const char *p = strstr(d->text, "\r\n"); p != NULL; p = strstr(p + 2, "\r\n"))
		if (strncmp(p + 2, prefix, n) == 0)
			return true;
	return false;
}

static void
test_structure(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	struct dsn d = build(&b);
	char bnd[80], delim[100], close_delim[100];
	const char *body;

	(void)state;
	check_lines(&d);
	body = strstr(d.text, "\r\n\r\n");
	assert_non_null(body);
	assert_true(has_line(&d, "From: Mail Delivery System <MAILER-DAEMON@mx.ferry.test>\r\n"));
	assert_true(has_line(&d, "To: <alice@example.test>\r\n"));
	assert_true(has_line(&d, "Subject: Undelivered Mail Returned to Sender\r\n"));
	assert_true(has_line(&d, "Date: "));
	assert_true(has_line(&d, "Message-ID: <"));
	assert_non_null(strstr(d.text, ".0123456789ABCDEF@mx.ferry.test>\r\n"));
	assert_true(has_line(&d, "Auto-Submitted: auto-replied\r\n"));
	assert_true(has_line(&d, "MIME-Version: 1.0\r\n"));
	assert_true(has_line(&d, "Content-Type: multipart/report; report-type=delivery-status;"));
	/* all of these are in the header, before the first blank line */
	assert_true(strstr(d.text, "Auto-Submitted:") < body);
	assert_true(strstr(d.text, "Content-Type: multipart/report") < body);

	boundary_of(&d, bnd, sizeof(bnd));
	assert_non_null(strstr(bnd, "0123456789ABCDEF"));
	snprintf(delim, sizeof(delim), "\r\n--%s\r\n", bnd);
	snprintf(close_delim, sizeof(close_delim), "\r\n--%s--\r\n", bnd);
	assert_int_equal(count(d.text, delim), 3);
	assert_int_equal(count(d.text, close_delim), 1);
	assert_int_equal(count(d.text, bnd), 5);   /* parameter, 3 delimiters, close */
	assert_string_equal(d.text + d.len - strlen(close_delim), close_delim);
	assert_non_null(strstr(d.text, "Content-Type: text/plain; charset=us-ascii\r\n"));
	assert_non_null(strstr(d.text, "Content-Type: message/delivery-status\r\n"));
	assert_non_null(strstr(d.text, "Content-Type: message/rfc822\r\n"));
	assert_non_null(strstr(d.text, "This is the mail system at host mx.ferry.test."));
	assert_non_null(strstr(d.text, "could not\r\nbe delivered"));
	assert_non_null(strstr(d.text, "<x@remote.test>: host mx.remote.test[127.0.0.2] said: 550 5.1.1"));
	assert_null(strstr(d.text, "Content-Transfer-Encoding"));   /* all 7-bit */
	free(d.text);

	/* a fresh boundary every time */
	d = build(&b);
	assert_null(strstr(d.text, bnd));
	free(d.text);
	close(fd);
}

static void
test_rcpt_fields(void **state)
{
	struct bounce_rcpt r[2] = { rcpt_failed("x@remote.test"), rcpt_failed("y@remote.test") };
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, r, 2);
	struct dsn d;
	const char *st;
	static const char want[] =
	    "Original-Envelope-Id: ENV+2BID+3D1\r\n"
	    "Reporting-MTA: dns; mx.ferry.test\r\n"
	    "X-Ferry-Queue-ID: 0123456789ABCDEF\r\n"
	    "Arrival-Date: Tue, 14 Nov 2023 19:26:40 +0000\r\n"
	    "\r\n"
	    "Original-Recipient: rfc822; x+foo@remote.test\r\n"
	    "Final-Recipient: rfc822; x@remote.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.1.1\r\n"
	    "Remote-MTA: dns; mx.remote.test\r\n"
	    "Diagnostic-Code: smtp; 550 5.1.1 <x@remote.test>: no such user\r\n"
	    "Last-Attempt-Date: Tue, 14 Nov 2023 22:13:20 +0000\r\n"
	    "\r\n"
	    "Final-Recipient: rfc822; y@remote.test\r\n"
	    "Action: failed\r\n"
	    "Status: 5.0.0\r\n"
	    "Diagnostic-Code: smtp; 550 mailbox full\r\n"
	    "\r\n--";

	(void)state;
	r[0].orcpt = "rfc822;x+2Bfoo@remote.test";
	r[1].status = "5.1";   /* malformed: replaced by the action's default */
	r[1].remote_mta = NULL;
	r[1].diagnostic = "550 mailbox full";
	r[1].last_attempt = 0;
	b.envid = "ENV+ID=1";
	d = build(&b);
	check_lines(&d);
	st = strstr(d.text, "Content-Type: message/delivery-status\r\n\r\n");
	assert_non_null(st);
	st += strlen("Content-Type: message/delivery-status\r\n\r\n");
	assert_true(strncmp(st, want, sizeof(want) - 1) == 0);
	assert_null(strstr(d.text, "Will-Retry-Until"));
	free(d.text);
	close(fd);
}

static void
test_sanitize(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test\r\nBcc: victim@example.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	struct dsn d;

	(void)state;
	r.diagnostic = "smtp; 550 bad\r\nX-Injected: yes\r\n\r\nAction: delivered\n\tStatus: 2.0.0\x01\x7f";
	r.remote_mta = "evil\r\nX-Evil: 1[127.0.0.9]:25";
	r.orcpt = "rfc822;a+0D+0AX-Orcpt:+20yes";
	b.to = "alice@example.test\r\nX-To-Injected: 1";
	d = build(&b);
	check_lines(&d);
	assert_false(has_line(&d, "X-Injected"));
	assert_false(has_line(&d, "Action: delivered"));
	assert_false(has_line(&d, "\tStatus"));
	assert_false(has_line(&d, "Status: 2.0.0"));
	assert_false(has_line(&d, "X-Evil"));
	assert_false(has_line(&d, "X-Orcpt"));
	assert_false(has_line(&d, "X-To-Injected"));
	assert_false(has_line(&d, "Bcc:"));
	assert_null(strchr(d.text, '\x01'));
	assert_null(strchr(d.text, '\x7f'));
	assert_int_equal(count(d.text, "\r\nAction: "), 1);
	assert_non_null(strstr(d.text, "Diagnostic-Code: smtp; 550 bad X-Injected: yes Action: delivered"));
	assert_non_null(strstr(d.text, "Final-Recipient: rfc822; x@remote.test Bcc:"));
	/* a remote MTA name with spaces in it is no host name: left out */
	assert_null(strstr(d.text, "Remote-MTA:"));
	free(d.text);
	close(fd);
}

/* Random octets in every peer field never break the line framing, and the
 * status part holds only the fields we write (or continuations). */
static void
test_random_peer_text(void **state)
{
	static const char *const known[] = { "Original-Envelope-Id: ", "Reporting-MTA: ",
	    "X-Ferry-Queue-ID: ", "Arrival-Date: ", "Original-Recipient: ", "Final-Recipient: ",
	    "Action: ", "Status: ", "Remote-MTA: ", "Diagnostic-Code: ", "Last-Attempt-Date: ",
	    "Will-Retry-Until: ", " ", "" };
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	char f[5][1200];
	unsigned seed = 12345;
	const char *st;
	struct dsn d;

	(void)state;
	for (int iter = 0; iter < 300; iter++) {
		for (int k = 0; k < 5; k++) {
			size_t n = (size_t)(rand_r(&seed) % (iter % 3 == 0 ? 1199 : 60));
			for (size_t i = 0; i < n; i++) {
				int c = rand_r(&seed) % 256;
				f[k][i] = (char)(c == 0 ? '\n' : c);
			}
			f[k][n] = '\0';
		}
		r.addr = f[0];
		r.diagnostic = f[1];
		r.remote_mta = f[2];
		r.orcpt = f[3];
		b.envid = f[4];
		r.action = (enum bounce_action)(iter % 4);
		r.will_retry_until = 1700432000;
		d = build(&b);
		check_lines(&d);
		st = strstr(d.text, "Content-Description: Delivery report\r\n");
		assert_non_null(st);
		st = strstr(st, "\r\n\r\n");
		assert_non_null(st);
		st += 4;
		for (const char *e = strstr(st, "\r\n"); strncmp(st, "--=_ferry_", 10) != 0;
		    st = e + 2, e = strstr(st, "\r\n")) {
			bool ok = false;
			for (size_t k = 0; k < sizeof(known) / sizeof(known[0]) && !ok; k++)
				ok = strncmp(st, known[k], strlen(known[k])) == 0 &&
				    (known[k][0] != '\0' || st == e);
			if (!ok)
				fail_msg("unexpected status line: %.60s", st);
		}
		free(d.text);
	}
	close(fd);
}

static void
test_fold_long_diagnostic(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	char *diag = malloc(3100);
	const char *p, *e;
	struct dsn d;

	(void)state;
	/* one 3000-octet token: split below 998 */
	memcpy(diag, "smtp; 550 ", 10);
	memset(diag + 10, 'A', 3000);
	diag[3010] = '\0';
	r.diagnostic = diag;
	d = build(&b);
	assert_true(check_lines(&d) <= 998);
	assert_int_equal(count(d.text, "AAAAAAAAAA") > 0, 1);
	free(d.text);

	/* words: folded at whitespace, every line of the field below 78 */
	memcpy(diag, "smtp; 550", 9);
	for (size_t i = 9; i < 3009; i++)
		diag[i] = i % 7 == 0 ? ' ' : 'b';
	diag[3009] = '\0';
	d = build(&b);
	check_lines(&d);
	p = strstr(d.text, "Diagnostic-Code: ");
	assert_non_null(p);
	for (;;) {
		e = strstr(p, "\r\n");
		assert_true(e - p <= 78);
		if (e[2] != ' ')
			break;
		p = e + 2;
	}
	free(d.text);
	free(diag);
	close(fd);
}

static void
test_ret_hdrs(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	struct dsn d;

	(void)state;
	b.return_full = false;
	d = build(&b);
	check_lines(&d);
	assert_non_null(strstr(d.text, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Received: from client.example"));
	assert_non_null(strstr(d.text, "Subject: hello\r\n\r\n--"));
	assert_null(strstr(d.text, "body line"));
	assert_null(strstr(d.text, "message/rfc822"));
	assert_null(strstr(d.text, "only its headers"));
	free(d.text);
	close(fd);
}

static void
test_ret_full(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	char want[sizeof(ORIG) + 64];
	struct dsn d;

	(void)state;
	d = build(&b);
	check_lines(&d);
	snprintf(want, sizeof(want), "Content-Type: message/rfc822\r\n\r\n%s\r\n--", ORIG);
	assert_non_null(strstr(d.text, want));
	free(d.text);

	/* exactly at the cap is still returned in full */
	b.max_return = sizeof(ORIG) - 1;
	d = build(&b);
	assert_non_null(strstr(d.text, want));
	free(d.text);
	close(fd);
}

static void
test_cap_fallback(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	struct dsn d;

	(void)state;
	b.max_return = sizeof(ORIG) - 5;
	d = build(&b);
	check_lines(&d);
	assert_non_null(strstr(d.text, "Content-Type: text/rfc822-headers\r\n"));
	assert_non_null(strstr(d.text, "Subject: hello\r\n\r\n--"));
	assert_null(strstr(d.text, "body line"));
	assert_non_null(strstr(d.text, "only its headers"));
	free(d.text);

	/* a header section larger than the cap is cut after a whole field */
	b.max_return = 120;
	d = build(&b);
	check_lines(&d);
	assert_non_null(strstr(d.text, "Content-Type: text/rfc822-headers\r\n\r\n"
	    "Received: from client.example (client.example [192.0.2.1])\r\n"
	    "\tby mx.ferry.test with ESMTP id 0123456789ABCDEF\r\n\r\n--"));
	free(d.text);

	/* not even one whole field fits: the part is there, but empty */
	b.max_return = 80;
	d = build(&b);
	check_lines(&d);
	assert_non_null(strstr(d.text, "Content-Type: text/rfc822-headers\r\n\r\n\r\n--"));
	assert_null(strstr(d.text, "Received: from client"));
	free(d.text);
	close(fd);
}

static void
test_delayed(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	struct dsn d;

	(void)state;
	r.action = BOUNCE_DELAYED;
	r.status = "4.4.1";
	r.diagnostic = "smtp; 451 4.4.1 not now";
	r.will_retry_until = 1700432000;
	b.return_full = false;
	d = build(&b);
	check_lines(&d);
	assert_true(has_line(&d, "Subject: Delayed Mail (still being retried)\r\n"));
	assert_true(has_line(&d, "Action: delayed\r\n"));
	assert_true(has_line(&d, "Status: 4.4.1\r\n"));
	assert_true(has_line(&d, "Will-Retry-Until: Sun, 19 Nov 2023 22:13:20 +0000\r\n"));
	assert_non_null(strstr(d.text, "THIS IS A WARNING ONLY"));
	assert_non_null(strstr(d.text, "retried until Sun, 19 Nov 2023 22:13:20 +0000"));
	free(d.text);
	close(fd);
}

static void
test_subjects(void **state)
{
	struct bounce_rcpt r[2] = { rcpt_failed("x@remote.test"), rcpt_failed("y@remote.test") };
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, r, 2);
	struct dsn d;

	(void)state;
	r[0].action = r[1].action = BOUNCE_RELAYED;
	r[0].status = r[1].status = "2.0.0";
	d = build(&b);
	assert_true(has_line(&d, "Subject: Relayed mail\r\n"));
	assert_int_equal(count(d.text, "Action: relayed\r\n"), 2);
	assert_non_null(strstr(d.text, "delivery via mx.remote.test"));
	free(d.text);
	r[1].action = BOUNCE_DELIVERED;
	d = build(&b);
	assert_true(has_line(&d, "Subject: Successful Mail Delivery Report\r\n"));
	free(d.text);
	r[0].action = BOUNCE_DELAYED;
	d = build(&b);
	assert_true(has_line(&d, "Subject: Delayed Mail (still being retried)\r\n"));
	free(d.text);
	r[1].action = BOUNCE_FAILED;
	d = build(&b);
	assert_true(has_line(&d, "Subject: Undelivered Mail Returned to Sender\r\n"));
	free(d.text);
	close(fd);
}

static void
test_international(void **state)
{
	static const char orig8[] = "From: j\xc3\xb6rg@example.test\r\nSubject: gr\xc3\xbc\xc3\x9f" "e\r\n\r\n"
	    "b\xc3\xa4r\r\n";
	struct bounce_rcpt r = rcpt_failed("\xe7\x94\xa8\xe6\x88\xb7@remote.test");
	int fd = content_file(orig8, sizeof(orig8) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	struct dsn d;

	(void)state;
	b.content_len = sizeof(orig8) - 1;
	r.diagnostic = "smtp; 550 caf\xc3\xa9 \xff\xfe bad";
	d = build(&b);
	check_lines(&d);
	assert_non_null(strstr(d.text, "Final-Recipient: utf-8; \xe7\x94\xa8\xe6\x88\xb7@remote.test\r\n"));
	assert_non_null(strstr(d.text, "Content-Type: message/global-delivery-status\r\n"));
	assert_non_null(strstr(d.text, "Diagnostic-Code: smtp; 550 caf\xc3\xa9 ?? bad\r\n"));
	assert_non_null(strstr(d.text, "Content-Type: message/global\r\n"
	    "Content-Transfer-Encoding: 8bit\r\n\r\n"));
	assert_non_null(strstr(d.text, orig8));
	assert_non_null(strstr(d.text, "charset=utf-8"));
	assert_true(has_line(&d, "Content-Transfer-Encoding: 8bit\r\n"));
	free(d.text);

	/* ASCII recipients: the status part stays 7-bit, the headers go as
	 * message/global-headers */
	r.addr = "x@remote.test";
	b.return_full = false;
	d = build(&b);
	assert_non_null(strstr(d.text, "Content-Type: message/delivery-status\r\n\r\n"));
	assert_non_null(strstr(d.text, "Diagnostic-Code: smtp; 550 caf? ?? bad\r\n"));
	assert_non_null(strstr(d.text, "Content-Type: message/global-headers\r\n"));
	assert_null(strstr(d.text, "b\xc3\xa4r"));
	free(d.text);
	close(fd);
}

static void
test_errors(void **state)
{
	struct bounce_rcpt r = rcpt_failed("x@remote.test");
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, &r, 1);
	char *out = NULL;
	size_t len = 0;

	(void)state;
	b.nrcpts = 0;
	assert_int_equal(bounce_build(&b, &out, &len), -1);
	b.nrcpts = 1;
	b.content_len = 100000;   /* the file is shorter */
	assert_int_equal(bounce_build(&b, &out, &len), -1);
	b.content_len = sizeof(ORIG) - 1;
	b.content_fd = -1;
	assert_int_equal(bounce_build(&b, &out, &len), -1);
	assert_null(out);
	b.content_fd = fd;
	b.max_return = 0;   /* nothing can be returned: two parts */
	assert_int_equal(bounce_build(&b, &out, &len), 0);
	assert_null(strstr(out, "rfc822-headers"));
	assert_null(strstr(out, "message/rfc822"));
	free(out);
	close(fd);
}

/* Python's email package as the reader: multipart/report with report-type
 * delivery-status, three parts, no defects, the fields we expect. */
static const char PY_CHECK[] =
    "import sys, email, email.policy\n"
    "m = email.message_from_bytes(open(sys.argv[1], \"rb\").read(), policy=email.policy.default)\n"
    "assert m.get_content_type() == \"multipart/report\", m.get_content_type()\n"
    "assert m.get_param(\"report-type\") == \"delivery-status\"\n"
    "assert m[\"Auto-Submitted\"] == \"auto-replied\"\n"
    "assert not m.defects, m.defects\n"
    "p = list(m.iter_parts())\n"
    "assert len(p) == 3, len(p)\n"
    "assert p[0].get_content_type() == \"text/plain\"\n"
    "assert p[1].get_content_type() == \"message/delivery-status\"\n"
    "assert p[2].get_content_type() == sys.argv[4], p[2].get_content_type()\n"
    "f = {}\n"
    "for blk in p[1].get_payload():\n"
    "    for k, v in blk.items():\n"
    "        f.setdefault(k.lower(), []).append(str(v))\n"
    "assert f[\"action\"] == sys.argv[2].split(\",\"), f\n"
    "assert f[\"status\"] == sys.argv[3].split(\",\"), f\n"
    "assert f[\"reporting-mta\"] == [\"dns; mx.ferry.test\"], f\n"
    "assert \"x-injected\" not in f, f\n"
    "assert sys.argv[5] in f[\"diagnostic-code\"][0], f[\"diagnostic-code\"]\n"
    "if sys.argv[4] == \"message/rfc822\":\n"
    "    assert p[2].get_payload()[0][\"Subject\"] == \"hello\"\n";

static int
py_check(const struct dsn *d, const char *actions, const char *statuses, const char *third,
    const char *diag)
{
	char path[] = "/tmp/ferry-test-dsn-XXXXXX";
	char cmd[4096];
	int fd = mkstemp(path), rc;
	FILE *p;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, d->text, d->len), (ssize_t)d->len);
	close(fd);
	/* arguments are our own constants; the script has no single quote */
	snprintf(cmd, sizeof(cmd), "/usr/bin/python3 -c '%s' %s '%s' '%s' '%s' '%s' 2>&1", PY_CHECK,
	    path, actions, statuses, third, diag);
	p = popen(cmd, "r");
	assert_non_null(p);
	while (fgets(cmd, sizeof(cmd), p) != NULL)
		fputs(cmd, stderr);
	rc = pclose(p);
	unlink(path);
	return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void
test_python_parse(void **state)
{
	struct bounce_rcpt r[2] = { rcpt_failed("x@remote.test"), rcpt_failed("y@remote.test") };
	int fd = content_file(ORIG, sizeof(ORIG) - 1);
	struct bounce_info b = info_new(fd, r, 2);
	char *diag = malloc(3100);
	struct dsn d;

	(void)state;
	if (access("/usr/bin/python3", X_OK) != 0) {
		free(diag);
		close(fd);
		skip();
	}
	d = build(&b);
	assert_int_equal(py_check(&d, "failed,failed", "5.1.1,5.1.1", "message/rfc822", "no such user"), 0);
	free(d.text);

	/* an expired message as the delivery engine reports it */
	r[0].status = "4.4.7";
	r[0].diagnostic = "smtp; 451 4.4.1 not now (delivery time expired)";
	r[1].action = BOUNCE_DELAYED;
	r[1].status = "4.4.1";
	r[1].will_retry_until = 1700432000;
	b.return_full = false;
	d = build(&b);
	assert_int_equal(py_check(&d, "failed,delayed", "4.4.7,4.4.1", "text/rfc822-headers", "expired"), 0);
	free(d.text);

	/* injection attempt and a 3000-octet diagnostic */
	r[0].diagnostic = "smtp; 550 bad\r\nX-Injected: yes\r\n\r\nAction: delivered";
	memcpy(diag, "smtp; 550 ", 10);
	memset(diag + 10, 'A', 3000);
	diag[3010] = '\0';
	r[1].diagnostic = diag;
	d = build(&b);
	assert_int_equal(py_check(&d, "failed,delayed", "4.4.7,4.4.1", "text/rfc822-headers",
	    "X-Injected: yes Action: delivered"), 0);
	free(d.text);
	free(diag);
	close(fd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_structure),
		cmocka_unit_test(test_rcpt_fields),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_random_peer_text),
		cmocka_unit_test(test_fold_long_diagnostic),
		cmocka_unit_test(test_ret_hdrs),
		cmocka_unit_test(test_ret_full),
		cmocka_unit_test(test_cap_fallback),
		cmocka_unit_test(test_delayed),
		cmocka_unit_test(test_subjects),
		cmocka_unit_test(test_international),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_python_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
