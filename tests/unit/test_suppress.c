/*
 * test_suppress.c - tenants' suppression lists in the state database
 * (state/suppress.h): lookups (case, trailing dot, expiry, other tenants),
 * the replacement rule by rank, the soft-bounce threshold, window and
 * expiry, deletion (atomic), listing with a reason filter and a limit,
 * bulk import across batches without holding the write lock, the tenant's
 * mode, a database error; and what a tenant's deletion takes with it and
 * that its id is never given again.
 * Each test gets a fresh database in its own temporary directory, or a
 * fresh schema on PostgreSQL under FERRY_TEST_PG (state_fixture.h).
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "db/db.h"

#include "state/state.h"
#include "state/state_admin.h"
#include "state/state_internal.h"
#include "state/suppress.h"

#include "state_fixture.h"

#define NOW ((time_t)1796000000)   /* a fixed "now": 2026-11-29 */
#define DAY 86400

struct fx {
	char          dir[64];
	char          path[128];
	char          err[512];
	struct state *st;
	long long     acme, other;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct state_tenant t;

	assert_non_null(fx);
	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), "suppress");
	fx->st = state_fixture_open(fx->dir, fx->path, sizeof(fx->path), fx->err, sizeof(fx->err));
	assert_int_equal(state_tenant_add(fx->st, "acme", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_add(fx->st, "other", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "acme", &t), 1);
	fx->acme = t.id;
	assert_int_equal(state_tenant_by_name(fx->st, "other", &t), 1);
	fx->other = t.id;
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	state_close(fx->st);
	state_fixture_rmdir(fx->dir);
	free(fx);
	return 0;
}

static struct suppression
sup(const char *addr, enum suppress_reason r, time_t when, time_t expires, const char *cause)
{
	struct suppression s = { .reason = r, .time = when, .expires = expires };

	snprintf(s.addr, sizeof(s.addr), "%s", addr);
	snprintf(s.cause, sizeof(s.cause), "%s", cause);
	return s;
}

static int
get(struct fx *fx, long long tenant, const char *addr, time_t now, struct suppression *out)
{
	return state_suppression_get(fx->st, tenant, addr, strlen(addr), now, out);
}

static void
test_names(void **state)
{
	enum suppress_reason r;
	enum suppress_mode m;
	char out[SUPPRESS_ADDR_MAX + 1], big[SUPPRESS_ADDR_MAX + 2];

	(void)state;
	for (int i = 0; i < SUPPRESS_REASONS; i++) {
		assert_int_equal(suppress_reason_parse(suppress_reason_name((enum suppress_reason)i), &r), 0);
		assert_int_equal((int)r, i);
	}
	assert_string_equal(suppress_reason_name(SUPPRESS_HARD_BOUNCE), "hard-bounce");
	assert_int_equal(suppress_reason_parse("Hard-Bounce", &r), -1);
	assert_int_equal(suppress_mode_parse("drop", &m), 0);
	assert_int_equal(m, SUPPRESS_MODE_DROP);
	assert_int_equal(suppress_mode_parse("bounce", &m), -1);
	assert_true(suppress_addr_norm("Bob@Example.COM", 15, out));
	assert_string_equal(out, "bob@example.com");
	assert_false(suppress_addr_norm("a\r\n@b", 6, out));
	assert_false(suppress_addr_norm("", 0, out));
	memset(big, 'a', sizeof(big));
	assert_false(suppress_addr_norm(big, sizeof(big), out));
}

/* Found whatever the case, only for its tenant, only until it expires. */
static void
test_get(void **state)
{
	struct fx *fx = *state;
	struct suppression s = sup("Bob@Example.com", SUPPRESS_HARD_BOUNCE, NOW - DAY, 0,
	    "550 5.1.1 user unknown (invalid-recipient) queue 1A2B via dsn");
	struct suppression t = sup("tmp@example.com", SUPPRESS_MANUAL, NOW, NOW + DAY, "");
	struct suppression out;
	const char *buf = "BOB@EXAMPLE.COM>trailing";

	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &t), 0);
	assert_int_equal(get(fx, fx->acme, "bob@example.com", NOW, &out), 1);
	assert_string_equal(out.addr, "bob@example.com");
	assert_int_equal(out.reason, SUPPRESS_HARD_BOUNCE);
	assert_int_equal(out.time, NOW - DAY);
	assert_int_equal(out.expires, 0);
	assert_string_equal(out.cause, s.cause);
	/* an address that is not NUL-terminated: its length counts */
	assert_int_equal(state_suppression_get(fx->st, fx->acme, buf, 15, NOW, &out), 1);
	assert_int_equal(state_suppression_get(fx->st, fx->acme, buf, 16, NOW, &out), 0);
	assert_int_equal(get(fx, fx->other, "bob@example.com", NOW, &out), 0);
	assert_int_equal(get(fx, fx->acme, "alice@example.com", NOW, &out), 0);
	assert_int_equal(get(fx, fx->acme, "tmp@example.com", NOW + DAY - 1, NULL), 1);
	assert_int_equal(get(fx, fx->acme, "tmp@example.com", NOW + DAY, NULL), 0);
	/* a tenant that does not exist cannot have entries */
	assert_int_equal(state_suppression_add(fx->st, 999, &s), -1);
	s.addr[0] = '\0';
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), -1);
}

/* expect the entry of addr to have reason r and cause c */
static void
expect(struct fx *fx, const char *addr, time_t now, enum suppress_reason r, const char *c)
{
	struct suppression out;

	assert_int_equal(get(fx, fx->acme, addr, now, &out), 1);
	assert_int_equal(out.reason, r);
	assert_string_equal(out.cause, c);
}

/* Automatic additions replace by rank (complaint = unsubscribe > manual >
 * hard-bounce > soft-bounce), never with an expired entry, never shorter;
 * an expired entry gives way to anything; the operator's set to anything. */
static void
test_replace_rules(void **state)
{
	struct fx *fx = *state;
	time_t now = time(NULL);
	struct suppression s = sup("a@x.test", SUPPRESS_COMPLAINT, now, 0, "fbl");

	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	/* an old export's expired manual row does not undo a live complaint */
	s = sup("a@x.test", SUPPRESS_MANUAL, now - 400 * DAY, now - 300 * DAY, "old export");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "a@x.test", now, SUPPRESS_COMPLAINT, "fbl");
	/* nor does any weaker reason, live or not */
	s = sup("a@x.test", SUPPRESS_HARD_BOUNCE, now, 0, "550");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	s = sup("a@x.test", SUPPRESS_SOFT_BOUNCE, now, now + DAY, "452 full");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "a@x.test", now, SUPPRESS_COMPLAINT, "fbl");
	/* a hard bounce never overwrites an unsubscribe (compliance evidence) */
	s = sup("u@x.test", SUPPRESS_UNSUBSCRIBE, now, 0, "list-unsubscribe");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	s = sup("u@x.test", SUPPRESS_HARD_BOUNCE, now, 0, "550 5.1.1");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "u@x.test", now, SUPPRESS_UNSUBSCRIBE, "list-unsubscribe");
	/* equal rank replaces: a complaint over an unsubscribe */
	s = sup("u@x.test", SUPPRESS_COMPLAINT, now, 0, "arf");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "u@x.test", now, SUPPRESS_COMPLAINT, "arf");
	/* up the ranks: soft, hard, manual */
	s = sup("b@x.test", SUPPRESS_SOFT_BOUNCE, now, now + DAY, "452");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	/* a later soft bounce may lengthen a soft entry, never shorten it */
	s = sup("b@x.test", SUPPRESS_SOFT_BOUNCE, now, now + 2 * DAY, "452 longer");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "b@x.test", now, SUPPRESS_SOFT_BOUNCE, "452 longer");
	s = sup("b@x.test", SUPPRESS_SOFT_BOUNCE, now, now + DAY, "452 shorter");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "b@x.test", now, SUPPRESS_SOFT_BOUNCE, "452 longer");
	s = sup("B@X.TEST", SUPPRESS_HARD_BOUNCE, now, 0, "550");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "b@x.test", now, SUPPRESS_HARD_BOUNCE, "550");
	/* a never-ending entry is not replaced by one that ends, even stronger */
	s = sup("b@x.test", SUPPRESS_MANUAL, now, now + DAY, "for a day");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "b@x.test", now, SUPPRESS_HARD_BOUNCE, "550");
	s = sup("b@x.test", SUPPRESS_MANUAL, now, 0, "by hand");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "b@x.test", now, SUPPRESS_MANUAL, "by hand");
	/* an expired entry, however strong, gives way to anything */
	s = sup("e@x.test", SUPPRESS_COMPLAINT, now - 2 * DAY, now - 1, "old");
	assert_int_equal(state_suppression_set(fx->st, fx->acme, &s), 0);
	s = sup("e@x.test", SUPPRESS_SOFT_BOUNCE, now, now + DAY, "452 full");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	expect(fx, "e@x.test", now, SUPPRESS_SOFT_BOUNCE, "452 full");
	/* the operator's explicit set replaces anything, a complaint too */
	s = sup("a@x.test", SUPPRESS_MANUAL, now, now + DAY, "corrected");
	assert_int_equal(state_suppression_set(fx->st, fx->acme, &s), 0);
	expect(fx, "a@x.test", now, SUPPRESS_MANUAL, "corrected");
	assert_int_equal(state_suppression_count(fx->st, fx->acme, NULL), 4);
	assert_true(suppress_reason_rank(SUPPRESS_COMPLAINT) == suppress_reason_rank(SUPPRESS_UNSUBSCRIBE));
	assert_true(suppress_reason_rank(SUPPRESS_UNSUBSCRIBE) > suppress_reason_rank(SUPPRESS_MANUAL));
	assert_true(suppress_reason_rank(SUPPRESS_MANUAL) > suppress_reason_rank(SUPPRESS_HARD_BOUNCE));
	assert_true(suppress_reason_rank(SUPPRESS_HARD_BOUNCE) > suppress_reason_rank(SUPPRESS_SOFT_BOUNCE));
}

/* One trailing dot of the domain is dropped at every entry point. */
static void
test_trailing_dot(void **state)
{
	struct fx *fx = *state;
	struct suppression s = sup("Dot@Example.TEST.", SUPPRESS_HARD_BOUNCE, NOW, 0, "550");
	char out[SUPPRESS_ADDR_MAX + 1];
	struct suppress_import *imp;

	assert_true(suppress_addr_norm("Bob@Example.COM.", 16, out));
	assert_string_equal(out, "bob@example.com");
	/* only one, only of a domain */
	assert_true(suppress_addr_norm("a@b..", 5, out));
	assert_string_equal(out, "a@b.");
	assert_true(suppress_addr_norm("a.", 2, out));
	assert_string_equal(out, "a.");
	assert_true(suppress_addr_norm("a@.", 3, out));
	assert_string_equal(out, "a@.");
	/* spaces pass (a quoted local part), as the header says */
	assert_true(suppress_addr_norm("\"a b\"@x", 7, out));
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	assert_int_equal(get(fx, fx->acme, "dot@example.test", NOW, NULL), 1);
	assert_int_equal(get(fx, fx->acme, "DOT@example.test.", NOW, NULL), 1);
	/* the length given counts, not a NUL */
	assert_int_equal(state_suppression_get(fx->st, fx->acme, "dot@example.test.>", 17, NOW, NULL), 1);
	assert_int_equal(state_suppression_count(fx->st, fx->acme, NULL), 1);
	imp = state_suppression_import_begin(fx->st, fx->acme);
	assert_non_null(imp);
	s = sup("imp@example.test.", SUPPRESS_MANUAL, NOW, 0, "");
	assert_int_equal(state_suppression_import_add(imp, &s), 0);
	assert_int_equal(state_suppression_import_end(imp, true), 0);
	assert_int_equal(get(fx, fx->acme, "imp@example.test", NOW, NULL), 1);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "soft@example.test.", "452", NOW, 1,
	    DAY, 0), 1);
	assert_int_equal(get(fx, fx->acme, "soft@example.test", NOW, NULL), 1);
	assert_int_equal(state_suppression_del(fx->st, fx->acme, "Dot@example.test."), 1);
	assert_int_equal(state_suppression_count(fx->st, fx->acme, NULL), 2);
}

/* threshold 3 within 7 days suppresses for 30 days; a failure past the
 * window starts the count again. */
static void
test_soft_threshold(void **state)
{
	struct fx *fx = *state;
	struct suppression out;
	const int thr = 3, win = 7 * DAY, exp = 30 * DAY;

	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "s@x.test", "452 a", NOW, thr, win, exp), 0);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "S@x.test", "452 b", NOW + DAY, thr, win, exp), 0);
	assert_int_equal(get(fx, fx->acme, "s@x.test", NOW + DAY, NULL), 0);
	/* the third comes 7 days after the first: outside, a new count (1) */
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "s@x.test", "452 c", NOW + win, thr, win, exp), 0);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "s@x.test", "452 d", NOW + win + 1, thr, win, exp), 0);
	assert_int_equal(get(fx, fx->acme, "s@x.test", NOW + win + 1, NULL), 0);
	/* another tenant's failures do not count for acme */
	assert_int_equal(state_suppression_soft(fx->st, fx->other, "s@x.test", "452", NOW + win + 2, thr, win, exp), 0);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "s@x.test", "452 e", NOW + win + 2, thr, win, exp), 1);
	assert_int_equal(get(fx, fx->acme, "s@x.test", NOW + win + 2, &out), 1);
	assert_int_equal(out.reason, SUPPRESS_SOFT_BOUNCE);
	assert_int_equal(out.expires, NOW + win + 2 + exp);
	assert_string_equal(out.cause, "452 e");
	assert_int_equal(get(fx, fx->other, "s@x.test", NOW + win + 2, NULL), 0);
	/* suppressed: further failures are not counted */
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "s@x.test", "452 f", NOW + win + 3, thr, win, exp), 0);
	/* expiry honoured; then counting starts from zero */
	assert_int_equal(get(fx, fx->acme, "s@x.test", NOW + win + 2 + exp, NULL), 0);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "s@x.test", "452 g", NOW + win + 2 + exp, thr, win, exp), 0);
	/* threshold 1: the first failure suppresses; expiry 0: for ever */
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "one@x.test", "452", NOW, 1, win, 0), 1);
	assert_int_equal(get(fx, fx->acme, "one@x.test", NOW + 3650L * DAY, &out), 1);
	assert_int_equal(out.expires, 0);
	/* a soft bounce of an address with a hard entry changes nothing */
	out = sup("h@x.test", SUPPRESS_HARD_BOUNCE, NOW, 0, "550");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &out), 0);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "h@x.test", "452", NOW, 1, win, exp), 0);
	assert_int_equal(get(fx, fx->acme, "h@x.test", NOW, &out), 1);
	assert_int_equal(out.reason, SUPPRESS_HARD_BOUNCE);
}

static int
collect(void *arg, const struct suppression *s)
{
	char *buf = arg;

	strcat(buf, s->addr);
	strcat(buf, " ");
	return 0;
}

static void
test_del_list_count(void **state)
{
	struct fx *fx = *state;
	const char *addrs[] = { "c@x.test", "a@x.test", "b@x.test", "d@x.test" };
	enum suppress_reason reasons[] = { SUPPRESS_COMPLAINT, SUPPRESS_MANUAL, SUPPRESS_COMPLAINT,
	    SUPPRESS_UNSUBSCRIBE };
	enum suppress_reason complaint = SUPPRESS_COMPLAINT;
	struct suppression s;
	char buf[256] = "";

	for (size_t i = 0; i < 4; i++) {
		s = sup(addrs[i], reasons[i], NOW, 0, "");
		assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	}
	assert_int_equal(state_suppression_each(fx->st, fx->acme, NULL, 0, collect, buf), 4);
	assert_string_equal(buf, "a@x.test b@x.test c@x.test d@x.test ");
	buf[0] = '\0';
	assert_int_equal(state_suppression_each(fx->st, fx->acme, &complaint, 0, collect, buf), 2);
	assert_string_equal(buf, "b@x.test c@x.test ");
	buf[0] = '\0';
	assert_int_equal(state_suppression_each(fx->st, fx->acme, NULL, 3, collect, buf), 3);
	assert_int_equal(state_suppression_count(fx->st, fx->acme, &complaint), 2);
	assert_int_equal(state_suppression_count(fx->st, fx->other, NULL), 0);
	assert_int_equal(state_suppression_del(fx->st, fx->acme, "B@X.test"), 1);
	assert_int_equal(state_suppression_del(fx->st, fx->acme, "b@x.test"), 0);
	assert_int_equal(state_suppression_count(fx->st, fx->acme, NULL), 3);
}

/* 25,000 rows cross two batch commits; a refused row does not harm the
 * batch; what is imported is found. */
static void
test_import(void **state)
{
	struct fx *fx = *state;
	struct suppress_import *imp = state_suppression_import_begin(fx->st, fx->acme);
	struct suppression s;

	assert_non_null(imp);
	for (int i = 0; i < 25000; i++) {
		char a[64];
		snprintf(a, sizeof(a), "User%d@Example.test", i);
		s = sup(a, SUPPRESS_UNSUBSCRIBE, NOW, 0, "list-unsubscribe");
		assert_int_equal(state_suppression_import_add(imp, &s), 0);
		if (i == 12345) {
			s = sup("", SUPPRESS_MANUAL, NOW, 0, "");
			assert_int_equal(state_suppression_import_add(imp, &s), -1);
			assert_false(state_suppression_import_failed(imp));
		}
	}
	assert_int_equal(state_suppression_import_end(imp, true), 0);
	assert_int_equal(state_suppression_count(fx->st, fx->acme, NULL), 25000);
	assert_int_equal(get(fx, fx->acme, "user24999@example.test", NOW, &s), 1);
	assert_int_equal(s.reason, SUPPRESS_UNSUBSCRIBE);
	/* an import ended without commit keeps its committed batches only */
	imp = state_suppression_import_begin(fx->st, fx->other);
	assert_non_null(imp);
	for (int i = 0; i < SUPPRESS_IMPORT_BATCH + 5; i++) {
		char a[64];
		snprintf(a, sizeof(a), "u%d@o.test", i);
		s = sup(a, SUPPRESS_MANUAL, NOW, 0, "");
		assert_int_equal(state_suppression_import_add(imp, &s), 0);
	}
	assert_int_equal(state_suppression_import_end(imp, false), 0);
	assert_int_equal(state_suppression_count(fx->st, fx->other, NULL), SUPPRESS_IMPORT_BATCH);
}

/* The two DELETEs of a removal are one transaction: when the second
 * fails, the first is undone (the soft-failure count stays). */
static void
test_del_atomic(void **state)
{
	struct fx *fx = *state;
	struct suppression s = sup("d@x.test", SUPPRESS_MANUAL, NOW, 0, "");
	struct db *db = state_db(fx->st);
	struct db_stmt *stmt;

	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "d@x.test", "452", NOW, 3, DAY, DAY), 0);
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	/* a trigger that refuses the second DELETE, in each engine's words */
	if (db_dialect(db) == DB_PG)
		assert_int_equal(db_exec(db, "CREATE FUNCTION no_del() RETURNS trigger LANGUAGE plpgsql"
		    " AS 'BEGIN RAISE EXCEPTION ''refused''; END';"
		    " CREATE TRIGGER no_del BEFORE DELETE ON suppressions"
		    " FOR EACH ROW EXECUTE FUNCTION no_del();"), DB_OK);
	else
		assert_int_equal(db_exec(db, "CREATE TEMP TRIGGER no_del BEFORE DELETE ON main.suppressions"
		    " BEGIN SELECT RAISE(ABORT, 'refused'); END;"), DB_OK);
	assert_int_equal(state_suppression_del(fx->st, fx->acme, "d@x.test"), -1);
	/* nothing left open (on PostgreSQL an aborted transaction left open
	 * would fail the SELECT below) */
	if (db_dialect(db) == DB_SQLITE)
		assert_int_equal(sqlite3_get_autocommit(db_sqlite_handle(db)), 1);
	assert_int_equal(db_prepare(db, "SELECT count(*) FROM soft_failures;", &stmt), DB_OK);
	assert_int_equal(db_step(stmt), DB_ROW);
	assert_int_equal(db_column_int(stmt, 0), 1);
	db_finalize(stmt);
	assert_int_equal(db_exec(db, db_dialect(db) == DB_PG ? "DROP TRIGGER no_del ON suppressions;"
	    : "DROP TRIGGER no_del;"), DB_OK);
	assert_int_equal(state_suppression_del(fx->st, fx->acme, "d@x.test"), 1);
}

/* Soft failures counted at once from several threads (each its own
 * connection, as several nodes): no count is lost. Without the per-address
 * lock, PostgreSQL's read-then-write interleaves and loses increments. */
#define SOFT_THREADS 4
#define SOFT_EACH 25

struct soft_arg {
	struct fx *fx;
	int        failed;
};

static void *
soft_worker(void *p)
{
	struct soft_arg *a = p;

	for (int i = 0; i < SOFT_EACH; i++)
		if (state_suppression_soft(a->fx->st, a->fx->acme, "many@x.test", "452", NOW, 1000, DAY,
		    DAY) != 0)
			a->failed++;
	return NULL;
}

static void
test_soft_concurrent(void **state)
{
	struct fx *fx = *state;
	struct soft_arg args[SOFT_THREADS];
	pthread_t t[SOFT_THREADS];
	struct db_stmt *stmt;

	for (int i = 0; i < SOFT_THREADS; i++) {
		args[i] = (struct soft_arg){ .fx = fx };
		assert_int_equal(pthread_create(&t[i], NULL, soft_worker, &args[i]), 0);
	}
	for (int i = 0; i < SOFT_THREADS; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(args[i].failed, 0);
	}
	assert_int_equal(db_prepare(state_db(fx->st), "SELECT count FROM soft_failures WHERE addr = 'many@x.test';",
	    &stmt), DB_OK);
	assert_int_equal(db_step(stmt), DB_ROW);
	assert_int_equal(db_column_int(stmt, 0), SOFT_THREADS * SOFT_EACH);
	db_finalize(stmt);
}

/* An import holds no lock between batches: another connection can write
 * while the importer's rows sit in memory; an import row replaces by
 * rank like any automatic addition. */
static void
test_import_no_lock(void **state)
{
	struct fx *fx = *state;
	struct suppression s = sup("c@x.test", SUPPRESS_COMPLAINT, NOW, 0, "fbl");
	struct suppress_import *imp;
	struct db *other;
	char sql[256];

	assert_int_equal(state_suppression_add(fx->st, fx->acme, &s), 0);
	imp = state_suppression_import_begin(fx->st, fx->acme);
	assert_non_null(imp);
	s = sup("c@x.test", SUPPRESS_MANUAL, 1577836800, 1580000000, "2020 export");
	assert_int_equal(state_suppression_import_add(imp, &s), 0);
	s = sup("n@x.test", SUPPRESS_MANUAL, NOW, 0, "");
	assert_int_equal(state_suppression_import_add(imp, &s), 0);
	/* the importer is "reading its input" now */
	assert_non_null(other = state_db_connect(fx->path, fx->err, sizeof(fx->err)));
	/* a lock held by the importer fails the write below instead of waiting */
	assert_int_equal(db_exec(other, db_dialect(other) == DB_PG ? "SET lock_timeout = '1s';"
	    : "PRAGMA busy_timeout = 0;"), DB_OK);
	snprintf(sql, sizeof(sql), "BEGIN IMMEDIATE; INSERT INTO suppressions(tenant_id, addr, reason,"
	    " time) VALUES (%lld, 'w@x.test', 'manual', 0); COMMIT;", fx->other);
	assert_int_equal(db_exec(other, sql), DB_OK);
	db_close(other);
	assert_int_equal(state_suppression_import_end(imp, true), 0);
	expect(fx, "c@x.test", time(NULL), SUPPRESS_COMPLAINT, "fbl");
	assert_int_equal(get(fx, fx->acme, "n@x.test", NOW, NULL), 1);
	assert_int_equal(get(fx, fx->other, "w@x.test", NOW, NULL), 1);
}

/* Count rows of table where tenant_id (or key for counters) is the id. */
static int
rows_of(struct fx *fx, const char *sql, long long id)
{
	struct db_stmt *stmt;
	int n;

	assert_int_equal(db_prepare(state_db(fx->st), sql, &stmt), DB_OK);
	db_bind_int64(stmt, 1, id);
	assert_int_equal(db_step(stmt), DB_ROW);
	n = db_column_int(stmt, 0);
	db_finalize(stmt);
	return n;
}

static const char tenant_rows_sql[] = "SELECT (SELECT count(*) FROM reputation WHERE tenant_id = ?1)"
    " + (SELECT count(*) FROM events WHERE tenant_id = ?1)"
    " + (SELECT count(*) FROM bounces WHERE tenant_id = ?1)"
    " + (SELECT count(*) FROM counters WHERE key = 't:' || ?1)"
    " + (SELECT count(*) FROM suppressions WHERE tenant_id = ?1);";

/* A deleted tenant takes its rows with it, and its id is never given
 * again: not after deleting the newest tenant, not in a database made
 * before the high-water mark (its rows' ids count). */
static void
test_tenant_del_and_ids(void **state)
{
	struct fx *fx = *state;
	struct suppression s = sup("z@x.test", SUPPRESS_COMPLAINT, NOW, 0, "");
	struct state_tenant t;
	char sql[512];
	long long old = fx->other, id2, id3;

	snprintf(sql, sizeof(sql), "INSERT INTO reputation VALUES (%lld, 'complaint', 1, 9);"
	    " INSERT INTO events(time, tenant_id, kind) VALUES (1, %lld, 'complaint');"
	    " INSERT INTO bounces(time, tenant_id, queue_id, rcpt_index) VALUES (1, %lld, 'Q', 0);"
	    " INSERT INTO counters VALUES ('t:%lld', 3600, 1, 50);", old, old, old, old);
	assert_int_equal(db_exec(state_db(fx->st), sql), DB_OK);
	assert_int_equal(state_suppression_add(fx->st, old, &s), 0);
	assert_int_equal(rows_of(fx, tenant_rows_sql, old), 5);
	assert_int_equal(state_tenant_del(fx->st, "other", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(rows_of(fx, tenant_rows_sql, old), 0);
	assert_int_equal(rows_of(fx, tenant_rows_sql, fx->acme), 0);
	/* other was the newest: its id is not given to the next tenant */
	assert_int_equal(state_tenant_add(fx->st, "new", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "new", &t), 1);
	id2 = t.id;
	assert_true(id2 > old);
	/* The rest is about SQLite databases from before the mark (their
	 * sqlite_sequence gone): a PostgreSQL identity never goes back. */
	if (state_fixture_pg())
		return;
	/* a database from before the mark: rows of a tenant deleted then
	 * (no cascade for them) keep its id from being given again */
	snprintf(sql, sizeof(sql), "INSERT INTO events(time, tenant_id, kind) VALUES (1, %lld,"
	    " 'complaint'); DELETE FROM meta WHERE key = 'tenant_id_max'; DELETE FROM tenants"
	    " WHERE name = 'new'; DELETE FROM sqlite_sequence;", id2 + 5);
	assert_int_equal(db_exec(state_db(fx->st), sql), DB_OK);
	assert_int_equal(state_tenant_add(fx->st, "newer", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "newer", &t), 1);
	id3 = t.id;
	assert_true(id3 > id2 + 5);
	assert_int_equal(rows_of(fx, tenant_rows_sql, id3), 0);
	/* a database from before the mark whose newest tenant is deleted
	 * (taking the rows that would have shown its id): still not reused */
	assert_int_equal(db_exec(state_db(fx->st), "DELETE FROM meta WHERE key = 'tenant_id_max';"
	    " DELETE FROM sqlite_sequence;"), DB_OK);
	assert_int_equal(state_tenant_del(fx->st, "newer", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_add(fx->st, "newest", NULL, NULL, fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_by_name(fx->st, "newest", &t), 1);
	assert_true(t.id > id3);
	assert_int_equal(state_tenant_del(fx->st, "nobody", fx->err, sizeof(fx->err)), -1);
	assert_string_equal(fx->err, "no tenant nobody");
}

static void
test_mode_and_errors(void **state)
{
	struct fx *fx = *state;
	enum suppress_mode m = SUPPRESS_MODE_DROP;

	assert_int_equal(state_tenant_suppress_mode(fx->st, fx->acme, &m), 1);
	assert_int_equal(m, SUPPRESS_MODE_REJECT);
	assert_int_equal(state_tenant_suppress_mode_set(fx->st, "acme", SUPPRESS_MODE_DROP, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_suppress_mode(fx->st, fx->acme, &m), 1);
	assert_int_equal(m, SUPPRESS_MODE_DROP);
	assert_int_equal(state_tenant_suppress_mode(fx->st, fx->other, &m), 1);
	assert_int_equal(m, SUPPRESS_MODE_REJECT);
	assert_int_equal(state_tenant_suppress_mode(fx->st, 999, &m), 0);
	assert_int_equal(state_tenant_suppress_mode_set(fx->st, "nobody", SUPPRESS_MODE_DROP, fx->err,
	    sizeof(fx->err)), -1);
	assert_string_equal(fx->err, "no tenant nobody");
	/* the table gone: a lookup is an error (ferryd answers 451), not "not suppressed" */
	assert_int_equal(get(fx, fx->acme, "a@x.test", NOW, NULL), 0);
	assert_int_equal(db_exec(state_db(fx->st), "DROP TABLE suppressions;"),
	    DB_OK);
	assert_int_equal(get(fx, fx->acme, "a@x.test", NOW, NULL), -1);
	assert_int_equal(state_suppression_soft(fx->st, fx->acme, "a@x.test", "", NOW, 3, DAY, DAY), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test_setup_teardown(test_get, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_replace_rules, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_soft_threshold, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_del_list_count, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_trailing_dot, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_del_atomic, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_soft_concurrent, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_no_lock, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_tenant_del_and_ids, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_mode_and_errors, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
