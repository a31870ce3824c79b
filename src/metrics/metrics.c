/*
 * metrics.c - the metrics registry's updates: relaxed atomic additions on
 * slots allocated once, so the SMTP and delivery paths pay a few
 * nanoseconds per count and never a lock (rendering reads the same slots;
 * a scrape may see one counter a moment ahead of another, never a torn
 * value). Per-tenant slots are claimed with a compare-and-swap the first
 * time a tenant counts, and kept for the process's life.
 * SECURITY: labels come from fixed tables, the configuration's bounce
 * categories (bounded in number and length) and tenant ids; nothing a
 * peer sends becomes a label.
 */
#include "metrics/metrics_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const metrics_tls_versions[METRICS_TLS_VERSIONS] = {
	"TLSv1.3", "TLSv1.2", "TLSv1.1", "TLSv1", "other",
};

const char *const metrics_shaping_actions[METRICS_SHAPING_ACTIONS] = {
	"connections", "rate", "suspend", "other",
};

/* SMTP transactions take milliseconds to minutes (a slow client, a milter). */
static const uint64_t metrics_smtp_bounds[] = {
	5000, 10000, 25000, 50000, 100000, 250000, 500000, 1000000, 2500000, 5000000,
	10000000, 30000000, 60000000, 120000000, 300000000,
};
/* Accept to delivery: a second (straight through) to the 5-day queue lifetime. */
static const uint64_t metrics_delivery_bounds[] = {
	1000000, 5000000, 10000000, 30000000, 60000000, 300000000, 600000000, 1800000000,
	3600000000, 7200000000, 14400000000, 43200000000, 86400000000, 172800000000,
	432000000000,
};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct metrics_reg metrics_reg = {
	.smtp_tx = { metrics_smtp_bounds, NELEM(metrics_smtp_bounds), { 0 }, 0 },
	.delivery = { metrics_delivery_bounds, NELEM(metrics_delivery_bounds), { 0 }, 0 },
};

static pthread_mutex_t metrics_category_lock = PTHREAD_MUTEX_INITIALIZER;

#define RELAXED memory_order_relaxed

static inline void
metrics_inc(metrics_counter *c, uint64_t n)
{
	atomic_fetch_add_explicit(c, n, RELAXED);
}

void
metrics_init(const char *version, struct state *st)
{
	metrics_reg.version = version;
	metrics_reg.st = st;
}

void
metrics_reset(void)
{
	struct metrics_hist smtp = metrics_reg.smtp_tx, dlv = metrics_reg.delivery;

	/* tests only: no other thread counts meanwhile */
	memset(&metrics_reg, 0, sizeof(metrics_reg));
	metrics_reg.smtp_tx.bounds_us = smtp.bounds_us;
	metrics_reg.smtp_tx.nbounds = smtp.nbounds;
	metrics_reg.delivery.bounds_us = dlv.bounds_us;
	metrics_reg.delivery.nbounds = dlv.nbounds;
}

uint64_t
metrics_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- connections, TLS, shaping ---------------------------------------------- */

static size_t
metrics_role(int role)
{
	return role >= 0 && role < METRICS_LISTENERS_MAX ? (size_t)role : METRICS_LISTENERS_MAX - 1;
}

void
metrics_conn_inbound_open(int role)
{
	atomic_fetch_add_explicit(&metrics_reg.conn_in[metrics_role(role)], 1, RELAXED);
	metrics_inc(&metrics_reg.conn_in_total[metrics_role(role)], 1);
}

void
metrics_conn_inbound_close(int role)
{
	atomic_fetch_sub_explicit(&metrics_reg.conn_in[metrics_role(role)], 1, RELAXED);
}

void
metrics_conn_inbound_refused(int role)
{
	metrics_inc(&metrics_reg.conn_in_refused[metrics_role(role)], 1);
}

void
metrics_conn_outbound_open(void)
{
	atomic_fetch_add_explicit(&metrics_reg.conn_out, 1, RELAXED);
	metrics_inc(&metrics_reg.conn_out_total, 1);
}

void
metrics_conn_outbound_close(void)
{
	atomic_fetch_sub_explicit(&metrics_reg.conn_out, 1, RELAXED);
}

/* The index of s in names (n of them, the last the catch-all). */
static size_t
metrics_name_index(const char *const *names, size_t n, const char *s)
{
	for (size_t i = 0; s != NULL && i + 1 < n; i++)
		if (strcmp(names[i], s) == 0)
			return i;
	return n - 1;
}

void
metrics_tls_session(enum metrics_direction dir, const char *version)
{
	size_t v = metrics_name_index(metrics_tls_versions, METRICS_TLS_VERSIONS, version);

	metrics_inc(&metrics_reg.tls[dir == METRICS_OUTBOUND][v], 1);
}

void
metrics_shaping_action(const char *action)
{
	metrics_inc(&metrics_reg.shaping[metrics_name_index(metrics_shaping_actions,
	    METRICS_SHAPING_ACTIONS, action)], 1);
}

void
metrics_webhook_post(bool ok)
{
	metrics_inc(&metrics_reg.webhook_posts[ok], 1);
}

/* ---- tenants and categories ---------------------------------------------------- */

static struct metrics_tenant *
metrics_tenant_slot(long long id)
{
	struct metrics_tenant *t = metrics_reg.tenants;
	size_t i = (size_t)((unsigned long long)id * 0x9E3779B97F4A7C15ull >> 40) %
	    METRICS_TENANT_BUCKETS;

	if (id <= 0)
		return &metrics_reg.tenant_none;
	for (size_t probes = 0; probes < METRICS_TENANT_BUCKETS; probes++) {
		long long k = atomic_load_explicit(&t[i].id, memory_order_acquire), expected = 0;
		if (k == id)
			return &t[i];
		if (k == 0) {
			/* Reserve a place under the cap, then claim the slot; a thread
			 * that lost the race gives its place back. */
			if (atomic_load_explicit(&metrics_reg.ntenants, RELAXED) >= METRICS_TENANTS_MAX)
				return &metrics_reg.tenant_other;
			if (atomic_fetch_add(&metrics_reg.ntenants, 1) >= METRICS_TENANTS_MAX) {
				atomic_fetch_sub(&metrics_reg.ntenants, 1);
				return &metrics_reg.tenant_other;
			}
			if (atomic_compare_exchange_strong(&t[i].id, &expected, id))
				return &t[i];
			atomic_fetch_sub(&metrics_reg.ntenants, 1);
			if (expected == id)
				return &t[i];
		}
		i = (i + 1) % METRICS_TENANT_BUCKETS;
	}
	return &metrics_reg.tenant_other;
}

void
metrics_tenant_add(long long tenant_id, enum metrics_tenant_counter c, uint64_t n)
{
	if ((unsigned)c < MT_COUNTERS)
		metrics_inc(&metrics_tenant_slot(tenant_id)->c[c], n);
}

/* The index of a category name, registered on first sight while there is
 * room; METRICS_CATEGORIES_MAX beyond that. */
static size_t
metrics_category_index(const char *name)
{
	char cut[METRICS_CATEGORY_LEN];
	int n = atomic_load_explicit(&metrics_reg.ncategories, memory_order_acquire);
	size_t i;

	snprintf(cut, sizeof(cut), "%s", name != NULL ? name : "");
	for (i = 0; i < (size_t)n; i++)
		if (strcmp(metrics_reg.categories[i], cut) == 0)
			return i;
	pthread_mutex_lock(&metrics_category_lock);
	n = atomic_load_explicit(&metrics_reg.ncategories, memory_order_acquire);
	for (i = 0; i < (size_t)n; i++)
		if (strcmp(metrics_reg.categories[i], cut) == 0)
			break;
	if (i == (size_t)n && n < METRICS_CATEGORIES_MAX) {
		memcpy(metrics_reg.categories[n], cut, sizeof(cut));
		atomic_store_explicit(&metrics_reg.ncategories, n + 1, memory_order_release);
	}
	pthread_mutex_unlock(&metrics_category_lock);
	return i;   /* == METRICS_CATEGORIES_MAX when full */
}

void
metrics_bounce(long long tenant_id, const char *category)
{
	metrics_inc(&metrics_tenant_slot(tenant_id)->bounced[metrics_category_index(category)], 1);
}

/* ---- histograms ------------------------------------------------------------------ */

static void
metrics_hist_observe(struct metrics_hist *h, uint64_t us)
{
	size_t i = 0;

	while (i < h->nbounds && us > h->bounds_us[i])
		i++;
	metrics_inc(&h->buckets[i], 1);
	metrics_inc(&h->sum_us, us);
}

void
metrics_smtp_transaction(uint64_t us)
{
	metrics_hist_observe(&metrics_reg.smtp_tx, us);
}

void
metrics_delivery_latency(long long delay)
{
	metrics_hist_observe(&metrics_reg.delivery, delay > 0 ? (uint64_t)delay * 1000000u : 0);
}
