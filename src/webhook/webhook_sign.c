/*
 * webhook_sign.c - HMAC-SHA256 of "UNIX.BODY" with OpenSSL's EVP_MAC
 * (webhook_sign.h). STANDARDS: RFC 2104 (HMAC), FIPS 180-4 (SHA-256).
 * SECURITY: the key is the secret's text; nothing here logs or keeps it.
 */
#include "webhook/webhook_sign.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <stdio.h>
#include <string.h>

/* HMAC-SHA256 over the two parts, as one message. 0 or -1. */
static int
webhook_hmac(const char *key, const char *a, size_t alen, const char *b, size_t blen,
    unsigned char out[32])
{
	EVP_MAC *mac = EVP_MAC_fetch(NULL, "HMAC", NULL);
	EVP_MAC_CTX *ctx = mac != NULL ? EVP_MAC_CTX_new(mac) : NULL;
	OSSL_PARAM params[] = {
		OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, (char *)"SHA256", 0),
		OSSL_PARAM_construct_end(),
	};
	size_t outlen = 0;
	int rc = -1;

	if (ctx != NULL && EVP_MAC_init(ctx, (const unsigned char *)key, strlen(key), params) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)a, alen) == 1 &&
	    EVP_MAC_update(ctx, (const unsigned char *)b, blen) == 1 &&
	    EVP_MAC_final(ctx, out, &outlen, 32) == 1 && outlen == 32)
		rc = 0;
	EVP_MAC_CTX_free(ctx);
	EVP_MAC_free(mac);
	return rc;
}

int
webhook_sign(const char *secret, time_t t, const char *body, size_t len, char *out, size_t outsz)
{
	unsigned char mac[32];
	char prefix[32];
	int n = snprintf(prefix, sizeof(prefix), "%lld.", (long long)t), used;

	if (outsz < WEBHOOK_SIG_MAX || webhook_hmac(secret, prefix, (size_t)n, body, len, mac) < 0)
		return -1;
	used = snprintf(out, outsz, "t=%lld,v1=", (long long)t);
	for (size_t i = 0; i < sizeof(mac); i++)
		used += snprintf(out + used, outsz - (size_t)used, "%02x", mac[i]);
	OPENSSL_cleanse(mac, sizeof(mac));
	return 0;
}
