/*
 * webhook_sender.c - the sender thread (webhook_sender.h): endpoints in
 * memory, a curl multi handle, and each endpoint's state machine:
 *
 *   idle --(new events, no backoff)--> in flight --2xx--> idle (cursor moved)
 *                                          |
 *                                          +--fail--> waiting (next_try) --> in flight
 *                                          +--fail past webhook_retry_limit--> dropped:
 *                                             cursor moved, webhook-dropped event, idle
 *
 * Progress is saved after every outcome (webhooks table); in-memory state
 * is the truth while the thread runs, the table at start.
 * SECURITY: event text is a peer's, sent as JSON (jansson escapes it).
 * The secret never reaches a log; URLs are logged without userinfo.
 */
#include "webhook/webhook_sender.h"

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "conf/conf.h"
#include "events/event_json.h"
#include "events/outbox.h"
#include "state/events.h"
#include "metrics/metrics.h"
#include "util/log.h"
#include "util/xmalloc.h"
#include "webhook/webhook_post.h"
#include "webhook/webhook_store.h"

/* Queries per endpoint per turn when its events are all of kinds it does
 * not want: bounds one turn's work, the rest waits for the next. */
#define WS_SCANS_MAX 16
#define WS_TICK_MS   1000

struct ws_ep {
	struct webhook      w;         /* with its secret; progress fields current */
	struct webhook_post post;      /* in flight when post.easy != NULL */
	long long           batch_first, batch_last;   /* event ids of the batch in flight */
	size_t              batch_n;
	bool                due;       /* may have new events: query at the next turn */
	bool                seen;      /* still in the table (reload) */
};

static struct {
	pthread_mutex_t     lock;      /* multi's lifetime (wake-ups), opts */
	CURLM              *multi;
	pthread_t           thread;
	bool                running;
	atomic_bool         stop, woken;
	struct state       *st;
	struct webhook_opts opts;      /* ca_file owned; guarded by lock */
	unsigned            opts_gen;
	/* the thread's own */
	struct ws_ep      **eps;
	size_t              neps, cap, rr;
	unsigned            inflight;
	struct webhook_opts cur;       /* ca_file owned */
	unsigned            cur_gen;
} ws = { .lock = PTHREAD_MUTEX_INITIALIZER };

static struct {
	atomic_ullong batches_sent, events_sent, failures, batches_dropped, events_dropped;
	atomic_uint   endpoints, in_flight, failing;
} ws_stats;

void
webhook_stats(struct webhook_stats *out)
{
	out->batches_sent = atomic_load(&ws_stats.batches_sent);
	out->events_sent = atomic_load(&ws_stats.events_sent);
	out->failures = atomic_load(&ws_stats.failures);
	out->batches_dropped = atomic_load(&ws_stats.batches_dropped);
	out->events_dropped = atomic_load(&ws_stats.events_dropped);
	out->endpoints = atomic_load(&ws_stats.endpoints);
	out->in_flight = atomic_load(&ws_stats.in_flight);
	out->failing = atomic_load(&ws_stats.failing);
}

void
webhook_opts_from_conf(struct webhook_opts *o, const struct conf *c)
{
	o->batch_max = c->webhook_batch_max;
	o->timeout = c->webhook_timeout;
	o->retry_min = c->webhook_retry_min;
	o->retry_limit = c->webhook_retry_limit;
	o->concurrency = c->webhook_concurrency;
	o->ca_file = c->tls_ca_file;
}

/* The outbox committed events: wake the thread (any thread calls this). */
static void
ws_wake(void *arg)
{
	(void)arg;
	atomic_store(&ws.woken, true);
	pthread_mutex_lock(&ws.lock);
	if (ws.multi != NULL)
		curl_multi_wakeup(ws.multi);
	pthread_mutex_unlock(&ws.lock);
}

void
webhook_sender_init(void)
{
	static bool done;

	if (done)
		return;
	done = true;
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (outbox_on_commit(ws_wake, NULL) < 0)
		log_warn("event=webhook-warning reason=\"no outbox wake-up: events wait for the 1 s tick\"");
}

void
webhook_sender_set(const struct webhook_opts *o)
{
	pthread_mutex_lock(&ws.lock);
	free((char *)ws.opts.ca_file);
	ws.opts = *o;
	ws.opts.ca_file = o->ca_file != NULL ? xstrdup(o->ca_file) : NULL;
	ws.opts_gen++;
	pthread_mutex_unlock(&ws.lock);
	ws_wake(NULL);
}

/* The thread's copy of the options, when they changed. */
static void
ws_opts_refresh(void)
{
	pthread_mutex_lock(&ws.lock);
	if (ws.cur_gen != ws.opts_gen) {
		free((char *)ws.cur.ca_file);
		ws.cur = ws.opts;
		ws.cur.ca_file = ws.opts.ca_file != NULL ? xstrdup(ws.opts.ca_file) : NULL;
		ws.cur_gen = ws.opts_gen;
	}
	pthread_mutex_unlock(&ws.lock);
}

/* ---- endpoints -------------------------------------------------------------------- */

static void
ws_ep_abandon(struct ws_ep *ep)
{
	if (ep->post.easy == NULL)
		return;
	curl_multi_remove_handle(ws.multi, ep->post.easy);
	webhook_post_free(&ep->post);
	ws.inflight--;
}

static void
ws_ep_free(struct ws_ep *ep)
{
	ws_ep_abandon(ep);
	sodium_memzero(ep->w.secret, sizeof(ep->w.secret));
	free(ep);
}

static struct ws_ep *
ws_ep_find(long long id)
{
	for (size_t i = 0; i < ws.neps; i++)
		if (ws.eps[i]->w.id == id)
			return ws.eps[i];
	return NULL;
}

/* One row of the table: a new endpoint, or the known one (its progress
 * in memory is newer than the row's unless the secret changed). */
static void
ws_reload_one(void *arg, const struct webhook *w)
{
	struct ws_ep *ep = ws_ep_find(w->id);

	(void)arg;
	if (ep != NULL && strcmp(ep->w.secret, w->secret) == 0) {
		snprintf(ep->w.url, sizeof(ep->w.url), "%s", w->url);
		snprintf(ep->w.events, sizeof(ep->w.events), "%s", w->events);
		ep->seen = true;
		return;
	}
	if (ep == NULL) {
		if (ws.neps == ws.cap) {
			ws.cap = ws.cap ? ws.cap * 2 : 16;
			ws.eps = xrealloc(ws.eps, ws.cap * sizeof(*ws.eps));
		}
		ep = xcalloc(1, sizeof(*ep));
		ws.eps[ws.neps++] = ep;
	}
	ep->w = *w;
	ep->due = ep->seen = true;
}

/* Read the table again: endpoints added, deleted (a POST in flight for a
 * deleted one is abandoned), changed. On a database error keep them all. */
static void
ws_reload(void)
{
	size_t kept = 0;
	unsigned failing = 0;

	for (size_t i = 0; i < ws.neps; i++)
		ws.eps[i]->seen = false;
	if (webhook_list(ws.st, 0, true, ws_reload_one, NULL) < 0) {
		log_warn("event=webhook-warning reason=\"cannot read the webhooks table\"");
		return;
	}
	for (size_t i = 0; i < ws.neps; i++) {
		if (!ws.eps[i]->seen) {
			ws_ep_free(ws.eps[i]);
			continue;
		}
		failing += ws.eps[i]->w.failures > 0;
		ws.eps[kept++] = ws.eps[i];
	}
	ws.neps = kept;
	atomic_store(&ws_stats.endpoints, (unsigned)kept);
	atomic_store(&ws_stats.failing, failing);
}

/* ---- batches ---------------------------------------------------------------------- */

struct ws_batch {
	const struct ws_ep *ep;
	json_t             *events;
	long long           first, last;   /* first wanted id, last id read */
};

static void
ws_batch_add(void *arg, const struct state_event *e)
{
	struct ws_batch *b = arg;
	json_t *j;

	b->last = e->id;
	if (!webhook_events_match(b->ep->w.events, e->kind))
		return;
	if ((j = event_json(e, b->ep->w.tenant)) == NULL)
		return;
	if (json_array_size(b->events) == 0)
		b->first = e->id;
	json_array_append_new(b->events, j);
}

/* Read the endpoint's next batch into b: the events after its cursor,
 * at most batch_max read. Events of kinds it does not want are passed
 * over (the cursor moves past them once a batch is sent, or here when
 * none was wanted). 0 (b->events may be empty), or -1. */
static int
ws_batch_read(struct ws_ep *ep, struct ws_batch *b)
{
	struct state_event_query q = { .tenant_id = ep->w.tenant_id, .ascending = true,
	    .limit = (long)ws.cur.batch_max };
	int n = 0;

	b->last = ep->w.cursor;
	for (int scans = 0; scans < WS_SCANS_MAX; scans++) {
		q.after_id = b->last;
		if ((n = state_events_query(ws.st, &q, ws_batch_add, b)) < 0)
			return -1;
		if (json_array_size(b->events) > 0 || n < q.limit)
			break;
	}
	if (json_array_size(b->events) == 0 && b->last > ep->w.cursor) {
		ep->w.cursor = b->last;   /* nothing it wants among them */
		if (webhook_progress_save(ws.st, &ep->w) < 0)
			log_warn("event=webhook-warning webhook=%lld reason=\"cannot save progress\"", ep->w.id);
		ep->due = n == q.limit;
	}
	return 0;
}

/* Start the endpoint's next POST if it has events: true when started. */
static bool
ws_batch_start(struct ws_ep *ep, time_t now)
{
	struct ws_batch b = { .ep = ep, .events = json_array() };
	json_t *top = json_object();
	char *body = NULL;
	int rc;

	ep->due = false;
	rc = b.events != NULL && top != NULL ? ws_batch_read(ep, &b) : -1;
	if (rc == 0 && json_array_size(b.events) > 0 && json_object_set(top, "events", b.events) == 0)
		body = json_dumps(top, JSON_COMPACT);
	ep->batch_n = json_array_size(b.events);
	json_decref(b.events);
	json_decref(top);
	if (rc < 0) {
		log_warn("event=webhook-warning webhook=%lld reason=\"cannot read events\"", ep->w.id);
		ep->due = true;
		return false;
	}
	if (body == NULL)
		return false;
	ep->batch_first = b.first;
	ep->batch_last = b.last;
	if (webhook_post_init(&ep->post, &ep->w, body, strlen(body), now, (long)ws.cur.timeout,
	    ws.cur.ca_file) < 0 || curl_easy_setopt(ep->post.easy, CURLOPT_PRIVATE, ep) != CURLE_OK ||
	    curl_multi_add_handle(ws.multi, ep->post.easy) != CURLM_OK) {
		webhook_post_free(&ep->post);
		log_warn("event=webhook-warning webhook=%lld reason=\"cannot make the request\"", ep->w.id);
		ep->due = true;
		return false;
	}
	ws.inflight++;
	return true;
}

/* Start what is due, endpoints in turn from a moving start so none is
 * always last, while fewer than webhook_concurrency POSTs are in flight. */
static void
ws_batches_start(time_t now)
{
	size_t n = ws.neps;

	for (size_t i = 0; i < n && ws.inflight < (unsigned)ws.cur.concurrency; i++) {
		struct ws_ep *ep = ws.eps[(ws.rr + i) % n];
		if (ep->post.easy != NULL || !ep->due || now < ep->w.next_try)
			continue;
		ws_batch_start(ep, now);
	}
	ws.rr = n > 0 ? (ws.rr + 1) % n : 0;
	atomic_store(&ws_stats.in_flight, ws.inflight);
}

/* ---- outcomes ---------------------------------------------------------------------- */

static const char *
ws_quote(char *out, size_t outsz, const char *s)
{
	return log_quote(out, outsz, s, strlen(s));
}

static long long
ws_backoff(long long failures)
{
	long long base = ws.cur.retry_min;

	for (long long i = 1; i < failures && base < WEBHOOK_RETRY_MAX; i++)
		base *= 2;
	if (base > WEBHOOK_RETRY_MAX)
		base = WEBHOOK_RETRY_MAX;
	/* +-20%: endpoints that failed together do not retry together */
	return base - base / 5 + (long long)randombytes_uniform((uint32_t)(2 * (base / 5) + 1));
}

static void
ws_drop(struct ws_ep *ep, time_t now)
{
	char detail[EVENT_TEXT_MAX], url[WEBHOOK_URL_MAX + 1], q[WEBHOOK_URL_MAX + 8], qe[600];
	struct state_event e = { .tenant_id = ep->w.tenant_id, .kind = EV_WEBHOOK_DROPPED,
	    .queue_id = "", .rcpt_index = -1, .rcpt = "", .category = "", .status = "",
	    .detail = detail, .source = "webhook", .report_id = "" };

	snprintf(detail, sizeof(detail), "webhook %lld: events %lld-%lld (%zu) dropped after %llds of "
	    "failures: %s", ep->w.id, ep->batch_first, ep->batch_last, ep->batch_n,
	    (long long)(now - ep->w.failing_since), ep->w.last_error);
	outbox_emit(&e);
	log_warn("event=webhook-dropped webhook=%lld tenant=%s url=%s first=%lld last=%lld events=%zu "
	    "failing_for=%lld error=%s", ep->w.id, ep->w.tenant,
	    ws_quote(q, sizeof(q), webhook_url_origin(ep->w.url, url, sizeof(url))),
	    ep->batch_first, ep->batch_last, ep->batch_n, (long long)(now - ep->w.failing_since),
	    ws_quote(qe, sizeof(qe), ep->w.last_error));
	atomic_fetch_add(&ws_stats.batches_dropped, 1);
	atomic_fetch_add(&ws_stats.events_dropped, ep->batch_n);
	ep->w.cursor = ep->batch_last;
	ep->w.failures = 0;
	ep->w.failing_since = ep->w.next_try = 0;
}

static void
ws_failed(struct ws_ep *ep, time_t now, long status)
{
	char url[WEBHOOK_URL_MAX + 1], q[WEBHOOK_URL_MAX + 8], qe[600];
	long long delay;

	atomic_fetch_add(&ws_stats.failures, 1);
	metrics_webhook_post(false);
	ep->w.failures++;
	if (ep->w.failing_since == 0)
		ep->w.failing_since = now;
	if (now - ep->w.failing_since >= ws.cur.retry_limit) {
		ws_drop(ep, now);
		return;
	}
	delay = ws_backoff(ep->w.failures);
	/* one last try at the limit itself */
	ep->w.next_try = now + delay < ep->w.failing_since + ws.cur.retry_limit ? now + delay :
	    ep->w.failing_since + ws.cur.retry_limit;
	log_warn("event=webhook-failed webhook=%lld tenant=%s url=%s status=%ld error=%s failures=%lld "
	    "retry_in=%llds", ep->w.id, ep->w.tenant,
	    ws_quote(q, sizeof(q), webhook_url_origin(ep->w.url, url, sizeof(url))), status,
	    ws_quote(qe, sizeof(qe), ep->w.last_error), ep->w.failures,
	    (long long)(ep->w.next_try - now));
}

static void
ws_outcome(struct ws_ep *ep, CURLcode rc, time_t now)
{
	long status;
	bool ok = webhook_post_result(&ep->post, rc, &status, ep->w.last_error,
	    sizeof(ep->w.last_error));

	if (ok) {
		atomic_fetch_add(&ws_stats.batches_sent, 1);
		metrics_webhook_post(true);
		atomic_fetch_add(&ws_stats.events_sent, ep->batch_n);
		log_debug("event=webhook-sent webhook=%lld tenant=%s first=%lld last=%lld events=%zu "
		    "status=%ld", ep->w.id, ep->w.tenant, ep->batch_first, ep->batch_last, ep->batch_n,
		    status);
		ep->w.cursor = ep->batch_last;
		ep->w.failures = 0;
		ep->w.failing_since = ep->w.next_try = 0;
		ep->due = true;        /* more may wait behind this batch */
	} else
		ws_failed(ep, now, status);
	if (webhook_progress_save(ws.st, &ep->w) < 0)
		log_warn("event=webhook-warning webhook=%lld reason=\"cannot save progress\"", ep->w.id);
}

/* The transfers curl finished. */
static void
ws_collect(time_t now)
{
	CURLMsg *m;
	int left;

	while ((m = curl_multi_info_read(ws.multi, &left)) != NULL) {
		CURL *easy = m->easy_handle;
		CURLcode rc = m->data.result;
		struct ws_ep *ep = NULL;
		if (m->msg != CURLMSG_DONE)
			continue;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, (char **)&ep);
		curl_multi_remove_handle(ws.multi, easy);
		ws.inflight--;
		if (ep == NULL)
			continue;
		ws_outcome(ep, rc, now);
		webhook_post_free(&ep->post);
	}
	atomic_store(&ws_stats.in_flight, ws.inflight);
}

/* ---- the thread ------------------------------------------------------------------- */

static long long
ws_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
ws_all_due(void)
{
	for (size_t i = 0; i < ws.neps; i++)
		ws.eps[i]->due = true;
}

static void *
ws_main(void *arg)
{
	long long tick = 0;
	int running;

	(void)arg;
	while (!atomic_load(&ws.stop)) {
		long long ms = ws_now_ms();
		time_t now = time(NULL);
		ws_opts_refresh();
		if (ms >= tick) {
			ws_reload();
			ws_all_due();
			tick = ms + WS_TICK_MS;
		}
		if (atomic_exchange(&ws.woken, false))
			ws_all_due();
		ws_batches_start(now);
		curl_multi_perform(ws.multi, &running);
		ws_collect(time(NULL));
		ms = ws_now_ms();
		curl_multi_poll(ws.multi, NULL, 0, tick > ms ? (int)(tick - ms) : 0, NULL);
		curl_multi_perform(ws.multi, &running);
		ws_collect(time(NULL));
	}
	return NULL;
}

int
webhook_sender_start(struct state *st, const struct webhook_opts *o, char *err, size_t errlen)
{
	CURLM *multi;

	webhook_sender_init();
	if ((multi = curl_multi_init()) == NULL) {
		snprintf(err, errlen, "webhooks: cannot make a curl multi handle");
		return -1;
	}
	webhook_sender_set(o);
	pthread_mutex_lock(&ws.lock);
	ws.multi = multi;
	pthread_mutex_unlock(&ws.lock);
	ws.st = st;
	atomic_store(&ws.stop, false);
	if (pthread_create(&ws.thread, NULL, ws_main, NULL) != 0) {
		snprintf(err, errlen, "webhooks: cannot start the sender thread");
		pthread_mutex_lock(&ws.lock);
		ws.multi = NULL;
		pthread_mutex_unlock(&ws.lock);
		curl_multi_cleanup(multi);
		return -1;
	}
	ws.running = true;
	return 0;
}

void
webhook_sender_stop(void)
{
	CURLM *multi;

	if (!ws.running)
		return;
	atomic_store(&ws.stop, true);
	ws_wake(NULL);
	pthread_join(ws.thread, NULL);
	ws.running = false;
	for (size_t i = 0; i < ws.neps; i++)
		ws_ep_free(ws.eps[i]);
	free(ws.eps);
	ws.eps = NULL;
	ws.neps = ws.cap = 0;
	pthread_mutex_lock(&ws.lock);
	multi = ws.multi;
	ws.multi = NULL;
	free((char *)ws.opts.ca_file);
	ws.opts.ca_file = NULL;
	pthread_mutex_unlock(&ws.lock);
	curl_multi_cleanup(multi);
	free((char *)ws.cur.ca_file);
	ws.cur.ca_file = NULL;
	ws.cur_gen = ws.opts_gen - 1;
	atomic_store(&ws_stats.endpoints, 0);
	atomic_store(&ws_stats.in_flight, 0);
}
