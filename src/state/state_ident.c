/*
 * state_ident.c - who a session is: SMTP AUTH against accounts and API
 * keys, connectors by client network, the tenant's sender domains, and the
 * lookups delivery makes by tenant id.
 * SECURITY: API keys are compared by SHA-256 in constant time (they are 256
 * random bits: a slow hash adds nothing); account passwords are argon2id,
 * and an unknown account still costs one argon2id verification so timing
 * does not tell which names exist.
 */
#include <sodium.h>
#include <stdio.h>
#include <string.h>

#include "state/state.h"
#include "state/state_cache.h"
#include "state/state_internal.h"
#include "util/netaddr.h"
#include "util/pwhash.h"

#define KEY_SECRET_LEN 43

#define IDENT_TENANT_COLS "t.id, t.name, t.suspended, t.suspend_reason, t.pool," \
    " t.per_minute, t.per_hour, t.per_day, t.rcpts"

/* Columns 0..8 as selected by IDENT_TENANT_COLS. */
static void
ident_tenant_read(struct state_ident *id, struct db_stmt *stmt)
{
	id->tenant_id = db_column_int64(stmt, 0);
	state_text_copy(id->tenant, sizeof(id->tenant), stmt, 1);
	id->suspended = db_column_int(stmt, 2) != 0;
	state_text_copy(id->suspend_reason, sizeof(id->suspend_reason), stmt, 3);
	state_text_copy(id->pool, sizeof(id->pool), stmt, 4);
	state_limits_read(&id->tenant_limits, stmt, 5);
}

int
state_key_split(const char *key, size_t len, char prefix[STATE_KEY_PREFIX_LEN + 1])
{
	size_t i;

	if (len != STATE_KEY_PREFIX_LEN + 1 + KEY_SECRET_LEN || memcmp(key, "fy_", 3) != 0 ||
	    key[STATE_KEY_PREFIX_LEN] != '_')
		return -1;
	for (i = 3; i < STATE_KEY_PREFIX_LEN; i++)
		if (!((key[i] >= '0' && key[i] <= '9') || (key[i] >= 'a' && key[i] <= 'f')))
			return -1;
	for (i = STATE_KEY_PREFIX_LEN + 1; i < len; i++) {
		char ch = key[i];
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || ch == '-' || ch == '_'))
			return -1;
	}
	memcpy(prefix, key, STATE_KEY_PREFIX_LEN);
	prefix[STATE_KEY_PREFIX_LEN] = '\0';
	return 0;
}

void
state_key_hash(const char *key, size_t len, unsigned char out[32])
{
	crypto_hash_sha256(out, (const unsigned char *)key, len);
}

/* The live key of prefix from the database: its id, its stored hash and
 * its tenant's fields (id). 1, 0 none (unknown or revoked), -1. */
static int
ident_key_row_db(struct state *st, const char *prefix, long long *kid, unsigned char stored[32],
    struct state_ident *id)
{
	struct db_stmt *stmt;
	char sql[512];
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s, k.id, k.hash FROM api_keys k JOIN tenants t"
	    " ON t.id = k.tenant_id WHERE k.prefix = ?1 AND k.revoked = 0;", IDENT_TENANT_COLS);
	if ((stmt = state_prepare(st, sql)) == NULL)
		return -1;
	db_bind_text(stmt, 1, prefix, -1);
	rc = db_step(stmt);
	if (rc == DB_ROW && db_column_bytes(stmt, 10) == 32) {
		ident_tenant_read(id, stmt);
		*kid = db_column_int64(stmt, 9);
		memcpy(stored, db_column_blob(stmt, 10), 32);
	}
	state_stmt_done(stmt);
	if (rc == DB_ROW)
		return *kid != 0;
	return rc == DB_DONE ? 0 : -1;
}

/* The same from the cache when one is attached (state_cache.h), else (or
 * on a miss, then stored) from the database. */
static int
ident_key_row(struct state *st, const char *prefix, long long *kid, unsigned char stored[32],
    struct state_ident *id)
{
	struct state_cache_slot slot;
	char val[STATE_CACHE_VALUE_MAX];
	size_t len = 0;
	int rc = -1;

	if (state_cache_key_get(st, prefix, val, sizeof(val), &len, &slot) == 1 &&
	    (rc = state_cache_key_parse(val, len, kid, stored, id)) < 0) {
		state_cache_unusable();
		slot.fill = true;
	}
	if (rc >= 0)
		return rc;
	rc = ident_key_row_db(st, prefix, kid, stored, id);
	if (rc == 1 && !slot.fill)   /* the prefix's tenant, for the next lookup */
		state_cache_key_tenant_put(st, prefix, id->tenant_id);
	if (rc >= 0 && (len = state_cache_key_format(val, sizeof(val), *kid, stored, id, rc == 1)) > 0)
		state_cache_put(st, &slot, val, len);
	return rc;
}

static int
ident_auth_key(struct state *st, const char *user, const char *pass, size_t passlen,
    struct state_ident *id)
{
	char prefix[STATE_KEY_PREFIX_LEN + 1];
	unsigned char h[32], stored[32];
	struct state_ident t;
	long long kid = 0;
	int rc, ok;

	if (state_key_split(pass, passlen, prefix) != 0)
		return 0;
	memset(&t, 0, sizeof(t));
	rc = ident_key_row(st, prefix, &kid, stored, &t);
	state_key_hash(pass, passlen, h);
	/* The key names its tenant; the user name must agree, or be the
	 * conventional "apikey", so a key pasted into the wrong client
	 * profile is refused instead of sending as someone else. */
	ok = rc < 0 ? -1 : 0;
	if (rc == 1 && sodium_memcmp(h, stored, 32) == 0 &&
	    (strcmp(user, "apikey") == 0 || strcmp(user, t.tenant) == 0)) {
		t.kind = STATE_IDENT_KEY;
		t.subject_id = kid;
		snprintf(t.subject, sizeof(t.subject), "%s", prefix);
		*id = t;
		ok = 1;
	}
	sodium_memzero(h, sizeof(h));
	return ok;
}

static int
ident_auth_account(struct state *st, const char *user, const char *pass, size_t passlen,
    struct state_ident *id)
{
	char hash[PWHASH_STR_MAX] = "";
	struct db_stmt *stmt;
	char sql[512];
	bool found = false;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT %s, a.id, a.hash, a.per_minute, a.per_hour,"
	    " a.per_day, a.rcpts FROM accounts a JOIN tenants t ON t.id = a.tenant_id"
	    " WHERE a.name = ?1;", IDENT_TENANT_COLS);
	if ((stmt = state_prepare(st, sql)) == NULL)
		return -1;
	db_bind_text(stmt, 1, user, -1);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		memset(id, 0, sizeof(*id));
		ident_tenant_read(id, stmt);
		id->kind = STATE_IDENT_ACCOUNT;
		id->subject_id = db_column_int64(stmt, 9);
		snprintf(id->subject, sizeof(id->subject), "%s", user);
		state_text_copy(hash, sizeof(hash), stmt, 10);
		state_limits_read(&id->subject_limits, stmt, 11);
		found = true;
	}
	state_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return -1;
	rc = pwhash_verify(found ? hash : NULL, pass, passlen);
	sodium_memzero(hash, sizeof(hash));
	if (!rc) {
		memset(id, 0, sizeof(*id));
		return 0;
	}
	return 1;
}

int
state_auth(struct state *st, const char *user, const char *pass, size_t passlen,
    struct state_ident *id)
{
	char prefix[STATE_KEY_PREFIX_LEN + 1];

	if (strlen(user) > STATE_NAME_MAX || passlen > 1024)
		return 0;
	if (state_key_split(pass, passlen, prefix) == 0)
		return ident_auth_key(st, user, pass, passlen, id);
	return ident_auth_account(st, user, pass, passlen, id);
}

/* A network's prefix on the IPv4 scale when it is IPv4-mapped IPv6
 * (::ffff:a.b.c.d/104 is a /8), so that the most specific network wins
 * whichever way it was written. */
static int
ident_net_prefix(const struct netaddr_net *net)
{
	static const unsigned char v4mapped[12] = { 0,0,0,0,0,0,0,0,0,0,0xff,0xff };

	if (net->family == AF_INET6 && net->prefix >= 96 && memcmp(net->addr, v4mapped, 12) == 0)
		return (int)net->prefix - 96;
	return (int)net->prefix;
}

int
state_connector_match(struct state *st, const struct sockaddr *sa, struct state_ident *id)
{
	struct netaddr_net net;
	struct db_stmt *stmt;
	char sql[512], text[64];
	int rc, best = -1;

	snprintf(sql, sizeof(sql), "SELECT %s, c.id, c.name, c.network, c.pool, c.per_minute,"
	    " c.per_hour, c.per_day, c.rcpts FROM connectors c JOIN tenants t"
	    " ON t.id = c.tenant_id;", IDENT_TENANT_COLS);
	if ((stmt = state_prepare(st, sql)) == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		state_text_copy(text, sizeof(text), stmt, 11);
		if (netaddr_net_parse(text, &net) != 0 || !netaddr_net_match(&net, sa) ||
		    ident_net_prefix(&net) <= best)
			continue;
		best = ident_net_prefix(&net);
		memset(id, 0, sizeof(*id));
		ident_tenant_read(id, stmt);
		id->kind = STATE_IDENT_CONNECTOR;
		id->subject_id = db_column_int64(stmt, 9);
		state_text_copy(id->subject, sizeof(id->subject), stmt, 10);
		state_text_copy(text, sizeof(text), stmt, 12);
		if (text[0] != '\0')
			snprintf(id->pool, sizeof(id->pool), "%s", text);
		state_limits_read(&id->subject_limits, stmt, 13);
	}
	state_stmt_done(stmt);
	if (rc != DB_DONE)
		return -1;
	return best >= 0;
}

static int
ident_refresh_db(struct state *st, struct state_ident *id)
{
	/* One query: the subject (with its limits and pool) joined to its
	 * tenant, columns 0..8 as ident_tenant_read takes them. */
#define IDENT_REFRESH(subject, also) "SELECT " IDENT_TENANT_COLS ", " subject \
	" JOIN tenants t ON t.id = s.tenant_id WHERE s.id = ?1 AND t.id = ?2" also ";"
	static const char *const refresh_sql[] = {
		[STATE_IDENT_ACCOUNT] = IDENT_REFRESH("s.per_minute, s.per_hour, s.per_day, s.rcpts, ''"
		    " FROM accounts s", ""),
		[STATE_IDENT_KEY] = IDENT_REFRESH("0, 0, 0, 0, '' FROM api_keys s", " AND s.revoked = 0"),
		[STATE_IDENT_CONNECTOR] = IDENT_REFRESH("s.per_minute, s.per_hour, s.per_day, s.rcpts,"
		    " s.pool FROM connectors s", ""),
	};
#undef IDENT_REFRESH
	struct db_stmt *stmt;
	char pool[STATE_NAME_MAX + 1];
	int rc;

	if (id->kind == STATE_IDENT_NONE)
		return 1;
	if ((stmt = state_prepare(st, refresh_sql[id->kind])) == NULL)
		return -1;
	db_bind_int64(stmt, 1, id->subject_id);
	db_bind_int64(stmt, 2, id->tenant_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		ident_tenant_read(id, stmt);
		state_limits_read(&id->subject_limits, stmt, 9);
		state_text_copy(pool, sizeof(pool), stmt, 13);
		if (pool[0] != '\0')
			snprintf(id->pool, sizeof(id->pool), "%s", pool);
	}
	state_stmt_done(stmt);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : -1;
	return 1;
}

/* At each MAIL: from the cache when one is attached (state_cache.h), else
 * (or on a miss, then stored) from the database. */
int
state_ident_refresh(struct state *st, struct state_ident *id)
{
	struct state_cache_slot slot;
	char item[48], val[STATE_CACHE_VALUE_MAX];
	size_t len = 0;
	int rc;

	if (id->kind == STATE_IDENT_NONE)
		return 1;
	snprintf(item, sizeof(item), "%d:%lld", (int)id->kind, id->subject_id);
	rc = -1;      /* no answer from the cache yet */
	if (state_cache_get(st, "ident", id->tenant_id, item, val, sizeof(val), &len, &slot) == 1 &&
	    (rc = state_cache_ident_parse(val, len, id)) < 0) {
		state_cache_unusable();
		slot.fill = true;
	}
	if (rc >= 0)
		return rc;
	rc = ident_refresh_db(st, id);
	if (rc >= 0 && (len = state_cache_ident_format(val, sizeof(val), id, rc == 1)) > 0)
		state_cache_put(st, &slot, val, len);
	return rc;
}

int
state_ident_tenant(struct state *st, long long tenant_id, struct state_ident *id)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT " IDENT_TENANT_COLS " FROM tenants t WHERE t.id = ?1;");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		memset(id, 0, sizeof(*id));
		ident_tenant_read(id, stmt);
		/* a key's rights (its tenant's domains), with no subject of its own */
		id->kind = STATE_IDENT_KEY;
		snprintf(id->subject, sizeof(id->subject), "api");
	}
	state_stmt_done(stmt);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : -1;
	return 1;
}

/* Is domain one of the connector's own list ("a.example,b.example")? The
 * list narrows the tenant's domains; it never adds to them. */
static bool
ident_connector_lists(const char *list, const char *domain)
{
	size_t dl = strlen(domain);
	const char *p = list;

	if (*list == '\0')
		return true;
	while (*p != '\0') {
		const char *end = strchr(p, ',');
		size_t n = end != NULL ? (size_t)(end - p) : strlen(p);
		if (n == dl && strncmp(p, domain, n) == 0)
			return true;
		if (end == NULL)
			break;
		p = end + 1;
	}
	return false;
}

/* The tenant domain that covers domain: itself, or a parent added with
 * subdomains allowed. The most specific domain of any tenant decides, so a
 * name another tenant owns under a --subdomains domain stays theirs.
 * 1 + name in out, 0 none, -1 error. */
static int
ident_domain_cover(struct state *st, long long tenant_id, const char *domain, char *out, size_t outsz)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT name, tenant_id, subdomains FROM domains"
	    " WHERE name = ?1;");
	char lower[STATE_DOMAIN_MAX + 1];
	const char *d = lower;
	size_t n = strlen(domain);
	int rc = DB_DONE, level = 0;

	if (stmt == NULL)
		return -1;
	if (n >= sizeof(lower)) {
		state_stmt_done(stmt);
		return 0;
	}
	for (size_t i = 0; i <= n; i++)
		lower[i] = (domain[i] >= 'A' && domain[i] <= 'Z') ? (char)(domain[i] - 'A' + 'a') : domain[i];
	while (d != NULL && *d != '\0') {
		db_reset(stmt);
		db_bind_text(stmt, 1, d, -1);
		rc = db_step(stmt);
		if (rc == DB_ROW && db_column_int64(stmt, 1) != tenant_id) {
			rc = DB_DONE;   /* another tenant's: neither it nor above */
			break;
		}
		if (rc == DB_ROW && (level == 0 || db_column_int(stmt, 2) != 0))
			break;
		if (rc != DB_ROW && rc != DB_DONE)
			break;
		rc = DB_DONE;
		d = strchr(d, '.');
		if (d != NULL)
			d++;
		level++;
	}
	if (rc == DB_ROW)
		state_text_copy(out, outsz, stmt, 0);
	state_stmt_done(stmt);
	if (rc == DB_ROW)
		return 1;
	return rc == DB_DONE ? 0 : -1;
}

int
state_sender_allowed(struct state *st, const struct state_ident *id, const char *domain)
{
	char owner[STATE_DOMAIN_MAX + 1], list[1024] = "";
	struct db_stmt *stmt;
	int rc;

	if (id->kind == STATE_IDENT_NONE)
		return 1;
	rc = ident_domain_cover(st, id->tenant_id, domain, owner, sizeof(owner));
	if (rc != 1 || id->kind != STATE_IDENT_CONNECTOR)
		return rc;
	if ((stmt = state_prepare(st, "SELECT domains FROM connectors WHERE id = ?1;")) == NULL)
		return -1;
	db_bind_int64(stmt, 1, id->subject_id);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		state_text_copy(list, sizeof(list), stmt, 0);
	state_stmt_done(stmt);
	if (rc != DB_ROW)
		return rc == DB_DONE ? 0 : -1;
	/* A connector's list names tenant domains; a subdomain is covered when
	 * its owning tenant domain is listed. */
	return ident_connector_lists(list, domain) || ident_connector_lists(list, owner);
}

static int
tenant_lookup(struct state *st, const char *where, long long id, const char *text,
    struct state_tenant *t)
{
	char sql[512];
	struct db_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT id, name, suspended, pool, bounce_domain, per_minute,"
	    " per_hour, per_day, rcpts, weight FROM tenants WHERE %s;", where);
	if ((stmt = state_prepare(st, sql)) == NULL)
		return -1;
	if (text != NULL)
		db_bind_text(stmt, 1, text, -1);
	else
		db_bind_int64(stmt, 1, id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		memset(t, 0, sizeof(*t));
		t->id = db_column_int64(stmt, 0);
		state_text_copy(t->name, sizeof(t->name), stmt, 1);
		t->suspended = db_column_int(stmt, 2) != 0;
		state_text_copy(t->pool, sizeof(t->pool), stmt, 3);
		state_text_copy(t->bounce_domain, sizeof(t->bounce_domain), stmt, 4);
		state_limits_read(&t->limits, stmt, 5);
		t->weight = db_column_int64(stmt, 9);
	}
	state_stmt_done(stmt);
	if (rc == DB_ROW)
		return 1;
	return rc == DB_DONE ? 0 : -1;
}

int
state_tenant_by_id(struct state *st, long long id, struct state_tenant *t)
{
	return tenant_lookup(st, "id = ?1", id, NULL, t);
}

int
state_tenant_by_name(struct state *st, const char *name, struct state_tenant *t)
{
	return tenant_lookup(st, "name = ?1", 0, name, t);
}

int
state_tenant_by_bounce_domain(struct state *st, const char *domain, struct state_tenant *t)
{
	return tenant_lookup(st, "bounce_domain = ?1 AND bounce_domain <> ''", 0, domain, t);
}

int
state_dkim_keys(struct state *st, long long tenant_id, const char *domain,
    state_dkim_fn fn, void *arg)
{
	char owner[STATE_DOMAIN_MAX + 1];
	struct db_stmt *stmt;
	int rc, n = 0;
	char sel[128], algo[32], stored[4096], path[4096];

	rc = ident_domain_cover(st, tenant_id, domain, owner, sizeof(owner));
	if (rc != 1)
		return rc;
	stmt = state_prepare(st, "SELECT k.selector, k.algo, k.path FROM dkim_keys k JOIN domains d"
	    " ON d.id = k.domain_id WHERE d.name = ?1 AND k.signing = 1 ORDER BY k.id;");
	if (stmt == NULL)
		return -1;
	db_bind_text(stmt, 1, owner, -1);
	while ((rc = db_step(stmt)) == DB_ROW) {
		state_text_copy(sel, sizeof(sel), stmt, 0);
		state_text_copy(algo, sizeof(algo), stmt, 1);
		state_text_copy(stored, sizeof(stored), stmt, 2);
		state_file_path(st, stored, path, sizeof(path));
		fn(arg, owner, sel, algo, path);
		n++;
	}
	state_stmt_done(stmt);
	return rc == DB_DONE ? n : -1;
}
