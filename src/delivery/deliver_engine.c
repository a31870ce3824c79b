/*
 * deliver_engine.c - the outbound loop: one event loop thread whose
 * coroutines run delivery attempts (deliver_message), the worker threads
 * they hand blocking work to, the DNS resolver and TLS context they share,
 * and the ready queues per egress path (site.h), ticked every second.
 * The queue manager above starts attempts and hears back through a
 * callback; nothing here knows it.
 * SECURITY: runs as the run user like the rest of ferryd; nothing here
 * parses peer data (mta_client.c and dns.c do).
 */
#include "delivery/deliver_internal.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "net/coro.h"
#include "util/log.h"
#include "util/xmalloc.h"


struct deliver_engine {
	struct deliver_handles h;
	struct coro_sched     *sched;
	struct deliver_shared  sh;
	struct event          *tick;
	size_t                 running;     /* attempts in progress (loop thread) */
	bool                   stopping;
};

/* One attempt, from start to its callback. */
struct deliver_run {
	struct deliver_engine *e;
	char                   id[SPOOL_ID_LEN + 1];
	int                    attempts;
	bool                   warned;
	deliver_done_fn        done;
	void                  *arg;
	void                 **load_token;   /* the queue manager's count of it against its site */
	struct deliver_outcome out;
};

static void
deliver_engine_tick_cb(evutil_socket_t fd, short what, void *arg)
{
	struct deliver_engine *e = arg;

	(void)fd;
	(void)what;
	site_table_tick(e->sh.sites, time(NULL));
}

struct deliver_engine *
deliver_engine_new(const struct deliver_handles *h, int nworkers)
{
	struct deliver_engine *e = xcalloc(1, sizeof(*e));
	struct timeval sec = { 1, 0 };

	e->h = *h;
	e->sched = coro_sched_new(nworkers);
	e->sh.base = coro_sched_base(e->sched);
	e->sh.sites = site_table_new(e->sched);
	e->tick = event_new(e->sh.base, -1, EV_PERSIST, deliver_engine_tick_cb, e);
	event_add(e->tick, &sec);
	return e;
}

int
deliver_engine_start(struct deliver_engine *e)
{
	return coro_sched_start(e->sched);
}

static void
deliver_run_co(void *arg)
{
	struct deliver_run *r = arg;
	struct deliver_ctx d = { .h = &r->e->h, .sh = &r->e->sh, .load_token = r->load_token };

	deliver_message(&d, r->id, r->attempts, r->warned, &r->out);
	r->e->running--;
	r->done(r->arg, &r->out);
	free(r);
}

int
deliver_engine_run(struct deliver_engine *e, const char *id, int attempts, bool warned,
    deliver_done_fn done, void *arg, void **load_token)
{
	struct deliver_run *r = xcalloc(1, sizeof(*r));

	r->e = e;
	snprintf(r->id, sizeof(r->id), "%s", id);
	r->attempts = attempts;
	r->warned = warned;
	r->done = done;
	r->arg = arg;
	r->load_token = load_token;
	if (coro_spawn(e->sched, deliver_run_co, r) < 0) {
		free(r);
		return -1;
	}
	e->running++;
	return 0;
}

size_t
deliver_engine_running(const struct deliver_engine *e)
{
	return e->running;
}

void
deliver_engine_post(struct deliver_engine *e, void (*fn)(void *), void *arg)
{
	coro_sched_post(e->sched, fn, arg);
}

void
deliver_engine_call(struct deliver_engine *e, void (*fn)(void *), void *arg)
{
	coro_sched_call(e->sched, fn, arg);
}

long
deliver_engine_domain_room(struct deliver_engine *e, const struct conf *c, const char *domain,
    long domain_active)
{
	const struct conf_route *route = domain[0] ? conf_route_find(c, domain) : NULL;

	if (domain[0] == '\0' || (route != NULL && route->transport == CONF_TRANSPORT_MAILDIR))
		/* delivered here (Maildir): no site, the workers are the limit */
		return 2L * c->destination_concurrency - domain_active;
	return site_domain_room(e->sh.sites, domain, (int)c->destination_concurrency, domain_active);
}

bool
deliver_engine_domain_suspended(struct deliver_engine *e, const char *domain)
{
	return site_domain_suspended(e->sh.sites, domain);
}

void *
deliver_engine_domain_start(struct deliver_engine *e, const char *domain)
{
	return site_domain_start(e->sh.sites, domain);
}

void
deliver_engine_domain_end(struct deliver_engine *e, void *token)
{
	(void)e;
	site_domain_end(token);
}

struct site_table *
deliver_engine_sites(struct deliver_engine *e)
{
	return e->sh.sites;
}

struct event_base *
deliver_engine_base(struct deliver_engine *e)
{
	return e->sh.base;
}

struct engine_count {
	struct deliver_engine *e;
	size_t                 n;
};

static void
deliver_engine_count(void *arg)
{
	struct engine_count *c = arg;

	c->n = c->e->running;
}

void
deliver_engine_stop(struct deliver_engine *e)
{
	struct engine_count c = { .e = e };
	struct server_snap *snap = server_snap_get(e->h.snaps);
	long long wait_ms = snap->conf->timeout_shutdown * 1000;

	server_snap_put(snap);
	/* Let attempts in progress end (the queue manager starts no more),
	 * for timeout_shutdown as inbound transactions get. */
	for (long long waited = 0; waited < wait_ms; waited += 100) {
		deliver_engine_call(e, deliver_engine_count, &c);
		if (c.n == 0)
			break;
		struct timespec ts = { 0, 100 * 1000000L };
		nanosleep(&ts, NULL);
	}
	deliver_engine_call(e, deliver_engine_count, &c);
	if (c.n > 0)
		log_info("event=shutdown-abandoned attempts=%zu reason=\"still waiting on peers; their"
		    " messages stay queued and are tried again at the next start\"", c.n);
	e->stopping = true;
	coro_sched_stop(e->sched);
}

void
deliver_engine_free(struct deliver_engine *e)
{
	if (e == NULL)
		return;
	if (!e->stopping)
		deliver_engine_stop(e);
	if (e->running > 0)
		return;     /* coroutines still hold it: left to the process's exit */
	event_free(e->tick);
	site_table_free(e->sh.sites);
	dns_resolver_free(e->sh.dns);
	for (size_t i = 0; i < e->sh.nold_dns; i++)
		dns_resolver_free(e->sh.old_dns[i]);
	free(e->sh.dns_key);
	SSL_CTX_free(e->sh.tls);
	free(e->sh.tls_key);
	coro_sched_free(e->sched);
	free(e);
}
