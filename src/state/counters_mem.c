/*
 * counters_mem.c - counters held in memory only (counters_redis.h): the
 * fail-open stand-in while a shared Redis is unreachable. Fixed windows
 * aligned to the epoch as every backend's; one mutex; nothing persisted
 * (the shared server is the record, and counters_redis.c drains what was
 * counted here into it when it comes back).
 * SECURITY: keys come from ferry's own callers; the table grows with the
 * keys they count (tenants, subjects, addresses, providers).
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/counters_redis.h"
#include "util/strhash.h"
#include "util/xmalloc.h"

#define CM_BUCKETS 256

struct cm_entry {
	struct cm_entry *next;
	char      key[COUNTER_KEY_MAX];
	int       period;
	time_t    window;
	long long count;
};

struct cm {
	struct counters  base;
	pthread_mutex_t  mu;
	struct cm_entry *buckets[CM_BUCKETS];
};

static time_t
cm_window(time_t now, int period)
{
	return period > 0 ? now - now % period : 0;
}

static unsigned
cm_hash(const char *key, int period)
{
	return (strhash(key, false) ^ (unsigned)period) % CM_BUCKETS;
}

/* The entry for key/period, or NULL. Called under mu. */
static struct cm_entry *
cm_find(struct cm *cm, const char *key, int period)
{
	struct cm_entry *e;

	for (e = cm->buckets[cm_hash(key, period)]; e != NULL; e = e->next)
		if (e->period == period && strcmp(e->key, key) == 0)
			break;
	return e;
}

/* The entry for key/period in the window of now (made or reset). Under mu. */
static struct cm_entry *
cm_get(struct cm *cm, const char *key, int period, time_t now)
{
	struct cm_entry *e = cm_find(cm, key, period);
	unsigned h = cm_hash(key, period);

	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->period = period;
		e->next = cm->buckets[h];
		cm->buckets[h] = e;
		e->window = cm_window(now, period);
	}
	if (e->window != cm_window(now, period)) {
		e->window = cm_window(now, period);
		e->count = 0;
	}
	return e;
}

static int
cm_take(struct counters *c, const struct counter_spec *specs, size_t n, long long amount, time_t now,
    struct counter_deny *deny)
{
	struct cm *cm = (struct cm *)c;
	struct cm_entry *e;

	pthread_mutex_lock(&cm->mu);
	for (size_t i = 0; i < n; i++) {
		e = cm_get(cm, specs[i].key, specs[i].period, now);
		if (specs[i].limit > 0 && e->count + amount > specs[i].limit) {
			deny->index = i;
			deny->count = e->count;
			deny->limit = specs[i].limit;
			deny->reset = e->window + specs[i].period;
			pthread_mutex_unlock(&cm->mu);
			return 1;
		}
	}
	for (size_t i = 0; i < n; i++)
		cm_get(cm, specs[i].key, specs[i].period, now)->count += amount;
	pthread_mutex_unlock(&cm->mu);
	return 0;
}

static void
cm_give(struct counters *c, const struct counter_spec *specs, size_t n, long long amount, time_t taken)
{
	struct cm *cm = (struct cm *)c;
	struct cm_entry *e;

	pthread_mutex_lock(&cm->mu);
	for (size_t i = 0; i < n; i++) {
		/* only into the window taken from (see counters_local.c) */
		e = cm_find(cm, specs[i].key, specs[i].period);
		if (e != NULL && e->window == cm_window(taken, specs[i].period))
			e->count = e->count > amount ? e->count - amount : 0;
	}
	pthread_mutex_unlock(&cm->mu);
}

static long long
cm_read(struct counters *c, const char *key, int period, time_t now)
{
	struct cm *cm = (struct cm *)c;
	struct cm_entry *e;
	long long v;

	pthread_mutex_lock(&cm->mu);
	e = cm_find(cm, key, period);
	v = e != NULL && e->window == cm_window(now, period) ? e->count : 0;
	pthread_mutex_unlock(&cm->mu);
	return v;
}

/* Free every entry, handing those of current windows with a count to out
 * (when not NULL). Called under mu. */
static size_t
cm_empty(struct cm *cm, time_t now, struct counters_mem_row **out)
{
	size_t n = 0, cap = 0;

	for (size_t i = 0; i < CM_BUCKETS; i++) {
		struct cm_entry *e, *next;
		for (e = cm->buckets[i]; e != NULL; e = next) {
			next = e->next;
			if (out != NULL && e->count > 0 && e->window == cm_window(now, e->period)) {
				if (n == cap) {
					cap = cap ? cap * 2 : 16;
					*out = xrealloc(*out, cap * sizeof(**out));
				}
				memcpy((*out)[n].key, e->key, sizeof(e->key));
				(*out)[n].period = e->period;
				(*out)[n].window = e->window;
				(*out)[n].count = e->count;
				n++;
			}
			free(e);
		}
		cm->buckets[i] = NULL;
	}
	return n;
}

struct counters_mem_row *
counters_mem_drain(struct counters *c, time_t now, size_t *n)
{
	struct cm *cm = (struct cm *)c;
	struct counters_mem_row *rows = NULL;

	pthread_mutex_lock(&cm->mu);
	*n = cm_empty(cm, now, &rows);
	pthread_mutex_unlock(&cm->mu);
	return rows;
}

static void
cm_close(struct counters *c)
{
	struct cm *cm = (struct cm *)c;

	cm_empty(cm, 0, NULL);
	pthread_mutex_destroy(&cm->mu);
	free(cm);
}

static const struct counters_ops cm_ops = { cm_take, cm_give, cm_read, cm_close };

struct counters *
counters_mem_open(void)
{
	struct cm *cm = xcalloc(1, sizeof(*cm));

	cm->base.ops = &cm_ops;
	pthread_mutex_init(&cm->mu, NULL);
	return &cm->base;
}
