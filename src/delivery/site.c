/*
 * site.c - ready queues per egress path (source address x destination
 * site): connection slots, idle connections kept for reuse, a token bucket
 * for the rate, tenants taking turns for a slot, automatic shaping from
 * peers' replies and the operator's suspensions (site.h says what each is).
 * STANDARDS: RFC 5321 4.5.4.1 (a sender should limit its connections and
 * retries per destination).
 * SECURITY: a site name comes from the configuration or from DNS (MX host
 * names, already checked by dns.c); reply text is matched under PCRE2's
 * limits by shape_rules.c and logged quoted.
 */
#include "delivery/site.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "delivery/mta_client.h"
#include "metrics/metrics.h"
#include "net/coro.h"
#include "events/outbox.h"
#include "util/log.h"
#include "util/strhash.h"
#include "util/xmalloc.h"

#define SITE_BUCKETS     4096
#define SITE_DOMAINS     8192     /* domain -> site memories kept */
#define SITE_SUSPEND_MAX 256      /* names suspended by the operator */
#define SITE_BUSY_RETRY  30       /* s: a delivery that found no slot in time */

/* A delivery waiting for a slot; lives on its coroutine's stack. */
struct site_waiter {
	struct site_waiter *next;
	struct coro        *co;
	bool                granted;
	struct site_lease  *lease;        /* filled when granted */
};

/* The deliveries of one tenant waiting on one path. */
struct site_tq {
	long long           tenant;
	int                 weight;          /* slots at each turn (deficit round robin) */
	int                 served;          /* slots in this turn so far */
	struct site_waiter *head, *tail;
	struct site_tq     *prev, *next;   /* ring of tenants with waiters */
};

struct site_idle {
	struct site_idle *next;
	struct mta_conn  *conn;
	char              key[SITE_KEY_MAX];
	long long         msgs;
	struct timespec   since;
};

struct site {
	struct site       *hnext;
	char               name[SITE_NAME_MAX];
	char               source[64];
	int                open;           /* slots: busy + idle connections */
	int                busy;
	int                waiting;
	struct site_tq    *ring;           /* next tenant to serve */
	struct site_idle  *idle;
	int                nidle;
	struct site_limits lim;            /* as last asked */
	double             tokens;
	struct timespec    refill;
	/* shaping in force, each until its time (0: none) */
	long long          shape_conns, shape_rate;
	time_t             conns_until, rate_until, suspend_until;
	char               shape_rule[SHAPE_NAME_MAX + 1];
	int                acquiring;      /* deliveries inside site_acquire (asleep for the rate) */
	time_t             used;           /* last acquire: an idle path is forgotten after a while */
};

#define SITE_FORGET 600                 /* s: an unused path with nothing in force is freed */

struct site_domain {
	char   domain[256];
	char   site[SITE_NAME_MAX];
};

/* Messages in delivery toward one site name (any source), so that the
 * domains sharing a site share its allowance. Kept while ferryd runs: a token. */
struct site_load {
	struct site_load *next;
	char              name[SITE_NAME_MAX];
	long              inflight;
};

struct site_table {
	struct coro_sched *sched;
	struct site       *hash[SITE_BUCKETS];
	struct site_domain *domains;       /* direct-mapped by hash: a memory, not a record */
	char               suspended[SITE_SUSPEND_MAX][SITE_NAME_MAX];
	size_t             nsuspended;
	struct site_load  *loads[SITE_BUCKETS];  /* messages in delivery per site name */
};

/* Site and domain names compare without case. */
static unsigned
site_hash(const char *s)
{
	return strhash(s, true);
}

struct site_table *
site_table_new(struct coro_sched *s)
{
	struct site_table *t = xcalloc(1, sizeof(*t));

	t->sched = s;
	t->domains = xcalloc(SITE_DOMAINS, sizeof(*t->domains));
	return t;
}

/* QUIT and close. The slot stays counted until the peer has it closed,
 * so a site never sees more connections than its limit. */
static void
site_conn_close(struct site_table *t, struct mta_conn *c)
{
	(void)t;
	if (c != NULL)
		mta_close(c);      /* in a coroutine: waits on the loop, briefly */
}

static void site_serve(struct site_table *t, struct site *s, time_t now);

struct site_closing {
	struct site_table *t;
	struct site       *s;
	struct mta_conn   *conn;
};

/* An idle connection's end, on a coroutine of its own; then its slot goes. */
static void
site_idle_close_co(void *arg)
{
	struct site_closing *c = arg;

	mta_close(c->conn);
	c->s->open--;
	site_serve(c->t, c->s, time(NULL));
	free(c);
}

void
site_table_free(struct site_table *t)
{
	if (t == NULL)
		return;
	for (size_t i = 0; i < SITE_BUCKETS; i++)
		for (struct site *s = t->hash[i], *n; s != NULL; s = n) {
			n = s->hnext;
			for (struct site_idle *d = s->idle, *dn; d != NULL; d = dn) {
				dn = d->next;
				mta_close(d->conn);
				free(d);
			}
			free(s);
		}
	for (size_t i = 0; i < SITE_BUCKETS; i++)
		for (struct site_load *l = t->loads[i], *n; l != NULL; l = n) {
			n = l->next;
			free(l);
		}
	free(t->domains);
	free(t);
}

static struct site *
site_get(struct site_table *t, const char *name, const char *source)
{
	unsigned h = site_hash(name) % SITE_BUCKETS;
	struct site *s;

	for (s = t->hash[h]; s != NULL; s = s->hnext)
		if (strcasecmp(s->name, name) == 0 && strcmp(s->source, source) == 0)
			return s;
	s = xcalloc(1, sizeof(*s));
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->source, sizeof(s->source), "%s", source);
	s->hnext = t->hash[h];
	t->hash[h] = s;
	return s;
}

bool
site_suspended(const struct site_table *t, const char *name)
{
	for (size_t i = 0; i < t->nsuspended; i++)
		if (strcasecmp(t->suspended[i], name) == 0)
			return true;
	return false;
}

/* The connections the path allows now: configured, tightened by shaping. */
static int
site_limit(const struct site *s, time_t now)
{
	int lim = s->lim.connections > 0 ? s->lim.connections : 1;

	if (s->conns_until > now && s->shape_conns < lim)
		lim = (int)(s->shape_conns > 0 ? s->shape_conns : 1);
	return lim;
}

static long long
site_rate(const struct site *s, time_t now)
{
	long long r = s->lim.rate;

	if (s->rate_until > now && (r == 0 || s->shape_rate < r))
		r = s->shape_rate > 0 ? s->shape_rate : 1;
	return r;
}

/* ---- the rate ----------------------------------------------------------- */

static double
site_elapsed(const struct timespec *a, const struct timespec *b)
{
	return (double)(b->tv_sec - a->tv_sec) + (double)(b->tv_nsec - a->tv_nsec) / 1e9;
}

/* Take one token; else how many ms until one is there. */
static long
site_token_take(struct site *s, long long rate)
{
	struct timespec now;
	double per_s = (double)rate / 60.0;

	if (rate <= 0)
		return 0;
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (s->refill.tv_sec == 0)
		s->tokens = 1;
	else
		s->tokens += site_elapsed(&s->refill, &now) * per_s;
	if (s->tokens > (per_s * 60 > 1 ? per_s * 60 : 1))
		s->tokens = per_s * 60 > 1 ? per_s * 60 : 1;
	s->refill = now;
	if (s->tokens >= 1) {
		s->tokens -= 1;
		return 0;
	}
	return (long)((1 - s->tokens) / per_s * 1000) + 1;
}

/* ---- waiting tenants ------------------------------------------------------ */

static struct site_tq *
site_tq_get(struct site *s, long long tenant)
{
	struct site_tq *q = s->ring;

	if (q != NULL)
		do {
			if (q->tenant == tenant)
				return q;
			q = q->next;
		} while (q != s->ring);
	q = xcalloc(1, sizeof(*q));
	q->tenant = tenant;
	if (s->ring == NULL) {
		q->prev = q->next = q;
		s->ring = q;
	} else {      /* joins the ring just before the next to serve: last in this round */
		q->next = s->ring;
		q->prev = s->ring->prev;
		s->ring->prev->next = q;
		s->ring->prev = q;
	}
	return q;
}

static void
site_tq_drop(struct site *s, struct site_tq *q)
{
	if (q->next == q)
		s->ring = NULL;
	else {
		q->prev->next = q->next;
		q->next->prev = q->prev;
		if (s->ring == q)
			s->ring = q->next;
	}
	free(q);
}

/* The next waiter, tenants in turn (each tenant's own in order). */
static struct site_waiter *
site_waiter_next(struct site *s)
{
	struct site_tq *q = s->ring;
	struct site_waiter *w;

	if (q == NULL)
		return NULL;
	w = q->head;
	q->head = w->next;
	if (q->head == NULL)
		q->tail = NULL;
	if (++q->served >= q->weight || q->head == NULL) {
		q->served = 0;           /* its turn is over: the next tenant's */
		s->ring = q->next;
	}
	if (q->head == NULL)
		site_tq_drop(s, q);
	s->waiting--;
	return w;
}

static void
site_waiter_remove(struct site *s, long long tenant, struct site_waiter *w)
{
	struct site_tq *q = site_tq_get(s, tenant);
	struct site_waiter **pp = &q->head, *prev = NULL;

	while (*pp != NULL && *pp != w) {
		prev = *pp;
		pp = &(*pp)->next;
	}
	if (*pp == w) {
		*pp = w->next;
		if (q->tail == w)
			q->tail = prev;
		s->waiting--;
	}
	if (q->head == NULL)
		site_tq_drop(s, q);
}

/* Hand the slot (and conn, if any) to the next waiter; false when none. */
static bool
site_hand_over(struct site *s, struct mta_conn *conn, const char *key, long long msgs)
{
	struct site_waiter *w = site_waiter_next(s);

	if (w == NULL)
		return false;
	memset(w->lease, 0, sizeof(*w->lease));
	w->lease->site = s;
	w->lease->conn = conn;
	if (conn != NULL) {
		snprintf(w->lease->key, sizeof(w->lease->key), "%s", key);
		w->lease->msgs = msgs;
	}
	w->granted = true;
	s->busy++;
	coro_wake(w->co);
	return true;
}

/* ---- acquire and release ---------------------------------------------------- */

static bool
site_path_suspended(struct site_table *t, const struct site *s, time_t now, time_t *until)
{
	if (site_suspended(t, s->name)) {
		*until = now + 60;
		return true;
	}
	if (s->suspend_until > now) {
		*until = s->suspend_until;
		return true;
	}
	return false;
}

/* A free slot now: an idle connection, or room for a new one. */
static bool
site_take_now(struct site *s, time_t now, struct site_lease *lease)
{
	memset(lease, 0, sizeof(*lease));
	lease->site = s;
	if (s->idle != NULL && s->waiting == 0) {
		struct site_idle *d = s->idle;
		s->idle = d->next;
		s->nidle--;
		lease->conn = d->conn;
		snprintf(lease->key, sizeof(lease->key), "%s", d->key);
		lease->msgs = d->msgs;
		free(d);
		s->busy++;
		return true;
	}
	if (s->open < site_limit(s, now) && s->waiting == 0) {
		s->open++;
		s->busy++;
		return true;
	}
	return false;
}

static int site_acquire_path(struct site_table *t, struct site *s, long long tenant, int weight,
    const struct site_limits *lim, long wait_ms, struct site_lease *lease, struct mta_reply *why,
    time_t *retry_at);

int
site_acquire(struct site_table *t, const char *name, const char *source, long long tenant,
    int weight, const struct site_limits *lim, long wait_ms, struct site_lease *lease,
    struct mta_reply *why, time_t *retry_at)
{
	struct site *s = site_get(t, name, source ? source : "");
	int rc;

	s->acquiring++;
	s->used = time(NULL);
	rc = site_acquire_path(t, s, tenant, weight, lim, wait_ms, lease, why, retry_at);
	s->acquiring--;
	return rc;
}

/* site_acquire on its path s (held in place by s->acquiring). */
static int
site_acquire_path(struct site_table *t, struct site *s, long long tenant, int weight,
    const struct site_limits *lim, long wait_ms, struct site_lease *lease, struct mta_reply *why, time_t *retry_at)
{
	time_t now = time(NULL), until;
	struct site_waiter w = { .co = coro_self(), .lease = lease };
	long token_ms;

	s->lim = *lim;
	*retry_at = 0;
	if (site_path_suspended(t, s, now, &until)) {
		mta_reply_set(why, 451, "4.4.5 delivery to %.300s is suspended (%s); will retry", s->name,
		    site_suspended(t, s->name) ? "by the operator" : "traffic shaping");
		*retry_at = until;
		return -1;
	}
	while ((token_ms = site_token_take(s, site_rate(s, now))) > 0) {
		if (token_ms > wait_ms) {
			mta_reply_set(why, 451, "4.4.5 rate limit of %.300s (%lld/min); will retry", s->name,
			    site_rate(s, now));
			*retry_at = now + token_ms / 1000 + 1;
			return -1;
		}
		coro_sleep_ms(token_ms);
		wait_ms -= token_ms;
		now = time(NULL);
	}
	if (site_take_now(s, now, lease))
		return 0;
	struct site_tq *q = site_tq_get(s, tenant);
	q->weight = weight > 0 ? weight : 1;
	if (q->tail != NULL)
		q->tail->next = &w;
	else
		q->head = &w;
	q->tail = &w;
	s->waiting++;
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long left = wait_ms; !w.granted && left > 0;) {
		coro_park(left);       /* a stray wake does not restart the wait */
		clock_gettime(CLOCK_MONOTONIC, &t1);
		left = wait_ms - (long)(site_elapsed(&t0, &t1) * 1000);
	}
	if (w.granted)
		return 0;
	site_waiter_remove(s, tenant, &w);
	mta_reply_set(why, 451, "4.4.5 no connection to %.300s became free within %ld s (limit %d); will retry",
	    s->name, wait_ms / 1000, site_limit(s, time(NULL)));
	*retry_at = time(NULL) + SITE_BUSY_RETRY;
	return -1;
}

void
site_lease_close(struct site_table *t, struct site_lease *lease)
{
	site_conn_close(t, lease->conn);
	lease->conn = NULL;
	lease->key[0] = '\0';
	lease->msgs = 0;
}

void
site_release(struct site_table *t, struct site_lease *lease, bool reusable)
{
	struct site *s = lease->site;
	time_t now = time(NULL);
	bool keep;

	if (s == NULL)
		return;
	keep = lease->conn != NULL && reusable && lease->msgs < s->lim.msgs_per_conn &&
	    s->open <= site_limit(s, now) && s->suspend_until <= now && !site_suspended(t, s->name);
	s->busy--;
	lease->site = NULL;
	if (keep) {
		if (site_hand_over(s, lease->conn, lease->key, lease->msgs))
			return;
		struct site_idle *d = xcalloc(1, sizeof(*d));
		d->conn = lease->conn;
		snprintf(d->key, sizeof(d->key), "%s", lease->key);
		d->msgs = lease->msgs;
		clock_gettime(CLOCK_MONOTONIC, &d->since);
		d->next = s->idle;
		s->idle = d;
		s->nidle++;
		return;
	}
	site_conn_close(t, lease->conn);
	lease->conn = NULL;
	s->open--;
	site_serve(t, s, now);
}

/* ---- shaping ----------------------------------------------------------------- */

static const char *
site_shape_kind(enum shape_kind k)
{
	return k == SHAPE_CONNECTIONS ? "connections" : k == SHAPE_RATE ? "rate" : "suspend";
}

/* A shaping action as an event (not a tenant's: tenant 0; the site, the
 * rule and the reply that set it off). */
static void
site_shape_event(const struct site *s, const struct shape_action *a, const struct mta_reply *r)
{
	char detail[300];
	struct state_event e = { .kind = EV_SHAPING, .rcpt_index = -1, .site = s->name, .source_ip = s->source,
	    .code = r->code, .detail = detail, .source = a->rule };

	snprintf(detail, sizeof(detail), "%s %lld for %llds: %.200s", site_shape_kind(a->kind),
	    a->kind == SHAPE_SUSPEND ? 0 : a->value, a->duration, r->text);
	outbox_emit(&e);
}

void
site_shape(struct site_table *t, const char *name, const char *source, const struct shape_rules *rules,
    const struct mta_reply *r)
{
	struct shape_action a;
	struct site *s;
	time_t until;
	char reply[MTA_TEXT_MAX * 2 + 16], text[MTA_TEXT_MAX + 8];

	if (rules == NULL || r->code < 400 || !shape_rules_match_reply(rules, r, &a))
		return;
	if (a.kind != SHAPE_CONNECTIONS && a.kind != SHAPE_RATE && a.kind != SHAPE_SUSPEND)
		return;
	s = site_get(t, name, source ? source : "");
	until = time(NULL) + (time_t)a.duration;
	if (a.kind == SHAPE_CONNECTIONS) {
		s->shape_conns = a.value;
		s->conns_until = until;
	} else if (a.kind == SHAPE_RATE) {
		s->shape_rate = a.value;
		s->rate_until = until;
	} else
		s->suspend_until = until;
	snprintf(s->shape_rule, sizeof(s->shape_rule), "%s", a.rule);
	snprintf(text, sizeof(text), "%d %s", r->code, r->text);
	metrics_shaping_action(site_shape_kind(a.kind));
	log_info("event=shaping site=%s source=%s rule=%s file=%s:%d action=%s value=%lld for=%llds reply=%s",
	    s->name, s->source[0] ? s->source : "-", a.rule, a.file, a.line, site_shape_kind(a.kind),
	    a.kind == SHAPE_SUSPEND ? 0 : a.value, a.duration, log_quote(reply, sizeof(reply), text, strlen(text)));
	site_shape_event(s, &a, r);
}

/* Drop what expired; true when something did (logged). */
static void
site_shape_expire(struct site *s, time_t now)
{
	const char *what = NULL;

	if (s->conns_until != 0 && s->conns_until <= now) {
		s->conns_until = 0;
		what = "connections";
	}
	if (s->rate_until != 0 && s->rate_until <= now) {
		s->rate_until = 0;
		what = "rate";
	}
	if (s->suspend_until != 0 && s->suspend_until <= now) {
		s->suspend_until = 0;
		what = "suspend";
	}
	if (what != NULL)
		log_info("event=shaping-expired site=%s source=%s rule=%s action=%s", s->name,
		    s->source[0] ? s->source : "-", s->shape_rule, what);
}

/* Close idle connections past idle_ms (or beyond a tightened limit). */
static void
site_idle_expire(struct site_table *t, struct site *s, time_t now)
{
	struct timespec mono;
	struct site_idle **pp = &s->idle;
	int excess = s->open - site_limit(s, now);   /* a limit tightened: close just enough */

	clock_gettime(CLOCK_MONOTONIC, &mono);
	while (*pp != NULL) {
		struct site_idle *d = *pp;
		bool old = site_elapsed(&d->since, &mono) * 1000 >= (double)(s->lim.idle_ms > 0 ? s->lim.idle_ms : 2000);
		if (old || excess > 0 || s->suspend_until > now) {
			struct site_closing *c = xcalloc(1, sizeof(*c));
			c->t = t;
			c->s = s;
			c->conn = d->conn;
			if (coro_spawn(t->sched, site_idle_close_co, c) < 0) {
				free(c);         /* no stack now: the next tick tries again */
				pp = &d->next;
				continue;
			}
			*pp = d->next;
			s->nidle--;
			excess--;
			free(d);
		} else
			pp = &d->next;
	}
	site_serve(t, s, now);
}

/* Room again (a slot freed, a limit restored): serve waiters. */
static void
site_serve(struct site_table *t, struct site *s, time_t now)
{
	while (s->waiting > 0 && s->open < site_limit(s, now) && s->suspend_until <= now &&
	    !site_suspended(t, s->name)) {
		s->open++;
		site_hand_over(s, NULL, "", 0);
	}
}

/* Nothing holds the path or is in force on it, and it has not been used for
 * a while: forgetting it loses nothing (a relay meets new sites all day). */
static bool
site_forgettable(const struct site_table *t, const struct site *s, time_t now)
{
	return s->open == 0 && s->busy == 0 && s->waiting == 0 && s->nidle == 0 && s->acquiring == 0 &&
	    s->ring == NULL && s->conns_until == 0 && s->rate_until == 0 && s->suspend_until == 0 &&
	    now - s->used > SITE_FORGET && !site_suspended(t, s->name);
}

void
site_table_tick(struct site_table *t, time_t now)
{
	for (size_t i = 0; i < SITE_BUCKETS; i++)
		for (struct site **pp = &t->hash[i]; *pp != NULL;) {
			struct site *s = *pp;
			site_shape_expire(s, now);
			if (s->nidle > 0 || s->waiting > 0)
				site_idle_expire(t, s, now);
			if (site_forgettable(t, s, now)) {
				*pp = s->hnext;
				free(s);
			} else
				pp = &s->hnext;
		}
	for (size_t i = 0; i < SITE_BUCKETS; i++)
		for (struct site_load **pp = &t->loads[i]; *pp != NULL;) {
			struct site_load *l = *pp;
			if (l->inflight == 0) {     /* no token out for it */
				*pp = l->next;
				free(l);
			} else
				pp = &l->next;
		}
}

/* ---- suspension and domains ------------------------------------------------------ */

int
site_suspend(struct site_table *t, const char *name, bool suspend)
{
	for (size_t i = 0; i < t->nsuspended; i++)
		if (strcasecmp(t->suspended[i], name) == 0) {
			if (!suspend)
				memcpy(t->suspended[i], t->suspended[--t->nsuspended], SITE_NAME_MAX);
			return 0;
		}
	if (!suspend || t->nsuspended >= SITE_SUSPEND_MAX)
		return -1;
	snprintf(t->suspended[t->nsuspended++], SITE_NAME_MAX, "%s", name);
	return 0;
}

bool
site_domain_learn(struct site_table *t, const char *domain, const char *name)
{
	struct site_domain *d = &t->domains[site_hash(domain) % SITE_DOMAINS];
	bool known;

	if (strlen(domain) >= sizeof(d->domain))
		return false;
	known = strcasecmp(d->domain, domain) == 0 && strcasecmp(d->site, name) == 0;
	snprintf(d->domain, sizeof(d->domain), "%s", domain);
	snprintf(d->site, sizeof(d->site), "%s", name);
	return !known;
}

const char *
site_domain_site(struct site_table *t, const char *domain)
{
	struct site_domain *d = &t->domains[site_hash(domain) % SITE_DOMAINS];

	return strcasecmp(d->domain, domain) == 0 ? d->site : NULL;
}

static struct site_load *
site_load_get(struct site_table *t, const char *name)
{
	struct site_load **pp = &t->loads[site_hash(name) % SITE_BUCKETS];

	for (; *pp != NULL; pp = &(*pp)->next)
		if (strcasecmp((*pp)->name, name) == 0)
			return *pp;
	*pp = xcalloc(1, sizeof(**pp));
	snprintf((*pp)->name, sizeof((*pp)->name), "%s", name);
	return *pp;
}

long
site_domain_room(struct site_table *t, const char *domain, int conns, long domain_active)
{
	const char *name = site_domain_site(t, domain);
	time_t now = time(NULL);
	long allowance = 0;
	bool any = false;

	if (site_suspended(t, domain) || (name != NULL && site_suspended(t, name)))
		return 0;
	if (name == NULL)     /* its first attempt finds out where it goes: one at a time */
		return domain_active == 0 ? 1 : 0;
	for (struct site *s = t->hash[site_hash(name) % SITE_BUCKETS]; s != NULL; s = s->hnext) {
		if (strcasecmp(s->name, name) != 0 || s->lim.connections == 0)
			continue;
		any = true;
		if (s->suspend_until <= now)     /* a source suspended by shaping adds none */
			allowance += 2L * site_limit(s, now);
	}
	if (!any)
		allowance = 2L * (conns > 0 ? conns : 1);
	return allowance - site_load_get(t, name)->inflight;
}

void *
site_domain_start(struct site_table *t, const char *domain)
{
	const char *name = site_domain_site(t, domain);
	struct site_load *l;

	if (name == NULL)
		return NULL;
	l = site_load_get(t, name);
	l->inflight++;
	return l;
}

bool
site_domain_suspended(struct site_table *t, const char *domain)
{
	const char *name = site_domain_site(t, domain);

	return site_suspended(t, domain) || (name != NULL && site_suspended(t, name));
}

void
site_domain_end(void *token)
{
	struct site_load *l = token;

	if (l != NULL)
		l->inflight--;
}

/* ---- the summary's copy ------------------------------------------------------------ */

struct site_snap_req {
	struct site_table *t;
	struct site_view  *v;
	size_t             n;
	const char *const *domains;
	size_t             ndomains;
	char             (*site_of)[SITE_NAME_MAX];
};

static void
site_view_fill(const struct site *s, time_t now, struct site_view *v)
{
	size_t n = 0;

	memset(v, 0, sizeof(*v));
	snprintf(v->name, sizeof(v->name), "%s", s->name);
	snprintf(v->source, sizeof(v->source), "%s", s->source);
	v->conns_open = s->open;
	v->conns_busy = s->busy;
	v->limit = site_limit(s, now);
	v->waiting = s->waiting;
	if (s->conns_until > now)
		n += (size_t)snprintf(v->shaping + n, sizeof(v->shaping) - n, "connections=%lld until=%lld ",
		    s->shape_conns, (long long)s->conns_until);
	if (s->rate_until > now && n < sizeof(v->shaping))
		n += (size_t)snprintf(v->shaping + n, sizeof(v->shaping) - n, "rate=%lld/min until=%lld ",
		    s->shape_rate, (long long)s->rate_until);
	if (s->suspend_until > now && n < sizeof(v->shaping))
		n += (size_t)snprintf(v->shaping + n, sizeof(v->shaping) - n, "suspended until=%lld ",
		    (long long)s->suspend_until);
	if (n > 0 && n < sizeof(v->shaping))
		snprintf(v->shaping + n, sizeof(v->shaping) - n, "rule=%s", s->shape_rule);
}

static void
site_snapshot_on_loop(void *arg)
{
	struct site_snap_req *rq = arg;
	struct site_table *t = rq->t;
	time_t now = time(NULL);
	size_t cap = 64;

	rq->v = xcalloc(cap, sizeof(*rq->v));
	for (size_t i = 0; i < SITE_BUCKETS; i++)
		for (struct site *s = t->hash[i]; s != NULL; s = s->hnext) {
			bool shaped = s->conns_until > now || s->rate_until > now || s->suspend_until > now;
			if (s->open == 0 && s->waiting == 0 && !shaped && !site_suspended(t, s->name))
				continue;
			if (rq->n == cap)
				rq->v = xrealloc(rq->v, (cap *= 2) * sizeof(*rq->v));
			site_view_fill(s, now, &rq->v[rq->n]);
			rq->v[rq->n++].suspended = site_suspended(t, s->name);
		}
	for (size_t i = 0; i < t->nsuspended; i++) {
		bool shown = false;
		for (size_t j = 0; j < rq->n && !shown; j++)
			shown = strcasecmp(rq->v[j].name, t->suspended[i]) == 0;
		if (shown)
			continue;
		if (rq->n == cap)
			rq->v = xrealloc(rq->v, (cap *= 2) * sizeof(*rq->v));
		memset(&rq->v[rq->n], 0, sizeof(rq->v[0]));
		snprintf(rq->v[rq->n].name, SITE_NAME_MAX, "%s", t->suspended[i]);
		rq->v[rq->n++].suspended = true;
	}
	for (size_t i = 0; i < rq->ndomains; i++) {
		const char *name = site_domain_site(t, rq->domains[i]);
		snprintf(rq->site_of[i], SITE_NAME_MAX, "%s", name ? name : "");
	}
}

size_t
site_table_snapshot(struct site_table *t, struct site_view **out, const char *const *domains,
    size_t ndomains, char (*site_of)[SITE_NAME_MAX])
{
	struct site_snap_req rq = { .t = t, .domains = domains, .ndomains = ndomains, .site_of = site_of };

	coro_sched_call(t->sched, site_snapshot_on_loop, &rq);
	*out = rq.v;
	return rq.n;
}
