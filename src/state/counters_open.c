/*
 * counters_open.c - pick the counter backend a configuration names
 * (counters_open.h): this node's own (counters_local.c, the default) or
 * Redis shared by several nodes (counters_redis.c).
 * SECURITY: the redis:// URI may carry a password; it reaches only the
 * backend, which logs it masked.
 */
#include "state/counters_open.h"

#include <string.h>

#include "conf/conf.h"
#include "state/counters_redis.h"

bool
counters_conf_shared(const struct conf *c)
{
	return c->counters != NULL && strcmp(c->counters, "local") != 0;
}

struct counters *
counters_open(const struct conf *c, char *err, size_t errlen)
{
	if (!counters_conf_shared(c))
		return counters_local_open(c->state_db, err, errlen);
	return counters_redis_open(c->counters, c->counters_fail_open, err, errlen);
}

long long
counters_usage_read(const struct conf *c, const char *key, int period, time_t now)
{
	if (!counters_conf_shared(c))
		return counters_db_read(c->state_db, key, period, now);
	return counters_redis_read(c->counters, key, period, now);
}
