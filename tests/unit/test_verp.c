/*
 * test_verp.c - unit tests for the return-path tokens (src/state/verp.c):
 * a genuine token round-trips, case folding is tolerated, and no other
 * spelling of a token is taken (extra parts, leading zeros, a changed MAC).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "state/verp.h"

static const unsigned char secret[32] = "0123456789abcdef0123456789abcdef";

static bool
check(const char *local, struct verp_info *vi)
{
	return verp_local_check(secret, local, strlen(local), vi);
}

static void
test_round_trip_and_spellings(void **state)
{
	struct verp_info in = { .tenant_id = 7, .queue_id = "0123ABCD0123ABCD", .rcpt_index = 3 };
	struct verp_info vi;
	char tok[VERP_LOCAL_MAX + 1], alt[VERP_LOCAL_MAX + 8];
	const char *mac;

	(void)state;
	verp_local_make(secret, &in, tok, sizeof(tok));
	mac = strrchr(tok, '-') + 1;
	assert_true(check(tok, &vi));
	assert_int_equal(vi.tenant_id, 7);
	assert_string_equal(vi.queue_id, "0123abcd0123abcd");
	assert_int_equal(vi.rcpt_index, 3);
	for (size_t i = 0; tok[i] != '\0'; i++)
		alt[i] = (char)(tok[i] >= 'a' && tok[i] <= 'z' ? tok[i] - 'a' + 'A' : tok[i]), alt[i + 1] = '\0';
	assert_true(check(alt, &vi));                  /* case folded by an MTA */
	snprintf(alt, sizeof(alt), "b+07-0123abcd0123abcd-3-%s", mac);
	assert_false(check(alt, &vi));                 /* leading zero: another spelling */
	snprintf(alt, sizeof(alt), "b+7-0123abcd0123abcd-03-%s", mac);
	assert_false(check(alt, &vi));
	snprintf(alt, sizeof(alt), "%s-x", tok);
	assert_false(check(alt, &vi));                 /* an extra part */
	snprintf(alt, sizeof(alt), "b+7+0123abcd0123abcd-3-%s", mac);
	assert_false(check(alt, &vi));
	snprintf(alt, sizeof(alt), "b+8-0123abcd0123abcd-3-%s", mac);
	assert_false(check(alt, &vi));                 /* another tenant, same MAC */
	snprintf(alt, sizeof(alt), "b+99999999999999999999-0123abcd0123abcd-3-%s", mac);
	assert_false(check(alt, &vi));                 /* a huge tenant id */
	assert_false(check("b+", &vi));
	assert_false(check("b", &vi));
}

/* The X-Ferry-Ref: form: the token without "b+", blanks around it allowed,
 * any change refused. */
static void
test_ref_header_token(void **state)
{
	struct verp_info vi = { .tenant_id = 12, .queue_id = "0123ABCD0123ABCD", .rcpt_index = 0 }, got;
	char ref[VERP_LOCAL_MAX + 1], local[VERP_LOCAL_MAX + 1], spaced[VERP_LOCAL_MAX + 8];

	(void)state;
	verp_ref_make(secret, &vi, ref, sizeof(ref));
	verp_local_make(secret, &vi, local, sizeof(local));
	assert_string_equal(ref, local + 2);
	assert_true(verp_ref_check(secret, ref, strlen(ref), &got));
	assert_int_equal(got.tenant_id, 12);
	assert_string_equal(got.queue_id, "0123abcd0123abcd");
	snprintf(spaced, sizeof(spaced), " \t%s \r\n", ref);
	assert_true(verp_ref_check(secret, spaced, strlen(spaced), &got));
	ref[strlen(ref) - 1] = ref[strlen(ref) - 1] == 'a' ? 'b' : 'a';
	assert_false(verp_ref_check(secret, ref, strlen(ref), &got));
	assert_false(verp_ref_check(secret, "", 0, &got));
	assert_false(verp_ref_check(secret, local, strlen(local), &got));   /* "b+b+..." */
}

/* A token bound to its recipient: parsed back with the binding, which
 * matches that address (any case) and no other; a token too long for the
 * binding leaves it out; one without it matches nothing. */
static void
test_rcpt_binding(void **state)
{
	struct verp_info vi = { .tenant_id = 7, .queue_id = "0123ABCD0123ABCD", .rcpt_index = 3 }, got;
	char local[VERP_LOCAL_MAX + 1];

	(void)state;
	verp_rcpt_bind(secret, &vi, "Alice@Example.NET");
	verp_local_make(secret, &vi, local, sizeof(local));
	assert_int_equal(strlen(local), 2 + 1 + 1 + 16 + 1 + 1 + 1 + 16 + 1 + 6);
	assert_true(verp_local_check(secret, local, strlen(local), &got));
	assert_true(verp_rcpt_matches(secret, &got, "alice@example.net"));
	assert_false(verp_rcpt_matches(secret, &got, "bob@example.net"));
	assert_false(verp_rcpt_matches(secret, &got, ""));
	/* the binding is not a free-for-all suffix: a changed one parses, but binds nobody */
	local[strlen(local) - 1] = local[strlen(local) - 1] == 'a' ? 'b' : 'a';
	assert_true(verp_local_check(secret, local, strlen(local), &got));
	assert_false(verp_rcpt_matches(secret, &got, "alice@example.net"));
	/* no binding: the old form, still genuine, matches no address */
	memset(vi.rcpt_mac, 0, sizeof(vi.rcpt_mac));
	verp_local_make(secret, &vi, local, sizeof(local));
	assert_true(verp_local_check(secret, local, strlen(local), &got));
	assert_false(verp_rcpt_matches(secret, &got, "alice@example.net"));
	/* too long for 64 octets with it: left out, the token still fits */
	vi.tenant_id = 9007199254740992LL;
	vi.rcpt_index = 999999;
	verp_rcpt_bind(secret, &vi, "alice@example.net");
	verp_local_make(secret, &vi, local, sizeof(local));
	assert_true(strlen(local) <= VERP_LOCAL_MAX);
	assert_true(verp_local_check(secret, local, strlen(local), &got));
	assert_string_equal(got.rcpt_mac, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_and_spellings),
		cmocka_unit_test(test_ref_header_token),
		cmocka_unit_test(test_rcpt_binding),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
