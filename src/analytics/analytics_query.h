/*
 * analytics_query.h - reading the statistics analytics.c writes: totals
 * grouped by hour, destination domain, source address or bounce
 * category over a window of whole hours, for one tenant or all; and the
 * bounce insights (the domains that fail most and the categories they
 * fail with, with rates and the latest reply seen). For `ferryctl stats`
 * and GET /v1/stats (analytics_json.c gives both the same JSON).
 * SECURITY: every value from a caller is a bound parameter; the grouping
 * column is chosen from a fixed list.
 */
#ifndef FERRY_ANALYTICS_QUERY_H
#define FERRY_ANALYTICS_QUERY_H

#include <stddef.h>
#include <time.h>

#include "analytics/analytics.h"

struct state;

#define ANALYTICS_ROWS_MAX    10000   /* rows of one query */
#define ANALYTICS_INSIGHTS    10      /* default rows of each insight list */

enum analytics_by { ANALYTICS_BY_HOUR, ANALYTICS_BY_DOMAIN, ANALYTICS_BY_IP, ANALYTICS_BY_CATEGORY };
/* "hour", "domain", "ip", "category": 0, or -1 for another word. */
int analytics_by_parse(const char *s, enum analytics_by *by);
const char *analytics_by_name(enum analytics_by by);

struct analytics_query {
	long long         tenant_id;   /* 0: every tenant */
	enum analytics_by by;
	time_t            since;       /* from the hour that holds it */
	time_t            until;       /* before this (0: now, this hour included) */
	long              limit;       /* rows; 0: ANALYTICS_ROWS_MAX (insights: ANALYTICS_INSIGHTS) */
};

struct analytics_row {
	char      key[ANALYTICS_DOMAIN_MAX + 1];   /* domain, address ("" unknown), category, hour text */
	time_t    hour;                            /* ANALYTICS_BY_HOUR */
	long long count[AN_NCOUNTERS];             /* by category: only AN_BOUNCED */
	char      sample_reply[ANALYTICS_SAMPLE_MAX + 1];   /* by category: the latest reply */
	char      sample_status[16];
};
typedef void (*analytics_row_fn)(void *arg, const struct analytics_row *r);
/* Rows of q (by hour: in time order; else the busiest first). The number
 * of rows, or -1. */
long analytics_query_run(struct state *st, const struct analytics_query *q, analytics_row_fn fn, void *arg);

struct analytics_insight {
	char      key[ANALYTICS_DOMAIN_MAX + 1];   /* the domain or the category */
	long long bounced;
	long long outcomes;       /* delivered + bounced in the window (the rate's base) */
	double    rate;           /* bounced / outcomes, 0 when none */
	double    share;          /* of all bounces in the window */
	char      category[ANALYTICS_CATEGORY_MAX + 1];  /* domains: the sample's category */
	char      sample_reply[ANALYTICS_SAMPLE_MAX + 1];
	char      sample_status[16];
};
typedef void (*analytics_insight_fn)(void *arg, const struct analytics_insight *in);
/* The domains with the most bounces in q's window, most first. n or -1. */
long analytics_bounce_domains(struct state *st, const struct analytics_query *q, analytics_insight_fn fn,
    void *arg);
/* The bounce categories in q's window, most first. n or -1. */
long analytics_bounce_categories(struct state *st, const struct analytics_query *q,
    analytics_insight_fn fn, void *arg);

/* A time given by a person: "24h", "7d", "30m", "2w" (that long before
 * now), "2026-12-01", "2026-12-01T10:00:00Z" (UTC), or Unix seconds.
 * 0, or -1. */
int analytics_time_parse(const char *s, time_t now, time_t *out);
/* An hour (or any time) as "2026-12-03T17:00:00Z" into buf. */
const char *analytics_time_text(time_t t, char *buf, size_t size);

#endif
