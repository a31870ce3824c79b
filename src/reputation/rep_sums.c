/*
 * rep_sums.c - reading a window: summing a tenant's buckets by metric from
 * the reputation table into struct rep_totals (with its bounce categories,
 * largest first).
 * SECURITY: reads only; every value bound.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "reputation/rep_internal.h"
#include "state/state_internal.h"
#include "util/xmalloc.h"

time_t
rep_window_first(int seconds, time_t since, time_t now)
{
	time_t first = rep_bucket(now), after;
	long long nb = seconds > 0 ? ((long long)seconds + REP_BUCKET - 1) / REP_BUCKET : 1;

	first -= (time_t)(nb - 1) * REP_BUCKET;
	if (since > 0) {
		after = rep_bucket(since) + (since % REP_BUCKET != 0 ? REP_BUCKET : 0);
		if (after > first)
			first = after;
	}
	return first;
}

static long long *
rep_sums_field(struct rep_totals *t, const char *metric)
{
	static const struct { const char *name; size_t off; } fields[] = {
		{ REP_SENT,      offsetof(struct rep_totals, sent) },
		{ REP_DELIVERED, offsetof(struct rep_totals, delivered) },
		{ REP_DEFERRED,  offsetof(struct rep_totals, deferred) },
		{ REP_BOUNCED,   offsetof(struct rep_totals, bounced) },
		{ REP_HARD,      offsetof(struct rep_totals, hard) },
		{ REP_UNKNOWN,   offsetof(struct rep_totals, unknown) },
		{ REP_COMPLAINT, offsetof(struct rep_totals, complaint) },
		{ REP_SCANNED,   offsetof(struct rep_totals, scanned) },
		{ REP_SPAM,      offsetof(struct rep_totals, spam) },
		{ REP_SCORE,     offsetof(struct rep_totals, score_x100) },
	};

	for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		if (strcmp(metric, fields[i].name) == 0)
			return (long long *)((char *)t + fields[i].off);
	return NULL;
}

void
rep_sums_add(struct rep_sums *s, const char *metric, long long n)
{
	long long *f = rep_sums_field(&s->t, metric);
	const char *cat;

	if (f != NULL) {
		*f += n;
		return;
	}
	if (strncmp(metric, REP_CATEGORY_PREFIX, sizeof(REP_CATEGORY_PREFIX) - 1) != 0)
		return;   /* a metric this version does not know: kept, not shown */
	cat = metric + sizeof(REP_CATEGORY_PREFIX) - 1;
	for (size_t i = 0; i < s->ncats; i++)
		if (strcmp(s->cats[i].name, cat) == 0) {
			s->cats[i].n += n;
			return;
		}
	if (s->ncats == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 16;
		s->cats = xrealloc(s->cats, s->cap * sizeof(*s->cats));
	}
	snprintf(s->cats[s->ncats].name, sizeof(s->cats[0].name), "%s", cat);
	s->cats[s->ncats++].n = n;
}

/* The earliest start of the n windows (bounds the rows one pass reads). */
static time_t
rep_sums_earliest(const time_t *first, size_t n)
{
	time_t t = first[0];

	for (size_t i = 1; i < n; i++)
		if (first[i] < t)
			t = first[i];
	return t;
}

int
rep_sums_query(struct db *db, long long tenant, const time_t *first, size_t n, time_t last,
    struct rep_sums *s)
{
	struct db_stmt *stmt = NULL;
	int rc;

	if (n == 0 || n > REP_SUMS_MAX)
		return -1;
	/* One pass over the tenant's rows for every window: an evaluation
	 * reads three, and a busy tenant has a few thousand rows a week. */
	if (db_prepare(db, "SELECT metric, sum(CASE WHEN bucket >= ?2 THEN count ELSE 0 END),"
	    " sum(CASE WHEN bucket >= ?3 THEN count ELSE 0 END),"
	    " sum(CASE WHEN bucket >= ?4 THEN count ELSE 0 END)"
	    " FROM reputation WHERE tenant_id = ?1 AND bucket >= ?6 AND bucket <= ?5"
	    " GROUP BY metric;", &stmt) != DB_OK)
		return -1;
	db_bind_int64(stmt, 1, tenant);
	for (size_t i = 0; i < REP_SUMS_MAX; i++)
		db_bind_int64(stmt, 2 + (int)i, (long long)first[i < n ? i : 0]);
	db_bind_int64(stmt, 5, (long long)last);
	db_bind_int64(stmt, 6, (long long)rep_sums_earliest(first, n));
	while ((rc = db_step(stmt)) == DB_ROW) {
		const unsigned char *m = db_column_text(stmt, 0);
		for (size_t i = 0; m != NULL && i < n; i++)
			rep_sums_add(&s[i], (const char *)m, db_column_int64(stmt, 1 + (int)i));
	}
	db_finalize(stmt);
	return rc == DB_DONE ? 0 : -1;
}

static int
rep_cat_cmp(const void *a, const void *b)
{
	const struct rep_cat *x = a, *y = b;

	if (x->n != y->n)
		return x->n > y->n ? -1 : 1;
	return strcmp(x->name, y->name);
}

void
rep_sums_totals(struct rep_sums *s, struct rep_totals *out)
{
	*out = s->t;
	if (s->ncats > 0)
		qsort(s->cats, s->ncats, sizeof(*s->cats), rep_cat_cmp);
	out->ncats = s->ncats < REP_CATS_MAX ? s->ncats : REP_CATS_MAX;
	for (size_t i = 0; i < out->ncats; i++) {
		memcpy(out->cats[i].name, s->cats[i].name, sizeof(out->cats[i].name));
		out->cats[i].n = s->cats[i].n;
	}
}

void
rep_sums_free(struct rep_sums *s)
{
	free(s->cats);
	s->cats = NULL;
	s->ncats = s->cap = 0;
}

int
rep_totals_read(const char *db_path, long long tenant_id, int seconds, time_t since, time_t now,
    struct rep_totals *out)
{
	struct rep_sums sums = { 0 };
	char err[256];
	struct db *db = state_db_connect(db_path, err, sizeof(err));
	time_t first;
	int rc;

	if (db == NULL)
		return -1;
	first = rep_window_first(seconds, since, now);
	rc = rep_sums_query(db, tenant_id, &first, 1, rep_bucket(now), &sums);
	db_close(db);
	if (rc == 0)
		rep_sums_totals(&sums, out);
	rep_sums_free(&sums);
	return rc;
}
