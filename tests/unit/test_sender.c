/*
 * test_sender.c - unit tests for the From: lockdown (src/policy/sender.c):
 * field finding with folding, the display-name, comment and encoded-word
 * tricks, groups, several From: fields, unparsable values.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "policy/sender.h"

/* acme.test (and its subdomain mail.acme.test) are ours. */
static int
test_domain_ok(void *arg, const char *domain)
{
	(void)arg;
	return strcmp(domain, "acme.test") == 0 || strcmp(domain, "mail.acme.test") == 0;
}

static enum sender_verdict
check(const char *hdr, struct sender_result *r)
{
	return sender_from_check(hdr, strlen(hdr), test_domain_ok, NULL, r);
}

static void
test_fields_found(void **state)
{
	const char *h = "Subject: x\r\nfrom : a@acme.test,\r\n\tb@acme.test\r\nTo: y\r\n\r\nFrom: body@x\r\n";
	struct sender_span sp[2];
	char *v;

	(void)state;
	assert_int_equal(sender_from_fields(h, strlen(h), sp, 2), 1);
	v = sender_field_unfold(sp[0].p, sp[0].len);
	assert_non_null(v);
	assert_string_equal(v, " a@acme.test,\tb@acme.test");
	free(v);
	assert_null(sender_field_unfold("a\0b", 3));
	assert_null(sender_field_unfold("a\r\nb", 4));
}

static void
test_legit(void **state)
{
	struct sender_result r;

	(void)state;
	assert_int_equal(check("From: me@acme.test\r\n\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: \"ceo@victim.test\" <me@acme.test>\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: Me <me@ACME.test.>\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: a@acme.test, b@mail.acme.test\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: team: a@acme.test, b@acme.test;\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: me@acme.test (x@victim.test)\r\n", &r), SENDER_OK);
	assert_int_equal(check("FROM:\r\n me@acme.test\r\n", &r), SENDER_OK);
}

static void
test_tricks(void **state)
{
	struct sender_result r;

	(void)state;
	assert_int_equal(check("From: me@acme.test <x@victim.test>\r\n", &r), SENDER_FOREIGN);
	assert_string_equal(r.addr, "x@victim.test");
	assert_int_equal(check("From: =?utf-8?q?me=40acme=2Etest?= <x@victim.test>\r\n", &r), SENDER_FOREIGN);
	assert_string_equal(r.addr, "x@victim.test");
	assert_int_equal(check("From: x@victim.test (me@acme.test)\r\n", &r), SENDER_FOREIGN);
	assert_int_equal(check("From: a@acme.test, x@victim.test\r\n", &r), SENDER_FOREIGN);
	assert_string_equal(r.addr, "x@victim.test");
	assert_int_equal(check("From: g: a@acme.test, x@victim.test;\r\n", &r), SENDER_FOREIGN);
	assert_int_equal(check("From: x@evilacme.test\r\n", &r), SENDER_FOREIGN);
	assert_int_equal(check("From: x@acme.test.victim.test\r\n", &r), SENDER_FOREIGN);
}

static void
test_counts_and_garbage(void **state)
{
	struct sender_result r;

	(void)state;
	assert_int_equal(check("Subject: none\r\n\r\nFrom: a@acme.test\r\n", &r), SENDER_NO_FROM);
	assert_int_equal(check("From: a@acme.test\r\nFrom: b@acme.test\r\n", &r), SENDER_MANY_FROM);
	assert_int_equal(r.nfrom, 2);
	assert_int_equal(check("From:\r\n", &r), SENDER_BAD_FROM);
	assert_int_equal(check("From: undisclosed:;\r\n", &r), SENDER_BAD_FROM);
	assert_int_not_equal(check("From: <<<>>>@@\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: nodomain\r\n", &r), SENDER_OK);
	assert_int_equal(sender_from_check("From: a@acme.test\0x\r\n", 22, test_domain_ok, NULL, &r),
	    SENDER_BAD_FROM);
}

/* Values GMime reads leniently, dropping what another reader would show:
 * every address outside quotes and comments must be a mailbox it found. */
static void
test_lenient_parse(void **state)
{
	struct sender_result r;

	(void)state;
	assert_int_not_equal(check("From: a@acme.test; x@victim.test\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: x@victim.test <a@acme.test>\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: a@acme.test, \"x@victim.test\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: a@acme.test, [x@victim.test\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: a@acme.test, (x@victim.test\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: <@victim.test:a@acme.test>\r\n", &r), SENDER_OK);   /* a route is no address */
	assert_int_equal(check("From: <@acme.test:x@victim.test>\r\n", &r), SENDER_FOREIGN);
	assert_int_equal(check("From: \"x@victim.test\" <a@acme.test>\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: \"a\\\"@x\" <a@acme.test> (c@d (e@f))\r\n", &r), SENDER_OK);
	assert_int_equal(check("From: <\"x@victim.test\"@acme.test>\r\n", &r), SENDER_OK);
}

/* Field names that another reader may take for From:: a first line that
 * starts with whitespace, a name folded before its colon, a NUL in it. */
static void
test_odd_field_names(void **state)
{
	struct sender_result r;
	static const char nul[] = "From: a@acme.test\r\nFr\0om: x@victim.test\r\n\r\n";

	(void)state;
	assert_int_not_equal(check(" From: x@victim.test\r\nFrom: a@acme.test\r\n\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: a@acme.test\r\nFrom\r\n : x@victim.test\r\n\r\n", &r), SENDER_OK);
	assert_int_not_equal(sender_from_check(nul, sizeof(nul) - 1, test_domain_ok, NULL, &r), SENDER_OK);
	assert_int_equal(check("From\r\n : a@acme.test\r\n\r\n", &r), SENDER_OK);
	assert_int_not_equal(check("From: a@acme.test\r\nFrom\r\n \r\n \r\n \r\n \r\n \r\n \r\n \r\n \r\n \r\n"
	    " : x@victim.test\r\n\r\n", &r), SENDER_OK);
	assert_int_equal(check("Subject: x\r\n From: x@victim.test\r\nFrom: a@acme.test\r\n\r\n", &r), SENDER_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fields_found),
		cmocka_unit_test(test_legit),
		cmocka_unit_test(test_tricks),
		cmocka_unit_test(test_counts_and_garbage),
		cmocka_unit_test(test_lenient_parse),
		cmocka_unit_test(test_odd_field_names),
	};
	int rc;

	sender_init();
	rc = cmocka_run_group_tests(tests, NULL, NULL);
	sender_shutdown();
	return rc;
}
