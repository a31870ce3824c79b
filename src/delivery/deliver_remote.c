/*
 * deliver_remote.c - recipients of one foreign domain (or a hosted domain
 * routed elsewhere): find the next hops (MX records, implicit MX, a
 * smarthost or an LMTP server), respect the destination's concurrency and
 * rate limits, reuse the thread's cached connection when it goes to the
 * same place, and try the hosts in order until one takes the transaction.
 * STANDARDS: RFC 5321 5.1 (MX order, implicit MX), RFC 7505 (null MX).
 * SECURITY: an MX that points back at ferry itself is a loop and fails the
 * recipients (5.4.6) instead of being followed.
 */
#include "delivery/deliver_internal.h"

#include <arpa/inet.h>
#include <errno.h>
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

#include "state/verp.h"
#include "util/netaddr.h"
#include "util/xmalloc.h"

/* ---- per-destination shaping (shared by all delivery threads) ---------- */

#define DEST_SLOTS 1024

struct dest_state {
	char            key[256];
	int             active;       /* connections in use (or cached) */
	int             waiting;      /* threads waiting for a slot */
	double          tokens;       /* messages allowed now (rate limit) */
	struct timespec refill;
};

static pthread_mutex_t dest_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t  dest_cond = PTHREAD_COND_INITIALIZER;
static struct dest_state dest_table[DEST_SLOTS];

static struct dest_state *
dest_find(const char *key)
{
	unsigned h = 2166136261u;
	size_t i;

	for (const char *p = key; *p; p++)
		h = (h ^ (unsigned char)*p) * 16777619u;
	for (size_t n = 0; n < DEST_SLOTS; n++) {
		i = (h + n) % DEST_SLOTS;
		if (dest_table[i].key[0] == '\0') {
			snprintf(dest_table[i].key, sizeof(dest_table[i].key), "%s", key);
			return &dest_table[i];
		}
		if (strcmp(dest_table[i].key, key) == 0)
			return &dest_table[i];
	}
	return &dest_table[h % DEST_SLOTS];   /* full: share a slot, limits stay limits */
}

static double
dest_elapsed(const struct timespec *from, const struct timespec *to)
{
	return (double)(to->tv_sec - from->tv_sec) + (double)(to->tv_nsec - from->tv_nsec) / 1e9;
}

/* Wait (at most 60 s) for one of limit connection slots and, with a rate
 * (messages a minute, 0 none), a token. */
static int
dest_acquire(const char *key, long long limit, long long rate)
{
	struct timespec now, deadline;
	struct dest_state *s;
	int rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += 60;
	pthread_mutex_lock(&dest_lock);
	s = dest_find(key);
	for (;;) {
		clock_gettime(CLOCK_REALTIME, &now);
		if (rate > 0) {
			double per_s = (double)rate / 60.0;
			if (s->refill.tv_sec == 0)
				s->tokens = 1;
			else
				s->tokens += dest_elapsed(&s->refill, &now) * per_s;
			if (s->tokens > per_s * 60)
				s->tokens = per_s * 60;
			s->refill = now;
		}
		if (s->active < limit && (rate == 0 || s->tokens >= 1))
			break;
		s->waiting++;
		int w = pthread_cond_timedwait(&dest_cond, &dest_lock, &deadline);
		s->waiting--;
		if (w == ETIMEDOUT) {
			rc = -1;
			break;
		}
	}
	if (rc == 0) {
		s->active++;
		if (rate > 0)
			s->tokens -= 1;
	}
	pthread_mutex_unlock(&dest_lock);
	return rc;
}

/* Does another thread wait for a slot of this destination? */
static bool
dest_contended(const char *key)
{
	bool busy;

	pthread_mutex_lock(&dest_lock);
	busy = dest_find(key)->waiting > 0;
	pthread_mutex_unlock(&dest_lock);
	return busy;
}

void
deliver_dest_release(const char *key)
{
	pthread_mutex_lock(&dest_lock);
	dest_find(key)->active--;
	pthread_cond_broadcast(&dest_cond);
	pthread_mutex_unlock(&dest_lock);
}

/* The destination a delivery counts against: a provider with connections=
 * (every domain whose MX hosts are the provider's shares them), the next hop
 * of a fixed route (all domains through one smarthost share it), else the
 * domain. */
static void
dest_key(const struct conf_provider *pr, const struct conf_route *route, const char *domain, char *out,
    size_t outsz)
{
	if (pr != NULL && pr->connections > 0)
		snprintf(out, outsz, "provider:%s", pr->name);
	else if (route != NULL && route->transport != CONF_TRANSPORT_MX && route->transport != CONF_TRANSPORT_MAILDIR)
		snprintf(out, outsz, "%s:%s:%d", route->transport == CONF_TRANSPORT_LMTP ? "lmtp" : "smtp",
		    route->path ? route->path : route->host ? route->host : "", route->port);
	else
		snprintf(out, outsz, "%s", domain);
}

/* Hold a slot for the destination: the one this thread holds already, or a new one. */
static int
dest_slot_take(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, const struct conf_provider *pr)
{
	char key[300];

	dest_key(pr, route, domain, key, sizeof(key));
	if (strcmp(d->slot_dest, key) == 0)
		return 0;
	deliver_ctx_idle(d);          /* a connection elsewhere and its slot go */
	/* A provider's rate is counted per message (deliver_provider_take). */
	if (pr != NULL && pr->connections > 0 ? dest_acquire(key, pr->connections, 0) < 0 :
	    dest_acquire(key, c->destination_concurrency, c->destination_rate) < 0)
		return -1;
	snprintf(d->slot_dest, sizeof(d->slot_dest), "%s", key);
	return 0;
}

/* ---- next hops ---------------------------------------------------------- */

struct hop_plan {
	struct dns_host hosts[DNS_HOSTS_MAX];
	size_t          nhosts;
	int             port;
	bool            lmtp;
	const char     *unix_path;
	enum mta_tls    tls;
	const char     *auth_user, *auth_pass;
	bool            auth_unverified;  /* tls_verify=no */
	const char     *source;
	const char     *helo;         /* EHLO name for source (pool address), NULL: hostname */
	const char     *sender;       /* MAIL FROM of this transaction (VERP), NULL: the envelope's */
	const char     *dkim;         /* DKIM-Signature header(s) to send, or NULL */
	const char     *domain;
	const struct conf_pool     *pool;       /* source addresses to choose from, or NULL */
	const struct conf_provider *provider;   /* limits shared with other domains, or NULL */
};

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

static struct dns_resolver *
deliver_resolver(struct deliver_ctx *d, const struct conf *c)
{
	char err[256];
	const char *key = c->dns_servers ? c->dns_servers : "";

	if (d->dns != NULL && strcmp(d->dns_key, key) == 0)
		return d->dns;
	if (d->dns != NULL)
		dns_resolver_free(d->dns);
	free(d->dns_key);
	d->dns_key = xstrdup(key);
	d->dns = dns_resolver_new(c->dns_servers, (int)c->dns_timeout * 1000, err, sizeof(err));
	return d->dns;
}

static enum mta_tls
hop_tls(const struct conf *c, const struct conf_route *route)
{
	enum conf_tls t = route && route->tls != CONF_TLS_DEFAULT ? route->tls : c->smtp_tls;

	switch (t) {
	case CONF_TLS_NONE:    return MTA_TLS_NONE;
	case CONF_TLS_REQUIRE: return MTA_TLS_REQUIRE;
	case CONF_TLS_VERIFY:  return MTA_TLS_VERIFY;
	default:               return MTA_TLS_MAY;
	}
}

static int
hop_resolve_mx(struct deliver_ctx *d, const struct conf *c, const char *domain,
    struct hop_plan *p, struct mta_reply *why)
{
	struct dns_resolver *r = deliver_resolver(d, c);
	char err[256] = "";
	enum dns_status st;

	if (r == NULL) {
		mta_reply_set(why, 451, "4.4.3 DNS resolver unavailable");
		return -1;
	}
	st = dns_mx_lookup(r, domain, false, p->hosts, DNS_HOSTS_MAX, &p->nhosts, err, sizeof(err));
	switch (st) {
	case DNS_OK:
		return 0;
	case DNS_NULLMX:
		mta_reply_set(why, 556, "5.1.10 Domain %.200s does not accept mail (null MX)", domain);
		return -1;
	case DNS_NXDOMAIN:
	case DNS_NODATA:
		mta_reply_set(why, 550, "5.1.2 Host or domain name not found: %.200s (%.200s)", domain, err);
		return -1;
	default:
		mta_reply_set(why, 451, "4.4.3 Host or domain name lookup failed for %.200s: %.200s; will retry",
		    domain, err);
		return -1;
	}
}

/* "[192.0.2.1]" or "[IPv6:2001:db8::1]": that host, no DNS (RFC 5321 4.1.3). */
static int
hop_address_literal(const char *domain, struct hop_plan *p, struct mta_reply *why)
{
	char ip[64];
	size_t len = strlen(domain);
	const char *start = domain + 1;

	if (strncasecmp(start, "IPv6:", 5) == 0)
		start += 5;
	if (len < 3 || domain[len - 1] != ']' || (size_t)(domain + len - 1 - start) >= sizeof(ip)) {
		mta_reply_set(why, 550, "5.1.2 bad address literal %.200s", domain);
		return -1;
	}
	memcpy(ip, start, (size_t)(domain + len - 1 - start));
	ip[domain + len - 1 - start] = '\0';
	if (!dns_host_literal(ip, &p->hosts[0])) {
		mta_reply_set(why, 550, "5.1.2 bad address literal %.200s", domain);
		return -1;
	}
	p->nhosts = 1;
	return 0;
}

static int
hop_plan_make(struct deliver_ctx *d, const struct conf *c, const struct conf_route *route,
    const char *domain, struct hop_plan *p, struct mta_reply *why)
{
	char err[256] = "";

	memset(p, 0, sizeof(*p));
	p->port = (int)c->smtp_port;
	p->tls = hop_tls(c, route);
	p->source = route && route->source ? route->source : c->outbound_source;
	if ((route == NULL || route->transport == CONF_TRANSPORT_MX) && domain[0] == '[')
		return hop_address_literal(domain, p, why);
	if (route == NULL || route->transport == CONF_TRANSPORT_MX)
		return hop_resolve_mx(d, c, domain, p, why);
	p->lmtp = route->transport == CONF_TRANSPORT_LMTP;
	p->auth_user = route->auth_user;
	p->auth_pass = route->auth_pass;
	p->auth_unverified = route->tls_noverify;
	p->port = route->port;
	if (p->lmtp && route->tls == CONF_TLS_DEFAULT)
		p->tls = MTA_TLS_NONE;   /* LMTP is local: no TLS unless asked for */
	if (route->path != NULL) {
		p->unix_path = route->path;
		p->nhosts = 1;
		return 0;
	}
	p->nhosts = 1;
	if (dns_host_literal(route->host, &p->hosts[0]))
		return 0;
	if (deliver_resolver(d, c) == NULL ||
	    dns_host_lookup(d->dns, route->host, false, &p->hosts[0], err, sizeof(err)) != DNS_OK) {
		mta_reply_set(why, 451, "4.4.3 cannot resolve next hop %.200s: %.200s", route->host, err);
		return -1;
	}
	return 0;
}

/* An MX host that is ferry itself: named like us or one of our listeners. */
/* This host's interface addresses, read at most once a minute: the check
 * runs for every MX address of every message when a listener is on '*'. */
#define LOCAL_ADDRS_MAX     64
#define LOCAL_ADDRS_REFRESH 60

static pthread_mutex_t local_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sockaddr_storage local_addrs[LOCAL_ADDRS_MAX];
static size_t local_naddrs;
static time_t local_read;

/* Refresh the cached interface addresses when they are stale (local_lock held). */
static void
hop_local_refresh(void)
{
	struct ifaddrs *ifs;
	time_t now = time(NULL);

	if (local_read != 0 && now - local_read < LOCAL_ADDRS_REFRESH)
		return;
	local_read = now;
	if (getifaddrs(&ifs) < 0)
		return;
	local_naddrs = 0;
	for (struct ifaddrs *i = ifs; i != NULL && local_naddrs < LOCAL_ADDRS_MAX; i = i->ifa_next)
		if (i->ifa_addr != NULL && (i->ifa_addr->sa_family == AF_INET || i->ifa_addr->sa_family == AF_INET6))
			memcpy(&local_addrs[local_naddrs++], i->ifa_addr, i->ifa_addr->sa_family == AF_INET ?
			    sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6));
	freeifaddrs(ifs);
}

/* Is a one of this host's addresses (for listeners on the wildcard address)? */
static bool
hop_addr_is_local(const struct sockaddr_storage *a)
{
	bool local = false;

	if (a->ss_family == AF_INET &&
	    (ntohl(((const struct sockaddr_in *)a)->sin_addr.s_addr) >> 24) == 127)
		return true;
	if (a->ss_family == AF_INET6 && IN6_IS_ADDR_LOOPBACK(&((const struct sockaddr_in6 *)a)->sin6_addr))
		return true;
	pthread_mutex_lock(&local_lock);
	hop_local_refresh();
	for (size_t i = 0; i < local_naddrs && !local; i++) {
		const struct sockaddr_storage *l = &local_addrs[i];
		if (l->ss_family != a->ss_family)
			continue;
		if (a->ss_family == AF_INET)
			local = ((const struct sockaddr_in *)l)->sin_addr.s_addr ==
			    ((const struct sockaddr_in *)a)->sin_addr.s_addr;
		else
			local = memcmp(&((const struct sockaddr_in6 *)l)->sin6_addr,
			    &((const struct sockaddr_in6 *)a)->sin6_addr, 16) == 0;
	}
	pthread_mutex_unlock(&local_lock);
	return local;
}

static bool
hop_is_self(const struct conf *c, const struct dns_host *h, const struct sockaddr_storage *a, int port)
{
	if (strcasecmp(h->name, c->hostname) == 0)
		return true;
	for (size_t i = 0; i < c->nlisteners; i++) {
		const struct sockaddr_storage *l = &c->listeners[i].ss;
		if (l->ss_family != a->ss_family)
			continue;
		if (l->ss_family == AF_INET) {
			const struct sockaddr_in *x = (const void *)l, *y = (const void *)a;
			if (ntohs(x->sin_port) == port && (x->sin_addr.s_addr == y->sin_addr.s_addr ||
			    (x->sin_addr.s_addr == htonl(INADDR_ANY) && hop_addr_is_local(a))))
				return true;
		} else {
			const struct sockaddr_in6 *x = (const void *)l, *y = (const void *)a;
			if (ntohs(x->sin6_port) == port && (memcmp(&x->sin6_addr, &y->sin6_addr, 16) == 0 ||
			    (IN6_IS_ADDR_UNSPECIFIED(&x->sin6_addr) && hop_addr_is_local(a))))
				return true;
		}
	}
	return false;
}

/* RFC 5321 5.1: when ferryd is one of the MX hosts, only better ones may
 * take the mail; when it is the best, the mail loops (-1, why = 5.4.6). */
static int
hop_drop_self(const struct conf *c, struct hop_plan *p, const char *domain, struct mta_reply *why)
{
	for (size_t hi = 0; hi < p->nhosts; hi++)
		for (size_t ai = 0; ai < p->hosts[hi].naddrs; ai++) {
			if (!hop_is_self(c, &p->hosts[hi], &p->hosts[hi].addrs[ai], p->port))
				continue;
			unsigned pref = p->hosts[hi].pref;
			size_t keep = 0;
			while (keep < p->nhosts && p->hosts[keep].pref < pref)
				keep++;
			if (keep == 0) {
				mta_reply_set(why, 554, "5.4.6 mail for %.200s loops back to myself (MX %.200s)",
				    domain, p->hosts[hi].name);
				return -1;
			}
			p->nhosts = keep;
			return 0;
		}
	return 0;
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

static struct mta_conn *
hop_connect_unix(const char *path, const struct mta_opts *o, struct mta_reply *why)
{
	struct sockaddr_un sun = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
		mta_reply_set(why, 451, "4.4.1 cannot connect to %.200s: %s", path, strerror(errno));
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

/* The cached connection if it goes to key, else a new one. */
static struct mta_conn *
hop_conn_get(struct deliver_ctx *d, const struct conf *c, const struct hop_plan *p,
    const struct dns_host *h, size_t ai, const char *key, bool *reused, struct mta_reply *why)
{
	struct sockaddr_storage a = h->addrs[ai], src;
	socklen_t alen, slen = 0;
	struct mta_opts o;
	bool has_src;

	*reused = d->conn != NULL && strcmp(d->conn_key, key) == 0 &&
	    d->conn_msgs < c->destination_msgs_per_conn;
	if (*reused)
		return d->conn;
	deliver_conn_close(d);
	hop_opts(c, p, h->name, d, &o);
	if (p->unix_path != NULL)
		d->conn = hop_connect_unix(p->unix_path, &o, why);
	else {
		hop_addr_port(&a, p->port, &alen);
		has_src = hop_source(p->source, &src, &slen);
		d->conn = mta_connect((struct sockaddr *)&a, alen, has_src ? (struct sockaddr *)&src : NULL,
		    slen, &o, why);
	}
	if (d->conn != NULL) {
		snprintf(d->conn_key, sizeof(d->conn_key), "%s", key);
		d->conn_msgs = 0;
	}
	return d->conn;
}

static void
hop_msg_build(const struct spool_env *env, int fd, struct rcpt_result **g, size_t n,
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
		hop_msg_build(env, fd, g, n, rcpts, &m, p);
		rc = mta_send(conn, &m);
		peer_dsn = mta_peer_dsn(conn);
		d->conn_msgs++;
		for (size_t i = 0; i < n; i++)
			snprintf(g[i]->relay, sizeof(g[i]->relay), "%s", mta_peer_name(conn));
		if (rc < 0)
			deliver_conn_close(d);
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

/* The provider whose limits apply: matched on the fixed next hop or the MX hosts. */
static const struct conf_provider *
hop_provider(const struct conf *c, const struct conf_route *route, const struct hop_plan *p)
{
	const struct conf_provider *pr = NULL;

	if (c->nproviders == 0 || p->unix_path != NULL)
		return NULL;
	if (route != NULL && route->host != NULL)
		pr = conf_provider_match(c, route->host);
	for (size_t hi = 0; hi < p->nhosts && pr == NULL; hi++)
		pr = conf_provider_match(c, p->hosts[hi].name);
	return pr;
}

/* "b+TOKEN@<bounce domain>" for the recipient r of env (verp.h). */
static const char *
hop_verp_sender(const struct deliver_ctx *d, const struct spool_env *env, const struct rcpt_result *r,
    char *out, size_t outsz)
{
	const struct spool_rcpt *er = r->env_rcpt != NULL ? r->env_rcpt : r->r;
	struct verp_info vi = { .tenant_id = env->tenant_id, .rcpt_index = (unsigned)(er - env->rcpts) };
	char local[VERP_LOCAL_MAX + 1];

	snprintf(vi.queue_id, sizeof(vi.queue_id), "%s", env->id);
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

/* One transaction for the recipients g: count it against the provider's
 * rate and a pool address's warm-up cap (given back when no peer took
 * it), then try the hosts in order. */
static void
hop_transaction(struct deliver_ctx *d, const struct conf *c, struct hop_plan *p,
    const struct spool_env *env, int fd, struct rcpt_result **g, size_t n)
{
	char sender[VERP_LOCAL_MAX + STATE_DOMAIN_MAX + 2];
	struct pool_pick pick = { 0 };
	struct mta_reply why;
	time_t retry_at, now = time(NULL);
	bool done = false;
	int rc;

	if (deliver_provider_take(d, p->provider, now, &why, &retry_at) < 0) {
		group_defer(g, n, &why, retry_at, retry_at ? "provider-rate" : NULL, false);
		return;
	}
	if (p->pool != NULL) {
		if ((rc = deliver_pool_pick(d, p->pool, env, &pick, &why, &retry_at)) != 0) {
			deliver_provider_giveback(d, p->provider, now);
			group_defer(g, n, &why, retry_at, rc > 0 ? "warmup-cap" : NULL, rc > 0);
			return;
		}
		p->source = pick.addr->addr;
		p->helo = pick.addr->ehlo;
	}
	p->sender = d->tenant.verp && !p->lmtp && n == 1 ? hop_verp_sender(d, env, g[0], sender, sizeof(sender)) :
	    NULL;
	mta_reply_set(&why, 451, "4.4.1 no usable address for %.200s", p->domain);
	for (size_t hi = 0; hi < p->nhosts && !done; hi++) {
		size_t naddr = p->unix_path ? 1 : p->hosts[hi].naddrs;
		for (size_t ai = 0; ai < naddr && !done; ai++)
			done = hop_try(d, c, p, &p->hosts[hi], ai, env, fd, g, n, &why);
	}
	if (!done)
		group_fail(g, n, &why, "none");
	if (!hop_accepted(g, n)) {
		deliver_pool_giveback(d, &pick);
		deliver_provider_giveback(d, p->provider, now);
	}
	p->sender = NULL;
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
	if (dest_slot_take(d, c, route, domain, p->provider) < 0) {
		mta_reply_set(&why, 451, "4.4.5 destination concurrency limit: no slot for %.200s",
		    p->provider && p->provider->connections > 0 ? p->provider->name : domain);
		group_fail(g, n, &why, "none");
		free(p);
		return;
	}
	if (!p->lmtp)
		p->dkim = deliver_dkim_prefix(d, c, env, fd);
	if (!p->unix_path && (route == NULL || route->transport == CONF_TRANSPORT_MX) &&
	    hop_drop_self(c, p, domain, &why) < 0)
		group_fail(g, n, &why, "none");
	else if (d->tenant.verp && !p->lmtp) {
		/* One return path per recipient, so one transaction each. */
		for (size_t i = 0; i < n; i++) {
			hop_transaction(d, c, p, env, fd, &g[i], 1);
			if (i + 1 < n)
				deliver_progress_save(env, fd, &g[i], 1);
		}
	} else
		hop_transaction(d, c, p, env, fd, g, n);
	/* The slot goes back when nothing is cached, or when another thread
	 * holds mail for this destination and waits for it. */
	if (d->conn == NULL || dest_contended(d->slot_dest))
		deliver_ctx_idle(d);
	free(p);
}
