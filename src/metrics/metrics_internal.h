/*
 * metrics_internal.h - the registry's slots, shared by metrics.c (updates),
 * metrics_events.c (the outbox observer) and metrics_render.c (the text).
 * Not for use outside src/metrics/.
 */
#ifndef FERRY_METRICS_INTERNAL_H
#define FERRY_METRICS_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include "metrics/metrics.h"

/* Open addressing, at most half full: a lookup ends within a few probes. */
#define METRICS_TENANT_BUCKETS 2048
#define METRICS_CATEGORY_LEN   48     /* a category name kept, NUL included */
#define METRICS_HIST_MAX       20     /* finite buckets of a histogram */

typedef _Atomic uint64_t metrics_counter;

/* TLS versions as SSL_get_version names them; the last is everything else. */
#define METRICS_TLS_VERSIONS 5
extern const char *const metrics_tls_versions[METRICS_TLS_VERSIONS];
/* Shaping actions (site.c's names); the last is everything else. */
#define METRICS_SHAPING_ACTIONS 4
extern const char *const metrics_shaping_actions[METRICS_SHAPING_ACTIONS];

struct metrics_tenant {
	_Atomic long long id;                /* 0: a free slot; claimed once, never freed */
	metrics_counter   c[MT_COUNTERS];
	/* by category index; [METRICS_CATEGORIES_MAX]: past the cap ("other") */
	metrics_counter   bounced[METRICS_CATEGORIES_MAX + 1];
};

struct metrics_hist {
	const uint64_t *bounds_us;           /* finite upper bounds, ascending, microseconds */
	size_t          nbounds;
	metrics_counter buckets[METRICS_HIST_MAX + 1];   /* per bucket, not cumulative; last +Inf */
	metrics_counter sum_us;
};

struct metrics_reg {
	const char    *version;
	struct state  *st;

	_Atomic long long conn_in[METRICS_LISTENERS_MAX];      /* gauges */
	metrics_counter   conn_in_total[METRICS_LISTENERS_MAX];
	metrics_counter   conn_in_refused[METRICS_LISTENERS_MAX];
	_Atomic long long conn_out;
	metrics_counter   conn_out_total;
	metrics_counter   tls[2][METRICS_TLS_VERSIONS];
	metrics_counter   shaping[METRICS_SHAPING_ACTIONS];
	metrics_counter   webhook_posts[2];             /* [0] failed, [1] ok */

	struct metrics_tenant tenants[METRICS_TENANT_BUCKETS];
	_Atomic int           ntenants;      /* slots claimed */
	struct metrics_tenant tenant_none;   /* tenant 0: mail of no tenant (label "") */
	struct metrics_tenant tenant_other;  /* past METRICS_TENANTS_MAX */

	/* Category names: written once under a lock, published by ncategories. */
	char        categories[METRICS_CATEGORIES_MAX][METRICS_CATEGORY_LEN];
	_Atomic int ncategories;

	struct metrics_hist smtp_tx;
	struct metrics_hist delivery;
};

extern struct metrics_reg metrics_reg;

#endif
