/*
 * state_suppress.c - per-tenant suppression lists and soft-failure counters
 * in the state database (see suppress.h): the lookup ferryd makes at each
 * RCPT of a tenant's transaction, additions from bounces, complaints and
 * ferryctl, the soft-bounce threshold, listing and bulk import.
 * SECURITY: addresses and causes come from remote peers (bounces) or
 * files (imports): they are bound, never part of SQL, and bounded by
 * SUPPRESS_ADDR_MAX and SUPPRESS_CAUSE_MAX.
 */
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_admin.h"
#include "state/state_admin_internal.h"
#include "state/state_cache.h"
#include "state/state_internal.h"
#include "state/suppress.h"
#include "util/xmalloc.h"

static const char *const suppress_reason_names[SUPPRESS_REASONS] = {
	"hard-bounce", "soft-bounce", "complaint", "unsubscribe", "manual",
};

const char *
suppress_reason_name(enum suppress_reason r)
{
	return (unsigned)r < SUPPRESS_REASONS ? suppress_reason_names[r] : "manual";
}

int
suppress_reason_parse(const char *s, enum suppress_reason *r)
{
	for (int i = 0; i < SUPPRESS_REASONS; i++)
		if (strcmp(s, suppress_reason_names[i]) == 0) {
			*r = (enum suppress_reason)i;
			return 0;
		}
	return -1;
}

const char *
suppress_mode_name(enum suppress_mode m)
{
	return m == SUPPRESS_MODE_DROP ? "drop" : "reject";
}

int
suppress_mode_parse(const char *s, enum suppress_mode *m)
{
	if (strcmp(s, "reject") == 0)
		*m = SUPPRESS_MODE_REJECT;
	else if (strcmp(s, "drop") == 0)
		*m = SUPPRESS_MODE_DROP;
	else
		return -1;
	return 0;
}

bool
suppress_addr_norm(const char *addr, size_t len, char *out)
{
	const char *at;

	/* "user@example.com." names the same mailbox (the root label): one
	 * trailing dot goes, so a list entry matches either spelling */
	if (len > 0 && addr[len - 1] == '.' && (at = memrchr(addr, '@', len)) != NULL &&
	    at + 2 < addr + len)
		len--;
	if (len == 0 || len > SUPPRESS_ADDR_MAX)
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)addr[i];
		/* controls never belong in an address, and a list line with one
		 * would break the CSV export and the reply */
		if (c < 0x20 || c == 0x7f)
			return false;
		out[i] = (char)(c >= 'A' && c <= 'Z' ? c + ('a' - 'A') : c);
	}
	out[len] = '\0';
	return true;
}

int
suppress_reason_rank(enum suppress_reason r)
{
	switch (r) {
	case SUPPRESS_COMPLAINT:
	case SUPPRESS_UNSUBSCRIBE:  return 4;
	case SUPPRESS_HARD_BOUNCE:  return 2;
	case SUPPRESS_SOFT_BOUNCE:  return 1;
	default:                    return 3;   /* manual, and what reads as manual */
	}
}

/* Columns addr, reason, time, expires, cause from col on. */
static void
suppress_row_read(struct suppression *s, struct db_stmt *stmt, int col)
{
	const unsigned char *reason = db_column_text(stmt, col + 1);

	state_text_copy(s->addr, sizeof(s->addr), stmt, col);
	/* a hand-edited reason that is none of ours reads as manual */
	if (reason == NULL || suppress_reason_parse((const char *)reason, &s->reason) != 0)
		s->reason = SUPPRESS_MANUAL;
	s->time = (time_t)db_column_int64(stmt, col + 2);
	s->expires = (time_t)db_column_int64(stmt, col + 3);
	state_text_copy(s->cause, sizeof(s->cause), stmt, col + 4);
}

static int
suppress_get_db(struct state *st, long long tenant_id, const char *key, time_t now,
    struct suppression *s)
{
	struct db_stmt *stmt;
	int rc;

	stmt = state_prepare(st, "SELECT addr, reason, time, expires, cause FROM suppressions"
	    " WHERE tenant_id = ?1 AND addr = ?2 AND (expires = 0 OR expires > ?3);");
	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	db_bind_text(stmt, 2, key, -1);
	db_bind_int64(stmt, 3, (long long)now);
	rc = db_step(stmt);
	if (rc == DB_ROW)
		suppress_row_read(s, stmt, 0);
	state_stmt_done(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

/* From the cache when one is attached (state_cache.h: keyed by the
 * address's SHA-256), else (or on a miss, then stored) from the database.
 * A cached entry holds its expiry and is checked against now here. */
int
state_suppression_get(struct state *st, long long tenant_id, const char *addr, size_t len,
    time_t now, struct suppression *s)
{
	char key[SUPPRESS_ADDR_MAX + 1], val[STATE_CACHE_VALUE_MAX];
	char item[crypto_hash_sha256_BYTES * 2 + 1];
	unsigned char h[crypto_hash_sha256_BYTES];
	struct state_cache_slot slot;
	struct suppression e;
	size_t vlen = 0;
	int rc;

	if (!suppress_addr_norm(addr, len, key))
		return 0;
	crypto_hash_sha256(h, (const unsigned char *)key, strlen(key));
	sodium_bin2hex(item, sizeof(item), h, sizeof(h));
	rc = -1;      /* no answer from the cache yet */
	if (state_cache_get(st, "sup", tenant_id, item, val, sizeof(val), &vlen, &slot) == 1 &&
	    (rc = state_cache_sup_parse(val, vlen, key, &e)) < 0) {
		state_cache_unusable();
		slot.fill = true;
	}
	if (rc < 0) {
		rc = suppress_get_db(st, tenant_id, key, now, &e);
		if (rc >= 0 && (vlen = state_cache_sup_format(val, sizeof(val), rc == 1 ? &e : NULL)) > 0)
			state_cache_put(st, &slot, val, vlen);
	}
	if (rc == 1 && e.expires != 0 && e.expires <= now)
		rc = 0;
	if (rc == 1 && s != NULL)
		*s = e;
	return rc;
}

/* The upsert of every addition. An operator's (force) replaces anything.
 * Any other (bounces, complaints, imports) replaces an entry that has
 * expired by now, or a live one only when its reason ranks as high
 * (suppress_reason_rank, mirrored by the CASE), it is live itself and it
 * does not end sooner: a list must never lose an unsubscribe or a
 * complaint to a bounce or to an old export. key is normalised. */
static int
suppress_upsert(struct state *st, long long tenant_id, const char *key, const struct suppression *s,
    time_t now, bool force)
{
	struct db_stmt *stmt = state_prepare(st, "INSERT INTO suppressions(tenant_id, addr, reason,"
	    " time, expires, cause) VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT(tenant_id, addr)"
	    " DO UPDATE SET reason = excluded.reason, time = excluded.time,"
	    " expires = excluded.expires, cause = excluded.cause"
	    " WHERE ?9 <> 0 OR (suppressions.expires <> 0 AND suppressions.expires <= ?7)"
	    " OR (?8 >= CASE suppressions.reason WHEN 'complaint' THEN 4 WHEN 'unsubscribe' THEN 4"
	    "  WHEN 'hard-bounce' THEN 2 WHEN 'soft-bounce' THEN 1 ELSE 3 END"
	    "  AND (excluded.expires = 0 OR (excluded.expires > ?7 AND suppressions.expires <> 0"
	    "   AND excluded.expires >= suppressions.expires)));");
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	db_bind_text(stmt, 2, key, -1);
	db_bind_text(stmt, 3, suppress_reason_name(s->reason), -1);
	db_bind_int64(stmt, 4, (long long)s->time);
	db_bind_int64(stmt, 5, (long long)s->expires);
	db_bind_text(stmt, 6, s->cause, (int)strnlen(s->cause, SUPPRESS_CAUSE_MAX));
	db_bind_int64(stmt, 7, (long long)now);
	db_bind_int(stmt, 8, suppress_reason_rank(s->reason));
	db_bind_int(stmt, 9, force ? 1 : 0);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	return rc == DB_DONE ? 0 : -1;
}

/* synchronous=FULL for one write: a suppression decided from a bounce must
 * survive a power loss as the bounce's 250 does (state_bounces_record). */
static int
suppress_durable(struct db *db, bool on)
{
	return db_exec(db, on ? "PRAGMA synchronous=FULL;" : "PRAGMA synchronous=NORMAL;") == DB_OK ? 0 : -1;
}

static int
suppress_add(struct state *st, long long tenant_id, const struct suppression *s, bool force)
{
	char key[SUPPRESS_ADDR_MAX + 1];
	struct db *db = state_db(st);
	int rc;

	if (db == NULL || !suppress_addr_norm(s->addr, strnlen(s->addr, sizeof(s->addr)), key))
		return -1;
	if (suppress_durable(db, true) != 0)
		return -1;
	rc = suppress_upsert(st, tenant_id, key, s, time(NULL), force);
	suppress_durable(db, false);
	return state_changed_if(st, tenant_id, rc);
}

int
state_suppression_add(struct state *st, long long tenant_id, const struct suppression *s)
{
	return suppress_add(st, tenant_id, s, false);
}

int
state_suppression_set(struct state *st, long long tenant_id, const struct suppression *s)
{
	return suppress_add(st, tenant_id, s, true);
}

/* In a transaction: count one soft failure; 1 when it reached threshold
 * (the entry made, the counter gone), 0 counted, -1. */
/* PostgreSQL: nodes counting the same address's soft failures take turns
 * (a lock held to the end of the caller's transaction), so the read and
 * the write of the count never interleave and no failure is lost. SQLite's
 * BEGIN IMMEDIATE already serialises writers. 0 or -1. */
static int
suppress_soft_lock(struct state *st, long long tenant_id, const char *key)
{
	struct db_stmt *stmt;
	int rc;

	if (db_dialect(state_db(st)) != DB_PG)
		return 0;
	if ((stmt = state_prepare(st, "SELECT pg_advisory_xact_lock(hashtextextended(?2, ?1));")) == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	db_bind_text(stmt, 2, key, -1);
	rc = db_step(stmt);
	state_stmt_done(stmt);
	return rc == DB_ROW ? 0 : -1;
}

static int
suppress_soft_count(struct state *st, long long tenant_id, const char *key, const char *cause,
    time_t now, int threshold, int window, int expiry)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT count, first FROM soft_failures"
	    " WHERE tenant_id = ?1 AND addr = ?2;");
	long long count = 1, first = now;
	struct suppression s = { .reason = SUPPRESS_SOFT_BOUNCE, .time = now };
	char err[256];
	int rc;

	if (stmt == NULL || suppress_soft_lock(st, tenant_id, key) != 0) {
		state_stmt_done(stmt);
		return -1;
	}
	db_bind_int64(stmt, 1, tenant_id);
	db_bind_text(stmt, 2, key, -1);
	rc = db_step(stmt);
	/* a failure past the window starts a new count */
	if (rc == DB_ROW && now - db_column_int64(stmt, 1) < window) {
		count = db_column_int64(stmt, 0) + 1;
		first = db_column_int64(stmt, 1);
	}
	state_stmt_done(stmt);
	if (rc != DB_ROW && rc != DB_DONE)
		return -1;
	if (count < threshold)
		return adm_exec(st, err, sizeof(err), "INSERT INTO soft_failures(tenant_id,"
		    " addr, count, first, last) VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT(tenant_id, addr)"
		    " DO UPDATE SET count = excluded.count, first = excluded.first, last = excluded.last;", "ItIII", tenant_id, key,
		    count, first, (long long)now) < 0 ? -1 : 0;
	s.expires = expiry > 0 ? now + expiry : 0;
	snprintf(s.cause, sizeof(s.cause), "%s", cause != NULL ? cause : "");
	if (suppress_upsert(st, tenant_id, key, &s, now, false) != 0 ||
	    adm_exec(st, err, sizeof(err), "DELETE FROM soft_failures WHERE tenant_id = ?1"
	    " AND addr = ?2;", "It", tenant_id, key) < 0)
		return -1;
	return 1;
}

int
state_suppression_soft(struct state *st, long long tenant_id, const char *addr, const char *cause,
    time_t now, int threshold, int window, int expiry)
{
	char key[SUPPRESS_ADDR_MAX + 1];
	struct db *db = state_db(st);
	int rc;

	if (db == NULL || !suppress_addr_norm(addr, strlen(addr), key))
		return -1;
	/* already suppressed: mail to it is refused, nothing to count */
	if ((rc = state_suppression_get(st, tenant_id, key, strlen(key), now, NULL)) != 0)
		return rc < 0 ? -1 : 0;
	if (suppress_durable(db, true) != 0)
		return -1;
	if (db_exec(db, "BEGIN IMMEDIATE;") != DB_OK) {
		suppress_durable(db, false);
		return -1;
	}
	rc = suppress_soft_count(st, tenant_id, key, cause, now, threshold, window, expiry);
	if (rc < 0 || db_exec(db, "COMMIT;") != DB_OK) {
		db_exec(db, "ROLLBACK;");
		rc = -1;
	}
	suppress_durable(db, false);
	if (rc == 1)
		state_changed(st, tenant_id);
	return rc;
}

int
state_suppression_del(struct state *st, long long tenant_id, const char *addr)
{
	char key[SUPPRESS_ADDR_MAX + 1], err[256];
	int n;

	if (!suppress_addr_norm(addr, strlen(addr), key))
		return 0;
	/* one transaction: a counter left without its entry (or the reverse)
	 * would suppress again after fewer soft failures than configured */
	if (adm_begin(st, err, sizeof(err)) != 0)
		return -1;
	if (adm_exec(st, err, sizeof(err), "DELETE FROM soft_failures WHERE tenant_id = ?1"
	    " AND addr = ?2;", "It", tenant_id, key) < 0 ||
	    (n = adm_exec(st, err, sizeof(err), "DELETE FROM suppressions WHERE tenant_id = ?1"
	    " AND addr = ?2;", "It", tenant_id, key)) < 0) {
		adm_rollback(st);
		return -1;
	}
	if (adm_commit(st, err, sizeof(err)) != 0)
		return -1;
	if (n > 0)
		state_changed(st, tenant_id);
	return n > 0;
}

/* ?2 the reason's name or NULL for all. */
static void
suppress_reason_bind(struct db_stmt *stmt, int col, const enum suppress_reason *reason)
{
	if (reason != NULL)
		db_bind_text(stmt, col, suppress_reason_name(*reason), -1);
	else
		db_bind_null(stmt, col);
}

const char *
suppress_addr_parse(const char *in, char out[SUPPRESS_ADDR_MAX + 1])
{
	const char *at = strrchr(in, '@');
	char domain[STATE_DOMAIN_MAX + 1];
	size_t local;

	if (at == NULL || at == in)
		return "not an address (local@domain)";
	local = (size_t)(at - in);
	if (local > 64)
		return "local part longer than 64 octets";
	for (const char *s = in; s < at; s++)
		if ((unsigned char)*s <= ' ' || *s == 0x7f || strchr("<>,\"", *s) != NULL)
			return "local part holds a space, a control or one of < > , \"";
	if (state_domain_norm(at + 1, domain, sizeof(domain)) != 0)
		return "domain is not a valid host name";
	if (local + 1 + strlen(domain) > SUPPRESS_ADDR_MAX)
		return "address too long";
	snprintf(out, SUPPRESS_ADDR_MAX + 1, "%.*s@%s", (int)local, in, domain);
	suppress_addr_norm(out, strlen(out), out);
	return NULL;
}

const char *
suppress_cause_parse(const char *in, char out[SUPPRESS_CAUSE_MAX + 1])
{
	if (strlen(in) > SUPPRESS_CAUSE_MAX)
		return "cause longer than 255 octets";
	for (const char *s = in; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return "cause holds a control character (one line of text)";
	snprintf(out, SUPPRESS_CAUSE_MAX + 1, "%s", in);
	return NULL;
}

long long
state_suppression_each(struct state *st, long long tenant_id, const enum suppress_reason *reason,
    long long limit, suppress_each_fn fn, void *arg)
{
	return state_suppression_page(st, tenant_id, reason, NULL, limit, fn, arg);
}

long long
state_suppression_page(struct state *st, long long tenant_id, const enum suppress_reason *reason,
    const char *after, long long limit, suppress_each_fn fn, void *arg)
{
	/* CAST: PostgreSQL cannot tell the type of a parameter only tested
	 * for NULL; no LIMIT is the largest one (it refuses SQLite's -1) */
	struct db_stmt *stmt = state_prepare(st, "SELECT addr, reason, time, expires, cause"
	    " FROM suppressions WHERE tenant_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR reason = ?2)"
	    " AND (CAST(?4 AS TEXT) IS NULL OR addr > ?4) ORDER BY addr LIMIT ?3;");
	char norm[SUPPRESS_ADDR_MAX + 1];
	struct suppression s;
	long long n = 0;
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	suppress_reason_bind(stmt, 2, reason);
	db_bind_int64(stmt, 3, limit > 0 ? limit : LLONG_MAX);
	/* stored addresses are normalized: compare with the cursor the same way */
	if (after != NULL && suppress_addr_norm(after, strlen(after), norm))
		db_bind_text(stmt, 4, norm, -1);
	else if (after != NULL)
		db_bind_text(stmt, 4, after, -1);
	while ((rc = db_step(stmt)) == DB_ROW) {
		suppress_row_read(&s, stmt, 0);
		n++;
		if (fn(arg, &s) != 0) {
			rc = DB_DONE;
			break;
		}
	}
	state_stmt_done(stmt);
	return rc == DB_DONE ? n : -1;
}

long long
state_suppression_count(struct state *st, long long tenant_id, const enum suppress_reason *reason)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT count(*) FROM suppressions"
	    " WHERE tenant_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR reason = ?2);");
	long long n = -1;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	suppress_reason_bind(stmt, 2, reason);
	if (db_step(stmt) == DB_ROW)
		n = db_column_int64(stmt, 0);
	state_stmt_done(stmt);
	return n;
}

/* ---- bulk import ---------------------------------------------------------------- */

/* Rows are validated and held in memory, then written in one short
 * transaction per SUPPRESS_IMPORT_BATCH: the write lock is never held
 * while the caller reads its input (a pipe can stall for ever, and every
 * other writer, ferryd's feedback loop included, would fail after its
 * busy timeout). */
struct suppress_import {
	struct state       *st;
	struct db            *db;
	long long           tenant_id;
	struct suppression *rows;    /* addr normalised */
	size_t              n;       /* rows held */
	bool                failed;
};

/* Write the rows held in one transaction; 0, or -1 (failed set). */
static int
suppress_import_flush(struct suppress_import *imp)
{
	time_t now = time(NULL);
	size_t i;

	if (imp->n == 0)
		return 0;
	if (db_exec(imp->db, "BEGIN IMMEDIATE;") != DB_OK)
		goto fail;
	for (i = 0; i < imp->n; i++)
		if (suppress_upsert(imp->st, imp->tenant_id, imp->rows[i].addr, &imp->rows[i], now,
		    false) != 0)
			break;
	if (i < imp->n || db_exec(imp->db, "COMMIT;") != DB_OK) {
		db_exec(imp->db, "ROLLBACK;");
		goto fail;
	}
	state_changed(imp->st, imp->tenant_id);
	imp->n = 0;
	return 0;
fail:
	imp->failed = true;
	return -1;
}

struct suppress_import *
state_suppression_import_begin(struct state *st, long long tenant_id)
{
	struct suppress_import *imp;
	struct db *db = state_db(st);

	if (db == NULL || suppress_durable(db, true) != 0)
		return NULL;
	imp = xcalloc(1, sizeof(*imp));
	imp->st = st;
	imp->db = db;
	imp->tenant_id = tenant_id;
	imp->rows = xcalloc(SUPPRESS_IMPORT_BATCH, sizeof(*imp->rows));
	return imp;
}

int
state_suppression_import_add(struct suppress_import *imp, const struct suppression *s)
{
	struct suppression *row;

	if (imp->failed)
		return -1;
	row = &imp->rows[imp->n];
	if (!suppress_addr_norm(s->addr, strnlen(s->addr, sizeof(s->addr)), row->addr))
		return -1;
	row->reason = s->reason;
	row->time = s->time;
	row->expires = s->expires;
	snprintf(row->cause, sizeof(row->cause), "%.*s", SUPPRESS_CAUSE_MAX, s->cause);
	if (++imp->n >= SUPPRESS_IMPORT_BATCH)
		return suppress_import_flush(imp);
	return 0;
}

bool
state_suppression_import_failed(const struct suppress_import *imp)
{
	return imp->failed;
}

int
state_suppression_import_end(struct suppress_import *imp, bool commit)
{
	int rc = imp->failed ? -1 : 0;

	if (commit && !imp->failed)
		rc = suppress_import_flush(imp);
	suppress_durable(imp->db, false);
	free(imp->rows);
	free(imp);
	return rc;
}

/* ---- the tenant's mode ---------------------------------------------------------- */

int
state_tenant_suppress_mode(struct state *st, long long tenant_id, enum suppress_mode *m)
{
	struct db_stmt *stmt = state_prepare(st, "SELECT suppress_mode FROM tenants WHERE id = ?1;");
	const unsigned char *t;
	int rc;

	if (stmt == NULL)
		return -1;
	db_bind_int64(stmt, 1, tenant_id);
	rc = db_step(stmt);
	if (rc == DB_ROW) {
		/* anything but "drop" refuses: the safe side for a hand edit */
		t = db_column_text(stmt, 0);
		if (t == NULL || suppress_mode_parse((const char *)t, m) != 0)
			*m = SUPPRESS_MODE_REJECT;
	}
	state_stmt_done(stmt);
	return rc == DB_ROW ? 1 : rc == DB_DONE ? 0 : -1;
}

int
state_tenant_suppress_mode_set(struct state *st, const char *tenant, enum suppress_mode m,
    char *err, size_t errlen)
{
	int n = adm_exec(st, err, errlen, "UPDATE tenants SET suppress_mode = ?1 WHERE name = ?2;",
	    "tt", suppress_mode_name(m), tenant);

	if (n < 0)
		return -1;
	return n == 0 ? adm_fail(err, errlen, "no tenant %s", tenant) : 0;
}
