/*
 * state_admin.c - ferryctl's edits of the state: tenants, accounts and API
 * keys (domains and connectors: state_admin_domain.c), and the helpers the
 * admin files share (bound statements, one-line errors).
 * SECURITY: values are always bound parameters. Passwords are hashed with
 * argon2id and wiped by the caller; an API key exists in clear only in the
 * caller's buffer (the database keeps its SHA-256).
 */
#include <ctype.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "state/state_admin.h"
#include "state/state_admin_internal.h"
#include "state/events.h"
#include "state/state_internal.h"
#include "util/pwhash.h"

#define ADM_KEY_RANDOM   32     /* octets of a key's secret part */
#define ADM_KEY_TRIES    4      /* prefix collisions (48 random bits) before giving up */

/* ---- helpers ---------------------------------------------------------------- */

int
adm_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

int
adm_dbfail(struct state *st, char *err, size_t errlen, const char *what)
{
	struct db *db = state_db(st);

	return adm_fail(err, errlen, "%s: %s (%s)", what,
	    db != NULL ? db_errmsg(db) : "cannot open the database", state_path(st));
}

static struct db_stmt *
adm_vprepare(struct state *st, char *err, size_t errlen, const char *sql, const char *types,
    va_list ap)
{
	struct db_stmt *stmt = state_prepare(st, sql);
	const void *blob;
	int i = 1;

	if (stmt == NULL) {
		adm_dbfail(st, err, errlen, "database error");
		return NULL;
	}
	for (const char *t = types; *t != '\0'; t++, i++) {
		if (*t == 't')
			db_bind_text(stmt, i, va_arg(ap, const char *), -1);
		else if (*t == 'I')
			db_bind_int64(stmt, i, va_arg(ap, long long));
		else {
			blob = va_arg(ap, const void *);
			db_bind_blob(stmt, i, blob, (int)va_arg(ap, size_t));
		}
	}
	return stmt;
}

struct db_stmt *
adm_prepare(struct state *st, char *err, size_t errlen, const char *sql, const char *types, ...)
{
	struct db_stmt *stmt;
	va_list ap;

	va_start(ap, types);
	stmt = adm_vprepare(st, err, errlen, sql, types, ap);
	va_end(ap);
	return stmt;
}

int
adm_exec(struct state *st, char *err, size_t errlen, const char *sql, const char *types, ...)
{
	struct db_stmt *stmt;
	va_list ap;
	int rc;

	va_start(ap, types);
	stmt = adm_vprepare(st, err, errlen, sql, types, ap);
	va_end(ap);
	if (stmt == NULL)
		return -1;
	rc = db_step(stmt);
	db_finalize(stmt);
	if (rc != DB_DONE)
		return adm_dbfail(st, err, errlen, "database error");
	return db_changes(state_db(st));
}

int
adm_begin(struct state *st, char *err, size_t errlen)
{
	if (db_exec(state_db(st), "BEGIN IMMEDIATE;") != DB_OK)
		return adm_dbfail(st, err, errlen, "cannot start a transaction");
	return 0;
}

int
adm_commit(struct state *st, char *err, size_t errlen)
{
	if (db_exec(state_db(st), "COMMIT;") != DB_OK) {
		adm_dbfail(st, err, errlen, "cannot commit");
		adm_rollback(st);
		return -1;
	}
	return 0;
}

void
adm_rollback(struct state *st)
{
	db_exec(state_db(st), "ROLLBACK;");
}

int
adm_changed(struct state *st, const char *tenant, int rc)
{
	char err[256];
	long long id;

	if (rc == 0 && adm_tenant_id(st, tenant, &id, err, sizeof(err)) == 0)
		state_changed(st, id);
	return rc;
}

int
adm_find_id(struct state *st, char *err, size_t errlen, long long *id, const char *sql,
    const char *a, long long b)
{
	struct db_stmt *stmt = adm_prepare(st, err, errlen, sql, "tI", a, b);
	int rc;

	if (stmt == NULL)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*id = db_column_int64(stmt, 0);
	db_finalize(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return adm_dbfail(st, err, errlen, "database error");
	return rc == DB_ROW;
}

int
adm_tenant_id(struct state *st, const char *name, long long *id, char *err, size_t errlen)
{
	int rc = adm_find_id(st, err, errlen, id, "SELECT id FROM tenants WHERE name = ?1;",
	    name, 0);

	if (rc == 0)
		return adm_fail(err, errlen, "no tenant %s", name);
	return rc < 0 ? -1 : 0;
}

bool
state_name_valid(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > STATE_NAME_MAX)
		return false;
	for (; *s != '\0'; s++)
		if (!isalnum((unsigned char)*s) && *s != '.' && *s != '_' && *s != '-')
			return false;
	return true;
}

/* One label: 1..63 of letters, digits, '-' (not at either end). */
static bool
adm_label_valid(const char *l, size_t n)
{
	if (n == 0 || n > 63 || l[0] == '-' || l[n - 1] == '-')
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)l[i]) && l[i] != '-')
			return false;
	return true;
}

int
state_domain_norm(const char *in, char *out, size_t outsz)
{
	size_t n = strlen(in), start = 0;

	if (n > 0 && in[n - 1] == '.')
		n--;
	if (n == 0 || n > STATE_DOMAIN_MAX || n >= outsz || memchr(in, '.', n) == NULL)
		return -1;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && in[i] != '.') {
			out[i] = (char)tolower((unsigned char)in[i]);
			continue;
		}
		if (!adm_label_valid(in + start, i - start))
			return -1;
		out[i] = '.';
		start = i + 1;
	}
	out[n] = '\0';
	return 0;
}

/* ---- tenants ---------------------------------------------------------------- */

/* An optional pool name and bounce domain, checked; bounce normalised into b. */
static int
adm_tenant_opts(struct state *st, long long self, const char *pool, const char *bounce,
    char b[STATE_DOMAIN_MAX + 1], char *err, size_t errlen)
{
	long long other;
	int rc;

	if (pool != NULL && pool[0] != '\0' && !state_name_valid(pool))
		return adm_fail(err, errlen, "invalid pool name %s", pool);
	b[0] = '\0';
	if (bounce == NULL || bounce[0] == '\0')
		return 0;
	if (state_domain_norm(bounce, b, STATE_DOMAIN_MAX + 1) != 0)
		return adm_fail(err, errlen, "invalid bounce domain %s", bounce);
	rc = adm_find_id(st, err, errlen, &other, "SELECT id FROM tenants WHERE bounce_domain = ?1"
	    " AND id <> ?2;", b, self);
	if (rc < 0)
		return -1;
	if (rc > 0)
		return adm_fail(err, errlen, "bounce domain %s is already another tenant's", b);
	/* Nor in another tenant's sender domains: it is the envelope sender. */
	for (const char *d = b; d != NULL && rc == 0; d = strchr(d, '.')) {
		d += *d == '.';
		rc = adm_find_id(st, err, errlen, &other, d == b
		    ? "SELECT tenant_id FROM domains WHERE name = ?1 AND tenant_id <> ?2;"
		    : "SELECT tenant_id FROM domains WHERE name = ?1 AND tenant_id <> ?2 AND subdomains = 1;",
		    d, self);
	}
	if (rc < 0)
		return -1;
	if (rc > 0)
		return adm_fail(err, errlen, "bounce domain %s is in another tenant's domains", b);
	return 0;
}

/* The id for a new tenant, inside the caller's transaction: past every id
 * ever given. Rows keyed by tenant id without a foreign key (reputation,
 * events, bounces, counters "t:ID") must never pass to a stranger, and
 * SQLite's INTEGER PRIMARY KEY alone reuses the highest id after a delete.
 * meta 'tenant_id_max' is the high-water mark; a database made before it
 * starts it past every id its tables mention. New databases also declare
 * tenants.id AUTOINCREMENT, a second guard for code that inserts alone. */
static int
adm_tenant_id_next(struct state *st, long long *id, char *err, size_t errlen)
{
	struct db_stmt *stmt;
	int rc;

	/* PostgreSQL: the identity's sequence gives each id once, to
	 * whichever node asks (never reused, even after a rollback) */
	if (db_dialect(state_db(st)) == DB_PG) {
		if ((stmt = adm_prepare(st, err, errlen,
		    "SELECT nextval(pg_get_serial_sequence('tenants', 'id'));", "")) == NULL)
			return -1;
		rc = db_step(stmt);
		if (rc == DB_ROW)
			*id = db_column_int64(stmt, 0);
		db_finalize(stmt);
		return rc == DB_ROW ? 0 : adm_dbfail(st, err, errlen, "database error");
	}
	if (adm_exec(st, err, errlen, "INSERT OR IGNORE INTO meta(key, value) SELECT 'tenant_id_max',"
	    " max(coalesce((SELECT max(id) FROM tenants), 0),"
	    " coalesce((SELECT max(tenant_id) FROM events), 0),"
	    " coalesce((SELECT max(tenant_id) FROM reputation), 0),"
	    " coalesce((SELECT max(tenant_id) FROM bounces), 0));", "") < 0)
		return -1;
	if ((stmt = adm_prepare(st, err, errlen, "SELECT max(coalesce((SELECT CAST(value AS INTEGER)"
	    " FROM meta WHERE key = 'tenant_id_max'), 0), coalesce((SELECT max(id) FROM tenants), 0))"
	    " + 1;", "")) == NULL)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		*id = db_column_int64(stmt, 0);
	db_finalize(stmt);
	return rc == DB_ROW ? 0 : adm_dbfail(st, err, errlen, "database error");
}

int
state_tenant_add(struct state *st, const char *name, const char *pool,
    const char *bounce_domain, char *err, size_t errlen)
{
	char b[STATE_DOMAIN_MAX + 1];
	long long id;
	int rc;

	if (!state_name_valid(name))
		return adm_fail(err, errlen, "invalid tenant name %s: 1 to %d of A-Z a-z 0-9 . _ -",
		    name, STATE_NAME_MAX);
	rc = adm_find_id(st, err, errlen, &id, "SELECT id FROM tenants WHERE name = ?1;",
	    name, 0);
	if (rc != 0)
		return rc < 0 ? -1 : adm_fail(err, errlen, "tenant %s already exists", name);
	if (adm_tenant_opts(st, 0, pool, bounce_domain, b, err, errlen) != 0)
		return -1;
	if (adm_begin(st, err, errlen) != 0)
		return -1;
	if (adm_tenant_id_next(st, &id, err, errlen) != 0 ||
	    adm_exec(st, err, errlen, "INSERT INTO tenants(id, name, pool, bounce_domain, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5);", "ItttI", id, name, pool != NULL ? pool : "", b,
	    (long long)time(NULL)) < 0 ||
	    (db_dialect(state_db(st)) != DB_PG &&
	    adm_exec(st, err, errlen, "UPDATE meta SET value = ?1 WHERE key = 'tenant_id_max';", "I",
	    id) < 0)) {
		adm_rollback(st);
		return -1;
	}
	return adm_commit(st, err, errlen);
}

static const char adm_tenant_cols[] = "SELECT id, name, suspended, pool, bounce_domain,"
    " per_minute, per_hour, per_day, rcpts, suspend_reason, created, weight FROM tenants";

static void
adm_tenant_read(struct db_stmt *stmt, struct state_tenant_info *t)
{
	memset(t, 0, sizeof(*t));
	t->t.id = db_column_int64(stmt, 0);
	state_text_copy(t->t.name, sizeof(t->t.name), stmt, 1);
	t->t.suspended = db_column_int(stmt, 2) != 0;
	state_text_copy(t->t.pool, sizeof(t->t.pool), stmt, 3);
	state_text_copy(t->t.bounce_domain, sizeof(t->t.bounce_domain), stmt, 4);
	state_limits_read(&t->t.limits, stmt, 5);
	state_text_copy(t->suspend_reason, sizeof(t->suspend_reason), stmt, 9);
	t->created = db_column_int64(stmt, 10);
	t->t.weight = db_column_int64(stmt, 11);
}

int
state_tenant_get(struct state *st, const char *name, struct state_tenant_info *t,
    char *err, size_t errlen)
{
	char sql[256];
	struct db_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s WHERE name = ?1;", adm_tenant_cols);
	if ((stmt = adm_prepare(st, err, errlen, sql, "t", name)) == NULL)
		return -1;
	rc = db_step(stmt);
	if (rc == DB_ROW)
		adm_tenant_read(stmt, t);
	db_finalize(stmt);
	if (rc == DB_DONE)
		return adm_fail(err, errlen, "no tenant %s", name);
	return rc == DB_ROW ? 0 : adm_dbfail(st, err, errlen, "database error");
}

int
state_tenant_list(struct state *st, state_tenant_fn fn, void *arg, char *err, size_t errlen)
{
	struct state_tenant_info t;
	char sql[256];
	struct db_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "%s ORDER BY name;", adm_tenant_cols);
	if ((stmt = adm_prepare(st, err, errlen, sql, "")) == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		adm_tenant_read(stmt, &t);
		fn(arg, &t);
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : adm_dbfail(st, err, errlen, "database error");
}

int
state_tenant_set(struct state *st, const char *name, const char *pool,
    const char *bounce_domain, char *err, size_t errlen)
{
	char b[STATE_DOMAIN_MAX + 1];
	long long id;

	if (adm_tenant_id(st, name, &id, err, errlen) != 0 ||
	    adm_tenant_opts(st, id, pool, bounce_domain, b, err, errlen) != 0)
		return -1;
	if (pool != NULL && adm_exec(st, err, errlen, "UPDATE tenants SET pool = ?1 WHERE id = ?2;",
	    "tI", pool, id) < 0)
		return -1;
	if (bounce_domain != NULL && adm_exec(st, err, errlen, "UPDATE tenants SET bounce_domain = ?1"
	    " WHERE id = ?2;", "tI", b, id) < 0)
		return -1;
	return state_changed_if(st, id, 0);
}

int
adm_limits_set(struct state *st, const char *table, long long id, const struct state_limits *l,
    char *err, size_t errlen)
{
	char sql[512];

	snprintf(sql, sizeof(sql), "UPDATE %s SET"
	    " per_minute = CASE WHEN ?1 < 0 THEN per_minute ELSE ?1 END,"
	    " per_hour = CASE WHEN ?2 < 0 THEN per_hour ELSE ?2 END,"
	    " per_day = CASE WHEN ?3 < 0 THEN per_day ELSE ?3 END,"
	    " rcpts = CASE WHEN ?4 < 0 THEN rcpts ELSE ?4 END WHERE id = ?5;", table);
	return adm_exec(st, err, errlen, sql, "IIIII", l->per_minute, l->per_hour, l->per_day,
	    l->rcpts, id) < 0 ? -1 : 0;
}

int
state_tenant_weight(struct state *st, const char *name, long long weight, char *err, size_t errlen)
{
	int n;

	if (weight < STATE_WEIGHT_MIN || weight > STATE_WEIGHT_MAX)
		return adm_fail(err, errlen, "weight %lld: from %d to %d", weight, STATE_WEIGHT_MIN,
		    STATE_WEIGHT_MAX);
	n = adm_exec(st, err, errlen, "UPDATE tenants SET weight = ?1 WHERE name = ?2;", "It", weight, name);
	if (n < 0)
		return -1;
	return n == 0 ? adm_fail(err, errlen, "no tenant %s", name) : 0;
}

int
state_tenant_limit(struct state *st, const char *name, const struct state_limits *l,
    char *err, size_t errlen)
{
	long long id;

	if (adm_tenant_id(st, name, &id, err, errlen) != 0)
		return -1;
	return state_changed_if(st, id, adm_limits_set(st, "tenants", id, l, err, errlen));
}

/* An operator's suspension or resume as an event (written here: ferryctl
 * and the HTTP API both come this way; ferryd's webhooks pick it up from
 * the table). A failure to record it is not the operator's failure. */
static void
adm_tenant_event(struct state *st, long long id, const char *kind, const char *reason)
{
	struct state_event e = { .time = time(NULL), .tenant_id = id, .kind = kind, .rcpt_index = -1,
	    .detail = reason, .source = "operator" };

	(void)state_events_record(st, &e, 1);
}

int
state_tenant_suspend(struct state *st, const char *name, const char *reason,
    char *err, size_t errlen)
{
	long long id;

	if (reason == NULL)
		reason = "";
	if (strlen(reason) > STATE_REASON_MAX || strpbrk(reason, "\r\n") != NULL)
		return adm_fail(err, errlen, "the reason must be one line of at most %d octets",
		    STATE_REASON_MAX);
	if (adm_tenant_id(st, name, &id, err, errlen) != 0)
		return -1;
	if (adm_exec(st, err, errlen, "UPDATE tenants SET suspended = 1, suspend_reason = ?1"
	    " WHERE id = ?2;", "tI", reason, id) < 0)
		return -1;
	state_changed(st, id);
	adm_tenant_event(st, id, EV_SUSPENDED, reason);
	return 0;
}

int
state_tenant_resume(struct state *st, const char *name, long long *id, char *err, size_t errlen)
{
	if (adm_tenant_id(st, name, id, err, errlen) != 0)
		return -1;
	if (adm_exec(st, err, errlen, "UPDATE tenants SET suspended = 0, suspend_reason = ''"
	    " WHERE id = ?1;", "I", *id) < 0)
		return -1;
	state_changed(st, *id);
	adm_tenant_event(st, *id, EV_RESUMED, "");
	return 0;
}

int
state_tenant_del(struct state *st, const char *name, char *err, size_t errlen)
{
	static const char *const sql[] = {
		/* the high-water mark never below a deleted id, so it is never
		 * given again (a database made before the mark gets it here) */
		"INSERT OR IGNORE INTO meta(key, value) VALUES ('tenant_id_max', ?1);",
		"UPDATE meta SET value = max(CAST(value AS INTEGER), ?1) WHERE key = 'tenant_id_max';",
		/* rows keyed by the id without a foreign key; with the rate
		 * counters of the tenant and of its accounts, keys, connectors
		 * (keys as smtp_tenant_windows names them) */
		"DELETE FROM reputation WHERE tenant_id = ?1;",
		"DELETE FROM events WHERE tenant_id = ?1;",
		"DELETE FROM bounces WHERE tenant_id = ?1;",
		"DELETE FROM counters WHERE key IN (SELECT 't:' || ?1 UNION ALL SELECT 'r:' || ?1"
		" UNION ALL SELECT 'a:' || id FROM accounts WHERE tenant_id = ?1"
		" UNION ALL SELECT 'k:' || id FROM api_keys WHERE tenant_id = ?1"
		" UNION ALL SELECT 'c:' || id FROM connectors WHERE tenant_id = ?1);",
		/* ON DELETE CASCADE removes its accounts, keys, domains, DKIM
		 * rows, connectors, suppressions and soft-failure counts
		 * (foreign_keys is on for every connection). */
		"DELETE FROM tenants WHERE id = ?1;",
	};
	long long id;

	if (adm_begin(st, err, errlen) != 0)
		return -1;
	if (adm_tenant_id(st, name, &id, err, errlen) != 0)
		goto fail;
	/* PostgreSQL: the identity sequence never goes back, no mark needed */
	for (size_t i = db_dialect(state_db(st)) == DB_PG ? 2 : 0; i < sizeof(sql) / sizeof(sql[0]); i++)
		if (adm_exec(st, err, errlen, sql[i], "I", id) < 0)
			goto fail;
	return state_changed_if(st, id, adm_commit(st, err, errlen));
fail:
	adm_rollback(st);
	return -1;
}

/* ---- accounts --------------------------------------------------------------- */

/* The id of tenant's account name: 0, or -1 + err. */
static int
adm_account_id(struct state *st, const char *tenant, const char *name, long long *id,
    char *err, size_t errlen)
{
	long long tid;
	int rc;

	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	rc = adm_find_id(st, err, errlen, id, "SELECT id FROM accounts WHERE name = ?1 AND"
	    " tenant_id = ?2;", name, tid);
	if (rc == 0)
		return adm_fail(err, errlen, "tenant %s has no account %s", tenant, name);
	return rc < 0 ? -1 : 0;
}

static int
adm_pass_hash(const char *pass, char hash[PWHASH_STR_MAX], char *err, size_t errlen)
{
	if (!pwhash_init())
		return adm_fail(err, errlen, "libsodium: cannot initialise");
	if (pass[0] == '\0')
		return adm_fail(err, errlen, "empty password");
	if (pwhash_make(pass, strlen(pass), hash) != 0)
		return adm_fail(err, errlen, "cannot hash the password (out of memory)");
	return 0;
}

int
state_account_add(struct state *st, const char *tenant, const char *name, const char *pass,
    char *err, size_t errlen)
{
	char hash[PWHASH_STR_MAX];
	long long tid, other;
	int rc;

	if (!state_name_valid(name) || strcmp(name, "apikey") == 0)
		return adm_fail(err, errlen, "invalid account name %s: 1 to %d of A-Z a-z 0-9 . _ -"
		    " (not \"apikey\")", name, STATE_NAME_MAX);
	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	rc = adm_find_id(st, err, errlen, &other, "SELECT id FROM accounts WHERE name = ?1;", name, 0);
	if (rc != 0)
		return rc < 0 ? -1 : adm_fail(err, errlen, "account %s already exists (account names"
		    " are SMTP AUTH user names, unique across tenants)", name);
	if (adm_pass_hash(pass, hash, err, errlen) != 0)
		return -1;
	return adm_exec(st, err, errlen, "INSERT INTO accounts(tenant_id, name, hash, created)"
	    " VALUES (?1, ?2, ?3, ?4);", "IttI", tid, name, hash, (long long)time(NULL)) < 0 ? -1 : 0;
}

int
state_account_passwd(struct state *st, const char *tenant, const char *name, const char *pass,
    char *err, size_t errlen)
{
	char hash[PWHASH_STR_MAX];
	long long id;

	if (adm_account_id(st, tenant, name, &id, err, errlen) != 0 ||
	    adm_pass_hash(pass, hash, err, errlen) != 0)
		return -1;
	return adm_exec(st, err, errlen, "UPDATE accounts SET hash = ?1 WHERE id = ?2;", "tI",
	    hash, id) < 0 ? -1 : 0;
}

int
state_account_del(struct state *st, const char *tenant, const char *name, char *err, size_t errlen)
{
	long long id;

	if (adm_account_id(st, tenant, name, &id, err, errlen) != 0)
		return -1;
	return adm_changed(st, tenant, adm_exec(st, err, errlen, "DELETE FROM accounts WHERE id = ?1;",
	    "I", id) < 0 ? -1 : 0);
}

int
state_account_list(struct state *st, const char *tenant, state_account_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct state_account a;
	struct db_stmt *stmt;
	long long tid;
	int rc;

	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	stmt = adm_prepare(st, err, errlen, "SELECT id, name, per_minute, per_hour, per_day, rcpts,"
	    " created FROM accounts WHERE tenant_id = ?1 ORDER BY name;", "I", tid);
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&a, 0, sizeof(a));
		a.id = db_column_int64(stmt, 0);
		state_text_copy(a.name, sizeof(a.name), stmt, 1);
		state_limits_read(&a.limits, stmt, 2);
		a.created = db_column_int64(stmt, 6);
		fn(arg, &a);
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : adm_dbfail(st, err, errlen, "database error");
}

int
state_account_limit(struct state *st, const char *tenant, const char *name,
    const struct state_limits *l, char *err, size_t errlen)
{
	long long id;

	if (adm_account_id(st, tenant, name, &id, err, errlen) != 0)
		return -1;
	return adm_changed(st, tenant, adm_limits_set(st, "accounts", id, l, err, errlen));
}

/* ---- API keys --------------------------------------------------------------- */

/* "fy_" + 12 lowercase hex + "_" + 43 base64url (no padding) into key. */
static void
adm_key_make(char key[STATE_KEY_TEXT_MAX + 1])
{
	unsigned char pre[6], secret[ADM_KEY_RANDOM];
	char hex[sizeof(pre) * 2 + 1];
	char b64[sodium_base64_ENCODED_LEN(ADM_KEY_RANDOM, sodium_base64_VARIANT_URLSAFE_NO_PADDING)];

	randombytes_buf(pre, sizeof(pre));
	randombytes_buf(secret, sizeof(secret));
	sodium_bin2hex(hex, sizeof(hex), pre, sizeof(pre));
	sodium_bin2base64(b64, sizeof(b64), secret, sizeof(secret),
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	snprintf(key, STATE_KEY_TEXT_MAX + 1, "fy_%s_%s", hex, b64);
	sodium_memzero(secret, sizeof(secret));
	sodium_memzero(b64, sizeof(b64));
}

/* Insert a new key for tenant tid into key. */
static int
adm_key_insert(struct state *st, long long tid, const char *label,
    char key[STATE_KEY_TEXT_MAX + 1], char *err, size_t errlen)
{
	char prefix[STATE_KEY_PREFIX_LEN + 1];
	unsigned char h[32];
	long long other;
	int rc = -1;

	if (sodium_init() < 0)
		return adm_fail(err, errlen, "libsodium: cannot initialise");
	for (int i = 0; i < ADM_KEY_TRIES; i++) {
		adm_key_make(key);
		memcpy(prefix, key, STATE_KEY_PREFIX_LEN);
		prefix[STATE_KEY_PREFIX_LEN] = '\0';
		rc = adm_find_id(st, err, errlen, &other, "SELECT id FROM api_keys WHERE prefix = ?1;",
		    prefix, 0);
		if (rc <= 0)
			break;
	}
	if (rc != 0) {
		sodium_memzero(key, STATE_KEY_TEXT_MAX + 1);
		return rc < 0 ? -1 : adm_fail(err, errlen, "cannot find a free key prefix");
	}
	state_key_hash(key, strlen(key), h);
	rc = adm_exec(st, err, errlen, "INSERT INTO api_keys(tenant_id, prefix, hash, label, created)"
	    " VALUES (?1, ?2, ?3, ?4, ?5);", "ItbtI", tid, prefix, h, sizeof(h), label,
	    (long long)time(NULL));
	if (rc < 0)
		sodium_memzero(key, STATE_KEY_TEXT_MAX + 1);
	return rc < 0 ? -1 : 0;
}

static int
adm_label_check(const char *label, char *err, size_t errlen)
{
	if (strlen(label) > STATE_LABEL_MAX || strpbrk(label, "\r\n\t") != NULL)
		return adm_fail(err, errlen, "the label must be one line of at most %d octets",
		    STATE_LABEL_MAX);
	return 0;
}

int
state_key_create(struct state *st, const char *tenant, const char *label,
    char key[STATE_KEY_TEXT_MAX + 1], char *err, size_t errlen)
{
	long long tid;

	if (label == NULL)
		label = "";
	if (adm_label_check(label, err, errlen) != 0 || adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	return adm_key_insert(st, tid, label, key, err, errlen);
}

int
state_key_list(struct state *st, const char *tenant, state_key_fn fn, void *arg,
    char *err, size_t errlen)
{
	struct state_key_info k;
	struct db_stmt *stmt;
	long long tid;
	int rc;

	if (adm_tenant_id(st, tenant, &tid, err, errlen) != 0)
		return -1;
	stmt = adm_prepare(st, err, errlen, "SELECT id, prefix, label, created, revoked FROM api_keys"
	    " WHERE tenant_id = ?1 ORDER BY id;", "I", tid);
	if (stmt == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&k, 0, sizeof(k));
		k.id = db_column_int64(stmt, 0);
		state_text_copy(k.prefix, sizeof(k.prefix), stmt, 1);
		state_text_copy(k.label, sizeof(k.label), stmt, 2);
		k.created = db_column_int64(stmt, 3);
		k.revoked = db_column_int64(stmt, 4);
		fn(arg, &k);
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : adm_dbfail(st, err, errlen, "database error");
}

/* Revoke tenant's key prefix; its label into label (may be NULL). */
static int
adm_key_revoke(struct state *st, const char *tenant, const char *prefix, long long *tid,
    char label[STATE_LABEL_MAX + 1], char *err, size_t errlen)
{
	struct db_stmt *stmt;
	long long id = 0;
	int rc, revoked = 0;

	if (adm_tenant_id(st, tenant, tid, err, errlen) != 0)
		return -1;
	stmt = adm_prepare(st, err, errlen, "SELECT id, label, revoked FROM api_keys WHERE"
	    " prefix = ?1 AND tenant_id = ?2;", "tI", prefix, *tid);
	if (stmt == NULL)
		return -1;
	if ((rc = db_step(stmt)) == DB_ROW) {
		id = db_column_int64(stmt, 0);
		if (label != NULL)
			state_text_copy(label, STATE_LABEL_MAX + 1, stmt, 1);
		revoked = db_column_int(stmt, 2);
	}
	db_finalize(stmt);
	if (rc == DB_DONE)
		return adm_fail(err, errlen, "tenant %s has no key %s", tenant, prefix);
	if (rc != DB_ROW)
		return adm_dbfail(st, err, errlen, "database error");
	if (revoked)
		return adm_fail(err, errlen, "key %s is already revoked", prefix);
	return adm_exec(st, err, errlen, "UPDATE api_keys SET revoked = ?1 WHERE id = ?2;", "II",
	    (long long)time(NULL), id) < 0 ? -1 : 0;
}

int
state_key_revoke(struct state *st, const char *tenant, const char *prefix,
    char *err, size_t errlen)
{
	long long tid = 0;
	int rc = adm_key_revoke(st, tenant, prefix, &tid, NULL, err, errlen);

	return state_changed_if(st, tid, rc);
}

int
state_key_rotate(struct state *st, const char *tenant, const char *prefix,
    char key[STATE_KEY_TEXT_MAX + 1], char *err, size_t errlen)
{
	char label[STATE_LABEL_MAX + 1] = "";
	long long tid;

	if (adm_begin(st, err, errlen) != 0)
		return -1;
	if (adm_key_revoke(st, tenant, prefix, &tid, label, err, errlen) != 0 ||
	    adm_key_insert(st, tid, label, key, err, errlen) != 0) {
		adm_rollback(st);
		return -1;
	}
	if (adm_commit(st, err, errlen) != 0) {
		sodium_memzero(key, STATE_KEY_TEXT_MAX + 1);
		return -1;
	}
	state_changed(st, tid);
	return 0;
}
