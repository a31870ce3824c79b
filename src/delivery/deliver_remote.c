/*
 * deliver_remote.c - the SMTP (or LMTP) transactions for the recipients of
 * one domain: plan the hops (deliver_hop.c), count the transaction against
 * the provider's rate and a pool address's warm-up cap, wait for a
 * connection slot of the egress path (site.h), reuse the connection the
 * slot carries when it goes to the same place, try the hosts in order
 * until one takes the transaction, and let the peer's throttle replies
 * shape the path.
 * STANDARDS: RFC 5321 (client), RFC 5321 4.5.4.1 (per-destination limits).
 * SECURITY: a password goes only where mta_client.c allows (verified TLS);
 * a pool the configuration lacks defers the mail rather than send it from
 * another address.
 */
#include "delivery/deliver_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <event2/event.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "net/coro.h"
#include "state/verp.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

static void
group_fail(struct rcpt_result **g, size_t n, const struct mta_reply *r, const char *relay)
{
	for (size_t i = 0; i < n; i++) {
		g[i]->reply = *r;
		snprintf(g[i]->relay, sizeof(g[i]->relay), "%s", relay);
	}
}

/* Deferred by ferry's own pacing: retry at a known time, logged with reason. */
static void
group_defer(struct rcpt_result **g, size_t n, const struct mta_reply *r, time_t retry_at,
    const char *reason, bool no_expire)
{
	group_fail(g, n, r, "none");
	for (size_t i = 0; i < n; i++) {
		g[i]->retry_at = retry_at;
		g[i]->reason = reason;
		g[i]->no_expire = no_expire;
	}
}

/* ---- connections ---------------------------------------------------------- */

static void
hop_addr_port(struct sockaddr_storage *a, int port, socklen_t *len)
{
	if (a->ss_family == AF_INET) {
		((struct sockaddr_in *)a)->sin_port = htons((unsigned short)port);
		*len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)a)->sin6_port = htons((unsigned short)port);
		*len = sizeof(struct sockaddr_in6);
	}
}

static bool
hop_source(const char *src, struct sockaddr_storage *ss, socklen_t *len)
{
	return src != NULL && netaddr_ip_parse(src, ss, len);
}

/* A source address binds only to peers of its own family: an IPv6 pool
 * address reaches the IPv6 addresses of the MX hosts, an IPv4 one the rest. */
static bool
hop_family_fits(const struct hop_plan *p, const struct sockaddr_storage *peer)
{
	struct sockaddr_storage src;
	socklen_t len;

	return !hop_source(p->source, &src, &len) || src.ss_family == peer->ss_family;
}

/* A local LMTP server's socket, without blocking the loop: a full listen
 * backlog (EAGAIN on a Unix socket) is tried again until the timeout. */
static struct mta_conn *
hop_connect_unix(const char *path, const struct mta_opts *o, int timeout_s, struct mta_reply *why)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0), rc = -1;
	long waited = 0;

	if (strlen(path) >= sizeof(sun.sun_path)) {    /* cut short, it would name another socket */
		mta_reply_set(why, 451, "4.3.5 LMTP socket path too long: %.200s", path);
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	while (fd >= 0 && (rc = connect(fd, (struct sockaddr *)&sun, sizeof(sun))) < 0 && errno == EAGAIN &&
	    waited < (long)timeout_s * 1000) {
		coro_sleep_ms(100);
		waited += 100;
	}
	if (fd >= 0 && rc < 0 && errno == EINPROGRESS && coro_wait_fd(fd, EV_WRITE, (long)timeout_s * 1000) == 0) {
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) == 0 && soerr == 0)
			rc = 0;
		else
			errno = soerr ? soerr : errno;
	}
	if (fd < 0 || rc < 0) {
		mta_reply_set(why, 451, "4.4.1 cannot connect to %.200s: %s", path,
		    fd < 0 || errno != EAGAIN ? strerror(errno) : "timed out (its listen queue is full)");
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	return mta_connect_fd(fd, o, why);
}

static void
hop_opts(const struct conf *c, const struct hop_plan *p, const char *name, struct deliver_ctx *d,
    struct mta_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->helo = p->helo != NULL ? p->helo : c->hostname;
	o->lmtp = p->lmtp;
	o->tls = p->tls;
	o->tls_ctx = o->tls == MTA_TLS_NONE ? NULL : deliver_tls_ctx(d, c);
	o->tls_name = name;
	o->auth_user = p->auth_user;
	o->auth_pass = p->auth_pass;
	o->auth_unverified = p->auth_unverified;
	o->timeout_s = (int)c->smtp_timeout;
	o->connect_timeout_s = (int)c->connect_timeout;
}

/* The source half of the plan's egress path: a provider's connections=
 * is its total, whatever the source address; else the source address. */
static const char *
hop_path_source(const struct hop_plan *p)
{
	return p->provider != NULL && p->provider->connections > 0 ? NULL : p->source;
}

/* The lease's connection if it goes to key, else a new one in its slot. */
static struct mta_conn *
hop_conn_get(struct deliver_ctx *d, const struct conf *c, const struct hop_plan *p,
    const struct dns_host *h, size_t ai, const char *key, bool *reused, struct mta_reply *why)
{
	struct site_lease *ls = p->lease;
	struct sockaddr_storage a = h->addrs[ai], src;
	socklen_t alen, slen = 0;
	struct mta_opts o;
	bool has_src;

	*reused = ls->conn != NULL && strcmp(ls->key, key) == 0 && ls->msgs < c->destination_msgs_per_conn;
	if (*reused)
		return ls->conn;
	site_lease_close(d->sh->sites, ls);
	hop_opts(c, p, h->name, d, &o);
	/* our own reference: a reload may replace the shared context while
	 * this connection waits for its greeting (SSL_new takes its own) */
	if (o.tls_ctx != NULL)
		SSL_CTX_up_ref(o.tls_ctx);
	if (p->unix_path != NULL)
		ls->conn = hop_connect_unix(p->unix_path, &o, (int)c->connect_timeout, why);
	else {
		hop_addr_port(&a, p->port, &alen);
		has_src = hop_source(p->source, &src, &slen);
		ls->conn = mta_connect((struct sockaddr *)&a, alen, has_src ? (struct sockaddr *)&src : NULL,
		    slen, &o, why);
	}
	SSL_CTX_free(o.tls_ctx);
	if (ls->conn != NULL) {
		snprintf(ls->key, sizeof(ls->key), "%s", key);
		ls->msgs = 0;
	} else if (!why->local)
		site_shape(d->sh->sites, p->site, hop_path_source(p), c->shaping, why);   /* a greeting or EHLO refusal */
	return ls->conn;
}

/* The peer's first throttle-like reply among the results shapes the path. */
static void
hop_shape(struct deliver_ctx *d, const struct conf *c, const struct hop_plan *p, const struct mta_rcpt *r,
    size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].result.code >= 400 && !r[i].result.local) {
			site_shape(d->sh->sites, p->site, hop_path_source(p), c->shaping, &r[i].result);
			return;
		}
}

/* Where the queue file is, to open it the moment its content is sent. */
struct hop_content {
	struct spool           *spool;
	const struct spool_env *env;
};

/* The content is read on the loop thread in 16 KiB chunks as the peer
 * takes them: ask the kernel to read it ahead now, so that a large message
 * not in the page cache does not stall the loop on the disk. */
static int
hop_content_open(void *arg)
{
	const struct hop_content *hc = arg;
	int fd = spool_queue_open(hc->spool, hc->env->id, false);

	if (fd >= 0)      /* the first 4 MiB: the advice itself must stay cheap */
		(void)posix_fadvise(fd, hc->env->content_off, (off_t)(hc->env->content_len < 4194304 ?
		    hc->env->content_len : 4194304), POSIX_FADV_WILLNEED);
	return fd;
}

static void
hop_msg_build(const struct spool_env *env, int fd, struct hop_content *hc, struct rcpt_result **g, size_t n,
    struct mta_rcpt *rcpts, struct mta_msg *m, const struct hop_plan *p)
{
	memset(m, 0, sizeof(*m));
	for (size_t i = 0; i < n; i++) {
		memset(&rcpts[i], 0, sizeof(rcpts[i]));
		rcpts[i].addr = g[i]->r->addr;
		rcpts[i].notify = g[i]->r->notify;
		rcpts[i].orcpt = g[i]->r->orcpt;
	}
	m->sender = p->sender != NULL ? p->sender : env->sender;
	m->envid = env->envid;
	m->ret = env->ret;
	m->body = env->body;
	m->smtputf8 = env->smtputf8;
	m->prefix = p->dkim;
	m->content_fd = fd;
	if (fd < 0) {           /* opened only to send the content (mta_client.h) */
		m->content_open = hop_content_open;
		m->content_arg = hc;
	}
	m->content_off = env->content_off;
	m->content_len = env->content_len;
	m->rcpts = rcpts;
	m->nrcpts = n;
}

static bool
hop_all_temporary(const struct mta_rcpt *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i].result.code < 400 || r[i].result.code >= 500)
			return false;
	return true;
}

/* One transaction on one address; false when the next host should be tried. */
static bool
hop_try(struct deliver_ctx *d, const struct conf *c, const struct hop_plan *p,
    const struct dns_host *h, size_t ai, const struct spool_env *env, int fd,
    struct rcpt_result **g, size_t n, struct mta_reply *why)
{
	struct mta_rcpt *rcpts = xcalloc(n, sizeof(*rcpts));
	struct hop_content hc = { d->h->spool, env };
	struct mta_msg m;
	char key[600], addr[64];
	bool reused, peer_dsn = false;
	int rc;

	netaddr_ntop((const struct sockaddr *)&h->addrs[ai], addr, sizeof(addr));
	/* The source address and its EHLO name are part of the key: mail for
	 * one pool address never rides a connection made from another. So is
	 * the TLS policy: a route requiring TLS never rides a connection made
	 * without (tls=none, or a failed opportunistic handshake), and the
	 * host name, which a verified certificate was checked against. */
	snprintf(key, sizeof(key), "%s|%s|%s|%d|%s|%d|%d|%.255s", p->unix_path ? p->unix_path : addr,
	    p->source ? p->source : "", p->helo ? p->helo : "", p->port,
	    p->auth_user ? p->auth_user : "", p->lmtp, (int)p->tls, h->name);
	for (int round = 0; round < 2; round++) {
		struct mta_conn *conn = hop_conn_get(d, c, p, h, ai, key, &reused, why);
		if (conn == NULL) {
			free(rcpts);
			return false;
		}
		hop_msg_build(env, fd, &hc, g, n, rcpts, &m, p);
		rc = mta_send(conn, &m);
		peer_dsn = mta_peer_dsn(conn);
		p->lease->msgs++;
		for (size_t i = 0; i < n; i++) {
			snprintf(g[i]->relay, sizeof(g[i]->relay), "%s", mta_peer_name(conn));
			snprintf(g[i]->source_ip, sizeof(g[i]->source_ip), "%s", p->source ? p->source : "");
			snprintf(g[i]->site, sizeof(g[i]->site), "%.255s", p->site);
		}
		hop_shape(d, c, p, rcpts, n);
		if (rc < 0)
			site_lease_close(d->sh->sites, p->lease);
		if (rc > 0) {
			/* This peer cannot take the message (SIZE, SMTPUTF8): try the
			 * next host; if none can, this reply is the outcome. */
			*why = rcpts[0].result;
			free(rcpts);
			return false;
		}
		/* A cached connection the peer closed meanwhile: once more, fresh. */
		if (!(rc < 0 && reused && hop_all_temporary(rcpts, n)))
			break;
	}
	for (size_t i = 0; i < n; i++) {
		g[i]->reply = rcpts[i].result;
		g[i]->relayed = !p->lmtp;
		g[i]->dsn_passed = !p->lmtp && peer_dsn;
	}
	free(rcpts);
	return true;
}

/* "b+TOKEN@<bounce domain>" for the recipient r of env (verp.h), bound to
 * the address it goes to (an alias target's own), the one a report names. */
static const char *
hop_verp_sender(const struct deliver_ctx *d, const struct spool_env *env, const struct rcpt_result *r,
    char *out, size_t outsz)
{
	const struct spool_rcpt *er = r->env_rcpt != NULL ? r->env_rcpt : r->r;
	struct verp_info vi = { .tenant_id = env->tenant_id, .rcpt_index = (unsigned)(er - env->rcpts) };
	char local[VERP_LOCAL_MAX + 1];

	snprintf(vi.queue_id, sizeof(vi.queue_id), "%s", env->id);
	verp_rcpt_bind(d->tenant.secret, &vi, r->r->addr);
	verp_local_make(d->tenant.secret, &vi, local, sizeof(local));
	snprintf(out, outsz, "%s@%s", local, d->tenant.t.bounce_domain);
	return out;
}

static bool
hop_accepted(struct rcpt_result **g, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (g[i]->reply.code >= 200 && g[i]->reply.code < 300)
			return true;
	return false;
}

struct pool_pick_job {
	struct deliver_ctx     *d;
	const struct conf_pool *pool;
	const struct spool_env *env;
	struct pool_pick       *pick;
	struct mta_reply       *why;
	time_t                 *retry_at;
	int                     rc;
};

/* A pool address's warm-up day may need the state database: a worker's job. */
static void
hop_pool_pick_job(void *arg)
{
	struct pool_pick_job *j = arg;

	j->rc = deliver_pool_pick(j->d, j->pool, j->env, j->pick, j->why, j->retry_at);
}

struct provider_job {
	struct deliver_ctx          *d;
	const struct conf_provider  *pr;
	const struct pool_pick      *pick;    /* giveback: the warm-up count to return */
	time_t                       now;
	struct mta_reply            *why;
	time_t                      *retry_at;
	int                          rc;
};

static void
hop_provider_take_job(void *arg)
{
	struct provider_job *j = arg;

	j->rc = deliver_provider_take(j->d, j->pr, j->now, j->why, j->retry_at);
}

/* Count the transaction against the provider's rate: in place when the
 * counters are this node's (memory), on a worker when they are Redis's (a
 * round trip, up to its timeout, must not stop the loop). */
static int
hop_provider_take(struct deliver_ctx *d, const struct conf_provider *pr, time_t now, struct mta_reply *why,
    time_t *retry_at)
{
	struct provider_job j = { d, pr, NULL, now, why, retry_at, 0 };

	if (pr == NULL || pr->rate <= 0 || !d->h->counters_remote)
		return deliver_provider_take(d, pr, now, why, retry_at);
	coro_offload(hop_provider_take_job, &j);
	return j.rc;
}

static void
hop_giveback_job(void *arg)
{
	struct provider_job *j = arg;

	deliver_pool_giveback(j->d, j->pick);
	deliver_provider_giveback(j->d, j->pr, j->now);
}

/* No peer took the transaction: its warm-up and provider counts go back
 * (on a worker when the counters are Redis's, as hop_provider_take). */
static void
hop_giveback(struct deliver_ctx *d, const struct pool_pick *pick, const struct conf_provider *pr, time_t now)
{
	struct provider_job j = { d, pr, pick, now, NULL, NULL, 0 };
	bool counted = pick->addr != NULL || (pr != NULL && pr->rate > 0);

	if (counted && d->h->counters_remote)
		coro_offload(hop_giveback_job, &j);
	else
		hop_giveback_job(&j);
}

/* The limits of the plan's site: a provider's own, else the configuration's. */
static void
hop_site_limits(const struct conf *c, const struct hop_plan *p, struct site_limits *lim)
{
	bool prov = p->provider != NULL && p->provider->connections > 0;

	memset(lim, 0, sizeof(*lim));
	lim->connections = (int)(prov ? p->provider->connections : c->destination_concurrency);
	lim->rate = prov ? 0 : c->destination_rate;     /* a provider's rate is counted per message */
	lim->msgs_per_conn = c->destination_msgs_per_conn;
	lim->idle_ms = 2000;
}

/* Wait for a slot of the egress path (source x site); false: deferred. */
static bool
hop_slot_take(struct deliver_ctx *d, const struct conf *c, struct hop_plan *p, const struct spool_env *env,
    struct rcpt_result **g, size_t n, struct site_lease *lease)
{
	struct site_limits lim;
	struct mta_reply why;
	time_t retry_at;
	long wait_ms = (long)(c->smtp_timeout + c->connect_timeout) * 1000;

	hop_site_limits(c, p, &lim);
	if (site_acquire(d->sh->sites, p->site, hop_path_source(p), env->tenant_id, deliver_tenant_weight(d),
	    &lim, wait_ms, lease, &why, &retry_at) == 0)
		return true;
	bool operator = site_suspended(d->sh->sites, p->site) || site_suspended(d->sh->sites, p->domain);
	group_defer(g, n, &why, retry_at, operator ? "site-suspended" : "site-busy", operator);
	for (size_t i = 0; i < n && operator; i++)
		g[i]->suspended = true;
	return false;
}

/* One transaction for the recipients g: count it against the provider's
 * rate and a pool address's warm-up cap (given back when no peer took
 * it), wait for a slot of its path, then try the hosts in order. */
static void
hop_transaction(struct deliver_ctx *d, const struct conf *c, struct hop_plan *p,
    const struct spool_env *env, int fd, struct rcpt_result **g, size_t n)
{
	char sender[VERP_LOCAL_MAX + STATE_DOMAIN_MAX + 2];
	const char *source = p->source, *helo = p->helo;
	struct pool_pick pick = { 0 };
	struct site_lease lease;
	struct mta_reply why;
	time_t retry_at, now = time(NULL);
	bool done = false;

	if (hop_provider_take(d, p->provider, now, &why, &retry_at) < 0) {
		group_defer(g, n, &why, retry_at, retry_at ? "provider-rate" : NULL, false);
		return;
	}
	if (p->pool != NULL) {
		struct pool_pick_job j = { d, p->pool, env, &pick, &why, &retry_at, 0 };
		coro_offload(hop_pool_pick_job, &j);
		if (j.rc != 0) {
			hop_giveback(d, &pick, p->provider, now);
			group_defer(g, n, &why, retry_at, j.rc > 0 ? "warmup-cap" : NULL, j.rc > 0);
			return;
		}
		p->source = pick.addr->addr;
		p->helo = pick.addr->ehlo;
	}
	if (hop_slot_take(d, c, p, env, g, n, &lease)) {
		p->lease = &lease;
		p->sender = d->tenant.verp && !p->lmtp && n == 1 ?
		    hop_verp_sender(d, env, g[0], sender, sizeof(sender)) : NULL;
		if (p->source != NULL)
			mta_reply_set(&why, 451, "4.4.1 no address of %.200s reachable from source %.64s", p->domain, p->source);
		else
			mta_reply_set(&why, 451, "4.4.1 no usable address for %.200s", p->domain);
		for (size_t hi = 0; hi < p->nhosts && !done; hi++) {
			size_t naddr = p->unix_path ? 1 : p->hosts[hi].naddrs;
			for (size_t ai = 0; ai < naddr && !done; ai++)
				if (p->unix_path != NULL || hop_family_fits(p, &p->hosts[hi].addrs[ai]))
					done = hop_try(d, c, p, &p->hosts[hi], ai, env, fd, g, n, &why);
		}
		if (!done)
			group_fail(g, n, &why, "none");
		site_release(d->sh->sites, &lease, lease.conn != NULL);
		p->lease = NULL;
	}
	if (!hop_accepted(g, n))
		hop_giveback(d, &pick, p->provider, now);
	p->sender = NULL;
	p->source = source;
	p->helo = helo;
}

struct dkim_job {
	struct deliver_ctx     *d;
	const struct conf      *c;
	const struct spool_env *env;
	int                     fd;
	const char             *prefix;
};

/* Signing reads the message and spends CPU: a worker's job. */
static void
hop_dkim_job(void *arg)
{
	struct dkim_job *j = arg;

	j->prefix = deliver_dkim_prefix(j->d, j->c, j->env, j->fd);
}

struct unsub_job {
	struct deliver_ctx       *d;
	const struct conf        *c;
	const struct spool_env   *env;
	const struct rcpt_result *r;
	char                     *prefix;
};

/* A recipient's List-Unsubscribe and its signature: a worker's job. */
static void
hop_unsub_job(void *arg)
{
	struct unsub_job *j = arg;

	j->prefix = deliver_unsub_prefix(j->d, j->c, j->env, j->r);
}

void
deliver_remote(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, const struct spool_env *env, int fd, struct rcpt_result **g, size_t n)
{
	struct hop_plan *p = xcalloc(1, sizeof(*p));
	struct mta_reply why = { 0 };
	bool unknown = false;

	if (hop_plan_make(d, c, route, domain, p, &why) < 0) {
		group_fail(g, n, &why, "none");
		free(p);
		return;
	}
	p->domain = domain;
	if (env->source != NULL && (route == NULL || route->source == NULL))
		p->source = env->source;    /* the listener's choice beats outbound_source */
	/* A tenant's pool beats both; LMTP is local delivery and has none. */
	if (!p->lmtp && (p->pool = deliver_pool_of(c, env, &d->tenant, &unknown, &why)) == NULL && unknown) {
		group_defer(g, n, &why, 0, "pool-unknown", false);
		free(p);
		return;
	}
	p->provider = p->lmtp ? NULL : hop_provider(c, route, p);
	hop_site_name(route, p, p->site, sizeof(p->site));
	if (site_domain_learn(d->sh->sites, domain, p->site) && d->h->learned != NULL)
		d->h->learned(d->h->queued_arg);     /* the queue manager may start more of it now */
	if (d->load_token != NULL && *d->load_token == NULL)
		*d->load_token = site_domain_start(d->sh->sites, domain);   /* counted from now on */
	if (!p->lmtp && !d->dkim_done) {
		struct dkim_job j = { d, c, env, fd, NULL };
		coro_offload(hop_dkim_job, &j);
	}
	p->dkim = p->lmtp ? NULL : d->dkim;
	if (!p->unix_path && (route == NULL || route->transport == CONF_TRANSPORT_MX) &&
	    hop_drop_self(c, p, domain, &why) < 0)
		group_fail(g, n, &why, "none");
	else if ((d->tenant.verp || d->unsub_prep != NULL) && !p->lmtp) {
		/* One return path (and List-Unsubscribe) per recipient, so one
		 * transaction each. */
		for (size_t i = 0; i < n; i++) {
			struct unsub_job j = { d, c, env, g[i], NULL };
			if (d->unsub_prep != NULL) {
				coro_offload(hop_unsub_job, &j);
				p->dkim = j.prefix;
			}
			hop_transaction(d, c, p, env, fd, &g[i], 1);
			p->dkim = d->dkim;
			free(j.prefix);
			if (i + 1 < n)
				deliver_progress_save(d, env, fd, &g[i], 1);
		}
	} else
		hop_transaction(d, c, p, env, fd, g, n);
	free(p);
}
