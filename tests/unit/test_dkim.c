/* test_dkim.c - DKIM signing: relaxed body canonicalization against the
 * RFC 6376 3.4.6 example and edge cases (empty body, no final CRLF, only
 * blank lines), the signature header's shape, key file checks, and a
 * message read once and signed again with header lines put before it
 * (dkim_prep: one-click unsubscribe per recipient). The
 * signatures themselves are verified by python3-dkim in test_dkim.py. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim/dkim.h"

static char keypath[64];

static int
setup_key(void **state)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	FILE *f;
	int fd;

	(void)state;
	snprintf(keypath, sizeof(keypath), "/tmp/ferry-dkim-XXXXXX");
	fd = mkstemp(keypath);
	if (fd < 0 || ctx == NULL || EVP_PKEY_keygen_init(ctx) != 1 || EVP_PKEY_keygen(ctx, &pkey) != 1)
		return -1;
	f = fdopen(fd, "w");
	PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(keypath, 0600);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	return 0;
}

static int
teardown_key(void **state)
{
	(void)state;
	unlink(keypath);
	return 0;
}

/* The bh= of signing "From: a@x.test\r\n\r\n" + body must be the SHA-256 of canon. */
static void
check_body(const char *body, const char *canon)
{
	char err[256], msg[512], *sig = NULL, expect[64], got[64];
	unsigned char digest[32];
	unsigned int dl = 32;
	struct dkim_key *k = dkim_key_load("x.test", "s1", keypath, err, sizeof(err));

	assert_non_null(k);
	snprintf(msg, sizeof(msg), "From: a@x.test\r\nSubject:  two   spaces \r\n\r\n%s", body);
	assert_int_equal(dkim_sign_buf(&k, 1, msg, strlen(msg), 1700000000, &sig), 0);
	assert_non_null(sig);
	EVP_Digest(canon, strlen(canon), digest, &dl, EVP_sha256(), NULL);
	EVP_EncodeBlock((unsigned char *)expect, digest, 32);
	const char *bh = strstr(sig, "bh=");
	assert_non_null(bh);
	snprintf(got, sizeof(got), "%.*s", (int)strcspn(bh + 3, ";"), bh + 3);
	assert_string_equal(got, expect);
	assert_non_null(strstr(sig, "a=ed25519-sha256; c=relaxed/relaxed; d=x.test; s=s1;"));
	assert_non_null(strstr(sig, "t=1700000000; h=from:from:subject;"));
	assert_true(strlen(sig) > 2 && strcmp(sig + strlen(sig) - 2, "\r\n") == 0);
	for (const char *p = sig; (p = strchr(p, '\n')) != NULL; p++)
		assert_true(p[-1] == '\r');
	free(sig);
	dkim_key_free(k);
}

static void
test_relaxed_body(void **state)
{
	(void)state;
	check_body(" C \r\nD \t E\r\n\r\n\r\n", " C\r\nD E\r\n");   /* RFC 6376 3.4.6 */
	check_body("", "");
	check_body("abc", "abc\r\n");
	check_body("\r\n\r\n", "");
	check_body("a\r\n\r\n \t \r\nb\r\n", "a\r\n\r\n\r\nb\r\n");
}

/* Only a key of the From: domain or a parent of it signs. */
static void
test_key_follows_from_domain(void **state)
{
	char err[256], *sig = (char *)1;
	struct dkim_key *k = dkim_key_load("x.test", "s1", keypath, err, sizeof(err));
	static const char other[] = "From: Bob <bob@y.test>\r\n\r\nhi\r\n";
	static const char sub[] = "From: \"a@x.test\" <news@Mail.X.test>\r\n\r\nhi\r\n";
	static const char look_alike[] = "From: a@notx.test\r\n\r\nhi\r\n";
	static const char body_from[] = "\r\nFrom: a@x.test\r\n\r\nhi\r\n";

	(void)state;
	assert_non_null(k);
	assert_int_equal(dkim_sign_buf(&k, 1, other, strlen(other), 0, &sig), 0);
	assert_null(sig);
	assert_int_equal(dkim_sign_buf(&k, 1, look_alike, strlen(look_alike), 0, &sig), 0);
	assert_null(sig);
	assert_int_equal(dkim_sign_buf(&k, 1, body_from, strlen(body_from), 0, &sig), 0);
	assert_null(sig);                        /* no header section: a From: in the body is body */
	assert_int_equal(dkim_sign_buf(&k, 1, sub, strlen(sub), 0, &sig), 0);
	assert_non_null(sig);
	assert_non_null(strstr(sig, "d=x.test;"));
	free(sig);
	dkim_key_free(k);
}

/* A message no key applies to is not read past its header section: a file
 * shorter than the envelope says (the body unreadable past 256 KiB) still
 * gives 0 and no header, where reading the body would fail. */
static void
test_fd_no_key_skips_body(void **state)
{
	char err[256], path[] = "/tmp/ferry-dkim-msg-XXXXXX", *sig = (char *)1;
	static const char head[] = "From: Bob <bob@y.test>\r\n\r\n";
	static char body[300 * 1024];
	struct dkim_key *k = dkim_key_load("x.test", "s1", keypath, err, sizeof(err));
	int fd = mkstemp(path);
	uint64_t len = sizeof(head) - 1 + sizeof(body);

	(void)state;
	assert_non_null(k);
	assert_true(fd >= 0);
	memset(body, 'a', sizeof(body));
	assert_int_equal(write(fd, head, sizeof(head) - 1), (ssize_t)sizeof(head) - 1);
	assert_int_equal(write(fd, body, sizeof(body)), (ssize_t)sizeof(body));
	assert_int_equal(dkim_sign_fd(&k, 1, fd, 0, len + 100000, 0, &sig), 0);
	assert_null(sig);
	/* the same message with a key of its domain reads the body: it fails */
	dkim_key_free(k);
	k = dkim_key_load("y.test", "s1", keypath, err, sizeof(err));
	assert_non_null(k);
	assert_int_equal(dkim_sign_fd(&k, 1, fd, 0, len + 100000, 0, &sig), -1);
	assert_null(sig);
	assert_int_equal(dkim_sign_fd(&k, 1, fd, 0, len, 0, &sig), 0);
	assert_non_null(sig);
	free(sig);
	close(fd);
	unlink(path);
	dkim_key_free(k);
}

/* dkim_sign_fd_with: the key chooser sees the From: domain, lowercased,
 * and is not asked when there is none. */
static char keys_asked[256];
static struct dkim_key *keys_given;

static size_t
keys_choose(void *arg, const char *domain, struct dkim_key *const **keys)
{
	(void)arg;
	snprintf(keys_asked, sizeof(keys_asked), "%s", domain);
	*keys = &keys_given;
	return 1;
}

static void
test_fd_with_chooser(void **state)
{
	char err[256], path[] = "/tmp/ferry-dkim-msg-XXXXXX", *sig = (char *)1;
	static const char msg[] = "From: Ann <ann@Mail.X.test>\r\nSubject: s\r\n\r\nhi\r\n";
	static const char nofrom[] = "Subject: s\r\n\r\nhi\r\n";
	int fd = mkstemp(path);

	(void)state;
	keys_given = dkim_key_load("x.test", "s1", keypath, err, sizeof(err));
	assert_non_null(keys_given);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(write(fd, nofrom, strlen(nofrom)), (ssize_t)strlen(nofrom));
	assert_int_equal(dkim_sign_fd_with(keys_choose, NULL, fd, 0, strlen(msg), 0, &sig), 0);
	assert_string_equal(keys_asked, "mail.x.test");
	assert_non_null(sig);
	assert_non_null(strstr(sig, "d=x.test;"));
	free(sig);
	keys_asked[0] = '\0';
	assert_int_equal(dkim_sign_fd_with(keys_choose, NULL, fd, (off_t)strlen(msg), strlen(nofrom), 0,
	    &sig), 0);
	assert_null(sig);
	assert_string_equal(keys_asked, "");
	close(fd);
	unlink(path);
	dkim_key_free(keys_given);
}

/* dkim_prep: signing with extra lines is signing the message that has
 * them (Ed25519 is deterministic: the same header, octet for octet), h=
 * covers them, the prep outlives the caller's key, and a message's own
 * List-Unsubscribe is seen. */
static void
test_prep_extra(void **state)
{
	static const char msg[] = "From: Ann <ann@x.test>\r\nSubject: s\r\n\r\nhi\r\n";
	static const char own[] = "From: ann@x.test\r\nlist-unsubscribe: <mailto:u@x.test>\r\n\r\nhi\r\n";
	static const char extra[] = "List-Unsubscribe: <https://m.x.test/unsubscribe/T0k>\r\n"
	    "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
	char err[256], path[] = "/tmp/ferry-dkim-prep-XXXXXX", whole[512], *sig = NULL, *want = NULL;
	struct dkim_prep *p = NULL;
	int fd = mkstemp(path);

	(void)state;
	keys_given = dkim_key_load("x.test", "s1", keypath, err, sizeof(err));
	assert_non_null(keys_given);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, msg, strlen(msg)), (ssize_t)strlen(msg));
	assert_int_equal(write(fd, own, strlen(own)), (ssize_t)strlen(own));
	assert_int_equal(dkim_prep_fd_with(keys_choose, NULL, fd, 0, strlen(msg), &p), 0);
	dkim_key_free(keys_given);             /* the prep holds its own reference */
	assert_false(dkim_prep_has_field(p, "list-unsubscribe"));
	assert_int_equal(dkim_prep_sign(p, extra, 1700000000, &sig), 0);
	assert_non_null(sig);
	/* the unsubscribe pair right after From, ahead of what could fill h= */
	assert_non_null(strstr(sig, "h=from:from:list-unsubscribe:list-unsubscribe-post:subject;"));
	keys_given = dkim_key_load("x.test", "s1", keypath, err, sizeof(err));
	snprintf(whole, sizeof(whole), "%s%s", extra, msg);
	assert_int_equal(dkim_sign_buf(&keys_given, 1, whole, strlen(whole), 1700000000, &want), 0);
	assert_string_equal(sig, want);
	free(sig);
	free(want);
	/* without extra lines: the usual signature */
	assert_int_equal(dkim_prep_sign(p, "", 1700000000, &sig), 0);
	assert_non_null(strstr(sig, "h=from:from:subject;"));
	free(sig);
	dkim_prep_free(p);
	assert_int_equal(dkim_prep_fd_with(keys_choose, NULL, fd, (off_t)strlen(msg), strlen(own), &p), 0);
	assert_true(dkim_prep_has_field(p, "List-Unsubscribe"));
	dkim_prep_free(p);
	close(fd);
	unlink(path);
	dkim_key_free(keys_given);
}

static void
test_key_checks(void **state)
{
	char err[256];
	(void)state;
	chmod(keypath, 0640);
	assert_null(dkim_key_load("x.test", "s1", keypath, err, sizeof(err)));
	assert_non_null(strstr(err, "group or others"));
	chmod(keypath, 0600);
	assert_null(dkim_key_load("x.test", "s1", "/nonexistent/key.pem", err, sizeof(err)));
	assert_non_null(strstr(err, "/nonexistent/key.pem"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_relaxed_body),
		cmocka_unit_test(test_key_follows_from_domain),
		cmocka_unit_test(test_fd_no_key_skips_body),
		cmocka_unit_test(test_fd_with_chooser),
		cmocka_unit_test(test_key_checks),
		cmocka_unit_test(test_prep_extra),
	};
	return cmocka_run_group_tests(tests, setup_key, teardown_key);
}
