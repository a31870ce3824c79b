/*
 * redis_fx.h - a real redis-server for unit tests (test_counters_redis.c,
 * test_state_cache.c): started by each test on a free loopback port in its
 * own temporary directory, stopped by its pid; the test's log in that
 * directory. redis-server must be at /usr/bin/redis-server
 * (scripts/setup.sh): its absence fails the tests, it does not skip them.
 */
#ifndef FERRY_TESTS_REDIS_FX_H
#define FERRY_TESTS_REDIS_FX_H

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <hiredis/hiredis.h>

#include "util/log.h"

#define REDIS_BIN "/usr/bin/redis-server"

struct fx {
	char   dir[64];
	char   log[128];
	char   uri[256];
	char   password[32];
	int    port;
	pid_t  pid;
};

static inline int
fx_free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM, 0);

	assert_true(fd >= 0);
	assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* A raw connection to the test's server (for what the backend wrote). */
static inline redisContext *
fx_raw(const struct fx *fx)
{
	redisContext *ctx = redisConnect("127.0.0.1", fx->port);

	if (ctx == NULL || ctx->err) {
		redisFree(ctx);
		return NULL;
	}
	if (fx->password[0] != '\0') {
		redisReply *r = redisCommand(ctx, "AUTH %s", fx->password);
		freeReplyObject(r);
	}
	return ctx;
}

/* redis-server on fx->port, answering PING, or the test fails. */
static inline void
fx_redis_start(struct fx *fx)
{
	char port[16], out[128];

	assert_int_equal(access(REDIS_BIN, X_OK), 0);    /* scripts/setup.sh installs it */
	snprintf(port, sizeof(port), "%d", fx->port);
	snprintf(out, sizeof(out), "%s/redis.out", fx->dir);
	fx->pid = fork();
	assert_true(fx->pid >= 0);
	if (fx->pid == 0) {
		int fd = open(out, O_WRONLY | O_CREAT | O_APPEND, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
		}
		if (fx->password[0] != '\0')
			execl(REDIS_BIN, REDIS_BIN, "--port", port, "--bind", "127.0.0.1", "--save", "",
			    "--appendonly", "no", "--dir", fx->dir, "--requirepass", fx->password, (char *)NULL);
		else
			execl(REDIS_BIN, REDIS_BIN, "--port", port, "--bind", "127.0.0.1", "--save", "",
			    "--appendonly", "no", "--dir", fx->dir, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {       /* up to 10 s */
		redisContext *ctx = fx_raw(fx);
		redisReply *r = ctx != NULL ? redisCommand(ctx, "PING") : NULL;
		bool up = r != NULL && r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") == 0;
		freeReplyObject(r);
		redisFree(ctx);
		if (up)
			return;
		assert_int_equal(waitpid(fx->pid, NULL, WNOHANG), 0);   /* still running */
		usleep(20000);
	}
	fail_msg("redis-server on port %d did not answer", fx->port);
}

static inline void
fx_redis_kill(struct fx *fx, int sig)
{
	if (fx->pid <= 0)
		return;
	kill(fx->pid, sig);
	waitpid(fx->pid, NULL, 0);
	fx->pid = 0;
}

static inline int
fx_setup_with(void **state, const char *password)
{
	struct fx *fx = calloc(1, sizeof(*fx));

	assert_non_null(fx);
	snprintf(fx->dir, sizeof(fx->dir), "/tmp/ferry-redis.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->log, sizeof(fx->log), "%s/ferry.log", fx->dir);
	assert_int_equal(log_open("test", fx->log), 0);
	snprintf(fx->password, sizeof(fx->password), "%s", password);
	fx->port = fx_free_port();
	if (password[0] != '\0')
		snprintf(fx->uri, sizeof(fx->uri), "redis://:%s@127.0.0.1:%d/3", password, fx->port);
	else
		snprintf(fx->uri, sizeof(fx->uri), "redis://127.0.0.1:%d", fx->port);
	fx_redis_start(fx);
	*state = fx;
	return 0;
}

static inline int
fx_setup(void **state)
{
	return fx_setup_with(state, "");
}

static inline int
fx_setup_password(void **state)
{
	return fx_setup_with(state, "s3cr3t-pw");
}

static inline int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	fx_redis_kill(fx, SIGTERM);
	log_open("test", NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	if (system(cmd) != 0)
		fprintf(stderr, "could not remove %s\n", fx->dir);
	free(fx);
	return 0;
}

/* How many lines of the log hold needle. */
static inline int
fx_log_count(const struct fx *fx, const char *needle)
{
	FILE *f = fopen(fx->log, "r");
	char line[2048];
	int n = 0;

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

#endif
