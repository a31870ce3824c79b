/*
 * test_webhook.c - the parts of webhooks that need no network: the
 * signature against a vector computed with Python's hmac, URL checks and
 * the userinfo left out of logged URLs, event-list normalisation and
 * matching, and the webhooks table (add with a fresh secret and a cursor
 * at the newest event, tenant scope of get/list/del, the per-tenant cap,
 * progress saved). Each store test gets a fresh database: a SQLite file,
 * or a fresh PostgreSQL schema under FERRY_TEST_PG (state_fixture.h).
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

#include "state/events.h"
#include "state/state.h"
#include "state/state_admin.h"
#include "webhook/webhook_sign.h"
#include "webhook/webhook_store.h"

#include "state_fixture.h"

static void
test_sign_vector(void **state)
{
	char sig[WEBHOOK_SIG_MAX];
	const char *body = "{\"events\":[]}";

	(void)state;
	/* python3: hmac.new(b"whsec_test", b'1700000000.{"events":[]}', sha256).hexdigest() */
	assert_int_equal(webhook_sign("whsec_test", 1700000000, body, strlen(body), sig, sizeof(sig)), 0);
	assert_string_equal(sig, "t=1700000000,v1="
	    "4f6f9b7a41398ad124e52a1320534f978e522923f3f2b2724e31d7a9dbf78a7f");
	assert_int_equal(webhook_sign("whsec_test", 1700000001, body, strlen(body), sig, sizeof(sig)), 0);
	assert_string_not_equal(sig + 16, "4f6f9b7a41398ad124e52a1320534f978e522923f3f2b2724e31d7a9dbf78a7f");
	assert_int_equal(webhook_sign("whsec_test", 1, body, strlen(body), sig, 10), -1);
}

static void
test_url_check(void **state)
{
	static const char *const good[] = { "https://h.example/x", "http://127.0.0.1:8080/hook?a=b",
	    "HTTPS://u:p@h/", "http://[::1]:80/" };
	static const char *const bad[] = { "", "ftp://h/", "https://", "https:///x", "http://:80/",
	    "http://h/a b", "http://h/\r\nX: y", "http://h/\xc3\xa9", "https://u@/x", "h/x" };
	char err[256], big[WEBHOOK_URL_MAX + 16];

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_int_equal(webhook_url_check(good[i], err, sizeof(err)), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(webhook_url_check(bad[i], err, sizeof(err)), -1);
	memcpy(big, "https://h/", 10);
	memset(big + 10, 'a', sizeof(big) - 11);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(webhook_url_check(big, err, sizeof(err)), -1);
}

static void
test_url_redact(void **state)
{
	char out[256];

	(void)state;
	assert_string_equal(webhook_url_redact("https://user:pa55@h.example:8443/x?q=@", out, sizeof(out)),
	    "https://h.example:8443/x?q=@");
	assert_string_equal(webhook_url_redact("https://a@b:c@h/x", out, sizeof(out)), "https://h/x");
	assert_string_equal(webhook_url_redact("http://h/p@x", out, sizeof(out)), "http://h/p@x");
	assert_string_equal(webhook_url_redact("http://h", out, sizeof(out)), "http://h");
}

static void
test_events_norm_match(void **state)
{
	char out[WEBHOOK_EVENTS_MAX + 1], err[512];

	(void)state;
	assert_int_equal(webhook_events_norm("bounced, delivered,bounced", out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "delivered,bounced");
	assert_int_equal(webhook_events_norm("resumed,suspended", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "suspended,resumed");
	assert_int_equal(webhook_events_norm("all", out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(webhook_events_norm(NULL, out, sizeof(out), err, sizeof(err)), 0);
	assert_int_equal(webhook_events_norm("delivered,nope", out, sizeof(out), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "'nope'"));
	assert_non_null(strstr(err, "(known: received, delivered,"));
	assert_non_null(strstr(err, ", webhook-dropped)"));
	assert_int_equal(webhook_events_norm("delivered,,bounced", out, sizeof(out), err, sizeof(err)), -1);
	assert_true(webhook_events_match("", EV_BOUNCED));
	assert_true(webhook_events_match("delivered,bounced", EV_BOUNCED));
	assert_false(webhook_events_match("delivered,bounced", "bounce"));
	assert_false(webhook_events_match("delivered", EV_DEFERRED));
}

/* ---- the table ---- */

struct fx {
	char          dir[64], path[128], err[512];
	struct state *st;
	long long     acme, other;
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct state_tenant t;

	assert_non_null(fx);
	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), "webhook");
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

static void
count_one(void *arg, const struct webhook *w)
{
	assert_string_equal(w->secret, "");
	(*(int *)arg)++;
}

static void
test_store(void **state)
{
	struct fx *fx = *state;
	struct state_event ev = { .time = 1, .tenant_id = fx->acme, .kind = EV_DELIVERED, .rcpt_index = -1 };
	struct webhook a, b, got;
	int n = 0;

	assert_int_equal(state_events_record(fx->st, &ev, 1), 0);
	assert_int_equal(webhook_add(fx->st, fx->acme, "https://h/a", "bounced", &a, fx->err,
	    sizeof(fx->err)), 0);
	assert_int_equal(strncmp(a.secret, "whsec_", 6), 0);
	assert_int_equal(strlen(a.secret), WEBHOOK_SECRET_LEN);
	assert_string_equal(a.tenant, "acme");
	assert_true(a.cursor >= 1);                       /* after the existing event */
	assert_int_equal(webhook_add(fx->st, fx->other, "https://h/b", "", &b, fx->err,
	    sizeof(fx->err)), 0);
	assert_string_not_equal(a.secret, b.secret);
	assert_true(b.id > a.id);
	/* scope */
	assert_int_equal(webhook_get(fx->st, a.id, fx->other, true, &got), 0);
	assert_int_equal(webhook_get(fx->st, a.id, fx->acme, false, &got), 1);
	assert_string_equal(got.secret, "");
	assert_int_equal(webhook_list(fx->st, fx->acme, false, count_one, &n), 1);
	assert_int_equal(webhook_list(fx->st, 0, false, count_one, &n), 2);
	assert_int_equal(n, 3);
	assert_int_equal(webhook_del(fx->st, a.id, fx->other), 0);
	/* progress */
	got.cursor = 42;
	got.failures = 3;
	got.next_try = 100;
	got.failing_since = 50;
	snprintf(got.last_error, sizeof(got.last_error), "HTTP status 500");
	assert_int_equal(webhook_progress_save(fx->st, &got), 0);
	assert_int_equal(webhook_get(fx->st, a.id, 0, true, &got), 1);
	assert_int_equal(got.cursor, 42);
	assert_int_equal(got.failures, 3);
	assert_int_equal(got.failing_since, 50);
	assert_string_equal(got.last_error, "HTTP status 500");
	assert_string_equal(got.secret, a.secret);
	assert_int_equal(webhook_del(fx->st, a.id, fx->acme), 1);
	assert_int_equal(webhook_del(fx->st, a.id, 0), 0);
	/* refused input */
	assert_int_equal(webhook_add(fx->st, fx->acme, "gopher://h/", "", &a, fx->err, sizeof(fx->err)), -1);
	assert_int_equal(webhook_add(fx->st, 9999, "https://h/", "", &a, fx->err, sizeof(fx->err)), -1);
}

static void
test_store_cap(void **state)
{
	struct fx *fx = *state;
	struct webhook w;

	for (int i = 0; i < WEBHOOK_PER_TENANT_MAX; i++)
		assert_int_equal(webhook_add(fx->st, fx->acme, "https://h/", "", &w, fx->err,
		    sizeof(fx->err)), 0);
	assert_int_equal(webhook_add(fx->st, fx->acme, "https://h/", "", &w, fx->err, sizeof(fx->err)), -1);
	assert_non_null(strstr(fx->err, "too many"));
	assert_int_equal(webhook_add(fx->st, fx->other, "https://h/", "", &w, fx->err, sizeof(fx->err)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sign_vector),
		cmocka_unit_test(test_url_check),
		cmocka_unit_test(test_url_redact),
		cmocka_unit_test(test_events_norm_match),
		cmocka_unit_test_setup_teardown(test_store, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_store_cap, fx_setup, fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
