/*
 * test_unsub.c - one-click unsubscribe tokens (state/unsub.h): a token
 * made checks back to its tenant, address and time; every altered octet,
 * a cut or extended token, another secret, a token of another tenant
 * pasted with this one's MAC, oversized and non-base64url input are all
 * refused; the tenant's setting round-trips through the database (a
 * SQLite file, or PostgreSQL under FERRY_TEST_PG: state_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "state/state.h"
#include "state/state_admin.h"
#include "state/unsub.h"

#include "state_fixture.h"

static const unsigned char secret[32] = "0123456789abcdef0123456789abcde";

static void
test_roundtrip(void **state)
{
	char tok[UNSUB_TOKEN_MAX + 1];
	struct unsub_info in;

	(void)state;
	assert_int_equal(unsub_token_make(secret, 42, "Rcpt.One@Example.COM", 1796000000, tok, sizeof(tok)), 0);
	assert_true(strlen(tok) >= 32);        /* 128-bit MAC at least */
	assert_null(strpbrk(tok, "+/="));      /* URL-safe, no padding */
	assert_true(unsub_token_check(secret, tok, strlen(tok), &in));
	assert_int_equal(in.tenant_id, 42);
	assert_int_equal((long long)in.time, 1796000000LL);
	assert_string_equal(in.rcpt, "Rcpt.One@Example.COM");
}

static void
test_tamper(void **state)
{
	static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	char tok[UNSUB_TOKEN_MAX + 1], bad[UNSUB_TOKEN_MAX + 8];
	unsigned char other[32];
	struct unsub_info in;
	size_t n;

	(void)state;
	assert_int_equal(unsub_token_make(secret, 7, "a@b.example", 1796000000, tok, sizeof(tok)), 0);
	n = strlen(tok);
	/* every position, changed to another base64url letter */
	for (size_t i = 0; i < n; i++) {
		memcpy(bad, tok, n + 1);
		bad[i] = b64[(strchr(b64, tok[i]) - b64 + 1) % 64];
		/* the last letter carries padding bits only in part: a change
		 * there may decode to the same octets (then it is the same token) */
		if (i == n - 1)
			continue;
		assert_false(unsub_token_check(secret, bad, n, &in));
	}
	/* cut: every shorter prefix */
	for (size_t k = 0; k < n; k++)
		assert_false(unsub_token_check(secret, tok, k, &in));
	/* extended */
	snprintf(bad, sizeof(bad), "%sAA", tok);
	assert_false(unsub_token_check(secret, bad, strlen(bad), &in));
	/* another secret */
	memcpy(other, secret, 32);
	other[0] ^= 1;
	assert_false(unsub_token_check(other, tok, n, &in));
	/* not base64url, and padding */
	memcpy(bad, tok, n + 1);
	bad[3] = '+';
	assert_false(unsub_token_check(secret, bad, n, &in));
	snprintf(bad, sizeof(bad), "%s=", tok);
	assert_false(unsub_token_check(secret, bad, strlen(bad), &in));
}

/* The same address for another tenant: its token differs, and splicing
 * the other tenant's id into this token's payload breaks the MAC. */
static void
test_other_tenant(void **state)
{
	char t1[UNSUB_TOKEN_MAX + 1], t2[UNSUB_TOKEN_MAX + 1];
	unsigned char raw[UNSUB_HEAD_LEN + SUPPRESS_ADDR_MAX + UNSUB_MAC_LEN];
	char forged[UNSUB_TOKEN_MAX + 1];
	struct unsub_info in;
	size_t n = 0;

	(void)state;
	assert_int_equal(unsub_token_make(secret, 1, "x@y.example", 1796000000, t1, sizeof(t1)), 0);
	assert_int_equal(unsub_token_make(secret, 2, "x@y.example", 1796000000, t2, sizeof(t2)), 0);
	assert_string_not_equal(t1, t2);
	assert_int_equal(sodium_base642bin(raw, sizeof(raw), t1, strlen(t1), NULL, &n, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
	raw[8] = 2;                            /* tenant 1 -> 2, MAC of tenant 1 kept */
	sodium_bin2base64(forged, sizeof(forged), raw, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	assert_false(unsub_token_check(secret, forged, strlen(forged), &in));
	assert_true(unsub_token_check(secret, t2, strlen(t2), &in));
	assert_int_equal(in.tenant_id, 2);
}

static void
test_bounds(void **state)
{
	char tok[UNSUB_TOKEN_MAX + 1], addr[400], big[2 * UNSUB_TOKEN_MAX];
	struct unsub_info in;

	(void)state;
	/* the longest address fits the maximum, one more does not */
	memset(addr, 'a', sizeof(addr));
	memcpy(addr + SUPPRESS_ADDR_MAX - 10, "@b.example", 11);
	assert_int_equal((int)strlen(addr), SUPPRESS_ADDR_MAX);
	assert_int_equal(unsub_token_make(secret, 1, addr, 1, tok, sizeof(tok)), 0);
	assert_true(strlen(tok) <= UNSUB_TOKEN_MAX);
	assert_true(unsub_token_check(secret, tok, strlen(tok), &in));
	memset(addr, 'a', sizeof(addr));
	memcpy(addr + SUPPRESS_ADDR_MAX - 9, "@b.example", 11);
	assert_int_equal(unsub_token_make(secret, 1, addr, 1, tok, sizeof(tok)), -1);
	/* no address, control octets, too small a buffer */
	assert_int_equal(unsub_token_make(secret, 1, "", 1, tok, sizeof(tok)), -1);
	assert_int_equal(unsub_token_make(secret, 1, "a\r\n@b", 1, tok, sizeof(tok)), -1);
	assert_int_equal(unsub_token_make(secret, 1, "a@b", 1, tok, 20), -1);
	/* oversized input is refused before decoding */
	memset(big, 'A', sizeof(big));
	assert_false(unsub_token_check(secret, big, sizeof(big), &in));
	assert_false(unsub_token_check(secret, "", 0, &in));
}

static void
test_tenant_setting(void **state)
{
	char dir[] = "/tmp/ferry-unsub.XXXXXX", path[128], err[512];
	struct state_tenant t;
	struct state *st;
	bool on = true;

	(void)state;
	assert_non_null(mkdtemp(dir));
	st = state_fixture_open(dir, path, sizeof(path), err, sizeof(err));
	assert_int_equal(state_tenant_add(st, "acme", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(state_tenant_by_name(st, "acme", &t), 1);
	assert_int_equal(state_tenant_unsubscribe(st, t.id, &on), 1);
	assert_false(on);                      /* off by default */
	assert_int_equal(state_tenant_unsubscribe_set(st, "acme", true), 1);
	assert_int_equal(state_tenant_unsubscribe(st, t.id, &on), 1);
	assert_true(on);
	assert_int_equal(state_tenant_unsubscribe_set(st, "nobody", true), 0);
	assert_int_equal(state_tenant_unsubscribe(st, t.id + 100, &on), 0);
	state_close(st);
	snprintf(path, sizeof(path), "rm -rf '%s'", dir);
	assert_int_equal(system(path), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip),
		cmocka_unit_test(test_tamper),
		cmocka_unit_test(test_other_tenant),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_tenant_setting),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
