/*
 * analytics_query.c - the reads of the statistics tables (see
 * analytics_query.h): one GROUP BY over the tenant's (or every tenant's)
 * rows of the window. The window is whole hours, the tables' grain.
 * SECURITY: parameters are bound; the SQL text is made only from the
 * fixed pieces below.
 */
#include "analytics/analytics_query.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "state/state_internal.h"

static const char *const an_by_names[] = { "hour", "domain", "ip", "category" };

int
analytics_by_parse(const char *s, enum analytics_by *by)
{
	for (size_t i = 0; i < sizeof(an_by_names) / sizeof(an_by_names[0]); i++)
		if (strcmp(s, an_by_names[i]) == 0) {
			*by = (enum analytics_by)i;
			return 0;
		}
	return -1;
}

const char *
analytics_by_name(enum analytics_by by)
{
	return an_by_names[by];
}

const char *
analytics_time_text(time_t t, char *buf, size_t size)
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL || strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(buf, size, "%lld", (long long)t);
	return buf;
}

/* "2026-12-01" or "2026-12-01T10:00[:00][Z]" (UTC). */
static int
an_date_parse(const char *s, time_t *out)
{
	struct tm tm = { 0 };
	int n = 0, y, mo, d, h = 0, mi = 0, sec = 0;

	if (sscanf(s, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
		return -1;
	s += n;
	if (*s == 'T' || *s == ' ') {
		int m = 0;
		if (sscanf(s + 1, "%2d:%2d%n", &h, &mi, &m) != 2 || m != 5)
			return -1;
		s += 1 + m;
		if (*s == ':') {
			if (sscanf(s + 1, "%2d%n", &sec, &m) != 1 || m != 2)
				return -1;
			s += 3;
		}
		if (*s == 'Z')
			s++;
	}
	if (*s != '\0' || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60 || y < 1970)
		return -1;
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm);
	return 0;
}

int
analytics_time_parse(const char *s, time_t now, time_t *out)
{
	char *end;
	long long v;

	if (s == NULL || !isdigit((unsigned char)s[0]) || strlen(s) > 32)
		return -1;
	if (an_date_parse(s, out) == 0)
		return 0;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || v < 0 || v > 100LL * 365 * 86400)
		return -1;
	if (*end == '\0') {                  /* Unix seconds */
		*out = (time_t)v;
		return 0;
	}
	if (end[1] != '\0')
		return -1;
	switch (*end) {
	case 'm': v *= 60; break;
	case 'h': v *= 3600; break;
	case 'd': v *= 86400; break;
	case 'w': v *= 7 * 86400; break;
	default:  return -1;
	}
	if (v > 100LL * 365 * 86400)
		return -1;
	*out = now - (time_t)v;
	return 0;
}

/* The window as the tables' hours: [from, to). */
static void
an_window(const struct analytics_query *q, time_t *from, time_t *to)
{
	time_t until = q->until != 0 ? q->until : time(NULL) + 3600;

	*from = q->since - q->since % 3600;
	*to = until;
}

static long
an_limit(const struct analytics_query *q, long def)
{
	return q->limit > 0 && q->limit <= ANALYTICS_ROWS_MAX ? q->limit : def;
}

static struct db_stmt *
an_prepare(struct state *st, const char *sql, const struct analytics_query *q, long limit)
{
	struct db *db = state_db(st);
	struct db_stmt *stmt = NULL;
	time_t from, to;

	if (db == NULL || db_prepare(db, sql, &stmt) != DB_OK)
		return NULL;
	an_window(q, &from, &to);
	db_bind_int64(stmt, 1, q->tenant_id);
	db_bind_int64(stmt, 2, (long long)from);
	db_bind_int64(stmt, 3, (long long)to);
	db_bind_int64(stmt, 4, limit);
	return stmt;
}

/* "tenant_id = ?1 AND" for one tenant (the primary key's prefix: a range
 * scan), nothing for all of them (the hour index). */
static const char *
an_tenant_cond(const struct analytics_query *q)
{
	return q->tenant_id != 0 ? "tenant_id = ?1 AND" : "?1 = ?1 AND";
}

static void
an_text(char *dst, size_t size, struct db_stmt *stmt, int col)
{
	state_text_copy(dst, size, stmt, col);
}

static long
an_category_run(struct state *st, const struct analytics_query *q, analytics_row_fn fn, void *arg)
{
	char sql[512];
	struct analytics_row r;
	struct db_stmt *stmt;
	long n = 0;
	int rc;

	/* SQLite: one max(), so the bare sample columns come from the latest
	 * hour's row; PostgreSQL has no bare columns: the first of an ordered
	 * aggregate instead */
	snprintf(sql, sizeof(sql), db_dialect(state_db(st)) == DB_PG ?
	    "SELECT category, sum(count), max(hour), (array_agg(sample_reply ORDER BY hour DESC))[1],"
	    " (array_agg(sample_status ORDER BY hour DESC))[1]"
	    " FROM stats_bounces WHERE %s hour >= ?2 AND hour < ?3 GROUP BY category"
	    " ORDER BY sum(count) DESC, category LIMIT ?4;" :
	    "SELECT category, sum(count), max(hour), sample_reply, sample_status"
	    " FROM stats_bounces WHERE %s hour >= ?2 AND hour < ?3 GROUP BY category"
	    " ORDER BY sum(count) DESC, category LIMIT ?4;", an_tenant_cond(q));
	if ((stmt = an_prepare(st, sql, q, an_limit(q, ANALYTICS_ROWS_MAX))) == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&r, 0, sizeof(r));
		an_text(r.key, sizeof(r.key), stmt, 0);
		r.count[AN_BOUNCED] = db_column_int64(stmt, 1);
		an_text(r.sample_reply, sizeof(r.sample_reply), stmt, 3);
		an_text(r.sample_status, sizeof(r.sample_status), stmt, 4);
		fn(arg, &r);
		n++;
	}
	db_finalize(stmt);
	return rc == DB_DONE ? n : -1;
}

long
analytics_query_run(struct state *st, const struct analytics_query *q, analytics_row_fn fn, void *arg)
{
	static const char *const col[] = { "hour", "domain", "source_ip" };
	char sql[1024];
	struct analytics_row r;
	struct db_stmt *stmt;
	long n = 0;
	int rc;

	if (q->by == ANALYTICS_BY_CATEGORY)
		return an_category_run(st, q, fn, arg);
	snprintf(sql, sizeof(sql), "SELECT %s, sum(sent), sum(delivered), sum(deferred), sum(bounced),"
	    " sum(expired), sum(complained), sum(suppressed) FROM stats_hourly"
	    " WHERE %s hour >= ?2 AND hour < ?3 GROUP BY 1 ORDER BY %s LIMIT ?4;", col[q->by],
	    an_tenant_cond(q), q->by == ANALYTICS_BY_HOUR ? "1" :
	    "sum(sent) + sum(delivered) + sum(deferred) + sum(bounced) DESC, 1");
	if ((stmt = an_prepare(st, sql, q, an_limit(q, ANALYTICS_ROWS_MAX))) == NULL)
		return -1;
	while ((rc = db_step(stmt)) == DB_ROW) {
		memset(&r, 0, sizeof(r));
		if (q->by == ANALYTICS_BY_HOUR) {
			r.hour = (time_t)db_column_int64(stmt, 0);
			analytics_time_text(r.hour, r.key, sizeof(r.key));
		} else
			an_text(r.key, sizeof(r.key), stmt, 0);
		for (int i = 0; i < AN_NCOUNTERS; i++)
			r.count[i] = db_column_int64(stmt, 1 + i);
		fn(arg, &r);
		n++;
	}
	db_finalize(stmt);
	return rc == DB_DONE ? n : -1;
}

/* Total delivered and bounced over the window (the rates' bases). */
static int
an_totals(struct state *st, const struct analytics_query *q, long long *delivered, long long *bounced)
{
	char sql[256];
	struct db_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT coalesce(sum(delivered), 0), coalesce(sum(bounced), 0)"
	    " FROM stats_hourly WHERE %s hour >= ?2 AND hour < ?3 AND ?4 = ?4;", an_tenant_cond(q));
	if ((stmt = an_prepare(st, sql, q, 0)) == NULL)
		return -1;
	if ((rc = db_step(stmt)) == DB_ROW) {
		*delivered = db_column_int64(stmt, 0);
		*bounced = db_column_int64(stmt, 1);
	}
	db_finalize(stmt);
	return rc == DB_ROW ? 0 : -1;
}

/* The latest sample reply of domain's bounces in the window. */
static int
an_domain_sample(struct state *st, const struct analytics_query *q, struct analytics_insight *in)
{
	char sql[512];
	struct db_stmt *stmt;
	int rc;

	snprintf(sql, sizeof(sql), "SELECT category, sample_reply, sample_status FROM stats_bounces"
	    " WHERE %s hour >= ?2 AND hour < ?3 AND domain = ?5 AND ?4 = ?4"
	    " ORDER BY hour DESC, sample_reply != '' DESC, count DESC LIMIT 1;", an_tenant_cond(q));
	if ((stmt = an_prepare(st, sql, q, 0)) == NULL)
		return -1;
	db_bind_text(stmt, 5, in->key, -1);
	if ((rc = db_step(stmt)) == DB_ROW) {
		an_text(in->category, sizeof(in->category), stmt, 0);
		an_text(in->sample_reply, sizeof(in->sample_reply), stmt, 1);
		an_text(in->sample_status, sizeof(in->sample_status), stmt, 2);
	}
	db_finalize(stmt);
	return rc == DB_ROW || rc == DB_DONE ? 0 : -1;
}

long
analytics_bounce_domains(struct state *st, const struct analytics_query *q, analytics_insight_fn fn,
    void *arg)
{
	struct analytics_insight *in = NULL;
	long long all_delivered = 0, all_bounced = 0;
	char sql[512];
	struct db_stmt *stmt;
	long n = 0, cap = an_limit(q, ANALYTICS_INSIGHTS);
	int rc;

	if (an_totals(st, q, &all_delivered, &all_bounced) != 0)
		return -1;
	snprintf(sql, sizeof(sql), "SELECT domain, sum(bounced), sum(delivered) + sum(bounced) FROM stats_hourly"
	    " WHERE %s hour >= ?2 AND hour < ?3 GROUP BY domain HAVING sum(bounced) > 0"
	    " ORDER BY sum(bounced) DESC, domain LIMIT ?4;", an_tenant_cond(q));
	if ((stmt = an_prepare(st, sql, q, cap)) == NULL)
		return -1;
	/* rows first, samples after: one statement open at a time */
	in = calloc((size_t)cap, sizeof(*in));
	while (in != NULL && n < cap && (rc = db_step(stmt)) == DB_ROW) {
		an_text(in[n].key, sizeof(in[n].key), stmt, 0);
		in[n].bounced = db_column_int64(stmt, 1);
		in[n].outcomes = db_column_int64(stmt, 2);
		n++;
	}
	db_finalize(stmt);
	if (in == NULL)
		return -1;
	for (long i = 0; i < n; i++) {
		in[i].rate = in[i].outcomes > 0 ? (double)in[i].bounced / (double)in[i].outcomes : 0;
		in[i].share = all_bounced > 0 ? (double)in[i].bounced / (double)all_bounced : 0;
		if (an_domain_sample(st, q, &in[i]) != 0) {
			free(in);
			return -1;
		}
		fn(arg, &in[i]);
	}
	free(in);
	return n;
}

struct an_cat_ctx {
	analytics_insight_fn fn;
	void                *arg;
	long long            outcomes, bounced_all;
};

static void
an_cat_row(void *arg, const struct analytics_row *r)
{
	struct an_cat_ctx *x = arg;
	struct analytics_insight in;

	memset(&in, 0, sizeof(in));
	snprintf(in.key, sizeof(in.key), "%s", r->key);
	snprintf(in.category, sizeof(in.category), "%.*s", (int)sizeof(in.category) - 1, r->key);
	in.bounced = r->count[AN_BOUNCED];
	in.outcomes = x->outcomes;
	in.rate = x->outcomes > 0 ? (double)in.bounced / (double)x->outcomes : 0;
	in.share = x->bounced_all > 0 ? (double)in.bounced / (double)x->bounced_all : 0;
	snprintf(in.sample_reply, sizeof(in.sample_reply), "%s", r->sample_reply);
	snprintf(in.sample_status, sizeof(in.sample_status), "%s", r->sample_status);
	x->fn(x->arg, &in);
}

long
analytics_bounce_categories(struct state *st, const struct analytics_query *q,
    analytics_insight_fn fn, void *arg)
{
	struct analytics_query cq = *q;
	struct an_cat_ctx x = { fn, arg, 0, 0 };
	long long delivered = 0, bounced = 0;

	if (an_totals(st, q, &delivered, &bounced) != 0)
		return -1;
	x.outcomes = delivered + bounced;
	x.bounced_all = bounced;
	cq.by = ANALYTICS_BY_CATEGORY;
	cq.limit = an_limit(q, ANALYTICS_INSIGHTS);
	return an_category_run(st, &cq, an_cat_row, &x);
}
