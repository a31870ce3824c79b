/*
 * metrics.h - ferryd's Prometheus metrics: a process-wide registry of
 * counters, gauges and histograms with bounded label sets, rendered as the
 * text exposition format 0.0.4 (metrics_render.c) for `GET /metrics` and
 * `ferryctl metrics`.
 *
 * Cost: the SMTP and delivery paths call these thousands of times a
 * second, so every update is one or two relaxed C11 atomic additions on a
 * preallocated slot: no lock, no allocation, no system call. Per-tenant
 * series live in a bounded open-addressing table keyed by tenant id
 * (claimed with one compare-and-swap the first time a tenant is seen);
 * beyond METRICS_TENANTS_MAX tenants the rest count under tenant="other".
 * Tenant names are looked up only when rendering.
 * Labels are never free text from a peer: listener roles, TLS versions,
 * shaping actions and the classifier's categories (bounded by
 * METRICS_CATEGORIES_MAX, beyond: "other"), tenant names from the state
 * database. Nothing here is per recipient or per message.
 */
#ifndef FERRY_METRICS_METRICS_H
#define FERRY_METRICS_METRICS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct qmgr;
struct state;
struct state_event;

#define METRICS_TENANTS_MAX    1000   /* distinct tenants with their own series */
#define METRICS_CATEGORIES_MAX 32     /* distinct bounce categories */
#define METRICS_LISTENERS_MAX  8      /* listener roles (enum conf_role) */

/* Per-tenant counters (ferry_..._total{tenant}). */
enum metrics_tenant_counter {
	MT_MESSAGES_RECEIVED,     /* a message queued: EV_RECEIVED of recipient 0 */
	MT_RCPTS_RECEIVED,        /* EV_RECEIVED */
	MT_RCPTS_DELIVERED,
	MT_RCPTS_DEFERRED,
	MT_RCPTS_EXPIRED,
	MT_RCPTS_SUPPRESSED,
	MT_COMPLAINTS,
	MT_UNSUBSCRIBED,          /* one-click unsubscribes (RFC 8058) */
	MT_WEBHOOK_DROPPED,       /* webhook batches given up after the retry limit */
	MT_COUNTERS               /* (bounces: by category, metrics_bounce) */
};

enum metrics_direction { METRICS_INBOUND, METRICS_OUTBOUND };

/* ---- set-up (ferryd) ---- */

/* The version for ferry_build_info and the state database tenant names are
 * read from at render time (st may be NULL: tenants show as their ids).
 * Call once before the threads start; st must outlive the renders. */
void metrics_init(const char *version, struct state *st);
/* Forget every value (unit tests). */
void metrics_reset(void);

/* ---- updates (any thread, lock-free) ---- */

/* An SMTP connection accepted (after admission) / closed on listener
 * role (enum conf_role). */
void metrics_conn_inbound_open(int role);
void metrics_conn_inbound_close(int role);
/* An SMTP connection turned away at accept (a connection limit). */
void metrics_conn_inbound_refused(int role);
/* An outbound SMTP/LMTP connection made / closed. */
void metrics_conn_outbound_open(void);
void metrics_conn_outbound_close(void);
/* A TLS handshake completed; version as SSL_get_version() says it. */
void metrics_tls_session(enum metrics_direction dir, const char *version);
/* Traffic shaping acted on a site: action "connections", "rate", "suspend". */
void metrics_shaping_action(const char *action);
/* A per-tenant counter (tenant_id 0: mail of no tenant). */
void metrics_tenant_add(long long tenant_id, enum metrics_tenant_counter c, uint64_t n);
/* A bounce of tenant_id's mail in category ("" when not classified). */
void metrics_bounce(long long tenant_id, const char *category);
/* An SMTP transaction took us microseconds (MAIL FROM to the 250 after
 * the message). */
void metrics_smtp_transaction(uint64_t us);
/* A recipient was delivered delay seconds after its message arrived. */
void metrics_delivery_latency(long long delay);

/* A webhook batch was POSTed: answered 2xx (ok) or not (failed, retried). */
void metrics_webhook_post(bool ok);

/* A monotonic clock in microseconds, for metrics_smtp_transaction. */
uint64_t metrics_now_us(void);

/* The outbox observer (metrics_events.c): events become the per-tenant
 * counters and the delivery latency. Register with
 * outbox_observe(metrics_event_note, NULL). */
void metrics_event_note(void *arg, const struct state_event *ev);

/* ---- rendering (metrics_render.c) ---- */

/* Every metric as the Prometheus text format 0.0.4 into a malloc'd,
 * NUL-terminated buffer (*len set); queue sizes from q (NULL: left out),
 * tenant names from st (NULL: the state of metrics_init). Any thread;
 * renders are serialised. */
char *metrics_render(struct qmgr *q, struct state *st, size_t *len);

/* The content type of what metrics_render makes. */
#define METRICS_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

#endif
