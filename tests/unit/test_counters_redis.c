/*
 * test_counters_redis.c - the shared counters on a real redis-server
 * (src/state/counters_redis.c), started by each test on a free loopback
 * port in its own temporary directory and stopped by its pid: the Lua take
 * is exact under concurrent takes from several threads (8 x 50 against a
 * limit of 100: exactly 100), all windows or none, the first full window
 * named; give only into the current window and never below 0; keys expire
 * after their window; a flushed script cache; Redis killed: closed fails
 * (-1) without hammering the dead port, a stopped one times out, open
 * counts on this node, and both
 * recover when redis-server is back on the same port (open mode merges
 * what it counted alone); the password never reaches the log.
 * Also the redis:// URI parser and the counters options.
 * redis-server must be at /usr/bin/redis-server (scripts/setup.sh): its
 * absence fails the tests, it does not skip them.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <hiredis/hiredis.h>

#include "conf/conf.h"
#include "state/counters_open.h"
#include "state/counters_redis.h"
#include "util/log.h"
#include "util/redis_uri.h"

#include "redis_fx.h"

static struct counters *
fx_open(const struct fx *fx, bool fail_open)
{
	char err[256];
	struct counters *c = counters_redis_open(fx->uri, fail_open, err, sizeof(err));

	if (c == NULL)
		fail_msg("counters_redis_open: %s", err);
	return c;
}

static void
spec_set(struct counter_spec *s, const char *key, int period, long long limit)
{
	memset(s, 0, sizeof(*s));
	snprintf(s->key, sizeof(s->key), "%s", key);
	s->period = period;
	s->limit = limit;
}

/* ---- the take ------------------------------------------------------------ */

struct racer {
	struct counters *c;
	time_t           now;
	int              ok, denied, failed;
};

static void *
racer_run(void *arg)
{
	struct racer *r = arg;
	struct counter_spec s[2];
	struct counter_deny d;

	spec_set(&s[0], "t:1", 3600, 100);
	spec_set(&s[1], "k:7", 86400, 0);       /* counted, no limit */
	for (int i = 0; i < 50; i++) {
		int rc = counters_take(r->c, s, 2, 1, r->now, &d);
		if (rc == 0)
			r->ok++;
		else if (rc == 1)
			r->denied++;
		else
			r->failed++;
	}
	return NULL;
}

/* 8 threads x 50 takes against 100 an hour: exactly 100, and the second
 * window moved only with the first (all or none). */
static void
test_take_exact_under_threads(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct racer r[8];
	pthread_t th[8];
	int ok = 0, denied = 0;
	time_t now = time(NULL);

	for (int i = 0; i < 8; i++) {
		r[i] = (struct racer){ .c = c, .now = now };
		assert_int_equal(pthread_create(&th[i], NULL, racer_run, &r[i]), 0);
	}
	for (int i = 0; i < 8; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(r[i].failed, 0);
		ok += r[i].ok;
		denied += r[i].denied;
	}
	assert_int_equal(ok, 100);
	assert_int_equal(denied, 300);
	assert_int_equal(counters_get(c, "t:1", 3600, now), 100);
	assert_int_equal(counters_get(c, "k:7", 86400, now), 100);
	counters_close(c);
}

/* Two backends on one server (two nodes) share the windows. */
static void
test_take_two_nodes(void **state)
{
	struct fx *fx = *state;
	struct counters *a = fx_open(fx, false), *b = fx_open(fx, false);
	struct counter_spec s;
	struct counter_deny d;
	time_t now = time(NULL);
	int ok = 0;

	spec_set(&s, "t:2", 60, 7);
	for (int i = 0; i < 10; i++) {
		ok += counters_take(a, &s, 1, 1, now, &d) == 0;
		ok += counters_take(b, &s, 1, 1, now, &d) == 0;
	}
	assert_int_equal(ok, 7);
	assert_int_equal(counters_get(b, "t:2", 60, now), 7);
	counters_close(a);
	counters_close(b);
}

/* The first full window is named with its count; nothing is added. */
static void
test_take_first_full_window(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct counter_spec s[3];
	struct counter_deny d;
	time_t now = time(NULL);

	spec_set(&s[0], "t:3", 60, 10);
	spec_set(&s[1], "a:3", 3600, 2);
	spec_set(&s[2], "r:3", 86400, 0);
	assert_int_equal(counters_take(c, s, 3, 1, now, &d), 0);
	assert_int_equal(counters_take(c, s, 3, 1, now, &d), 0);
	memset(&d, 0, sizeof(d));
	assert_int_equal(counters_take(c, s, 3, 1, now, &d), 1);
	assert_int_equal(d.index, 1);
	assert_int_equal(d.count, 2);
	assert_int_equal(d.limit, 2);
	assert_int_equal(d.reset, now - now % 3600 + 3600);
	assert_int_equal(counters_get(c, "t:3", 60, now), 2);
	assert_int_equal(counters_get(c, "r:3", 86400, now), 2);
	/* an amount that does not fit is refused whole */
	assert_int_equal(counters_take(c, &s[0], 1, 9, now, &d), 1);
	assert_int_equal(counters_take(c, &s[0], 1, 8, now, &d), 0);
	assert_int_equal(counters_get(c, "t:3", 60, now), 10);
	counters_close(c);
}

/* A server whose script cache was flushed (a restart): EVAL again. */
static void
test_take_after_script_flush(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct counter_spec s;
	struct counter_deny d;
	time_t now = time(NULL);
	redisContext *raw = fx_raw(fx);

	assert_non_null(raw);
	spec_set(&s, "t:4", 60, 5);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	freeReplyObject(redisCommand(raw, "SCRIPT FLUSH"));
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	assert_int_equal(counters_get(c, "t:4", 60, now), 2);
	redisFree(raw);
	counters_close(c);
}

/* ---- give, get, expiry ---------------------------------------------------- */

static void
test_give(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct counter_spec s;
	struct counter_deny d;
	time_t now = time(NULL);
	redisContext *raw = fx_raw(fx);
	redisReply *r;

	assert_non_null(raw);
	spec_set(&s, "t:5", 86400, 0);
	assert_int_equal(counters_take(c, &s, 1, 3, now, &d), 0);
	counters_give(c, &s, 1, 1, now);
	assert_int_equal(counters_get(c, "t:5", 86400, now), 2);
	counters_give(c, &s, 1, 5, now);          /* never below 0 */
	assert_int_equal(counters_get(c, "t:5", 86400, now), 0);
	/* taken in yesterday's window: today's is left alone */
	assert_int_equal(counters_take(c, &s, 1, 4, now, &d), 0);
	counters_give(c, &s, 1, 1, now - 86400);
	assert_int_equal(counters_get(c, "t:5", 86400, now), 4);
	/* a give does not make a key that is not there */
	spec_set(&s, "t:none", 60, 0);
	counters_give(c, &s, 1, 1, now);
	r = redisCommand(raw, "KEYS ferry:c:{t:none}:*");
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_ARRAY);
	assert_int_equal(r->elements, 0);
	freeReplyObject(r);
	redisFree(raw);
	counters_close(c);
}

/* Each window is its own key that expires a little after the window ends;
 * the next window starts at 0. */
static void
test_window_expiry(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct counter_spec s;
	struct counter_deny d;
	time_t now = time(NULL), start = now - now % 60;
	redisContext *raw = fx_raw(fx);
	redisReply *r;

	assert_non_null(raw);
	spec_set(&s, "w:127.0.0.2", 60, 3);
	for (int i = 0; i < 3; i++)
		assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 1);
	assert_int_equal(d.reset, start + 60);
	r = redisCommand(raw, "TTL ferry:c:{w:127.0.0.2}:60:%lld", (long long)start);
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_INTEGER);
	assert_true(r->integer > 60 && r->integer <= 120);
	freeReplyObject(r);
	/* the next minute's window */
	assert_int_equal(counters_get(c, "w:127.0.0.2", 60, start + 60), 0);
	assert_int_equal(counters_take(c, &s, 1, 1, start + 60, &d), 0);
	assert_int_equal(counters_get(c, "w:127.0.0.2", 60, start + 60), 1);
	/* gone after its time to live (made 1 s here): counted from 0 again */
	freeReplyObject(redisCommand(raw, "PEXPIRE ferry:c:{w:127.0.0.2}:60:%lld 1", (long long)start));
	for (int i = 0; i < 200 && counters_get(c, "w:127.0.0.2", 60, now) != 0; i++)
		usleep(10000);
	assert_int_equal(counters_get(c, "w:127.0.0.2", 60, now), 0);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	redisFree(raw);
	counters_close(c);
}

/* ---- Redis lost and back ------------------------------------------------- */

struct accept_counter {
	int            fd;
	int            accepted;
	volatile bool  stop;
};

/* Accepts and closes at once: a server that is there but answers nothing. */
static void *
accept_run(void *arg)
{
	struct accept_counter *a = arg;

	while (!a->stop) {
		int fd = accept(a->fd, NULL, NULL);
		if (fd >= 0) {
			a->accepted++;
			close(fd);
		}
	}
	return NULL;
}

static int
listen_on(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port),
	    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	int one = 1, fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(fd, 128), 0);
	fcntl(fd, F_SETFL, O_NONBLOCK);
	return fd;
}

/* Takes until one reaches Redis again (the backoff is at most 5 s). */
static int
take_until(struct counters *c, struct counter_spec *s, time_t now, int want)
{
	struct counter_deny d;
	int rc = -2;

	for (int i = 0; i < 1000 && rc != want; i++) {
		rc = counters_take(c, s, 1, 1, now, &d);
		if (rc != want)
			usleep(20000);
	}
	return rc;
}

/* counters_failure closed: -1 while Redis is gone, without a connection
 * per call; back when redis-server is back on its port. */
static void
test_closed_outage(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct accept_counter ac = { 0 };
	struct counter_spec s;
	struct counter_deny d;
	pthread_t th;
	time_t now = time(NULL);

	spec_set(&s, "t:6", 3600, 100);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	fx_redis_kill(fx, SIGKILL);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), -1);
	assert_int_equal(fx_log_count(fx, "event=counters-unavailable"), 1);
	/* something on the port that answers nothing: 2000 calls in a row
	 * fail fast rather than each trying it (backoff 100 ms doubling) */
	ac.fd = listen_on(fx->port);
	assert_int_equal(pthread_create(&th, NULL, accept_run, &ac), 0);
	for (int i = 0; i < 2000; i++)
		assert_int_equal(counters_take(c, &s, 1, 1, now, &d), -1);
	ac.stop = true;
	pthread_join(th, NULL);
	close(ac.fd);
	assert_true(ac.accepted < 20);
	assert_int_equal(counters_get(c, "t:6", 3600, now), 0);
	assert_int_equal(fx_log_count(fx, "event=counters-unavailable"), 1);   /* once an outage */
	fx_redis_start(fx);
	assert_int_equal(take_until(c, &s, now, 0), 0);
	assert_int_equal(fx_log_count(fx, "event=counters-recovered"), 1);
	assert_int_equal(counters_get(c, "t:6", 3600, now), 1);   /* a new, empty server */
	counters_close(c);
}

/* A server that accepts but does not answer (stopped): the command times
 * out (500 ms), the call fails, later ones fail fast; when it answers again
 * the backend is back. The take that timed out may have run after all (it
 * was in the server's buffer): counted, never lost the other way. */
static void
test_hung_server(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, false);
	struct counter_spec s;
	struct counter_deny d;
	time_t now = time(NULL);
	long long n;

	spec_set(&s, "t:9", 86400, 0);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	kill(fx->pid, SIGSTOP);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), -1);
	assert_int_equal(fx_log_count(fx, "event=counters-unavailable"), 1);
	for (int i = 0; i < 100; i++)
		assert_int_equal(counters_take(c, &s, 1, 1, now, &d), -1);
	kill(fx->pid, SIGCONT);
	assert_int_equal(take_until(c, &s, now, 0), 0);
	assert_int_equal(fx_log_count(fx, "event=counters-recovered"), 1);
	n = counters_get(c, "t:9", 86400, now);
	assert_true(n >= 2 && n <= 3);
	counters_close(c);
}

/* counters_failure open: counted on this node while Redis is gone (within
 * the limit, counted from what this node saw), merged into Redis when it is
 * back; the password is never logged. */
static void
test_open_outage(void **state)
{
	struct fx *fx = *state;
	struct counters *c = fx_open(fx, true);
	struct counter_spec s;
	struct counter_deny d;
	time_t now = time(NULL);
	redisContext *raw;
	redisReply *r;
	int ok = 0;

	spec_set(&s, "t:7", 3600, 10);
	for (int i = 0; i < 4; i++)
		assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	fx_redis_kill(fx, SIGKILL);
	for (int i = 0; i < 15; i++)
		ok += counters_take(c, &s, 1, 1, now, &d) == 0;
	assert_int_equal(ok, 10);            /* the node's own count: it cannot see the 4 */
	assert_int_equal(counters_get(c, "t:7", 3600, now), 10);
	counters_give(c, &s, 1, 1, now);
	assert_int_equal(counters_get(c, "t:7", 3600, now), 9);
	assert_int_equal(fx_log_count(fx, "event=counters-fallback"), 1);
	fx_redis_start(fx);                  /* empty: --save '' */
	/* the first call that reaches it merges the 9 counted alone (a get,
	 * so that nothing more is counted here meanwhile) */
	for (int i = 0; i < 1000 && fx_log_count(fx, "event=counters-recovered") == 0; i++) {
		counters_get(c, "t:7", 3600, now);
		usleep(20000);
	}
	assert_int_equal(fx_log_count(fx, "event=counters-recovered"), 1);
	assert_int_equal(fx_log_count(fx, "event=counters-merged"), 1);
	raw = fx_raw(fx);
	assert_non_null(raw);
	freeReplyObject(redisCommand(raw, "SELECT 3"));
	r = redisCommand(raw, "GET ferry:c:{t:7}:3600:%lld", (long long)(now - now % 3600));
	assert_non_null(r);
	assert_int_equal(r->type, REDIS_REPLY_STRING);
	assert_string_equal(r->str, "9");
	freeReplyObject(r);
	redisFree(raw);
	assert_int_equal(counters_get(c, "t:7", 3600, now), 9);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 0);
	assert_int_equal(counters_take(c, &s, 1, 1, now, &d), 1);
	assert_int_equal(fx_log_count(fx, fx->password), 0);
	assert_true(fx_log_count(fx, "redis://***@127.0.0.1:") > 0);
	counters_close(c);
}

/* A wrong password is a configuration error at open, named without it. */
static void
test_open_refused(void **state)
{
	struct fx *fx = *state;
	char uri[256], err[256];
	struct counters *c;

	snprintf(uri, sizeof(uri), "redis://:wrong-pw@127.0.0.1:%d", fx->port);
	c = counters_redis_open(uri, false, err, sizeof(err));
	assert_null(c);
	assert_null(strstr(err, "wrong-pw"));
	assert_non_null(strstr(err, "AUTH"));
	/* the readers: -1 when they cannot read, the count when they can */
	assert_int_equal(counters_redis_read(uri, "t:1", 60, time(NULL)), -1);
	c = fx_open(fx, false);
	{
		struct counter_spec s;
		struct counter_deny d;
		time_t now = time(NULL);
		spec_set(&s, "t:8", 60, 0);
		assert_int_equal(counters_take(c, &s, 1, 3, now, &d), 0);
		assert_int_equal(counters_redis_read(fx->uri, "t:8", 60, now), 3);
	}
	counters_close(c);
}

/* ---- configuration --------------------------------------------------------- */

static void
test_uri_parse(void **state)
{
	struct redis_uri u;
	char err[256];

	(void)state;
	assert_int_equal(redis_uri_parse("redis://127.0.0.1:6380/2", &u, err, sizeof(err)), 0);
	assert_string_equal(u.host, "127.0.0.1");
	assert_int_equal(u.port, 6380);
	assert_int_equal(u.db, 2);
	assert_string_equal(u.password, "");
	assert_string_equal(u.shown, "redis://127.0.0.1:6380/2");
	assert_int_equal(redis_uri_parse("redis://:p%40ss@cache.example:7000", &u, err, sizeof(err)), 0);
	assert_string_equal(u.password, "p@ss");
	assert_string_equal(u.user, "");
	assert_string_equal(u.shown, "redis://***@cache.example:7000/0");
	assert_int_equal(redis_uri_parse("redis://ferry:a@b@[::1]", &u, err, sizeof(err)), 0);
	assert_string_equal(u.user, "ferry");
	assert_string_equal(u.password, "a@b");
	assert_string_equal(u.host, "::1");
	assert_int_equal(u.port, 6379);
	assert_string_equal(u.shown, "redis://***@[::1]:6379/0");
	static const char *const bad[] = {
		"http://127.0.0.1", "redis://", "redis://host:0", "redis://host:65536", "redis://host:x",
		"redis://ho st", "redis://host/db", "redis://host/-1", "redis://pw@host", "redis://:p%0Aw@host",
		"redis://:p%4@host", "redis://[::1", "redis://[::1]x", "redis://host:6379:1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (redis_uri_parse(bad[i], &u, err, sizeof(err)) == 0)
			fail_msg("accepted %s", bad[i]);
		assert_null(strstr(err, "p%"));
	}
}

static struct conf *
conf_from(const char *dir, const char *text, char *err, size_t errlen)
{
	char path[128];
	FILE *f;

	snprintf(path, sizeof(path), "%s/ferry.conf", dir);
	f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	return conf_load_flags(path, CONF_LOAD_NO_FILES, err, errlen);
}

static void
test_conf_options(void **state)
{
	char dir[64] = "/tmp/ferry-redis-conf.XXXXXX", err[1024], cmd[128];
	struct conf *c;

	(void)state;
	assert_non_null(mkdtemp(dir));
	c = conf_from(dir, "spool_dir /tmp\n", err, sizeof(err));
	assert_non_null(c);
	assert_false(counters_conf_shared(c));
	assert_false(c->counters_fail_open);
	conf_free(c);
	c = conf_from(dir, "counters local\ncounters_failure open\n", err, sizeof(err));
	assert_non_null(c);
	assert_false(counters_conf_shared(c));
	assert_true(c->counters_fail_open);
	conf_free(c);
	c = conf_from(dir, "counters redis://:hunter2@127.0.0.1:6379/1\n", err, sizeof(err));
	assert_non_null(c);
	assert_true(counters_conf_shared(c));
	assert_false(c->counters_fail_open);
	conf_free(c);
	c = conf_from(dir, "counters redis://:hunter2@bad host:6379\n", err, sizeof(err));
	assert_null(c);
	c = conf_from(dir, "counters redis://:hunter2@bad_host:99999\n", err, sizeof(err));
	assert_null(c);
	assert_non_null(strstr(err, "counters"));
	assert_null(strstr(err, "hunter2"));
	c = conf_from(dir, "counters_failure maybe\n", err, sizeof(err));
	assert_null(c);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(system(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_take_exact_under_threads, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_take_two_nodes, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_take_first_full_window, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_take_after_script_flush, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_give, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_window_expiry, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_closed_outage, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_hung_server, fx_setup, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_outage, fx_setup_password, fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_refused, fx_setup_password, fx_teardown),
		cmocka_unit_test(test_uri_parse),
		cmocka_unit_test(test_conf_options),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
