/*
 * analytics.c - the statistics observer of the events outbox: each event
 * adds to an in-memory table of (tenant, hour, domain, source address)
 * counters and (tenant, hour, domain, category) bounce counts under one
 * mutex; a thread swaps the tables out every ANALYTICS_FLUSH_SECONDS (or
 * sooner when they fill) and adds them to stats_hourly / stats_bounces
 * in one transaction (an upsert count = count + delta, so nothing is
 * loaded at start and several writers may add to one row).
 * SECURITY: see analytics.h; the text of events is cut to the columns'
 * maximums before it is kept.
 */
#include "analytics/analytics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/events.h"
#include "state/state_internal.h"
#include "util/log.h"
#include "util/strhash.h"
#include "util/xmalloc.h"

#define AN_HASH 4096

struct an_hourly {
	struct an_hourly *next;
	long long tenant;
	time_t    hour;
	long long count[AN_NCOUNTERS];
	char      domain[ANALYTICS_DOMAIN_MAX + 1];
	char      ip[ANALYTICS_IP_MAX + 1];
};

struct an_bounce {
	struct an_bounce *next;
	long long tenant;
	time_t    hour;
	long long count;
	char      domain[ANALYTICS_DOMAIN_MAX + 1];
	char      category[ANALYTICS_CATEGORY_MAX + 1];
	char      status[16];
	char     *sample;        /* the latest reply ("" none), malloc'd */
};

/* One generation of pending counts: swapped out whole by the flush. */
struct an_table {
	struct an_hourly *hourly[AN_HASH];
	struct an_bounce *bounces[AN_HASH];
	size_t            n;             /* keys of both kinds */
};

struct analytics {
	pthread_mutex_t     mu;          /* pending, stop, dropped */
	pthread_cond_t      cv;
	pthread_mutex_t     write_mu;    /* one flush at a time (thread, close, tests) */
	pthread_t           thread;
	bool                started, stop;
	struct an_table    *pending;
	unsigned long long  dropped, dropped_logged;
	struct db            *db;
};

void
analytics_domain_of(const char *rcpt, char *out, size_t outsz)
{
	const char *at = strrchr(rcpt, '@');
	size_t n = 0;

	if (at != NULL)
		for (at++; *at != '\0' && *at != '>' && n + 1 < outsz; at++)
			out[n++] = (char)(*at >= 'A' && *at <= 'Z' ? *at + 32 : *at);
	/* "example.com." is example.com */
	if (n > 0 && out[n - 1] == '.')
		n--;
	out[n] = '\0';
}

static unsigned
an_hash(long long tenant, time_t hour, const char *a, const char *b)
{
	unsigned h = strhash(a, false) * 31u + strhash(b, false);

	return (h ^ (unsigned)tenant * 2654435761u ^ (unsigned)(hour / 3600)) % AN_HASH;
}

/* The entry for the key, made when missing; NULL when memory is full (mu held). */
static struct an_hourly *
an_hourly_get(struct analytics *a, long long tenant, time_t hour, const char *domain, const char *ip)
{
	unsigned h = an_hash(tenant, hour, domain, ip);
	struct an_hourly *e;

	for (e = a->pending->hourly[h]; e != NULL; e = e->next)
		if (e->tenant == tenant && e->hour == hour && strcmp(e->domain, domain) == 0 &&
		    strcmp(e->ip, ip) == 0)
			return e;
	if (a->pending->n >= ANALYTICS_KEYS_MAX)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->tenant = tenant;
	e->hour = hour;
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->ip, sizeof(e->ip), "%s", ip);
	e->next = a->pending->hourly[h];
	a->pending->hourly[h] = e;
	a->pending->n++;
	return e;
}

static struct an_bounce *
an_bounce_get(struct analytics *a, long long tenant, time_t hour, const char *domain, const char *cat)
{
	unsigned h = an_hash(tenant, hour, domain, cat);
	struct an_bounce *e;

	for (e = a->pending->bounces[h]; e != NULL; e = e->next)
		if (e->tenant == tenant && e->hour == hour && strcmp(e->domain, domain) == 0 &&
		    strcmp(e->category, cat) == 0)
			return e;
	if (a->pending->n >= ANALYTICS_KEYS_MAX)
		return NULL;
	e = xcalloc(1, sizeof(*e));
	e->tenant = tenant;
	e->hour = hour;
	snprintf(e->domain, sizeof(e->domain), "%s", domain);
	snprintf(e->category, sizeof(e->category), "%s", cat);
	e->sample = xstrdup("");
	e->next = a->pending->bounces[h];
	a->pending->bounces[h] = e;
	a->pending->n++;
	return e;
}

/* Which counter an event kind adds to; -1 for kinds not counted. */
static int
an_counter_of(const char *kind)
{
	static const char *const kinds[AN_NCOUNTERS] = { EV_RECEIVED, EV_DELIVERED, EV_DEFERRED,
	    EV_BOUNCED, EV_EXPIRED, EV_COMPLAINED, EV_SUPPRESSED };

	for (int i = 0; i < AN_NCOUNTERS; i++)
		if (strcmp(kind, kinds[i]) == 0)
			return i;
	return -1;
}

/* A bounce's category and latest reply (mu held). false: memory full. */
static bool
an_bounce_note(struct analytics *a, const struct state_event *ev, time_t hour, const char *domain)
{
	const char *cat = ev->category != NULL && ev->category[0] != '\0' ? ev->category : ANALYTICS_UNCLASSIFIED;
	char catbuf[ANALYTICS_CATEGORY_MAX + 1];
	struct an_bounce *b;

	snprintf(catbuf, sizeof(catbuf), "%s", cat);
	if ((b = an_bounce_get(a, ev->tenant_id, hour, domain, catbuf)) == NULL)
		return false;
	b->count++;
	if (ev->detail != NULL && ev->detail[0] != '\0') {     /* the latest wins */
		free(b->sample);
		b->sample = xstrndup(ev->detail, strnlen(ev->detail, ANALYTICS_SAMPLE_MAX));
		snprintf(b->status, sizeof(b->status), "%s", ev->status != NULL ? ev->status : "");
	}
	return true;
}

void
analytics_event_note(void *arg, const struct state_event *ev)
{
	struct analytics *a = arg;
	char domain[ANALYTICS_DOMAIN_MAX + 1], ip[ANALYTICS_IP_MAX + 1];
	int which = an_counter_of(ev->kind != NULL ? ev->kind : "");
	time_t t = ev->time != 0 ? ev->time : time(NULL), hour = t - t % 3600;
	struct an_hourly *e;
	bool ok;

	if (which < 0)
		return;
	analytics_domain_of(ev->rcpt != NULL ? ev->rcpt : "", domain, sizeof(domain));
	/* where mail came in is no source address of its delivery: a
	 * received recipient counts under "" until it goes out */
	snprintf(ip, sizeof(ip), "%s", which != AN_SENT && ev->source_ip != NULL ? ev->source_ip : "");
	pthread_mutex_lock(&a->mu);
	ok = (e = an_hourly_get(a, ev->tenant_id, hour, domain, ip)) != NULL;
	if (ok)
		e->count[which]++;
	if (ok && which == AN_BOUNCED)
		ok = an_bounce_note(a, ev, hour, domain);
	if (!ok)
		a->dropped++;
	if (a->pending->n >= ANALYTICS_KEYS_MAX / 2)
		pthread_cond_signal(&a->cv);           /* flush early */
	pthread_mutex_unlock(&a->mu);
}

static void
an_table_free(struct an_table *t)
{
	for (size_t i = 0; i < AN_HASH; i++) {
		for (struct an_hourly *e = t->hourly[i], *n; e != NULL; e = n) {
			n = e->next;
			free(e);
		}
		for (struct an_bounce *b = t->bounces[i], *n; b != NULL; b = n) {
			n = b->next;
			free(b->sample);
			free(b);
		}
	}
	free(t);
}

/* Each node adds into its own rows (node in the key) on PostgreSQL, where
 * nodes share the table; a SQLite file has one node, and a key made
 * before the column. Queries sum over nodes either way. */
#define AN_HOURLY_INSERT \
    "INSERT INTO stats_hourly(tenant_id, hour, domain, source_ip, sent, delivered, deferred, bounced," \
    " expired, complained, suppressed, node) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)"
#define AN_HOURLY_ADD \
    " DO UPDATE SET sent = stats_hourly.sent + excluded.sent," \
    " delivered = stats_hourly.delivered + excluded.delivered," \
    " deferred = stats_hourly.deferred + excluded.deferred," \
    " bounced = stats_hourly.bounced + excluded.bounced, expired = stats_hourly.expired + excluded.expired," \
    " complained = stats_hourly.complained + excluded.complained," \
    " suppressed = stats_hourly.suppressed + excluded.suppressed;"
static const char an_hourly_sql[] =
    AN_HOURLY_INSERT " ON CONFLICT(tenant_id, hour, domain, source_ip)" AN_HOURLY_ADD;
static const char an_hourly_sql_pg[] =
    AN_HOURLY_INSERT " ON CONFLICT(tenant_id, hour, domain, source_ip, node)" AN_HOURLY_ADD;

static const char an_bounce_sql[] =
    "INSERT INTO stats_bounces(tenant_id, hour, domain, category, count, sample_reply, sample_status)"
    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) ON CONFLICT(tenant_id, hour, domain, category) DO UPDATE SET"
    " count = stats_bounces.count + excluded.count,"
    " sample_reply = CASE WHEN excluded.sample_reply != '' THEN excluded.sample_reply ELSE stats_bounces.sample_reply END,"
    " sample_status = CASE WHEN excluded.sample_reply != '' THEN excluded.sample_status"
    " ELSE stats_bounces.sample_status END;";

static int
an_hourly_write(struct db_stmt *s, const struct an_hourly *e)
{
	int rc;

	db_bind_int64(s, 1, e->tenant);
	db_bind_int64(s, 2, (long long)e->hour);
	db_bind_text(s, 3, e->domain, -1);
	db_bind_text(s, 4, e->ip, -1);
	for (int i = 0; i < AN_NCOUNTERS; i++)
		db_bind_int64(s, 5 + i, e->count[i]);
	db_bind_text(s, 12, state_events_node_get(), -1);
	rc = db_step(s);
	db_reset(s);
	return rc == DB_DONE ? 0 : -1;
}

static int
an_bounce_write(struct db_stmt *s, const struct an_bounce *b)
{
	int rc;

	db_bind_int64(s, 1, b->tenant);
	db_bind_int64(s, 2, (long long)b->hour);
	db_bind_text(s, 3, b->domain, -1);
	db_bind_text(s, 4, b->category, -1);
	db_bind_int64(s, 5, b->count);
	db_bind_text(s, 6, b->sample, -1);
	db_bind_text(s, 7, b->status, -1);
	rc = db_step(s);
	db_reset(s);
	return rc == DB_DONE ? 0 : -1;
}

/* Every key of t in one transaction. 0 or -1 (rolled back). */
static int
an_table_write(struct db *db, const struct an_table *t)
{
	struct db_stmt *hs = NULL, *bs = NULL;
	int rc = -1;

	if (db_prepare(db, db_dialect(db) == DB_PG ? an_hourly_sql_pg : an_hourly_sql, &hs) != DB_OK ||
	    db_prepare(db, an_bounce_sql, &bs) != DB_OK ||
	    db_exec(db, "BEGIN IMMEDIATE;") != DB_OK)
		goto out;
	rc = 0;
	for (size_t i = 0; i < AN_HASH && rc == 0; i++) {
		for (const struct an_hourly *e = t->hourly[i]; e != NULL && rc == 0; e = e->next)
			rc = an_hourly_write(hs, e);
		for (const struct an_bounce *b = t->bounces[i]; b != NULL && rc == 0; b = b->next)
			rc = an_bounce_write(bs, b);
	}
	if (rc == 0 && db_exec(db, "COMMIT;") != DB_OK)
		rc = -1;
	if (rc != 0)
		db_exec(db, "ROLLBACK;");
out:
	if (rc != 0)
		log_warn("event=stats-flush-failed error=\"%s\"", db_errmsg(db));
	db_finalize(hs);
	db_finalize(bs);
	return rc;
}

/* Add the counts of src into a's pending table (a failed write: kept for
 * the next flush rather than lost; mu held). Keys beyond memory are dropped. */
static void
an_table_merge(struct analytics *a, const struct an_table *src)
{
	for (size_t i = 0; i < AN_HASH; i++) {
		for (const struct an_hourly *e = src->hourly[i]; e != NULL; e = e->next) {
			struct an_hourly *d = an_hourly_get(a, e->tenant, e->hour, e->domain, e->ip);
			for (int k = 0; d != NULL && k < AN_NCOUNTERS; k++)
				d->count[k] += e->count[k];
			a->dropped += d == NULL;
		}
		for (const struct an_bounce *b = src->bounces[i]; b != NULL; b = b->next) {
			struct an_bounce *d = an_bounce_get(a, b->tenant, b->hour, b->domain, b->category);
			if (d == NULL) {
				a->dropped++;
				continue;
			}
			d->count += b->count;
			if (d->sample[0] == '\0') {      /* a newer sample may have come meanwhile */
				free(d->sample);
				d->sample = xstrdup(b->sample);
				snprintf(d->status, sizeof(d->status), "%s", b->status);
			}
		}
	}
}

int
analytics_flush(struct analytics *a)
{
	struct an_table *t;
	unsigned long long dropped;
	int rc = 0;

	pthread_mutex_lock(&a->write_mu);
	pthread_mutex_lock(&a->mu);
	t = a->pending;
	a->pending = xcalloc(1, sizeof(*a->pending));
	dropped = a->dropped;
	pthread_mutex_unlock(&a->mu);
	if (t->n > 0 && (rc = an_table_write(a->db, t)) != 0) {
		pthread_mutex_lock(&a->mu);
		an_table_merge(a, t);
		pthread_mutex_unlock(&a->mu);
	}
	if (dropped > a->dropped_logged) {
		log_warn("event=stats-dropped count=%llu reason=\"more than %d keys waited in memory\"",
		    dropped - a->dropped_logged, ANALYTICS_KEYS_MAX);
		a->dropped_logged = dropped;
	}
	an_table_free(t);
	pthread_mutex_unlock(&a->write_mu);
	return rc;
}

static void *
an_thread(void *arg)
{
	struct analytics *a = arg;
	struct timespec ts;

	pthread_mutex_lock(&a->mu);
	while (!a->stop) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += ANALYTICS_FLUSH_SECONDS;
		if (a->pending->n < ANALYTICS_KEYS_MAX / 2)
			pthread_cond_timedwait(&a->cv, &a->mu, &ts);
		pthread_mutex_unlock(&a->mu);
		analytics_flush(a);
		pthread_mutex_lock(&a->mu);
	}
	pthread_mutex_unlock(&a->mu);
	return NULL;
}

struct analytics *
analytics_open(const char *db_path, bool start, char *err, size_t errlen)
{
	struct analytics *a = xcalloc(1, sizeof(*a));

	if ((a->db = state_db_connect(db_path, err, errlen)) == NULL) {
		free(a);
		return NULL;
	}
	a->pending = xcalloc(1, sizeof(*a->pending));
	pthread_mutex_init(&a->mu, NULL);
	pthread_mutex_init(&a->write_mu, NULL);
	pthread_cond_init(&a->cv, NULL);
	if (start && pthread_create(&a->thread, NULL, an_thread, a) != 0) {
		snprintf(err, errlen, "analytics: cannot start its thread");
		db_close(a->db);
		free(a->pending);
		free(a);
		return NULL;
	}
	a->started = start;
	return a;
}

void
analytics_close(struct analytics *a)
{
	if (a == NULL)
		return;
	if (a->started) {
		pthread_mutex_lock(&a->mu);
		a->stop = true;
		pthread_cond_signal(&a->cv);
		pthread_mutex_unlock(&a->mu);
		pthread_join(a->thread, NULL);
	}
	analytics_flush(a);          /* the last events count */
	db_close(a->db);
	an_table_free(a->pending);
	pthread_mutex_destroy(&a->mu);
	pthread_mutex_destroy(&a->write_mu);
	pthread_cond_destroy(&a->cv);
	free(a);
}

unsigned long long
analytics_dropped(const struct analytics *a)
{
	unsigned long long n;

	pthread_mutex_lock((pthread_mutex_t *)&a->mu);
	n = a->dropped;
	pthread_mutex_unlock((pthread_mutex_t *)&a->mu);
	return n;
}

int
analytics_prune(struct db *db, time_t now)
{
	static const char *const sql[] = { "DELETE FROM stats_hourly WHERE hour < ?1;",
	    "DELETE FROM stats_bounces WHERE hour < ?1;" };
	struct db_stmt *stmt;
	int rc = 0;

	for (size_t i = 0; i < 2; i++) {
		stmt = NULL;
		if (db_prepare(db, sql[i], &stmt) != DB_OK) {
			rc = -1;
			continue;
		}
		db_bind_int64(stmt, 1, (long long)(now - ANALYTICS_KEEP));
		if (db_step(stmt) != DB_DONE)
			rc = -1;
		db_finalize(stmt);
	}
	if (rc != 0)
		log_warn("event=stats-prune-failed error=\"%s\"", db_errmsg(db));
	return rc;
}
