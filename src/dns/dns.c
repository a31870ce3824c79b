/*
 * dns.c - mail routing lookups on a c-ares channel: MX with implicit MX and
 * null MX, then A/AAAA of each exchanger, all queries of one lookup in
 * parallel and the whole lookup bounded by one deadline.
 * STANDARDS: RFC 1035 (DNS), RFC 3596 (AAAA), RFC 5321 5.1 (MX selection,
 * implicit MX), RFC 7505 (null MX), RFC 2181 (names).
 * SECURITY: every answer is untrusted: names are checked for length and
 * hostname characters before use, at most DNS_HOSTS_MAX hosts and
 * DNS_ADDRS_MAX addresses each are kept, and a malformed answer is a
 * temporary failure. Server strings from the configuration are parsed
 * strictly here (c-ares' own CSV parser accepts "1.2.3" and wraps ports).
 * No search domains, no aliases, no hosts file: only the DNS is asked.
 */
#include "dns/dns.h"

#include <ares.h>
#include <arpa/inet.h>
#include <arpa/nameser.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <event2/event.h>
#include <time.h>

#include "net/coro.h"
#include "util/netaddr.h"

#define DNS_SERVERS_MAX 8
#define DNS_CAND_MAX    (2 * DNS_HOSTS_MAX)  /* MX records considered */
#define DNS_TRIES       2
#define DNS_SOCKS_MAX   32      /* sockets a channel opens at once (UDP and TCP per server) */

/* A socket of the channel, watched by the loop (dns_resolver_new_loop). */
struct dns_sock {
	ares_socket_t fd;
	struct event *ev;
};

struct dns_resolver {
	ares_channel ch;
	int          timeout_ms;    /* one whole lookup */
	uint64_t     rng;           /* xorshift64 state for MX shuffling */
	/* On an event loop: c-ares's sockets and its retry timer are events of
	 * base, and a lookup parks its coroutine instead of polling. */
	struct event_base *base;
	struct event      *timer;
	struct dns_sock    socks[DNS_SOCKS_MAX];
	size_t             nsocks;
};

/* One query in flight; the c-ares callback fills it in. */
struct dns_query {
	bool                    done;
	struct coro            *waiter;      /* on a loop: woken by the callback */
	int                     status;      /* ARES_* */
	int                     type;        /* T_MX, T_A or T_AAAA */
	struct ares_mx_reply   *mx;          /* T_MX answer, freed by the caller */
	struct dns_rrset       *rrset;       /* dns_rr_lookup: records as published */
	struct sockaddr_storage addrs[DNS_ADDRS_MAX];
	size_t                  naddrs;
};

/* The address queries (A, then AAAA) of one host. */
struct dns_hostq {
	struct dns_host  host;
	struct dns_query q[2];
	size_t           nq;
};

static pthread_once_t dns_once = PTHREAD_ONCE_INIT;
static int dns_init_status = ARES_SUCCESS;

/* ---- helpers ------------------------------------------------------------ */

/* c-ares global state, once per process (ares_library_init is not thread safe). */
static void
dns_library_init(void)
{
	dns_init_status = ares_library_init(ARES_LIB_INIT_ALL);
}

/* Next pseudo-random number: only spreads load, needs no cryptographic strength. */
static uint64_t
dns_random(struct dns_resolver *r)
{
	r->rng ^= r->rng << 13;
	r->rng ^= r->rng >> 7;
	r->rng ^= r->rng << 17;
	return r->rng;
}

/* Seed from the kernel; a clock fallback still spreads load if that fails. */
static uint64_t
dns_seed(void)
{
	uint64_t s = 0;
	struct timespec ts;

	if (getrandom(&s, sizeof(s), GRND_NONBLOCK) != (ssize_t)sizeof(s)) {
		clock_gettime(CLOCK_REALTIME, &ts);
		s = (uint64_t)ts.tv_sec * 1000000007u ^ (uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)&s;
	}
	return s != 0 ? s : 0x9e3779b97f4a7c15u;
}

/* Milliseconds from now until deadline (negative once past). */
static long
dns_ms_left(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long)(deadline->tv_sec - now.tv_sec) * 1000 + (deadline->tv_nsec - now.tv_nsec) / 1000000;
}

/* The deadline of a lookup that starts now. */
static void
dns_deadline(const struct dns_resolver *r, struct timespec *d)
{
	clock_gettime(CLOCK_MONOTONIC, d);
	d->tv_sec += r->timeout_ms / 1000;
	d->tv_nsec += (long)(r->timeout_ms % 1000) * 1000000;
	if (d->tv_nsec >= 1000000000) {
		d->tv_sec++;
		d->tv_nsec -= 1000000000;
	}
}

/* A DNS name fit to query or to connect to: hostname characters, labels of
 * 1..63, at most DNS_NAME_MAX; one trailing dot allowed. */
static bool
dns_name_valid(const char *name)
{
	size_t len = strnlen(name, DNS_NAME_MAX + 2), label = 0;

	if (len == 0 || len > DNS_NAME_MAX || (len == 1 && name[0] == '.'))
		return false;
	for (size_t i = 0; i < len; i++) {
		unsigned char ch = (unsigned char)name[i];
		if (ch == '.') {
			if (label == 0)
				return false;
			label = 0;
		} else if (isalnum(ch) || ((ch == '-' || ch == '_') && label > 0)) {
			if (++label > 63)
				return false;
		} else {
			return false;
		}
	}
	return true;
}

/* A name to query for records as published: as dns_name_valid, but a
 * label may start with '_' ("_dmarc", "rsa1._domainkey"; RFC 8552). */
static bool
dns_qname_valid(const char *name)
{
	char copy[DNS_NAME_MAX + 1];
	size_t len = strnlen(name, DNS_NAME_MAX + 1);

	if (len > DNS_NAME_MAX)
		return false;
	memcpy(copy, name, len + 1);
	for (size_t i = 0; i < len; i++)
		if (copy[i] == '_' && (i == 0 || copy[i - 1] == '.'))
			copy[i] = 'u';
	return dns_name_valid(copy);
}

/* Human-readable reason for a c-ares status. */
static const char *
dns_strerror(int status)
{
	switch (status) {
	case ARES_ENOTFOUND:    return "domain not found";
	case ARES_ENODATA:      return "no records";
	case ARES_ESERVFAIL:    return "server failure";
	case ARES_EREFUSED:     return "query refused";
	case ARES_ETIMEOUT:
	case ARES_ECANCELLED:   return "timeout";
	/* c-ares 1.18 reports SERVFAIL and REFUSED from every server thus */
	case ARES_ECONNREFUSED: return "server failure or unreachable";
	case ARES_EBADRESP:     return "malformed answer";
	default:                return ares_strerror(status);
	}
}

/* Permanent answers are "no such domain" and "no such record"; all else may pass. */
static enum dns_status
dns_classify(int status)
{
	switch (status) {
	case ARES_SUCCESS:   return DNS_OK;
	case ARES_ENOTFOUND: return DNS_NXDOMAIN;
	case ARES_ENODATA:   return DNS_NODATA;
	default:             return DNS_TEMPFAIL;
	}
}

/* "MX", "A" or "AAAA" for error messages. */
static const char *
dns_type_name(int type)
{
	return type == T_MX ? "MX" : type == T_A ? "A" : "AAAA";
}

/* ---- resolver ----------------------------------------------------------- */

/* "1..65535" only, no sign, no spaces. */
static bool
dns_port_parse(const char *s, size_t len, int *port)
{
	int v = 0;

	if (len == 0 || len > 5)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (!isdigit((unsigned char)s[i]))
			return false;
		v = v * 10 + (s[i] - '0');
	}
	*port = v;
	return v >= 1 && v <= 65535;
}

/* One server: "IPv4", "IPv4:port", "IPv6", "[IPv6]" or "[IPv6]:port". */
static bool
dns_server_parse(const char *s, size_t len, struct ares_addr_port_node *n)
{
	char ip[INET6_ADDRSTRLEN];
	const char *port = NULL, *end = s + len;
	const char *colon = memchr(s, ':', len);

	n->udp_port = n->tcp_port = 0;          /* 0: c-ares' default, 53 */
	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		if (close == NULL || (close + 1 < end && close[1] != ':'))
			return false;
		port = close + 1 < end ? close + 2 : NULL;
		s++;
		len = (size_t)(close - s);
		n->family = AF_INET6;
	} else if (colon != NULL && memchr(colon + 1, ':', (size_t)(end - colon - 1)) == NULL) {
		port = colon + 1;
		len = (size_t)(colon - s);
		n->family = AF_INET;
	} else {
		n->family = colon != NULL ? AF_INET6 : AF_INET;
	}
	if (len == 0 || len >= sizeof(ip))
		return false;
	memcpy(ip, s, len);
	ip[len] = '\0';
	if (port != NULL && !dns_port_parse(port, (size_t)(end - port), &n->udp_port))
		return false;
	n->tcp_port = n->udp_port;
	return inet_pton(n->family, ip, &n->addr) == 1;
}

/* Parse "S[,S...]" strictly into nodes linked in order; returns the count or -1. */
static int
dns_servers_parse(const char *csv, struct ares_addr_port_node *nodes, size_t max)
{
	size_t n = 0;
	const char *p = csv;

	for (;;) {
		const char *comma = strchr(p, ',');
		size_t len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == max || !dns_server_parse(p, len, &nodes[n]))
			return -1;
		nodes[n].next = NULL;
		if (n > 0)
			nodes[n - 1].next = &nodes[n];
		n++;
		if (comma == NULL)
			return (int)n;
		p = comma + 1;
	}
}

/* Point the channel at the configured servers instead of resolv.conf's. */
static int
dns_servers_set(struct dns_resolver *r, const char *servers, char *err, size_t errlen)
{
	struct ares_addr_port_node nodes[DNS_SERVERS_MAX];
	int rc;

	if (dns_servers_parse(servers, nodes, DNS_SERVERS_MAX) < 0) {
		snprintf(err, errlen, "bad DNS server list \"%.100s\": want IP[:PORT][,...] "
		    "(IPv6 as [addr]:port), at most %d", servers, DNS_SERVERS_MAX);
		return -1;
	}
	rc = ares_set_servers_ports(r->ch, nodes);
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "DNS servers \"%.100s\": %s", servers, ares_strerror(rc));
		return -1;
	}
	return 0;
}

static void dns_sock_state(void *data, ares_socket_t fd, int readable, int writable);
static void dns_timer_cb(evutil_socket_t fd, short what, void *arg);

/* A channel that asks only servers (or resolv.conf's when NULL); on base's loop when not NULL. */
static struct dns_resolver *
dns_resolver_new_opts(const char *servers, int timeout_ms, struct event_base *base, char *err, size_t errlen)
{
	struct ares_options o;
	struct dns_resolver *r;
	int rc;

	pthread_once(&dns_once, dns_library_init);
	if (dns_init_status != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares init: %s", ares_strerror(dns_init_status));
		return NULL;
	}
	if (timeout_ms <= 0) {
		snprintf(err, errlen, "bad DNS timeout %d ms", timeout_ms);
		return NULL;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	memset(&o, 0, sizeof(o));
	o.flags = ARES_FLAG_NOSEARCH | ARES_FLAG_NOALIASES;
	o.tries = DNS_TRIES;
	/* c-ares doubles the wait on each round: t + 2t fits the budget */
	o.timeout = timeout_ms / 3 > 50 ? timeout_ms / 3 : 50;
	if (base != NULL) {
		o.sock_state_cb = dns_sock_state;
		o.sock_state_cb_data = r;
		r->base = base;
		r->timer = evtimer_new(base, dns_timer_cb, r);
	}
	rc = ares_init_options(&r->ch, &o, ARES_OPT_FLAGS | ARES_OPT_TRIES | ARES_OPT_TIMEOUTMS |
	    (base != NULL ? ARES_OPT_SOCK_STATE_CB : 0));
	if (rc != ARES_SUCCESS) {
		snprintf(err, errlen, "c-ares channel: %s", ares_strerror(rc));
		if (r->timer != NULL)
			event_free(r->timer);
		free(r);
		return NULL;
	}
	r->timeout_ms = timeout_ms;
	r->rng = dns_seed();
	if (servers != NULL && dns_servers_set(r, servers, err, errlen) < 0) {
		dns_resolver_free(r);
		return NULL;
	}
	return r;
}

struct dns_resolver *
dns_resolver_new(const char *servers, int timeout_ms, char *err, size_t errlen)
{
	return dns_resolver_new_opts(servers, timeout_ms, NULL, err, errlen);
}

/* Destroying the channel ends (and calls back) any query still open. */
void
dns_resolver_free(struct dns_resolver *r)
{
	if (r == NULL)
		return;
	ares_destroy(r->ch);
	for (size_t i = 0; i < r->nsocks; i++)
		event_free(r->socks[i].ev);
	if (r->timer != NULL)
		event_free(r->timer);
	free(r);
}

/* ---- on an event loop ----------------------------------------------------- */

/* (Re)arm the retry timer for c-ares's next timeout, if any query is open. */
static void
dns_timer_arm(struct dns_resolver *r)
{
	struct timeval tv, *tvp;

	if (r->base == NULL)
		return;
	tvp = ares_timeout(r->ch, NULL, &tv);
	if (tvp != NULL)
		evtimer_add(r->timer, tvp);
	else
		evtimer_del(r->timer);
}

static void
dns_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;

	(void)fd;
	(void)what;
	ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
	dns_timer_arm(r);
}

static void
dns_sock_cb(evutil_socket_t fd, short what, void *arg)
{
	struct dns_resolver *r = arg;

	ares_process_fd(r->ch, what & EV_READ ? fd : ARES_SOCKET_BAD, what & EV_WRITE ? fd : ARES_SOCKET_BAD);
	dns_timer_arm(r);
}

/* c-ares opens, changes or closes a socket: mirror it in the loop. */
static void
dns_sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
	struct dns_resolver *r = data;
	struct dns_sock *s = NULL;
	size_t i;

	for (i = 0; i < r->nsocks && s == NULL; i++)
		if (r->socks[i].fd == fd)
			s = &r->socks[i];
	if (s != NULL) {
		event_free(s->ev);
		if (!readable && !writable) {
			*s = r->socks[--r->nsocks];
			return;
		}
	} else if (!readable && !writable) {
		return;
	} else if (r->nsocks < DNS_SOCKS_MAX) {
		s = &r->socks[r->nsocks++];
		s->fd = fd;
	} else
		return;      /* more sockets than servers allow: its queries time out */
	s->ev = event_new(r->base, fd, (short)(EV_PERSIST | (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0)),
	    dns_sock_cb, r);
	event_add(s->ev, NULL);
}

struct dns_resolver *
dns_resolver_new_loop(const char *servers, int timeout_ms, struct event_base *base, char *err, size_t errlen)
{
	return dns_resolver_new_opts(servers, timeout_ms, base, err, errlen);
}


/* ---- running queries ---------------------------------------------------- */

/* Keep the A/AAAA addresses of an answer (c-ares follows CNAMEs within it). */
static int
dns_addrs_parse(struct dns_query *q, const unsigned char *abuf, int alen)
{
	struct ares_addrttl a4[DNS_ADDRS_MAX];
	struct ares_addr6ttl a6[DNS_ADDRS_MAX];
	int n = DNS_ADDRS_MAX, rc;

	if (q->type == T_A)
		rc = ares_parse_a_reply(abuf, alen, NULL, a4, &n);
	else
		rc = ares_parse_aaaa_reply(abuf, alen, NULL, a6, &n);
	for (int i = 0; rc == ARES_SUCCESS && i < n && q->naddrs < DNS_ADDRS_MAX; i++) {
		struct sockaddr_storage *ss = &q->addrs[q->naddrs++];
		memset(ss, 0, sizeof(*ss));
		if (q->type == T_A) {
			((struct sockaddr_in *)ss)->sin_family = AF_INET;
			((struct sockaddr_in *)ss)->sin_addr = a4[i].ipaddr;
		} else {
			((struct sockaddr_in6 *)ss)->sin6_family = AF_INET6;
			memcpy(&((struct sockaddr_in6 *)ss)->sin6_addr, &a6[i].ip6addr, 16);
		}
	}
	return rc == ARES_SUCCESS && q->naddrs == 0 ? ARES_ENODATA : rc;
}

/* c-ares callback: abuf lives only during this call, so parse it here. */
static void
dns_query_done(void *arg, int status, int timeouts, unsigned char *abuf, int alen)
{
	struct dns_query *q = arg;

	(void)timeouts;
	q->done = true;
	q->status = status;
	if (q->waiter != NULL)
		coro_wake(q->waiter);
	if (status != ARES_SUCCESS || abuf == NULL)
		return;
	if (q->rrset != NULL)
		q->status = alen < 0 || dns_answer_parse(abuf, (size_t)alen, q->type, q->rrset) < 0 ?
		    ARES_EBADRESP : q->rrset->n == 0 ? ARES_ENODATA : ARES_SUCCESS;
	else if (q->type == T_MX)
		q->status = ares_parse_mx_reply(abuf, alen, &q->mx);
	else
		q->status = dns_addrs_parse(q, abuf, alen);
}

/* Send one query; its callback may run before this returns. rrset: where
 * records as published go (dns_rr_lookup), NULL for routing lookups. */
static void
dns_query_start(struct dns_resolver *r, struct dns_query *q, const char *name, int type,
    struct dns_rrset *rrset)
{
	memset(q, 0, sizeof(*q));
	q->type = type;
	q->rrset = rrset;
	q->waiter = r->base != NULL ? coro_self() : NULL;
	ares_query(r->ch, name, C_IN, type, dns_query_done, q);
}

/* Wait for the channel's sockets or its next retry, at most left_ms. */
static int
dns_poll_once(struct dns_resolver *r, long left_ms)
{
	ares_socket_t socks[ARES_GETSOCK_MAXNUM];
	struct pollfd pfd[ARES_GETSOCK_MAXNUM];
	struct timeval max = { left_ms / 1000, (left_ms % 1000) * 1000 }, tv, *tvp;
	/* bit i: socket i readable, bit i + MAXNUM: writable (unsigned: the
	 * ARES_GETSOCK_WRITABLE macro shifts into the sign bit) */
	unsigned bits = (unsigned)ares_getsock(r->ch, socks, ARES_GETSOCK_MAXNUM);
	nfds_t n = 0;
	int rc;

	for (int i = 0; i < ARES_GETSOCK_MAXNUM; i++) {
		short ev = (short)(((bits >> i) & 1u ? POLLIN : 0) |
		    ((bits >> (i + ARES_GETSOCK_MAXNUM)) & 1u ? POLLOUT : 0));
		if (ev != 0)
			pfd[n++] = (struct pollfd){ .fd = socks[i], .events = ev };
	}
	tvp = ares_timeout(r->ch, &max, &tv);
	rc = poll(pfd, n, (int)(tvp->tv_sec * 1000 + (tvp->tv_usec + 999) / 1000));
	if (rc < 0)
		return errno == EINTR ? 0 : -1;
	if (rc == 0)
		ares_process_fd(r->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);   /* retries */
	for (nfds_t i = 0; rc > 0 && i < n; i++) {
		if (pfd[i].revents == 0)
			continue;
		ares_process_fd(r->ch,
		    pfd[i].revents & (POLLIN | POLLERR | POLLHUP) ? pfd[i].fd : ARES_SOCKET_BAD,
		    pfd[i].revents & POLLOUT ? pfd[i].fd : ARES_SOCKET_BAD);
	}
	return 0;
}

/* True once every query has had its callback. */
static bool
dns_all_done(struct dns_query *const *qs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (!qs[i]->done)
			return false;
	return true;
}

/* Run the channel until every query is answered or the deadline passes;
 * then cancel what is left (their callbacks report ARES_ECANCELLED). */
static void
dns_run(struct dns_resolver *r, const struct timespec *deadline, struct dns_query *const *qs, size_t n)
{
	if (r->base != NULL && coro_self() != NULL) {
		/* c-ares ends every query within its own timeout and tries (set
		 * from the same budget), and the queries live on this stack: wait
		 * for all of them; cancelling would end other coroutines' too. */
		dns_timer_arm(r);
		while (!dns_all_done(qs, n))
			coro_park(-1);
		return;
	}
	while (!dns_all_done(qs, n)) {
		long left = dns_ms_left(deadline);
		if (left <= 0 || dns_poll_once(r, left) < 0) {
			ares_cancel(r->ch);
			return;
		}
	}
}

/* ---- addresses of hosts ------------------------------------------------- */

/* Start A (and AAAA) for a host whose name is already checked. */
static void
dns_hostq_start(struct dns_resolver *r, struct dns_hostq *h, bool want_v6)
{
	h->nq = want_v6 ? 2 : 1;
	dns_query_start(r, &h->q[0], h->host.name, T_A, NULL);
	if (want_v6)
		dns_query_start(r, &h->q[1], h->host.name, T_AAAA, NULL);
}

/* Copy IPv4 then IPv6 addresses into the host; the status says why there
 * are none: TEMPFAIL beats NXDOMAIN beats NODATA. */
static enum dns_status
dns_hostq_finish(struct dns_hostq *h, char *err, size_t errlen)
{
	enum dns_status st = DNS_NODATA;
	const struct dns_query *why = &h->q[0];

	h->host.naddrs = 0;
	for (size_t i = 0; i < h->nq; i++) {
		const struct dns_query *q = &h->q[i];
		for (size_t j = 0; j < q->naddrs && h->host.naddrs < DNS_ADDRS_MAX; j++)
			h->host.addrs[h->host.naddrs++] = q->addrs[j];
		enum dns_status qs = dns_classify(q->status);
		if (qs == DNS_TEMPFAIL || (qs == DNS_NXDOMAIN && st == DNS_NODATA)) {
			st = qs;
			why = q;
		}
	}
	if (h->host.naddrs > 0)
		return DNS_OK;
	snprintf(err, errlen, "%s: %s lookup: %s", h->host.name, dns_type_name(why->type),
	    dns_strerror(why->status));
	return st;
}

/* An IP literal as a host: no DNS. */
bool
dns_host_literal(const char *host, struct dns_host *out)
{
	memset(out, 0, sizeof(*out));
	if (!netaddr_ip_parse(host, &out->addrs[0], NULL))
		return false;
	snprintf(out->name, sizeof(out->name), "%s", host);
	out->naddrs = 1;
	return true;
}

/* A/AAAA of one host, or the host itself when it is an IP literal. */
enum dns_status
dns_host_lookup(struct dns_resolver *r, const char *host, bool want_v6,
    struct dns_host *out, char *err, size_t errlen)
{
	struct dns_hostq *h;
	struct dns_query *qs[2];
	struct timespec deadline;
	enum dns_status st;

	if (dns_host_literal(host, out))
		return DNS_OK;
	if (!dns_name_valid(host)) {
		snprintf(err, errlen, "%.100s: invalid host name", host);
		return DNS_NXDOMAIN;
	}
	if ((h = calloc(1, sizeof(*h))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", host);
		return DNS_TEMPFAIL;
	}
	snprintf(h->host.name, sizeof(h->host.name), "%s", host);
	dns_deadline(r, &deadline);
	dns_hostq_start(r, h, want_v6);
	qs[0] = &h->q[0];
	qs[1] = &h->q[1];
	dns_run(r, &deadline, qs, h->nq);
	st = dns_hostq_finish(h, err, errlen);
	*out = h->host;
	free(h);
	return st;
}

/* ---- MX ----------------------------------------------------------------- */

/* The MX lookup in progress: candidates sorted by preference. */
struct dns_mx {
	const char      *domain;
	struct dns_hostq cand[DNS_CAND_MAX];
	size_t           ncand;
};

/* Append an exchanger; callers add them in ascending preference, so a
 * name seen twice keeps its best one. */
static void
dns_mx_add(struct dns_mx *m, const char *name, unsigned pref)
{
	struct dns_hostq *h;

	for (size_t i = 0; i < m->ncand; i++)
		if (strcasecmp(m->cand[i].host.name, name) == 0)
			return;
	if (m->ncand == DNS_CAND_MAX)
		return;
	h = &m->cand[m->ncand++];
	memset(h, 0, sizeof(*h));
	snprintf(h->host.name, sizeof(h->host.name), "%s", name);
	h->host.pref = pref;
}

/* Fisher-Yates within each run of equal preference. */
static void
dns_mx_shuffle(struct dns_resolver *r, struct dns_mx *m)
{
	struct dns_hostq tmp;
	size_t start = 0;

	while (start < m->ncand) {
		size_t end = start + 1;
		while (end < m->ncand && m->cand[end].host.pref == m->cand[start].host.pref)
			end++;
		for (size_t i = end - 1; i > start; i--) {
			size_t j = start + (size_t)(dns_random(r) % (i - start + 1));
			tmp = m->cand[i];
			m->cand[i] = m->cand[j];
			m->cand[j] = tmp;
		}
		start = end;
	}
}

/* Take the valid exchangers from the answer in ascending preference (the
 * best DNS_CAND_MAX of them). Returns DNS_NULLMX for a lone "MX 0 .". */
static enum dns_status
dns_mx_collect(struct dns_mx *m, const struct ares_mx_reply *list)
{
	const struct ares_mx_reply *rr, *best;
	unsigned floor = 0;

	if (list != NULL && list->next == NULL && list->host != NULL &&
	    (list->host[0] == '\0' || strcmp(list->host, ".") == 0))
		return DNS_NULLMX;
	/* one pass per distinct preference; answers are small */
	while (floor <= 65535 && m->ncand < DNS_CAND_MAX) {
		best = NULL;
		for (rr = list; rr != NULL; rr = rr->next)
			if (rr->priority >= floor && (best == NULL || rr->priority < best->priority))
				best = rr;
		if (best == NULL)
			break;
		for (rr = list; rr != NULL; rr = rr->next)
			if (rr->priority == best->priority && rr->host != NULL && dns_name_valid(rr->host))
				dns_mx_add(m, rr->host, rr->priority);
		floor = (unsigned)best->priority + 1;
	}
	return DNS_OK;
}

/* Resolve every candidate in parallel and copy those with addresses to out. */
static enum dns_status
dns_mx_resolve(struct dns_resolver *r, struct dns_mx *m, const struct timespec *deadline,
    bool want_v6, struct dns_host *out, size_t max, size_t *n, char *err, size_t errlen)
{
	struct dns_query *qs[2 * DNS_CAND_MAX];
	size_t nq = 0;
	bool temp = false;
	char why[256] = "no valid MX host names", one[256];

	for (size_t i = 0; i < m->ncand; i++) {
		dns_hostq_start(r, &m->cand[i], want_v6);
		for (size_t j = 0; j < m->cand[i].nq; j++)
			qs[nq++] = &m->cand[i].q[j];
	}
	dns_run(r, deadline, qs, nq);
	for (size_t i = 0; i < m->ncand; i++) {
		enum dns_status st = dns_hostq_finish(&m->cand[i], one, sizeof(one));
		if (st == DNS_OK && *n < max)
			out[(*n)++] = m->cand[i].host;
		/* report the first temporary failure, else the first failure */
		if (st != DNS_OK && ((st == DNS_TEMPFAIL && !temp) || i == 0))
			snprintf(why, sizeof(why), "%s", one);
		temp |= st == DNS_TEMPFAIL;
	}
	if (*n > 0)
		return DNS_OK;
	snprintf(err, errlen, "%s: MX hosts have no address (%s)", m->domain, why);
	return temp ? DNS_TEMPFAIL : DNS_NODATA;
}

/* No MX records: the domain itself, preference 0 (RFC 5321 5.1). */
static enum dns_status
dns_mx_implicit(struct dns_resolver *r, struct dns_mx *m, const struct timespec *deadline,
    bool want_v6, struct dns_host *out, size_t *n, char *err, size_t errlen)
{
	struct dns_hostq *h = &m->cand[0];
	struct dns_query *qs[2] = { &h->q[0], &h->q[1] };
	enum dns_status st;

	memset(h, 0, sizeof(*h));
	snprintf(h->host.name, sizeof(h->host.name), "%s", m->domain);
	dns_hostq_start(r, h, want_v6);
	dns_run(r, deadline, qs, h->nq);
	st = dns_hostq_finish(h, err, errlen);
	if (st == DNS_OK)
		out[(*n)++] = h->host;
	else if (st == DNS_NODATA)
		snprintf(err, errlen, "%s: no MX or address records", m->domain);
	return st;
}

/* The MX query itself; the answer (if any) is left in q->mx. */
static enum dns_status
dns_mx_query(struct dns_resolver *r, const char *domain, const struct timespec *deadline,
    struct dns_query *q, char *err, size_t errlen)
{
	struct dns_query *qs[1] = { q };
	enum dns_status st;

	dns_query_start(r, q, domain, T_MX, NULL);
	dns_run(r, deadline, qs, 1);
	st = dns_classify(q->status);
	if (st == DNS_OK && q->mx == NULL)
		st = DNS_NODATA;
	if (st != DNS_OK && st != DNS_NODATA)
		snprintf(err, errlen, "%s: MX lookup: %s", domain, dns_strerror(q->status));
	return st;
}

/* Mail exchangers of domain in the order to try them. */
enum dns_status
dns_mx_lookup(struct dns_resolver *r, const char *domain, bool want_v6,
    struct dns_host *out, size_t max, size_t *n, char *err, size_t errlen)
{
	struct timespec deadline;
	struct dns_query q;
	struct dns_mx *m;
	enum dns_status st;

	*n = 0;
	if (max > DNS_HOSTS_MAX)
		max = DNS_HOSTS_MAX;
	if (!dns_name_valid(domain)) {
		snprintf(err, errlen, "%.100s: invalid domain name", domain);
		return DNS_NXDOMAIN;
	}
	if ((m = calloc(1, sizeof(*m))) == NULL) {
		snprintf(err, errlen, "%s: out of memory", domain);
		return DNS_TEMPFAIL;
	}
	m->domain = domain;
	dns_deadline(r, &deadline);
	st = dns_mx_query(r, domain, &deadline, &q, err, errlen);
	if (st == DNS_NODATA)
		st = dns_mx_implicit(r, m, &deadline, want_v6, out, n, err, errlen);
	else if (st == DNS_OK && (st = dns_mx_collect(m, q.mx)) == DNS_NULLMX)
		snprintf(err, errlen, "%s: domain does not accept mail (null MX)", domain);
	else if (st == DNS_OK) {
		dns_mx_shuffle(r, m);
		st = dns_mx_resolve(r, m, &deadline, want_v6, out, max, n, err, errlen);
	}
	if (q.mx != NULL)
		ares_free_data(q.mx);
	free(m);
	return st;
}

/* ---- records as published (dns_rr.c parses them) ------------------------ */

/* One query for records of type at name; out is filled by the callback. */
enum dns_status
dns_rr_lookup(struct dns_resolver *r, const char *name, int type,
    struct dns_rrset *out, char *err, size_t errlen)
{
	struct timespec deadline;
	struct dns_query q, *qs[1] = { &q };
	enum dns_status st;

	out->type = type;
	out->n = 0;
	if (!dns_qname_valid(name)) {
		snprintf(err, errlen, "%.100s: invalid domain name", name);
		return DNS_NXDOMAIN;
	}
	dns_deadline(r, &deadline);
	dns_query_start(r, &q, name, type, out);
	dns_run(r, &deadline, qs, 1);
	st = dns_classify(q.status);
	if (st != DNS_OK)
		snprintf(err, errlen, "%s: %s", name, dns_strerror(q.status));
	return st;
}

/* Short name for logs and tests. */
const char *
dns_status_name(enum dns_status s)
{
	switch (s) {
	case DNS_OK:       return "ok";
	case DNS_NXDOMAIN: return "nxdomain";
	case DNS_NODATA:   return "nodata";
	case DNS_NULLMX:   return "nullmx";
	case DNS_TEMPFAIL: return "tempfail";
	}
	return "unknown";
}
