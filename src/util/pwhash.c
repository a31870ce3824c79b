/*
 * pwhash.c - argon2id password hashes through libsodium, for the users file
 * and the state's accounts alike.
 * STANDARDS: RFC 9106 (Argon2) through libsodium's crypto_pwhash_str.
 * SECURITY: unknown users cost one verification too (a dummy hash), so
 * timing does not reveal which users exist.
 */
#include "util/pwhash.h"

#include <pthread.h>
#include <sodium.h>

_Static_assert(PWHASH_STR_MAX == crypto_pwhash_STRBYTES, "PWHASH_STR_MAX is libsodium's size");

static char pwhash_dummy[PWHASH_STR_MAX];
static pthread_once_t pwhash_dummy_once = PTHREAD_ONCE_INIT;

/* sodium_init is idempotent and thread-safe. */
bool
pwhash_init(void)
{
	return sodium_init() >= 0;
}

int
pwhash_make(const char *pass, size_t passlen, char hash[PWHASH_STR_MAX])
{
	if (!pwhash_init())
		return -1;
	return crypto_pwhash_str(hash, pass, passlen, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) == 0 ? 0 : -1;
}

/* A hash of a random password nobody knows, with the same limits. If
 * hashing fails (no memory) it stays empty and unknown users are answered
 * fast: a timing hint, never a wrong answer. */
static void
pwhash_dummy_init(void)
{
	unsigned char pw[32];

	randombytes_buf(pw, sizeof(pw));
	if (pwhash_make((const char *)pw, sizeof(pw), pwhash_dummy) != 0)
		pwhash_dummy[0] = '\0';
	sodium_memzero(pw, sizeof(pw));
}

bool
pwhash_verify(const char *hash, const char *pass, size_t passlen)
{
	bool spent;

	if (!pwhash_init())
		return false;
	if (hash == NULL) {
		/* The answer is no; the verification only spends the time. */
		pthread_once(&pwhash_dummy_once, pwhash_dummy_init);
		spent = pwhash_dummy[0] != '\0' && crypto_pwhash_str_verify(pwhash_dummy, pass, passlen) == 0;
		(void)spent;
		return false;
	}
	return hash[0] != '\0' && crypto_pwhash_str_verify(hash, pass, passlen) == 0;
}

bool
pwhash_valid(const char *hash, size_t len)
{
	if (len == 0 || len >= PWHASH_STR_MAX)
		return false;
	for (size_t i = 0; i < len; i++)
		if (hash[i] <= ' ' || hash[i] > '~' || hash[i] == ':')
			return false;
	return crypto_pwhash_str_needs_rehash(hash, crypto_pwhash_OPSLIMIT_INTERACTIVE,
	    crypto_pwhash_MEMLIMIT_INTERACTIVE) >= 0;
}
