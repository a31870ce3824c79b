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

static void
verp_b32(const unsigned char *in, size_t chars, char *out)
{
	static const char b32[] = "abcdefghijklmnopqrstuvwxyz234567";
	unsigned bits = 0, acc = 0;
	size_t o = 0, i = 0;

	while (o < chars) {
		if (bits < 5) {
			acc = (acc << 8) | in[i++];
			bits += 8;
		}
		out[o++] = b32[(acc >> (bits - 5)) & 31];
		bits -= 5;
	}
	out[o] = '\0';
}

/* The recipient MAC of vi (queue id lowercase) for addr. */
static void
verp_rcpt_mac(const unsigned char secret[32], const struct verp_info *vi, const char *addr,
    char out[VERP_RCPT_MAC_CHARS + 1])
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	crypto_auth_hmacsha256_state st;
	char head[96], qid[sizeof(vi->queue_id)];
	size_t i;
	int n;

	for (i = 0; vi->queue_id[i] != '\0' && i + 1 < sizeof(qid); i++)
		qid[i] = (char)tolower((unsigned char)vi->queue_id[i]);
	qid[i] = '\0';
	n = snprintf(head, sizeof(head), "rcpt:%lld-%s-%u:", vi->tenant_id, qid, vi->rcpt_index);
	crypto_auth_hmacsha256_init(&st, secret, 32);
	crypto_auth_hmacsha256_update(&st, (const unsigned char *)head, (size_t)n);
	for (const char *p = addr; *p != '\0'; p++) {
		unsigned char c = (unsigned char)tolower((unsigned char)*p);
		crypto_auth_hmacsha256_update(&st, &c, 1);
	}
	crypto_auth_hmacsha256_final(&st, mac);
	verp_b32(mac, VERP_RCPT_MAC_CHARS, out);
}

void
verp_rcpt_bind(const unsigned char secret[32], struct verp_info *vi, const char *addr)
{
	verp_rcpt_mac(secret, vi, addr, vi->rcpt_mac);
}

bool
verp_rcpt_matches(const unsigned char secret[32], const struct verp_info *vi, const char *addr)
{
	char want[VERP_RCPT_MAC_CHARS + 1];

	if (vi->rcpt_mac[0] == '\0' || addr == NULL || addr[0] == '\0')
		return false;
	verp_rcpt_mac(secret, vi, addr, want);
	return sodium_memcmp(want, vi->rcpt_mac, VERP_RCPT_MAC_CHARS) == 0;
}

void
verp_local_make(const unsigned char secret[32], const struct verp_info *vi, char *out, size_t outsz)
{
	char mac[VERP_MAC_CHARS + 1];
	char qid[sizeof(vi->queue_id)];
	size_t i;
	int n;

	for (i = 0; vi->queue_id[i] != '\0' && i + 1 < sizeof(qid); i++)
		qid[i] = (char)tolower((unsigned char)vi->queue_id[i]);
	qid[i] = '\0';
	{
		struct verp_info lower = *vi;
		memcpy(lower.queue_id, qid, sizeof(qid));
		verp_mac(secret, &lower, mac);
	}
	n = snprintf(out, outsz, "b+%lld-%s-%u-%s", vi->tenant_id, qid, vi->rcpt_index, mac);
	/* the binding only where RFC 5321's 64 octets leave room */
	if (vi->rcpt_mac[0] != '\0' && n > 0 && (size_t)n + 1 + VERP_RCPT_MAC_CHARS <= VERP_LOCAL_MAX &&
	    (size_t)n + 1 + VERP_RCPT_MAC_CHARS < outsz)
		snprintf(out + n, outsz - (size_t)n, "-%s", vi->rcpt_mac);
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
	char want[VERP_MAC_CHARS + 1], got[VERP_MAC_CHARS + 1], rmac[VERP_RCPT_MAC_CHARS + 1] = "";
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
	if ((size_t)(end - p) == VERP_MAC_CHARS + 1 + VERP_RCPT_MAC_CHARS && p[VERP_MAC_CHARS] == '-') {
		for (size_t i = 0; i < VERP_RCPT_MAC_CHARS; i++) {
			char c = (char)tolower((unsigned char)p[VERP_MAC_CHARS + 1 + i]);
			if (!((c >= 'a' && c <= 'z') || (c >= '2' && c <= '7')))
				return false;
			rmac[i] = c;
		}
		rmac[VERP_RCPT_MAC_CHARS] = '\0';
		end = p + VERP_MAC_CHARS;
	}
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
	memcpy(vi->rcpt_mac, rmac, sizeof(vi->rcpt_mac));
	return true;
}
