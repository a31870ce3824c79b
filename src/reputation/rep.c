/*
 * rep.c - the reputation windows: rep_note adds to an in-memory table of
 * (tenant, metric, 5-minute bucket) deltas under one mutex; a thread adds
 * them to the state database's reputation table once a second (an upsert
 * count = count + delta, so nothing needs loading at start), prunes
 * buckets older than REP_KEEP once an hour, and, when asked, evaluates
 * the tenants that had activity every few seconds.
 * Reads (rep_totals) sum the database and the deltas not yet written; a
 * read-write lock keeps a read from seeing a batch twice (written and
 * still pending) while the thread writes it.
 * SECURITY: metric names are ferry's (and the classifier's categories);
 * values are bound parameters.
 */
#include <pthread.h>
#include "db/db.h"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "analytics/analytics.h"
#include "reputation/rep.h"
#include "reputation/rep_internal.h"
#include "state/events.h"
#include "state/state_internal.h"
#include "util/log.h"
#include "util/strhash.h"
#include "util/xmalloc.h"

#define REP_HASH        1024
#define REP_EVAL_EVERY  5        /* seconds between evaluations of active tenants */
#define REP_PRUNE_EVERY 3600

struct rep_entry {
	struct rep_entry *next;
	long long tenant;
	time_t    bucket;
	long long count;
	char      metric[REP_METRIC_MAX + 1];
};

struct rep_table {
	struct rep_entry *heads[REP_HASH];
	size_t            n;
};

/* The tenants noted since the last evaluation: an open-addressing hash
 * set (0 marks a free slot; tenant ids start at 1), so rep_note, on the
 * SMTP and delivery paths, adds in constant time under the mutex whatever
 * the number of active tenants. */
struct rep_set {
	long long *slots;
	size_t     n, cap;              /* cap a power of two, 0 before the first add */
};

struct rep {
	pthread_mutex_t   mu;          /* pending, active, global, stop, autoeval */
	pthread_cond_t    cv;
	pthread_rwlock_t  flush_lock;  /* write: a batch is being written */
	pthread_t         thread;
	bool              stop, autoeval;
	struct db          *db;          /* the thread's connection */
	char             *db_path;
	struct state     *st;
	struct rep_limits global;
	struct rep_table *pending;     /* not yet written */
	struct rep_set    active;      /* tenants noted since the last evaluation */
};

time_t
rep_bucket(time_t t)
{
	return t - t % REP_BUCKET;
}

static unsigned
rep_hash(long long tenant, const char *metric, time_t bucket)
{
	return (strhash(metric, false) ^ (unsigned)tenant * 2654435761u ^ (unsigned)(bucket / REP_BUCKET)) %
	    REP_HASH;
}

static void
rep_table_add(struct rep_table *t, long long tenant, const char *metric, time_t bucket, long long n)
{
	unsigned h = rep_hash(tenant, metric, bucket);
	struct rep_entry *e;

	for (e = t->heads[h]; e != NULL; e = e->next)
		if (e->tenant == tenant && e->bucket == bucket && strcmp(e->metric, metric) == 0) {
			e->count += n;
			return;
		}
	e = xcalloc(1, sizeof(*e));
	e->tenant = tenant;
	e->bucket = bucket;
	e->count = n;
	snprintf(e->metric, sizeof(e->metric), "%s", metric);
	e->next = t->heads[h];
	t->heads[h] = e;
	t->n++;
}

static void
rep_table_free(struct rep_table *t)
{
	struct rep_entry *e, *next;

	if (t == NULL)
		return;
	for (size_t i = 0; i < REP_HASH; i++)
		for (e = t->heads[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	free(t);
}

/* Add id (> 0) to set s, unless it is in already. */
static void
rep_set_add(struct rep_set *s, long long id)
{
	size_t mask, i;

	if (id <= 0)
		return;   /* no tenant has it; 0 would read as a free slot */
	if (2 * (s->n + 1) > s->cap) {   /* at most half full: short probes */
		struct rep_set grown = { .cap = s->cap ? s->cap * 2 : 64 };
		grown.slots = xcalloc(grown.cap, sizeof(*grown.slots));
		for (i = 0; i < s->cap; i++)
			if (s->slots[i] != 0)
				rep_set_add(&grown, s->slots[i]);
		free(s->slots);
		*s = grown;
	}
	mask = s->cap - 1;
	for (i = (size_t)((unsigned long long)id * 11400714819323198485ull >> 32) & mask;
	    s->slots[i] != 0; i = (i + 1) & mask)
		if (s->slots[i] == id)
			return;
	s->slots[i] = id;
	s->n++;
}

/* Remember tenant for the next evaluation. Called under mu. */
static void
rep_active_add(struct rep *r, long long tenant)
{
	rep_set_add(&r->active, tenant);
}

void
rep_note(struct rep *r, long long tenant_id, const char *metric, long long n, time_t now)
{
	char m[REP_METRIC_MAX + 1];

	if (r == NULL || n == 0)
		return;
	snprintf(m, sizeof(m), "%s", metric);
	pthread_mutex_lock(&r->mu);
	rep_table_add(r->pending, tenant_id, m, rep_bucket(now), n);
	rep_active_add(r, tenant_id);
	pthread_mutex_unlock(&r->mu);
}

void
rep_note_bounce(struct rep *r, long long tenant_id, const char *category, bool hard, bool unknown,
    time_t now)
{
	char m[REP_METRIC_MAX + 1];

	rep_note(r, tenant_id, REP_BOUNCED, 1, now);
	if (hard)
		rep_note(r, tenant_id, REP_HARD, 1, now);
	if (unknown)
		rep_note(r, tenant_id, REP_UNKNOWN, 1, now);
	if (category != NULL && category[0] != '\0') {
		snprintf(m, sizeof(m), "%s%.*s", REP_CATEGORY_PREFIX, REP_CATEGORY_MAX, category);
		rep_note(r, tenant_id, m, 1, now);
	}
}

/* Add a batch to the database in one transaction. 0 or -1. */
static int
rep_table_write(struct db *db, const struct rep_table *t)
{
	struct db_stmt *stmt = NULL;
	const struct rep_entry *e;
	bool ok;

	ok = db_exec(db, "BEGIN IMMEDIATE;") == DB_OK &&
	    db_prepare(db, "INSERT INTO reputation(tenant_id, metric, bucket, count)"
	    " VALUES (?1, ?2, ?3, ?4) ON CONFLICT(tenant_id, metric, bucket)"
	    " DO UPDATE SET count = reputation.count + excluded.count;", &stmt) == DB_OK;
	for (size_t i = 0; ok && i < REP_HASH; i++)
		for (e = t->heads[i]; ok && e != NULL; e = e->next) {
			db_reset(stmt);
			db_bind_int64(stmt, 1, e->tenant);
			db_bind_text(stmt, 2, e->metric, -1);
			db_bind_int64(stmt, 3, (long long)e->bucket);
			db_bind_int64(stmt, 4, e->count);
			ok = db_step(stmt) == DB_DONE;
		}
	db_finalize(stmt);
	if (ok)
		ok = db_exec(db, "COMMIT;") == DB_OK;
	if (!ok)
		db_exec(db, "ROLLBACK;");
	return ok ? 0 : -1;
}

/* Write the pending deltas through db: the thread's connection, or one of
 * the caller's own (rep_flush). A batch that cannot be written goes back
 * into the pending table for the next flush. 0 or -1. */
static int
rep_flush_with(struct rep *r, struct db *db)
{
	struct rep_table *batch;
	struct rep_entry *e;
	int rc = 0;

	pthread_rwlock_wrlock(&r->flush_lock);
	pthread_mutex_lock(&r->mu);
	batch = r->pending;
	if (batch->n > 0)
		r->pending = xcalloc(1, sizeof(*r->pending));
	pthread_mutex_unlock(&r->mu);
	if (batch->n == 0) {
		pthread_rwlock_unlock(&r->flush_lock);
		return 0;
	}
	if (rep_table_write(db, batch) != 0) {
		log_warn("event=reputation-write-failed error=\"%s\"", db_errmsg(db));
		pthread_mutex_lock(&r->mu);
		for (size_t i = 0; i < REP_HASH; i++)
			for (e = batch->heads[i]; e != NULL; e = e->next)
				rep_table_add(r->pending, e->tenant, e->metric, e->bucket, e->count);
		pthread_mutex_unlock(&r->mu);
		rc = -1;
	}
	pthread_rwlock_unlock(&r->flush_lock);
	rep_table_free(batch);
	return rc;
}

int
rep_flush(struct rep *r)
{
	char err[256];
	struct db *db = state_db_connect(r->db_path, err, sizeof(err));
	int rc;

	if (db == NULL)
		return -1;
	rc = rep_flush_with(r, db);
	db_close(db);
	return rc;
}

/* Add the pending deltas of tenant in [first, last] buckets to out's
 * metrics. Called under mu. */
static void
rep_pending_sum(struct rep *r, long long tenant, time_t first, time_t last, struct rep_sums *out)
{
	const struct rep_entry *e;

	for (size_t i = 0; i < REP_HASH; i++)
		for (e = r->pending->heads[i]; e != NULL; e = e->next)
			if (e->tenant == tenant && e->bucket >= first && e->bucket <= last)
				rep_sums_add(out, e->metric, e->count);
}

int
rep_totals_n(struct rep *r, long long tenant_id, const int *seconds, const time_t *since,
    size_t n, time_t now, struct rep_totals *out)
{
	struct rep_sums sums[REP_SUMS_MAX];
	time_t first[REP_SUMS_MAX], last = rep_bucket(now);
	char err[256];
	struct db *own = NULL, *db = r->st != NULL ? state_db(r->st) : NULL;
	int rc;

	if (n == 0 || n > REP_SUMS_MAX)
		return -1;
	memset(sums, 0, sizeof(sums));
	for (size_t i = 0; i < n; i++)
		first[i] = rep_window_first(seconds[i], since[i], now);
	if (db == NULL && (db = own = state_db_connect(r->db_path, err, sizeof(err))) == NULL)
		return -1;
	pthread_rwlock_rdlock(&r->flush_lock);
	rc = rep_sums_query(db, tenant_id, first, n, last, sums);
	if (rc == 0) {
		pthread_mutex_lock(&r->mu);
		for (size_t i = 0; i < n; i++)
			rep_pending_sum(r, tenant_id, first[i], last, &sums[i]);
		pthread_mutex_unlock(&r->mu);
	}
	pthread_rwlock_unlock(&r->flush_lock);
	if (own != NULL)
		db_close(own);
	for (size_t i = 0; i < n; i++) {
		if (rc == 0)
			rep_sums_totals(&sums[i], &out[i]);
		rep_sums_free(&sums[i]);
	}
	return rc;
}

int
rep_totals(struct rep *r, long long tenant_id, int seconds, time_t since, time_t now,
    struct rep_totals *out)
{
	return rep_totals_n(r, tenant_id, &seconds, &since, 1, now, out);
}

/* The tenants noted since the last call, as a set the caller owns. */
static struct rep_set
rep_active_take(struct rep *r)
{
	struct rep_set taken;

	pthread_mutex_lock(&r->mu);
	taken = r->active;
	memset(&r->active, 0, sizeof(r->active));
	pthread_mutex_unlock(&r->mu);
	return taken;
}

size_t
rep_evaluate_active(struct rep *r, time_t now)
{
	struct rep_set taken = rep_active_take(r);
	size_t kept = 0;

	for (size_t i = 0; i < taken.cap; i++) {
		if (taken.slots[i] == 0 || rep_evaluate(r, r->st, taken.slots[i], now) >= 0)
			continue;
		/* not evaluated (database busy): its evidence is still there,
		 * so it goes in again for the next round, not at its next mail */
		pthread_mutex_lock(&r->mu);
		rep_active_add(r, taken.slots[i]);
		pthread_mutex_unlock(&r->mu);
		kept++;
	}
	free(taken.slots);
	return kept;
}

static void
rep_prune_db(struct db *db, time_t now)
{
	struct db_stmt *stmt = NULL;

	if (db_prepare(db, "DELETE FROM reputation WHERE bucket < ?1;", &stmt) ==
	    DB_OK) {
		db_bind_int64(stmt, 1, (long long)rep_bucket(now - REP_KEEP));
		if (db_step(stmt) != DB_DONE)
			log_warn("event=reputation-prune-failed error=\"%s\"", db_errmsg(db));
	}
	db_finalize(stmt);
	stmt = NULL;
	if (db_prepare(db, "DELETE FROM events WHERE time < ?1;", &stmt) == DB_OK) {
		db_bind_int64(stmt, 1, (long long)(now - EVENTS_KEEP));
		if (db_step(stmt) != DB_DONE)
			log_warn("event=events-prune-failed error=\"%s\"", db_errmsg(db));
	}
	db_finalize(stmt);
	analytics_prune(db, now);     /* the statistics live as long as the events */
}

int
rep_prune(const char *db_path, time_t now)
{
	char err[256];
	struct db *db = state_db_connect(db_path, err, sizeof(err));

	if (db == NULL)
		return -1;
	rep_prune_db(db, now);
	db_close(db);
	return 0;
}

static void *
rep_thread(void *arg)
{
	struct rep *r = arg;
	struct timespec ts;
	time_t last_eval = 0, last_prune = time(NULL), now;   /* prune an hour in */
	bool eval;

	pthread_mutex_lock(&r->mu);
	while (!r->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 1;
		pthread_cond_timedwait(&r->cv, &r->mu, &ts);
		eval = r->autoeval && r->st != NULL;
		pthread_mutex_unlock(&r->mu);
		now = time(NULL);
		rep_flush_with(r, r->db);
		if (eval && now - last_eval >= REP_EVAL_EVERY) {
			last_eval = now;
			rep_evaluate_active(r, now);
		}
		if (now - last_prune >= REP_PRUNE_EVERY) {
			last_prune = now;
			rep_prune_db(r->db, now);
		}
		pthread_mutex_lock(&r->mu);
	}
	pthread_mutex_unlock(&r->mu);
	return NULL;
}

struct rep *
rep_open(const char *db_path, struct state *st, const struct rep_limits *global,
    char *err, size_t errlen)
{
	struct rep *r = xcalloc(1, sizeof(*r));

	r->db = state_db_connect(db_path, err, errlen);
	if (r->db == NULL) {
		free(r);
		return NULL;
	}
	r->db_path = xstrdup(db_path);
	r->st = st;
	r->global = *global;
	r->pending = xcalloc(1, sizeof(*r->pending));
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	pthread_rwlock_init(&r->flush_lock, NULL);
	if (pthread_create(&r->thread, NULL, rep_thread, r) != 0) {
		snprintf(err, errlen, "reputation: cannot start its thread");
		db_close(r->db);
		free(r->pending);
		free(r->db_path);
		free(r);
		return NULL;
	}
	return r;
}

void
rep_close(struct rep *r)
{
	if (r == NULL)
		return;
	pthread_mutex_lock(&r->mu);
	r->stop = true;
	pthread_cond_signal(&r->cv);
	pthread_mutex_unlock(&r->mu);
	pthread_join(r->thread, NULL);
	rep_flush_with(r, r->db);
	db_close(r->db);
	rep_table_free(r->pending);
	free(r->active.slots);
	free(r->db_path);
	pthread_rwlock_destroy(&r->flush_lock);
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r);
}

void
rep_limits_set(struct rep *r, const struct rep_limits *global)
{
	pthread_mutex_lock(&r->mu);
	r->global = *global;
	pthread_mutex_unlock(&r->mu);
}

void
rep_limits_get(struct rep *r, struct rep_limits *out)
{
	pthread_mutex_lock(&r->mu);
	*out = r->global;
	pthread_mutex_unlock(&r->mu);
}

void
rep_autoeval(struct rep *r, bool on)
{
	pthread_mutex_lock(&r->mu);
	r->autoeval = on;
	pthread_mutex_unlock(&r->mu);
}

struct state *
rep_state(struct rep *r)
{
	return r->st;
}
