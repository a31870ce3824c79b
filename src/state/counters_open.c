/*
 * counters_open.c - pick the counter backend a configuration names
 * (counters_open.h): this node's own (counters_local.c, the default) or
 * Redis shared by several nodes (counters_redis.c).
 * SECURITY: the redis:// URI may carry a password; it reaches only the
 * backend, which logs it masked.
 */
#include "state/counters_open.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "db/db.h"
#include "util/xmalloc.h"
#include "state/counters_redis.h"

static char *
counters_path_join(const char *dir, const char *name)
{
	size_t n = strlen(dir) + strlen(name) + 2;
	char *p = xmalloc(n);

	snprintf(p, n, "%s/%s", dir, name);
	return p;
}

/* Local counters live in the SQLite state; beside PostgreSQL state they
 * are the node's own (each node counts alone without Redis), in a file of
 * its spool rather than rows the nodes would overwrite in turn. */
static char *
counters_local_path(const struct conf *c)
{
	return db_is_pg_uri(c->state_db) ? counters_path_join(c->spool_dir, "counters.db") : xstrdup(c->state_db);
}

bool
counters_conf_shared(const struct conf *c)
{
	return c->counters != NULL && strcmp(c->counters, "local") != 0;
}

struct counters *
counters_open(const struct conf *c, char *err, size_t errlen)
{
	struct counters *k;
	char *path;

	if (!counters_conf_shared(c)) {
		path = counters_local_path(c);
		k = counters_local_open(path, err, errlen);
		free(path);
		return k;
	}
	return counters_redis_open(c->counters, c->counters_fail_open, err, errlen);
}

long long
counters_usage_read(const struct conf *c, const char *key, int period, time_t now)
{
	long long v;
	char *path;

	if (!counters_conf_shared(c)) {
		path = counters_local_path(c);
		v = counters_db_read(path, key, period, now);
		free(path);
		return v;
	}
	return counters_redis_read(c->counters, key, period, now);
}
