/*
 * qmgr.c - the queue manager: which message is delivered when. Deferred
 * messages wait on a timer heap keyed by their next attempt; due ones wait
 * in a ready queue per destination domain, one FIFO per tenant, and the
 * dispatcher (on the delivery engine's loop) starts them while their site
 * has room (twice its connections, shared by the domains it serves) and
 * the engine is below delivery_max_inflight, tenants in turn. A slow or suspended site keeps
 * only its own messages waiting; one tenant's backlog waits behind its own
 * turn. Everything is rebuilt from the spool at start (a deferred file's
 * mtime is its next attempt time), so this state is a cache of the spool,
 * never the only copy of anything.
 */
#include "queue/qmgr.h"

#include <dirent.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf/conf.h"
#include "delivery/deliver.h"
#include "delivery/site.h"
#include "events/outbox.h"
#include "net/server_snap.h"
#include "spool/spool_env.h"
#include "util/log.h"
#include "util/strhash.h"
#include "util/xmalloc.h"

#define QMGR_BUCKETS     65536
#define QMGR_DOM_BUCKETS 4096
#define QMGR_TENANTS_SUSPENDED 256
#define QMGR_DOMAIN_MAX  255
#define QMGR_WEIGHTS     1024

enum qent_state { QE_READY, QE_ACTIVE, QE_DEFERRED, QE_HOLD };

struct qdom;

struct qent {
	struct qent    *hnext;          /* hash chain */
	struct qent    *next;           /* its tenant's ready FIFO */
	char            id[SPOOL_ID_LEN + 1];
	enum qent_state state;
	time_t          next_try;
	int             attempts;
	bool            warned;
	bool            delete_asked, hold_asked;
	/* In hold/ for the tenant's suspension; false: held by the operator. */
	bool            tenant_hold;
	/* Held at arrival while its tenant was under review: `tenant resume`
	 * releases it, after a restart too (qmgr_keys_read). */
	bool            review_hold;
	char            last_error[256];
	long long       tenant;         /* 0: none */
	char            domain[QMGR_DOMAIN_MAX + 1];   /* lower case; "" not known yet */
	size_t          heap_i;         /* QE_DEFERRED: its index in the heap */
	struct qdom    *dom;            /* QE_READY/QE_ACTIVE: its domain queue */
	struct qmgr    *q;              /* for the engine's callback */
	void           *site_token;     /* QE_ACTIVE: counted against its site (deliver.h) */
};

/* A hold or release as an event (outbox: copies, never blocks). */
static void
qmgr_event(const char *kind, long long tenant, const char *id, const char *by)
{
	struct state_event e = { .tenant_id = tenant, .kind = kind, .queue_id = id, .rcpt_index = -1,
	    .source = by };

	outbox_emit(&e);
}

/* One tenant's ready messages for one domain, oldest first. */
struct qten {
	long long    tenant;
	int          served;            /* messages started in its current turn */
	struct qent *head, *tail;
	struct qten *next;              /* the domain's tenants, a ring */
};

/* A destination domain's ready queue. */
struct qdom {
	struct qdom *hnext;
	char         name[QMGR_DOMAIN_MAX + 1];
	struct qten *turn;              /* the tenant whose turn is next (ring) */
	long         nready, active;
	bool         in_ring;
	/* an attempt found its site suspended by the operator: nothing more
	 * starts for this domain until a resume */
	bool         site_suspended;
	struct qdom *ring_next, *ring_prev;
};

struct qmgr {
	struct deliver_handles h;
	struct deliver_engine *eng;
	struct event   *tick;
	pthread_mutex_t lock;            /* guards everything below */
	struct qent    *hash[QMGR_BUCKETS];
	struct qdom    *doms[QMGR_DOM_BUCKETS];
	struct qdom    *ring;            /* domains with ready mail, in turn */
	struct qent   **heap;            /* deferred, by next_try */
	size_t          nheap, heap_cap;
	size_t          count;
	long            active;
	long long       tenants_suspended[QMGR_TENANTS_SUSPENDED];
	size_t          ntenants_suspended;
	atomic_bool     kick_posted;
	/* tenants' delivery weights as their last attempts reported them
	 * (direct-mapped by id; a tenant not seen yet counts 1) */
	struct { long long tenant; int weight; } weights[QMGR_WEIGHTS];
	bool            running, stopping;
};

static unsigned
qmgr_hash(const char *id)
{
	return strhash(id, false);
}

static struct qent *
qmgr_find(struct qmgr *q, const char *id)
{
	struct qent *e = q->hash[qmgr_hash(id) % QMGR_BUCKETS];

	while (e != NULL && strcmp(e->id, id) != 0)
		e = e->hnext;
	return e;
}

static struct qent *
qmgr_insert(struct qmgr *q, const char *id)
{
	struct qent *e = qmgr_find(q, id);
	unsigned h;

	if (e != NULL)
		return e;
	e = xcalloc(1, sizeof(*e));
	e->q = q;
	snprintf(e->id, sizeof(e->id), "%s", id);
	h = qmgr_hash(id) % QMGR_BUCKETS;
	e->hnext = q->hash[h];
	q->hash[h] = e;
	q->count++;
	e->state = QE_HOLD;     /* in no list until placed */
	return e;
}

static void
qmgr_forget(struct qmgr *q, struct qent *e)
{
	struct qent **pp = &q->hash[qmgr_hash(e->id) % QMGR_BUCKETS];

	while (*pp != e)
		pp = &(*pp)->hnext;
	*pp = e->hnext;
	q->count--;
	free(e);
}

static void
qmgr_key_set(struct qent *e, long long tenant, const char *domain)
{
	size_t i;

	e->tenant = tenant;
	for (i = 0; domain != NULL && domain[i] != '\0' && i < QMGR_DOMAIN_MAX; i++)
		e->domain[i] = (char)(domain[i] >= 'A' && domain[i] <= 'Z' ? domain[i] + 32 : domain[i]);
	e->domain[i] = '\0';
}

/* ---- the timer heap of deferred messages ----------------------------------- */

static void
qmgr_heap_swap(struct qmgr *q, size_t a, size_t b)
{
	struct qent *t = q->heap[a];

	q->heap[a] = q->heap[b];
	q->heap[b] = t;
	q->heap[a]->heap_i = a;
	q->heap[b]->heap_i = b;
}

static void
qmgr_heap_up(struct qmgr *q, size_t i)
{
	while (i > 0 && q->heap[(i - 1) / 2]->next_try > q->heap[i]->next_try) {
		qmgr_heap_swap(q, i, (i - 1) / 2);
		i = (i - 1) / 2;
	}
}

static void
qmgr_heap_down(struct qmgr *q, size_t i)
{
	for (;;) {
		size_t l = 2 * i + 1, r = l + 1, m = i;
		if (l < q->nheap && q->heap[l]->next_try < q->heap[m]->next_try)
			m = l;
		if (r < q->nheap && q->heap[r]->next_try < q->heap[m]->next_try)
			m = r;
		if (m == i)
			return;
		qmgr_heap_swap(q, i, m);
		i = m;
	}
}

static void
qmgr_defer(struct qmgr *q, struct qent *e, time_t next_try)
{
	if (q->nheap == q->heap_cap) {
		q->heap_cap = q->heap_cap ? q->heap_cap * 2 : 1024;
		q->heap = xrealloc(q->heap, q->heap_cap * sizeof(*q->heap));
	}
	e->state = QE_DEFERRED;
	e->next_try = next_try;
	e->heap_i = q->nheap;
	q->heap[q->nheap++] = e;
	qmgr_heap_up(q, e->heap_i);
}

static void
qmgr_heap_remove(struct qmgr *q, struct qent *e)
{
	size_t i = e->heap_i;

	if (i >= q->nheap || q->heap[i] != e)
		return;
	q->nheap--;
	if (i != q->nheap) {
		q->heap[i] = q->heap[q->nheap];
		q->heap[i]->heap_i = i;
		qmgr_heap_down(q, i);
		qmgr_heap_up(q, i);
	}
}

/* ---- ready queues per domain, tenants in turn ------------------------------- */

static struct qdom *
qmgr_dom_get(struct qmgr *q, const char *name)
{
	unsigned h = qmgr_hash(name) % QMGR_DOM_BUCKETS;
	struct qdom *d;

	for (d = q->doms[h]; d != NULL; d = d->hnext)
		if (strcmp(d->name, name) == 0)
			return d;
	d = xcalloc(1, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	d->hnext = q->doms[h];
	q->doms[h] = d;
	return d;
}

static void
qmgr_ring_add(struct qmgr *q, struct qdom *d)
{
	if (d->in_ring)
		return;
	d->in_ring = true;
	if (q->ring == NULL) {
		d->ring_next = d->ring_prev = d;
		q->ring = d;
		return;
	}
	d->ring_next = q->ring;
	d->ring_prev = q->ring->ring_prev;
	q->ring->ring_prev->ring_next = d;
	q->ring->ring_prev = d;
}

static void
qmgr_ring_drop(struct qmgr *q, struct qdom *d)
{
	if (!d->in_ring)
		return;
	d->in_ring = false;
	if (d->ring_next == d)
		q->ring = NULL;
	else {
		d->ring_prev->ring_next = d->ring_next;
		d->ring_next->ring_prev = d->ring_prev;
		if (q->ring == d)
			q->ring = d->ring_next;
	}
}

static struct qten *
qmgr_ten_get(struct qdom *d, long long tenant)
{
	struct qten *t = d->turn;

	if (t != NULL)
		do {
			if (t->tenant == tenant)
				return t;
			t = t->next;
		} while (t != d->turn);
	t = xcalloc(1, sizeof(*t));
	t->tenant = tenant;
	if (d->turn == NULL) {
		t->next = t;
		d->turn = t;
	} else {          /* last in this round */
		struct qten *last = d->turn;
		while (last->next != d->turn)
			last = last->next;
		last->next = t;
		t->next = d->turn;
	}
	return t;
}

static void
qmgr_ready_push(struct qmgr *q, struct qent *e)
{
	struct qdom *d = qmgr_dom_get(q, e->domain);
	struct qten *t = qmgr_ten_get(d, e->tenant);

	e->state = QE_READY;
	e->dom = d;
	e->next = NULL;
	if (t->tail != NULL)
		t->tail->next = e;
	else
		t->head = e;
	t->tail = e;
	d->nready++;
	qmgr_ring_add(q, d);
}

/* Take e out of whichever structure holds it (ready FIFO or heap). */
static void
qmgr_unlink(struct qmgr *q, struct qent *e)
{
	if (e->state == QE_DEFERRED) {
		qmgr_heap_remove(q, e);
		return;
	}
	if (e->state != QE_READY)
		return;
	struct qdom *d = e->dom;
	struct qten *t = qmgr_ten_get(d, e->tenant);
	struct qent **pp = &t->head, *prev = NULL;
	while (*pp != NULL && *pp != e) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == NULL)
		return;
	*pp = e->next;
	if (t->tail == e)
		t->tail = prev;
	e->next = NULL;
	d->nready--;
}

static bool
qmgr_tenant_suspended(const struct qmgr *q, long long tenant)
{
	for (size_t i = 0; i < q->ntenants_suspended; i++)
		if (q->tenants_suspended[i] == tenant)
			return true;
	return false;
}

static int
qmgr_weight(const struct qmgr *q, long long tenant)
{
	size_t i = (size_t)tenant % QMGR_WEIGHTS;

	return q->weights[i].tenant == tenant && q->weights[i].weight > 0 ? q->weights[i].weight : 1;
}

static void
qmgr_weight_learn(struct qmgr *q, long long tenant, int weight)
{
	size_t i = (size_t)tenant % QMGR_WEIGHTS;

	q->weights[i].tenant = tenant;
	q->weights[i].weight = weight;
}

/* The next message of d, tenants in turn, each taking as many as its
 * weight at a turn (deficit round robin; suspended tenants skipped). */
static struct qent *
qmgr_ready_pop(struct qmgr *q, struct qdom *d)
{
	struct qten *start = d->turn, *t = start;

	if (t == NULL)
		return NULL;
	do {
		if (t->head != NULL && !qmgr_tenant_suspended(q, t->tenant)) {
			struct qent *e = t->head;
			t->head = e->next;
			if (t->head == NULL)
				t->tail = NULL;
			e->next = NULL;
			d->turn = t;
			if (++t->served >= qmgr_weight(q, t->tenant) || t->head == NULL) {
				t->served = 0;
				d->turn = t->next;    /* the next tenant's turn */
			}
			d->nready--;
			return e;
		}
		t->served = 0;
		t = t->next;
	} while (t != start);
	return NULL;
}

/* ---- dispatch (the engine's loop thread) ----------------------------------- */

static void qmgr_attempt_end(void *arg, const struct deliver_outcome *out);
static void qmgr_dom_release(struct qmgr *q, struct qdom *d);


static bool
qmgr_start_one(struct qmgr *q, struct qdom *d, struct qent *e)
{
	e->site_token = deliver_engine_domain_start(q->eng, d->name);
	if (deliver_engine_run(q->eng, e->id, e->attempts, e->warned, qmgr_attempt_end, e, &e->site_token) < 0) {
		deliver_engine_domain_end(q->eng, e->site_token);
		e->site_token = NULL;
		qmgr_defer(q, e, time(NULL) + 5);    /* no room for it now; no attempt counted */
		return false;
	}
	e->state = QE_ACTIVE;
	e->dom = d;
	d->active++;
	q->active++;
	return true;
}

/* Due deferred messages join their ready queues. */
static void
qmgr_due_move(struct qmgr *q, time_t now)
{
	while (q->nheap > 0 && q->heap[0]->next_try <= now) {
		struct qent *e = q->heap[0];
		qmgr_heap_remove(q, e);
		qmgr_ready_push(q, e);
	}
}

/* One round over the domains with ready mail: each starts what its cap
 * allows, one message per domain per turn so domains share the engine. */
static void
qmgr_dispatch_locked(struct qmgr *q)
{
	/* one reading of the configuration for the whole round */
	struct server_snap *snap = server_snap_get(q->h.snaps);
	const struct conf *c = snap->conf;
	long max = (long)c->delivery_max_inflight, started;

	if (!c->delivery_on || q->stopping) {     /* "delivery off": mail stays queued */
		server_snap_put(snap);
		return;
	}
	qmgr_due_move(q, time(NULL));
	do {
		struct qdom *d = q->ring, *end;
		started = 0;
		if (d == NULL)
			break;
		end = d->ring_prev;
		for (;;) {
			struct qdom *next = d->ring_next;
			bool last = d == end;
			long room = d->name[0] ? deliver_engine_domain_room(q->eng, c, d->name, d->active) : max;
			struct qent *e = NULL;
			if (q->active < max && room > 0 && !d->site_suspended &&
			    (e = qmgr_ready_pop(q, d)) != NULL && qmgr_start_one(q, d, e))
				started++;
			if (d->nready == 0) {
				qmgr_ring_drop(q, d);
				qmgr_dom_release(q, d);     /* d may be gone: not used below */
			}
			if (last || q->active >= max)
				break;
			d = next;
		}
	} while (started > 0 && q->active < max);
	server_snap_put(snap);
}

static void
qmgr_dispatch(void *arg)
{
	struct qmgr *q = arg;

	atomic_store(&q->kick_posted, false);
	pthread_mutex_lock(&q->lock);
	qmgr_dispatch_locked(q);
	pthread_mutex_unlock(&q->lock);
}

/* Ask the loop for a dispatch round (any thread; one pending at a time). */
static void
qmgr_kick(struct qmgr *q)
{
	if (q->eng == NULL || atomic_exchange(&q->kick_posted, true))
		return;
	deliver_engine_post(q->eng, qmgr_dispatch, q);
}

void
qmgr_conf_changed(struct qmgr *q)
{
	qmgr_kick(q);
}

static void
qmgr_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	qmgr_dispatch(arg);
}

struct qmgr *
qmgr_new(const struct deliver_handles *h)
{
	struct qmgr *q = xcalloc(1, sizeof(*q));

	q->h = *h;
	pthread_mutex_init(&q->lock, NULL);
	return q;
}

void
qmgr_msg_add(struct qmgr *q, const char *id, long long tenant, const char *domain)
{
	pthread_mutex_lock(&q->lock);
	struct qent *e = qmgr_insert(q, id);
	if (e->state == QE_HOLD && !e->tenant_hold) {    /* new, not a held one */
		qmgr_key_set(e, tenant, domain);
		qmgr_ready_push(q, e);
	}
	pthread_mutex_unlock(&q->lock);
	qmgr_kick(q);
}

void
qmgr_msg_held(struct qmgr *q, const char *id, long long tenant, const char *domain, bool review)
{
	pthread_mutex_lock(&q->lock);
	struct qent *e = qmgr_insert(q, id);
	if (e->state == QE_HOLD && !e->tenant_hold) {    /* in no list: stays held */
		qmgr_key_set(e, tenant, domain);
		e->review_hold = review;
	}
	pthread_mutex_unlock(&q->lock);
}

/* A notification delivery queued (deliver.h: queued). */
static void
qmgr_queued(void *arg, const char *id, const char *rcpt)
{
	const char *at = strrchr(rcpt, '@');

	qmgr_msg_add(arg, id, 0, at ? at + 1 : "");
}

/* A domain's site became known (deliver.h: learned): start more of it. */
static void
qmgr_learned(void *arg)
{
	qmgr_kick(arg);
}

/* The keys of a queued file: its tenant and first pending domain. */
static void
qmgr_keys_read(struct qmgr *q, struct qent *e, bool held)
{
	struct spool_env env;
	int fd = spool_queue_open(q->h.spool, e->id, held);

	if (fd < 0)
		return;
	if (spool_env_parse(fd, &env) == 0) {
		const char *domain = "";
		for (size_t i = 0; i < env.nrcpts; i++)
			if (env.rcpts[i].state == SPOOL_RCPT_PENDING) {
				const char *at = strrchr(env.rcpts[i].addr, '@');
				domain = at ? at + 1 : "";
				break;
			}
		qmgr_key_set(e, env.tenant_id, domain);
		/* held at arrival for its tenant's review: `tenant resume` releases
		 * it after a restart too (the hold record says why) */
		if (held && env.tenant_id != 0 && env.hold_reason != NULL &&
		    strstr(env.hold_reason, QMGR_REVIEW_MARK) != NULL)
			e->review_hold = true;
		spool_env_free(&env);
	}
	close(fd);
}

static void
qmgr_load_dir(struct qmgr *q, bool held, long *n)
{
	DIR *d = spool_dir_list(spool_queue_dirfd(q->h.spool, held));
	struct dirent *de;
	struct stat st;
	time_t now = time(NULL);

	if (d == NULL)
		return;
	while ((de = readdir(d)) != NULL) {
		struct qent *e;
		if (de->d_name[0] == '.' || strlen(de->d_name) != SPOOL_ID_LEN)
			continue;
		if (fstatat(dirfd(d), de->d_name, &st, 0) < 0)
			continue;
		pthread_mutex_lock(&q->lock);
		e = qmgr_insert(q, de->d_name);
		if (held && st.st_mtime == SPOOL_HOLD_TENANT_MTIME &&
		    spool_queue_hold(q->h.spool, de->d_name, false) == 0) {
			/* held for a suspension: held again at its attempt if the
			 * tenant still is (or resumed while ferryd was down) */
			qmgr_keys_read(q, e, false);
			qmgr_ready_push(q, e);
		} else if (held) {
			e->state = QE_HOLD;       /* by the operator, a filter or a review */
			qmgr_keys_read(q, e, true);
		} else {
			qmgr_keys_read(q, e, false);
			if (st.st_mtime > now) {
				e->attempts = 1;
				qmgr_defer(q, e, st.st_mtime);
			} else
				qmgr_ready_push(q, e);
		}
		pthread_mutex_unlock(&q->lock);
		(*n)++;
	}
	closedir(d);
}

long
qmgr_load(struct qmgr *q)
{
	long n = 0;

	qmgr_load_dir(q, false, &n);
	qmgr_load_dir(q, true, &n);
	return n;
}

/* queue/ID -> hold/ID for the operator: stamped with the time of the hold
 * first, so a restart never takes it for a suspension's hold. */
static int
qmgr_hold_move(struct qmgr *q, const char *id)
{
	spool_queue_stamp(q->h.spool, id, false, time(NULL));
	return spool_queue_hold(q->h.spool, id, true);
}

/* After an attempt: forget, hold, or schedule the next one. */
static void
qmgr_attempt_done(struct qmgr *q, struct qent *e, const struct deliver_outcome *out)
{
	struct spool *sp = q->h.spool;

	if (out->tenant != 0 && out->weight > 0)
		qmgr_weight_learn(q, out->tenant, out->weight);
	if (out->removed || out->unreadable) {
		qmgr_forget(q, e);
		return;
	}
	if (out->not_tried && !e->delete_asked && !e->hold_asked) {
		/* its site is suspended: back in line, no attempt counted, and its
		 * domain held until the operator resumes a site */
		snprintf(e->last_error, sizeof(e->last_error), "%s", out->last_error);
		qmgr_key_set(e, out->tenant, out->domain[0] ? out->domain : e->domain);
		qmgr_ready_push(q, e);
		/* unless a resume came while this attempt ended */
		e->dom->site_suspended = deliver_engine_domain_suspended(q->eng, e->domain);
		return;
	}
	e->attempts++;
	e->warned |= out->warned;
	snprintf(e->last_error, sizeof(e->last_error), "%s", out->last_error);
	qmgr_key_set(e, out->tenant, out->domain[0] ? out->domain : e->domain);
	if (out->held) {
		e->state = QE_HOLD;       /* its tenant is suspended */
		e->tenant_hold = true;
	}
	if (e->delete_asked) {
		spool_queue_remove(sp, e->id, out->held);
		log_info("event=deleted id=%s by=operator", e->id);
		qmgr_forget(q, e);
		return;
	} else if (e->hold_asked) {
		e->hold_asked = false;
		/* the operator's hold, also of mail just held for a suspension */
		if (out->held ? spool_queue_stamp(sp, e->id, true, time(NULL)) == 0 :
		    qmgr_hold_move(q, e->id) == 0) {
			e->state = QE_HOLD;
			e->tenant_hold = false;
			log_info("event=held id=%s by=operator", e->id);
			qmgr_event(EV_HELD, e->tenant, e->id, "operator");
		}
	}
	if (e->state == QE_ACTIVE)
		qmgr_defer(q, e, out->next_try);
}

/* A domain queue and its ring of tenant queues. */
static void
qmgr_dom_free(struct qdom *d)
{
	if (d->turn != NULL) {
		struct qten *t = d->turn->next;
		while (t != d->turn) {
			struct qten *tn = t->next;
			free(t);
			t = tn;
		}
		free(d->turn);
	}
	free(d);
}

/* Free a domain queue nothing refers to any more (no ready or active
 * message; a deferred one gets it again when it is due). */
static void
qmgr_dom_release(struct qmgr *q, struct qdom *d)
{
	struct qdom **pp = &q->doms[qmgr_hash(d->name) % QMGR_DOM_BUCKETS];

	if (d->nready > 0 || d->active > 0 || d->in_ring || d->site_suspended)
		return;
	while (*pp != d)
		pp = &(*pp)->hnext;
	*pp = d->hnext;
	qmgr_dom_free(d);
}

/* The engine's callback (loop thread). */
static void
qmgr_attempt_end(void *arg, const struct deliver_outcome *out)
{
	struct qent *e = arg;
	struct qmgr *q = e->q;

	pthread_mutex_lock(&q->lock);
	e->dom->active--;
	q->active--;
	deliver_engine_domain_end(q->eng, e->site_token);
	e->site_token = NULL;
	struct qdom *d = e->dom;
	e->dom = NULL;
	qmgr_attempt_done(q, e, out);     /* may free e; may put it back in d */
	qmgr_dom_release(q, d);
	pthread_mutex_unlock(&q->lock);
	qmgr_kick(q);     /* one round for all the attempts ending in this turn of the loop */
}

int
qmgr_start(struct qmgr *q, int nthreads)
{
	struct timeval sec = { 1, 0 };
	struct deliver_handles h = q->h;

	h.queued = qmgr_queued;
	h.learned = qmgr_learned;
	h.queued_arg = q;
	q->eng = deliver_engine_new(&h, nthreads);
	q->tick = event_new(deliver_engine_base(q->eng), -1, EV_PERSIST, qmgr_tick_cb, q);
	event_add(q->tick, &sec);
	if (deliver_engine_start(q->eng) < 0)
		return -1;
	q->running = true;
	qmgr_kick(q);
	return 0;
}

void
qmgr_stop(struct qmgr *q)
{
	if (!q->running)
		return;
	pthread_mutex_lock(&q->lock);
	q->stopping = true;
	pthread_mutex_unlock(&q->lock);
	deliver_engine_stop(q->eng);
	q->running = false;
}

void
qmgr_free(struct qmgr *q)
{
	if (q == NULL)
		return;
	qmgr_stop(q);
	if (q->eng != NULL && deliver_engine_running(q->eng) > 0)
		return;     /* attempts abandoned at stop still point here: left to the exit */
	if (q->tick != NULL)
		event_free(q->tick);
	deliver_engine_free(q->eng);
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i], *next; e != NULL; e = next) {
			next = e->hnext;
			free(e);
		}
	for (size_t i = 0; i < QMGR_DOM_BUCKETS; i++)
		for (struct qdom *d = q->doms[i], *next; d != NULL; d = next) {
			next = d->hnext;
			qmgr_dom_free(d);
		}
	free(q->heap);
	free(q);
}

/* ---- operator actions (ferryctl queue ...) ------------------------------ */

int
qmgr_hold(struct qmgr *q, const char *id)
{
	struct qent *e;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e == NULL || e->state == QE_HOLD)
		rc = -1;
	else if (e->state == QE_ACTIVE)
		e->hold_asked = true;   /* done when the attempt ends */
	else if (qmgr_hold_move(q, id) == 0) {
		qmgr_unlink(q, e);
		e->state = QE_HOLD;
		e->tenant_hold = false;
		log_info("event=held id=%s by=operator", id);
		qmgr_event(EV_HELD, e->tenant, id, "operator");
	} else
		rc = -1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* Held -> ready; by names who asked, for the log. */
static int
qmgr_release_by(struct qmgr *q, const char *id, const char *by)
{
	struct qent *e;
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e != NULL && e->state == QE_HOLD && spool_queue_hold(q->h.spool, id, false) == 0) {
		e->attempts = 0;
		e->review_hold = false;
		qmgr_ready_push(q, e);
		log_info("event=released id=%s by=%s", id, by);
		qmgr_event(EV_RELEASED, e->tenant, id, by);
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	qmgr_kick(q);
	return rc;
}

int
qmgr_release(struct qmgr *q, const char *id)
{
	return qmgr_release_by(q, id, "operator");
}

long
qmgr_release_tenant(struct qmgr *q, long long tenant_id)
{
	char (*ids)[SPOOL_ID_LEN + 1];
	size_t n = 0;
	long released = 0;

	pthread_mutex_lock(&q->lock);
	ids = xcalloc(q->count ? q->count : 1, sizeof(*ids));
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i]; e != NULL; e = e->hnext)
			if (e->state == QE_HOLD && (e->tenant_hold || e->review_hold))
				memcpy(ids[n++], e->id, sizeof(ids[0]));
	pthread_mutex_unlock(&q->lock);
	/* The files are read without the lock: a message released or deleted
	 * meanwhile is simply not found by qmgr_release_by. */
	for (size_t i = 0; i < n; i++) {
		struct spool_env env;
		int fd = spool_queue_open(q->h.spool, ids[i], true);
		bool mine;
		if (fd < 0)
			continue;
		if (spool_env_parse(fd, &env) < 0) {
			close(fd);
			continue;
		}
		close(fd);
		mine = env.tenant_id == tenant_id;
		spool_env_free(&env);
		if (mine && qmgr_release_by(q, ids[i], "tenant-resume") == 0)
			released++;
	}
	free(ids);
	return released;
}

/* Deferred -> ready now; requeue also forgets the backoff history. */
static int
qmgr_retry_now(struct qmgr *q, const char *id, bool forget)
{
	struct qent *e;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	if (id == NULL) {
		while (q->nheap > 0) {
			e = q->heap[q->nheap - 1];
			qmgr_heap_remove(q, e);
			qmgr_ready_push(q, e);
		}
	} else if ((e = qmgr_find(q, id)) == NULL || e->state == QE_HOLD) {
		rc = -1;
	} else {
		if (forget)
			e->attempts = 0;
		if (e->state == QE_DEFERRED) {
			qmgr_unlink(q, e);
			qmgr_ready_push(q, e);
		}
	}
	pthread_mutex_unlock(&q->lock);
	qmgr_kick(q);
	return rc;
}

int
qmgr_flush(struct qmgr *q, const char *id)
{
	return qmgr_retry_now(q, id, false);
}

int
qmgr_requeue(struct qmgr *q, const char *id)
{
	return qmgr_retry_now(q, id, true);
}

int
qmgr_delete(struct qmgr *q, const char *id)
{
	struct qent *e;
	int rc = 0;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e == NULL)
		rc = -1;
	else if (e->state == QE_ACTIVE)
		e->delete_asked = true;
	else if (spool_queue_remove(q->h.spool, id, e->state == QE_HOLD) == 0) {
		qmgr_unlink(q, e);
		log_info("event=deleted id=%s by=operator", id);
		qmgr_forget(q, e);
	} else
		rc = -1;
	pthread_mutex_unlock(&q->lock);
	return rc;
}

static const char *
qmgr_state_name(enum qent_state s)
{
	static const char *const names[] = { "ready", "active", "deferred", "hold" };

	return names[s];
}

/* Read the file behind a snapshot entry and hand the view to fn. */
static int
qmgr_view_emit(struct qmgr *q, const struct qent *snap, qmgr_view_fn fn, void *arg)
{
	int fd = spool_queue_open(q->h.spool, snap->id, snap->state == QE_HOLD);
	struct spool_env env;
	struct qmgr_view v;
	const char **rcpts;

	if (fd < 0)
		return -1;
	if (spool_env_parse(fd, &env) < 0) {
		close(fd);
		return -1;
	}
	close(fd);
	rcpts = xcalloc(env.nrcpts ? env.nrcpts : 1, sizeof(*rcpts));
	memset(&v, 0, sizeof(v));
	for (size_t i = 0; i < env.nrcpts; i++)
		if (env.rcpts[i].state == SPOOL_RCPT_PENDING)
			rcpts[v.nrcpts++] = env.rcpts[i].addr;
	v.id = snap->id;
	v.state = qmgr_state_name(snap->state);
	v.arrival = env.arrival;
	v.next_try = snap->state == QE_DEFERRED ? snap->next_try : 0;
	v.size = env.content_len;
	v.sender = env.sender;
	v.rcpts = rcpts;
	v.attempts = snap->attempts;
	v.last_error = snap->last_error;
	v.tenant = snap->tenant;
	v.domain = snap->domain;
	fn(arg, &v);
	free(rcpts);
	spool_env_free(&env);
	return 0;
}

static int
qmgr_snap_cmp(const void *a, const void *b)
{
	return strcmp(((const struct qent *)a)->id, ((const struct qent *)b)->id);
}

size_t
qmgr_list(struct qmgr *q, qmgr_view_fn fn, void *arg)
{
	return qmgr_list_filter(q, NULL, fn, arg);
}

static bool
qmgr_filter_match(const struct qmgr_filter *f, const struct qent *e)
{
	return f == NULL || ((!f->held || e->state == QE_HOLD) && (f->tenant == 0 || e->tenant == f->tenant) &&
	    (f->domain == NULL || strcasecmp(f->domain, e->domain) == 0) &&
	    (f->after == NULL || strcmp(e->id, f->after) > 0));
}

/* Keep the n snapshots whose domain's mail last went to site (the summary's
 * site rows count the same way); returns how many are kept. */
static size_t
qmgr_filter_site(struct qmgr *q, struct qent *snaps, size_t n, const char *site)
{
	struct site_view *views = NULL;
	const char **names;
	char (*site_of)[SITE_NAME_MAX];
	size_t kept = 0;

	if (q->eng == NULL || n == 0)
		return 0;
	names = xcalloc(n, sizeof(*names));
	site_of = xcalloc(n, sizeof(*site_of));
	for (size_t i = 0; i < n; i++)
		names[i] = snaps[i].domain;
	site_table_snapshot(deliver_engine_sites(q->eng), &views, names, n, site_of);
	for (size_t i = 0; i < n; i++)
		if (strcasecmp(site_of[i], site) == 0)
			snaps[kept++] = snaps[i];
	free(views);
	free(names);
	free(site_of);
	return kept;
}

size_t
qmgr_list_filter(struct qmgr *q, const struct qmgr_filter *f, qmgr_view_fn fn, void *arg)
{
	struct qent *snaps;
	size_t n = 0, shown = 0;

	pthread_mutex_lock(&q->lock);
	snaps = xcalloc(q->count ? q->count : 1, sizeof(*snaps));
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i]; e != NULL; e = e->hnext)
			if (qmgr_filter_match(f, e))
				snaps[n++] = *e;
	pthread_mutex_unlock(&q->lock);
	if (f != NULL && f->site != NULL)
		n = qmgr_filter_site(q, snaps, n, f->site);
	qsort(snaps, n, sizeof(*snaps), qmgr_snap_cmp);   /* ids sort by arrival */
	for (size_t i = 0; i < n && (f == NULL || f->limit == 0 || shown < f->limit); i++)
		if (qmgr_view_emit(q, &snaps[i], fn, arg) == 0)
			shown++;
	free(snaps);
	return shown;
}

void
qmgr_state_count(struct qmgr *q, struct qmgr_state_counts *out)
{
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i]; e != NULL; e = e->hnext)
			switch (e->state) {
			case QE_READY:    out->ready++; break;
			case QE_ACTIVE:   out->active++; break;
			case QE_DEFERRED: out->deferred++; break;
			case QE_HOLD:     out->held++; break;
			}
	pthread_mutex_unlock(&q->lock);
}

int
qmgr_refusal(struct qmgr *q, const char *action, const char *id, char *why, size_t len)
{
	struct qent *e;
	enum qent_state st = QE_READY;

	pthread_mutex_lock(&q->lock);
	if ((e = qmgr_find(q, id)) != NULL)
		st = e->state;
	pthread_mutex_unlock(&q->lock);
	if (e == NULL)
		return -1;
	if (strcmp(action, "hold") == 0 && st == QE_HOLD)
		snprintf(why, len, "message is already held");
	else if (strcmp(action, "release") == 0 && st != QE_HOLD)
		snprintf(why, len, "message is not held (it is %s)", qmgr_state_name(st));
	else if (st == QE_HOLD)
		snprintf(why, len, "message is held: release it first");
	else
		snprintf(why, len, "cannot %s a %s message now", action, qmgr_state_name(st));
	return 0;
}

int
qmgr_envelope(struct qmgr *q, const char *id, struct spool_env *env)
{
	struct qent *e;
	bool held;
	int fd, rc;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	held = e != NULL && e->state == QE_HOLD;
	pthread_mutex_unlock(&q->lock);
	if (e == NULL || (fd = spool_queue_open(q->h.spool, id, held)) < 0)
		return -1;
	rc = spool_env_parse(fd, env);
	close(fd);
	return rc;
}

int
qmgr_show(struct qmgr *q, const char *id, qmgr_view_fn fn, void *arg)
{
	struct qent snap, *e;

	pthread_mutex_lock(&q->lock);
	e = qmgr_find(q, id);
	if (e != NULL)
		snap = *e;
	pthread_mutex_unlock(&q->lock);
	return e == NULL ? -1 : qmgr_view_emit(q, &snap, fn, arg);
}


/* ---- summary and suspension (ferryctl queue summary|suspend|resume) ------ */

/* Counts per domain or per tenant, gathered under the lock. */
struct qmgr_count {
	char      name[QMGR_DOMAIN_MAX + 1];
	long long tenant;
	long      ready, scheduled, active, held;
};

struct qmgr_counts {
	struct qmgr_count *v;
	size_t             n, cap;
};

static struct qmgr_count *
qmgr_count_get(struct qmgr_counts *c, const char *name, long long tenant)
{
	for (size_t i = 0; i < c->n; i++)
		if (c->v[i].tenant == tenant && strcmp(c->v[i].name, name) == 0)
			return &c->v[i];
	if (c->n == c->cap) {
		c->cap = c->cap ? c->cap * 2 : 64;
		c->v = xrealloc(c->v, c->cap * sizeof(*c->v));
	}
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	snprintf(c->v[c->n].name, sizeof(c->v[0].name), "%s", name);
	c->v[c->n].tenant = tenant;
	return &c->v[c->n++];
}

static void
qmgr_count_add(struct qmgr_count *k, enum qent_state s)
{
	switch (s) {
	case QE_READY:    k->ready++; break;
	case QE_ACTIVE:   k->active++; break;
	case QE_DEFERRED: k->scheduled++; break;
	case QE_HOLD:     k->held++; break;
	}
}

static void
qmgr_summary_emit(const struct qmgr_counts *c, enum qmgr_row_kind kind, struct site_view *sites,
    size_t nsites, qmgr_summary_fn fn, void *arg)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct qmgr_count *k = &c->v[i];
		char idbuf[24];
		struct qmgr_summary_row r = { .kind = kind, .source = "", .shaping = "",
		    .ready = k->ready, .scheduled = k->scheduled, .active = k->active, .held = k->held };
		if (kind == QMGR_ROW_TENANT) {
			snprintf(idbuf, sizeof(idbuf), "%lld", k->tenant);
			r.name = idbuf;
		} else {
			r.name = k->name[0] ? k->name : "(unknown)";
			for (size_t j = 0; j < nsites; j++)
				if (sites[j].source[0] == '\0' && sites[j].conns_open == 0 &&
				    strcasecmp(sites[j].name, k->name) == 0)
					r.suspended = sites[j].suspended;
		}
		fn(arg, &r);
	}
}

/* A site row also counts the mail of the domains that go to it (the
 * first row of a site name, when it has several source addresses): ready
 * messages not yet waiting for a slot, and the deferred ones. */
static void
qmgr_site_counts(const struct qmgr_counts *doms, size_t ndoms, char (*site_of)[SITE_NAME_MAX],
    const struct site_view *sites, size_t row, struct qmgr_summary_row *r)
{
	for (size_t j = 0; j < row; j++)
		if (strcasecmp(sites[j].name, sites[row].name) == 0 && sites[j].limit > 0)
			return;
	for (size_t i = 0; i < ndoms; i++)
		if (strcasecmp(site_of[i], sites[row].name) == 0) {
			r->ready += doms->v[i].ready;
			r->scheduled += doms->v[i].scheduled;
			r->held += doms->v[i].held;
		}
}

void
qmgr_summary(struct qmgr *q, qmgr_summary_fn fn, void *arg)
{
	struct qmgr_counts doms = { 0 }, tens = { 0 };
	struct site_view *sites = NULL;
	size_t nsites = 0;
	long long susp[QMGR_TENANTS_SUSPENDED];
	size_t nsusp;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < QMGR_BUCKETS; i++)
		for (struct qent *e = q->hash[i]; e != NULL; e = e->hnext) {
			qmgr_count_add(qmgr_count_get(&doms, e->domain, 0), e->state);
			qmgr_count_add(qmgr_count_get(&tens, "", e->tenant), e->state);
		}
	nsusp = q->ntenants_suspended;
	memcpy(susp, q->tenants_suspended, nsusp * sizeof(susp[0]));
	pthread_mutex_unlock(&q->lock);
	for (size_t i = 0; i < nsusp; i++)
		qmgr_count_get(&tens, "", susp[i]);
	const char **names = xcalloc(doms.n ? doms.n : 1, sizeof(*names));
	char (*site_of)[SITE_NAME_MAX] = xcalloc(doms.n ? doms.n : 1, sizeof(*site_of));
	size_t ndoms = doms.n;
	for (size_t i = 0; i < ndoms; i++)
		names[i] = doms.v[i].name;
	if (q->eng != NULL)
		nsites = site_table_snapshot(deliver_engine_sites(q->eng), &sites, names, ndoms, site_of);
	for (size_t i = 0; i < nsites; i++) {
		struct site_view *v = &sites[i];
		if (v->source[0] == '\0' && v->conns_open == 0 && v->suspended && v->limit == 0)
			qmgr_count_get(&doms, v->name, 0);   /* a suspended name with nothing queued */
		if (v->limit == 0)
			continue;             /* a bare suspended name: shown with its domain */
		struct qmgr_summary_row r = { .kind = QMGR_ROW_SITE, .name = v->name, .source = v->source,
		    .ready = v->waiting, .active = v->conns_busy, .conns_open = v->conns_open,
		    .conns_busy = v->conns_busy, .limit = v->limit, .suspended = v->suspended,
		    .shaping = v->shaping };
		qmgr_site_counts(&doms, ndoms, site_of, sites, i, &r);
		fn(arg, &r);
	}
	free(names);
	free(site_of);
	qmgr_summary_emit(&doms, QMGR_ROW_DOMAIN, sites, nsites, fn, arg);
	for (size_t i = 0; i < tens.n; i++) {
		bool s = false;
		for (size_t j = 0; j < nsusp; j++)
			s |= susp[j] == tens.v[i].tenant;
		char idbuf[24];
		snprintf(idbuf, sizeof(idbuf), "%lld", tens.v[i].tenant);
		struct qmgr_summary_row r = { .kind = QMGR_ROW_TENANT, .name = idbuf, .source = "",
		    .shaping = "", .ready = tens.v[i].ready, .scheduled = tens.v[i].scheduled,
		    .active = tens.v[i].active, .held = tens.v[i].held, .suspended = s };
		fn(arg, &r);
	}
	free(sites);
	free(doms.v);
	free(tens.v);
}

struct qmgr_suspend_req {
	struct site_table *t;
	const char        *name;
	bool               suspend;
	int                rc;
};

static void
qmgr_site_suspend_on_loop(void *arg)
{
	struct qmgr_suspend_req *r = arg;

	r->rc = site_suspend(r->t, r->name, r->suspend);
}

static int
qmgr_tenant_suspend(struct qmgr *q, long long tenant, bool suspend)
{
	int rc = -1;

	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < q->ntenants_suspended; i++)
		if (q->tenants_suspended[i] == tenant) {
			if (!suspend)
				q->tenants_suspended[i] = q->tenants_suspended[--q->ntenants_suspended];
			rc = 0;
			break;
		}
	if (rc < 0 && suspend && q->ntenants_suspended < QMGR_TENANTS_SUSPENDED) {
		q->tenants_suspended[q->ntenants_suspended++] = tenant;
		rc = 0;
	}
	pthread_mutex_unlock(&q->lock);
	return rc;
}

/* A site was resumed: every domain held for a suspended site may try
 * again (one still suspended is held again at its next attempt). */
static void
qmgr_sites_resumed(struct qmgr *q)
{
	pthread_mutex_lock(&q->lock);
	for (size_t i = 0; i < QMGR_DOM_BUCKETS; i++)
		for (struct qdom *d = q->doms[i], *next; d != NULL; d = next) {
			next = d->hnext;
			d->site_suspended = false;
			qmgr_dom_release(q, d);     /* one held with nothing left in it */
		}
	pthread_mutex_unlock(&q->lock);
}

int
qmgr_suspend(struct qmgr *q, enum qmgr_row_kind kind, const char *name, bool suspend)
{
	int rc;

	if (kind == QMGR_ROW_TENANT) {
		char *end;
		long long id = strtoll(name, &end, 10);
		if (*name == '\0' || *end != '\0' || id < 0)
			return -1;
		rc = qmgr_tenant_suspend(q, id, suspend);
	} else {
		struct qmgr_suspend_req r = { .name = name, .suspend = suspend, .rc = -1 };
		if (q->eng == NULL)
			return -1;
		r.t = deliver_engine_sites(q->eng);
		deliver_engine_call(q->eng, qmgr_site_suspend_on_loop, &r);
		rc = r.rc;
		if (rc == 0 && !suspend)
			qmgr_sites_resumed(q);
	}
	if (rc == 0)
		log_info("event=%s kind=%s name=%s by=operator", suspend ? "suspended" : "resumed",
		    kind == QMGR_ROW_TENANT ? "tenant" : "site", name);
	qmgr_kick(q);
	return rc;
}
