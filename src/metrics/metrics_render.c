/*
 * metrics_render.c - the registry as Prometheus' text exposition format
 * 0.0.4: per family "# HELP" and "# TYPE" lines, then its samples; names
 * "ferry_" + what + base unit (seconds), counters ending in "_total",
 * histograms as cumulative _bucket{le=...} series with _sum and _count.
 * Tenant ids become names here, read from the state database once per
 * slot and remembered (a tenant that cannot be read shows as "#ID").
 * SECURITY: label values (tenant names, categories) are escaped as the
 * format says (backslash, double quote, line feed) and any other control
 * character is sent as '?', so no value can break a line or forge a
 * sample; the output never holds a control character but LF.
 */
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "events/outbox.h"
#include "metrics/metrics_internal.h"
#include "queue/qmgr.h"
#include "state/state.h"
#include "state/state_cache.h"
#include "util/xmalloc.h"

#define METRICS_LABEL_MAX (STATE_NAME_MAX + 24)

/* ---- the output buffer -------------------------------------------------------- */

struct mbuf {
	char  *p;
	size_t len, cap;
};

static void
mbuf_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void
mbuf_printf(struct mbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (n > 0 ? (size_t)n : 0);
		b->p = xrealloc(b->p, b->cap);
	}
}

/* A label value, escaped (text format 0.0.4: \\, \" and \n). */
static void
mbuf_label(struct mbuf *b, const char *name, const char *value)
{
	mbuf_printf(b, "%s=\"", name);
	for (const char *s = value; *s != '\0'; s++) {
		if (*s == '\\' || *s == '"')
			mbuf_printf(b, "\\%c", *s);
		else if (*s == '\n')
			mbuf_printf(b, "\\n");
		else if ((unsigned char)*s < 0x20 || *s == 0x7f)
			mbuf_printf(b, "?");
		else
			mbuf_printf(b, "%c", *s);
	}
	mbuf_printf(b, "\"");
}

static void
mbuf_family(struct mbuf *b, const char *name, const char *type, const char *help)
{
	mbuf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* name{l1="v1"} or name{l1="v1",l2="v2"} (l2 NULL: one label; l1 NULL: none). */
static void
mbuf_sample_start(struct mbuf *b, const char *name, const char *l1, const char *v1,
    const char *l2, const char *v2)
{
	mbuf_printf(b, "%s", name);
	if (l1 == NULL)
		return;
	mbuf_printf(b, "{");
	mbuf_label(b, l1, v1);
	if (l2 != NULL) {
		mbuf_printf(b, ",");
		mbuf_label(b, l2, v2);
	}
	mbuf_printf(b, "}");
}

static void
mbuf_counter(struct mbuf *b, const char *name, const char *l1, const char *v1, const char *l2,
    const char *v2, uint64_t v)
{
	mbuf_sample_start(b, name, l1, v1, l2, v2);
	mbuf_printf(b, " %" PRIu64 "\n", v);
}

static void
mbuf_gauge(struct mbuf *b, const char *name, const char *l1, const char *v1, long long v)
{
	mbuf_sample_start(b, name, l1, v1, NULL, NULL);
	mbuf_printf(b, " %lld\n", v);
}

/* Microseconds as seconds, without trailing zeros: "0.005", "2.5", "60". */
static void
metrics_seconds(uint64_t us, char *buf, size_t size)
{
	size_t n;

	snprintf(buf, size, "%" PRIu64 ".%06" PRIu64, us / 1000000u, us % 1000000u);
	n = strlen(buf);
	while (n > 0 && buf[n - 1] == '0')
		buf[--n] = '\0';
	if (n > 0 && buf[n - 1] == '.')
		buf[--n] = '\0';
}

#define LOAD(c) atomic_load_explicit(&(c), memory_order_relaxed)

/* ---- connections, TLS, shaping, queue --------------------------------------------- */

static void
metrics_render_conns(struct mbuf *b)
{
	static const enum conf_role roles[] = {
		CONF_ROLE_MX, CONF_ROLE_SUBMISSION, CONF_ROLE_SUBMISSIONS, CONF_ROLE_LOCAL,
	};
	size_t n = sizeof(roles) / sizeof(roles[0]);

	mbuf_family(b, "ferry_connections_inbound", "gauge", "SMTP connections open now, by listener role.");
	for (size_t i = 0; i < n; i++)
		mbuf_gauge(b, "ferry_connections_inbound", "listener", conf_role_name(roles[i]),
		    LOAD(metrics_reg.conn_in[roles[i]]));
	mbuf_family(b, "ferry_connections_inbound_total", "counter",
	    "SMTP connections accepted (past the connection limits), by listener role.");
	for (size_t i = 0; i < n; i++)
		mbuf_counter(b, "ferry_connections_inbound_total", "listener", conf_role_name(roles[i]),
		    NULL, NULL, LOAD(metrics_reg.conn_in_total[roles[i]]));
	mbuf_family(b, "ferry_connections_refused_total", "counter",
	    "SMTP connections turned away at accept by a connection limit, by listener role.");
	for (size_t i = 0; i < n; i++)
		mbuf_counter(b, "ferry_connections_refused_total", "listener", conf_role_name(roles[i]),
		    NULL, NULL, LOAD(metrics_reg.conn_in_refused[roles[i]]));
	mbuf_family(b, "ferry_connections_outbound", "gauge",
	    "Outbound SMTP and LMTP connections open now (busy or idle).");
	mbuf_gauge(b, "ferry_connections_outbound", NULL, NULL, LOAD(metrics_reg.conn_out));
	mbuf_family(b, "ferry_connections_outbound_total", "counter",
	    "Outbound SMTP and LMTP connections made.");
	mbuf_counter(b, "ferry_connections_outbound_total", NULL, NULL, NULL, NULL,
	    LOAD(metrics_reg.conn_out_total));
}

/* TLS, shaping and webhooks: fixed label sets. */
static void
metrics_render_fixed(struct mbuf *b)
{
	static const char *const dirs[2] = { "inbound", "outbound" };

	mbuf_family(b, "ferry_tls_sessions_total", "counter",
	    "TLS handshakes completed, by direction and negotiated protocol version.");
	for (size_t d = 0; d < 2; d++)
		for (size_t v = 0; v < METRICS_TLS_VERSIONS; v++)
			mbuf_counter(b, "ferry_tls_sessions_total", "direction", dirs[d], "version",
			    metrics_tls_versions[v], LOAD(metrics_reg.tls[d][v]));
	mbuf_family(b, "ferry_webhook_posts_total", "counter",
	    "Webhook batches POSTed, by result: ok (2xx) or failed (retried later).");
	mbuf_counter(b, "ferry_webhook_posts_total", "result", "ok", NULL, NULL,
	    LOAD(metrics_reg.webhook_posts[1]));
	mbuf_counter(b, "ferry_webhook_posts_total", "result", "failed", NULL, NULL,
	    LOAD(metrics_reg.webhook_posts[0]));
	mbuf_family(b, "ferry_shaping_actions_total", "counter",
	    "Traffic shaping rules applied to a destination, by action.");
	for (size_t i = 0; i < METRICS_SHAPING_ACTIONS; i++)
		mbuf_counter(b, "ferry_shaping_actions_total", "action", metrics_shaping_actions[i], NULL,
		    NULL, LOAD(metrics_reg.shaping[i]));
}

static void
metrics_render_queue(struct mbuf *b, struct qmgr *q)
{
	struct qmgr_state_counts c;

	if (q == NULL)
		return;
	qmgr_state_count(q, &c);
	mbuf_family(b, "ferry_queue_messages", "gauge", "Messages in the queue now, by state.");
	mbuf_gauge(b, "ferry_queue_messages", "state", "active", c.active);
	mbuf_gauge(b, "ferry_queue_messages", "state", "deferred", c.deferred);
	mbuf_gauge(b, "ferry_queue_messages", "state", "held", c.held);
	mbuf_gauge(b, "ferry_queue_messages", "state", "ready", c.ready);
}

/* ---- tenants --------------------------------------------------------------------- */

/* A tenant's values as one render saw them. */
struct metrics_row {
	char     label[METRICS_LABEL_MAX];
	uint64_t c[MT_COUNTERS];
	uint64_t bounced[METRICS_CATEGORIES_MAX + 1];
};

/* Names of the claimed slots, by slot index (a slot's id never changes);
 * under metrics_render_lock. */
static pthread_mutex_t metrics_render_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
	long long id;
	char      name[STATE_NAME_MAX + 1];
} metrics_names[METRICS_TENANT_BUCKETS];

static void
metrics_row_load(struct metrics_row *r, const struct metrics_tenant *t)
{
	for (size_t i = 0; i < MT_COUNTERS; i++)
		r->c[i] = LOAD(t->c[i]);
	for (size_t i = 0; i <= METRICS_CATEGORIES_MAX; i++)
		r->bounced[i] = LOAD(t->bounced[i]);
}

static void
metrics_row_label(struct metrics_row *r, size_t slot, long long id, struct state *st)
{
	struct state_tenant t;

	if (metrics_names[slot].id != id && st != NULL && state_tenant_by_id(st, id, &t) == 1) {
		metrics_names[slot].id = id;
		snprintf(metrics_names[slot].name, sizeof(metrics_names[slot].name), "%s", t.name);
	}
	if (metrics_names[slot].id == id)
		snprintf(r->label, sizeof(r->label), "%s", metrics_names[slot].name);
	else
		snprintf(r->label, sizeof(r->label), "#%lld", id);
}

static int
metrics_row_cmp(const void *a, const void *b)
{
	return strcmp(((const struct metrics_row *)a)->label, ((const struct metrics_row *)b)->label);
}

/* Rows sorted by label, one per label (a name met twice, say a tenant
 * called "other", adds up: a series must be unique). */
static size_t
metrics_rows_merge(struct metrics_row *rows, size_t n)
{
	size_t out = 0;

	qsort(rows, n, sizeof(*rows), metrics_row_cmp);
	for (size_t i = 0; i < n; i++) {
		if (out > 0 && strcmp(rows[out - 1].label, rows[i].label) == 0) {
			for (size_t k = 0; k < MT_COUNTERS; k++)
				rows[out - 1].c[k] += rows[i].c[k];
			for (size_t k = 0; k <= METRICS_CATEGORIES_MAX; k++)
				rows[out - 1].bounced[k] += rows[i].bounced[k];
		} else if (out++ != i) {
			rows[out - 1] = rows[i];
		}
	}
	return out;
}

/* Every tenant that counted: none (""), each claimed slot, and "other". */
static struct metrics_row *
metrics_rows_collect(struct state *st, size_t *n)
{
	/* room for the slots claimed now (one claimed meanwhile waits for the
	 * next render), none and other */
	size_t cap = (size_t)atomic_load(&metrics_reg.ntenants) + 2;
	struct metrics_row *rows = xcalloc(cap, sizeof(*rows));
	size_t k = 0;

	metrics_row_load(&rows[k++], &metrics_reg.tenant_none);
	for (size_t i = 0; i < METRICS_TENANT_BUCKETS && k < cap - 1; i++) {
		long long id = atomic_load_explicit(&metrics_reg.tenants[i].id, memory_order_acquire);
		if (id == 0)
			continue;
		metrics_row_load(&rows[k], &metrics_reg.tenants[i]);
		metrics_row_label(&rows[k++], i, id, st);
	}
	if (atomic_load(&metrics_reg.ntenants) >= METRICS_TENANTS_MAX) {
		snprintf(rows[k].label, sizeof(rows[k].label), "other");
		metrics_row_load(&rows[k++], &metrics_reg.tenant_other);
	}
	*n = metrics_rows_merge(rows, k);
	return rows;
}

static const struct {
	enum metrics_tenant_counter c;
	const char *name, *help;
} metrics_tenant_families[] = {
	{ MT_MESSAGES_RECEIVED, "ferry_messages_received_total",
	  "Messages accepted and queued (250 after the message), by tenant." },
	{ MT_RCPTS_RECEIVED, "ferry_recipients_received_total",
	  "Recipients of queued messages, by tenant." },
	{ MT_RCPTS_DELIVERED, "ferry_recipients_delivered_total",
	  "Recipients delivered, by tenant." },
	{ MT_RCPTS_DEFERRED, "ferry_recipients_deferred_total",
	  "Delivery attempts deferred (temporary failures), by tenant." },
	{ MT_RCPTS_EXPIRED, "ferry_recipients_expired_total",
	  "Recipients given up after the queue lifetime, by tenant." },
	{ MT_RCPTS_SUPPRESSED, "ferry_recipients_suppressed_total",
	  "Recipients dropped at RCPT for being on the tenant's suppression list, by tenant." },
	{ MT_COMPLAINTS, "ferry_complaints_total",
	  "Complaints (ARF, JMRP) about the tenant's mail, by tenant." },
	{ MT_UNSUBSCRIBED, "ferry_unsubscribes_total",
	  "One-click unsubscribes (RFC 8058) from the tenant's mail, by tenant." },
	{ MT_WEBHOOK_DROPPED, "ferry_webhook_batches_dropped_total",
	  "Webhook batches given up after the retry limit, by tenant." },
};

/* The category names (registered ones, then "other" past the cap). */
static int
metrics_categories_load(char (*names)[METRICS_CATEGORY_LEN])
{
	int n = atomic_load_explicit(&metrics_reg.ncategories, memory_order_acquire);

	for (int i = 0; i < n; i++)
		memcpy(names[i], metrics_reg.categories[i], METRICS_CATEGORY_LEN);
	snprintf(names[METRICS_CATEGORIES_MAX], METRICS_CATEGORY_LEN, "other");
	return n;
}

/* Bounces past the category cap add to a category really called "other". */
static void
metrics_bounced_render(struct mbuf *b, const struct metrics_row *rows, size_t n)
{
	char cats[METRICS_CATEGORIES_MAX + 1][METRICS_CATEGORY_LEN];
	int ncat = metrics_categories_load(cats), other = -1;

	for (int i = 0; i < ncat; i++)
		if (strcmp(cats[i], "other") == 0)
			other = i;
	mbuf_family(b, "ferry_recipients_bounced_total", "counter",
	    "Recipients bounced (refused or reported by an asynchronous DSN), by tenant and category.");
	for (size_t r = 0; r < n; r++) {
		uint64_t past = rows[r].bounced[METRICS_CATEGORIES_MAX];
		for (int i = 0; i < ncat; i++) {
			uint64_t v = rows[r].bounced[i] + (i == other ? past : 0);
			if (v > 0)
				mbuf_counter(b, "ferry_recipients_bounced_total", "tenant", rows[r].label,
				    "category", cats[i], v);
		}
		if (other < 0 && past > 0)
			mbuf_counter(b, "ferry_recipients_bounced_total", "tenant", rows[r].label,
			    "category", "other", past);
	}
}

static void
metrics_render_tenants(struct mbuf *b, struct state *st)
{
	size_t n;
	struct metrics_row *rows = metrics_rows_collect(st, &n);
	size_t nf = sizeof(metrics_tenant_families) / sizeof(metrics_tenant_families[0]);

	for (size_t f = 0; f < nf; f++) {
		mbuf_family(b, metrics_tenant_families[f].name, "counter", metrics_tenant_families[f].help);
		for (size_t r = 0; r < n; r++)
			mbuf_counter(b, metrics_tenant_families[f].name, "tenant", rows[r].label, NULL, NULL,
			    rows[r].c[metrics_tenant_families[f].c]);
	}
	metrics_bounced_render(b, rows, n);
	free(rows);
}

/* ---- histograms ---------------------------------------------------------------- */

static void
metrics_render_hist(struct mbuf *b, const char *name, const char *help, const struct metrics_hist *h)
{
	uint64_t cum = 0;
	char le[32];

	mbuf_family(b, name, "histogram", help);
	for (size_t i = 0; i <= h->nbounds; i++) {
		cum += LOAD(h->buckets[i]);
		if (i < h->nbounds)
			metrics_seconds(h->bounds_us[i], le, sizeof(le));
		else
			snprintf(le, sizeof(le), "+Inf");
		mbuf_printf(b, "%s_bucket{le=\"%s\"} %" PRIu64 "\n", name, le, cum);
	}
	metrics_seconds(LOAD(h->sum_us), le, sizeof(le));
	/* _count is the +Inf bucket, so the two always agree */
	mbuf_printf(b, "%s_sum %s\n%s_count %" PRIu64 "\n", name, le, name, cum);
}

/* The events outbox (src/events/outbox.h): a backlog means the state
 * database is not keeping up, and webhooks and the API lag behind. */
static void
metrics_render_events(struct mbuf *b)
{
	mbuf_family(b, "ferry_events_pending", "gauge",
	    "Events waiting in memory for the state database.");
	mbuf_gauge(b, "ferry_events_pending", NULL, NULL, (long long)outbox_pending());
	mbuf_family(b, "ferry_events_dropped_total", "counter",
	    "Events dropped because too many were waiting (mail is unaffected).");
	mbuf_counter(b, "ferry_events_dropped_total", NULL, NULL, NULL, NULL, outbox_dropped());
}

/* The state cache in Redis (src/state/state_cache.h): all zero without it. */
static void
metrics_render_state_cache(struct mbuf *b)
{
	static const char *const results[3] = { "hit", "miss", "bypass" };
	uint64_t n[3];

	state_cache_counts(n);
	mbuf_family(b, "ferry_state_cache_lookups_total", "counter",
	    "State lookups (identity at MAIL, suppression at RCPT) by result: hit (answered by the"
	    " cache in Redis), miss (read from the database, then cached), bypass (Redis unreachable).");
	for (size_t i = 0; i < 3; i++)
		mbuf_counter(b, "ferry_state_cache_lookups_total", "result", results[i], NULL, NULL, n[i]);
}

/* ---- the whole text -------------------------------------------------------------- */

char *
metrics_render(struct qmgr *q, struct state *st, size_t *len)
{
	struct mbuf b = { xmalloc(16384), 0, 16384 };

	pthread_mutex_lock(&metrics_render_lock);
	mbuf_family(&b, "ferry_build_info", "gauge", "ferry's version; always 1.");
	mbuf_gauge(&b, "ferry_build_info", "version",
	    metrics_reg.version != NULL ? metrics_reg.version : "", 1);
	metrics_render_conns(&b);
	metrics_render_fixed(&b);
	metrics_render_tenants(&b, st != NULL ? st : metrics_reg.st);
	metrics_render_queue(&b, q);
	metrics_render_events(&b);
	metrics_render_state_cache(&b);
	metrics_render_hist(&b, "ferry_delivery_latency_seconds",
	    "Seconds from a message's acceptance to the delivery of a recipient.", &metrics_reg.delivery);
	metrics_render_hist(&b, "ferry_smtp_transaction_seconds",
	    "Seconds of an inbound SMTP transaction, from MAIL FROM to the 250 after the message.",
	    &metrics_reg.smtp_tx);
	pthread_mutex_unlock(&metrics_render_lock);
	*len = b.len;
	return b.p;
}
