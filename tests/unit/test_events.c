/*
 * test_events.c - the events table (state/events.h) as the API, webhooks,
 * ferryctl and the feedback loop read it: a batch recorded in one
 * transaction with the node that wrote it; the query's filters one by one
 * (tenant, kind and kinds, recipient whatever its case, queue id, every
 * event of a Message-ID, time bounds, an id cursor either way, the limit);
 * state_event_seen; text cut at EVENT_TEXT_MAX; an id never given twice
 * after the newest rows are deleted (webhook cursors). On a fresh SQLite
 * file, or a fresh PostgreSQL schema under FERRY_TEST_PG (state_fixture.h).
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

#include "db/db.h"
#include "state/events.h"
#include "state/state.h"

#include "state_fixture.h"

#define T0 ((time_t)1796000000)

/* The plain state fixture (state_fixture.h). */
static int
fx_setup(void **state)
{
	*state = state_fx_new("events");
	return 0;
}

#define fx_teardown state_fx_teardown

/* What a query returned: ids in order, and the last row's fields. */
struct seen {
	int       n;
	long long id[16];
	char      kind[32], rcpt[64], node[32], detail[EVENT_TEXT_MAX + 8];
	int       code;
	long long size;
};

static void
seen_add(void *arg, const struct state_event *e)
{
	struct seen *s = arg;

	if (s->n < 16)
		s->id[s->n] = e->id;
	s->n++;
	snprintf(s->kind, sizeof(s->kind), "%s", e->kind);
	snprintf(s->rcpt, sizeof(s->rcpt), "%s", e->rcpt);
	snprintf(s->node, sizeof(s->node), "%s", e->node);
	snprintf(s->detail, sizeof(s->detail), "%s", e->detail);
	s->code = e->code;
	s->size = e->size;
}

static struct seen
query(struct state_fx *fx, const struct state_event_query *q)
{
	struct seen s = { 0 };
	int n = state_events_query(fx->st, q, seen_add, &s);

	assert_int_equal(n, s.n);
	return s;
}

/* Six events: tenant 1's message Q1 (received, delivered, bounced), its
 * message Q2 received with the same Message-ID, tenant 2's Q3, and a
 * site's shaping event (tenant 0). Ids 1..6 in that order. */
static void
record_six(struct state_fx *fx)
{
	struct state_event ev[] = {
		{ .time = T0, .tenant_id = 1, .kind = EV_RECEIVED, .queue_id = "Q1", .rcpt_index = 0,
		  .rcpt = "Alice@Example.TEST", .message_id = "<m1@acme.test>", .size = 2048 },
		{ .time = T0 + 10, .tenant_id = 1, .kind = EV_DELIVERED, .queue_id = "Q1", .rcpt_index = 0,
		  .rcpt = "Alice@Example.TEST", .code = 250, .attempt = 1 },
		{ .time = T0 + 20, .tenant_id = 1, .kind = EV_BOUNCED, .queue_id = "Q1", .rcpt_index = 1,
		  .rcpt = "bob@example.test", .category = "bad-mailbox", .hard = true, .code = 550,
		  .status = "5.1.1" },
		{ .time = T0 + 30, .tenant_id = 1, .kind = EV_RECEIVED, .queue_id = "Q2", .rcpt_index = 0,
		  .rcpt = "carol@example.test", .message_id = "<m1@acme.test>" },
		{ .time = T0 + 40, .tenant_id = 2, .kind = EV_RECEIVED, .queue_id = "Q3", .rcpt_index = 0,
		  .rcpt = "alice@example.test", .message_id = "<m3@globex.test>" },
		{ .time = T0 + 50, .tenant_id = 0, .kind = EV_SHAPING, .rcpt_index = -1,
		  .detail = "site gmail: slowed" },
	};

	state_events_node_set("node-a");
	assert_int_equal(state_events_record(fx->st, ev, sizeof(ev) / sizeof(ev[0])), 0);
}

static void
test_record_and_filters(void **state)
{
	struct state_fx *fx = *state;
	const char *const kinds[] = { EV_DELIVERED, EV_BOUNCED, NULL };
	struct seen s;

	record_six(fx);
	/* everything, newest first, with the node that wrote it */
	s = query(fx, &(struct state_event_query){ 0 });
	assert_int_equal(s.n, 6);
	assert_true(s.id[0] > s.id[5]);
	assert_string_equal(s.node, "node-a");
	assert_int_equal(s.size, 2048);   /* the oldest: the first received */
	/* a tenant's */
	s = query(fx, &(struct state_event_query){ .tenant_id = 1 });
	assert_int_equal(s.n, 4);
	s = query(fx, &(struct state_event_query){ .tenant_id = 2 });
	assert_int_equal(s.n, 1);
	/* one kind, several kinds */
	s = query(fx, &(struct state_event_query){ .tenant_id = 1, .kind = EV_RECEIVED });
	assert_int_equal(s.n, 2);
	s = query(fx, &(struct state_event_query){ .kinds = kinds });
	assert_int_equal(s.n, 2);
	assert_string_equal(s.kind, EV_DELIVERED);   /* newest first: delivered last */
	assert_int_equal(s.code, 250);
	/* a recipient whatever its case, over tenants unless one is asked */
	s = query(fx, &(struct state_event_query){ .rcpt = "ALICE@example.test" });
	assert_int_equal(s.n, 3);
	s = query(fx, &(struct state_event_query){ .tenant_id = 1, .rcpt = "alice@EXAMPLE.test" });
	assert_int_equal(s.n, 2);
	assert_string_equal(s.rcpt, "Alice@Example.TEST");
	/* a queue id; every event of the messages received with a Message-ID */
	s = query(fx, &(struct state_event_query){ .queue_id = "Q1" });
	assert_int_equal(s.n, 3);
	s = query(fx, &(struct state_event_query){ .message_id = "<m1@acme.test>" });
	assert_int_equal(s.n, 4);
	s = query(fx, &(struct state_event_query){ .message_id = "<none@acme.test>" });
	assert_int_equal(s.n, 0);
	/* time bounds: since inclusive, until exclusive */
	s = query(fx, &(struct state_event_query){ .since = T0 + 10, .until = T0 + 40 });
	assert_int_equal(s.n, 3);
	/* the limit */
	s = query(fx, &(struct state_event_query){ .limit = 2 });
	assert_int_equal(s.n, 2);
}

static void
test_cursors(void **state)
{
	struct state_fx *fx = *state;
	struct seen all, s;

	record_six(fx);
	all = query(fx, &(struct state_event_query){ .ascending = true });
	assert_int_equal(all.n, 6);
	assert_true(all.id[0] < all.id[1]);
	/* a webhook's cursor: ascending after an id */
	s = query(fx, &(struct state_event_query){ .after_id = all.id[3], .ascending = true });
	assert_int_equal(s.n, 2);
	assert_true(s.id[0] == all.id[4] && s.id[1] == all.id[5]);
	/* an API page: descending before an id */
	s = query(fx, &(struct state_event_query){ .before_id = all.id[2], .limit = 5 });
	assert_int_equal(s.n, 2);
	assert_true(s.id[0] == all.id[1] && s.id[1] == all.id[0]);
	/* ferryctl events: the last ones of a tenant and a kind */
	s = (struct seen){ 0 };
	assert_int_equal(state_events_list(fx->st, 1, EV_RECEIVED, 1, seen_add, &s), 1);
	assert_true(s.id[0] == all.id[3]);
	/* no limit: all of them */
	s = (struct seen){ 0 };
	assert_int_equal(state_events_list(fx->st, 0, NULL, 0, seen_add, &s), 6);
}

static void
test_seen_and_bounds(void **state)
{
	struct state_fx *fx = *state;
	char long_text[EVENT_TEXT_MAX + 51];
	struct state_event e = { .time = T0, .tenant_id = 1, .kind = EV_DEFERRED, .queue_id = "Q9",
	    .rcpt_index = 2, .rcpt = "d@example.test", .detail = long_text };
	struct seen s;

	record_six(fx);
	assert_int_equal(state_event_seen(fx->st, 1, EV_BOUNCED, "Q1", 1, "bob@example.test"), 1);
	assert_int_equal(state_event_seen(fx->st, 1, EV_BOUNCED, "Q1", 0, "bob@example.test"), 0);
	assert_int_equal(state_event_seen(fx->st, 2, EV_BOUNCED, "Q1", 1, "bob@example.test"), 0);
	assert_int_equal(state_event_seen(fx->st, 1, EV_DEFERRED, "Q1", 1, "bob@example.test"), 0);
	/* a detail longer than the bound is cut, not refused */
	memset(long_text, 'x', sizeof(long_text) - 1);
	long_text[sizeof(long_text) - 1] = '\0';
	assert_int_equal(state_events_record(fx->st, &e, 1), 0);
	s = query(fx, &(struct state_event_query){ .queue_id = "Q9" });
	assert_int_equal(s.n, 1);
	assert_int_equal(strlen(s.detail), EVENT_TEXT_MAX);
}

/* A webhook's cursor is "id > N": an id given again after the newest rows
 * were deleted (a tenant removed, the prune) would be skipped. */
static void
test_id_never_reused(void **state)
{
	struct state_fx *fx = *state;
	struct state_event e = { .time = T0, .tenant_id = 3, .kind = EV_HELD, .rcpt_index = -1 };
	struct seen before, after;

	record_six(fx);
	before = query(fx, &(struct state_event_query){ .limit = 1 });
	assert_int_equal(db_exec(state_db(fx->st), "DELETE FROM events WHERE time >= 1796000030;"), DB_OK);
	assert_int_equal(state_events_record(fx->st, &e, 1), 0);
	after = query(fx, &(struct state_event_query){ .limit = 1 });
	assert_string_equal(after.kind, EV_HELD);
	assert_true(after.id[0] > before.id[0]);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_record_and_filters, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_cursors, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_seen_and_bounds, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_id_never_reused, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
