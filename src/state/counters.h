/*
 * counters.h - fixed-window counters for rate limits and warm-up caps.
 * Callers name a counter by a key ("t:12" tenant, "a:3" account, "k:5" API
 * key, "c:2" connector, "w:127.0.0.2" a source address) and a period (60,
 * 3600, 86400 seconds; windows are aligned to the epoch, so a day is a UTC
 * day). The backend is behind struct counters_ops so a shared one (Redis,
 * for several ferryd nodes) replaces the local one without touching the
 * callers: `take` must be atomic across every window it is given.
 *
 * The local backend keeps counts in memory under one mutex and writes them
 * to the state database (table counters) every second and at close, so a
 * restart does not reset a day's count and `ferryctl tenant show` can read
 * usage (at most a second old).
 */
#ifndef FERRY_STATE_COUNTERS_H
#define FERRY_STATE_COUNTERS_H

#include <stddef.h>
#include <time.h>

#define COUNTER_KEY_MAX 96

struct counter_spec {
	char      key[COUNTER_KEY_MAX];
	int       period;       /* seconds */
	long long limit;        /* 0: no limit (counted all the same) */
};

/* Why take refused: the first full window. */
struct counter_deny {
	size_t    index;        /* into the specs given */
	long long count, limit;
	time_t    reset;        /* when that window ends */
};

struct counters;
struct counters_ops {
	/* If every window has room for n more, add n to all and return 0;
	 * else add nothing, fill deny and return 1. -1 on a backend error. */
	int       (*take)(struct counters *c, const struct counter_spec *specs, size_t nspecs,
	              long long n, time_t now, struct counter_deny *deny);
	/* Give back n taken at time taken (the now of that take): only while
	 * the window that held it is still the current one, else nothing. */
	void      (*give)(struct counters *c, const struct counter_spec *specs, size_t nspecs,
	              long long n, time_t taken);
	/* The count of key's current window (0 when none). */
	long long (*get)(struct counters *c, const char *key, int period, time_t now);
	void      (*close)(struct counters *c);
};

struct counters {
	const struct counters_ops *ops;
};

/* The local backend, persisted into the SQLite database at db_path (the
 * state database). NULL + err on failure. */
struct counters *counters_local_open(const char *db_path, char *err, size_t errlen);

static inline int
counters_take(struct counters *c, const struct counter_spec *s, size_t n, long long amount,
    time_t now, struct counter_deny *deny)
{
	return c->ops->take(c, s, n, amount, now, deny);
}
static inline void
counters_give(struct counters *c, const struct counter_spec *s, size_t n, long long amount, time_t taken)
{
	c->ops->give(c, s, n, amount, taken);
}
static inline long long
counters_get(struct counters *c, const char *key, int period, time_t now)
{
	return c->ops->get(c, key, period, now);
}
static inline void
counters_close(struct counters *c)
{
	if (c != NULL)
		c->ops->close(c);
}

/* Read a counter straight from the database (ferryctl: no ferryd needed). */
long long counters_db_read(const char *db_path, const char *key, int period, time_t now);

#endif
