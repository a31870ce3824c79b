/*
 * verp.c - make and check the return-path tokens of verp.h.
 * SECURITY: the token arrives from anyone on the Internet (as a bounce's
 * recipient): it is parsed with explicit lengths and its MAC compared in
 * constant time before any field is believed.
 */
#include <ctype.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/verp.h"

#define VERP_MAC_OCTETS 10
#define VERP_MAC_CHARS  16    /* 80 bits in base32 */

static void
verp_mac(const unsigned char secret[32], const struct verp_info *vi, char out[VERP_MAC_CHARS + 1])
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char msg[96];
	int n = snprintf(msg, sizeof(msg), "%lld-%s-%u", vi->tenant_id, vi->queue_id, vi->rcpt_index);
	unsigned bits = 0, acc = 0;
	size_t o = 0;

	crypto_auth_hmacsha256(mac, (const unsigned char *)msg, (size_t)n, secret);
	for (size_t i = 0; i < VERP_MAC_OCTETS; i++) {
		acc = (acc << 8) | mac[i];
		bits += 8;
		while (bits >= 5) {
			out[o++] = b32[(acc >> (bits - 5)) & 31];
			bits -= 5;
		}
	}
	out[o] = '\0';
}

void
verp_local_make(const unsigned char secret[32], const struct verp_info *vi, char *out, size_t outsz)
{
	char mac[VERP_MAC_CHARS + 1];
	char qid[sizeof(vi->queue_id)];
	size_t i;

	for (i = 0; vi->queue_id[i] != '\0' && i + 1 < sizeof(qid); i++)
		qid[i] = (char)tolower((unsigned char)vi->queue_id[i]);
	qid[i] = '\0';
	{
		struct verp_info lower = *vi;
		memcpy(lower.queue_id, qid, sizeof(qid));
		verp_mac(secret, &lower, mac);
	}
	snprintf(out, outsz, "b+%lld-%s-%u-%s", vi->tenant_id, qid, vi->rcpt_index, mac);
}

void
verp_ref_make(const unsigned char secret[32], const struct verp_info *vi, char *out, size_t outsz)
{
	char local[VERP_LOCAL_MAX + 1];

	verp_local_make(secret, vi, local, sizeof(local));
	snprintf(out, outsz, "%s", local + 2);
}

bool
verp_ref_check(const unsigned char secret[32], const char *text, size_t len, struct verp_info *vi)
{
	char local[VERP_LOCAL_MAX + 1];

	while (len > 0 && (text[0] == ' ' || text[0] == '\t')) {
		text++;
		len--;
	}
	while (len > 0 && (text[len - 1] == ' ' || text[len - 1] == '\t' || text[len - 1] == '\r' ||
	    text[len - 1] == '\n'))
		len--;
	if (len == 0 || len + 2 > VERP_LOCAL_MAX)
		return false;
	local[0] = 'b';
	local[1] = '+';
	memcpy(local + 2, text, len);
	return verp_local_check(secret, local, len + 2, vi);
}

/* A decimal field of at most max ending at sep, as verp_local_make writes
 * it (no leading zero: one token, one spelling); advances *p. */
static bool
verp_num(const char **p, const char *end, char sep, unsigned long long max, unsigned long long *v)
{
	const char *s = *p;
	unsigned long long n = 0;

	if (s >= end || !isdigit((unsigned char)*s))
		return false;
	if (*s == '0' && s + 1 < end && isdigit((unsigned char)s[1]))
		return false;
	while (s < end && isdigit((unsigned char)*s)) {
		n = n * 10 + (unsigned)(*s - '0');
		if (n > max)
			return false;
		s++;
	}
	if (s >= end || *s != sep)
		return false;
	*v = n;
	*p = s + 1;
	return true;
}

bool
verp_local_check(const unsigned char secret[32], const char *local, size_t len, struct verp_info *vi)
{
	const char *p = local + 2, *end = local + len, *dash;
	char want[VERP_MAC_CHARS + 1], got[VERP_MAC_CHARS + 1];
	unsigned long long tenant, idx;
	size_t qlen;

	if (len < 2 || len > VERP_LOCAL_MAX || (local[0] != 'b' && local[0] != 'B') || local[1] != '+')
		return false;
	if (!verp_num(&p, end, '-', 1ULL << 53, &tenant) || tenant == 0)
		return false;
	dash = memchr(p, '-', (size_t)(end - p));
	if (dash == NULL || (qlen = (size_t)(dash - p)) == 0 || qlen >= sizeof(vi->queue_id))
		return false;
	memset(vi, 0, sizeof(*vi));
	for (size_t i = 0; i < qlen; i++) {
		if (!isxdigit((unsigned char)p[i]))
			return false;
		vi->queue_id[i] = (char)tolower((unsigned char)p[i]);
	}
	p = dash + 1;
	if (!verp_num(&p, end, '-', 1000000, &idx))
		return false;
	if ((size_t)(end - p) != VERP_MAC_CHARS)
		return false;
	for (size_t i = 0; i < VERP_MAC_CHARS; i++)
		got[i] = (char)tolower((unsigned char)p[i]);
	got[VERP_MAC_CHARS] = '\0';
	vi->tenant_id = (long long)tenant;
	vi->rcpt_index = (unsigned)idx;
	verp_mac(secret, vi, want);
	if (sodium_memcmp(want, got, VERP_MAC_CHARS) != 0) {
		memset(vi, 0, sizeof(*vi));
		return false;
	}
	return true;
}
