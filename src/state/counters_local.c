/*
 * counters_local.c - the single-node counter backend: counts in memory
 * under one mutex (a take is a few hash lookups), written to the state
 * database's counters table by a thread once a second and at close, and
 * read back at start so a restart keeps the day's counts.
 */
#include <pthread.h>
#include "db/db.h"
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "state/counters.h"
#include "state/state_internal.h"
#include "util/log.h"
#include "util/strhash.h"
#include "util/xmalloc.h"

#define LC_BUCKETS 1024

struct lc_entry {
	struct lc_entry *next;
	char      key[COUNTER_KEY_MAX];
	int       period;
	time_t    window;      /* start of the counted window */
	long long count;
	bool      dirty;
};

struct lc {
	struct counters  base;
	pthread_mutex_t  mu;
	pthread_cond_t   cv;
	pthread_t        flusher;
	bool             stop;
	struct db         *db;          /* the flusher's connection */
	struct lc_entry *buckets[LC_BUCKETS];
};

static unsigned
lc_hash(const char *key, int period)
{
	return (strhash(key, false) ^ (unsigned)period) % LC_BUCKETS;
}

static time_t
lc_window(time_t now, int period)
{
	return period > 0 ? now - now % period : 0;
}

/* The entry for key/period, or NULL. Called under mu. */
static struct lc_entry *
lc_entry_find(struct lc *lc, const char *key, int period)
{
	struct lc_entry *e;

	for (e = lc->buckets[lc_hash(key, period)]; e != NULL; e = e->next)
		if (e->period == period && strcmp(e->key, key) == 0)
			break;
	return e;
}

/* The entry for key/period, created when missing, its window moved to the
 * one holding now (a new window starts at 0). Called under mu. */
static struct lc_entry *
lc_entry_get(struct lc *lc, const char *key, int period, time_t now)
{
	unsigned h = lc_hash(key, period);
	struct lc_entry *e = lc_entry_find(lc, key, period);
	time_t w = lc_window(now, period);

	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		snprintf(e->key, sizeof(e->key), "%s", key);
		e->period = period;
		e->window = w;
		e->next = lc->buckets[h];
		lc->buckets[h] = e;
	}
	if (e->window != w) {
		e->window = w;
		e->count = 0;
		e->dirty = true;
	}
	return e;
}

static int
lc_take(struct counters *c, const struct counter_spec *specs, size_t n, long long amount,
    time_t now, struct counter_deny *deny)
{
	struct lc *lc = (struct lc *)c;
	struct lc_entry *e;
	size_t i;

	pthread_mutex_lock(&lc->mu);
	for (i = 0; i < n; i++) {
		e = lc_entry_get(lc, specs[i].key, specs[i].period, now);
		if (specs[i].limit > 0 && e->count + amount > specs[i].limit) {
			deny->index = i;
			deny->count = e->count;
			deny->limit = specs[i].limit;
			deny->reset = e->window + specs[i].period;
			pthread_mutex_unlock(&lc->mu);
			return 1;
		}
	}
	for (i = 0; i < n; i++) {
		e = lc_entry_get(lc, specs[i].key, specs[i].period, now);
		e->count += amount;
		e->dirty = true;
	}
	pthread_mutex_unlock(&lc->mu);
	return 0;
}

static void
lc_give(struct counters *c, const struct counter_spec *specs, size_t n, long long amount, time_t taken)
{
	struct lc *lc = (struct lc *)c;
	struct lc_entry *e;
	size_t i;

	pthread_mutex_lock(&lc->mu);
	for (i = 0; i < n; i++) {
		/* Only into the window taken from: once it has ended, the give
		 * would wrongly make room in the next one. */
		e = lc_entry_find(lc, specs[i].key, specs[i].period);
		if (e == NULL || e->window != lc_window(taken, specs[i].period))
			continue;
		e->count = e->count > amount ? e->count - amount : 0;
		e->dirty = true;
	}
	pthread_mutex_unlock(&lc->mu);
}

static long long
lc_get(struct counters *c, const char *key, int period, time_t now)
{
	struct lc *lc = (struct lc *)c;
	long long v;

	pthread_mutex_lock(&lc->mu);
	v = lc_entry_get(lc, key, period, now)->count;
	pthread_mutex_unlock(&lc->mu);
	return v;
}

/* Mark again the entries of a write that failed (those still in the
 * window written; one moved on is dirty already), for the next flush. */
static void
lc_redirty(struct lc *lc, const struct lc_entry *copy)
{
	struct lc_entry *e;

	pthread_mutex_lock(&lc->mu);
	for (; copy != NULL; copy = copy->next)
		if ((e = lc_entry_find(lc, copy->key, copy->period)) != NULL &&
		    e->window == copy->window)
			e->dirty = true;
	pthread_mutex_unlock(&lc->mu);
}

/* Write dirty entries in one transaction. The rows are copied under mu and
 * written outside it, so a take never waits for the disk. When the write
 * fails (the database busy past its timeout), they are written next time. */
static void
lc_flush(struct lc *lc)
{
	struct lc_entry *e, *copy = NULL, *next;
	struct db_stmt *stmt = NULL;
	bool ok;
	size_t i;

	pthread_mutex_lock(&lc->mu);
	for (i = 0; i < LC_BUCKETS; i++)
		for (e = lc->buckets[i]; e != NULL; e = e->next) {
			struct lc_entry *c;
			if (!e->dirty)
				continue;
			e->dirty = false;
			c = xmalloc(sizeof(*c));
			*c = *e;
			c->next = copy;
			copy = c;
		}
	pthread_mutex_unlock(&lc->mu);
	if (copy == NULL)
		return;
	ok = db_exec(lc->db, "BEGIN IMMEDIATE;") == DB_OK &&
	    db_prepare(lc->db, "INSERT INTO counters(key, period, window, count)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(key, period) DO UPDATE SET"
	    " window = excluded.window, count = excluded.count;", &stmt) == DB_OK;
	for (e = copy; ok && e != NULL; e = e->next) {
		db_reset(stmt);
		db_bind_text(stmt, 1, e->key, -1);
		db_bind_int(stmt, 2, e->period);
		db_bind_int64(stmt, 3, (long long)e->window);
		db_bind_int64(stmt, 4, e->count);
		ok = db_step(stmt) == DB_DONE;
	}
	db_finalize(stmt);
	if (ok)
		ok = db_exec(lc->db, "COMMIT;") == DB_OK;
	if (!ok) {
		log_warn("event=counters-write-failed error=\"%s\"", db_errmsg(lc->db));
		db_exec(lc->db, "ROLLBACK;");   /* none open: harmless */
		lc_redirty(lc, copy);
	}
	for (e = copy; e != NULL; e = next) {
		next = e->next;
		free(e);
	}
}

static void *
lc_flusher(void *arg)
{
	struct lc *lc = arg;
	struct timespec ts;

	pthread_mutex_lock(&lc->mu);
	while (!lc->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&lc->cv, &lc->mu, &ts);
		pthread_mutex_unlock(&lc->mu);
		lc_flush(lc);
		pthread_mutex_lock(&lc->mu);
	}
	pthread_mutex_unlock(&lc->mu);
	return NULL;
}

static void
lc_close(struct counters *c)
{
	struct lc *lc = (struct lc *)c;
	struct lc_entry *e, *next;
	size_t i;

	pthread_mutex_lock(&lc->mu);
	lc->stop = true;
	pthread_cond_signal(&lc->cv);
	pthread_mutex_unlock(&lc->mu);
	pthread_join(lc->flusher, NULL);
	lc_flush(lc);
	db_close(lc->db);
	for (i = 0; i < LC_BUCKETS; i++)
		for (e = lc->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	pthread_mutex_destroy(&lc->mu);
	pthread_cond_destroy(&lc->cv);
	free(lc);
}

static const struct counters_ops lc_ops = { lc_take, lc_give, lc_get, lc_close };

/* Counts of windows still open now come back; older rows are dropped. */
static void
lc_load(struct lc *lc, time_t now)
{
	struct db_stmt *stmt = NULL;
	struct lc_entry *e;

	if (db_prepare(lc->db, "SELECT key, period, window, count FROM counters;", &stmt) != DB_OK)
		return;
	while (db_step(stmt) == DB_ROW) {
		const char *key = (const char *)db_column_text(stmt, 0);
		int period = db_column_int(stmt, 1);
		time_t w = (time_t)db_column_int64(stmt, 2);
		if (key == NULL || period <= 0 || w != lc_window(now, period))
			continue;
		e = lc_entry_get(lc, key, period, now);
		e->count = db_column_int64(stmt, 3);
	}
	db_finalize(stmt);
}

struct counters *
counters_local_open(const char *db_path, char *err, size_t errlen)
{
	struct lc *lc = xcalloc(1, sizeof(*lc));

	lc->base.ops = &lc_ops;
	lc->db = state_db_connect(db_path, err, errlen);
	/* the table is the state schema's; a node-local file (PostgreSQL
	 * state without Redis: counters_open.c) makes it here */
	if (lc->db != NULL && db_exec(lc->db, "CREATE TABLE IF NOT EXISTS counters(key TEXT NOT NULL,"
	    " period INTEGER NOT NULL, window INTEGER NOT NULL, count INTEGER NOT NULL,"
	    " PRIMARY KEY(key, period));") != DB_OK) {
		snprintf(err, errlen, "%s: counters: %s", db_path, db_errmsg(lc->db));
		db_close(lc->db);
		lc->db = NULL;
	}
	if (lc->db == NULL) {
		free(lc);
		return NULL;
	}
	pthread_mutex_init(&lc->mu, NULL);
	pthread_cond_init(&lc->cv, NULL);
	lc_load(lc, time(NULL));
	if (pthread_create(&lc->flusher, NULL, lc_flusher, lc) != 0) {
		snprintf(err, errlen, "counters: cannot start the flush thread");
		db_close(lc->db);
		free(lc);
		return NULL;
	}
	return &lc->base;
}

long long
counters_db_read(const char *db_path, const char *key, int period, time_t now)
{
	char err[256];
	struct db *db = state_db_connect(db_path, err, sizeof(err));
	struct db_stmt *stmt = NULL;
	long long v = 0;

	if (db == NULL)
		return 0;
	if (db_prepare(db, "SELECT count FROM counters WHERE key = ?1 AND period = ?2"
	    " AND window = ?3;", &stmt) == DB_OK) {
		db_bind_text(stmt, 1, key, -1);
		db_bind_int(stmt, 2, period);
		db_bind_int64(stmt, 3, (long long)lc_window(now, period));
		if (db_step(stmt) == DB_ROW)
			v = db_column_int64(stmt, 0);
	}
	db_finalize(stmt);
	db_close(db);
	return v;
}
