/*
 * test_state_cache.c - the state cache (src/state/state_cache.c and
 * state_cache_value.c): values round-trip and every malformed spelling is
 * refused; on a real redis-server shared by two "nodes" (two states on one
 * database, each with its cache), a lookup is a miss then a hit, a change
 * on one node is the other's answer at its next lookup, a value stored
 * from a read older than a change is never read, and with Redis frozen
 * (SIGSTOP) lookups answer from the database, a change made meanwhile is
 * seen at once by its own node and by the other once Redis is back; Redis
 * restarted from a snapshot older than a change: once the nodes noticed,
 * the snapshot's entry is never an answer.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>
#include <sodium.h>

#include "state/counters_redis.h"
#include "state/state_admin.h"
#include "state/state_cache.h"
#include "state/state_internal.h"
#include "state/suppress.h"

#include "redis_fx.h"

/* ---- values --------------------------------------------------------------- */

static void
test_ident_values(void **unused)
{
	struct state_ident in = { .suspended = true, .tenant_limits = { 1, 2, 3, 4 },
	    .subject_limits = { 5, 0, 7, 100000000000LL } }, out;
	char v[STATE_CACHE_VALUE_MAX];
	size_t n;

	(void)unused;
	snprintf(in.tenant, sizeof(in.tenant), "acme");
	snprintf(in.suspend_reason, sizeof(in.suspend_reason), "too many complaints: 2 %%, see 5:x");
	snprintf(in.pool, sizeof(in.pool), "warm");
	n = state_cache_ident_format(v, sizeof(v), &in, true);
	assert_true(n > 0 && n == strlen(v));
	memset(&out, 0, sizeof(out));
	out.kind = STATE_IDENT_KEY;
	out.subject_id = 9;
	assert_int_equal(state_cache_ident_parse(v, n, &out), 1);
	assert_true(out.suspended);
	assert_string_equal(out.tenant, "acme");
	assert_string_equal(out.suspend_reason, in.suspend_reason);
	assert_string_equal(out.pool, "warm");
	assert_memory_equal(&out.tenant_limits, &in.tenant_limits, sizeof(in.tenant_limits));
	assert_memory_equal(&out.subject_limits, &in.subject_limits, sizeof(in.subject_limits));
	assert_int_equal(out.kind, STATE_IDENT_KEY);          /* untouched */
	assert_int_equal(out.subject_id, 9);

	n = state_cache_ident_format(v, sizeof(v), &in, false);
	assert_int_equal(state_cache_ident_parse(v, n, &out), 0);
	assert_int_equal(state_cache_ident_format(v, 10, &in, true), 0);   /* does not fit */

	/* every spelling but ours is refused, and leaves id as it was */
	static const char *const bad[] = {
		"", "i1", "i1 ", "i1 +", "i0 -", "i2 -", "s1 -", "i1 -x", "i1 - ",
		"i1 + 1 1 2 3 4 5 6 7 4:acme 0: 4:warm",            /* a limit short */
		"i1 + 2 1 2 3 4 5 6 7 8 4:acme 0: 4:warm",          /* suspended 2 */
		"i1 + 1 1 2 3 4 5 6 7 8 4:acme 0: 4:warm ",         /* trailing space */
		"i1 + 1 1 2 3 4 5 6 7 8 4:acme 0: 5:warm",          /* length past the end */
		"i1 + 1 1 2 3 4 5 6 7 8 4:acme 0: 3:warm",          /* bytes left over */
		"i1 + 1 -1 2 3 4 5 6 7 8 4:acme 0: 4:warm",         /* negative limit */
		"i1 + 1 1 2 3 4 5 6 7 99999999999999999999 4:acme 0: 4:warm",  /* too many digits */
		"i1 + 1 1 2 3 4 5 6 7 8 65:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa 0: 0:",
		"i1 + 1 1 2 3 4 5 6 7 8 x:acme 0: 4:warm",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct state_ident keep = out;
		if (state_cache_ident_parse(bad[i], strlen(bad[i]), &out) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
		assert_memory_equal(&keep, &out, sizeof(out));
	}
	/* a NUL inside a text is refused */
	{
		static const char nul[] = "i1 + 0 0 0 0 0 0 0 0 0 2:a\0 0: 0:";
		assert_int_equal(state_cache_ident_parse(nul, sizeof(nul) - 1, &out), -1);
	}
}

static void
test_key_values(void **unused)
{
	struct state_ident in = { .tenant_limits = { 0, 100, 0, 5 } }, out;
	unsigned char h[32], got[32];
	char v[STATE_CACHE_VALUE_MAX];
	long long kid = 0;
	size_t n;

	(void)unused;
	for (int i = 0; i < 32; i++)
		h[i] = (unsigned char)(i * 37);
	snprintf(in.tenant, sizeof(in.tenant), "acme");
	in.tenant_id = 7;
	n = state_cache_key_format(v, sizeof(v), 42, h, &in, true);
	assert_true(n > 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(state_cache_key_parse(v, n, &kid, got, &out), 1);
	assert_int_equal(kid, 42);
	assert_int_equal(out.tenant_id, 7);
	assert_memory_equal(got, h, 32);
	assert_string_equal(out.tenant, "acme");
	assert_int_equal(out.tenant_limits.per_hour, 100);
	n = state_cache_key_format(v, sizeof(v), 42, h, &in, false);
	assert_int_equal(state_cache_key_parse(v, n, &kid, got, &out), 0);
	/* an upper-case or short hash, a key id 0, a bad tail */
	static const char *const bad[] = {
		"k1 + 7 42 00112233445566778899AABBCCDDEEFF00112233445566778899aabbccddeeff i1 + 0 0 0 0 0 0 0 0 0 4:acme 0: 0:",
		"k1 + 7 42 00112233 i1 + 0 0 0 0 0 0 0 0 0 4:acme 0: 0:",
		"k1 + 7 0 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff i1 + 0 0 0 0 0 0 0 0 0 4:acme 0: 0:",
		"k1 + 7 42 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff i1 -",
		"k1 + 7 42 00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (state_cache_key_parse(bad[i], strlen(bad[i]), &kid, got, &out) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
}

static void
test_sup_values(void **unused)
{
	struct suppression in = { .reason = SUPPRESS_COMPLAINT, .time = 1700000000, .expires = 0 }, out;
	char v[STATE_CACHE_VALUE_MAX];
	size_t n;

	(void)unused;
	snprintf(in.cause, sizeof(in.cause), "feedback report 12 : abuse");
	n = state_cache_sup_format(v, sizeof(v), &in);
	assert_true(n > 0);
	assert_int_equal(state_cache_sup_parse(v, n, "u@example.com", &out), 1);
	assert_int_equal(out.reason, SUPPRESS_COMPLAINT);
	assert_int_equal(out.time, 1700000000);
	assert_int_equal(out.expires, 0);
	assert_string_equal(out.cause, in.cause);
	assert_string_equal(out.addr, "u@example.com");
	n = state_cache_sup_format(v, sizeof(v), NULL);
	assert_int_equal(state_cache_sup_parse(v, n, "u@example.com", &out), 0);

	static const char *const bad[] = {
		"s1", "s1 +", "s1 + 5 1 0 0:", "s1 + 0 1 0", "s1 + 0 1 0 1:", "s1 + 0 1 0 0:x",
		"s1 + 0 1 -0x 0:", "i1 -", "s1 + 0 1 0 256:",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (state_cache_sup_parse(bad[i], strlen(bad[i]), "u@example.com", &out) != -1)
			fail_msg("accepted: \"%s\"", bad[i]);
}

/* ---- on a real redis-server ------------------------------------------------ */

struct node {
	struct state       *st;
	struct counters    *redis;
	struct state_cache *cache;
};

struct world {
	struct fx  *fx;
	char        db[160];
	long long   tid;
	struct node a, b;
};

static void
node_open(struct world *w, struct node *n)
{
	char err[512];

	n->st = state_open(w->db, err, sizeof(err));
	assert_non_null(n->st);
	n->redis = counters_redis_open(w->fx->uri, false, err, sizeof(err));
	assert_non_null(n->redis);
	n->cache = state_cache_open(n->st, n->redis);
	assert_non_null(n->cache);
}

static void
node_close(struct node *n)
{
	state_cache_close(n->cache);
	counters_close(n->redis);
	state_close(n->st);
}

static int
world_setup(void **state)
{
	struct world *w = calloc(1, sizeof(*w));
	struct state_tenant t;
	struct state *st;
	char err[512];

	assert_non_null(w);
	fx_setup(state);
	w->fx = *state;
	snprintf(w->db, sizeof(w->db), "%s/state.db", w->fx->dir);
	assert_non_null(st = state_open(w->db, err, sizeof(err)));
	assert_int_equal(state_tenant_add(st, "acme", NULL, NULL, err, sizeof(err)), 0);
	assert_int_equal(state_tenant_by_name(st, "acme", &t), 1);
	w->tid = t.id;
	state_close(st);
	node_open(w, &w->a);
	node_open(w, &w->b);
	*state = w;
	return 0;
}

static int
world_teardown(void **state)
{
	struct world *w = *state;

	if (w->fx->pid > 0)
		kill(w->fx->pid, SIGCONT);     /* a test that failed while Redis was frozen */
	node_close(&w->a);
	node_close(&w->b);
	*state = w->fx;
	fx_teardown(state);
	free(w);
	return 0;
}

static uint64_t
hits(void)
{
	uint64_t n[3];

	state_cache_counts(n);
	return n[0];
}

static int
sup_get(struct node *n, long long tid, const char *addr)
{
	return state_suppression_get(n->st, tid, addr, strlen(addr), time(NULL), NULL);
}

static void
sup_set(struct node *n, long long tid, const char *addr)
{
	struct suppression s = { .reason = SUPPRESS_MANUAL, .time = time(NULL) };

	snprintf(s.addr, sizeof(s.addr), "%s", addr);
	assert_int_equal(state_suppression_set(n->st, tid, &s), 0);
}

static void
test_change_seen_by_other_node(void **state)
{
	struct world *w = *state;
	struct state_ident id = { .kind = STATE_IDENT_KEY, .tenant_id = w->tid }, other;
	char err[256], key[STATE_KEY_TEXT_MAX + 1], wrong[STATE_KEY_TEXT_MAX + 1];
	uint64_t h;

	assert_int_equal(sup_get(&w->a, w->tid, "x@example.com"), 0);   /* miss */
	h = hits();
	assert_int_equal(sup_get(&w->a, w->tid, "X@Example.com"), 0);   /* hit, same address */
	assert_int_equal(hits(), h + 1);
	sup_set(&w->b, w->tid, "x@example.com");
	assert_int_equal(sup_get(&w->a, w->tid, "x@example.com"), 1);   /* at once */
	h = hits();
	assert_int_equal(sup_get(&w->a, w->tid, "x@example.com"), 1);
	assert_int_equal(hits(), h + 1);
	assert_int_equal(state_suppression_del(w->b.st, w->tid, "x@example.com"), 1);
	assert_int_equal(sup_get(&w->a, w->tid, "x@example.com"), 0);

	/* the identity at MAIL: a key's tenant suspended on B, revoked on B */
	assert_int_equal(state_key_create(w->a.st, "acme", "", key, err, sizeof(err)), 0);
	/* AUTH: the prefix's tenant learnt, then the row cached, then a hit */
	assert_int_equal(state_auth(w->a.st, "apikey", key, strlen(key), &other), 1);
	assert_int_equal(state_auth(w->a.st, "apikey", key, strlen(key), &other), 1);
	h = hits();
	assert_int_equal(state_auth(w->a.st, "acme", key, strlen(key), &other), 1);
	assert_int_equal(hits(), h + 1);
	assert_int_equal(other.kind, STATE_IDENT_KEY);
	assert_string_equal(other.tenant, "acme");
	snprintf(wrong, sizeof(wrong), "%s", key);
	wrong[strlen(wrong) - 1] = wrong[strlen(wrong) - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(state_auth(w->a.st, "apikey", wrong, strlen(wrong), &other), 0);   /* the hash decides */
	assert_int_equal(state_auth(w->a.st, "other", key, strlen(key), &other), 0);
	assert_int_equal(state_auth(w->a.st, "apikey", key, strlen(key), &id), 1);
	assert_int_equal(state_ident_refresh(w->a.st, &id), 1);
	h = hits();
	assert_int_equal(state_ident_refresh(w->a.st, &id), 1);
	assert_int_equal(hits(), h + 1);
	assert_false(id.suspended);
	assert_int_equal(state_tenant_suspend(w->b.st, "acme", "abuse", err, sizeof(err)), 0);
	assert_int_equal(state_ident_refresh(w->a.st, &id), 1);
	assert_true(id.suspended);
	assert_string_equal(id.suspend_reason, "abuse");
	assert_int_equal(state_key_revoke(w->b.st, "acme", id.subject, err, sizeof(err)), 0);
	assert_int_equal(state_auth(w->a.st, "apikey", key, strlen(key), &other), 0);
	h = hits();
	assert_int_equal(state_auth(w->a.st, "apikey", key, strlen(key), &other), 0);   /* cached: none */
	assert_int_equal(hits(), h + 1);
	assert_int_equal(state_ident_refresh(w->a.st, &id), 0);
	assert_int_equal(state_ident_refresh(w->a.st, &id), 0);   /* gone, cached */
}

static void
test_older_read_never_served(void **state)
{
	struct world *w = *state;
	struct state_cache_slot slot;
	char v[STATE_CACHE_VALUE_MAX];
	size_t n = 0;

	/* A reads the generation (a miss), B changes the tenant, A stores what
	 * it read before: nobody reads it under the new generation */
	assert_int_equal(state_cache_get(w->a.st, "sup", w->tid, "item", v, sizeof(v), &n, &slot), 0);
	assert_true(slot.fill);
	state_changed(w->b.st, w->tid);
	state_cache_put(w->a.st, &slot, "s1 -", 4);
	assert_int_equal(state_cache_get(w->a.st, "sup", w->tid, "item", v, sizeof(v), &n, &slot), 0);
	/* without the change it would have been read */
	state_cache_put(w->a.st, &slot, "s1 -", 4);
	assert_int_equal(state_cache_get(w->a.st, "sup", w->tid, "item", v, sizeof(v), &n, &slot), 1);
	assert_string_equal(v, "s1 -");
	/* a malformed value is not believed: the database answers */
	{
		unsigned char h[crypto_hash_sha256_BYTES];
		char item[2 * sizeof(h) + 1];
		sup_set(&w->b, w->tid, "m@example.com");
		crypto_hash_sha256(h, (const unsigned char *)"m@example.com", 13);
		sodium_bin2hex(item, sizeof(item), h, sizeof(h));
		assert_int_equal(state_cache_get(w->a.st, "sup", w->tid, item, v, sizeof(v), &n, &slot), 0);
		state_cache_put(w->a.st, &slot, "s1 -x", 5);
		assert_int_equal(state_cache_get(w->a.st, "sup", w->tid, item, v, sizeof(v), &n, &slot), 1);
		assert_int_equal(sup_get(&w->a, w->tid, "m@example.com"), 1);
		assert_int_equal(sup_get(&w->a, w->tid, "m@example.com"), 1);   /* refilled: a hit */
	}
}

static void
test_redis_frozen(void **state)
{
	struct world *w = *state;
	time_t deadline;
	uint64_t h;

	assert_int_equal(sup_get(&w->a, w->tid, "y@example.com"), 0);   /* cached on A: none */
	assert_int_equal(sup_get(&w->a, w->tid, "y@example.com"), 0);
	kill(w->fx->pid, SIGSTOP);
	sup_set(&w->b, w->tid, "y@example.com");          /* its bump cannot get through */
	assert_int_equal(sup_get(&w->a, w->tid, "y@example.com"), 1);   /* the database's answer */
	assert_int_equal(sup_get(&w->b, w->tid, "y@example.com"), 1);
	kill(w->fx->pid, SIGCONT);
	/* B's own change: never its old cached answer */
	assert_int_equal(sup_get(&w->b, w->tid, "y@example.com"), 1);
	/* A, whose cached answer predates the change: never that answer (it
	 * reads the database until it moved the epoch on), until both nodes
	 * use the cache again */
	deadline = time(NULL) + 30;
	while (fx_log_count(w->fx, "event=state-cache-restored") < 2 && time(NULL) < deadline) {
		assert_int_equal(sup_get(&w->a, w->tid, "y@example.com"), 1);
		assert_int_equal(sup_get(&w->b, w->tid, "y@example.com"), 1);
		usleep(50 * 1000);
	}
	assert_int_equal(fx_log_count(w->fx, "event=state-cache-restored"), 2);
	assert_int_equal(sup_get(&w->a, w->tid, "y@example.com"), 1);
	h = hits();
	assert_int_equal(sup_get(&w->a, w->tid, "y@example.com"), 1);
	assert_int_equal(sup_get(&w->b, w->tid, "y@example.com"), 1);
	assert_int_equal(hits(), h + 2);
	assert_true(fx_log_count(w->fx, "event=state-cache-bypass") >= 2);
	assert_true(fx_log_count(w->fx, "event=state-cache-bump-failed") >= 1);
}

/* Redis restarted from a snapshot taken before a change: the snapshot
 * brings back the old generation with the entry read under it. Once a
 * node's heartbeat sees the new run_id (or its pool sees the outage), it
 * moves the epoch on: the old entry is never its answer again. */
static void
test_redis_restarted_from_snapshot(void **state)
{
	struct world *w = *state;
	redisContext *raw;
	redisReply *r;
	time_t deadline;

	assert_int_equal(sup_get(&w->a, w->tid, "z@example.com"), 0);   /* cached on A: none */
	assert_non_null(raw = fx_raw(w->fx));
	r = redisCommand(raw, "SAVE");
	assert_true(r != NULL && r->type == REDIS_REPLY_STATUS);
	freeReplyObject(r);
	redisFree(raw);
	sup_set(&w->b, w->tid, "z@example.com");
	assert_int_equal(sup_get(&w->a, w->tid, "z@example.com"), 1);
	fx_redis_kill(w->fx, SIGKILL);
	fx_redis_start(w->fx);                 /* the same port, the snapshot's data */
	deadline = time(NULL) + 30;
	while ((fx_log_count(w->fx, "reason=\"Redis restarted\"") < 2 &&
	    fx_log_count(w->fx, "event=state-cache-restored") < 2) && time(NULL) < deadline)
		usleep(50 * 1000);
	deadline = time(NULL) + 30;
	while (fx_log_count(w->fx, "event=state-cache-restored") < 2 && time(NULL) < deadline) {
		sup_get(&w->a, w->tid, "z@example.com");   /* lets A see the server back */
		usleep(50 * 1000);
	}
	assert_int_equal(fx_log_count(w->fx, "event=state-cache-restored"), 2);
	assert_int_equal(sup_get(&w->a, w->tid, "z@example.com"), 1);
	assert_int_equal(sup_get(&w->a, w->tid, "z@example.com"), 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ident_values),
		cmocka_unit_test(test_key_values),
		cmocka_unit_test(test_sup_values),
		cmocka_unit_test_setup_teardown(test_change_seen_by_other_node, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_older_read_never_served, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_redis_frozen, world_setup, world_teardown),
		cmocka_unit_test_setup_teardown(test_redis_restarted_from_snapshot, world_setup,
		    world_teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
