/*
 * counters_redis.h - the shared counter backend on Redis (counters_redis.c)
 * for several ferryd nodes, and the memory-only backend (counters_mem.c) it
 * falls back to under `counters_failure open` while Redis is unreachable.
 * Both implement struct counters_ops (counters.h); most callers get one
 * through counters_open (counters_open.h) and know neither.
 */
#ifndef FERRY_STATE_COUNTERS_REDIS_H
#define FERRY_STATE_COUNTERS_REDIS_H

#include <stdbool.h>
#include <stddef.h>
#include <time.h>

#include "state/counters.h"

/* Counters in the Redis server at uri (redis://..., util/redis_uri.h).
 * fail_open: while Redis is unreachable, count in memory on this node (not
 * shared) instead of failing (take -1). A server that cannot be reached at
 * open is not an error (it is retried with backoff); NULL + err only for a
 * bad URI or a server that refuses the password or database. */
struct counters *counters_redis_open(const char *uri, bool fail_open, char *err, size_t errlen);

/* The count of key's current window read from the server at uri with a
 * connection of its own (ferryctl, the API): -1 when it cannot be read. */
long long counters_redis_read(const char *uri, const char *key, int period, time_t now);

/* The state cache (state_cache.c) keeps its entries in the counters'
 * server and goes through their pooled connections, so both share one
 * view of an outage (fail fast while backing off). c must be a
 * counters_redis_open one (counters_is_redis). Replies are hiredis's
 * (freeReplyObject), NULL while Redis cannot be reached. */
struct redisReply;
bool counters_is_redis(const struct counters *c);
struct redisReply *counters_redis_command(struct counters *c, int argc, const char **argv);
/* The Lua script text (sha: counters_redis_sha1 of it) by EVALSHA, by EVAL
 * when the server does not know it; argv[0] and argv[1] are set here. */
struct redisReply *counters_redis_eval(struct counters *c, const char *text, const char *sha,
    int argc, const char **argv);
void counters_redis_sha1(const char *text, char sha[41]);
/* One command on a connection of its own, closed after (ferryctl). */
struct redisReply *counters_redis_once(const char *uri, int argc, const char **argv);

/* Counts in memory only, lost at exit. */
struct counters *counters_mem_open(void);

/* One window a memory backend holds (counters_mem_drain). */
struct counters_mem_row {
	char      key[COUNTER_KEY_MAX];
	int       period;
	time_t    window;     /* its start */
	long long count;
};

/* Empty c (a counters_mem_open one) and return what it held of the windows
 * current at now (*n rows, malloc'd; NULL when none). */
struct counters_mem_row *counters_mem_drain(struct counters *c, time_t now, size_t *n);

#endif
