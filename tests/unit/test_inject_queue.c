/*
 * test_inject_queue.c - unit tests for queueing an HTTP-injected message
 * (src/inject/inject_queue.c) on a real state database, spool and
 * counters: the queue file's envelope ('G' record, recipients, Received:
 * with HTTP, X-Ferry-Ref:), suppressed recipients left out and reported,
 * a foreign sender domain (envelope or From:), a suspended tenant, a full
 * rate window, recipients per message, and the events emitted. The state
 * is a SQLite file, or a fresh PostgreSQL schema under FERRY_TEST_PG
 * (state_fixture.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "conf/conf.h"
#include "events/outbox.h"
#include "inject/inject_json.h"
#include "inject/inject_queue.h"
#include "spool/spool_env.h"
#include "state/counters.h"
#include "state/state.h"
#include "state/state_admin.h"
#include "state/suppress.h"

#include "state_fixture.h"

struct fx {
	char             dir[64], db[128], err[256];
	struct state    *st;
	struct spool    *spool;
	struct counters *counters;
	struct conf      c;
	struct inject_env env;
	long long        acme, limited;
};

/* The events seen (outbox observers run even when the outbox is not started). */
static char seen_kinds[64][24];
static char seen_rcpts[64][64];
static size_t nseen;

static void
seen_event(void *arg, const struct state_event *ev)
{
	(void)arg;
	if (nseen < 64) {
		snprintf(seen_kinds[nseen], sizeof(seen_kinds[0]), "%s", ev->kind);
		snprintf(seen_rcpts[nseen++], sizeof(seen_rcpts[0]), "%s", ev->rcpt);
	}
}

static long long
tenant(struct fx *fx, const char *name, const char *domain)
{
	struct state_tenant t;

	if (state_tenant_add(fx->st, name, NULL, NULL, fx->err, sizeof(fx->err)) != 0 ||
	    state_domain_add(fx->st, name, domain, false, fx->err, sizeof(fx->err)) != 0)
		fail_msg("%s", fx->err);
	assert_int_equal(state_tenant_by_name(fx->st, name, &t), 1);
	return t.id;
}

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	struct state_limits one = { .per_minute = 1, .rcpts = 3 };
	struct suppression sup = { .reason = SUPPRESS_HARD_BOUNCE, .time = 1700000000 };

	state_fixture_mkdtemp(fx->dir, sizeof(fx->dir), "inject");
	fx->st = state_fixture_open(fx->dir, fx->db, sizeof(fx->db), fx->err, sizeof(fx->err));
	/* local counters are always SQLite: beside PostgreSQL state the
	 * node's own counters.db (counters_open.c) */
	if (state_fixture_pg())
		snprintf(fx->db, sizeof(fx->db), "%s/counters.db", fx->dir);
	snprintf(fx->err, sizeof(fx->err), "%s/spool", fx->dir);
	assert_non_null(fx->spool = spool_open(fx->err, (uid_t)-1, (gid_t)-1, false, fx->err, sizeof(fx->err)));
	assert_int_equal(spool_committer_start(fx->spool), 0);
	assert_non_null(fx->counters = counters_local_open(fx->db, fx->err, sizeof(fx->err)));
	fx->c.hostname = "mx.ferry.test";
	fx->env = (struct inject_env){ .st = fx->st, .counters = fx->counters, .spool = fx->spool, .c = &fx->c };
	fx->acme = tenant(fx, "acme", "acme.test");
	tenant(fx, "globex", "globex.test");
	tenant(fx, "umbrella", "umbrella.test");
	fx->limited = tenant(fx, "limited", "limited.test");
	assert_int_equal(state_tenant_suspend(fx->st, "umbrella", "abuse", fx->err, sizeof(fx->err)), 0);
	assert_int_equal(state_tenant_limit(fx->st, "limited", &one, fx->err, sizeof(fx->err)), 0);
	snprintf(sup.addr, sizeof(sup.addr), "gone@remote.test");
	assert_int_equal(state_suppression_add(fx->st, fx->acme, &sup), 0);
	nseen = 0;
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;

	spool_committer_stop(fx->spool);
	spool_close(fx->spool);
	counters_close(fx->counters);
	state_close(fx->st);
	state_fixture_rmdir(fx->dir);
	free(fx);
	return 0;
}

static enum inject_result
send_json(struct fx *fx, long long tenant_id, const char *json, struct inject_msg *m, struct inject_outcome *out)
{
	static const struct inject_opts o = { .hostname = "mx.ferry.test", .max_size = 100000, .max_line = 998 };
	char err[256];

	if (inject_json_build_text(json, strlen(json), &o, m, err, sizeof(err)) != INJECT_OK)
		fail_msg("build: %s", err);
	return inject_queue(&fx->env, tenant_id, "127.0.0.9", m, out);
}

/* queue/ID's envelope and content. */
static char *
queue_file(struct fx *fx, const char *id, struct spool_env *env)
{
	char path[256], *content;
	int fd;

	snprintf(path, sizeof(path), "%s/spool/queue/%s", fx->dir, id);
	assert_true((fd = open(path, O_RDONLY)) >= 0);
	assert_int_equal(spool_env_parse(fd, env), 0);
	content = calloc(1, env->content_len + 1);
	assert_int_equal(pread(fd, content, env->content_len, env->content_off), (ssize_t)env->content_len);
	close(fd);
	return content;
}

static size_t
queue_count(struct fx *fx)
{
	char cmd[200];
	FILE *p;
	size_t n = 0;

	snprintf(cmd, sizeof(cmd), "ls '%s/spool/queue' | wc -l", fx->dir);
	assert_non_null(p = popen(cmd, "r"));
	assert_int_equal(fscanf(p, "%zu", &n), 1);
	pclose(p);
	return n;
}

static void
test_queued_as_the_tenant(void **state)
{
	struct fx *fx = *state;
	struct inject_msg m;
	struct inject_outcome out;
	struct spool_env env;
	char *content;

	assert_int_equal(send_json(fx, fx->acme, "{\"from\": \"news@acme.test\", \"to\": [\"a@remote.test\","
	    " \"gone@remote.test\"], \"bcc\": \"b@remote.test\", \"subject\": \"hi\", \"text\": \"body text\"}",
	    &m, &out), INJECT_Q_OK);
	assert_int_equal(strlen(out.id), SPOOL_ID_LEN);
	assert_false(out.suppressed[0]);
	assert_true(out.suppressed[1]);
	assert_false(out.suppressed[2]);
	content = queue_file(fx, out.id, &env);
	assert_int_equal(env.tenant_id, fx->acme);
	assert_string_equal(env.sender, "news@acme.test");
	assert_int_equal(env.nrcpts, 2);
	assert_non_null(strstr(content, "Received: from [127.0.0.9] (tenant acme)\r\n\tby mx.ferry.test (ferry) with HTTP id "));
	assert_non_null(strstr(content, "\r\nX-Ferry-Ref: "));
	assert_non_null(strstr(content, "\r\n\r\nbody text"));
	assert_null(strstr(content, "b@remote.test"));   /* bcc: the envelope only */
	assert_int_equal(nseen, 3);
	assert_string_equal(seen_kinds[0], EV_RECEIVED);
	assert_string_equal(seen_kinds[1], EV_SUPPRESSED);
	assert_string_equal(seen_rcpts[1], "gone@remote.test");
	assert_string_equal(seen_kinds[2], EV_RECEIVED);
	free(content);
	spool_env_free(&env);
	inject_outcome_free(&out);
	inject_msg_free(&m);
}

static void
test_every_recipient_suppressed(void **state)
{
	struct fx *fx = *state;
	struct inject_msg m;
	struct inject_outcome out;

	assert_int_equal(send_json(fx, fx->acme, "{\"from\": \"news@acme.test\", \"to\": \"gone@remote.test\","
	    " \"text\": \"x\"}", &m, &out), INJECT_Q_OK);
	assert_string_equal(out.id, "");
	assert_true(out.suppressed[0]);
	assert_int_equal(queue_count(fx), 0);
	inject_outcome_free(&out);
	inject_msg_free(&m);
}

/* A refusal: its result, its text holds want, nothing queued. */
static void
refused(struct fx *fx, long long tenant_id, const char *json, enum inject_result r, const char *want)
{
	struct inject_msg m;
	struct inject_outcome out;

	assert_int_equal(send_json(fx, tenant_id, json, &m, &out), r);
	if (strstr(out.text, want) == NULL)
		fail_msg("\"%s\" does not say \"%s\"", out.text, want);
	assert_int_equal(queue_count(fx), 0);
	inject_outcome_free(&out);
	inject_msg_free(&m);
}

static void
test_refusals(void **state)
{
	struct fx *fx = *state;
	struct state_tenant t;

	refused(fx, fx->acme, "{\"from\": \"ceo@globex.test\", \"to\": \"a@remote.test\", \"text\": \"x\"}",
	    INJECT_Q_FORBIDDEN, "<ceo@globex.test> is not in a domain of tenant acme");
	assert_int_equal(state_tenant_by_name(fx->st, "umbrella", &t), 1);
	refused(fx, t.id, "{\"from\": \"a@umbrella.test\", \"to\": \"a@remote.test\", \"text\": \"x\"}",
	    INJECT_Q_SUSPENDED, "Tenant umbrella is suspended: abuse");
	refused(fx, fx->limited, "{\"from\": \"a@limited.test\", \"to\": [\"a@remote.test\", \"b@remote.test\","
	    " \"c@remote.test\", \"d@remote.test\"], \"text\": \"x\"}", INJECT_Q_BAD,
	    "tenant limited allows 3 per message");
	assert_int_equal(nseen, 0);
}

static void
test_raw_from_field_checked(void **state)
{
	static const struct inject_opts o = { .hostname = "mx.ferry.test", .max_size = 100000, .max_line = 998 };
	static const char raw[] = "From: ceo@globex.test\r\nTo: a@remote.test\r\n\r\nx\r\n";
	struct fx *fx = *state;
	struct inject_msg m;
	struct inject_outcome out;
	char err[256];

	assert_int_equal(inject_raw_build(raw, strlen(raw), "news@acme.test", NULL, &o, &m, err, sizeof(err)),
	    INJECT_OK);
	assert_int_equal(inject_queue(&fx->env, fx->acme, "127.0.0.9", &m, &out), INJECT_Q_FORBIDDEN);
	assert_non_null(strstr(out.text, "From: address <ceo@globex.test>"));
	assert_int_equal(queue_count(fx), 0);
	inject_outcome_free(&out);
	inject_msg_free(&m);
}

static void
test_rate_window(void **state)
{
	struct fx *fx = *state;
	struct inject_msg m;
	struct inject_outcome out;

	assert_int_equal(send_json(fx, fx->limited, "{\"from\": \"a@limited.test\", \"to\": \"a@remote.test\","
	    " \"text\": \"x\"}", &m, &out), INJECT_Q_OK);
	inject_outcome_free(&out);
	inject_msg_free(&m);
	assert_int_equal(send_json(fx, fx->limited, "{\"from\": \"a@limited.test\", \"to\": \"a@remote.test\","
	    " \"text\": \"x\"}", &m, &out), INJECT_Q_LIMITED);
	assert_non_null(strstr(out.text, "Rate limit reached: tenant limited may send 1 messages per minute"));
	assert_int_equal(queue_count(fx), 1);
	inject_outcome_free(&out);
	inject_msg_free(&m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_queued_as_the_tenant, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_every_recipient_suppressed, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_refusals, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_raw_from_field_checked, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_rate_window, fx_setup, fx_teardown),
	};

	inject_init();
	outbox_observe(seen_event, NULL);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
