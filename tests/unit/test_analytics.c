/*
 * test_analytics.c - the statistics observer and its queries
 * (analytics/): events counted per tenant x domain (lowercased) x source
 * address x hour, bounces per category ("" unclassified) with the latest
 * reply as sample, kinds not counted ignored, a second flush adding to the
 * same rows (upsert), tenant scoping, the groupings and windows, the
 * bounce insights' rates, the memory cap (keys beyond it dropped and
 * counted), the 90-day prune, and the time words of --since. On a fresh
 * SQLite file, or a fresh PostgreSQL schema under FERRY_TEST_PG
 * (state_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "analytics/analytics.h"
#include "analytics/analytics_json.h"
#include "analytics/analytics_query.h"
#include "state/state.h"
#include "state/state_internal.h"

#include "state_fixture.h"

#define H0 ((time_t)1796000400 - (time_t)1796000400 % 3600)   /* an hour of 2026-11-29 */

struct fx {
	char              dir[64], path[128], err[512];
	struct state     *st;
	struct analytics *a;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), "analytics");
	fx->st = state_fixture_open(fx->dir, fx->path, sizeof(fx->path), fx->err, sizeof(fx->err));
	assert_non_null(fx->a = analytics_open(fx->path, false, fx->err, sizeof(fx->err)));
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	analytics_close(fx->a);
	state_close(fx->st);
	state_fixture_rmdir(fx->dir);
	free(fx);
	return 0;
}

static void
ev(struct analytics *a, long long tenant, time_t t, const char *kind, const char *rcpt, const char *ip,
    const char *cat, const char *detail)
{
	struct state_event e = { .time = t, .tenant_id = tenant, .kind = kind, .rcpt = rcpt, .source_ip = ip,
	    .category = cat, .status = cat != NULL && cat[0] ? "5.1.1" : "", .detail = detail, .queue_id = "",
	    .rcpt_index = -1 };

	analytics_event_note(a, &e);
}

struct rows {
	struct analytics_row r[16];
	size_t               n;
};

static void
rows_add(void *arg, const struct analytics_row *r)
{
	struct rows *x = arg;

	if (x->n < 16)
		x->r[x->n++] = *r;
}

static const struct analytics_row *
rows_find(const struct rows *x, const char *key)
{
	for (size_t i = 0; i < x->n; i++)
		if (strcmp(x->r[i].key, key) == 0)
			return &x->r[i];
	return NULL;
}

static struct rows
run(struct state *st, long long tenant, enum analytics_by by, time_t since, time_t until)
{
	struct analytics_query q = { .tenant_id = tenant, .by = by, .since = since, .until = until };
	struct rows x = { .n = 0 };

	assert_true(analytics_query_run(st, &q, rows_add, &x) >= 0);
	return x;
}

/* A tenant's day: counted by domain, address and category. */
static void
fill(struct analytics *a)
{
	ev(a, 1, H0 + 10, EV_RECEIVED, "u1@Gmail.COM", "127.0.0.1", "", "");
	ev(a, 1, H0 + 11, EV_RECEIVED, "u2@gmail.com", "127.0.0.1", "", "");
	ev(a, 1, H0 + 12, EV_RECEIVED, "v@yahoo.example", "127.0.0.1", "", "");
	ev(a, 1, H0 + 20, EV_DELIVERED, "u1@gmail.com", "127.0.0.2", "", "250 ok");
	ev(a, 1, H0 + 21, EV_BOUNCED, "u2@GMAIL.com", "127.0.0.2", "bad-mailbox", "550 5.1.1 first");
	ev(a, 1, H0 + 22, EV_BOUNCED, "v@yahoo.example", "127.0.0.3", "", "550 nope");
	ev(a, 1, H0 + 23, EV_DEFERRED, "v@yahoo.example", "127.0.0.3", "", "451 later");
	ev(a, 1, H0 + 24, EV_EXPIRED, "v@yahoo.example", "", "", "");
	ev(a, 1, H0 + 25, EV_COMPLAINED, "u1@gmail.com", "", "", "abuse");
	ev(a, 1, H0 + 26, EV_SUPPRESSED, "w@gmail.com", "", "", "");
	ev(a, 1, H0 + 27, EV_HELD, "w@gmail.com", "", "", "");           /* not counted */
	ev(a, 2, H0 + 30, EV_DELIVERED, "z@gmail.com", "127.0.0.2", "", "");  /* another tenant */
	ev(a, 1, H0 + 3600 + 5, EV_BOUNCED, "u3@gmail.com", "127.0.0.2", "bad-mailbox", "550 5.1.1 latest");
}

static void
test_counts(void **state)
{
	struct fx *fx = *state;
	const struct analytics_row *r;
	struct rows x;

	fill(fx->a);
	assert_int_equal(analytics_flush(fx->a), 0);
	x = run(fx->st, 1, ANALYTICS_BY_DOMAIN, H0, H0 + 7200);
	assert_int_equal(x.n, 2);
	assert_non_null(r = rows_find(&x, "gmail.com"));
	assert_int_equal(r->count[AN_SENT], 2);
	assert_int_equal(r->count[AN_DELIVERED], 1);
	assert_int_equal(r->count[AN_BOUNCED], 2);
	assert_int_equal(r->count[AN_COMPLAINED], 1);
	assert_int_equal(r->count[AN_SUPPRESSED], 1);
	assert_non_null(r = rows_find(&x, "yahoo.example"));
	assert_int_equal(r->count[AN_SENT], 1);
	assert_int_equal(r->count[AN_BOUNCED], 1);
	assert_int_equal(r->count[AN_DEFERRED], 1);
	assert_int_equal(r->count[AN_EXPIRED], 1);
	/* by source address: received mail counts under "" (chosen at delivery) */
	x = run(fx->st, 1, ANALYTICS_BY_IP, H0, H0 + 7200);
	assert_non_null(r = rows_find(&x, ""));
	assert_int_equal(r->count[AN_SENT], 3);
	assert_non_null(r = rows_find(&x, "127.0.0.2"));
	assert_int_equal(r->count[AN_DELIVERED], 1);
	assert_int_equal(r->count[AN_BOUNCED], 2);
	assert_null(rows_find(&x, "127.0.0.1"));
	/* by hour, in order */
	x = run(fx->st, 1, ANALYTICS_BY_HOUR, H0, H0 + 7200);
	assert_int_equal(x.n, 2);
	assert_int_equal(x.r[0].hour, H0);
	assert_int_equal(x.r[0].count[AN_BOUNCED], 2);
	assert_int_equal(x.r[1].count[AN_BOUNCED], 1);
	/* by category: "" is unclassified; the sample is the latest reply */
	x = run(fx->st, 1, ANALYTICS_BY_CATEGORY, H0, H0 + 7200);
	assert_int_equal(x.n, 2);
	assert_string_equal(x.r[0].key, "bad-mailbox");
	assert_int_equal(x.r[0].count[AN_BOUNCED], 2);
	assert_string_equal(x.r[0].sample_reply, "550 5.1.1 latest");
	assert_non_null(r = rows_find(&x, ANALYTICS_UNCLASSIFIED));
	assert_int_equal(r->count[AN_BOUNCED], 1);
	/* the window: only the first hour */
	x = run(fx->st, 1, ANALYTICS_BY_CATEGORY, H0, H0 + 3600);
	assert_string_equal(rows_find(&x, "bad-mailbox")->sample_reply, "550 5.1.1 first");
	/* tenants: 2 sees its own, 0 sees both */
	x = run(fx->st, 2, ANALYTICS_BY_DOMAIN, H0, H0 + 7200);
	assert_int_equal(x.n, 1);
	assert_int_equal(x.r[0].count[AN_DELIVERED], 1);
	assert_int_equal(x.r[0].count[AN_SENT], 0);
	x = run(fx->st, 0, ANALYTICS_BY_DOMAIN, H0, H0 + 7200);
	assert_int_equal(rows_find(&x, "gmail.com")->count[AN_DELIVERED], 2);
}

/* Flushes add: the same events twice make twice the counts. */
static void
test_upsert(void **state)
{
	struct fx *fx = *state;
	struct rows x;

	fill(fx->a);
	assert_int_equal(analytics_flush(fx->a), 0);
	fill(fx->a);
	assert_int_equal(analytics_flush(fx->a), 0);
	assert_int_equal(analytics_flush(fx->a), 0);      /* nothing pending: nothing added */
	x = run(fx->st, 1, ANALYTICS_BY_DOMAIN, H0, H0 + 7200);
	assert_int_equal(rows_find(&x, "gmail.com")->count[AN_SENT], 4);
	assert_int_equal(rows_find(&x, "gmail.com")->count[AN_BOUNCED], 4);
	x = run(fx->st, 1, ANALYTICS_BY_CATEGORY, H0, H0 + 7200);
	assert_int_equal(rows_find(&x, "bad-mailbox")->count[AN_BOUNCED], 4);
}

struct ins {
	struct analytics_insight v[8];
	size_t                   n;
};

static void
ins_add(void *arg, const struct analytics_insight *in)
{
	struct ins *x = arg;

	if (x->n < 8)
		x->v[x->n++] = *in;
}

static void
test_insights(void **state)
{
	struct fx *fx = *state;
	struct analytics_query q = { .tenant_id = 1, .since = H0, .until = H0 + 7200 };
	struct ins d = { .n = 0 }, c = { .n = 0 };
	json_t *j;

	fill(fx->a);
	assert_int_equal(analytics_flush(fx->a), 0);
	assert_int_equal(analytics_bounce_domains(fx->st, &q, ins_add, &d), 2);
	assert_string_equal(d.v[0].key, "gmail.com");       /* the most bounces first */
	assert_int_equal(d.v[0].bounced, 2);
	assert_int_equal(d.v[0].outcomes, 3);               /* 1 delivered + 2 bounced */
	assert_true(d.v[0].rate > 0.66 && d.v[0].rate < 0.67);
	assert_string_equal(d.v[0].sample_reply, "550 5.1.1 latest");
	assert_string_equal(d.v[0].category, "bad-mailbox");
	assert_int_equal(analytics_bounce_categories(fx->st, &q, ins_add, &c), 2);
	assert_string_equal(c.v[0].key, "bad-mailbox");
	assert_true(c.v[0].share > 0.66 && c.v[0].share < 0.67);
	j = analytics_bounces_json(fx->st, &q);
	assert_non_null(j);
	assert_int_equal(json_array_size(json_object_get(j, "domains")), 2);
	json_decref(j);
	q.by = ANALYTICS_BY_DOMAIN;
	j = analytics_stats_json(fx->st, &q);
	assert_non_null(j);
	assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "totals"), "sent")), 3);
	json_decref(j);
}

/* Memory is bounded: keys beyond the cap are dropped and counted, the
 * rest written; after a flush there is room again. */
static void
test_cap(void **state)
{
	struct fx *fx = *state;
	char rcpt[64];
	struct rows x;

	for (int i = 0; i < ANALYTICS_KEYS_MAX + 10; i++) {
		snprintf(rcpt, sizeof(rcpt), "a@d%d.example", i);
		ev(fx->a, 3, H0, EV_DELIVERED, rcpt, "", "", "");
	}
	assert_int_equal(analytics_dropped(fx->a), 10);
	assert_int_equal(analytics_flush(fx->a), 0);
	ev(fx->a, 3, H0, EV_DELIVERED, "a@late.example", "", "", "");
	assert_int_equal(analytics_dropped(fx->a), 10);
	assert_int_equal(analytics_flush(fx->a), 0);
	x = run(fx->st, 3, ANALYTICS_BY_HOUR, H0, H0 + 3600);
	assert_int_equal(x.r[0].count[AN_DELIVERED], ANALYTICS_KEYS_MAX + 1);
}

static void
test_prune(void **state)
{
	struct fx *fx = *state;
	struct rows x;

	fill(fx->a);
	assert_int_equal(analytics_flush(fx->a), 0);
	assert_int_equal(analytics_prune(state_db(fx->st), H0 + 3600 + ANALYTICS_KEEP), 0);
	x = run(fx->st, 1, ANALYTICS_BY_HOUR, 0, H0 + 7200);
	assert_int_equal(x.n, 1);                             /* the first hour is gone */
	assert_int_equal(x.r[0].hour, H0 + 3600);
	x = run(fx->st, 1, ANALYTICS_BY_CATEGORY, 0, H0 + 7200);
	assert_int_equal(x.n, 1);
}

static void
test_time_parse(void **state)
{
	time_t t;
	enum analytics_by by;

	(void)state;
	assert_int_equal(analytics_time_parse("24h", 100000, &t), 0);
	assert_int_equal(t, 100000 - 86400);
	assert_int_equal(analytics_time_parse("7d", 1000000, &t), 0);
	assert_int_equal(t, 1000000 - 7 * 86400);
	assert_int_equal(analytics_time_parse("2026-12-01", 0, &t), 0);
	assert_int_equal(t, 1796083200);
	assert_int_equal(analytics_time_parse("2026-12-01T10:30:00Z", 0, &t), 0);
	assert_int_equal(t, 1796083200 + 10 * 3600 + 1800);
	assert_int_equal(analytics_time_parse("1796083200", 0, &t), 0);
	assert_int_equal(t, 1796083200);
	assert_int_equal(analytics_time_parse("24x", 0, &t), -1);
	assert_int_equal(analytics_time_parse("yesterday", 0, &t), -1);
	assert_int_equal(analytics_time_parse("2026-13-01", 0, &t), -1);
	assert_int_equal(analytics_time_parse("", 0, &t), -1);
	assert_int_equal(analytics_by_parse("ip", &by), 0);
	assert_int_equal(by, ANALYTICS_BY_IP);
	assert_int_equal(analytics_by_parse("site", &by), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_counts, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_upsert, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_insights, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cap, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_prune, fx_setup, fx_teardown),
		cmocka_unit_test(test_time_parse),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
