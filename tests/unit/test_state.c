/*
 * test_state.c - the state database as ferryctl edits it (state_admin.h,
 * state_dkimgen.c) and as ferryd reads it (state.h): names and domains,
 * tenants, accounts and SMTP AUTH, API keys (revoked, wrong user name),
 * sender domains (one tenant each, subdomains), connectors (most specific
 * network, domain lists), DKIM key files, and the local counters.
 * Each test gets a fresh database in its own temporary directory, or a
 * fresh schema on PostgreSQL under FERRY_TEST_PG (state_fixture.h).
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "db/db.h"

#include "dkim/dkim.h"
#include "state/counters.h"
#include "state/state.h"
#include "state/state_admin.h"

#include "state_fixture.h"

/* The plain state fixture (state_fixture.h). */
static int
fx_setup(void **state)
{
	*state = state_fx_new("state");
	return 0;
}

#define fx_teardown state_fx_teardown

#define OK(call) do { if ((call) != 0) fail_msg("%s: %s", #call, fx->err); } while (0)
#define NO(call) assert_int_equal((call), -1)

static struct sockaddr_in
sin_of(const char *ip)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };

	assert_int_equal(inet_pton(AF_INET, ip, &sin.sin_addr), 1);
	return sin;
}

/* ---- names -------------------------------------------------------------------- */

static void
test_names_and_domains(void **state)
{
	char out[STATE_DOMAIN_MAX + 1];

	(void)state;
	assert_true(state_name_valid("acme.corp_1-x"));
	assert_false(state_name_valid(""));
	assert_false(state_name_valid("a b"));
	assert_false(state_name_valid("a/b"));
	assert_false(state_name_valid("a'b"));
	assert_false(state_name_valid("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"));
	assert_int_equal(state_domain_norm("Mail.Example.COM.", out, sizeof(out)), 0);
	assert_string_equal(out, "mail.example.com");
	assert_int_equal(state_domain_norm("localhost", out, sizeof(out)), -1);
	assert_int_equal(state_domain_norm("a..b", out, sizeof(out)), -1);
	assert_int_equal(state_domain_norm("-a.b", out, sizeof(out)), -1);
	assert_int_equal(state_domain_norm("a_b.c", out, sizeof(out)), -1);
	assert_int_equal(state_domain_norm("../etc.x", out, sizeof(out)), -1);
	assert_int_equal(state_domain_norm("a.b/c", out, sizeof(out)), -1);
}

/* ---- tenants ------------------------------------------------------------------ */

/* A tenant's delivery weight: 1 when made, settable within its range. */
static void
test_tenant_weight(void **state)
{
	struct state_fx *fx = *state;
	struct state_tenant t;

	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_int_equal(t.weight, 1);
	OK(state_tenant_weight(fx->st, "acme", 5, fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_int_equal(t.weight, 5);
	NO(state_tenant_weight(fx->st, "acme", 0, fx->err, sizeof(fx->err)));
	NO(state_tenant_weight(fx->st, "acme", STATE_WEIGHT_MAX + 1, fx->err, sizeof(fx->err)));
	NO(state_tenant_weight(fx->st, "nobody", 2, fx->err, sizeof(fx->err)));
}

/* A database made before tenants had a delivery weight gains the column
 * (weight 1) when opened, and the weight can be set. */
static void
test_tenant_weight_upgrade(void **state)
{
	struct state_fx *fx = *state;
	struct state_tenant t;
	sqlite3 *db;

	char old[160];

	/* an older SQLite file upgraded in place; PostgreSQL has versioned
	 * migrations instead (test_db_pg) */
	STATE_FIXTURE_SQLITE_ONLY("upgrade of an older SQLite file");
	/* a database as an older ferry made it: tenants without the column */
	snprintf(old, sizeof(old), "%s/old.db", fx->dir);
	assert_int_equal(sqlite3_open(old, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "CREATE TABLE tenants(id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL,"
	    " suspended INTEGER NOT NULL DEFAULT 0, suspend_reason TEXT NOT NULL DEFAULT '',"
	    " pool TEXT NOT NULL DEFAULT '', bounce_domain TEXT NOT NULL DEFAULT '',"
	    " per_minute INTEGER NOT NULL DEFAULT 0, per_hour INTEGER NOT NULL DEFAULT 0,"
	    " per_day INTEGER NOT NULL DEFAULT 0, rcpts INTEGER NOT NULL DEFAULT 0, created INTEGER NOT NULL);"
	    " INSERT INTO tenants(name, created) VALUES ('acme', 1);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(chmod(old, 0600), 0);
	state_close(fx->st);
	fx->st = state_open(old, fx->err, sizeof(fx->err));
	assert_non_null(fx->st);
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_int_equal(t.weight, 1);
	OK(state_tenant_weight(fx->st, "acme", 5, fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_int_equal(t.weight, 5);
}

static void
test_tenant_crud(void **state)
{
	struct state_fx *fx = *state;
	struct state_limits l = STATE_LIMITS_KEEP;
	struct state_tenant_info ti;
	struct state_tenant t;
	long long id;

	OK(state_tenant_add(fx->st, "acme", "main", "Bounce.Acme.Test", fx->err, sizeof(fx->err)));
	NO(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "already exists"));
	NO(state_tenant_add(fx->st, "bad name", NULL, NULL, fx->err, sizeof(fx->err)));
	NO(state_tenant_add(fx->st, "b2", NULL, "bounce.acme.test", fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_string_equal(t.pool, "main");
	assert_string_equal(t.bounce_domain, "bounce.acme.test");
	assert_int_equal(state_tenant_by_bounce_domain(fx->st, "bounce.acme.test", &t), 1);

	l.per_minute = 10;
	l.rcpts = 3;
	OK(state_tenant_limit(fx->st, "acme", &l, fx->err, sizeof(fx->err)));
	l.per_minute = -1;
	l.per_day = 500;
	OK(state_tenant_limit(fx->st, "acme", &l, fx->err, sizeof(fx->err)));
	OK(state_tenant_set(fx->st, "acme", "", NULL, fx->err, sizeof(fx->err)));
	OK(state_tenant_suspend(fx->st, "acme", "spam", fx->err, sizeof(fx->err)));
	OK(state_tenant_get(fx->st, "acme", &ti, fx->err, sizeof(fx->err)));
	assert_int_equal(ti.t.limits.per_minute, 10);
	assert_int_equal(ti.t.limits.per_day, 500);
	assert_int_equal(ti.t.limits.rcpts, 3);
	assert_string_equal(ti.t.pool, "");
	assert_string_equal(ti.t.bounce_domain, "bounce.acme.test");
	assert_true(ti.t.suspended);
	assert_string_equal(ti.suspend_reason, "spam");
	NO(state_tenant_suspend(fx->st, "acme", "two\nlines", fx->err, sizeof(fx->err)));
	OK(state_tenant_resume(fx->st, "acme", &id, fx->err, sizeof(fx->err)));
	assert_int_equal(id, ti.t.id);
	assert_int_equal(state_tenant_by_id(fx->st, id, &t), 1);
	assert_false(t.suspended);
	OK(state_tenant_del(fx->st, "acme", fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_by_id(fx->st, id, &t), 0);
	NO(state_tenant_del(fx->st, "acme", fx->err, sizeof(fx->err)));
	assert_string_equal(fx->err, "no tenant acme");
}

/* A bounce domain is the envelope sender of a tenant's mail: never in
 * another tenant's sender domains, and no sender domain covers another
 * tenant's bounce domain. */
static void
test_bounce_domain_not_anothers(void **state)
{
	struct state_fx *fx = *state;

	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_tenant_add(fx->st, "globex", NULL, "rp.globex.test", fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "acme.test", false, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "wide.test", true, fx->err, sizeof(fx->err)));
	NO(state_tenant_set(fx->st, "globex", NULL, "acme.test", fx->err, sizeof(fx->err)));
	NO(state_tenant_set(fx->st, "globex", NULL, "rp.wide.test", fx->err, sizeof(fx->err)));
	NO(state_tenant_add(fx->st, "other", NULL, "Acme.Test", fx->err, sizeof(fx->err)));
	OK(state_tenant_set(fx->st, "acme", NULL, "rp.wide.test", fx->err, sizeof(fx->err)));
	NO(state_domain_add(fx->st, "acme", "rp.globex.test", false, fx->err, sizeof(fx->err)));
	NO(state_domain_add(fx->st, "acme", "globex.test", true, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "globex.test", false, fx->err, sizeof(fx->err)));
	OK(state_tenant_set(fx->st, "globex", NULL, "rp.acme.test", fx->err, sizeof(fx->err)));
	NO(state_domain_add(fx->st, "acme", "rp.acme.test", false, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "globex", "rp.acme.test", false, fx->err, sizeof(fx->err)));
}

/* ---- accounts, keys, AUTH ---------------------------------------------------------- */

static void
test_auth_account(void **state)
{
	struct state_fx *fx = *state;
	struct state_ident id;

	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_tenant_add(fx->st, "other", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_account_add(fx->st, "acme", "alice", "pw-1", fx->err, sizeof(fx->err)));
	NO(state_account_add(fx->st, "other", "alice", "x", fx->err, sizeof(fx->err)));
	NO(state_account_add(fx->st, "acme", "apikey", "x", fx->err, sizeof(fx->err)));
	assert_int_equal(state_auth(fx->st, "alice", "pw-1", 4, &id), 1);
	assert_int_equal(id.kind, STATE_IDENT_ACCOUNT);
	assert_string_equal(id.tenant, "acme");
	assert_string_equal(id.subject, "alice");
	assert_int_equal(state_auth(fx->st, "alice", "pw-2", 4, &id), 0);
	assert_int_equal(state_auth(fx->st, "nobody", "pw-1", 4, &id), 0);
	OK(state_account_passwd(fx->st, "acme", "alice", "pw-2", fx->err, sizeof(fx->err)));
	assert_int_equal(state_auth(fx->st, "alice", "pw-1", 4, &id), 0);
	assert_int_equal(state_auth(fx->st, "alice", "pw-2", 4, &id), 1);
	NO(state_account_passwd(fx->st, "other", "alice", "pw-3", fx->err, sizeof(fx->err)));
	OK(state_account_del(fx->st, "acme", "alice", fx->err, sizeof(fx->err)));
	assert_int_equal(state_auth(fx->st, "alice", "pw-2", 4, &id), 0);
}

static void
test_auth_keys(void **state)
{
	struct state_fx *fx = *state;
	char key[STATE_KEY_TEXT_MAX + 1], key2[STATE_KEY_TEXT_MAX + 1];
	char prefix[STATE_KEY_PREFIX_LEN + 1];
	struct state_ident id;

	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_key_create(fx->st, "acme", "ci", key, fx->err, sizeof(fx->err)));
	assert_int_equal(strlen(key), 3 + 12 + 1 + 43);
	assert_memory_equal(key, "fy_", 3);
	assert_int_equal(strspn(key + 3, "0123456789abcdef"), 12);
	assert_int_equal(key[15], '_');
	assert_int_equal(strspn(key + 16, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789-_"), 43);
	snprintf(prefix, sizeof(prefix), "%.15s", key);

	assert_int_equal(state_auth(fx->st, "apikey", key, strlen(key), &id), 1);
	assert_int_equal(id.kind, STATE_IDENT_KEY);
	assert_string_equal(id.subject, prefix);
	assert_int_equal(state_auth(fx->st, "acme", key, strlen(key), &id), 1);
	/* a key given with another user name is refused */
	assert_int_equal(state_auth(fx->st, "other", key, strlen(key), &id), 0);
	/* one changed character of the secret */
	snprintf(key2, sizeof(key2), "%s", key);
	key2[20] = key2[20] == 'A' ? 'B' : 'A';
	assert_int_equal(state_auth(fx->st, "apikey", key2, strlen(key2), &id), 0);

	OK(state_key_rotate(fx->st, "acme", prefix, key2, fx->err, sizeof(fx->err)));
	assert_string_not_equal(key, key2);
	assert_int_equal(state_auth(fx->st, "apikey", key, strlen(key), &id), 0);
	assert_int_equal(state_auth(fx->st, "apikey", key2, strlen(key2), &id), 1);
	assert_int_equal(state_ident_refresh(fx->st, &id), 1);
	snprintf(prefix, sizeof(prefix), "%.15s", key2);
	OK(state_key_revoke(fx->st, "acme", prefix, fx->err, sizeof(fx->err)));
	/* revoked: refused, and a session already in is cut at its next MAIL */
	assert_int_equal(state_auth(fx->st, "apikey", key2, strlen(key2), &id), 0);
	assert_int_equal(state_ident_refresh(fx->st, &id), 0);
	NO(state_key_revoke(fx->st, "acme", prefix, fx->err, sizeof(fx->err)));
	NO(state_key_revoke(fx->st, "acme", "fy_000000000000", fx->err, sizeof(fx->err)));
}

/* ---- domains, sender_allowed, connectors ------------------------------------------- */

static void
test_domains_sender_allowed(void **state)
{
	struct state_fx *fx = *state;
	struct state_ident id;

	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_tenant_add(fx->st, "other", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "Acme.Test", false, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "wide.test", true, fx->err, sizeof(fx->err)));
	NO(state_domain_add(fx->st, "other", "acme.test", false, fx->err, sizeof(fx->err)));
	assert_non_null(strstr(fx->err, "belongs to tenant acme"));
	NO(state_domain_add(fx->st, "acme", "acme.test", false, fx->err, sizeof(fx->err)));
	OK(state_account_add(fx->st, "acme", "alice", "pw", fx->err, sizeof(fx->err)));
	assert_int_equal(state_auth(fx->st, "alice", "pw", 2, &id), 1);

	assert_int_equal(state_sender_allowed(fx->st, &id, "acme.test"), 1);
	assert_int_equal(state_sender_allowed(fx->st, &id, "sub.acme.test"), 0);
	assert_int_equal(state_sender_allowed(fx->st, &id, "wide.test"), 1);
	assert_int_equal(state_sender_allowed(fx->st, &id, "a.b.wide.test"), 1);
	assert_int_equal(state_sender_allowed(fx->st, &id, "other.test"), 0);
	assert_int_equal(state_sender_allowed(fx->st, &id, "notwide.test"), 0);
	/* A name under acme's --subdomains domain that another tenant owns is
	 * that tenant's: the most specific domain decides. */
	OK(state_domain_add(fx->st, "other", "x.wide.test", false, fx->err, sizeof(fx->err)));
	assert_int_equal(state_sender_allowed(fx->st, &id, "x.wide.test"), 0);
	assert_int_equal(state_sender_allowed(fx->st, &id, "X.wide.test"), 0);
	assert_int_equal(state_sender_allowed(fx->st, &id, "a.x.wide.test"), 0);
	assert_int_equal(state_sender_allowed(fx->st, &id, "y.wide.test"), 1);
	NO(state_domain_del(fx->st, "other", "acme.test", fx->err, sizeof(fx->err)));
	OK(state_domain_del(fx->st, "acme", "ACME.test", fx->err, sizeof(fx->err)));
	assert_int_equal(state_sender_allowed(fx->st, &id, "acme.test"), 0);
}

static void
test_connectors(void **state)
{
	struct state_fx *fx = *state;
	struct sockaddr_in a = sin_of("192.0.2.77"), b = sin_of("192.0.2.5"), c = sin_of("198.51.100.1");
	struct state_limits l = STATE_LIMITS_KEEP;
	struct state_ident id;

	OK(state_tenant_add(fx->st, "acme", "main", NULL, fx->err, sizeof(fx->err)));
	OK(state_tenant_add(fx->st, "other", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "acme.test", true, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "acme", "two.test", false, fx->err, sizeof(fx->err)));
	OK(state_domain_add(fx->st, "other", "other.test", false, fx->err, sizeof(fx->err)));
	NO(state_connector_add(fx->st, "acme", "wide", "192.0.2.0/33", NULL, NULL, fx->err,
	    sizeof(fx->err)));
	/* No network wide enough to make the Internet the tenant's. */
	NO(state_connector_add(fx->st, "acme", "all", "0.0.0.0/0", NULL, NULL, fx->err, sizeof(fx->err)));
	NO(state_connector_add(fx->st, "acme", "all", "::/0", NULL, NULL, fx->err, sizeof(fx->err)));
	NO(state_connector_add(fx->st, "acme", "all", "::ffff:0.0.0.0/96", NULL, NULL, fx->err,
	    sizeof(fx->err)));
	NO(state_connector_add(fx->st, "acme", "wide", "192.0.2.0/24", "other.test", NULL, fx->err,
	    sizeof(fx->err)));
	OK(state_connector_add(fx->st, "acme", "wide", "192.0.2.0/24", NULL, NULL, fx->err,
	    sizeof(fx->err)));
	OK(state_connector_add(fx->st, "acme", "narrow", "192.0.2.64/26", "ACME.test", "special",
	    fx->err, sizeof(fx->err)));
	NO(state_connector_add(fx->st, "other", "narrow", "10.0.0.0/8", NULL, NULL, fx->err,
	    sizeof(fx->err)));

	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&a, &id), 1);
	assert_string_equal(id.subject, "narrow");
	assert_string_equal(id.pool, "special");
	assert_int_equal(state_sender_allowed(fx->st, &id, "acme.test"), 1);
	assert_int_equal(state_sender_allowed(fx->st, &id, "sub.acme.test"), 1);
	assert_int_equal(state_sender_allowed(fx->st, &id, "two.test"), 0);
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&b, &id), 1);
	assert_string_equal(id.subject, "wide");
	assert_string_equal(id.pool, "main");
	assert_int_equal(state_sender_allowed(fx->st, &id, "two.test"), 1);
	assert_int_equal(state_sender_allowed(fx->st, &id, "other.test"), 0);
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&c, &id), 0);

	l.per_hour = 7;
	OK(state_connector_limit(fx->st, "acme", "wide", &l, fx->err, sizeof(fx->err)));
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&b, &id), 1);
	assert_int_equal(id.subject_limits.per_hour, 7);
	/* A refresh reads the tenant and the connector again: suspension and
	 * its reason, the tenant's pool, the connector's limits and own pool. */
	OK(state_tenant_set(fx->st, "acme", "second", NULL, fx->err, sizeof(fx->err)));
	l.per_hour = 9;
	OK(state_connector_limit(fx->st, "acme", "wide", &l, fx->err, sizeof(fx->err)));
	OK(state_tenant_suspend(fx->st, "acme", "abuse", fx->err, sizeof(fx->err)));
	assert_int_equal(state_ident_refresh(fx->st, &id), 1);
	assert_true(id.suspended);
	assert_string_equal(id.suspend_reason, "abuse");
	assert_string_equal(id.pool, "second");
	assert_int_equal(id.subject_limits.per_hour, 9);
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&a, &id), 1);
	assert_int_equal(state_ident_refresh(fx->st, &id), 1);
	assert_string_equal(id.pool, "special");
	id.tenant_id++;   /* the connector is not that tenant's */
	assert_int_equal(state_ident_refresh(fx->st, &id), 0);
	OK(state_connector_del(fx->st, "acme", "narrow", fx->err, sizeof(fx->err)));
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&a, &id), 1);
	assert_string_equal(id.subject, "wide");
}

/* A client on a dual-stack listener (::ffff:192.0.2.5): an IPv4-mapped
 * IPv6 network is compared by its IPv4 prefix, so another tenant's /104
 * (a /8) does not beat a /32 for the same address. */
static void
test_connectors_v4_mapped(void **state)
{
	struct state_fx *fx = *state;
	struct sockaddr_in6 m = { .sin6_family = AF_INET6 };
	struct sockaddr_in v4 = sin_of("192.0.2.5");
	struct state_ident id;

	assert_int_equal(inet_pton(AF_INET6, "::ffff:192.0.2.5", &m.sin6_addr), 1);
	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_tenant_add(fx->st, "other", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_connector_add(fx->st, "acme", "host", "192.0.2.5/32", NULL, NULL, fx->err,
	    sizeof(fx->err)));
	OK(state_connector_add(fx->st, "other", "wide6", "::ffff:192.0.0.0/104", NULL, NULL, fx->err,
	    sizeof(fx->err)));
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&m, &id), 1);
	assert_string_equal(id.subject, "host");
	assert_string_equal(id.tenant, "acme");
	assert_int_equal(state_connector_match(fx->st, (struct sockaddr *)&v4, &id), 1);
	assert_string_equal(id.subject, "host");
}

/* ---- DKIM key files ----------------------------------------------------------------- */

struct dkim_seen {
	int  n;
	char sel[4][16];
};

static void
dkim_seen_fn(void *arg, const char *domain, const char *selector, const char *algo,
    const char *path)
{
	struct dkim_seen *s = arg;

	(void)domain;
	(void)algo;
	(void)path;
	if (s->n < 4)
		snprintf(s->sel[s->n++], sizeof(s->sel[0]), "%s", selector);
}

static void
test_dkim_keys(void **state)
{
	struct state_fx *fx = *state;
	char path[256], rsa[STATE_SELECTOR_MAX + 1], ed[STATE_SELECTOR_MAX + 1], *p;
	struct dkim_seen seen = { 0 };
	struct dkim_key *k;
	struct state_tenant t;
	struct stat sb;

	OK(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)));
	OK(state_domain_add_keys(fx->st, "acme", "acme.test", true, fx->err, sizeof(fx->err)));
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	assert_int_equal(state_dkim_keys(fx->st, t.id, "sub.acme.test", dkim_seen_fn, &seen), 2);
	assert_string_equal(seen.sel[0], "rsa1");
	assert_string_equal(seen.sel[1], "ed1");

	snprintf(path, sizeof(path), "%s/dkim/acme.test/ed1.pem", fx->dir);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	k = dkim_key_load("acme.test", "ed1", path, fx->err, sizeof(fx->err));
	assert_non_null(k);
	dkim_key_free(k);
	p = state_dkim_pubkey_b64(path, fx->err, sizeof(fx->err));
	assert_non_null(p);
	assert_int_equal(strlen(p), 44);   /* 32 octets */
	free(p);
	/* a key others may read is refused */
	assert_int_equal(chmod(path, 0640), 0);
	assert_null(dkim_key_load("acme.test", "ed1", path, fx->err, sizeof(fx->err)));
	assert_int_equal(chmod(path, 0604), 0);
	assert_null(dkim_key_load("acme.test", "ed1", path, fx->err, sizeof(fx->err)));
	assert_int_equal(chmod(path, 0600), 0);

	OK(state_dkim_rotate(fx->st, "acme.test", rsa, ed, fx->err, sizeof(fx->err)));
	assert_string_equal(rsa, "rsa2");
	assert_string_equal(ed, "ed2");
	seen.n = 0;
	assert_int_equal(state_dkim_keys(fx->st, t.id, "acme.test", dkim_seen_fn, &seen), 2);
	assert_string_equal(seen.sel[0], "rsa2");
	NO(state_dkim_retire(fx->st, "acme.test", "rsa2", fx->err, sizeof(fx->err)));
	OK(state_dkim_retire(fx->st, "acme.test", "ed1", fx->err, sizeof(fx->err)));
	assert_int_equal(stat(path, &sb), -1);
	/* a domain that is another tenant's: nothing is written */
	OK(state_tenant_add(fx->st, "other", NULL, NULL, fx->err, sizeof(fx->err)));
	NO(state_domain_add_keys(fx->st, "other", "acme.test", false, fx->err, sizeof(fx->err)));
	snprintf(path, sizeof(path), "%s/dkim/acme.test/rsa3.pem", fx->dir);
	assert_int_equal(stat(path, &sb), -1);
	OK(state_domain_del(fx->st, "acme", "acme.test", fx->err, sizeof(fx->err)));
	state_dkim_files_remove(fx->st, "acme.test");
	snprintf(path, sizeof(path), "%s/dkim/acme.test", fx->dir);
	assert_int_equal(stat(path, &sb), -1);
}

/* ---- counters ------------------------------------------------------------------------ */

static void
test_counters_local(void **state)
{
	struct state_fx *fx = *state;
	struct counter_spec s[2] = { { "t:1", 60, 3 }, { "a:1", 3600, 0 } };
	struct counter_deny deny;
	char path[160];
	struct counters *c;
	time_t now = 1700000000 - 1700000000 % 60 + 10;

	/* local counters are always SQLite: the state's file, or beside
	 * PostgreSQL state the node's own counters.db (counters_open.c) */
	if (state_fixture_pg())
		snprintf(path, sizeof(path), "%s/counters.db", fx->dir);
	else
		snprintf(path, sizeof(path), "%s", fx->path);
	c = counters_local_open(path, fx->err, sizeof(fx->err));

	assert_non_null(c);
	assert_int_equal(counters_take(c, s, 2, 2, now, &deny), 0);
	assert_int_equal(counters_take(c, s, 2, 1, now, &deny), 0);
	assert_int_equal(counters_take(c, s, 2, 1, now + 1, &deny), 1);
	assert_int_equal(deny.index, 0);
	assert_int_equal(deny.count, 3);
	assert_int_equal(deny.limit, 3);
	assert_int_equal(deny.reset, now - 10 + 60);
	/* refused: nothing was added to the other window */
	assert_int_equal(counters_get(c, "a:1", 3600, now), 3);
	counters_give(c, s, 2, 1, now);
	assert_int_equal(counters_get(c, "t:1", 60, now), 2);
	/* the next minute starts at 0; the hour goes on */
	assert_int_equal(counters_take(c, s, 2, 3, now + 60, &deny), 0);
	assert_int_equal(counters_get(c, "a:1", 3600, now + 60), 5);
	/* a give for a take of the minute that has ended leaves the new one alone */
	counters_give(c, s, 1, 1, now);
	assert_int_equal(counters_get(c, "t:1", 60, now + 60), 3);
	counters_close(c);
	/* persisted at close, read back by ferryctl and by a new backend */
	assert_int_equal(counters_db_read(path, "t:1", 60, now + 60), 3);
	assert_int_equal(counters_db_read(path, "t:1", 60, now + 120), 0);
	/* a restart reads the current windows back (loaded for the real clock) */
	now = time(NULL);
	if (now % 86400 > 86400 - 5)
		sleep(6);   /* not across midnight UTC */
	now = time(NULL);
	s[0].period = 86400;
	s[0].limit = 5;
	c = counters_local_open(path, fx->err, sizeof(fx->err));
	assert_non_null(c);
	assert_int_equal(counters_take(c, s, 1, 4, now, &deny), 0);
	counters_close(c);
	c = counters_local_open(path, fx->err, sizeof(fx->err));
	assert_non_null(c);
	assert_int_equal(counters_get(c, "t:1", 86400, now), 4);
	assert_int_equal(counters_take(c, s, 1, 2, now, &deny), 1);
	assert_int_equal(counters_take(c, s, 1, 1, now, &deny), 0);
	counters_close(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names_and_domains),
		cmocka_unit_test_setup_teardown(test_tenant_crud, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tenant_weight, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tenant_weight_upgrade, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_bounce_domain_not_anothers, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_auth_account, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_auth_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_domains_sender_allowed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connectors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_connectors_v4_mapped, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_dkim_keys, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_counters_local, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
