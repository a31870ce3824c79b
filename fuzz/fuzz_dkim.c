/*
 * fuzz_dkim.c - libFuzzer target for DKIM signing (src/dkim/dkim.c): the
 * input is a hostile message (header section split, folding, body
 * canonicalization) behind a From: line of the key's domain. Invariant:
 * signing never fails on a message that fits, and the header it returns is
 * CRLF-terminated lines only.
 */
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dkim/dkim.h"

#define CHECK(cond) do { if (!(cond)) abort(); } while (0)

static struct dkim_key *
fuzz_key(void)
{
	static struct dkim_key *k;
	char path[] = "/tmp/ferry-fuzz-dkim-XXXXXX", err[256];
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *ctx;
	FILE *f;
	int fd;

	if (k != NULL)
		return k;
	ctx = EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, NULL);
	fd = mkstemp(path);
	CHECK(fd >= 0 && ctx != NULL && EVP_PKEY_keygen_init(ctx) == 1 && EVP_PKEY_keygen(ctx, &pkey) == 1);
	f = fdopen(fd, "w");
	PEM_write_PrivateKey(f, pkey, NULL, NULL, 0, NULL, NULL);
	fclose(f);
	chmod(path, 0600);
	k = dkim_key_load("fuzz.test", "s", path, err, sizeof(err));
	unlink(path);
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	CHECK(k != NULL);
	return k;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char from[] = "From: f@fuzz.test\r\n";
	char *msg = malloc(sizeof(from) - 1 + size), *sig = NULL;
	struct dkim_key *k = fuzz_key();

	memcpy(msg, from, sizeof(from) - 1);
	memcpy(msg + sizeof(from) - 1, data, size);
	CHECK(dkim_sign_buf(&k, 1, msg, sizeof(from) - 1 + size, 1700000000, &sig) == 0);
	for (const char *p = sig; p != NULL && *p; p++)
		CHECK(*p != '\n' || (p > sig && p[-1] == '\r'));
	free(sig);
	free(msg);
	return 0;
}
