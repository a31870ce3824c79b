/*
 * unsub.c - one-click unsubscribe tokens and the tenant's setting (see
 * unsub.h). STANDARDS: RFC 8058 (the link and its POST), RFC 4648 5
 * (base64url).
 * SECURITY: tokens are untrusted input (unsub.h); the derived key is
 * wiped after each use.
 */
#include "state/unsub.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "state/state_internal.h"

/* HMAC-SHA256(secret, UNSUB_KEY_LABEL): the key of unsubscribe tokens. */
static void
unsub_key(const unsigned char secret[32], unsigned char key[32])
{
	crypto_auth_hmacsha256(key, (const unsigned char *)UNSUB_KEY_LABEL, strlen(UNSUB_KEY_LABEL), secret);
}

static void
unsub_mac(const unsigned char secret[32], const unsigned char *payload, size_t len,
    unsigned char mac[UNSUB_MAC_LEN])
{
	unsigned char key[32], full[crypto_auth_hmacsha256_BYTES];

	unsub_key(secret, key);
	crypto_auth_hmacsha256(full, payload, len, key);
	memcpy(mac, full, UNSUB_MAC_LEN);
	sodium_memzero(key, sizeof(key));
	sodium_memzero(full, sizeof(full));
}

static bool
unsub_addr_ok(const char *a, size_t len)
{
	if (len == 0 || len > SUPPRESS_ADDR_MAX || memchr(a, '@', len) == NULL)
		return false;
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)a[i] < 0x21 || (unsigned char)a[i] == 0x7f)
			return false;
	return true;
}

static void
unsub_put64(unsigned char *p, unsigned long long v)
{
	for (int i = 7; i >= 0; i--, v >>= 8)
		p[i] = (unsigned char)(v & 0xff);
}

static unsigned long long
unsub_get64(const unsigned char *p)
{
	unsigned long long v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | p[i];
	return v;
}

int
unsub_token_make(const unsigned char secret[32], long long tenant_id, const char *rcpt, time_t now,
    char *out, size_t outsz)
{
	unsigned char buf[UNSUB_HEAD_LEN + SUPPRESS_ADDR_MAX + UNSUB_MAC_LEN];
	size_t rl = strlen(rcpt), n = UNSUB_HEAD_LEN + rl;

	if (!unsub_addr_ok(rcpt, rl) || outsz <= UNSUB_TOKEN_MAX)
		return -1;
	buf[0] = 1;
	unsub_put64(buf + 1, (unsigned long long)tenant_id);
	unsub_put64(buf + 9, (unsigned long long)now);
	memcpy(buf + UNSUB_HEAD_LEN, rcpt, rl);
	unsub_mac(secret, buf, n, buf + n);
	sodium_bin2base64(out, outsz, buf, n + UNSUB_MAC_LEN, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return 0;
}

bool
unsub_token_check(const unsigned char secret[32], const char *token, size_t len, struct unsub_info *info)
{
	unsigned char buf[UNSUB_HEAD_LEN + SUPPRESS_ADDR_MAX + UNSUB_MAC_LEN], mac[UNSUB_MAC_LEN];
	size_t n = 0, rl;
	const char *end = NULL;

	/* the length first: nothing longer than the longest token is decoded */
	if (len > UNSUB_TOKEN_MAX || len < ((UNSUB_HEAD_LEN + 3 + UNSUB_MAC_LEN) * 4 + 2) / 3)
		return false;
	if (sodium_base642bin(buf, sizeof(buf), token, len, NULL, &n, &end,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0 || end != token + len ||
	    n < UNSUB_HEAD_LEN + 3 + UNSUB_MAC_LEN || buf[0] != 1)
		return false;
	rl = n - UNSUB_HEAD_LEN - UNSUB_MAC_LEN;
	unsub_mac(secret, buf, n - UNSUB_MAC_LEN, mac);
	if (sodium_memcmp(mac, buf + n - UNSUB_MAC_LEN, UNSUB_MAC_LEN) != 0 ||
	    !unsub_addr_ok((const char *)buf + UNSUB_HEAD_LEN, rl))
		return false;
	info->tenant_id = (long long)unsub_get64(buf + 1);
	info->time = (time_t)unsub_get64(buf + 9);
	memcpy(info->rcpt, buf + UNSUB_HEAD_LEN, rl);
	info->rcpt[rl] = '\0';
	return info->tenant_id > 0;
}

int
state_tenant_unsubscribe(struct state *st, long long tenant_id, bool *on)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT unsubscribe FROM tenants WHERE id = ?1;");
	int rc;

	*on = false;
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*on = db_column_int(stmt, 0) != 0;
	state_stmt_done(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int
state_tenant_unsubscribe_set(struct state *st, const char *name, bool on)
{
	struct db_stmt *stmt = state_prepare(st, "UPDATE tenants SET unsubscribe = ?1 WHERE name = ?2;");
	int rc, changed;

	if (stmt == NULL)
		return -1;
	db_bind_int(stmt, 1, on ? 1 : 0);
	db_bind_text(stmt, 2, name, -1);
	rc = db_step(stmt);
	changed = db_changes(db_stmt_db(stmt));
	state_stmt_done(stmt);
	if (rc != DB_DONE)
		return -1;
	return changed > 0 ? 1 : 0;
}
