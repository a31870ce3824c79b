/*
 * test_report.c - unit tests for the report parser (src/feedback/): every
 * sample under tests/samples/reports/ parsed and checked field by field
 * (kind, format, recipients, status, code, diagnostic, ARF fields, the
 * original's Return-Path and X-Ferry-Ref), the templates kept in step
 * with the samples, the bounds (1000 recipients, truncation at a UTF-8
 * boundary), and the recognisers' edge cases.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "feedback/report.h"
#include "feedback/report_internal.h"
#include "policy/sender.h"

#ifndef FERRY_SOURCE_DIR
#define FERRY_SOURCE_DIR "."
#endif
#define SAMPLES FERRY_SOURCE_DIR "/tests/samples/reports/"
#define RP  "b+1-0123456789abcdef-0-aaaaaaaaaaaaaaaa@bounce.example.com"
#define REF "1-0123456789abcdef-0-aaaaaaaaaaaaaaaa"

static char *
slurp(const char *path, size_t *n)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long sz;

	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	sz = ftell(f);
	assert_true(sz >= 0);
	rewind(f);
	buf = malloc((size_t)sz + 1);
	assert_non_null(buf);
	*n = fread(buf, 1, (size_t)sz, f);
	assert_int_equal(*n, (size_t)sz);
	buf[*n] = '\0';
	fclose(f);
	return buf;
}

static int
parse_sample(const char *name, struct report *r)
{
	char path[512];
	size_t n;
	char *buf;
	int rc;

	snprintf(path, sizeof(path), SAMPLES "%s", name);
	buf = slurp(path, &n);
	rc = report_parse(buf, n, r);
	free(buf);
	return rc;
}

/* What each sample must give: its first recipient, and the original. */
struct expect {
	const char *file, *rcpt;      /* rcpt: the {{RCPT}} of its template */
	enum report_kind kind;
	const char *format;
	size_t nrcpts;
	const char *action, *status;
	int code;
	const char *diag;             /* a snippet of rcpts[0].diagnostic */
	bool has_orig;                /* orig_return_path and orig_ref expected */
};

static const struct expect expects[] = {
	{ "rfc3464-postfix-hard.eml", "nobody@example.net", REPORT_DSN, "rfc3464", 1, "failed", "5.1.1", 550,
	  "Recipient address rejected: User unknown in virtual mailbox table", true },
	{ "rfc3464-soft-mailbox-full.eml", "full@example.net", REPORT_DSN, "rfc3464", 1, "delayed", "4.2.2", 452,
	  "Mailbox full", true },
	{ "rfc3464-multi-rcpt.eml", "alice@example.net", REPORT_DSN, "rfc3464", 3, "failed", "5.1.1", 550,
	  "User unknown", true },
	{ "gmail-like.eml", "ghost@example.net", REPORT_BOUNCE, "gmail", 1, "failed", "5.1.1", 550,
	  "account that you tried to reach does not exist", true },
	{ "yahoo-like.eml", "disabled@example.net", REPORT_BOUNCE, "yahoo", 1, "failed", "", 554,
	  "This mailbox is disabled (554.30)", true },
	{ "microsoft-like.eml", "left@example.net", REPORT_BOUNCE, "microsoft", 1, "failed", "5.1.10", 550,
	  "RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address lookup", true },
	{ "exim.eml", "gone@example.net", REPORT_BOUNCE, "exim", 1, "failed", "5.1.1", 550,
	  "User unknown in local recipient table", true },
	{ "qmail.eml", "nouser@example.net", REPORT_BOUNCE, "qmail", 2, "failed", "5.1.1", 550,
	  "No such user here", true },
	{ "postfix-plain.eml", "blocked@example.net", REPORT_BOUNCE, "postfix", 1, "failed", "5.7.1", 554,
	  "blocked using zen.spamhaus.example", true },
	{ "generic.eml", "moved@example.net", REPORT_BOUNCE, "generic", 1, "failed", "5.1.6", 550,
	  "Recipient has moved", false },
	{ "arf-yahoo-like.eml", "reader@example.net", REPORT_ARF, "arf", 0, NULL, NULL, 0, NULL, true },
	{ "arf-microsoft-like.eml", "complainer@example.net", REPORT_ARF, "microsoft", 0, NULL, NULL, 0, NULL, true },
	{ "arf-generic.eml", "user@example.net", REPORT_ARF, "arf", 0, NULL, NULL, 0, NULL, true },
	{ "autoreply-ooo.eml", "petra@example.net", REPORT_AUTOREPLY, "autoreply", 0, NULL, NULL, 0, NULL, false },
	{ "autoreply-exchange.eml", "john@example.net", REPORT_AUTOREPLY, "autoreply", 0, NULL, NULL, 0, NULL, false },
	{ "broken-truncated-dsn.eml", "cut@example.net", REPORT_DSN, "rfc3464", 1, "failed", "5.1.1", 550,
	  "no such us", false },
};

static void
check_expect(const struct expect *e)
{
	struct report r;

	assert_int_equal(parse_sample(e->file, &r), 0);
	if (r.kind != e->kind || strcmp(r.format, e->format) != 0 || r.nrcpts != e->nrcpts)
		fail_msg("%s: kind %s format %s nrcpts %zu", e->file, report_kind_name(r.kind), r.format, r.nrcpts);
	if (e->nrcpts > 0) {
		assert_string_equal(r.rcpts[0].addr, e->rcpt);
		assert_string_equal(r.rcpts[0].action, e->action);
		assert_string_equal(r.rcpts[0].status, e->status);
		assert_int_equal(r.rcpts[0].code, e->code);
		if (strstr(r.rcpts[0].diagnostic, e->diag) == NULL)
			fail_msg("%s: diagnostic [%s]", e->file, r.rcpts[0].diagnostic);
		assert_null(strpbrk(r.rcpts[0].diagnostic, "\r\n\t"));
	}
	if (e->has_orig) {
		assert_string_equal(r.orig_return_path, RP);
		assert_string_equal(r.orig_ref, REF);
		assert_string_equal(r.orig_from, strcmp(e->file, "arf-generic.eml") == 0 ? "deals@acme.example" :
		    "news@acme.example");
	} else
		assert_string_equal(r.orig_ref, "");
	report_free(&r);
	assert_null(r.rcpts);
}

static void
test_samples(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++)
		check_expect(&expects[i]);
}

/* Each template is its sample with the placeholders put back. */
static void
test_templates(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expects) / sizeof(expects[0]); i++) {
		const char *e = expects[i].file;
		char path[512], *tpl, *plain, *out;
		size_t tn, pn, o = 0;

		snprintf(path, sizeof(path), SAMPLES "templates/%s", e);
		tpl = slurp(path, &tn);
		snprintf(path, sizeof(path), SAMPLES "%s", e);
		plain = slurp(path, &pn);
		out = malloc(pn + 1);
		assert_non_null(out);
		for (size_t k = 0; k < tn; k++) {
			const char *sub = NULL;
			size_t skip = 0;

			if (strncmp(tpl + k, "{{RETURN_PATH}}", 15) == 0)
				sub = RP, skip = 15;
			else if (strncmp(tpl + k, "{{REF}}", 7) == 0)
				sub = REF, skip = 7;
			else if (strncmp(tpl + k, "{{RCPT}}", 8) == 0)
				sub = expects[i].rcpt, skip = 8;
			if (sub != NULL) {
				assert_true(o + strlen(sub) <= pn);
				memcpy(out + o, sub, strlen(sub));
				o += strlen(sub);
				k += skip - 1;
			} else {
				assert_true(o < pn);
				out[o++] = tpl[k];
			}
		}
		if (o != pn || memcmp(out, plain, pn) != 0)
			fail_msg("templates/%s differs from its sample", e);
		assert_non_null(strstr(tpl, "{{RCPT}}"));
		free(tpl);
		free(plain);
		free(out);
	}
}

static void
test_dsn_details(void **state)
{
	struct report r;

	(void)state;
	assert_int_equal(parse_sample("rfc3464-multi-rcpt.eml", &r), 0);
	assert_int_equal(r.nrcpts, 3);
	assert_string_equal(r.rcpts[1].addr, "bob@example.net");
	assert_string_equal(r.rcpts[1].orig_addr, "Bob.Alias@example.net");
	assert_string_equal(r.rcpts[1].status, "5.7.1");
	assert_int_equal(r.rcpts[1].code, 554);
	/* the folded Diagnostic-Code, unfolded with one space */
	assert_non_null(strstr(r.rcpts[1].diagnostic, "content filter (score 14.2); see"));
	assert_string_equal(r.rcpts[2].addr, "carol@example.net");
	assert_string_equal(r.rcpts[2].action, "relayed");
	assert_string_equal(r.rcpts[2].status, "2.0.0");
	assert_int_equal(r.rcpts[2].code, 0);
	assert_string_equal(r.orig_message_id, "<20261203094100.777@acme.example>");
	assert_string_equal(r.orig_to, "alice@example.net");
	report_free(&r);

	/* Auto-Submitted: auto-replied on a DSN: the DSN wins */
	assert_int_equal(parse_sample("rfc3464-postfix-hard.eml", &r), 0);
	assert_int_equal(r.kind, REPORT_DSN);
	assert_string_equal(r.rcpts[0].orig_addr, "nobody@example.net");
	assert_string_equal(r.autoreply_why, "");
	report_free(&r);
	/* the same for Exim's bounce, which has no DSN part */
	assert_int_equal(parse_sample("exim.eml", &r), 0);
	assert_int_equal(r.kind, REPORT_BOUNCE);
	report_free(&r);
}

static void
test_bounce_details(void **state)
{
	struct report r;

	(void)state;
	assert_int_equal(parse_sample("qmail.eml", &r), 0);
	assert_int_equal(r.nrcpts, 2);
	assert_string_equal(r.rcpts[1].addr, "quota@example.net");
	assert_string_equal(r.rcpts[1].status, "5.2.2");
	assert_int_equal(r.rcpts[1].code, 0);
	/* the copy of the message after the marker is no recipient */
	assert_null(strstr(r.rcpts[1].diagnostic, "Return-Path"));
	report_free(&r);

	assert_int_equal(parse_sample("gmail-like.eml", &r), 0);
	assert_string_equal(r.subject, "Delivery Status Notification (Failure)");
	assert_null(strstr(r.rcpts[0].diagnostic, "=\n"));   /* quoted-printable decoded */
	report_free(&r);
}

static void
test_arf_details(void **state)
{
	struct report r;

	(void)state;
	assert_int_equal(parse_sample("arf-yahoo-like.eml", &r), 0);
	assert_string_equal(r.feedback_type, "abuse");
	assert_string_equal(r.user_agent, "Yahoo!-Mail-Feedback/2.0");
	assert_string_equal(r.source_ip, "203.0.113.10");
	assert_string_equal(r.arrival_date, "Thu, 3 Dec 2026 19:20:00 +0000");
	assert_string_equal(r.reported_domain, "acme.example");
	assert_string_equal(r.original_rcpt, "reader@example.net");
	assert_string_equal(r.original_from, RP);
	assert_string_equal(r.orig_to, "reader@example.net");
	report_free(&r);

	assert_int_equal(parse_sample("arf-generic.eml", &r), 0);   /* CRLF, text/rfc822-headers */
	assert_string_equal(r.user_agent, "SomeGenerator/1.0");
	assert_string_equal(r.original_rcpt, "user@example.net");   /* the first of two */
	assert_string_equal(r.orig_message_id, "<20261203210110.3399@acme.example>");
	report_free(&r);

	assert_int_equal(parse_sample("arf-microsoft-like.eml", &r), 0);
	assert_string_equal(r.feedback_type, "abuse");
	assert_string_equal(r.original_rcpt, "complainer@example.net");
	assert_string_equal(r.source_ip, "203.0.113.10");
	report_free(&r);
}

static void
test_autoreply(void **state)
{
	struct report r;

	(void)state;
	assert_int_equal(parse_sample("autoreply-ooo.eml", &r), 0);
	assert_string_equal(r.autoreply_why, "Auto-Submitted: auto-replied (vacation)");
	/* RFC 2047 decoded and unfolded */
	assert_string_equal(r.subject, "Abwesenheitsnotiz: Spring newsletter \xe2\x80\x93 zur\xc3\xbc" "ck am 14.12.");
	assert_int_equal(r.nrcpts, 0);
	report_free(&r);
	assert_int_equal(parse_sample("autoreply-exchange.eml", &r), 0);
	assert_string_equal(r.autoreply_why, "X-Auto-Response-Suppress: All");
	report_free(&r);

	/* a subject alone is a signal too */
	assert_int_equal(report_parse("From: a@example.net\nSubject: Out of Office: back Monday\n\nHi\n", 56, &r), 0);
	assert_int_equal(r.kind, REPORT_AUTOREPLY);
	assert_string_equal(r.autoreply_why, "Subject: Out of Office: back Monday");
	report_free(&r);
}

static void
test_broken(void **state)
{
	struct report r;

	(void)state;
	assert_int_equal(parse_sample("broken-garbage.eml", &r), -1);
	assert_int_equal(r.kind, REPORT_UNKNOWN);
	report_free(&r);
	assert_int_equal(report_parse("", 0, &r), -1);
	assert_int_equal(report_parse(NULL, 5, &r), -1);
	/* a DSN part that names nobody is still a DSN, with no recipient */
	assert_int_equal(parse_sample("broken-dsn-no-rcpt.eml", &r), 0);
	assert_int_equal(r.kind, REPORT_DSN);
	assert_int_equal(r.nrcpts, 0);
	report_free(&r);
}

/* The generic fallback needs a bounce's sender or subject. */
static void
test_generic_needs_bounce(void **state)
{
	static const char body[] = "\n\nRecipient: moved@example.net\n  550 5.1.6 Recipient has moved\n";
	char msg[512];
	struct report r;
	int n;

	(void)state;
	n = snprintf(msg, sizeof(msg), "From: someone@example.net\nTo: " RP "\nSubject: hello%s", body);
	assert_int_equal(report_parse(msg, (size_t)n, &r), 0);
	assert_int_equal(r.kind, REPORT_UNKNOWN);
	assert_string_equal(r.format, "");
	report_free(&r);
	n = snprintf(msg, sizeof(msg), "Return-Path: <>\nFrom: someone@example.net\nTo: " RP "\nSubject: hello%s", body);
	assert_int_equal(report_parse(msg, (size_t)n, &r), 0);
	assert_int_equal(r.kind, REPORT_BOUNCE);
	assert_string_equal(r.rcpts[0].addr, "moved@example.net");
	report_free(&r);
}

/* Layouts without a sample file: a Gmail-like block in HTML only, a
 * Postfix delay notice (action delayed), and an old Sendmail text bounce,
 * which the generic fallback reads. */
static void
test_more_layouts(void **state)
{
	static const char delay[] =
	    "From: MAILER-DAEMON@x.example.net (Mail Delivery System)\n"
	    "Subject: Delayed Mail (still being retried)\n\n"
	    "This is the mail system at host x.example.net.\n\n"
	    "# THIS IS A WARNING ONLY.  YOU DO NOT NEED TO RESEND YOUR MESSAGE. #\n\n"
	    "<slow@example.net>: connect to mx.example.net[192.0.2.1]:25: Connection timed out\n";
	static const char sendmail[] =
	    "From: Mail Delivery Subsystem <MAILER-DAEMON@old.example.net>\n"
	    "Subject: Returned mail: User unknown\n\n"
	    "   ----- The following addresses had permanent fatal errors -----\n"
	    "<olduser@example.net>\n"
	    "    (reason: 550 5.1.1 <olduser@example.net>... User unknown)\n";
	static const char blocked_html[] =
	    "From: Mail Delivery Subsystem <mailer-daemon@googlemail.example>\n"
	    "Subject: Delivery Status Notification (Failure)\n"
	    "Content-Type: text/html\n\n"
	    "<html><body><h2>Message blocked</h2><p>Your message to <b>spamtrap@example.net</b> has been "
	    "blocked. See technical details below.</p><p>The response was:</p><p>550 5.7.26 Unauthenticated "
	    "email &amp; is not accepted</p></body></html>\n";
	struct report r;

	(void)state;
	assert_int_equal(report_parse(blocked_html, sizeof(blocked_html) - 1, &r), 0);
	assert_string_equal(r.format, "gmail");
	assert_string_equal(r.rcpts[0].addr, "spamtrap@example.net");
	assert_string_equal(r.rcpts[0].status, "5.7.26");
	assert_string_equal(r.rcpts[0].diagnostic, "550 5.7.26 Unauthenticated email & is not accepted");
	report_free(&r);
	assert_int_equal(report_parse(delay, sizeof(delay) - 1, &r), 0);
	assert_string_equal(r.format, "postfix");
	assert_int_equal(r.nrcpts, 1);
	assert_string_equal(r.rcpts[0].action, "delayed");
	assert_int_equal(r.rcpts[0].code, 0);
	assert_string_equal(r.rcpts[0].diagnostic, "connect to mx.example.net[192.0.2.1]:25: Connection timed out");
	report_free(&r);
	assert_int_equal(report_parse(sendmail, sizeof(sendmail) - 1, &r), 0);
	assert_int_equal(r.kind, REPORT_BOUNCE);
	assert_string_equal(r.format, "generic");
	assert_string_equal(r.rcpts[0].addr, "olduser@example.net");
	assert_string_equal(r.rcpts[0].status, "5.1.1");
	report_free(&r);
}

/* 1500 recipient groups: 1000 kept; overlong values truncated whole. */
static void
test_bounds(void **state)
{
	size_t cap = 1500 * 160 + 4096, n = 0;
	char *msg = malloc(cap), diag[700];
	struct report r;

	(void)state;
	assert_non_null(msg);
	n += (size_t)snprintf(msg + n, cap - n, "From: MAILER-DAEMON@x.example\nContent-Type: multipart/report; "
	    "report-type=delivery-status; boundary=b\n\n--b\nContent-Type: message/delivery-status\n\n"
	    "Reporting-MTA: dns; x.example\n\n");
	/* "550 " and 507 'a' make 511 octets: the U+00E9 after them does not
	 * fit whole in 512 and is left out, not split */
	memset(diag, 'a', sizeof(diag));
	memcpy(diag + 507, "\xc3\xa9\xc3\xa9", 4);
	diag[600] = '\0';
	n += (size_t)snprintf(msg + n, cap - n, "Final-Recipient: rfc822; first@example.net\nAction: failed\n"
	    "Diagnostic-Code: smtp; 550 %s\n\n", diag);
	for (int i = 1; i < 1500; i++)
		n += (size_t)snprintf(msg + n, cap - n, "Final-Recipient: rfc822; u%d@example.net\nAction: failed\n"
		    "Status: 5.1.1\n\n", i);
	n += (size_t)snprintf(msg + n, cap - n, "--b--\n");
	assert_int_equal(report_parse(msg, n, &r), 0);
	assert_int_equal(r.kind, REPORT_DSN);
	assert_int_equal(r.nrcpts, REPORT_RCPTS_MAX);
	assert_string_equal(r.rcpts[999].addr, "u999@example.net");
	assert_int_equal(strlen(r.rcpts[0].diagnostic), 511);
	assert_string_equal(r.rcpts[0].status, "");   /* none given, none in the text */
	assert_string_equal(r.rcpts[0].action, "failed");
	report_free(&r);
	free(msg);
}

static void
test_recognisers(void **state)
{
	int code;
	char st[16], buf[7];   /* room for "ab " and one U+00E9 of the two */
	size_t s, an;

	(void)state;
	report_smtp_scan("host [250.1.2.3] said: 451-4.7.1 try later", 41, &code, st, sizeof(st));
	assert_int_equal(code, 451);
	assert_string_equal(st, "4.7.1");
	report_smtp_scan("mx 192.0.2.5 v5.2.1 x", 21, &code, st, sizeof(st));
	assert_int_equal(code, 0);
	assert_string_equal(st, "");
	report_smtp_scan("quota (#5.2.2)", 14, &code, st, sizeof(st));
	assert_string_equal(st, "5.2.2");
	report_smtp_scan("id 5.1.1234 550", 15, &code, st, sizeof(st));
	assert_int_equal(code, 550);
	assert_string_equal(st, "");
	assert_true(report_addr_find("to <a.b+c@x.example.>, y", 25, &s, &an));
	assert_int_equal(s, 4);
	assert_int_equal(an, 15);   /* the trailing dot is not the address's */
	assert_false(report_addr_find("@@ user@localhost x@", 20, &s, &an));
	report_copy(buf, sizeof(buf), "  ab\x01\xc3\xa9\xc3\xa9  ", 12);
	assert_string_equal(buf, "ab \xc3\xa9");
	assert_string_equal(report_type_strip(" rfc822; x@y"), "x@y");
	assert_string_equal(report_type_strip("no type here"), "no type here");
	assert_string_equal(report_kind_name(REPORT_ARF), "arf");
	assert_string_equal(report_kind_name((enum report_kind)42), "unknown");
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_samples),
		cmocka_unit_test(test_templates),
		cmocka_unit_test(test_dsn_details),
		cmocka_unit_test(test_bounce_details),
		cmocka_unit_test(test_arf_details),
		cmocka_unit_test(test_autoreply),
		cmocka_unit_test(test_broken),
		cmocka_unit_test(test_generic_needs_bounce),
		cmocka_unit_test(test_more_layouts),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_recognisers),
	};
	int rc;

	/* GLib's slice allocator hides GObjects from LeakSanitizer, and reads
	 * G_SLICE before main: run again with plain malloc, so that a GMime
	 * object not released is reported as a leak. */
	if (argc > 0 && getenv("G_SLICE") == NULL) {
		setenv("G_SLICE", "always-malloc", 1);
		execv("/proc/self/exe", argv);   /* failing that, go on without */
	}
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sender_shutdown();
	return rc;
}
